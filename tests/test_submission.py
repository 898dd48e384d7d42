"""GLUE submission files."""

import csv
import os

import numpy as np
import pytest

from adapter_bert import atomic
from adapter_bert.data import glue_tsv
from adapter_bert.data import submission


def _read(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.reader(f, delimiter='\t'))


def test_classification_file_uses_label_names_sorted_by_index(tmp_path):
  path = submission.write_glue_submission(
      'rte', 'test', np.array([2, 0, 1]), np.array([1, 0, 0]), str(tmp_path))
  assert path == str(tmp_path / 'RTE.tsv')
  assert _read(path) == [['index', 'prediction'], ['0', 'entailment'],
                         ['1', 'entailment'], ['2', 'not_entailment']]
  assert os.listdir(tmp_path) == ['RTE.tsv']  # the temporary file is gone


def test_mnli_and_ax_file_names(tmp_path):
  for split, name in (('test_matched', 'MNLI-m.tsv'),
                      ('test_mismatched', 'MNLI-mm.tsv')):
    path = submission.write_glue_submission(
        'mnli', split, np.arange(3), np.array([0, 1, 2]), str(tmp_path))
    assert os.path.basename(path) == name
    assert [r[1] for r in _read(path)[1:]] == ['entailment', 'neutral',
                                               'contradiction']
  path = submission.write_glue_submission('ax', 'test', np.arange(2),
                                          np.array([2, 2]), str(tmp_path))
  assert os.path.basename(path) == 'AX.tsv'
  with pytest.raises(ValueError, match='test splits'):
    submission.write_glue_submission('mnli', 'validation_matched',
                                     np.arange(2), np.zeros(2, int),
                                     str(tmp_path))


def test_binary_tasks_write_0_and_1(tmp_path):
  path = submission.write_glue_submission('cola', 'test', np.arange(3),
                                          np.array([1, 0, 1]), str(tmp_path))
  assert _read(path)[1:] == [['0', '1'], ['1', '0'], ['2', '1']]


def test_stsb_scores_are_clipped_to_0_5(tmp_path):
  path = submission.write_glue_submission(
      'stsb', 'test', np.arange(4), np.array([-0.3, 2.3456, 5.7, 4.0]),
      str(tmp_path / 'out'))
  assert _read(path)[1:] == [['0', '0.000'], ['1', '2.346'], ['2', '5.000'],
                             ['3', '4.000']]


def test_full_vendored_test_split_round_trip(tmp_path):
  examples = glue_tsv.load_glue_split('wnli', 'test')
  predictions = (examples.index % 2).astype(np.int32)
  path = submission.write_glue_submission('wnli', 'test', examples.index,
                                          predictions, str(tmp_path))
  rows = _read(path)
  assert len(rows) == 1 + 146
  assert [int(r[0]) for r in rows[1:]] == examples.index.tolist()


def test_invalid_predictions(tmp_path):
  with pytest.raises(ValueError, match='integer class ids'):
    submission.write_glue_submission('rte', 'test', np.arange(2),
                                     np.array([0.2, 0.9]), str(tmp_path))
  with pytest.raises(ValueError, match=r'class ids must lie in \[0, 2\)'):
    submission.write_glue_submission('rte', 'test', np.arange(2),
                                     np.array([0, 2]), str(tmp_path))
  with pytest.raises(ValueError, match='duplicate'):
    submission.write_glue_submission('rte', 'test', np.array([1, 1]),
                                     np.array([0, 1]), str(tmp_path))
  with pytest.raises(ValueError, match='equal length'):
    submission.write_glue_submission('rte', 'test', np.arange(3),
                                     np.array([0, 1]), str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_atomic_open_leaves_no_partial_file(tmp_path):
  target = tmp_path / 'f.txt'
  with pytest.raises(RuntimeError):
    with atomic.atomic_open(str(target), 'w') as f:
      f.write('half')
      raise RuntimeError('crash')
  assert os.listdir(tmp_path) == []
  with atomic.atomic_open(str(target), 'w') as f:
    f.write('whole')
  assert target.read_text() == 'whole'
  assert os.stat(target).st_mode & 0o777 == 0o644
