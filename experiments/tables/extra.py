"""Extra classification tasks in the paper's Table 2 layout, ours beside it."""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from experiments import paper_results
from experiments import selection
from experiments.tables import common

Result = selection.Result


def table(results: Sequence[Result], num_tasks: int = 0) -> common.Table:
  """Table 2 layout: a row per dataset, ours and the paper's per method."""
  results = [r for r in results if r['task'] not in common.GLUE_TASKS]
  tasks = common.task_order({r['task'] for r in results})
  n = num_tasks or len(tasks)
  methods = sorted({r['method'] for r in results}, key=common.method_rank)
  per_method = selection.best_per_method(results)
  paper_methods = [m for m in methods if m in paper_results.EXTRA_AVERAGE]
  header = (['Dataset'] + [f'{common.method_label(m)} (ours)' for m in methods]
            + [f'{common.METHOD_NAMES[m]} (paper)' for m in paper_methods])
  rows = []
  for t in tasks:
    name = t.split(':', 1)[-1]
    ours = [common.pct(selection.score(per_method[(t, m)]))
            if (t, m) in per_method else '-' for m in methods]
    paper = [f'{paper_results.EXTRA_TABLE2[name][m]:.1f}'
             if m in paper_results.EXTRA_TABLE2.get(name, {}) else '-'
             for m in paper_methods]
    rows.append([common.task_label(t)] + ours + paper)

  def over_tasks(m, fn):
    values = [fn(per_method[(t, m)]) for t in tasks if (t, m) in per_method]
    return statistics.mean(values) if values else math.nan

  shares = {m: over_tasks(m, common.trainable_share) for m in methods}
  rows.append(['Average'] + [common.pct(over_tasks(m, selection.score))
                             for m in methods]
              + [f'{paper_results.EXTRA_AVERAGE[m]:.1f}'
                 for m in paper_methods])
  rows.append([f'Params for {n} tasks (paper: {paper_results.EXTRA_NUM_TASKS})']
              + [f'{common.total_params_multiplier(m, shares[m], n):.2f}x'
                 for m in methods]
              + [f'{paper_results.EXTRA_TOTAL_PARAMS[m]:g}x'
                 for m in paper_methods])
  rows.append(['Trained / task'] + [f'{100 * shares[m]:.2f}%' for m in methods]
              + [f'{100 * paper_results.EXTRA_TRAINED_SHARE[m]:g}%'
                 for m in paper_methods])
  return header, rows
