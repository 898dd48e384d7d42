"""The TFDS source: field mapping, mock data, agreement with the TSV reader."""

import os
import sys

import numpy as np
import pytest

from adapter_bert.data import glue
from adapter_bert.data import glue_tsv
from adapter_bert.data import tfds_glue

tfds = pytest.importorskip('tensorflow_datasets')
tf = pytest.importorskip('tensorflow')

SHARED_MRPC = os.path.join(os.path.dirname(os.path.dirname(
    glue_tsv.default_glue_dir())), '..', 'shared', 'data', 'glue', 'MRPC')


@pytest.mark.parametrize('task_name,split,pair', [
    ('rte', 'train', True),
    ('sst2', 'validation', False),
    ('mnli', 'validation_mismatched', True),
    ('qqp', 'test', True),
    ('qnli', 'train', True),
])
def test_load_tfds_split_on_mock_data(task_name, split, pair):
  task = glue.get_task(task_name)
  with tfds.testing.mock_data(num_examples=7):
    examples = tfds_glue.load_tfds_split(task_name, split)
  assert len(examples) == 7
  assert all(isinstance(t, str) and t for t in examples.text_a)
  assert (examples.text_b is not None) == pair
  # mock_data draws ClassLabel values in range, also for test splits.
  assert examples.labels.dtype == np.int32
  assert examples.labels.min() >= 0
  assert examples.labels.max() < task.num_labels
  assert examples.index.dtype == np.int64
  assert np.all(np.diff(examples.index) >= 0)  # sorted by idx
  assert examples.label_names == task.label_names


def test_load_tfds_split_regression_on_mock_data():
  with tfds.testing.mock_data(num_examples=5):
    examples = tfds_glue.load_tfds_split('stsb', 'train')
  assert examples.labels.dtype == np.float32 and len(examples) == 5
  assert examples.label_names is None


def test_unlabeled_tfds_test_split_gives_no_labels():
  """TFDS marks test labels -1; the split then has labels None."""

  def as_dataset(self, split, **unused_kwargs):
    del unused_kwargs
    texts = [b'First premise.', b'Second premise.', b'Third premise.']
    return tf.data.Dataset.from_tensor_slices({
        'premise': texts,
        'hypothesis': [b'h1', b'h2', b'h3'],
        'label': np.full((3,), -1, np.int64),
        'idx': np.asarray([2, 0, 1], np.int32),
    })

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    examples = tfds_glue.load_tfds_split('mnli', 'test_matched')
  assert examples.labels is None
  assert examples.index.tolist() == [0, 1, 2]
  assert examples.text_a == ['Second premise.', 'Third premise.',
                             'First premise.']
  assert examples.text_b == ['h2', 'h3', 'h1']


def test_examples_from_records_errors():
  records = [{'sentence1': 'a', 'sentence2': 'b', 'label': 0, 'idx': 0},
             {'sentence1': 'c', 'sentence2': 'd', 'label': -1, 'idx': 1}]
  with pytest.raises(ValueError, match='1 of 2 records have label -1'):
    tfds_glue.examples_from_records('rte', records)
  records[1]['label'] = 2
  with pytest.raises(ValueError, match=r'class ids must lie in \[0, 2\)'):
    tfds_glue.examples_from_records('rte', records)


def test_unknown_split_is_rejected_before_tfds():
  with pytest.raises(ValueError, match='no split'):
    tfds_glue.load_tfds_split('rte', 'validation_matched')


def test_missing_tfds_gives_a_clear_error(monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)
  with pytest.raises(ImportError, match='pip install'):
    tfds_glue.load_tfds_split('rte', 'train')


def _tfds_records(task: glue.GlueTask, split: str, data_file: str):
  """TFDS's own parsing of a GLUE file, encoded as `tfds.load` stores it."""
  builder = tfds.builder(task.tfds_name)
  features = builder.info.features
  tsv_split = {'validation': 'dev'}.get(split, split)
  # pylint: disable-next=protected-access
  for _, record in builder._generate_examples(data_file=data_file,
                                              split=tsv_split):
    yield features.encode_example(record)


def _assert_same(a, b, check_index=True):
  assert a.text_a == b.text_a
  assert a.text_b == b.text_b
  if a.labels is None:
    assert b.labels is None
  else:
    assert a.labels.dtype == b.labels.dtype
    np.testing.assert_array_equal(a.labels, b.labels)
  if check_index:
    np.testing.assert_array_equal(a.index, b.index)
  assert a.label_names == b.label_names


@pytest.mark.parametrize('task_name,split', [
    (t, s) for t in ('cola', 'sst2', 'stsb', 'rte', 'wnli')
    for s in ('train', 'validation', 'test')] + [('ax', 'test')])
def test_tsv_reader_matches_tfds_parsing(task_name, split):
  """Vendored files through TFDS's generator + our mapping == our reader."""
  task = glue.get_task(task_name)
  path = os.path.join(glue_tsv.default_glue_dir(), task.file(split).path)
  from_tfds = tfds_glue.examples_from_records(
      task, _tfds_records(task, split, path))
  _assert_same(glue_tsv.load_glue_split(task_name, split), from_tfds)


@pytest.mark.skipif(not os.path.isdir(SHARED_MRPC),
                    reason='raw MRPC files (../shared/data/glue/MRPC) absent')
@pytest.mark.parametrize('split', ['train', 'validation', 'test'])
def test_mrpc_tsv_matches_tfds_parsing_of_raw_files(split):
  """TFDS builds MRPC from the raw msr files; texts and labels must agree.

  TFDS numbers train/validation rows within msr_paraphrase_train.txt, so only
  the test ids are comparable.
  """
  builder = tfds.builder('glue/mrpc')
  files = {'train': os.path.join(SHARED_MRPC, 'msr_paraphrase_train.txt'),
           'test': os.path.join(SHARED_MRPC, 'msr_paraphrase_test.txt'),
           'dev_ids': os.path.join(SHARED_MRPC, 'dev_ids.tsv')}
  # pylint: disable-next=protected-access
  raw = builder._generate_example_mrpc_files(
      mrpc_files=files, split={'validation': 'dev'}.get(split, split))
  records = (builder.info.features.encode_example(r) for r in raw)
  from_tfds = tfds_glue.examples_from_records('mrpc', records)
  _assert_same(glue_tsv.load_glue_split('mrpc', split), from_tfds,
               check_index=split == 'test')
