"""GLUE metrics against direct scikit-learn / scipy calls."""

import warnings

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics

from adapter_bert import metrics

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, size=200)
PREDICTIONS = np.where(RNG.random(200) < 0.8, LABELS, 1 - LABELS)
SCORES = RNG.uniform(0, 5, size=200)
SCORE_PREDICTIONS = SCORES + RNG.normal(0, 1, size=200)


def test_classification_metrics_match_sklearn():
  result = metrics.compute_metrics(
      ['accuracy', 'f1', 'matthews_corrcoef'], PREDICTIONS, LABELS)
  assert result == pytest.approx({
      'accuracy': sklearn.metrics.accuracy_score(LABELS, PREDICTIONS),
      'f1': sklearn.metrics.f1_score(LABELS, PREDICTIONS),
      'matthews_corrcoef': sklearn.metrics.matthews_corrcoef(LABELS,
                                                             PREDICTIONS),
  })
  assert all(type(v) is float for v in result.values())
  assert 0.7 < result['accuracy'] < 0.9  # [0, 1] scale, not x100


def test_regression_metrics_match_scipy():
  result = metrics.compute_metrics(['pearson', 'spearman'], SCORE_PREDICTIONS,
                                   SCORES)
  assert result['pearson'] == pytest.approx(
      scipy.stats.pearsonr(SCORE_PREDICTIONS, SCORES)[0])
  assert result['spearman'] == pytest.approx(
      scipy.stats.spearmanr(SCORE_PREDICTIONS, SCORES)[0])


def test_f1_uses_class_1_as_positive():
  labels = np.array([1, 1, 0, 0, 0])
  predictions = np.array([1, 0, 0, 0, 1])
  assert metrics.f1(predictions, labels) == pytest.approx(0.5)
  assert metrics.f1(1 - predictions, 1 - labels) == pytest.approx(2 / 3)


def test_masked_padding_rows_change_nothing():
  names = ['accuracy', 'f1', 'matthews_corrcoef', 'pearson', 'spearman']
  unpadded = metrics.compute_metrics(names, PREDICTIONS, LABELS)
  padded_predictions = np.concatenate([PREDICTIONS, 1 - LABELS[:13]])
  padded_labels = np.concatenate([LABELS, LABELS[:13]])
  mask = np.concatenate([np.ones(200), np.zeros(13)]).astype(np.float32)
  padded = metrics.compute_metrics(names, padded_predictions, padded_labels,
                                   mask)
  assert padded == unpadded
  # Without the mask the (deliberately wrong) padding rows would count.
  assert metrics.compute_metrics(names, padded_predictions,
                                 padded_labels) != unpadded


def test_degenerate_inputs_give_zero_without_warnings():
  constant = np.full(10, 2.5)
  varying = np.arange(10.0)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    assert metrics.compute_metrics(['pearson', 'spearman'], constant,
                                   varying) == {'pearson': 0.0,
                                                'spearman': 0.0}
    assert metrics.compute_metrics(['matthews_corrcoef', 'f1', 'accuracy'],
                                   np.zeros(6, int),
                                   np.array([0, 1, 0, 1, 0, 0])) == {
                                       'matthews_corrcoef': 0.0, 'f1': 0.0,
                                       'accuracy': pytest.approx(4 / 6)}
    assert metrics.compute_metrics(['pearson'], np.array([1.0]),
                                   np.array([2.0])) == {'pearson': 0.0}


def test_errors():
  with pytest.raises(ValueError, match="Unknown metric.*'auc'"):
    metrics.compute_metrics(['auc'], PREDICTIONS, LABELS)
  with pytest.raises(ValueError, match='1-D and of equal length'):
    metrics.compute_metrics(['accuracy'], PREDICTIONS[:5], LABELS)
  with pytest.raises(ValueError, match='No rows to score'):
    metrics.compute_metrics(['accuracy'], PREDICTIONS, LABELS,
                            np.zeros(200))
  with pytest.raises(ValueError, match='only 0 and 1'):
    metrics.compute_metrics(['accuracy'], PREDICTIONS, LABELS,
                            np.full(200, 0.5))
