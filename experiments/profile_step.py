r"""Where one train step's time goes: a jax.profiler trace grouped by model part.

  python -m experiments.profile_step [--method=adapter] [--backbone=minilm-l6] \
      [--batch_size=32] [--seq_len=128] [--traced_steps=3] \
      [--trace_dir=/tmp/trace] [--json_out=profile.json]

Builds the step exactly as experiments/benchmark.py times it (both through
experiments/method_step.py), traces --traced_steps calls, and sums the
duration of every XLA op by the part of the model its HLO `op_name` names (dropout, q/k/v dense, attention core, FFN dense, LayerNorm,
adapters, optimizer) and by direction (forward, or the backward pass that
`transpose(jvp(...))` marks). XLA:CPU runs independent ops concurrently, so
the parts can sum to more than the step's wall time: compare parts between
two versions of the code rather than against the wall clock.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from typing import Any, Mapping

from absl import app
from absl import flags
import jax

from experiments import fileio
from experiments import method_step

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined by the entry point only: importing claims no flag names."""
  flags.DEFINE_string('method', 'adapter', 'Method to profile.')
  flags.DEFINE_string(
      'backbone', 'minilm-l6',
      'A backbone name or directory (adapter_bert.backbones), or '
      f'{method_step.BERT_BASE_RANDOM} (BERT-base shapes, random weights).')
  flags.DEFINE_integer('batch_size', 32, 'Global batch size.')
  flags.DEFINE_integer('seq_len', 128, 'Tokens per example.')
  flags.DEFINE_integer('traced_steps', 3, 'Traced steps.')
  flags.DEFINE_string('trace_dir', None,
                      'Keep the trace here (TensorBoard/Perfetto).')
  flags.DEFINE_string('json_out', None, 'Also write the result here (JSON).')

# (part, pattern over the HLO op_name), first match wins.
PARTS = (
    ('dropout', r'Dropout|dropout|bernoulli|threefry'),
    ('adapter', r'adapter'),
    ('q/k/v dense', r'attention/(query|key|value)/'),
    ('attention core', r'attention/'),
    ('attention output dense', r'attention_output/'),
    ('FFN in dense + GELU', r'intermediate|gelu|erf'),
    ('FFN out dense', r'/output/'),
    ('LayerNorm', r'layer_norm'),
    ('optimizer', r'adam|optax|clip|global_norm|apply_updates'),
)
_SKIP = ('ThunkExecutor', '$', 'SlinkyThreadPool', 'end:', 'PjitFunction',
         'Common', 'Parse', 'DevicePut')


def op_names(hlo_text: str) -> dict[str, str]:
  """HLO instruction name -> its op_name metadata."""
  names = {}
  for line in hlo_text.splitlines():
    match = re.match(r'\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]*)"', line)
    if match:
      names[match.group(1)] = match.group(2)
  return names


def part_of(op_name: str) -> str:
  direction = 'backward' if 'transpose(' in op_name else 'forward'
  for part, pattern in PARTS:
    if re.search(pattern, op_name):
      return f'{part} / {direction}'
  return f'other / {direction}'


def group_trace(events, names: Mapping[str, str], steps: int
                ) -> dict[str, float]:
  """Milliseconds per step by part, from Chrome-trace 'X' events."""
  totals = collections.Counter()
  for event in events:
    if event.get('ph') != 'X' or event['name'].startswith(_SKIP):
      continue
    totals[part_of(names.get(event['name'], ''))] += event.get('dur', 0)
  return {k: v / 1000 / steps for k, v in totals.most_common()}


def _read_trace(trace_dir: str):
  paths = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'),
                    recursive=True)
  if not paths:
    raise FileNotFoundError(f'No *.trace.json.gz under {trace_dir}.')
  with gzip.open(max(paths, key=os.path.getmtime)) as f:
    trace = json.load(f)
  return trace['traceEvents'] if isinstance(trace, dict) else trace


def profile(settings: method_step.Settings, method: str, steps: int,
            trace_dir: str) -> dict[str, Any]:
  run, batch = method_step.build_method(
      method, settings, method_step.resolve_backbone(settings.backbone))
  trainable, opt_state, frozen = run.trainable, run.opt_state, run.frozen
  key = jax.random.key(0)
  compiled = run.train_step.lower(trainable, opt_state, frozen, batch,
                                  key).compile()

  def run(count, offset):
    nonlocal trainable, opt_state
    times = []
    for i in range(count):
      start = time.perf_counter()
      trainable, opt_state, metrics = compiled(
          trainable, opt_state, frozen, batch, jax.random.fold_in(key, offset + i))
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - start)
    return times

  run(2, 0)  # Warm up.
  with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
    times = run(steps, 2)
  parts = group_trace(_read_trace(trace_dir), op_names(compiled.as_text()),
                      steps)
  return dict(method=method, settings=dict(
      backbone=settings.backbone, batch_size=settings.batch_size,
      seq_len=settings.seq_len), traced_steps=steps,
              step_s_median=statistics.median(times), ms_per_step=parts,
              load=list(os.getloadavg()))


def main(argv):
  del argv
  settings = method_step.Settings(backbone=FLAGS.backbone,
                                  batch_size=FLAGS.batch_size,
                                  seq_len=FLAGS.seq_len)
  with tempfile.TemporaryDirectory() as tmp:
    result = profile(settings, FLAGS.method, FLAGS.traced_steps,
                     FLAGS.trace_dir or tmp)
  print(f"{result['method']}: median traced step "
        f"{result['step_s_median']:.3f} s; XLA op time by part (ms/step):")
  for part, ms in result['ms_per_step'].items():
    print(f'{ms:9.1f}  {part}')
  if FLAGS.json_out:
    fileio.write_json(FLAGS.json_out, result)


if __name__ == '__main__':
  define_flags()
  app.run(main)
