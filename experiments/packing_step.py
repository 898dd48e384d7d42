r"""The train step on real batches: unpacked, packed in full rows, narrow rows.

  nice -n 10 python -m experiments.packing_step [--tasks=cola,mrpc] \
      [--steps=24] [--rounds=3] \
      [--json_out=experiments/results/packing/step_layouts.json]

For each task, the first --steps training batches (seed 0, batch 32, the
default adapter recipe) are laid out three ways: unpacked (length buckets),
packed into rows of max_length (128), and packed into the narrowest row
width that holds the batch's longest example (packing.ROW_WIDTHS, the
default). The same train step (train.setup) runs over each layout in turn,
round after round, so the layouts share the machine's load; each layout is
compiled for all its shapes before timing. Reports the median seconds per
step over rounds, the ratios, and the real-token share of each layout.
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from typing import Any, Sequence

from absl import app
from absl import flags
import jax
import numpy as np

from adapter_bert import backbones
from adapter_bert import train
from adapter_bert.data import batching
from adapter_bert.data import packing
from configs import glue
from experiments import fileio

LAYOUTS = ('unpacked', 'packed_full_rows', 'packed_narrow_rows')


def define_flags() -> None:
  flags.DEFINE_list('tasks', ['cola', 'mrpc'], 'GLUE tasks.')
  flags.DEFINE_string('backbone', 'minilm-l6', 'Backbone (tiny: a smoke run).')
  flags.DEFINE_integer('steps', 24, 'Training batches per layout and round.')
  flags.DEFINE_integer('rounds', 3, 'Interleaved rounds.')
  flags.DEFINE_string('json_out',
                      'experiments/results/packing/step_layouts.json',
                      'Where the figures go.')


def layout_batches(arrays, labels, steps: int, layout: str) -> list[dict]:
  """The first `steps` training batches (seed 0) in one layout."""
  if layout != 'packed_full_rows':  # Training's own batches.
    source = batching.train_batches(arrays, labels, 32, seed=0,
                                    packing=layout == 'packed_narrow_rows')
    return [next(source) for _ in range(steps)]
  order = batching.epoch_order(arrays['lengths'], 32, 0, 0, False)
  return [packing.pack_batch(arrays, labels, order[i * 32:(i + 1) * 32],
                             np.ones((32,), bool), 1,
                             width=arrays['input_ids'].shape[1])
          for i in range(steps)]


def real_token_share(batches: Sequence[dict]) -> float:
  real = sum(int(b['attention_mask'].sum()) for b in batches)
  return real / sum(b['input_ids'].size for b in batches)


def time_layout(run: train.Run, batches: Sequence[dict]) -> float:
  """Seconds per step over `batches` (shapes compiled beforehand)."""
  trainable, opt_state = run.trainable, run.opt_state
  rng = jax.random.key(0)
  start = time.perf_counter()
  for batch in batches:
    trainable, opt_state, metrics = run.train_step(
        trainable, opt_state, run.frozen, run.to_device(batch), rng)
  jax.block_until_ready(metrics['loss'])
  run.trainable, run.opt_state = trainable, opt_state
  return (time.perf_counter() - start) / len(batches)


def measure_task(task_name: str, steps: int, rounds: int,
                 backbone: str = 'minilm-l6') -> dict[str, Any]:
  config = glue.get_config(f'task={task_name},backbone={backbone}')
  run = train.setup(config, total_steps=1000)
  tokenizer = backbones.load_tokenizer(run.backbone)
  features = run.task.load_features('train', tokenizer,
                                    max_length=config.max_length)
  batches = {layout: layout_batches(features.arrays, features.labels, steps,
                                    layout) for layout in LAYOUTS}
  shapes = {layout: sorted({b['input_ids'].shape for b in bs})
            for layout, bs in batches.items()}
  for layout, bs in batches.items():  # Compile every shape once.
    seen = {}
    for b in bs:
      seen.setdefault(b['input_ids'].shape, b)
    time_layout(run, list(seen.values()))
  per_round = []
  for r in range(rounds):
    per_round.append({layout: time_layout(run, batches[layout])
                      for layout in LAYOUTS})
    print(f'{task_name} round {r}: ' + ', '.join(
        f'{k} {v:.3f} s/step' for k, v in per_round[-1].items()), flush=True)
  median = {layout: statistics.median(p[layout] for p in per_round)
            for layout in LAYOUTS}
  ratio = lambda a, b: statistics.median(p[a] / p[b] for p in per_round)
  return dict(
      seconds_per_step=median,
      seconds_per_step_by_round=per_round,
      real_token_share={k: real_token_share(v) for k, v in batches.items()},
      shapes={k: [list(s) for s in v] for k, v in shapes.items()},
      narrow_over_full_speedup=ratio('packed_full_rows', 'packed_narrow_rows'),
      narrow_over_unpacked_speedup=ratio('unpacked', 'packed_narrow_rows'),
      full_over_unpacked_speedup=ratio('unpacked', 'packed_full_rows'))


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  f = flags.FLAGS
  load_before = os.getloadavg()
  out = dict(
      command='python -m experiments.packing_step --tasks='
      + ','.join(f.tasks) + f' --steps={f.steps} --rounds={f.rounds}'
      + f' --backbone={f.backbone}',
      created=datetime.datetime.now(datetime.timezone.utc).isoformat(),
      device=jax.devices()[0].device_kind, cpus=os.cpu_count(),
      backbone=f.backbone,
      tasks={t: measure_task(t, f.steps, f.rounds, f.backbone)
             for t in f.tasks},
      load_before=load_before, load_after=os.getloadavg())
  fileio.write_json(f.json_out, out)
  for task, r in out['tasks'].items():
    print(f"{task}: narrow rows {r['narrow_over_full_speedup']:.2f}x faster "
          f"than full rows, {r['narrow_over_unpacked_speedup']:.2f}x than "
          f"unpacked (real tokens {r['real_token_share']})")


if __name__ == '__main__':
  define_flags()
  app.run(main)
