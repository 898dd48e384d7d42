"""The split a run trains on, exported for the AdapterHub peer, reads back."""

import csv
import os
import sys

import numpy as np
import pytest
from sklearn import metrics as sklearn_metrics

from adapter_bert import optim
from adapter_bert import tasks
from configs import extra as extra_configs
from experiments import export_split

# The peer runs as a script beside its sibling module, outside this package.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'experiments', 'adapterhub'))
import peer_glue  # pylint: disable=g-import-not-at-top,g-bad-import-order
import peer_io  # pylint: disable=g-import-not-at-top,g-bad-import-order

LABELS = ('neg', 'pos', 'neutral')


def _config(tmp_path):
  path = tmp_path / 'mine.csv'
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['text', 'label'])
    for i in range(90):
      writer.writerow([f'example number {i}, "quoted"\nsecond line',
                       LABELS[i % 3]])
  return extra_configs.get_config(f'task=csv,csv_path={path}')


def test_peer_reads_exactly_our_split(tmp_path):
  config = _config(tmp_path)
  meta = export_split.export(config, str(tmp_path / 'export'))
  assert meta['splits'] == {'train': 72, 'validation': 9, 'test': 9}
  task, num_labels, train, evals = peer_glue.read_task(
      str(tmp_path / 'export'))
  assert (task, num_labels, sorted(evals)) == ('csv', 3, ['dev', 'test'])
  ours = tasks.from_config(config)
  for split, rows in (('train', train), ('validation', evals['dev']),
                      ('test', evals['test'])):
    examples = ours.load_split(split)
    assert [r[0] for r in rows] == list(examples.text_a)
    assert all(r[1] is None for r in rows)
    np.testing.assert_array_equal([r[2] for r in rows], examples.labels)


def test_peer_metrics_and_schedule_match_ours():
  predictions, labels = [0, 1, 1, 0, 1], [0, 1, 0, 0, 1]
  assert peer_glue.metrics(predictions, labels, 2) == pytest.approx(dict(
      accuracy=sklearn_metrics.accuracy_score(labels, predictions),
      f1=sklearn_metrics.f1_score(labels, predictions),
      matthews_corrcoef=sklearn_metrics.matthews_corrcoef(labels,
                                                          predictions)))
  assert peer_glue.metrics([0, 2, 1], [0, 1, 1], 3) == (
      pytest.approx(dict(accuracy=2 / 3)))
  total, warmup = 57, 5
  for kind in optim.SCHEDULES:
    ours = optim.learning_rate_schedule(1.0, total, 0.1, kind)
    for step in (0, 1, 4, 5, 6, 30, 56):
      assert peer_glue.lr_factor(kind, step, total, warmup) == (
          pytest.approx(float(ours(step)), abs=1e-6)), (kind, step)


def test_peer_result_lands_in_a_folder_not_made_yet(tmp_path):
  # The pipeline's first peer result goes to <study>/peer/, which nothing has
  # made; before, the write failed there after the whole training run.
  path = tmp_path / 'peer' / 'deeper' / 'task-adapter-s0.json'
  peer_io.write_json(str(path), {'dev': {'accuracy': 0.5}})
  with open(path) as f:
    assert f.read() == '{\n  "dev": {\n    "accuracy": 0.5\n  }\n}'
  assert os.listdir(path.parent) == ['task-adapter-s0.json']
