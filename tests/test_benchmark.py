"""experiments/benchmark.py and method_step.py: a smoke run; the step's work."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from adapter_bert import backbones
from adapter_bert import param_paths
from adapter_bert import train
from experiments import benchmark
from experiments import method_step
from experiments.adapterhub import peer_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_smoke_run_end_to_end(tmp_path):
  out = tmp_path / 'bench.json'
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.benchmark', '--smoke',
       f'--json_out={out}'], cwd=REPO, capture_output=True, text=True, timeout=600,
      check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'adapter / full: speed' in proc.stdout
  results = json.loads(out.read_text())
  assert set(results['methods']) == {'adapter', 'full'}
  for r in results['methods'].values():
    assert r['examples_per_sec'] > 0
    assert r['compile_s'] > 0
    assert len(r['step_s']['all']) == 2
    assert r['opt_state_bytes'] > 0
  assert results['settings']['smoke'] and results['peer'] is None
  assert results['device']['platform'] == jax.devices()[0].platform
  assert len(results['load_before']) == len(results['load_after']) == 3
  assert 0 < results['adapter_over_full']['opt_state_bytes'] < 0.05


def test_the_benchmark_steps_what_train_setup_builds(monkeypatch):
  # The benchmark (and profile_step, through it) must time training's own
  # program: its run comes from train.setup, the function train_and_evaluate
  # sets every run up with, and not from a copy of it.
  built = []
  real_setup = train.setup

  def spy(*args, **kwargs):
    built.append(real_setup(*args, **kwargs))
    return built[-1]

  monkeypatch.setattr(train, 'setup', spy)
  settings = method_step.Settings.smoke_settings(batch_size=4, seq_len=16)
  backbone = backbones.resolve('tiny')
  run, batch = method_step.build_method('adapter', settings, backbone)
  assert built == [run]
  reference = real_setup(method_step.make_config('adapter', settings), 1000,
                         backbone=backbone)
  paths = lambda tree: sorted(param_paths.flatten(tree))
  assert paths(run.trainable) == paths(reference.trainable)
  assert paths(run.frozen) == paths(reference.frozen)
  assert any('adapter_ffn' in p for p in paths(run.trainable))
  args = (run.trainable, run.opt_state, run.frozen, batch, jax.random.key(0))
  assert (run.train_step.lower(*args).as_text()
          == reference.train_step.lower(*args).as_text())


def test_the_benchmark_times_the_run_method_step_builds(monkeypatch):
  # ... and the benchmark's timed step is that run's (no second setup).
  built = []
  real_build = method_step.build_method

  def spy(*args, **kwargs):
    built.append(real_build(*args, **kwargs))
    return built[-1]

  monkeypatch.setattr(method_step, 'build_method', spy)
  settings = method_step.Settings.smoke_settings(batch_size=4, seq_len=16)
  result = benchmark.benchmark_method('adapter', settings,
                                      backbones.resolve('tiny'))
  assert len(built) == 1
  run, _ = built[0]
  assert result['trainable_params'] == sum(
      np.size(v) for v in param_paths.flatten(run.trainable).values())


def _dense_dominated_config():
  """tiny's depth and heads, a 512-token vocab, hidden 128, FFN 512.

  Plain `tiny` would pass the FLOP check below without testing it: its
  30522x32 embedding is 95% of its parameters, so most of what full
  fine-tuning adds there is Adam over the embedding table, enough to hide
  frozen-kernel gradients. Here the encoder's dense kernels dominate, so the
  weight-gradient matmuls are the bulk of the difference.
  """
  return dataclasses.replace(backbones.TINY_CONFIG, vocab_size=512,
                             max_position_embeddings=64, hidden_size=128,
                             intermediate_size=512)


def test_adapter_step_computes_no_frozen_weight_gradients():
  config = _dense_dominated_config()
  settings = method_step.Settings(batch_size=8, seq_len=32, m=8)
  backbone = method_step.random_backbone(config)
  flops = {m: method_step.step_flops(method_step.compile_train_step(
      method_step.setup_method(m, settings, backbone), settings))
           for m in ('adapter', 'full')}
  if None in flops.values():
    pytest.skip(f'{jax.default_backend()} reports no FLOP count.')
  # The weight gradients of the frozen encoder kernels: one [in, out] matmul
  # over all tokens each, 2*tokens*in*out FLOPs.
  h, i = config.hidden_size, config.intermediate_size
  tokens = settings.batch_size * settings.seq_len
  frozen_weight_grads = 2 * tokens * config.num_layers * (4 * h * h + 2 * h * i)
  assert flops['adapter'] <= 0.75 * flops['full'], flops
  # Computing them (and discarding) would leave full - adapter at the few
  # percent the optimizer costs; skipping them leaves all of it.
  assert flops['full'] - flops['adapter'] >= 0.9 * frozen_weight_grads, flops


def test_adapter_optimizer_state_is_under_5_percent_on_minilm_shapes():
  # minilm-l6's shapes (its config.json only), random weights.
  backbone = method_step.random_backbone(
      backbones.resolve('minilm-l6').config)
  settings = method_step.Settings(m=64)
  runs = {m: method_step.setup_method(m, settings, backbone)
          for m in ('adapter', 'full')}
  nbytes = {m: method_step.tree_bytes(r.opt_state) for m, r in runs.items()}
  assert nbytes['adapter'] <= 0.05 * nbytes['full'], nbytes
  # Adam keeps two moments of each trainable leaf, nothing of frozen ones.
  for r in runs.values():
    assert method_step.tree_bytes(r.opt_state) == pytest.approx(
        2 * method_step.tree_bytes(r.trainable), abs=64)
  trainable = param_paths.flatten(runs['adapter'].trainable)
  assert any('/adapter_' in p for p in trainable)
  assert not any(p.endswith('/kernel') and 'adapter_' not in p
                 and p.startswith('bert/') for p in trainable)


def test_random_batch_is_all_real_tokens():
  batch = method_step.random_batch(100, 3, batch_size=4, seq_len=16)
  assert batch['input_ids'].shape == (4, 16)
  assert batch['input_ids'].max() < 100
  assert (batch['attention_mask'] == 1).all() and (batch['mask'] == 1).all()
  assert set(np.unique(batch['labels'])) <= {0, 1, 2}
  assert method_step.random_batch(100, 1, 4, 16)['labels'].dtype == np.float32


def test_table_reports_ratios_to_our_full_and_the_peer():
  def method(ex, opt, flops):
    return dict(examples_per_sec=ex, compile_s=1.0, opt_state_bytes=opt,
                memory=dict(temp_bytes=2**20), flops=flops, trainable_params=1)
  methods = dict(adapter=method(200.0, 2**20, 2e9),
                 full=method(100.0, 40 * 2**20, 3e9))
  results = dict(
      settings=dict(backbone='minilm-l6', batch_size=32, seq_len=128,
                    dtype='float32', steps=10),
      backbone=dict(weights='pretrained'),
      device=dict(device_kind='cpu', platform='cpu', cpu_count=2),
      load_before=[1.0, 1.0, 1.0], load_after=[2.0, 1.0, 1.0],
      methods=methods, adapter_over_full=benchmark.summarise(methods),
      peer=dict(status='done', comparable=True, methods=dict(
          adapter=dict(examples_per_sec=50.0, opt_state_bytes=2**20),
          full=dict(examples_per_sec=40.0, opt_state_bytes=40 * 2**20))))
  table = benchmark.format_table(results)
  adapter_row = next(l for l in table.splitlines()
                     if l.startswith('ours adapter'))
  assert adapter_row.split()[2:5] == ['200.0', '2.00', '4.00']
  assert 'optimizer state 2.50%' in table
  assert 'adapterhub adapter / full: speed 1.25x' in table


def test_rounds_report_medians_and_within_round_ratios(monkeypatch):
  speeds = iter([10.0, 5.0, 30.0, 10.0, 12.0, 6.0])  # adapter, full per round.

  def fake_method(method, settings, backbone):
    del settings, backbone
    return dict(method=method, examples_per_sec=next(speeds),
                opt_state_bytes=1 if method == 'adapter' else 40, flops=1.0,
                trainable_params=1, memory=None)

  monkeypatch.setattr(benchmark, 'benchmark_method', fake_method)
  results = benchmark.run(method_step.Settings.smoke_settings(rounds=3))
  assert results['methods']['adapter']['examples_per_sec'] == 12.0
  assert results['methods']['adapter']['examples_per_sec_by_round'] == [
      10.0, 30.0, 12.0]
  assert results['methods']['full']['examples_per_sec'] == 6.0
  # Ratios within rounds: 2, 3, 2 -> median 2 (the medians' ratio is also 2,
  # but a round's burst of load must not mix with another round's speed).
  assert [r['adapter_over_full'] for r in results['ratios_by_round']] == [
      2.0, 3.0, 2.0]
  assert results['adapter_over_full']['examples_per_sec'] == 2.0
  table = benchmark.format_table(results)
  assert 'median over 3 interleaved rounds' in table
  assert 'within each round: adapter / full 2.00, 3.00, 2.00' in table
  with pytest.raises(ValueError, match='rounds'):
    benchmark.run(method_step.Settings.smoke_settings(rounds=0))


def test_peer_config_matches_our_architecture():
  hf = peer_env.hf_config(backbones.resolve('minilm-l6').config)
  with open(os.path.join(backbones.minilm_dir(), 'config.json')) as f:
    original = json.load(f)
  for key in ('vocab_size', 'hidden_size', 'num_hidden_layers',
              'num_attention_heads', 'intermediate_size'):
    assert hf[key] == original[key]


def test_unbuildable_peer_venv_raises_peer_unavailable(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('')
  with pytest.raises(peer_env.PeerUnavailable, match='could not build'):
    peer_env.ensure_peer_venv(str(blocker / 'venv'))


def test_profile_groups_xla_ops_by_model_part(tmp_path):
  from experiments import profile_step  # pylint: disable=g-import-not-at-top
  assert profile_step.part_of(
      'jit(train_step)/transpose(jvp(BertClassifier))/bert/layer_0/attention/'
      'query/dot_general') == 'q/k/v dense / backward'
  assert profile_step.part_of(
      'jit(train_step)/jvp(BertClassifier)/bert/layer_2/Dropout_0/iota'
  ) == 'dropout / forward'
  assert profile_step.part_of('') == 'other / forward'
  settings = method_step.Settings.smoke_settings(m=8)
  result = profile_step.profile(settings, 'adapter', 2, str(tmp_path))
  parts = result['ms_per_step']
  assert result['step_s_median'] > 0
  assert parts and all(ms >= 0 for ms in parts.values())
  # The adapter step has adapters forward and backward, and no weight work
  # is hidden under 'other': the model's parts carry most of the time.
  assert {'adapter / forward', 'adapter / backward'} <= set(parts)
  named = sum(ms for part, ms in parts.items() if not part.startswith('other'))
  assert named > 0.5 * sum(parts.values())
