"""dev_predictions: recorded by training, rebuilt from an artifact identically."""

import json

import numpy as np
import pytest

from adapter_bert import train
from configs import glue
from experiments import backfill_predictions
from experiments import study


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  root = tmp_path_factory.mktemp('run')
  config = glue.get_config('task=rte,backbone=tiny')
  config.cache_dir = str(root / 'tokens')
  config.update(max_steps=2, batch_size=8, eval_batch_size=64, eval_every=2,
                checkpoint_every=2, predict=False, max_length=64)
  results = train.train_and_evaluate(config, str(root / 'run'))
  return root / 'run', results, config


def test_training_records_the_final_dev_class_counts(tiny_run):
  from adapter_bert import tasks  # pylint: disable=g-import-not-at-top
  _, results, _ = tiny_run
  counts = results['dev_predictions']
  labels = np.asarray(tasks.get_task('rte').load_split('validation').labels)
  assert counts['gold'] == dict(entailment=int((labels == 0).sum()),
                                not_entailment=int((labels == 1).sum()))
  assert sum(counts['predicted'].values()) == len(labels)
  # At most the overlap of predicted and gold counts per class is right.
  overlap = sum(min(counts['predicted'][c], counts['gold'][c])
                for c in counts['gold'])
  assert results['dev']['accuracy'] <= overlap / len(labels) + 1e-9


def test_backfill_rebuilds_the_recorded_counts_from_the_artifact(
    tiny_run, tmp_path):
  workdir, results, config = tiny_run
  stripped = {k: v for k, v in results.items() if k != 'dev_predictions'}
  path = tmp_path / 'results.json'
  path.write_text(json.dumps(stripped))
  outcome = backfill_predictions.backfill(
      str(path), str(workdir / 'artifact'), cache_dir=config.cache_dir)
  assert outcome.startswith('added')
  rebuilt = json.loads(path.read_text())['dev_predictions']
  assert rebuilt.pop('source') == backfill_predictions.SOURCE
  assert rebuilt == results['dev_predictions']
  # A second pass leaves it alone.
  assert 'skipped' in backfill_predictions.backfill(
      str(path), str(workdir / 'artifact'), cache_dir=config.cache_dir)


def test_backfill_refuses_a_run_whose_metrics_differ(tiny_run, tmp_path):
  workdir, results, config = tiny_run
  wrong = {k: v for k, v in results.items() if k != 'dev_predictions'}
  wrong['dev'] = dict(accuracy=results['dev']['accuracy'] + 0.01)
  path = tmp_path / 'results.json'
  path.write_text(json.dumps(wrong))
  before = path.read_text()
  with pytest.raises(ValueError, match='differ from the recorded'):
    backfill_predictions.backfill(str(path), str(workdir / 'artifact'),
                                  cache_dir=config.cache_dir)
  assert path.read_text() == before


@pytest.mark.parametrize('summary, constant', [
    (dict(predicted=dict(a=10, b=0)), True),
    (dict(predicted=dict(a=9, b=1)), False),
    (dict(prediction_std=1e-7, gold_std=1.5), True),
    (dict(prediction_std=0.01, gold_std=1.5), False),
    (None, None),
])
def test_constant_prediction(summary, constant):
  result = {} if summary is None else dict(dev_predictions=summary)
  assert study.constant_prediction(result) is constant


def test_class_counts_equal_numpy_counts():
  from adapter_bert import tasks  # pylint: disable=g-import-not-at-top
  task = tasks.get_task('rte')
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(50, 2)).astype(np.float32)
  labels = rng.integers(0, 2, 50)
  features = tasks.Features({'lengths': np.ones(50)}, labels, None)
  summary = task.prediction_summary([logits[:20], logits[20:]], features)
  predicted = np.bincount(logits.argmax(-1), minlength=2)
  assert summary == dict(
      predicted=dict(entailment=int(predicted[0]),
                     not_entailment=int(predicted[1])),
      gold=dict(entailment=int((labels == 0).sum()),
                not_entailment=int((labels == 1).sum())))
