"""Checks of the Table 1 selection: lrs past the grid's edge, the head.

Both read seed-0 runs made beside the grid (configs/glue.py
sweep=study_checks) that never enter the selection: they say whether a row
chosen at the edge of its learning rates would have gone on improving, and
whether the checkpoint's untrained pooler is why some runs learned nothing.
"""

from __future__ import annotations

import collections
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


def _seed(result: Result) -> int:
  return int(result.get('seed', _config(result).get('seed', 0)))


def _pooling(result: Result) -> str:
  return _config(result).get('pooling', 'pooler')


def _plain(result: Result) -> bool:
  """Seed 0, the pooler head and the default init: the grid's own model."""
  return (_seed(result) == 0 and _pooling(result) == 'pooler'
          and float(_config(result).get('init_scale', 1e-3)) == 1e-3)


def edge_table(results: Sequence[Result], chosen: Mapping[str, Mapping],
               tasks: Sequence[str], score: Score) -> common.Table | None:
  """A row per selected point on its grid's lr edge, with the lr past it.

  `past the edge` is the seed-0 score one lr beyond (CHECK_LRS); `better`
  says whether selection (the mean of the task's metrics) ranks it above the
  selected point. None when no row was selected at an edge.
  """
  header = ['Task', 'Row', 'Size', 'grid (lr: score)', 'past the edge',
            'better than selected']
  rows, seen = [], set()
  for task in tasks:
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
      grid = ', '.join(f'{x:g}: {score(by_lr[x]):.1f}'
                       for x in glue_config.grid_lrs(method, size)
                       if x in by_lr)
      past = by_lr.get(check_lr)
      rows.append([
          common.task_label(task), label,
          '' if size is None else f'{"m" if method == "adapter" else "k"}='
          f'{size}', grid,
          f'{check_lr:g}: not run yet' if past is None
          else f'{check_lr:g}: {score(past):.1f}',
          '-' if past is None or float(lr) not in by_lr else
          ('yes' if selection.score(past) > selection.score(by_lr[float(lr)])
           else 'no')])
  return (header, rows) if rows else None


def head_table(results: Sequence[Result], score: Score
               ) -> common.Table | None:
  """Mean-pooling runs beside the same configuration and seeds with the pooler.

  Only seeds run with both heads are compared; the cell is the mean over
  them. None when no mean-pooling run exists.
  """
  pairs = collections.defaultdict(dict)
  for r in results:
    if float(_config(r).get('init_scale', 1e-3)) != 1e-3:
      continue
    pairs[(study.config_key(r), _seed(r))][_pooling(r)] = r
  by_config = collections.defaultdict(list)
  for (key, _), heads in sorted(pairs.items(), key=lambda kv: str(kv[0])):
    if {'pooler', 'mean'} <= set(heads):
      by_config[key].append((score(heads['pooler']), score(heads['mean'])))
  if not by_config:
    return None
  header = ['Task', 'Method', 'Configuration', 'Seeds', 'pooler head',
            'mean pooling']
  rows = []
  order = common.task_order({key[0] for key in by_config})
  for key in sorted(by_config, key=lambda k: (order.index(k[0]), k[1],
                                              k[2] or 0, k[3])):
    task, method, size, lr, epochs = key
    pooler, mean = zip(*by_config[key])
    size_text = '' if size is None else (
        f'{"m" if method == "adapter" else "k"}={size}, ')
    rows.append([common.task_label(task),
                 common.METHOD_NAMES.get(method, method),
                 f'{size_text}lr {lr:g}, {epochs:g} epochs', str(len(pooler)),
                 f'{statistics.fmean(pooler):.1f}',
                 f'{statistics.fmean(mean):.1f}'])
  return header, rows
