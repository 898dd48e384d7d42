"""Dev score against learning rate (the robustness half of paper Fig. 6).

Each method's grid point is a (method, size) line and its learning rates are
the points on it; the caller passes the seed-0 grid runs and how to score
them (the paper's metric per task, x100).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Mapping, Sequence

from experiments import plots
from experiments import selection
from experiments.tables import common

Result = Mapping[str, Any]
Score = Callable[[Result], float]
# (method, size): size is m for adapters, k for top_k, None otherwise.
Line = tuple[str, int | None]
METHOD_NAMES = {'adapter': 'Adapters', 'full': 'Full FT',
                'layernorm': 'LayerNorm', 'top_k': 'Top-k FT'}


def lines(runs: Sequence[Result], score: Score
          ) -> dict[str, dict[Line, list[tuple[float, float]]]]:
  """task -> (method, size) -> [(lr, score)] sorted by lr."""
  out = collections.defaultdict(lambda: collections.defaultdict(list))
  for r in runs:
    out[r['task']][(r['method'], selection.size(r))].append(
        (float(r['lr']), score(r)))
  return {task: {line: sorted(points) for line, points in sorted(
      by_line.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))}
          for task, by_line in out.items()}


def line_label(line: Line) -> str:
  method, size = line
  name = METHOD_NAMES.get(method, method)
  if size is None:
    return name
  return f'{name} {"m" if method == "adapter" else "k"}={size}'


def table(runs: Sequence[Result], score: Score, tasks: Sequence[str], *,
          mark: str = '', marked: Callable[[Result], Any] = lambda r: False
          ) -> common.Table:
  """A row per task and (method, size); the cell lists lr: score.

  A score whose run `marked` says is special (say, one that predicts a
  constant) is followed by `mark`.
  """
  by_task = lines(runs, score)
  marks = {(r['task'], (r['method'], selection.size(r)), float(r['lr']))
           for r in runs if marked(r)}
  header = ['Task', 'Method', 'dev score at each lr (seed 0)',
            'spread (max - min)']
  rows = []
  for task in tasks:
    for line, points in by_task.get(task, {}).items():
      scores = [s for _, s in points]
      rows.append([common.task_label(task), line_label(line),
                   ', '.join(f'{lr:g}: {s:.1f}'
                             + (mark if (task, line, lr) in marks else '')
                             for lr, s in points),
                   f'{max(scores) - min(scores):.1f}' if len(scores) > 1
                   else '-'])
  return header, rows


def plot(runs: Sequence[Result], score: Score, tasks: Sequence[str],
         ylabel: Callable[[str], str], path: str, *,
         marked: Callable[[Result], Any] = lambda r: False,
         marked_label: str = '') -> str:
  """One panel per task: a line per (method, size) with 2+ lrs.

  Points of runs that `marked` picks (say, constant predictions) get a black
  cross over their marker, labelled `marked_label` in each panel's legend.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  # A line needs two learning rates to say anything about robustness.
  by_task = {t: {l: p for l, p in by_line.items() if len(p) > 1}
             for t, by_line in lines(runs, score).items()}
  crosses = collections.defaultdict(list)
  for r in runs:
    line = (r['method'], selection.size(r))
    if marked(r) and line in by_task.get(r['task'], {}):
      crosses[r['task']].append((float(r['lr']), score(r)))
  shown = [t for t in tasks if by_task.get(t)]
  # One colour per (method, size) in every panel.
  every_line = sorted({l for t in shown for l in by_task[t]},
                      key=lambda l: (l[0], l[1] or 0))
  colour = {l: f'C{i % 10}' for i, l in enumerate(every_line)}
  fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6),
                           squeeze=False)
  for ax, task in zip(axes[0], shown):
    for line, points in by_task[task].items():
      lrs, scores = zip(*points)
      ax.plot(lrs, scores, marker='o', color=colour[line],
              label=line_label(line))
    if crosses[task]:
      lrs, scores = zip(*crosses[task])
      ax.scatter(lrs, scores, marker='x', s=60, color='black', zorder=3,
                 label=marked_label or None)
    plots.log_x_panel(ax, 'Learning rate', ylabel(task),
                      f'{common.task_label(task)}: dev score against lr',
                      legend='x-small')
  return plots.save_figure(fig, path)
