"""Packed batches: same examples per step, exact model outputs, every device."""

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adapter_bert import adapters
from adapter_bert import errors
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths
from adapter_bert import tasks
from adapter_bert import inference
from adapter_bert import train
from adapter_bert.data import batching
from adapter_bert.data import packing
from configs import glue
from configs import squad as squad_config
from tests.conftest import REPO
from tests.conftest import load_minilm_params
from tests.test_batching import make_arrays


def _unpack(batch):
  """{slot: (input_ids, token_type_ids, position_ids, first token index)}.

  Reads a packed batch back through its segment ids alone, and checks that
  each example lies in one contiguous span of one row of its own group.
  """
  groups, per_group = batch['cls_index'].shape
  rows, width = batch['input_ids'].shape
  group_rows = rows // groups
  out = {}
  for g in range(groups):
    block = slice(g * group_rows, (g + 1) * group_rows)
    segments = batch['segment_ids'][block].reshape(-1)
    for j in range(per_group):
      where = np.flatnonzero(segments == j + 1)
      if not len(where):
        continue
      assert where[-1] - where[0] + 1 == len(where)  # contiguous
      assert where[0] // width == where[-1] // width  # one row
      take = lambda k: batch[k][block].reshape(-1)[where]
      out[g * per_group + j] = (take('input_ids'), take('token_type_ids'),
                                take('position_ids'), where[0])
  return out


def test_first_fit_decreasing():
  rows = packing.first_fit_decreasing([50, 40, 30, 20, 10], 60)
  assert rows == [[0, 4], [1, 3], [2]]  # 50+10, 40+20, 30
  lengths = np.random.default_rng(0).integers(1, 129, 200)
  rows = packing.first_fit_decreasing(lengths, 128)
  assert sorted(i for r in rows for i in r) == list(range(200))
  assert max(lengths[r].sum() for r in rows) <= 128
  assert len(rows) <= 11 / 9 * np.ceil(lengths.sum() / 128) + 1
  with pytest.raises(ValueError, match='does not fit a row of 8'):
    packing.first_fit_decreasing([3, 9], 8)


@pytest.mark.parametrize('groups', [1, 4])
def test_packed_train_batches_hold_the_unpacked_examples(groups):
  n, batch_size, width = 300, 32, 64
  arrays = make_arrays(n, max_length=width)
  arrays['lengths'][:] = np.minimum(arrays['lengths'], 1 + np.arange(n) % 40)
  labels = np.arange(n, dtype=np.int32)
  plain = batching.train_batches(arrays, labels, batch_size, seed=5)
  packed = batching.train_batches(arrays, labels, batch_size, seed=5,
                                  packing=True, num_groups=groups)
  for _ in range(12):  # More than one epoch (9 steps).
    a, b = next(plain), next(packed)
    np.testing.assert_array_equal(b['labels'], a['labels'])
    assert b['mask'].tolist() == [1.0] * batch_size
    rows = len(b['input_ids'])
    assert b['input_ids'].shape[1] == width and rows % groups == 0
    assert rows // groups in packing.ROW_BUCKETS
    assert b['cls_index'].shape == (groups, batch_size // groups)
    np.testing.assert_array_equal(b['attention_mask'], b['segment_ids'] > 0)
    examples = _unpack(b)
    assert sorted(examples) == list(range(batch_size))
    for slot, (ids, types, positions, first) in examples.items():
      n_real = a['attention_mask'][slot].sum()
      np.testing.assert_array_equal(ids, a['input_ids'][slot, :n_real])
      np.testing.assert_array_equal(types, a['token_type_ids'][slot, :n_real])
      np.testing.assert_array_equal(positions, np.arange(n_real))
      assert b['cls_index'].reshape(-1)[slot] == first
    # Far fewer computed tokens than the padded batch.
    assert b['input_ids'].size < 0.75 * a['input_ids'].size


def test_packed_training_order_resumes_at_any_step():
  arrays = make_arrays(90, max_length=64)
  labels = np.arange(90, dtype=np.int32)
  make = lambda k: batching.train_batches(arrays, labels, 8, seed=2,
                                          start_step=k, packing=True,
                                          num_groups=2)
  reference = [next(b)['labels'].tolist() for b in [make(0)] for _ in range(30)]
  for k in (7, 11, 12):  # 11 steps per epoch.
    resumed = make(k)
    assert [next(resumed)['labels'].tolist() for _ in range(30 - k)] == (
        reference[k:])


@pytest.mark.parametrize('n,batch_size,groups', [(37, 8, 1), (37, 12, 4),
                                                 (3, 8, 4)])
def test_packed_eval_batches_hold_every_example_once(n, batch_size, groups):
  arrays = make_arrays(n, max_length=64)
  labels = np.arange(n, dtype=np.int32)
  seen = []
  for batch in batching.eval_batches(arrays, labels, batch_size, packing=True,
                                     num_groups=groups):
    examples = _unpack(batch)
    real = np.flatnonzero(batch['mask'] == 1)
    assert sorted(examples) == real.tolist()  # Padding slots are not packed.
    for slot in real:
      ids = examples[slot][0]
      np.testing.assert_array_equal(
          ids, arrays['input_ids'][batch['labels'][slot], :len(ids)])
    seen += batch['labels'][real].tolist()
  assert seen == list(range(n))


# --------------------------------------------------------------------------
# Exactness on the real backbone and real dev examples.


@pytest.fixture(scope='module')
def dev_mix(tokenizer):
  """6 MRPC and 6 CoLA dev examples (long pairs and short sentences), mixed."""
  parts = [tasks.get_task(name).load_features('validation', tokenizer,
                                              max_length=128)
           for name in ('mrpc', 'cola')]
  # m0, c0, m1, c1, ...: both packing groups hold pairs and sentences.
  mix = lambda a, b: np.stack([a[:6], b[:6]], 1).reshape((12,) + a.shape[1:])
  arrays = {k: mix(parts[0].arrays[k], parts[1].arrays[k])
            for k in ('input_ids', 'token_type_ids', 'lengths')}
  return arrays, mix(parts[0].labels, parts[1].labels).astype(np.int32)


@pytest.mark.parametrize('pooling,task', [
    ('pooler', 'mrpc'), ('mean', 'mrpc'),
    ('pooler', 'stsb')])  # Regression: float labels, one output, MSE.
def test_packed_logits_and_gradients_equal_unpacked_on_minilm(
    pooling, task, minilm_config, minilm_weights, dev_mix):
  arrays, labels = dev_mix
  outputs = 2
  if task == 'stsb':  # Similarity-like targets in [0, 5], not integers.
    labels = (np.arange(len(labels)) * 0.37 % 5).astype(np.float32)
    outputs = 1
  config = dataclasses.replace(minilm_config, hidden_dropout=0.0,
                               attention_dropout=0.0)
  model = modeling.BertClassifier(
      config, outputs, adapters.build_plan(config.num_layers, 'houlsby',
                                           size=64, init_scale=1e-2),
      pooling=pooling, head_dropout=0.0)
  plain = next(batching.eval_batches(arrays, labels, 12))
  packed = next(batching.eval_batches(arrays, labels, 12, packing=True,
                                      num_groups=2))
  assert packed['input_ids'].size < 0.6 * plain['input_ids'].size
  flat = param_paths.flatten(jax.tree.map(np.asarray, load_minilm_params(
      model, plain, minilm_weights, prefix='bert')))
  paths = optim.trainable_paths(flat, optim.method_patterns(
      'adapter', config.num_layers))
  trainable, frozen = (param_paths.unflatten(t)
                       for t in param_paths.partition(flat, paths))
  eval_step = inference.make_eval_step(model)
  # SGD with lr 1: the step's update is minus the gradient.
  train_step = train.make_train_step(model, tasks.get_task(task),
                                     optax.sgd(1.0))
  logits, grads, losses = {}, {}, {}
  for name, batch in (('plain', plain), ('packed', packed)):
    logits[name] = np.asarray(eval_step(trainable, frozen, batch))
    copy = jax.tree.map(jnp.array, trainable)
    updated, _, metrics = train_step(copy, optax.sgd(1.0).init(copy), frozen,
                                     batch, jax.random.key(0))
    moved = param_paths.flatten(updated)
    grads[name] = {k: np.asarray(v) - np.asarray(moved[k])
                   for k, v in param_paths.flatten(trainable).items()}
    losses[name] = float(metrics['loss'])
  assert logits['plain'].shape == (12, outputs)
  if task == 'stsb':  # The packed batch kept the float targets.
    np.testing.assert_array_equal(packed['labels'], labels)
  np.testing.assert_allclose(logits['packed'], logits['plain'], atol=1e-5,
                             rtol=0)
  assert abs(losses['packed'] - losses['plain']) < 1e-5
  assert max(np.abs(g).max() for g in grads['plain'].values()) > 1e-3
  for key, g in grads['plain'].items():
    np.testing.assert_allclose(grads['packed'][key], g, atol=1e-4, rtol=0,
                               err_msg=key)


# --------------------------------------------------------------------------
# Devices, the training loop and errors.


_DEVICE_SCRIPT = r'''
import dataclasses, json, sys
import jax, numpy as np, optax
from adapter_bert import adapters, backbones, data, modeling, optim, tasks
from adapter_bert import param_paths
from adapter_bert import inference
from adapter_bert import train
from tests.test_batching import make_arrays
config = dataclasses.replace(backbones.TINY_CONFIG, hidden_dropout=0.0,
                             attention_dropout=0.0)
arrays = make_arrays(37, max_length=32)
labels = (np.arange(37) % 2).astype(np.int32)
sharding = data.data_sharding()
out = {'devices': jax.device_count()}
for pooling in ('pooler', 'mean'):
  model = modeling.BertClassifier(config, 2, adapters.build_plan(
      2, 'houlsby', size=8, init_scale=1e-1), pooling=pooling,
      head_dropout=0.0)
  params = jax.jit(model.init)(jax.random.key(1), arrays['input_ids'][:2])
  flat = param_paths.flatten(jax.tree.map(np.asarray, params['params']))
  # A larger head, so that logits differ clearly from example to example.
  flat['classifier/kernel'] = flat['classifier/kernel'] * 100
  paths = optim.trainable_paths(flat, optim.method_patterns('adapter', 2))
  trainable, frozen = (param_paths.unflatten(t)
                       for t in param_paths.partition(flat, paths))
  trainable, frozen = inference.replicate((trainable, frozen))
  eval_step = inference.make_eval_step(model)
  for packing in (False, True):
    outputs = inference.predict(lambda b: eval_step(trainable, frozen, b),
                                arrays, 12, sharding=sharding, packing=packing)
    out[f'{pooling}/eval/{packing}'] = np.concatenate(outputs).tolist()
    step = train.make_train_step(model, tasks.get_task('rte'), optax.sgd(1.0))
    batch = next(data.train_batches(arrays, labels, 8, seed=0,
                                    packing=packing,
                                    num_groups=jax.device_count()))
    copy = jax.tree.map(lambda x: x.copy(), trainable)
    updated, _, metrics = step(copy, optax.sgd(1.0).init(copy), frozen,
                               inference.to_device(batch, sharding),
                               jax.random.key(0))
    out[f'{pooling}/loss/{packing}'] = float(metrics['loss'])
    out[f'{pooling}/kernel/{packing}'] = np.asarray(
        updated['classifier']['kernel']).tolist()
print(json.dumps(out))
'''


def test_packed_eval_and_train_step_on_one_and_four_devices():
  """Forced host devices need the flag before jax starts: subprocesses."""
  results = {}
  for devices in (1, 4):
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS='cpu', XLA_FLAGS=(
        f'--xla_force_host_platform_device_count={devices}'))
    run = subprocess.run([sys.executable, '-c', _DEVICE_SCRIPT], env=env,
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    results[devices] = json.loads(run.stdout.strip().splitlines()[-1])
    assert results[devices].pop('devices') == devices
  reference = results[1]
  for pooling in ('pooler', 'mean'):
    # Every example scored once, in order, equal to the unpacked scores.
    plain = np.asarray(reference[f'{pooling}/eval/False'])
    assert plain.shape == (37, 2) and np.ptp(plain[:, 0]) > 1e-3
    for devices in (1, 4):
      for part in ('eval', 'loss', 'kernel'):
        np.testing.assert_allclose(
            results[devices][f'{pooling}/{part}/True'],
            reference[f'{pooling}/{part}/False'], atol=1e-5,
            err_msg=f'{pooling} {part} on {devices} devices')


def test_packed_run_resumes_mid_epoch_to_identical_results(tmp_path):
  config = glue.get_config('task=cola,backbone=tiny')
  config.update(cache_dir=str(tmp_path / 'tokens'), max_steps=6, batch_size=8,
                eval_batch_size=256, eval_every=3, checkpoint_every=2,
                log_every=1, predict=False, max_length=64, packing=True)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  partial = train.train_and_evaluate(config, str(tmp_path / 'resumed'),
                                     interrupt_after_step=4)
  assert partial == dict(status='interrupted', step=4)
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert straight['status'] == resumed['status'] == 'done'
  for key in ('dev', 'best_dev', 'score', 'steps'):
    assert resumed[key] == straight[key], key
  with open(tmp_path / 'straight' / 'metrics.jsonl') as f:
    straight_log = [json.loads(l) for l in f]
  with open(tmp_path / 'resumed' / 'metrics.jsonl') as f:
    resumed_log = [json.loads(l) for l in f]
  loss = lambda log: [r['loss'] for r in log if r['split'] == 'train']
  assert loss(resumed_log) == loss(straight_log)


def test_packed_training_follows_the_unpacked_trajectory(tmp_path):
  # Without dropout, packing changes only the layout: every step sees the
  # same examples with the same loss, so the whole run (losses, gradient
  # norms, final dev scores) matches unpacked training to float tolerance.
  logs, results = {}, {}
  for packing in (False, True):
    config = glue.get_config('task=cola,backbone=tiny')
    config.update(cache_dir=str(tmp_path / 'tokens'), max_steps=12,
                  batch_size=16, eval_batch_size=256, log_every=1,
                  predict=False, max_length=64, packing=packing, dropout=0.0,
                  lr=3e-3)
    workdir = tmp_path / f'packing_{packing}'
    results[packing] = train.train_and_evaluate(config, str(workdir))
    with open(workdir / 'metrics.jsonl') as f:
      logs[packing] = [json.loads(l) for l in f]
  train_rows = lambda log, key: [r[key] for r in log if r['split'] == 'train']
  for key in ('loss', 'grad_norm'):
    plain = train_rows(logs[False], key)
    assert len(plain) == 12
    np.testing.assert_allclose(train_rows(logs[True], key), plain, rtol=1e-4,
                               err_msg=key)
  losses = train_rows(logs[False], 'loss')
  assert max(losses) - min(losses) > 1e-3  # The parameters did move.
  assert results[True]['steps'] == results[False]['steps'] == 12
  for metric, value in results[False]['dev'].items():
    assert abs(results[True]['dev'][metric] - value) < 1e-6, metric


def test_rows_are_as_narrow_as_the_longest_example_allows():
  assert [packing.row_width(n, 128) for n in (1, 32, 33, 64, 65, 128)] == [
      32, 32, 64, 64, 128, 128]
  assert packing.row_width(40, 48) == 48  # Never wider than the arrays.
  arrays = make_arrays(32, max_length=128)
  arrays['lengths'][:] = 5 + np.arange(32) % 20  # 5..24 tokens.
  labels = np.zeros(32, np.int32)
  real = np.ones(32, bool)
  narrow = packing.pack_batch(arrays, labels, np.arange(32), real, 1)
  full = packing.pack_batch(arrays, labels, np.arange(32), real, 1, width=128)
  assert narrow['input_ids'].shape[1] == 32 and full['input_ids'].shape[1] == 128
  assert narrow['input_ids'].size < full['input_ids'].size
  # The same examples, tokens, positions and segments either way.
  for a, b in zip(sorted(_unpack(narrow).values(), key=lambda v: v[0].tolist()),
                  sorted(_unpack(full).values(), key=lambda v: v[0].tolist())):
    for x, y in zip(a[:3], b[:3]):
      np.testing.assert_array_equal(x, y)
  arrays['lengths'][3] = 70  # One long example widens the whole batch.
  wide = packing.pack_batch(arrays, labels, np.arange(32), real, 1)
  assert wide['input_ids'].shape[1] == 128


def test_packing_step_layouts_smoke(tmp_path):
  out = tmp_path / 'layouts.json'
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.packing_step', '--backbone=tiny',
       '--tasks=cola', '--steps=2', '--rounds=1', f'--json_out={out}'],
      cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  cola = json.loads(out.read_text())['tasks']['cola']
  assert set(cola['seconds_per_step']) == {
      'unpacked', 'packed_full_rows', 'packed_narrow_rows'}
  assert all(w <= 64 for _, w in cola['shapes']['packed_narrow_rows'])
  assert all(w == 128 for _, w in cola['shapes']['packed_full_rows'])
  share = cola['real_token_share']
  assert share['packed_narrow_rows'] > share['unpacked']


def test_packing_a_span_task_is_a_clear_error(tmp_path):
  two = os.path.join(REPO, 'data', 'squad', 'dev-v1.1.first2articles.json')
  config = squad_config.get_config(f'backbone=tiny,train_file={two},holdout=1')
  config.packing = True
  with pytest.raises(errors.UserError, match=r"packing=True: task 'squad'"):
    train.train_and_evaluate(config, str(tmp_path / 'run'))


def test_token_accounting_counts_the_same_examples_in_fewer_tokens():
  # pylint: disable-next=g-import-not-at-top
  from experiments import token_accounting
  arrays = make_arrays(200, max_length=64)
  arrays['lengths'][:] = np.minimum(arrays['lengths'], 1 + np.arange(200) % 20)
  counts = token_accounting.account(arrays, np.zeros(200, np.int32), 16)
  real = {k: v['real_tokens'] for k, v in counts.items()}
  assert len(set(real.values())) == 1, real  # One epoch of the same examples.
  order = batching.epoch_order(arrays['lengths'], 16, 0, 0)
  assert real['unpacked'] == arrays['lengths'][order[:192]].sum()
  shares = {k: v['real_token_share'] for k, v in counts.items()}
  assert shares['unpacked'] < shares['group_by_length'] < shares['packed'] <= 1
  assert counts['packed']['steps'] == 12


def test_e2e_plan_interleaves_and_summary_follows_the_issue_schema():
  # pylint: disable-next=g-import-not-at-top
  from experiments import packing_e2e
  runs = packing_e2e.plan(['mrpc', 'cola'], [0, 1, 2])
  assert len(runs) == 14 and {r.seed for r in runs[:10]} == {0}
  assert [r.name for r in runs[10:]] == [
      'mrpc-ours_unpacked-s1', 'mrpc-ours_packed-s1',
      'mrpc-ours_unpacked-s2', 'mrpc-ours_packed-s2']
  assert '--config.packing=True' in packing_e2e.command(runs[2], '/r')
  assert '--group_by_length' in packing_e2e.command(runs[4], '/r')
  seconds = dict(zip(packing_e2e.VARIANTS, (300.0, 200.0, 100.0, 250.0,
                                            110.0)))
  records = [dict(task='mrpc', variant=v, seed=0, train_s=t, dev={'f1': 0.9},
                  load_before=1.0, load_after=2.0) for v, t in seconds.items()]
  summary = packing_e2e.summarise(
      records, {'mrpc': {'unpacked': {'real_token_share': 0.6},
                         'packed': {'real_token_share': 0.9}}}, 0)
  mrpc = summary['tasks']['mrpc']
  assert mrpc['real_token_share'] == {'unpacked': 0.6, 'packed': 0.9}
  assert mrpc['train_s'] == seconds and mrpc['dev']['ours_packed'] == {
      'f1': 0.9}
  assert mrpc['packed_speedup'] == {'adapterhub': 2.5,
                                    'adapterhub_group_by_length': 1.1,
                                    'ours_unpacked': 3.0}
  assert mrpc['targets_met'] == {'adapterhub': True,
                                 'adapterhub_group_by_length': False,
                                 'ours_unpacked': True}
  assert summary['load']['max'] == 2.0
  records += [dict(task='mrpc', variant=v, seed=s, train_s=t * s, dev={},
                   load_before=1.0, load_after=1.0)
              for s in (1, 2) for v, t in (('ours_unpacked', 300.0),
                                           ('ours_packed', 200.0))]
  by_seed = packing_e2e.summarise(records, {}, 0)['tasks']['mrpc'][
      'packed_speedup_by_seed']['ours_unpacked']
  assert by_seed == dict(ratios=[3.0, 1.5, 1.5], median=1.5)


def test_e2e_continues_past_runs_already_recorded(tmp_path):
  # A rerun skips recorded runs and still writes the summary (a recorded run
  # once shadowed the flags and ended the study after the next run).
  runs = tmp_path / 'runs'
  runs.mkdir()
  (runs / 'mrpc-ours_unpacked-s0.json').write_text(json.dumps(dict(
      task='mrpc', variant='ours_unpacked', seed=0, train_s=10.0,
      dev={'f1': 0.5}, steps=1, load_before=1.0, load_after=1.0)))
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.packing_e2e', '--tasks=mrpc',
       '--seeds=0', '--variants=ours_unpacked', f'--root={tmp_path}',
       f'--out={tmp_path / "summary.json"}'], cwd=REPO, capture_output=True,
      text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['runs'] == 1
  assert summary['tasks']['mrpc']['train_s'] == {'ours_unpacked': 10.0}
