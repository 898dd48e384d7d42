"""Robustness to the adapters' init stddev σ (paper Fig. 6, right)."""

from __future__ import annotations

import collections
import statistics
from typing import Sequence

from experiments import plots
from experiments import selection
from experiments import study as study_stats
from experiments.tables import common

Result = selection.Result


def study_runs(results: Sequence[Result]) -> dict[str, list[Result]]:
  """Per task, the adapter runs of the one configuration swept over init σ.

  A configuration is everything but σ and the seed (m, lr, epochs, pooling):
  the other adapter runs of a task, at the default σ but another m or lr,
  must not pass for that configuration's σ = 1e-3 point. Where several
  configurations span more than one σ, the one with the most runs is kept.
  """
  groups = collections.defaultdict(list)
  for r in results:
    config = r.get('config') or {}
    if r['method'] == 'adapter' and 'init_scale' in config:
      key = (r['task'], selection.size(r), float(r['lr']),
             float(r.get('epochs', config.get('epochs', 0))),
             config.get('pooling', 'pooler'))
      groups[key].append(r)
  by_task = {}
  for (task, *_), runs in groups.items():
    if len({float(r['config']['init_scale']) for r in runs}) > 1 and len(
        runs) > len(by_task.get(task, ())):
      by_task[task] = runs
  return by_task


def _by_sigma(runs: Sequence[Result]) -> dict[float, list[float]]:
  scores = collections.defaultdict(list)
  for r in runs:
    scores[float(r['config']['init_scale'])].append(selection.score(r))
  return dict(sorted(scores.items()))


def summary(study: dict[str, list[Result]]
            ) -> dict[str, dict[float, tuple[float, float, int]]]:
  """task -> σ -> (mean, sample std, seeds) of the dev score, x100."""
  out = {}
  for task in common.task_order(study):
    out[task] = {}
    for sigma, scores in _by_sigma(study[task]).items():
      mean, std, _ = study_stats.mean_std_sem(scores)
      out[task][sigma] = (100 * mean, 100 * std, len(scores))
  return out


def table(study: dict[str, list[Result]]) -> common.Table:
  """Dev score (mean, min, max over seeds) per task and init σ."""
  header = ['task', 'init σ', 'runs', 'dev score', 'min', 'max']
  rows = []
  for task in common.task_order(study):
    for sigma, scores in _by_sigma(study[task]).items():
      rows.append([common.task_label(task), f'{sigma:g}', str(len(scores)),
                   common.pct(statistics.mean(scores)),
                   common.pct(min(scores)), common.pct(max(scores))])
  return header, rows


def plot(study: dict[str, list[Result]], path: str) -> None:
  """Dev score against the adapters' init stddev (log x), a line per task."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for task in common.task_order(study):
    by_sigma = _by_sigma(study[task])
    sigmas = list(by_sigma)
    means = [100 * statistics.mean(v) for v in by_sigma.values()]
    low = [m - 100 * min(v) for m, v in zip(means, by_sigma.values())]
    high = [100 * max(v) - m for m, v in zip(means, by_sigma.values())]
    ax.errorbar(sigmas, means, yerr=[low, high], marker='o', capsize=3,
                label=common.task_label(task))
  plots.log_x_panel(ax, 'Adapter init stddev σ', 'Dev score (x100)',
                    'Initialisation scale (paper Fig. 6, right)')
  plots.save_figure(fig, path)
