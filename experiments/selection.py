"""Reading a sweep's results.json files and picking the best run on dev.

The paper selects, per task, the grid point (over learning rate, epochs, m and
seeds) with the best validation score. We do the same per (task, method) and
per (task, method, size), where size is m for adapters and n for top_k.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Hashable, Iterable

from adapter_bert import errors

RESULTS_FILE = 'results.json'
Result = dict[str, Any]


# What a finished run's results.json must hold for the reports to read it.
DONE_KEYS = {'task': str, 'dev': dict, 'trainable_params': int}


def load_results(sweep_dir: str) -> list[Result]:
  """Every results.json under `sweep_dir`, with `run` (its dir) and `run_dir`.

  A file that cannot be read or has the wrong shape raises UserError naming
  it: skipping it would change the selection without a word.
  """
  results = []
  for root, dirs, files in os.walk(sweep_dir):
    dirs.sort()
    if RESULTS_FILE not in files:
      continue
    path = os.path.join(root, RESULTS_FILE)
    result = _read_result(path)
    result['run'] = os.path.relpath(root, sweep_dir)
    result['run_dir'] = root
    results.append(result)
  return results


def _read_result(path: str) -> Result:
  """One results.json, checked for the keys the reports read."""
  try:
    with open(path) as f:
      result = json.load(f)
  except OSError as e:
    raise errors.UserError(f'{path}: unreadable ({_one_line(e)})') from e
  except ValueError as e:  # JSONDecodeError, UnicodeDecodeError.
    raise errors.UserError(
        f'{path}: not valid JSON ({_one_line(e)})') from e
  if not isinstance(result, dict):
    raise errors.UserError(
        f'{path}: expected a JSON object, got {type(result).__name__}')
  if 'status' not in result:
    raise errors.UserError(f'{path}: missing key "status"')
  if result['status'] == 'done':
    for key, kind in DONE_KEYS.items():
      value = result.get(key)
      # bool is an int to Python, never a parameter count.
      if not isinstance(value, kind) or isinstance(value, bool):
        got = 'missing' if key not in result else type(value).__name__
        raise errors.UserError(
            f'{path}: key "{key}" of a done run must be {kind.__name__}, '
            f'got {got}')
  return result


def _one_line(e: Exception) -> str:
  """The error's text on one line, so the report ends in one line."""
  return ' '.join(str(e).split())


# Per method, the config key that sets its trained-parameter count.
SIZE_KEYS = {'adapter': 'm', 'top_k': 'top_k', 'lora': 'lora_rank',
             'prefix': 'prefix_length'}


def size(result: Result) -> int | None:
  """What sets a method's parameter count (m, top k, LoRA rank, prefix length).

  None for methods of one fixed size (full, LayerNorm, IA3, BitFit, ...).
  """
  key = SIZE_KEYS.get(result.get('method'))
  if key is None:
    return None
  config = result.get('config') or {}
  value = result.get(key, config.get(key))
  return None if value is None else int(value)


def score(result: Result) -> float:
  """The final-step selection score, as the official code scores a run.

  A missing or NaN score (a diverged run) ranks last. Runs written before
  the final-step protocol stored their best evaluated step's score under
  `score` (they have no `best_score`); their final step is read from `dev`.
  """
  if 'best_score' in result or 'dev' not in result:
    value = result.get('score')
  else:
    dev = result.get('dev') or {}
    if not dev:
      value = None
    elif 'exact_match' in dev:  # SQuAD: F1, as SpanTask.score.
      value = dev.get('f1')
    else:  # Classification: the mean of the task's metrics.
      value = sum(float(v) for v in dev.values()) / len(dev)
  if value is None or not math.isfinite(float(value)):
    return -math.inf
  return float(value)


def rank_key(result: Result) -> tuple[float, int, str]:
  """Best first: higher score, then fewer trained parameters, then run name."""
  return (-score(result), int(result.get('trainable_params', 0)),
          str(result.get('run', '')))


def best_by(results: Iterable[Result],
            key: Callable[[Result], Hashable]) -> dict[Hashable, Result]:
  """The best run of each group `key(result)`, groups in sorted order."""
  groups: dict[Hashable, list[Result]] = {}
  for result in results:
    groups.setdefault(key(result), []).append(result)
  return {k: min(groups[k], key=rank_key)
          for k in sorted(groups, key=lambda k: tuple(map(str, k)))}


def best_per_method(results: Iterable[Result]) -> dict[Hashable, Result]:
  """(task, method) -> best run over the whole grid (lr, epochs, size, seed)."""
  return best_by(results, lambda r: (r['task'], r['method']))


def best_per_size(results: Iterable[Result]) -> dict[Hashable, Result]:
  """(task, method, size) -> best run over lr, epochs and seeds."""
  return best_by(results, lambda r: (r['task'], r['method'], size(r)))
