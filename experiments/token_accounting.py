r"""Real tokens / computed tokens of training batches: padded, grouped, packed.

  python -m experiments.benchmark --token_accounting \
      [--accounting_tasks=rte,mrpc,stsb,cola,sst2] [--backbone=minilm-l6] \
      [--batch_size=32] [--seq_len=128] [--accounting_groups=1] \
      [--json_out=experiments/results/packing/token_accounting.json]

Tokenization only, no model: for each task's train split, one epoch of the
very batches `data.train_batches` yields (seed 0) in three layouts:

  unpacked         one row per example, padded to the length bucket of the
                   batch's longest row (today's default)
  group_by_length  the same, with length-grouped batches (HF's option)
  packed           the same examples as unpacked, packed into rows of
                   max_length (data/packing.py, --config.packing=True)

and reports real_token_share = real tokens / computed tokens (rows x row
length, what the dense layers pay for), the share of attention scores that
are real (sum of squared example lengths / rows x row length^2), and how many
distinct batch shapes jit would compile.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from adapter_bert import backbones
from adapter_bert import data
from adapter_bert import tasks as tasks_lib

DEFAULT_OUT = 'experiments/results/packing/token_accounting.json'

LAYOUTS = {'unpacked': {}, 'group_by_length': {'group_by_length': True},
           'packed': {'packing': True}}
TASKS = ('rte', 'mrpc', 'stsb', 'cola', 'sst2')


def account(arrays, labels, batch_size: int, seed: int = 0,
            num_groups: int = 1) -> dict[str, dict[str, Any]]:
  """Token counts of one epoch of training batches in each layout."""
  steps = data.steps_per_epoch(len(arrays['lengths']), batch_size)
  out = {}
  for name, options in LAYOUTS.items():
    batches = data.train_batches(arrays, labels, batch_size, seed,
                                 num_groups=num_groups, **options)
    real = computed = real_scores = scores = 0
    shapes = set()
    for _ in range(steps):
      batch = next(batches)
      rows, width = batch['input_ids'].shape
      real += int(batch['attention_mask'].sum())
      computed += rows * width
      scores += rows * width * width
      if 'segment_ids' in batch:
        segments = batch['segment_ids']
        sizes = [np.bincount(r[r > 0]) for r in segments]
        real_scores += int(sum((s.astype(np.int64) ** 2).sum() for s in sizes))
      else:
        real_scores += int((batch['attention_mask'].sum(1).astype(np.int64)
                            ** 2).sum())
      shapes.add((rows, width))
    out[name] = dict(real_tokens=real, computed_tokens=computed,
                     real_token_share=real / computed,
                     real_attention_share=real_scores / scores,
                     compiled_shapes=len(shapes), steps=steps)
  return out


def run(task_names: Sequence[str], backbone: str = 'minilm-l6',
        batch_size: int = 32, max_length: int = 128, num_groups: int = 1,
        cache_dir: str | None = None) -> dict[str, Any]:
  """{'tasks': {task: {layout: counts}}, 'settings'} of the train splits."""
  tokenizer = backbones.load_tokenizer(backbones.resolve(backbone))
  results = {}
  for name in task_names:
    features = tasks_lib.get_task(name).load_features(
        'train', tokenizer, max_length=max_length, cache_dir=cache_dir)
    results[name] = dict(
        examples=len(features),
        mean_length=float(np.mean(features.arrays['lengths'])),
        **account(features.arrays, features.labels, batch_size,
                  num_groups=num_groups))
  return dict(tasks=results, settings=dict(
      backbone=backbone, batch_size=batch_size, max_length=max_length,
      num_groups=num_groups, seed=0, epochs=1, split='train',
      buckets=list(data.DEFAULT_BUCKETS)))


def format_table(results) -> str:
  lines = ['task     examples  mean len  real token share '
           '(unpacked / grouped / packed)  packed vs unpacked computed']
  for name, r in results['tasks'].items():
    shares = ' / '.join(f"{r[k]['real_token_share']:.3f}" for k in LAYOUTS)
    ratio = (r['unpacked']['computed_tokens']
             / r['packed']['computed_tokens'])
    lines.append(f"{name:8s} {r['examples']:8d}  {r['mean_length']:8.1f}  "
                 f'{shares:44s}  {ratio:.2f}x fewer')
  return '\n'.join(lines)
