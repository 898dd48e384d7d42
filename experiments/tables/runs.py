"""Tables of runs rather than of methods: wall time per grid, every run."""

from __future__ import annotations

from typing import Sequence

from experiments import paper_results
from experiments import selection
from experiments.tables import common

Result = selection.Result


def wall_time(results: Sequence[Result]) -> common.Table:
  """Per task and method: the best run's training time and the whole grid's."""
  header = ['Task', 'Method', 'Runs', 'Best run', 'Best run train s',
            'Steps', 'Grid train s (sum)', 'AdapterHub train s']
  rows = []
  per_method = selection.best_per_method(results)
  order = {t: i for i, t in
           enumerate(common.task_order({t for t, _ in per_method}))}
  for (task, method), best in sorted(
      per_method.items(),
      key=lambda kv: (order[kv[0][0]], common.method_rank(kv[0][1]))):
    runs = [r for r in results if r['task'] == task and r['method'] == method]
    ref = paper_results.ADAPTERHUB_REFERENCE.get(task, {}).get(method)
    rows.append([common.task_label(task), common.method_label(method),
                 str(len(runs)), best['run'],
                 f'{float(best.get("train_seconds", 0)):.0f}',
                 str(best.get('steps', '-')),
                 f'{sum(float(r.get("train_seconds", 0)) for r in runs):.0f}',
                 f'{ref["seconds"]}' if ref else '-'])
  return header, rows


def every_run(results: Sequence[Result]) -> common.Table:
  """A row per run: its configuration, score, dev metrics, size and time."""
  metric_names = sorted({k for r in results for k in common.dev_metrics(r)},
                        key=common.metric_key)
  header = (['run', 'task', 'method', 'size', 'lr', 'epochs', 'seed', 'score']
            + [f'dev_{k}' for k in metric_names]
            + ['best_step', 'steps', 'trainable_params', 'total_params',
               'trainable_share', 'train_seconds'])
  rows = []
  for r in sorted(results, key=lambda r: (r['task'], r['run'])):
    dev = common.dev_metrics(r)
    size = selection.size(r)
    rows.append([r['run'], r['task'], r['method'],
                 '' if size is None else str(size), f'{r.get("lr", "")}',
                 f'{r.get("epochs", "")}', f'{r.get("seed", "")}',
                 f'{selection.score(r):.4f}']
                + [f'{dev[k]:.4f}' if k in dev else '' for k in metric_names]
                + [str(r.get(k, '')) for k in ('best_step', 'steps',
                                               'trainable_params',
                                               'total_params')]
                + [f'{common.trainable_share(r):.5f}',
                   f'{float(r.get("train_seconds", 0)):.1f}'])
  return header, rows
