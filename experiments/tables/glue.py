"""GLUE in the paper's Table 1 layout: ours, the paper's rows, AdapterHub's."""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from experiments import paper_results
from experiments import selection
from experiments.tables import common

Result = selection.Result


def table(results: Sequence[Result], num_tasks: int = 0) -> common.Table:
  """Paper Table 1 layout: a row per method (best over its grid) and per size,
  then the paper's rows and the AdapterHub reference, tasks as columns."""
  results = [r for r in results if r['task'] in common.GLUE_TASKS]
  tasks = common.task_order({r['task'] for r in results})
  n = num_tasks or len(tasks)
  metrics = {t: sorted({k for r in results if r['task'] == t
                        for k in common.dev_metrics(r)}, key=common.metric_key)
             for t in tasks}
  header = (['Row', 'Source', f'Params for {n} tasks', 'Trained / task']
            + [f'{common.task_label(t)} '
               f'({" / ".join(map(common.metric_label, metrics[t]))})'
               for t in tasks]
            + ['Mean', 'Train s (sum)'])
  rows = (_our_rows(results, tasks, metrics, n) + _paper_rows(tasks)
          + _adapterhub_rows(tasks, metrics, n))
  return header, rows


def _our_rows(results: Sequence[Result], tasks: Sequence[str],
              metrics: dict[str, list[str]], n: int) -> list[list[str]]:
  """A row per method (its best run per task), then one per size if several."""

  def row(label: str, method: str, best: dict[str, Result]) -> list[str]:
    shares = [common.trainable_share(best[t]) for t in tasks if t in best]
    share = statistics.mean(shares) if shares else math.nan
    cells = [common.cell([common.dev_metrics(best[t]).get(k)
                          for k in metrics[t]])
             if t in best else '-' for t in tasks]
    scores = [selection.score(best[t]) for t in tasks if t in best]
    seconds = sum(float(best[t].get('train_seconds', 0)) for t in best)
    return ([label, 'ours, dev',
             f'{common.total_params_multiplier(method, share, n):.2f}x',
             f'{100 * share:.2f}%'] + cells
            + [common.pct(statistics.mean(scores)) if scores else '-',
               f'{seconds:.0f}'])

  rows = []
  per_method = selection.best_per_method(results)
  per_size = selection.best_per_size(results)
  for method in sorted({r['method'] for r in results}, key=common.method_rank):
    runs = [r for r in results if r['method'] == method]
    sizes = sorted({selection.size(r) for r in runs}, key=lambda s: s or 0)
    best = {t: per_method[(t, method)] for t in tasks
            if (t, method) in per_method}
    rows.append(row(common.size_label(method, sizes), method, best))
    if len(sizes) > 1:
      for s in sizes:
        best = {t: per_size[(t, method, s)] for t in tasks
                if (t, method, s) in per_size}
        rows.append(row(common.size_label(method, [s]), method, best))
  return rows


def _paper_rows(tasks: Sequence[str]) -> list[list[str]]:
  """The paper's Table 1 (BERT-large, GLUE test), the metric it prints."""
  rows = []
  for label, paper in paper_results.GLUE_TABLE1.items():
    cells = []
    for t in tasks:
      values = [v / 100 for column, task, _ in paper_results.GLUE_COLUMNS
                if task == t for v in [paper['scores'][column]]]
      cells.append(common.cell(values))
    rows.append([f'Paper: {label}', 'paper, BERT-large, test',
                 f'{paper["total_params"]:.1f}x',
                 f'{100 * paper["trained_share"]:.1f}%'] + cells
                + [f'GLUE {paper["total"]:.1f}', '-'])
  return rows


def _adapterhub_rows(tasks: Sequence[str], metrics: dict[str, list[str]],
                     n: int) -> list[list[str]]:
  """AdapterHub 1.3's reference runs on this machine, where measured."""
  rows = []
  for method in ('adapter', 'full'):
    ref = {t: paper_results.ADAPTERHUB_REFERENCE[t][method] for t in tasks
           if t in paper_results.ADAPTERHUB_REFERENCE}
    if not ref:
      continue
    share = paper_results.ADAPTERHUB_SHARE if method == 'adapter' else 1.0
    cells = [common.cell([ref[t]['scores'].get(k, math.nan) / 100
                          for k in metrics[t]]) if t in ref else '-'
             for t in tasks]
    means = [statistics.mean(ref[t]['scores'].values()) / 100 for t in ref]
    label = 'Adapters (64)' if method == 'adapter' else 'Full FT'
    rows.append([f'AdapterHub 1.3: {label}', 'reference, minilm-l6, dev',
                 f'{common.total_params_multiplier(method, share, n):.2f}x',
                 f'{100 * share:.1f}%'] + cells
                + [common.pct(statistics.mean(means)),
                   f'{sum(ref[t]["seconds"] for t in ref):.0f}'])
  return rows
