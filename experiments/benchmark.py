r"""Speed, memory and FLOPs of adapter_bert's real train step: adapter vs full.

  python -m experiments.benchmark [--backbone=minilm-l6] [--batch_size=32] \
      [--seq_len=128] [--methods=adapter,full] [--steps=10] [--dtype=float32] \
      [--peer] [--inference] [--json_out=experiments/results/benchmark.json]
  python -m experiments.benchmark --smoke   # tiny backbone, 2 steps (CI).
  python -m experiments.benchmark --token_accounting  # padding, no training.
  python -m experiments.benchmark --methods=adapter,lora,ia3,prefix,bitfit \
      --m=23 --set=lora_rank=25,prefix_length=49,prefix_mlp=true  # ~1% each.

Each method is built by `train.setup`, as `train.train_and_evaluate` builds
it (a GLUE config from configs/glue.py, the task's model, the trainable
split, optimizer, replicated parameters, the loop's data-sharded batch), and
the run's train step is compiled ahead of time, so the compile time, XLA's
memory analysis and FLOP count describe the very program that is then timed:
the median (min, max) of --steps steps, each waited for with
`block_until_ready`, on random token ids (every position real). The machines
are shared, so the load average before and after is recorded, and ratios
(adapter / full in the same process) are the numbers to trust. FLOPs (XLA's
cost analysis, per device) and optimizer-state bytes do not depend on the load
at all: the adapter step's FLOP shortfall against full is the weight-gradient
work it skips for frozen kernels.

--backbone=bert-base-random: BERT-base shapes (modeling.BertConfig()) with
random weights, for when no BERT checkpoint is at hand (speed does not depend
on the weights). --peer: the same step in AdapterHub (PyTorch), run by
experiments/adapterhub_peer.py in its own venv (built once, cached under
$ADAPTER_BERT_CACHE/peer-venv from experiments/requirements-peer.txt).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
import numpy as np

from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import tasks as tasks_lib
from adapter_bert import train
from configs import common
from configs import glue
from experiments import fileio
from experiments import token_accounting

BERT_BASE_RANDOM = 'bert-base-random'
MIN_STEPS = 10
# A step count for the learning-rate schedule; it does not change the program.
_SCHEDULE_STEPS = 1000
_HERE = os.path.dirname(os.path.abspath(__file__))
PEER_SCRIPT = os.path.join(_HERE, 'adapterhub_peer.py')
PEER_REQUIREMENTS = os.path.join(_HERE, 'requirements-peer.txt')
PEER_METHODS = ('adapter', 'full')
# Our activation names -> HF `hidden_act` (random-weight peer backbones).
_HF_ACTIVATIONS = {'gelu': 'gelu', 'gelu_tanh': 'gelu_new', 'relu': 'relu',
                   'swish': 'silu', 'tanh': 'tanh'}

_BACKBONE = flags.DEFINE_string(
    'backbone', 'minilm-l6',
    f'A backbone name or directory (adapter_bert.backbones), or '
    f'{BERT_BASE_RANDOM} (BERT-base shapes, random weights).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 32, 'Global batch size.')
_SEQ_LEN = flags.DEFINE_integer('seq_len', 128, 'Tokens per example.')
_METHODS = flags.DEFINE_list('methods', ['adapter', 'full'],
                             f'Methods to time, of {optim.METHODS}.')
_SET = flags.DEFINE_string(
    'set', '', 'key=value pairs set on every method\'s config (configs/'
    'common.py keys), e.g. lora_rank=25,prefix_length=49,prefix_mlp=true.')
_STEPS = flags.DEFINE_integer('steps', MIN_STEPS,
                              f'Timed steps per method (at least {MIN_STEPS}).')
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


@dataclasses.dataclass(frozen=True)
class Settings:
  """What to measure; `smoke()` gives the seconds-long CI variant."""
  backbone: str = 'minilm-l6'
  batch_size: int = 32
  seq_len: int = 128
  methods: tuple[str, ...] = ('adapter', 'full')
  steps: int = MIN_STEPS
  dtype: str = 'float32'
  m: int = 64
  peer: bool = False
  inference: bool = False
  seed: int = 0
  smoke: bool = False
  rounds: int = 1
  overrides: str = ''  # key=value,... on every method's config (--set).

  @classmethod
  def smoke_settings(cls, **overrides) -> 'Settings':
    return cls(**{**dict(backbone='tiny', batch_size=8, seq_len=32, steps=2,
                         peer=False, smoke=True), **overrides})


# --------------------------------------------------------------------------
# Building a method exactly as train_and_evaluate does.


def resolve_backbone(name: str) -> backbones.Backbone:
  """A named backbone, or BERT-base shapes with random weights."""
  if name == BERT_BASE_RANDOM:
    return backbones.Backbone(name, modeling.BertConfig(), weights_dir=None,
                              tokenizer_dir=backbones.minilm_dir())
  return backbones.resolve(name)


def make_config(method: str, settings: Settings):
  """The training config of a GLUE run of `method` at the benchmark's shapes."""
  config = glue.get_config(f'task=mrpc,method={method},m={settings.m}')
  config.backbone = settings.backbone
  config.batch_size = settings.batch_size
  config.max_length = settings.seq_len
  config.dtype = settings.dtype
  config.seed = settings.seed
  config.max_steps = _SCHEDULE_STEPS
  if settings.overrides:
    defaults = {k: v for k, v in config.items()
                if not isinstance(v, ml_collections.ConfigDict)}
    config.update(common.parse_arg(settings.overrides, **defaults))
  return config


def make_task_and_model(config, backbone_config: modeling.BertConfig):
  """The task (metadata only; no data is read) and its model."""
  task = tasks_lib.from_config(config)
  return task, task.build_model(config, backbone_config)


def random_batch(vocab_size: int, num_outputs: int, batch_size: int,
                 seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
  """A training batch of random ids, every position real, two segments."""
  rng = np.random.default_rng(seed)
  shape = (batch_size, seq_len)
  segments = (np.arange(seq_len) >= seq_len // 2).astype(np.int32)
  if num_outputs == 1:
    labels = rng.standard_normal(batch_size).astype(np.float32)
  else:
    labels = rng.integers(0, num_outputs, batch_size, dtype=np.int32)
  return dict(
      input_ids=rng.integers(0, vocab_size, shape, dtype=np.int32),
      token_type_ids=np.broadcast_to(segments, shape).copy(),
      attention_mask=np.ones(shape, np.int32),
      labels=labels,
      mask=np.ones((batch_size,), np.float32))


def tree_bytes(tree) -> int:
  return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape))
                 for x in jax.tree.leaves(tree)))


def abstract_method(method: str, settings: Settings,
                    backbone_config: modeling.BertConfig) -> dict[str, Any]:
  """A method's model, optimizer and state shapes, computing nothing.

  jax.eval_shape of init and tx.init, so checking a BERT-large-sized state
  costs milliseconds: for tests, and for sizing a run before paying for it.
  """
  config = make_config(method, settings)
  task, model = make_task_and_model(config, backbone_config)
  dummy = jax.ShapeDtypeStruct((1, 8), np.int32)
  params = jax.eval_shape(model.init, jax.random.key(0), dummy, dummy,
                          dummy)['params']
  trainable, frozen = train.split_trainable(
      config, backbone_config.num_layers, optim.flatten(params))
  tx, _ = train.optimizer_for(config, trainable, _SCHEDULE_STEPS)
  return dict(config=config, task=task, model=model, tx=tx,
              trainable=trainable, frozen=frozen,
              opt_state=jax.eval_shape(tx.init, trainable))


def compile_abstract_train_step(method: str, settings: Settings,
                                backbone_config: modeling.BertConfig):
  """The compiled train step of a method, from shapes alone (no weights).

  The same `train.make_train_step` program the benchmark times, for checking
  its FLOPs and memory without initialising or running anything.
  """
  state = abstract_method(method, settings, backbone_config)
  batch = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
      random_batch(2, state['task'].num_outputs, settings.batch_size,
                   settings.seq_len))
  rng = jax.eval_shape(lambda: jax.random.key(0))
  step = train.make_train_step(state['model'], state['task'], state['tx'])
  return step.lower(state['trainable'], state['opt_state'], state['frozen'],
                    batch, rng).compile()


# --------------------------------------------------------------------------
# Measuring a compiled step.


def memory_stats(compiled) -> dict[str, int] | None:
  """XLA's memory analysis in bytes; None where the backend reports none."""
  try:
    stats = compiled.memory_analysis()
  except (NotImplementedError, RuntimeError, jax.errors.JaxRuntimeError):
    return None
  if stats is None:
    return None
  fields = dict(temp_bytes='temp_size_in_bytes',
                argument_bytes='argument_size_in_bytes',
                output_bytes='output_size_in_bytes',
                alias_bytes='alias_size_in_bytes',
                generated_code_bytes='generated_code_size_in_bytes')
  out = {k: int(getattr(stats, a)) for k, a in fields.items()
         if getattr(stats, a, None) is not None}
  return out or None


def step_flops(compiled) -> float | None:
  """XLA's FLOP count of one call (per device); None where not reported."""
  try:
    cost = compiled.cost_analysis()
  except (NotImplementedError, RuntimeError, jax.errors.JaxRuntimeError):
    return None
  if isinstance(cost, (list, tuple)):  # Older JAX: one dict per device.
    cost = cost[0] if cost else None
  flops = (cost or {}).get('flops')
  return float(flops) if flops is not None and flops >= 0 else None


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


def build_method(method: str, settings: Settings, backbone: backbones.Backbone
                 ) -> tuple[train.Run, dict[str, jax.Array]]:
  """(run, device batch): `method` set up by training's own `train.setup`.

  The batch is random ids at the benchmark's shapes, put on the devices by
  training's host-to-device path. Shared with experiments/profile_step.py.
  """
  config = make_config(method, settings)
  run = train.setup(config, _SCHEDULE_STEPS, backbone=backbone)
  host_batch = random_batch(backbone.config.vocab_size, run.task.num_outputs,
                            settings.batch_size, settings.seq_len,
                            settings.seed)
  return run, run.to_device(host_batch)


def benchmark_method(method: str, settings: Settings,
                     backbone: backbones.Backbone) -> dict[str, Any]:
  """Builds, compiles and times one method's train (and eval) step."""
  run, batch = build_method(method, settings, backbone)
  report, frozen = run.report, run.frozen
  trainable, opt_state = run.trainable, run.opt_state
  base_rng = jax.random.key(run.config.seed)

  # Compile ahead of time: the analyses below describe the program we time.
  start = time.perf_counter()
  compiled = run.train_step.lower(trainable, opt_state, frozen, batch,
                              base_rng).compile()
  compile_s = time.perf_counter() - start
  flops = step_flops(compiled)
  result = dict(
      method=method,
      trainable_params=report['trainable_params'],
      total_params=report['total_params'],
      trainable_share=report['trainable_share'],
      opt_state_bytes=tree_bytes(opt_state),
      trainable_bytes=tree_bytes(trainable),
      compile_s=compile_s,
      memory=memory_stats(compiled),
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
                    settings: Settings) -> dict[str, Any]:
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
              memory=memory_stats(compiled), flops=step_flops(compiled))


# --------------------------------------------------------------------------
# The AdapterHub peer.


class PeerUnavailable(RuntimeError):
  """The peer venv could not be built or the peer script failed."""


def peer_venv_dir() -> str:
  root = os.environ.get('ADAPTER_BERT_CACHE',
                        os.path.expanduser('~/.cache/adapter_bert'))
  return os.path.join(root, 'peer-venv')


def ensure_peer_venv(venv: str | None = None,
                     requirements: str = PEER_REQUIREMENTS) -> str:
  """The peer venv's python; creates the venv and installs the pins once.

  A stamp holding the requirements text marks a finished install, so a later
  call costs nothing and an edited requirements file triggers `pip install`.
  """
  venv = venv or peer_venv_dir()
  python = os.path.join(venv, 'bin', 'python')
  stamp = os.path.join(venv, '.adapter_bert_requirements')
  with open(requirements) as f:
    wanted = f.read()
  if os.path.exists(python) and os.path.exists(stamp):
    with open(stamp) as f:
      if f.read() == wanted:
        return python
  print(f'Building the AdapterHub peer venv at {venv} (once) ...', flush=True)
  try:
    if not os.path.exists(python):
      subprocess.run([sys.executable, '-m', 'venv', venv], check=True,
                     capture_output=True, text=True)
    subprocess.run([python, '-m', 'pip', 'install', '-q', '-r', requirements],
                   check=True, capture_output=True, text=True)
  except (OSError, subprocess.CalledProcessError) as e:
    output = getattr(e, 'stderr', None) or getattr(e, 'stdout', None) or str(e)
    tail = output.strip().splitlines()[-5:]
    raise PeerUnavailable(
        f'could not build the peer venv at {venv} (no network?): '
        f'{" | ".join(tail)}') from e
  fileio.write_text(stamp, wanted)
  return python


def hf_config(config: modeling.BertConfig) -> dict[str, Any]:
  """HF BertConfig keys for our architecture (random-weight peer backbone)."""
  return dict(
      vocab_size=config.vocab_size, hidden_size=config.hidden_size,
      num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
      intermediate_size=config.intermediate_size,
      hidden_act=_HF_ACTIVATIONS[config.hidden_act],
      max_position_embeddings=config.max_position_embeddings,
      type_vocab_size=config.type_vocab_size,
      layer_norm_eps=config.layer_norm_eps,
      initializer_range=config.initializer_range)


def run_peer(settings: Settings, backbone: backbones.Backbone,
             timeout_s: float = 3600) -> dict[str, Any]:
  """Runs experiments/adapterhub_peer.py in the peer venv; its JSON results."""
  methods = [m for m in settings.methods if m in PEER_METHODS]
  if not methods:
    raise PeerUnavailable(f'the peer times only {PEER_METHODS}.')
  python = ensure_peer_venv()
  if backbone.weights_dir is not None and backbone.weights_format == 'hf':
    source = [f'--model_dir={backbone.weights_dir}']
  else:  # Random weights, or a TF checkpoint the peer cannot read: same shapes.
    source = [f'--random_config={json.dumps(hf_config(backbone.config))}']
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  env.update(HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'peer.json')
    command = [python, PEER_SCRIPT, *source,
               f'--batch_size={settings.batch_size}',
               f'--seq_len={settings.seq_len}', f'--steps={settings.steps}',
               f'--methods={",".join(methods)}', f'--m={settings.m}',
               f'--threads={os.cpu_count()}', f'--seed={settings.seed}',
               f'--out={out}']
    try:
      proc = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
      raise PeerUnavailable(f'the peer ran past {timeout_s} s') from e
    if proc.returncode or not os.path.exists(out):
      tail = proc.stderr.strip().splitlines()[-8:]
      raise PeerUnavailable(f'the peer script failed (exit {proc.returncode}): '
                            + ' | '.join(tail))
    with open(out) as f:
      return json.load(f)


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


def _measure_round(settings: Settings, backbone: backbones.Backbone
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
      peer = run_peer(settings, backbone)
      peer['status'] = 'done'
      peer['comparable'] = jax.devices()[0].platform == 'cpu'
    except PeerUnavailable as e:
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


def run(settings: Settings) -> dict[str, Any]:
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
  backbone = resolve_backbone(settings.backbone)
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
  return '\n'.join(lines)


def _account_tokens() -> None:
  out = (_OUT.value if flags.FLAGS['json_out'].present
         else token_accounting.DEFAULT_OUT)
  cache = os.path.join(os.environ.get(
      'ADAPTER_BERT_CACHE', os.path.expanduser('~/.cache/adapter_bert')),
                       'tokens')
  results = token_accounting.run(
      _ACCOUNTING_TASKS.value, _BACKBONE.value, _BATCH_SIZE.value,
      _SEQ_LEN.value, _ACCOUNTING_GROUPS.value, cache_dir=cache)
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
    settings = Settings.smoke_settings(methods=tuple(_METHODS.value),
                                       dtype=_DTYPE.value, m=m,
                                       inference=_INFERENCE.value,
                                       overrides=_SET.value)
  else:
    if _STEPS.value < MIN_STEPS:
      raise app.UsageError(f'--steps must be at least {MIN_STEPS} for a '
                           'median worth reporting; --smoke checks quickly.')
    settings = Settings(
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
