"""GLUE metrics over masked predictions, on the [0, 1] scale (not x100).

Degenerate inputs get defined values instead of NaN and warnings: Pearson and
Spearman are 0.0 when either side is constant (or fewer than two rows), as
is Matthews correlation (scikit-learn's own convention). This keeps sweeps
that pick the best point by dev score well-defined.
"""

from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats
import sklearn.metrics


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
  return float(sklearn.metrics.accuracy_score(labels, predictions))


def f1(predictions: np.ndarray, labels: np.ndarray) -> float:
  """Binary F1 of the positive class 1 (MRPC, QQP); 0.0 if it never occurs."""
  return float(sklearn.metrics.f1_score(
      labels, predictions, pos_label=1, average='binary', zero_division=0.0))


def matthews_corrcoef(predictions: np.ndarray, labels: np.ndarray) -> float:
  if _is_constant(predictions) or _is_constant(labels):
    return 0.0
  return float(sklearn.metrics.matthews_corrcoef(labels, predictions))


def _is_constant(x: np.ndarray) -> bool:
  return x.size < 2 or bool(np.all(x == x.flat[0]))


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
  if _is_constant(predictions) or _is_constant(labels):
    return 0.0
  return float(scipy.stats.pearsonr(predictions, labels).statistic)


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
  if _is_constant(predictions) or _is_constant(labels):
    return 0.0
  return float(scipy.stats.spearmanr(predictions, labels).statistic)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    'accuracy': accuracy,
    'f1': f1,
    'matthews_corrcoef': matthews_corrcoef,
    'pearson': pearson,
    'spearman': spearman,
}


def compute_metrics(metric_names: Sequence[str], predictions: np.ndarray,
                    labels: np.ndarray, mask: np.ndarray | None = None
                    ) -> dict[str, float]:
  """Computes the named metrics over the rows where mask == 1.

  Args:
    metric_names: keys of `METRICS`, e.g. a task's `metric_names`.
    predictions: [N] predicted class ids, or scores for regression.
    labels: [N] gold class ids or scores.
    mask: optional [N] 1/0 weights; 0 rows (batch padding) are ignored.

  Returns:
    {name: Python float}.
  """
  unknown = [n for n in metric_names if n not in METRICS]
  if unknown:
    raise ValueError(f'Unknown metric(s) {unknown}; valid: {list(METRICS)}.')
  predictions = np.asarray(predictions)
  labels = np.asarray(labels)
  if predictions.ndim != 1 or predictions.shape != labels.shape:
    raise ValueError(f'predictions {predictions.shape} and labels '
                     f'{labels.shape} must be 1-D and of equal length.')
  if mask is not None:
    mask = np.asarray(mask)
    if mask.shape != labels.shape:
      raise ValueError(f'mask {mask.shape} must match labels {labels.shape}.')
    if not np.isin(mask, (0, 1)).all():
      raise ValueError('mask must hold only 0 and 1.')
    keep = mask == 1
    predictions, labels = predictions[keep], labels[keep]
  if not labels.size:
    raise ValueError('No rows to score (empty input or all rows masked).')
  return {name: METRICS[name](predictions, labels) for name in metric_names}
