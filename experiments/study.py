"""What the seed studies share: one row per run, configurations, selection.

The paper's protocol, as the GLUE and extra-task studies apply it: every run is
scored by its final step; each method's configuration (size, learning rate,
epochs) is chosen on dev among the seed-0 runs; that configuration is then
reported as mean and spread over its seeds.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from adapter_bert import metrics as metrics_lib
from adapter_bert import run_config
from experiments import fileio
from experiments import selection

Result = selection.Result
RUN_COLUMNS = ('run', 'task', 'method', 'm', 'top_k', 'lr', 'epochs', 'seed',
               'schedule', 'packed', 'size', 'init_scale', 'pooling',
               'trained_params', 'trained_share', 'dev_score', 'train_s',
               'test_accuracy', 'constant_prediction')
# Marks a score whose run predicted one value for every dev example.
CONSTANT_MARK = '‡'
CONSTANT_NOTE = ('‡ the run\'s final step predicts one class (regression: '
                 'one score) for every dev example (results.json '
                 '`dev_predictions`).')


def _config(result: Result) -> dict[str, Any]:
  return result.get('config') or {}


def _test_accuracy(result: Result) -> float | None:
  """The test split's accuracy, for tasks with a labelled test split."""
  for metrics in (result.get('test') or {}).values():
    if 'accuracy' in metrics:
      return float(metrics['accuracy'])
  return None


def _blank(value: Any) -> Any:
  return '' if value is None else value


def constant_prediction(result: Result) -> bool | None:
  """Whether the final step predicts one value for every dev example.

  One class everywhere (classification), or predicted scores whose spread is
  under 1e-4 of the gold scores' (regression): the run learned nothing of
  the input, whatever its metric says. None if the run has no
  `dev_predictions` (it predates them).
  """
  summary = result.get('dev_predictions')
  if not summary:
    return None
  if 'predicted' in summary:
    counts = list(summary['predicted'].values())
    return max(counts) == sum(counts)
  return summary['prediction_std'] <= 1e-4 * summary.get('gold_std', 1.0)


def nearly_constant_prediction(result: Result) -> tuple[str, int, int] | None:
  """(class, count, total) if all but at most 1% of dev predictions agree.

  A run that sends one example of a thousand to the minority class scores
  about what a constant predictor scores (CoLA: an MCC of -2.1), yet is not
  constant. None for runs that predict one class exactly, for regression,
  and for runs without `dev_predictions`.
  """
  predicted = (result.get('dev_predictions') or {}).get('predicted')
  if not predicted:
    return None
  top = max(predicted, key=predicted.get)
  total = sum(predicted.values())
  if predicted[top] == total or predicted[top] < 0.99 * total:
    return None
  return top, predicted[top], total


def best_constant_score(result: Result, metric: str,
                        split: str | None = None) -> float | None:
  """`metric` (0-1) of the best constant prediction on the run's labels.

  What a model that learned nothing of the input can score: the majority
  class's accuracy, the positive class's F1, 0 for a correlation. Read from
  the gold counts of `dev_predictions`, or of test split `split`'s
  `test_predictions`; None without them. A regression's constant
  correlates with nothing: 0.
  """
  if split is None:
    summary = result.get('dev_predictions') or {}
  else:
    summary = (result.get('test_predictions') or {}).get(split) or {}
  if 'gold_std' in summary:
    return 0.0
  gold = summary.get('gold')
  if not gold:
    return None
  labels = np.repeat(np.arange(len(gold)), list(gold.values()))
  return max(metrics_lib.compute_metrics(
      [metric], np.full_like(labels, c), labels)[metric]
             for c in range(len(gold)))


def task_constant_score(results: Iterable[Result], task: str, metric: str,
                        test: bool = False) -> float | None:
  """x100: `best_constant_score` from the first run of `task` that recorded
  its dev labels (or, with `test`, a test split's); None if none did."""
  for r in results:
    if r['task'] != task:
      continue
    splits = (r.get('test_predictions') or {}) if test else [None]
    for split in splits:
      value = best_constant_score(r, metric, split)
      if value is not None:
        return 100 * value
  return None


def score_text(value: float, result: Result) -> str:
  """A x100 score to one decimal, marked if its run predicts a constant."""
  return f'{value:.1f}' + (CONSTANT_MARK if constant_prediction(result)
                           else '')


def run_row(result: Result) -> dict[str, Any]:
  """One runs.csv row; dev_score and test_accuracy on a 0-100 scale.

  `size` is what sets the method's parameter count (m, k, LoRA rank, prefix
  length; selection.SIZE_KEYS); `init_scale` (adapters only) and `pooling`
  tell the side studies' runs from the grid's.
  """
  config = _config(result)
  method = result.get('method', config.get('method'))
  test = _test_accuracy(result)
  share = result.get('trainable_share')
  if share is None:
    share = float(result['trainable_params']) / float(result['total_params'])
  return dict(
      run=result.get('run', ''),
      task=result['task'],
      method=method,
      m=selection.size(result) if method == 'adapter' else '',
      top_k=selection.size(result) if method == 'top_k' else '',
      lr=result.get('lr', config.get('lr')),
      epochs=result.get('epochs', config.get('epochs')),
      seed=result.get('seed', config.get('seed')),
      # Runs made before the key existed used HF's warmup-then-decay.
      schedule=result.get('schedule', config.get(
          'schedule', run_config.PREDATING_VALUES['schedule'])),
      packed=bool(config.get('packing', False)),
      size=_blank(selection.size(result)),
      init_scale=(_blank(config.get('init_scale')) if method == 'adapter'
                  else ''),
      pooling=config.get('pooling', 'pooler'),
      trained_params=int(result['trainable_params']),
      trained_share=round(float(share), 6),
      dev_score=round(100 * selection.score(result), 4),
      train_s=round(float(result.get('train_seconds', 0.0)), 1),
      test_accuracy='' if test is None else round(100 * test, 4),
      constant_prediction=_blank(constant_prediction(result)))


def runs_csv(results: Iterable[Result]) -> str:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, RUN_COLUMNS, lineterminator='\n')
  writer.writeheader()
  for result in sorted(results, key=lambda r: (r['task'], str(r.get('run')))):
    writer.writerow(run_row(result))
  return buffer.getvalue()


def write_runs_csv(results: Iterable[Result], path: str) -> None:
  fileio.write_text(path, runs_csv(results))


def config_key(result: Result) -> tuple[Hashable, ...]:
  """(task, method, size, lr, epochs): a run's configuration without seed."""
  config = _config(result)
  return (result['task'], result.get('method', config.get('method')),
          selection.size(result), float(result.get('lr', config.get('lr'))),
          float(result.get('epochs', config.get('epochs'))))


def seed_of(result: Result) -> int:
  return int(result.get('seed', _config(result).get('seed', 0)))


def select_configs(results: Iterable[Result], seed: int = 0
                   ) -> dict[tuple[str, str], tuple[Hashable, ...]]:
  """(task, method) -> the configuration of the best `seed` run on dev.

  Final-step dev scores; ties go to fewer trained parameters, then run name
  (selection.rank_key).
  """
  pool = [r for r in results if seed_of(r) == seed]
  best = selection.best_by(pool, lambda r: (r['task'], r['method']))
  return {k: config_key(r) for k, r in best.items()}


def point_key(point: dict[str, Any]) -> tuple[str, Any, float, float]:
  """(method, size, lr, epochs) of a sweep point: what config_key gives its
  runs, without task and seed."""
  size_key = selection.SIZE_KEYS.get(point['method'])
  size = point.get(size_key) if size_key else None
  return (point['method'], size, float(point['lr']), float(point['epochs']))


def diverged_runs(results: Iterable[Result]) -> list[Result]:
  """Runs whose loss stopped being finite: tried, ranked last, in no table."""
  return [r for r in results if r.get('status') == 'diverged']


def diverged_line(results: Iterable[Result]) -> list[str]:
  """A report line naming the diverged runs, if any."""
  names = sorted(str(r.get('run', '?')) for r in diverged_runs(results))
  if not names:
    return []
  return [f'- Diverged (the loss became NaN or infinite; a tried point that '
          f'ranks last and fills no cell): {", ".join(names)}.']


def unfinished_points(results: Iterable[Result], task: str,
                      points: Iterable[dict[str, Any]], seed: int = 0
                      ) -> list[tuple[str, Any, float, float]]:
  """point_keys of `points` without a finished `seed` run of `task`.

  A selection among a grid's finished runs is provisional until this is
  empty: the missing run may win. Pass diverged runs too: they were tried.
  Studies keep such selections out of their selected.json, so that no seeds
  stage (another shard's, or one started by hand) builds on a grid still in
  progress.
  """
  done = {config_key(r)[1:] for r in results
          if r['task'] == task and seed_of(r) == seed}
  return sorted({point_key(p) for p in points} - done, key=repr)


def provisional_line(subject: str, missing: str) -> str:
  """The report line of a selection made among an unfinished grid."""
  return (f'- Provisional: {subject} is chosen among a grid that still lacks '
          f'{missing}; selected.json leaves it out, so no seeds stage starts '
          'from it.')


def points_text(points: Iterable[tuple[str, Any, float, float]]) -> str:
  """'adapter size=8 lr 0.0003 3 ep, ...': point_keys for a report line."""
  return ', '.join(f'{method}{"" if size is None else f" size={size}"} '
                   f'lr {lr:g} {epochs:g} ep'
                   for method, size, lr, epochs in points)


def runs_of(results: Iterable[Result], key: Sequence[Hashable]
            ) -> list[Result]:
  """The runs of one configuration, ordered by seed.

  Raises ValueError when two runs share a seed: each seed must count once in
  a mean and its spread (two names for one configuration, e.g. a sweep that
  spells a default value out, would otherwise count it twice).
  """
  runs = sorted((r for r in results if config_key(r) == tuple(key)),
                key=seed_of)
  for earlier, later in zip(runs, runs[1:]):
    if seed_of(earlier) == seed_of(later):
      raise ValueError(
          f'runs {earlier.get("run", "?")} and {later.get("run", "?")} are the '
          f'same configuration {tuple(key)} at seed {seed_of(later)}; move '
          'one aside.')
  return runs


def mean_std_sem(values: Sequence[float]) -> tuple[float, float, float]:
  """Mean, sample standard deviation and standard error of the mean.

  With one value the spread is unknown: std and s.e.m. are NaN.
  """
  values = [float(v) for v in values]
  if not values:
    return math.nan, math.nan, math.nan
  mean = statistics.fmean(values)
  if len(values) < 2:
    return mean, math.nan, math.nan
  std = statistics.stdev(values)
  return mean, std, std / math.sqrt(len(values))
