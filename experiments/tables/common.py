"""What every table shares: task and method labels, orders, cell formats.

GLUE's task names and spellings come from the library's task registry.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Sequence

from adapter_bert.data import glue
from experiments import selection

Result = selection.Result
Table = tuple[list[str], list[list[str]]]
# GLUE's tasks with training data (the diagnostic AX has none), in its order.
GLUE_TASKS = tuple(name for name, task in glue.TASKS.items()
                   if 'train' in task.files)
METHOD_ORDER = ('full', 'top_k', 'adapter', 'layernorm', 'head')
METHOD_NAMES = {'full': 'Full FT', 'top_k': 'Variable FT',
                'adapter': 'Adapters', 'layernorm': 'LayerNorm only',
                'head': 'Head only'}
METRIC_ORDER = ('matthews_corrcoef', 'f1', 'accuracy', 'pearson', 'spearman')
METRIC_NAMES = {'matthews_corrcoef': 'MCC', 'f1': 'F1', 'accuracy': 'acc',
                'pearson': 'Pearson', 'spearman': 'Spearman'}


def metric_key(name: str) -> tuple[int, str]:
  for i, base in enumerate(METRIC_ORDER):
    if name == base or name.startswith(base):
      return i, name
  return len(METRIC_ORDER), name


def metric_label(name: str) -> str:
  for base, label in METRIC_NAMES.items():
    if name.startswith(base):
      return label + name[len(base):]
  return name


def dev_metrics(result: Result) -> dict[str, float]:
  """Dev metrics of the final step (the run's score), in display order."""
  dev = result.get('dev') or {}
  return {k: float(dev[k]) for k in sorted(dev, key=metric_key)}


def pct(value: float | None) -> str:
  if value is None or not math.isfinite(value):
    return '-'
  return f'{100 * value:.1f}'


def cell(values: Sequence[float | None]) -> str:
  return ' / '.join(pct(v) for v in values) if values else '-'


def trainable_share(result: Result) -> float:
  if result.get('trainable_share') is not None:
    return float(result['trainable_share'])
  return float(result['trainable_params']) / float(result['total_params'])


def total_params_multiplier(method: str, share: float, num_tasks: int) -> float:
  """Parameters stored for N tasks, in units of one model (paper Tables 1-2).

  Full fine-tuning keeps a whole model per task: N. Every other method shares
  the frozen network and adds its trained parameters per task: 1 + N * share
  (the paper's 1.3x for 3.6% and 1.2x for 2.1% over GLUE's 9 tasks).
  """
  if method == 'full':
    return float(num_tasks)
  return 1.0 + num_tasks * share


def task_order(tasks: Sequence[str]) -> list[str]:
  known = [t for t in GLUE_TASKS if t in tasks]
  return known + sorted(t for t in tasks if t not in GLUE_TASKS)


def task_label(task: str) -> str:
  """GLUE's spelling ('SST-2'); another task's registry name."""
  if task in glue.TASKS:
    return glue.TASKS[task].display_name
  return task.split(':', 1)[-1]


def method_rank(method: str) -> tuple[int, str]:
  order = METHOD_ORDER.index(method) if method in METHOD_ORDER else 99
  return order, method


def method_label(method: str) -> str:
  return METHOD_NAMES.get(method, method)


def size_label(method: str, sizes: Sequence[int | None]) -> str:
  """'Adapters (8-256)', 'Adapters (64)', 'Variable FT (top 3)'."""
  name = method_label(method)
  sizes = sorted(s for s in sizes if s is not None)
  if not sizes:
    return name
  span = str(sizes[0]) if sizes[0] == sizes[-1] else f'{sizes[0]}-{sizes[-1]}'
  return f'{name} ({"top " if method == "top_k" else ""}{span})'


def to_markdown(table: Table) -> str:
  header, rows = table
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def to_csv(table: Table) -> str:
  header, rows = table
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(rows)
  return buffer.getvalue()
