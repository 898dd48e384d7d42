"""Best dev score against trained parameters (paper Figs. 3-4), per task."""

from __future__ import annotations

import math
from typing import Sequence

from experiments import plots
from experiments import selection
from experiments.tables import common

Result = selection.Result


def plot(results: Sequence[Result], path: str) -> None:
  """Best dev score against trained parameters (log x), a curve per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  tasks = common.task_order({r['task'] for r in results})
  per_size = selection.best_per_size(results)
  cols = min(3, len(tasks))
  rows = math.ceil(len(tasks) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows),
                           squeeze=False)
  for ax, task in zip(axes.flat, tasks):
    methods = sorted({m for (t, m, _) in per_size if t == task},
                     key=common.method_rank)
    for method in methods:
      points = sorted((float(r['trainable_params']), 100 * selection.score(r))
                      for (t, m, _), r in per_size.items()
                      if t == task and m == method)
      xs, ys = zip(*points)
      ax.plot(xs, ys, marker='o', label=common.method_label(method))
    plots.log_x_panel(ax, 'Trained parameters per task', 'Dev score (x100)',
                      common.task_label(task))
  for ax in list(axes.flat)[len(tasks):]:
    ax.axis('off')
  plots.save_figure(fig, path)
