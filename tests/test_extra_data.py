"""Extra classification data: the generic CSV reader, splits, the registry."""

import collections
import csv
import os

import numpy as np
import pytest

from adapter_bert.data import extra

SHARED_EXTRA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
    'shared', 'data', 'extra')

# Synthetic DFE-like file: cp1252 bytes, CR record separators, a quoted field
# with an LF inside, raw labels needing a merge, and rows that must be dropped.
_LABELS = ['Y', 'Yes', 'N', 'No', 'NA', 'N/A', '']


def _synthetic_rows(n=200):
  rows = []
  for i in range(n):
    raw = _LABELS[i % len(_LABELS)]
    text = f'Tweet {i} about caf\u00e9 \u2019climate\u2019'
    if i == 3:
      text = 'line one\nline two, with a comma'
    if i == 8:
      text = '   '  # Blank text: dropped even though its label is usable.
    rows.append((text, raw, '0.9'))
  return rows


@pytest.fixture
def synthetic_csv(tmp_path):
  path = tmp_path / 'tweets.csv'
  with open(path, 'w', encoding='cp1252', newline='') as f:
    writer = csv.writer(f, lineterminator='\r')
    writer.writerow(['tweet', 'existence', 'existence.confidence'])
    writer.writerows(_synthetic_rows())
  assert b'\r\n' not in path.read_bytes()
  return path


_MAP3 = {'Y': 'yes', 'Yes': 'yes', 'N': 'no', 'No': 'no', 'NA': 'na',
         'N/A': 'na'}


def _spec(name, label_map=None):
  return extra.ExtraDataset(
      name=name, files={'all': 'tweets.csv'}, text_columns=('tweet',),
      label_column='existence', encoding='cp1252', label_map=label_map)


def test_reader_decodes_merges_and_counts_drops(synthetic_csv):
  table = extra.read_labeled_table(str(synthetic_csv), _spec('s', _MAP3))
  raw = [r[1] for r in _synthetic_rows()]
  expected_kept = sum(1 for i, l in enumerate(raw) if l and i != 8)
  assert len(table) == expected_kept
  assert table.dropped == collections.Counter({'': raw.count(''),
                                               extra.EMPTY_TEXT: 1})
  assert set(table.labels) == {'yes', 'no', 'na'}
  assert table.labels.count('yes') == sum(
      l in ('Y', 'Yes') for i, l in enumerate(raw) if i != 8)
  # Quoted LF survives inside the text; cp1252 decodes the curly quote.
  texts = dict(zip(table.rows.tolist(), table.texts[0]))
  assert texts[3] == 'line one\nline two, with a comma'
  assert texts[0] == 'Tweet 0 about caf\u00e9 \u2019climate\u2019'
  assert 8 not in texts


def test_unmapped_labels_are_dropped(synthetic_csv):
  two_way = {'Y': 'yes', 'Yes': 'yes', 'N': 'no', 'No': 'no'}
  table = extra.read_labeled_table(str(synthetic_csv), _spec('s', two_way))
  raw = [r[1] for r in _synthetic_rows()]
  assert set(table.labels) == {'yes', 'no'}
  for value in ('NA', 'N/A', ''):
    assert table.dropped[value] == raw.count(value)
  assert len(table) + sum(table.dropped.values()) == len(raw)


def test_stratified_splits_sizes_and_determinism(synthetic_csv, tmp_path):
  spec = _spec('s', _MAP3)
  splits = extra.load_extra_splits(spec, str(tmp_path), seed=0)
  sizes = {k: len(v) for k, v in splits.items()}
  total = sum(sizes.values())
  assert total == len(extra.read_labeled_table(str(synthetic_csv), spec))
  for split in ('validation', 'test'):
    assert abs(sizes[split] - 0.1 * total) <= 1
  # Disjoint and complete, by source row.
  rows = np.concatenate([s.index for s in splits.values()])
  assert len(np.unique(rows)) == total
  # Stratified: each split has every class in about the same proportion.
  for examples in splits.values():
    assert examples.label_names == ('na', 'no', 'yes')
    shares = np.bincount(examples.labels, minlength=3) / len(examples)
    overall = np.bincount(np.concatenate(
        [s.labels for s in splits.values()]), minlength=3) / total
    np.testing.assert_allclose(shares, overall, atol=0.05)
  again = extra.load_extra_splits(spec, str(tmp_path), seed=0)
  other = extra.load_extra_splits(spec, str(tmp_path), seed=1)
  for split in splits:
    np.testing.assert_array_equal(splits[split].index, again[split].index)
    assert splits[split].text_a == again[split].text_a
  assert not np.array_equal(splits['test'].index, other['test'].index)


def test_copies_of_a_text_stay_in_one_split(tmp_path):
  # 60 texts, each 1-4 times, differing in case and spacing (retweets).
  rng = np.random.default_rng(0)
  rows = [('text', 'label')]
  for i in range(60):
    for copy in range(int(rng.integers(1, 5))):
      text = f'Tweet {i} about the  weather' if copy % 2 else f'tweet {i} ABOUT the weather'
      rows.append((text, 'a' if i % 3 else 'b'))
  with open(tmp_path / 'd.csv', 'w', encoding='utf-8', newline='') as f:
    csv.writer(f).writerows(rows)
  spec = extra.ExtraDataset(name='d', files={'all': 'd.csv'},
                            text_columns=('text',), label_column='label')
  splits = extra.load_extra_splits(spec, str(tmp_path))
  owner = {}
  for split, examples in splits.items():
    for text in examples.text_a:
      key = ' '.join(text.lower().split())
      assert owner.setdefault(key, split) == split, key
  assert sum(len(s) for s in splits.values()) == len(rows) - 1
  assert all(len(s) > 0 for s in splits.values())


def test_grouped_split_handles_small_files(tmp_path):
  # 27 distinct texts, 9 per class: too few for 10 folds, fine for 80/10/10.
  rows = [('text', 'label')] + [(f'text {i}', 'abc'[i % 3]) for i in range(27)]
  with open(tmp_path / 's.csv', 'w', encoding='utf-8', newline='') as f:
    csv.writer(f).writerows(rows)
  spec = extra.ExtraDataset(name='s', files={'all': 's.csv'},
                            text_columns=('text',), label_column='label')
  splits = extra.load_extra_splits(spec, str(tmp_path))
  assert [len(s) for s in splits.values()] == [21, 3, 3]
  assert sorted(np.bincount(splits['test'].labels).tolist()) == [1, 1, 1]


def test_headerless_tsv_with_literal_quotes(tmp_path):
  (tmp_path / 'sms').mkdir()
  lines = [f'{"spam" if i % 4 == 0 else "ham"}\t"Quoted" message {i}'
           for i in range(40)]
  (tmp_path / 'sms' / 'data.tsv').write_text('\n'.join(lines) + '\n',
                                             encoding='utf-8')
  spec = extra.ExtraDataset(
      name='tsv', files={'all': 'sms/data.tsv'}, text_columns=('text',),
      label_column='label', delimiter='\t', quoting=csv.QUOTE_NONE,
      column_names=('label', 'text'))
  splits = extra.load_extra_splits(spec, str(tmp_path))
  assert [len(s) for s in splits.values()] == [32, 4, 4]
  assert splits['train'].text_a[0].startswith('"Quoted" message')


def test_label_pattern(tmp_path):
  rows = [('t%d' % i, f'{"FOR" if i % 2 else "AGAINST"}: long explanation')
          for i in range(30)]
  with open(tmp_path / 'p.csv', 'w', encoding='utf-8', newline='') as f:
    csv.writer(f).writerows([('tweet', 'q1')] + rows + [('x', 'garbage')])
  spec = extra.ExtraDataset(
      name='p', files={'all': 'p.csv'}, text_columns=('tweet',),
      label_column='q1', label_pattern='(FOR|AGAINST):',
      label_map={'FOR': 'for', 'AGAINST': 'against'})
  table = extra.read_labeled_table(str(tmp_path / 'p.csv'), spec)
  assert sorted(set(table.labels)) == ['against', 'for']
  assert table.dropped == collections.Counter({'garbage': 1})


def test_train_test_files_keep_test_and_split_validation_from_train(tmp_path):
  for name, n in (('train.csv', 100), ('test.csv', 30)):
    with open(tmp_path / name, 'w', encoding='utf-8', newline='') as f:
      csv.writer(f).writerows([('id', 'label', 'text')] + [
          (i, 'ab'[i % 2], f'{name} {i}') for i in range(n)])
  spec = extra.ExtraDataset(
      name='tt', files={'train': 'train.csv', 'test': 'test.csv'},
      text_columns=('text',), label_column='label')
  splits = extra.load_extra_splits(spec, str(tmp_path))
  sizes = [len(splits[s]) for s in ('train', 'validation', 'test')]
  assert sizes == [90, 10, 30]
  assert splits['test'].text_a[0] == 'test.csv 0'


def test_rare_class_error_is_clear(tmp_path):
  with open(tmp_path / 'r.csv', 'w', encoding='utf-8', newline='') as f:
    csv.writer(f).writerows([('text', 'label')] + [
        (f't{i}', 'common') for i in range(50)] + [('odd', 'rare')])
  spec = extra.ExtraDataset(name='r', files={'all': 'r.csv'},
                            text_columns=('text',), label_column='label')
  with pytest.raises(ValueError, match=r"Stratified split failed.*'rare', 1"):
    extra.load_extra_splits(spec, str(tmp_path))


def test_registry_covers_the_papers_17_datasets():
  assert len(extra.EXTRA_DATASETS) == 17
  for dataset in extra.EXTRA_DATASETS.values():
    assert dataset.source and dataset.files
    assert 1 <= len(dataset.text_columns) <= 2
  assert extra.get_extra_dataset('Crowdflower Disasters').name == 'disasters'
  assert extra.get_extra_dataset('airline').name == 'crowdflower_airline'
  with pytest.raises(ValueError, match='valid names: 20_newsgroups'):
    extra.get_extra_dataset('imdb')


def test_absent_file_says_what_to_put_where(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    extra.load_extra_splits('sms_spam', str(tmp_path))
  message = str(error.value)
  assert str(tmp_path / 'sms_spam' / 'SMSSpamCollection') in message
  assert 'archive.ics.uci.edu' in message


def test_default_dir_honours_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(extra.ENV_VAR, str(tmp_path))
  assert extra.default_extra_dir() == str(tmp_path)


# name: (kept rows, dropped rows, classes, train/validation/test sizes)
SHARED_EXPECTED = {
    '20_newsgroups': (18846, 0, 20, (10182, 1132, 7532)),
    'corporate_messaging': (3118, 0, 4, (2496, 311, 311)),
    'disasters': (10860, 16, 2, (8699, 1078, 1083)),
    'global_warming': (4225, 1865, 2, (3380, 421, 424)),
    'primary_emotions': (2524, 0, 18, (2023, 249, 252)),
    'progressive_opinion': (1159, 0, 3, (926, 116, 117)),
    'progressive_stance': (1159, 0, 4, (925, 116, 118)),
    'us_economic_performance': (5015, 0, 2, (4011, 502, 502)),
}


@pytest.mark.parametrize('name', sorted(SHARED_EXPECTED))
def test_shared_dataset_loads_and_splits(name):
  if not os.path.isdir(SHARED_EXTRA):
    pytest.skip(f'shared extra data absent ({SHARED_EXTRA}); CI checks out '
                'only the repository')
  kept, dropped, classes, sizes = SHARED_EXPECTED[name]
  tables = extra.read_extra_tables(name, SHARED_EXTRA)
  assert sum(len(t) for t in tables.values()) == kept
  assert sum(sum(t.dropped.values()) for t in tables.values()) == dropped
  splits = extra.load_extra_splits(name, SHARED_EXTRA)
  counts = {k: len(v) for k, v in splits.items()}
  dropped_by_label = sum((t.dropped for t in tables.values()),
                         collections.Counter())
  print(f'{name}: {counts}, {classes} classes, dropped '
        f'{dict(dropped_by_label)}')
  assert tuple(counts.values()) == sizes
  assert len(splits['train'].label_names) == classes
  # No dev or test text is a training text (case and spacing aside).
  normal = lambda texts: {' '.join(t.lower().split()) for t in texts}
  seen = normal(splits['train'].text_a)
  for split in ('validation', 'test'):
    assert not normal(splits[split].text_a) & seen, split
  for examples in splits.values():
    assert set(np.unique(examples.labels)) == set(range(classes))
    assert all(t.strip() for t in examples.text_a)
    if name == 'global_warming':
      # Read as cp1252, not latin-1: no C1 control characters, real quotes.
      assert not any('\x80' <= c <= '\x9f' for t in examples.text_a for c in t)
