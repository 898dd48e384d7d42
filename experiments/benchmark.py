r"""Speed, memory and FLOPs of adapter_bert's real train step: adapter vs full.

  python -m experiments.benchmark [--backbone=minilm-l6] [--batch_size=32] \
      [--seq_len=128] [--methods=adapter,full] [--steps=10] [--dtype=float32] \
      [--peer] [--inference] [--json_out=experiments/results/benchmark.json]
  python -m experiments.benchmark --smoke   # tiny backbone, 2 steps (CI).
  python -m experiments.benchmark --token_accounting  # padding, no training.
  python -m experiments.benchmark --methods=adapter,lora,ia3,prefix,bitfit \
      --m=23 --set=lora_rank=25,prefix_length=49,prefix_mlp=true  # ~1% each.

Each method is built by `train.setup`, as `train.train_and_evaluate` builds
it (experiments/method_step.py: a GLUE config from configs/glue.py, the
task's model, the trainable split, optimizer, replicated parameters, the
loop's data-sharded batch), and the run's train step is compiled ahead of
time, so the compile time, XLA's memory analysis and FLOP count describe the
very program that is then timed: the median (min, max) of --steps steps,
each waited for with `block_until_ready`, on random token ids (every position
real). The machines are shared, so the load average before and after is
recorded, and ratios (adapter / full in the same process) are the numbers to
trust. FLOPs (XLA's cost analysis, per device) and optimizer-state bytes do
not depend on the load at all: the adapter step's FLOP shortfall against full
is the weight-gradient work it skips for frozen kernels.

--backbone=bert-base-random: BERT-base shapes (modeling.BertConfig()) with
random weights, for when no BERT checkpoint is at hand (speed does not depend
on the weights). --peer: the same step in AdapterHub (PyTorch), run by
experiments/adapterhub/peer_step.py in its own venv (built once, cached under
$ADAPTER_BERT_CACHE/peer-venv from experiments/adapterhub/requirements.txt).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import jax

from adapter_bert import backbones
from adapter_bert import cache
from adapter_bert import builder
from adapter_bert import optim
from experiments import fileio
from experiments import method_step
from experiments import token_accounting
from experiments.adapterhub import peer_env

_BACKBONE = flags.DEFINE_string(
    'backbone', 'minilm-l6',
    f'A backbone name or directory (adapter_bert.backbones), or '
    f'{method_step.BERT_BASE_RANDOM} (BERT-base shapes, random weights).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Global batch size.')
_SEQ_LEN = flags.DEFINE_integer('seq_len', 128, 'Tokens per example.')
_METHODS = flags.DEFINE_list('methods', ['adapter', 'full'],
                             f'Methods to time, of {optim.METHODS}.')
_SET = flags.DEFINE_string(
    'set', '', 'key=value pairs set on every method\'s config (configs/'
    'common.py keys), e.g. lora_rank=25,prefix_length=49,prefix_mlp=true.')
_STEPS = flags.DEFINE_integer(
    'steps', method_step.MIN_STEPS,
    f'Timed steps per method (at least {method_step.MIN_STEPS}).')
_DTYPE = flags.DEFINE_enum('dtype', 'float32', sorted(builder.DTYPES),
                           'Compute dtype.')
_M = flags.DEFINE_integer('m', 64, 'Adapter bottleneck size.')
_PEER = flags.DEFINE_bool('peer', False,
                          'Also time AdapterHub (PyTorch) in its own venv.')
_INFERENCE = flags.DEFINE_bool('inference', False,
                               'Also time the eval (inference) step.')
_OUT = flags.DEFINE_string(
    'json_out', 'experiments/results/benchmark.json',
    'JSON results path (written atomically).')
_ROUNDS = flags.DEFINE_integer(
    'rounds', 1,
    'Measure every method (and the peer) this many times, interleaved; '
    'reports the median over rounds, and ratios taken within each round, '
    'so that a burst of load on a shared machine skews one round only.')
_TOKEN_ACCOUNTING = flags.DEFINE_bool(
    'token_accounting', False,
    'Only count real vs computed tokens of one epoch of training batches of '
    'the --accounting_tasks train splits, unpacked, grouped by length and '
    'packed (experiments/token_accounting.py); tokenization, no model. Uses '
    '--backbone, --batch_size, --seq_len (as max_length) and --json_out '
    f'(default {token_accounting.DEFAULT_OUT}).')
_ACCOUNTING_TASKS = flags.DEFINE_list(
    'accounting_tasks', list(token_accounting.TASKS),
    'GLUE tasks for --token_accounting.')
_ACCOUNTING_GROUPS = flags.DEFINE_integer(
    'accounting_groups', 1, 'Packing groups (devices) for --token_accounting.')
_SMOKE = flags.DEFINE_bool(
    'smoke', False, 'Tiny backbone, batch 8, length 32, 2 steps, m=8 unless '
    'given, no peer: checks the benchmark itself (CI).')


# --------------------------------------------------------------------------
# Timing a method's compiled steps.


def _timings(times: Sequence[float]) -> dict[str, Any]:
  return dict(median=statistics.median(times), min=min(times), max=max(times),
              all=list(times))


def time_compiled(step: Callable[[Any], Any], state: Any, steps: int
                  ) -> tuple[float, list[float], Any]:
  """(first call s, later calls s, state): `state = step(state)` repeatedly."""
  start = time.perf_counter()
  state = jax.block_until_ready(step(state))
  first = time.perf_counter() - start
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    state = jax.block_until_ready(step(state))
    times.append(time.perf_counter() - start)
  return first, times, state


def benchmark_method(method: str, settings: method_step.Settings,
                     backbone: backbones.Backbone) -> dict[str, Any]:
  """Builds, compiles and times one method's train (and eval) step."""
  run, batch = method_step.build_method(method, settings, backbone)
  report, frozen = run.report, run.frozen
  trainable, opt_state = run.trainable, run.opt_state
  base_rng = jax.random.key(run.config.seed)

  # Compile ahead of time: the analyses below describe the program we time.
  start = time.perf_counter()
  compiled = run.train_step.lower(trainable, opt_state, frozen, batch,
                              base_rng).compile()
  compile_s = time.perf_counter() - start
  flops = method_step.step_flops(compiled)
  result = dict(
      method=method,
      trainable_params=report['trainable_params'],
      total_params=report['total_params'],
      trainable_share=report['trainable_share'],
      opt_state_bytes=method_step.tree_bytes(opt_state),
      trainable_bytes=method_step.tree_bytes(trainable),
      compile_s=compile_s,
      memory=method_step.memory_stats(compiled),
      flops=flops)

  # Per-step keys as the training loop folds them, made before the clock runs.
  rngs = iter([jax.random.fold_in(base_rng, i)
               for i in range(settings.steps + 1)])

  def step(state):
    t, o = state
    t, o, _ = compiled(t, o, frozen, batch, next(rngs))
    return t, o

  # The step donates its parameter and optimizer buffers: keep only its output.
  first, times, (trainable, opt_state) = time_compiled(
      step, (trainable, opt_state), settings.steps)
  del opt_state
  median = statistics.median(times)
  result.update(first_step_s=first, step_s=_timings(times),
                examples_per_sec=settings.batch_size / median,
                achieved_gflops_per_sec=(None if flops is None
                                         else flops / median / 1e9))

  if settings.inference:
    result['inference'] = _benchmark_eval(run.eval_step, trainable, frozen,
                                          batch, settings)
  return result


def _benchmark_eval(eval_step, trainable, frozen, batch,
                    settings: method_step.Settings) -> dict[str, Any]:
  """Examples/s of the run's eval step on the same batch."""
  inputs = {k: batch[k] for k in ('input_ids', 'token_type_ids',
                                  'attention_mask')}
  start = time.perf_counter()
  compiled = eval_step.lower(trainable, frozen, inputs).compile()
  compile_s = time.perf_counter() - start
  first, times, _ = time_compiled(
      lambda _: compiled(trainable, frozen, inputs), None, settings.steps)
  median = statistics.median(times)
  return dict(compile_s=compile_s, first_step_s=first,
              step_s=_timings(times),
              examples_per_sec=settings.batch_size / median,
              memory=method_step.memory_stats(compiled),
              flops=method_step.step_flops(compiled))


# --------------------------------------------------------------------------
# The run.


def device_description() -> dict[str, Any]:
  device = jax.devices()[0]
  cpu_model = None
  if os.path.exists('/proc/cpuinfo'):
    with open('/proc/cpuinfo') as f:
      cpu_model = next((l.split(':', 1)[1].strip() for l in f
                        if l.startswith('model name')), None)
  return dict(platform=device.platform, device_kind=device.device_kind,
              device_count=jax.device_count(), cpu_count=os.cpu_count(),
              cpu_model=cpu_model, jax=jax.__version__,
              python=platform.python_version())


def _ratio(a, b):
  return None if a is None or b is None or not b else a / b


def summarise(methods: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
  """adapter / full ratios of what both measured."""
  if not {'adapter', 'full'} <= set(methods):
    return {}
  a, f = methods['adapter'], methods['full']
  temp = lambda r: (r.get('memory') or {}).get('temp_bytes')
  return dict(
      examples_per_sec=_ratio(a['examples_per_sec'], f['examples_per_sec']),
      opt_state_bytes=_ratio(a['opt_state_bytes'], f['opt_state_bytes']),
      temp_bytes=_ratio(temp(a), temp(f)),
      flops=_ratio(a['flops'], f['flops']),
      trainable_params=_ratio(a['trainable_params'], f['trainable_params']))


def _measure_round(settings: method_step.Settings, backbone: backbones.Backbone
                   ) -> tuple[dict[str, Any], dict[str, Any] | None]:
  """Every method once, then the peer: (our results, peer results)."""
  methods = {}
  for method in settings.methods:
    print(f'Compiling and timing {method} ...', flush=True)
    methods[method] = benchmark_method(method, settings, backbone)
    gc.collect()
  peer = None
  if settings.peer:
    try:
      print('Timing the AdapterHub peer ...', flush=True)
      peer = peer_env.run_peer(settings, backbone)
      peer['status'] = 'done'
      peer['comparable'] = jax.devices()[0].platform == 'cpu'
    except peer_env.PeerUnavailable as e:
      print(f'AdapterHub peer skipped: {e}', flush=True)
      peer = dict(status='unavailable', reason=str(e))
  return methods, peer


def _round_ratios(methods, peer) -> dict[str, float | None]:
  """Speed ratios within one round (the same minutes of machine load)."""
  ex = lambda r, k: (r.get(k) or {}).get('examples_per_sec')
  peer_methods = (peer or {}).get('methods', {})
  return dict(
      adapter_over_full=_ratio(ex(methods, 'adapter'), ex(methods, 'full')),
      adapter_over_peer_adapter=_ratio(ex(methods, 'adapter'),
                                       ex(peer_methods, 'adapter')),
      peer_adapter_over_peer_full=_ratio(ex(peer_methods, 'adapter'),
                                         ex(peer_methods, 'full')))


def _median_over_rounds(per_round: Sequence[Mapping[str, Any]]
                        ) -> dict[str, Any]:
  """The last round's details, examples/s replaced by the rounds' median."""
  merged = {}
  for name in per_round[-1]:
    values = [r[name]['examples_per_sec'] for r in per_round if name in r]
    merged[name] = dict(per_round[-1][name],
                        examples_per_sec=statistics.median(values),
                        examples_per_sec_by_round=values)
  return merged


def run(settings: method_step.Settings) -> dict[str, Any]:
  """Measures every method (and the peer); the results dict (JSON-ready)."""
  unknown = set(settings.methods) - set(optim.METHODS)
  if unknown:
    raise ValueError(f'Unknown methods {sorted(unknown)}; valid: '
                     f'{optim.METHODS}')
  if settings.steps < 1:
    raise ValueError(f'steps must be positive, got {settings.steps}.')
  if settings.rounds < 1:
    raise ValueError(f'rounds must be positive, got {settings.rounds}.')
  load_before = os.getloadavg()
  backbone = method_step.resolve_backbone(settings.backbone)
  ours, peers, ratios = [], [], []
  for i in range(settings.rounds):
    if settings.rounds > 1:
      print(f'Round {i + 1} of {settings.rounds}', flush=True)
    methods, peer = _measure_round(settings, backbone)
    ours.append(methods)
    peers.append(peer)
    ratios.append(_round_ratios(methods, peer))
  methods = _median_over_rounds(ours)
  peer = peers[-1]
  done = [p for p in peers if p and p.get('status') == 'done']
  if done and len(done) == len(peers):
    peer = dict(peer, methods=_median_over_rounds([p['methods'] for p in done]))
  summary = summarise(methods)
  median_ratio = lambda key: (
      None if any(r[key] is None for r in ratios)
      else statistics.median(r[key] for r in ratios))
  if summary:
    summary['examples_per_sec'] = median_ratio('adapter_over_full')
  return dict(
      benchmark='adapter_bert train step',
      created=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
      settings=dataclasses.asdict(settings),
      backbone=dict(name=backbone.name,
                    weights='random' if backbone.weights_dir is None
                    else 'pretrained',
                    config=dataclasses.asdict(backbone.config)),
      device=device_description(),
      load_before=list(load_before),
      load_after=list(os.getloadavg()),
      methods=methods,
      adapter_over_full=summary,
      ratios_by_round=ratios,
      adapter_over_peer_adapter=median_ratio('adapter_over_peer_adapter'),
      peer=peer)


def _fmt(value, spec: str) -> str:
  return '-' if value is None else format(value, spec)


def format_table(results: Mapping[str, Any]) -> str:
  """The human-readable summary printed at the end of a run."""
  methods = results['methods']
  peer = results.get('peer') or {}
  peer_methods = peer.get('methods', {}) if peer.get('status') == 'done' else {}
  our_full = methods.get('full', {}).get('examples_per_sec')
  peer_adapter = peer_methods.get('adapter', {}).get('examples_per_sec')
  rows = [(f'ours {k}', v) for k, v in methods.items()]
  rows += [(f'adapterhub {k}', v) for k, v in peer_methods.items()]
  s = results['settings']
  d = results['device']
  num_rounds = s.get('rounds', 1)
  rounds = (f' (median over {num_rounds} interleaved rounds)'
            if num_rounds > 1 else '')
  lines = [
      f"{s['backbone']} ({results['backbone']['weights']} weights), batch "
      f"{s['batch_size']} x {s['seq_len']} tokens, {s['dtype']}, median of "
      f"{s['steps']} steps{rounds} on {d['device_kind']} ({d['platform']}, "
      f"{d['cpu_count']} CPUs); load {results['load_before'][0]:.2f} -> "
      f"{results['load_after'][0]:.2f}",
      f"{'method':<18}{'ex/s':>9}{'x our full':>11}{'x peer ad.':>11}"
      f"{'compile s':>10}{'opt MB':>9}{'temp MB':>9}{'GFLOP/step':>11}"]
  scaled = lambda v, unit: None if v is None else v / unit
  for name, r in rows:
    ex = r['examples_per_sec']
    temp = (r.get('memory') or {}).get('temp_bytes')
    lines.append(
        f'{name:<18}{ex:>9.1f}{_fmt(_ratio(ex, our_full), ".2f"):>11}'
        f'{_fmt(_ratio(ex, peer_adapter), ".2f"):>11}'
        f'{_fmt(r.get("compile_s"), ".1f"):>10}'
        f'{_fmt(scaled(r["opt_state_bytes"], 2**20), ".2f"):>9}'
        f'{_fmt(scaled(temp, 2**20), ".1f"):>9}'
        f'{_fmt(scaled(r.get("flops"), 1e9), ".2f"):>11}')
  return '\n'.join(lines + _summary_lines(results, peer, peer_methods))


def _summary_lines(results: Mapping[str, Any], peer: Mapping[str, Any],
                   peer_methods: Mapping[str, Any]) -> list[str]:
  """The ratios, the peer's notes and inference speeds under the table."""
  s, d, methods = results['settings'], results['device'], results['methods']
  lines = []
  ratio = results.get('adapter_over_full') or {}
  if ratio:
    lines.append(
        f"adapter / full: speed {_fmt(ratio['examples_per_sec'], '.2f')}x, "
        f"optimizer state {_fmt(ratio['opt_state_bytes'], '.2%')}, FLOPs "
        f"{_fmt(ratio['flops'], '.1%')}, temp memory "
        f"{_fmt(ratio['temp_bytes'], '.1%')}, trained parameters "
        f"{_fmt(ratio['trainable_params'], '.2%')}")
  by_round = results.get('ratios_by_round') or []
  if len(by_round) > 1:
    show = lambda key: ', '.join(_fmt(r[key], '.2f') for r in by_round)
    lines.append(f"within each round: adapter / full {show('adapter_over_full')}"
                 + (f"; adapter / peer adapter "
                    f"{show('adapter_over_peer_adapter')}"
                    if peer_methods else ''))
    if peer_methods:
      lines.append('median of the within-round ratios: adapter / peer adapter '
                   f"{_fmt(results.get('adapter_over_peer_adapter'), '.2f')}x")
  if peer_methods.get('adapter') and peer_methods.get('full'):
    speedup = _ratio(peer_methods['adapter']['examples_per_sec'],
                     peer_methods['full']['examples_per_sec'])
    lines.append(f'adapterhub adapter / full: speed {speedup:.2f}x')
  if peer and peer.get('status') == 'done' and not peer.get('comparable'):
    lines.append('note: the peer ran on CPU (torch CPU), ours on '
                 f"{d['platform']}: the peer ratios compare different devices.")
  if peer_methods and s['dtype'] != 'float32':
    lines.append(f"note: the peer computes in float32, ours in {s['dtype']}.")
  if peer.get('status') == 'unavailable':
    lines.append(f"adapterhub peer: unavailable ({peer['reason']})")
  inference = {k: v['inference'] for k, v in methods.items()
               if 'inference' in v}
  if inference:
    lines.append('inference (eval step): ' + ', '.join(
        f"{k} {v['examples_per_sec']:.1f} ex/s" for k, v in inference.items()))
  return lines


def _account_tokens() -> None:
  out = (_OUT.value if flags.FLAGS['json_out'].present
         else token_accounting.DEFAULT_OUT)
  tokens_dir = os.path.join(cache.cache_root(), 'tokens')
  results = token_accounting.run(
      _ACCOUNTING_TASKS.value, _BACKBONE.value, _BATCH_SIZE.value,
      _SEQ_LEN.value, _ACCOUNTING_GROUPS.value, cache_dir=tokens_dir)
  results['command'] = ' '.join(['python -m experiments.benchmark'] + [
      a for a in sys.argv[1:]])
  fileio.write_json(out, results)
  print(token_accounting.format_table(results))
  print(f'Wrote {out}')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if _TOKEN_ACCOUNTING.value:
    _account_tokens()
    return
  if _SMOKE.value:
    # tiny's hidden size is 32: a default-sized (64) adapter would outgrow it.
    m = _M.value if flags.FLAGS['m'].present else 8
    settings = method_step.Settings.smoke_settings(
        methods=tuple(_METHODS.value), dtype=_DTYPE.value, m=m,
        inference=_INFERENCE.value, overrides=_SET.value)
  else:
    if _STEPS.value < method_step.MIN_STEPS:
      raise app.UsageError(
          f'--steps must be at least {method_step.MIN_STEPS} for a median '
          'worth reporting; --smoke checks quickly.')
    settings = method_step.Settings(
        backbone=_BACKBONE.value, batch_size=_BATCH_SIZE.value,
        seq_len=_SEQ_LEN.value, methods=tuple(_METHODS.value),
        steps=_STEPS.value, dtype=_DTYPE.value, m=_M.value, peer=_PEER.value,
        inference=_INFERENCE.value, rounds=_ROUNDS.value,
        overrides=_SET.value)
  logging.info('Benchmark settings: %s', settings)
  results = run(settings)
  fileio.write_json(_OUT.value, results)
  print(format_table(results))
  print(f'Wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
