"""GLUE task table and the GLUE-dir TSV reader, on the vendored files."""

import csv
import hashlib
import os
import re

import numpy as np
import pytest

from adapter_bert.data import glue
from adapter_bert.data import glue_tsv

GLUE_DIR = glue_tsv.default_glue_dir()
SHARED_GLUE_DIR = os.path.join(os.path.dirname(os.path.dirname(GLUE_DIR)),
                               '..', 'shared', 'data', 'glue')

# Official GLUE sizes (train, validation, test).
ROW_COUNTS = {
    'cola': (8551, 1043, 1063),
    'sst2': (67349, 872, 1821),
    'mrpc': (3668, 408, 1725),
    'stsb': (5749, 1500, 1379),
    'rte': (2490, 277, 3000),
    'wnli': (635, 71, 146),
}


def test_default_glue_dir_is_the_repo_data_folder():
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  assert GLUE_DIR == os.path.join(repo, 'data', 'glue')


def test_task_table():
  assert set(glue.TASKS) == {'cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli',
                             'qnli', 'rte', 'wnli', 'ax'}
  assert glue.get_task('RTE').label_names == ('entailment', 'not_entailment')
  assert glue.get_task('mnli').label_names == ('entailment', 'neutral',
                                               'contradiction')
  for name in ('cola', 'sst2', 'mrpc', 'qqp', 'wnli'):
    assert glue.get_task(name).label_names == ('0', '1')
  assert glue.get_task('stsb').label_names is None
  assert glue.get_task('stsb').num_labels == 1
  assert glue.get_task('SST-2') is glue.get_task('sst2')
  assert glue.get_task('sts_b') is glue.get_task('stsb')

  metrics = {name: task.metric_names for name, task in glue.TASKS.items()}
  assert metrics['cola'] == ('matthews_corrcoef',)
  assert metrics['mrpc'] == metrics['qqp'] == ('f1', 'accuracy')
  assert metrics['stsb'] == ('pearson', 'spearman')
  for name in ('sst2', 'qnli', 'rte', 'wnli', 'mnli'):
    assert metrics[name] == ('accuracy',)

  submissions = sorted(f for t in glue.TASKS.values()
                       for f in t.submission_files.values())
  assert submissions == sorted([
      'CoLA.tsv', 'SST-2.tsv', 'MRPC.tsv', 'STS-B.tsv', 'QQP.tsv',
      'MNLI-m.tsv', 'MNLI-mm.tsv', 'QNLI.tsv', 'RTE.tsv', 'WNLI.tsv',
      'AX.tsv'])
  mnli = glue.get_task('mnli')
  assert mnli.splits == ('train', 'validation_matched',
                         'validation_mismatched', 'test_matched',
                         'test_mismatched')
  ax = glue.get_task('ax')
  assert ax.splits == ('test',) and ax.label_names == mnli.label_names
  assert {t.tfds_name for t in glue.TASKS.values()} == {
      f'glue/{n}' for n in glue.TASKS}


def test_unknown_task_and_split_list_valid_names():
  with pytest.raises(ValueError, match=r"'sst3'.*cola, sst2, mrpc"):
    glue.get_task('sst3')
  with pytest.raises(ValueError, match=r"no split 'dev'.*train, validation"):
    glue.get_task('rte').file('dev')


def test_vendored_files_match_readme_checksums():
  with open(os.path.join(GLUE_DIR, 'README.md'), encoding='utf-8') as f:
    table = re.findall(r'^\| `([^`]+\.tsv)` \| (\d+) \| `([0-9a-f]{64})`',
                       f.read(), flags=re.MULTILINE)
  assert len(table) == 19
  for path, _, sha256 in table:
    with open(os.path.join(GLUE_DIR, path), 'rb') as f:
      assert hashlib.sha256(f.read()).hexdigest() == sha256, path


@pytest.mark.parametrize('task_name', sorted(ROW_COUNTS))
def test_row_counts_and_dtypes(task_name):
  task = glue.get_task(task_name)
  for split, expected in zip(('train', 'validation', 'test'),
                             ROW_COUNTS[task_name]):
    examples = glue_tsv.load_glue_split(task_name, split)
    assert len(examples) == expected, split
    assert examples.index.dtype == np.int64
    assert (examples.text_b is not None) == task.is_pair
    assert examples.label_names == task.label_names
    if split == 'test':
      assert examples.labels is None
      # GLUE test ids are the row numbers, as the server expects.
      np.testing.assert_array_equal(examples.index, np.arange(expected))
    elif task.is_regression:
      assert examples.labels.dtype == np.float32
      assert 0.0 <= examples.labels.min() and examples.labels.max() <= 5.0
    else:
      assert examples.labels.dtype == np.int32
      assert set(np.unique(examples.labels)) == {0, 1}


def test_label_balance_matches_manifest():
  def counts(task, split):
    return np.bincount(glue_tsv.load_glue_split(task, split).labels).tolist()
  assert counts('cola', 'train') == [2528, 6023]
  assert counts('sst2', 'validation') == [428, 444]
  # RTE: 0 = entailment (146), 1 = not_entailment (131).
  assert counts('rte', 'validation') == [146, 131]


def test_ax_is_test_only_with_mnli_labels():
  examples = glue_tsv.load_glue_split('ax', 'test')
  assert len(examples) == 1104 and examples.labels is None
  assert examples.text_a[0] == 'The cat sat on the mat.'
  assert examples.text_b[0] == 'The cat did not sit on the mat.'


def test_texts_come_through_unchanged():
  """Trailing spaces and literal quotes survive; MRPC's BOM does not leak."""
  sst2 = glue_tsv.load_glue_split('sst2', 'train')
  with open(os.path.join(GLUE_DIR, 'SST-2', 'train.tsv'), 'rb') as f:
    raw = [line.split(b'\t')[0].decode('utf-8')
           for line in f.read().split(b'\n')[1:] if line]
  assert sst2.text_a == raw
  assert sst2.text_a[0] == 'hide new secretions from the parental units '

  mrpc = glue_tsv.load_glue_split('mrpc', 'train')
  assert mrpc.labels[:2].tolist() == [1, 0]
  assert mrpc.text_a[0].startswith('Amrozi accused his brother , whom he')
  assert mrpc.text_b[0].startswith('Referring to him as only " the witness "')
  # A field that starts with a quote would be eaten by a quoting CSV reader.
  mrpc_dev = glue_tsv.load_glue_split('mrpc', 'validation')
  assert mrpc_dev.text_b[0] == (
      '" The foodservice pie business does not fit our long-term growth '
      'strategy .')
  # The row the found copy lacked is present.
  assert any(t.startswith('Officials at Brandeis') for t in mrpc.text_a)

  cola = glue_tsv.load_glue_split('cola', 'validation')
  assert cola.text_a[0] == 'The sailors rode the breeze clear of the rocks.'


def test_stsb_scores():
  stsb = glue_tsv.load_glue_split('stsb', 'train')
  assert stsb.labels[:2].tolist() == pytest.approx([5.0, 3.8])
  assert stsb.text_a[0] == 'A plane is taking off.'


@pytest.mark.skipif(not os.path.isdir(SHARED_GLUE_DIR),
                    reason='shared GLUE data (../shared/data/glue) is absent')
def test_qnli_from_shared_dir():
  dev = glue_tsv.load_glue_split('qnli', 'validation', SHARED_GLUE_DIR)
  assert len(dev) == 5463
  assert np.bincount(dev.labels).tolist() == [2702, 2761]
  assert len(glue_tsv.load_glue_split('qnli', 'test', SHARED_GLUE_DIR)) == 5463


def test_missing_file_says_where_to_get_it(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    glue_tsv.load_glue_split('mnli', 'validation_matched', str(tmp_path))
  message = str(error.value)
  assert str(tmp_path / 'MNLI' / 'dev_matched.tsv') in message
  assert "'glue/mnli'" in message and 'download_glue_data.py' in message
  assert 'not vendored' in message


def _write(path, text):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text, encoding='utf-8')
  return path


def test_empty_file(tmp_path):
  path = _write(tmp_path / 'RTE' / 'dev.tsv', '')
  with pytest.raises(ValueError, match=re.escape(f'{path}: file is empty')):
    glue_tsv.load_glue_split('rte', 'validation', str(tmp_path))


def test_header_only_file(tmp_path):
  path = _write(tmp_path / 'RTE' / 'dev.tsv',
                'index\tsentence1\tsentence2\tlabel\n')
  with pytest.raises(ValueError, match=re.escape(f'{path}: file has no')):
    glue_tsv.load_glue_split('rte', 'validation', str(tmp_path))


def test_short_row_names_file_and_line(tmp_path):
  path = _write(tmp_path / 'RTE' / 'train.tsv',
                'index\tsentence1\tsentence2\tlabel\n'
                '0\ta\tb\tentailment\n'
                '1\tonly one sentence\n')
  with pytest.raises(ValueError,
                     match=re.escape(f'{path}:3: expected at least 4')):
    glue_tsv.load_glue_split('rte', 'train', str(tmp_path))


def test_unknown_label_names_file_line_value_and_valid_labels(tmp_path):
  path = _write(tmp_path / 'RTE' / 'train.tsv',
                'index\tsentence1\tsentence2\tlabel\n'
                '0\ta\tb\tentailment\n'
                '1\tc\td\tneutral\n')
  with pytest.raises(ValueError) as error:
    glue_tsv.load_glue_split('rte', 'train', str(tmp_path))
  message = str(error.value)
  assert f'{path}:3' in message and "'neutral'" in message
  assert "['entailment', 'not_entailment']" in message


def test_bad_score_and_missing_column(tmp_path):
  path = _write(tmp_path / 'STS-B' / 'dev.tsv',
                'index\tsentence1\tsentence2\tscore\n0\ta\tb\thigh\n')
  with pytest.raises(ValueError, match=re.escape(f'{path}:2: STS-B score')):
    glue_tsv.load_glue_split('stsb', 'validation', str(tmp_path))
  path = _write(tmp_path / 'WNLI' / 'dev.tsv',
                'index\tsentence1\tsentence2\n0\ta\tb\n')
  with pytest.raises(ValueError, match=r"lacks column\(s\) \['label'\]"):
    glue_tsv.load_glue_split('wnli', 'validation', str(tmp_path))


def test_mnli_and_qqp_layouts_by_header_name(tmp_path):
  """Columns are found by name: MNLI's extra columns, QQP's 'id'."""
  mnli_header = ['index', 'promptID', 'pairID', 'genre',
                 'sentence1_binary_parse', 'sentence2_binary_parse',
                 'sentence1_parse', 'sentence2_parse', 'sentence1',
                 'sentence2', 'label1', 'gold_label']
  rows = [['7', 'p', 'q', 'fiction', '( a )', '( b )', '(S a)', '(S b)',
           'A "quoted" premise.', 'A hypothesis.', 'neutral', 'neutral'],
          ['8', 'p', 'q', 'slate', '( c )', '( d )', '(S c)', '(S d)',
           'Premise two.', 'Hypothesis two.', 'contradiction',
           'contradiction']]
  path = tmp_path / 'MNLI' / 'dev_matched.tsv'
  path.parent.mkdir()
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f, delimiter='\t', quoting=csv.QUOTE_NONE,
                        escapechar=None, quotechar=None, lineterminator='\n')
    writer.writerows([mnli_header] + rows)
  mnli = glue_tsv.load_glue_split('mnli', 'validation_matched', str(tmp_path))
  assert mnli.text_a == ['A "quoted" premise.', 'Premise two.']
  assert mnli.text_b == ['A hypothesis.', 'Hypothesis two.']
  assert mnli.labels.tolist() == [1, 2]
  assert mnli.index.tolist() == [7, 8]

  _write(tmp_path / 'QQP' / 'test.tsv',
         'id\tquestion1\tquestion2\n0\tWhy?\tHow?\n1\tWho?\tWhom?\n')
  qqp = glue_tsv.load_glue_split('qqp', 'test', str(tmp_path))
  assert qqp.labels is None and qqp.text_b == ['How?', 'Whom?']
