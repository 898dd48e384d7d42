"""The seed-study helpers: runs.csv rows, dev selection, spread over seeds."""

import csv
import io
import math

import numpy as np
import pytest

from experiments import study


def _run(name, task='mrpc', method='adapter', m=64, top_k=0, lr=1e-3, seed=0,
         score=0.8, best=0.9, params=1000, test=None, packing=False,
         **config):
  result = dict(
      run=name, status='done', task=task, method=method, m=m, lr=lr,
      epochs=3.0, seed=seed, score=score, best_score=best, schedule='official',
      trainable_params=params, total_params=10_000, train_seconds=12.34,
      dev={'accuracy': score},
      config=dict(method=method, m=m, top_k=top_k, lr=lr, epochs=3.0,
                  seed=seed, packing=packing, **config))
  if test is not None:
    result['test'] = {'test': {'accuracy': test}}
  return result


def test_run_row_has_the_study_columns_on_a_0_100_scale():
  rows = list(csv.DictReader(io.StringIO(study.runs_csv([
      _run('b', method='top_k', top_k=3, score=0.75, test=0.7),
      _run('a', m=8, score=0.8125, packing=True, init_scale=1e-3,
           pooling='mean')]))))
  assert tuple(rows[0]) == study.RUN_COLUMNS
  a, b = rows
  assert (a['run'], a['m'], a['top_k'], a['packed']) == ('a', '8', '', 'True')
  assert float(a['dev_score']) == pytest.approx(81.25)  # Final, not best.
  assert a['test_accuracy'] == '' and float(b['test_accuracy']) == 70.0
  assert (b['m'], b['top_k'], b['schedule']) == ('', '3', 'official')
  # The side studies' keys: the adapter's init σ, the head's pooling.
  assert (a['size'], a['init_scale'], a['pooling']) == ('8', '0.001', 'mean')
  assert (b['size'], b['init_scale'], b['pooling']) == ('3', '', 'pooler')
  assert float(a['trained_share']) == pytest.approx(0.1)


def test_selection_uses_seed_zero_final_scores_then_spread_over_seeds():
  runs = [
      _run('m8-lr3', m=8, lr=3e-4, score=0.70, best=0.99, params=100),
      _run('m64-lr1', m=64, lr=1e-3, score=0.72, params=800),
      _run('m64-lr1-s1', m=64, lr=1e-3, seed=1, score=0.60, params=800),
      _run('m64-lr1-s2', m=64, lr=1e-3, seed=2, score=0.66, params=800),
      _run('m8-lr3-s1', m=8, lr=3e-4, seed=1, score=0.90, params=100),
      _run('full', method='full', m=64, lr=5e-5, score=0.71, params=10_000),
  ]
  selected = study.select_configs(runs)
  # m=8 has the best *best-step* score and a better seed-1 run; neither
  # counts: selection is on seed 0's final step.
  assert selected[('mrpc', 'adapter')] == ('mrpc', 'adapter', 64, 1e-3, 3.0)
  assert selected[('mrpc', 'full')] == ('mrpc', 'full', None, 5e-5, 3.0)
  chosen = study.runs_of(runs, selected[('mrpc', 'adapter')])
  assert [r['run'] for r in chosen] == ['m64-lr1', 'm64-lr1-s1', 'm64-lr1-s2']
  mean, std, sem = study.mean_std_sem([100 * r['score'] for r in chosen])
  values = np.array([72.0, 60.0, 66.0])
  assert mean == pytest.approx(values.mean())
  assert std == pytest.approx(values.std(ddof=1))
  assert sem == pytest.approx(values.std(ddof=1) / np.sqrt(3))


def test_spread_of_one_value_is_unknown():
  mean, std, sem = study.mean_std_sem([5.0])
  assert mean == 5.0 and math.isnan(std) and math.isnan(sem)
  assert all(math.isnan(v) for v in study.mean_std_sem([]))


def test_size_of_each_method():
  from experiments import selection  # pylint: disable=g-import-not-at-top
  config = dict(m=64, top_k=3, lora_rank=8, prefix_length=16)
  sizes = {method: selection.size(dict(method=method, config=config))
           for method in ('adapter', 'top_k', 'lora', 'prefix', 'ia3', 'full')}
  assert sizes == {'adapter': 64, 'top_k': 3, 'lora': 8, 'prefix': 16,
                   'ia3': None, 'full': None}


def test_best_constant_score_matches_scikit_learn():
  from sklearn import metrics  # pylint: disable=g-import-not-at-top

  def run(gold):
    return dict(dev_predictions=dict(predicted=gold, gold=gold))
  rte = run({'entailment': 146, 'not_entailment': 131})
  assert study.best_constant_score(rte, 'accuracy') == pytest.approx(146 / 277)
  mrpc = run({'0': 129, '1': 279})
  labels = np.array([0] * 129 + [1] * 279)
  assert study.best_constant_score(mrpc, 'f1') == pytest.approx(
      metrics.f1_score(labels, np.ones_like(labels)))
  assert study.best_constant_score(mrpc, 'matthews_corrcoef') == 0.0
  stsb = dict(dev_predictions=dict(prediction_std=0.5, gold_std=1.5))
  assert study.best_constant_score(stsb, 'spearman') == 0.0
  assert study.best_constant_score({}, 'accuracy') is None


@pytest.mark.parametrize('predicted, expected', [
    (dict(a=1042, b=1), ('a', 1042, 1043)),  # CoLA LayerNorm-only, seed 1.
    (dict(a=99, b=1), ('a', 99, 100)),  # Exactly 1% elsewhere still counts.
    (dict(a=98, b=2), None),
    (dict(a=100, b=0), None),  # Constant: constant_prediction's case.
    (None, None),  # Regression, or no record.
])
def test_nearly_constant_prediction(predicted, expected):
  result = {} if predicted is None else dict(
      dev_predictions=dict(predicted=predicted))
  assert study.nearly_constant_prediction(result) == expected


def test_runs_of_refuses_one_seed_under_two_names():
  first = _run('mrpc-adapter-m64-lr1e-3-ep3-s0', score=0.8)
  second = dict(first, run='mrpc-adapter-m64-lr1e-3-ep3-s0-init_scale0.001')
  key = study.config_key(first)
  assert study.runs_of([first], key) == [first]
  with pytest.raises(ValueError, match='init_scale0.001.*seed 0'):
    study.runs_of([first, second], key)
