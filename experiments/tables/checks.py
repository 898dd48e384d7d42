"""Checks of the Table 1 selection: lrs past the grid's edge, the head.

Both read seed-0 runs made beside the grid (configs/glue.py
sweep=study_checks) that never enter the selection: they say whether a row
chosen at the edge of its learning rates would have gone on improving, and
whether the checkpoint's untrained pooler is why some runs learned nothing.
"""

from __future__ import annotations

import collections
import dataclasses
import statistics
from typing import Any, Callable, Mapping, Sequence

from configs import glue as glue_config
from experiments import selection
from experiments import study
from experiments.tables import common

Result = Mapping[str, Any]
Score = Callable[[Result], float]


def _config(result: Result) -> Mapping[str, Any]:
  return result.get('config') or {}


def _pooling(result: Result) -> str:
  return _config(result).get('pooling', 'pooler')


def _default_init(result: Result) -> bool:
  return float(_config(result).get('init_scale', 1e-3)) == 1e-3


def _plain(result: Result) -> bool:
  """Seed 0, the pooler head and the default init: the grid's own model."""
  return (study.seed_of(result) == 0 and _pooling(result) == 'pooler'
          and _default_init(result))


@dataclasses.dataclass(frozen=True)
class EdgeCheck:
  """A row's selected point on its grid's lr edge, and the lr past it."""
  task: str
  label: str
  method: str
  size: int | None
  lr: float
  check_lr: float
  by_lr: Mapping[float, Result]  # Seed-0 runs of the point's (method, size).

  @property
  def selected(self) -> Result | None:
    return self.by_lr.get(self.lr)

  @property
  def past(self) -> Result | None:
    return self.by_lr.get(self.check_lr)

  @property
  def side(self) -> str:
    return 'highest' if self.check_lr > self.lr else 'lowest'

  def better(self) -> bool | None:
    """Does selection rank the run past the edge above the selected one?"""
    if self.past is None or self.selected is None:
      return None
    return selection.score(self.past) > selection.score(self.selected)


def edge_checks(results: Sequence[Result], chosen: Mapping[str, Mapping],
                tasks: Sequence[str]) -> list[EdgeCheck]:
  """Every selected point on its grid's lr edge (CHECK_ROWS), once each.

  Only the tasks with a grid: SST-2 runs one lr per method, chosen on the
  others, so it has no edge of its own (and no checks run there).
  """
  checks, seen = [], set()
  for task in (t for t in tasks if t in glue_config.STUDY_GRID_TASKS):
    for label in glue_config.CHECK_ROWS:
      point = (chosen.get(label) or {}).get(task)
      check_lr = None if point is None else glue_config.edge_check_lr(point)
      if check_lr is None or (task, *point[1:3]) in seen:
        continue
      seen.add((task, *point[1:3]))
      _, method, size, lr, epochs = point
      by_lr = {}
      for r in results:
        key = study.config_key(r)
        if (key[:3] == (task, method, size) and key[4] == float(epochs)
            and _plain(r)):
          by_lr[key[3]] = r
      checks.append(EdgeCheck(task, label, method, size, float(lr), check_lr,
                              by_lr))
  return checks


def _size_text(method: str, size: int | None) -> str:
  return '' if size is None else (
      f'{"m" if method == "adapter" else "k"}={size}')


def edge_table(checks: Sequence[EdgeCheck], score: Score
               ) -> common.Table | None:
  """A row per edge check: the grid's scores and the one past the edge.

  `better` says whether selection (the mean of the task's metrics) ranks the
  run past the edge above the selected point. None without checks.
  """
  header = ['Task', 'Row', 'Size', 'grid (lr: score)', 'past the edge',
            'better than selected']
  rows = []
  for c in checks:
    grid = ', '.join(f'{x:g}: {score(c.by_lr[x]):.1f}'
                     for x in glue_config.grid_lrs(c.method, c.size)
                     if x in c.by_lr)
    better = c.better()
    rows.append([
        common.task_label(c.task), c.label, _size_text(c.method, c.size),
        grid, f'{c.check_lr:g}: not run yet' if c.past is None
        else f'{c.check_lr:g}: {score(c.past):.1f}',
        '-' if better is None else ('yes' if better else 'no')])
  return (header, rows) if rows else None


# (task, method, size, lr, epochs) -> [(pooler run, mean-pooling run)].
HeadPairs = Mapping[tuple, Sequence[tuple[Result, Result]]]


def head_pairs(results: Sequence[Result]) -> HeadPairs:
  """Mean-pooling runs beside the same configuration and seed with the pooler.

  Only seeds run with both heads are paired; the default init only.
  """
  by_seed = collections.defaultdict(dict)
  for r in results:
    if _default_init(r):
      by_seed[(study.config_key(r), study.seed_of(r))][_pooling(r)] = r
  pairs = collections.defaultdict(list)
  for (key, _), heads in sorted(by_seed.items(), key=lambda kv: str(kv[0])):
    if {'pooler', 'mean'} <= set(heads):
      pairs[key].append((heads['pooler'], heads['mean']))
  order = common.task_order({key[0] for key in pairs})
  return {key: pairs[key] for key in sorted(pairs, key=lambda k: (
      order.index(k[0]), k[1], k[2] or 0, k[3]))}


def _head_means(runs: Sequence[tuple[Result, Result]], score: Score
                ) -> tuple[float, float]:
  """(pooler, mean pooling): the mean score over the paired seeds."""
  return (statistics.fmean(score(p) for p, _ in runs),
          statistics.fmean(score(m) for _, m in runs))


def head_table(pairs: HeadPairs, score: Score) -> common.Table | None:
  """Pooler against mean pooling: the mean over the paired seeds."""
  if not pairs:
    return None
  header = ['Task', 'Method', 'Configuration', 'Seeds', 'pooler head',
            'mean pooling']
  rows = []
  for (task, method, size, lr, epochs), runs in pairs.items():
    size_text = _size_text(method, size)
    pooler, mean = _head_means(runs, score)
    rows.append([common.task_label(task),
                 common.METHOD_NAMES.get(method, method),
                 f'{size_text + ", " if size_text else ""}lr {lr:g}, '
                 f'{epochs:g} epochs', str(len(runs)), f'{pooler:.1f}',
                 f'{mean:.1f}'])
  return header, rows


def evidence(checks: Sequence[EdgeCheck], pairs: HeadPairs, score: Score
             ) -> list[str]:
  """What the checks say so far, one bullet per kind of check."""
  lines = []
  by_row = collections.defaultdict(list)
  for c in checks:
    by_row[(c.label, c.side)].append(c)
  for (label, side), row_checks in by_row.items():
    tasks = ', '.join(common.task_label(c.task) for c in row_checks)
    past = [f'{common.task_label(c.task)} {score(c.selected):.1f} -> '
            f'{score(c.past):.1f} at {c.check_lr:g}' for c in row_checks
            if c.past is not None and c.selected is not None]
    lines.append(f'  - {label} was selected at the {side} lr of its grid on '
                 f'{tasks}' + (f'; one lr past it: {"; ".join(past)}.' if past
                               else '; the runs past that edge are not in '
                               'yet.'))
  for (task, method, size, lr, epochs), runs in pairs.items():
    pooler, mean = _head_means(runs, score)
    size_text = _size_text(method, size)
    lines.append(
        f'  - {common.task_label(task)} '
        f'{common.METHOD_NAMES.get(method, method)} '
        f'({size_text + ", " if size_text else ""}lr {lr:g}): {pooler:.1f} '
        f'with the pooler head, {mean:.1f} with mean pooling ({len(runs)} '
        f'seed{"s" if len(runs) > 1 else ""}).')
  return lines
