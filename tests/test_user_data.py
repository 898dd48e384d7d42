"""A user's own data (task=csv): split files, a split column, formats, labels."""

import csv
import json
import os
import re

import numpy as np
import pytest

from adapter_bert import errors
from adapter_bert import tasks
from adapter_bert.data import extra
from configs import extra as extra_configs
from tests.conftest import REPO

LABELS = ('neg', 'pos', 'neutral')


def _rows(n, offset=0, labels=LABELS):
  return [dict(id=str(offset + i), title=f'title {offset + i}',
               body=f'body number {offset + i} of the set',
               label=labels[(offset + i) % len(labels)]) for i in range(n)]


def _write(path, rows, fmt='csv'):
  if fmt == 'jsonl':
    with open(path, 'w', encoding='utf-8') as f:
      f.writelines(json.dumps(r) + '\n' for r in rows)
    return str(path)
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]),
                            delimiter='\t' if fmt == 'tsv' else ',')
    writer.writeheader()
    writer.writerows(rows)
  return str(path)


def _spec(**kwargs):
  spec = dict(text_columns='title,body', label_column='label')
  spec.update(kwargs)
  return spec


def _assert_as_given(examples, rows):
  """Texts, labels and row numbers of a split are the file's, in order."""
  assert examples.text_a == [r['title'] for r in rows]
  assert examples.text_b == [r['body'] for r in rows]
  names = [examples.label_names[i] for i in examples.labels]
  assert names == [r['label'] for r in rows]
  np.testing.assert_array_equal(examples.index, np.arange(len(rows)))


def test_split_files_are_used_as_given(tmp_path):
  files = {'train': _rows(40), 'dev': _rows(9, 100), 'test': _rows(7, 200)}
  paths = {k: _write(tmp_path / f'{k}.csv', v) for k, v in files.items()}
  task = tasks.get_task('csv', csv_spec=_spec(
      train_path=paths['train'], dev_path=paths['dev'],
      test_path=paths['test']))
  assert task.label_names == tuple(sorted(LABELS))
  assert task.eval_splits == ('validation',) and task.test_splits == ('test',)
  _assert_as_given(task.load_split('train'), files['train'])
  _assert_as_given(task.load_split('validation'), files['dev'])
  _assert_as_given(task.load_split('test'), files['test'])
  notes = task.describe()
  assert notes['split'] == 'files as given'
  assert notes['rows'] == {'train': 40, 'validation': 9, 'test': 7}
  assert notes['files']['validation'] == paths['dev']


def test_test_file_is_optional(tmp_path):
  task = tasks.get_task('csv', csv_spec=_spec(
      train_path=_write(tmp_path / 'train.csv', _rows(30)),
      dev_path=_write(tmp_path / 'dev.csv', _rows(6, 50))))
  assert task.test_splits == ()
  assert len(task.load_split('validation')) == 6


def test_split_column_names_each_rows_split(tmp_path):
  rows = _rows(60)
  names = ['train', 'dev', 'TRAIN', 'test', 'validation']
  for i, row in enumerate(rows):
    row['fold'] = names[i % len(names)]
  path = _write(tmp_path / 'all.csv', rows)
  task = tasks.get_task('csv', csv_spec=_spec(path=path, split_column='fold'))
  expected = {'train': ('train', 'TRAIN'), 'validation': ('dev', 'validation'),
              'test': ('test',)}
  for split, values in expected.items():
    examples = task.load_split(split)
    kept = [(i, r) for i, r in enumerate(rows) if r['fold'] in values]
    assert examples.text_a == [r['title'] for _, r in kept]
    assert [examples.label_names[l] for l in examples.labels] == [
        r['label'] for _, r in kept]
    np.testing.assert_array_equal(examples.index, [i for i, _ in kept])
  assert "column 'fold'" in task.describe()['split']


def test_unknown_split_value_is_named(tmp_path):
  rows = _rows(20)
  for i, row in enumerate(rows):
    row['fold'] = ('train', 'dev', 'holdout')[i % 3]
  path = _write(tmp_path / 'all.csv', rows)
  with pytest.raises(errors.UserError, match=r"all.csv: split column 'fold' "
                     r".*\['holdout'\]"):
    tasks.get_task('csv', csv_spec=_spec(path=path, split_column='fold'))


@pytest.mark.parametrize('fmt', ['tsv', 'jsonl'])
def test_tsv_and_json_lines_read_like_csv(tmp_path, fmt):
  rows = {'train': _rows(30), 'dev': _rows(6, 50)}
  loaded = {}
  for kind in ('csv', fmt):
    paths = {k: _write(tmp_path / f'{k}.{kind}', v, kind)
             for k, v in rows.items()}
    loaded[kind] = extra.load_extra_splits(extra.csv_dataset(_spec(
        train_path=paths['train'], dev_path=paths['dev'])))
  for split in ('train', 'validation'):
    a, b = loaded['csv'][split], loaded[fmt][split]
    assert (a.text_a, a.text_b, a.label_names) == (b.text_a, b.text_b,
                                                   b.label_names)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_json_lines_numbers_and_missing_keys(tmp_path):
  path = tmp_path / 'train.jsonl'
  records = [dict(text=f'text {i}', label=i % 2) for i in range(20)]
  records.append(dict(text='no label here'))
  records.append(dict(text=None, label=1))
  path.write_text(''.join(json.dumps(r) + '\n' for r in records))
  table = extra.read_labeled_table(str(path), extra.csv_dataset(
      dict(path=str(path))))
  assert sorted(set(table.labels)) == ['0', '1'] and len(table) == 20
  assert table.dropped == {extra.MISSING_FIELD: 2}


def test_dev_label_not_in_train_is_refused_naming_file_and_label(tmp_path):
  train = _write(tmp_path / 'train.csv', _rows(30, labels=('neg', 'pos')))
  dev_rows = _rows(6, 50, labels=('neg', 'pos'))
  dev_rows[2]['label'] = 'mixed'
  dev = _write(tmp_path / 'dev.csv', dev_rows)
  with pytest.raises(errors.UserError) as error:
    tasks.get_task('csv', csv_spec=_spec(train_path=train, dev_path=dev))
  message = str(error.value)
  assert message.startswith(dev) and "label 'mixed'" in message
  assert train in message


def test_config_takes_split_files_or_one_file(tmp_path):
  config = extra_configs.get_config(
      'task=csv,train_path=a.csv,dev_path=b.csv,test_path=c.csv,'
      'text_columns=title+body')
  assert (config.csv.train_path, config.csv.dev_path, config.csv.test_path,
          config.csv.path) == ('a.csv', 'b.csv', 'c.csv', '')
  assert config.csv.text_columns == 'title,body'
  config = extra_configs.get_config('task=csv,csv_path=all.csv,'
                                    'split_column=fold,format=jsonl')
  assert (config.csv.split_column, config.csv.format) == ('fold', 'jsonl')
  with pytest.raises(ValueError, match='not both'):
    extra_configs.get_config('task=csv,csv_path=a.csv,train_path=b.csv')
  with pytest.raises(ValueError, match='dev_path'):
    extra_configs.get_config('task=csv,train_path=b.csv')
  with pytest.raises(ValueError, match='split_column'):
    extra_configs.get_config('task=csv,train_path=a.csv,dev_path=b.csv,'
                             'split_column=fold')


def test_unlabelled_test_file_is_predicted_not_scored(tmp_path):
  test_rows = [{k: v for k, v in r.items() if k != 'label'}
               for r in _rows(5, 300)]
  task = tasks.get_task('csv', csv_spec=_spec(
      train_path=_write(tmp_path / 'train.csv', _rows(30)),
      dev_path=_write(tmp_path / 'dev.csv', _rows(6, 50)),
      test_path=_write(tmp_path / 'test.csv', test_rows)))
  assert task.load_split('test').labels is None
  assert 'unlabelled' in task.describe()['summary']


def test_readme_example_config_parses():
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    section = f.read().split('## Your own data, predictions and adapter cards',
                             1)[1]
  arg = re.search(r'configs/extra\.py:(task=csv,\S+)', section).group(1)
  config = extra_configs.get_config(arg)
  assert config.csv.dev_path and config.csv.text_columns == 'title,body'
  assert '--artifact runs/reviews/artifact' in section


def test_labelled_test_split_records_its_class_counts(tmp_path):
  from adapter_bert import train  # pylint: disable=g-import-not-at-top
  test_rows = _rows(9, 300)
  config = extra_configs.get_config(
      'task=csv,train_path={},dev_path={},test_path={},text_columns=title,'
      'label_column=label'.format(
          _write(tmp_path / 'train.csv', _rows(30)),
          _write(tmp_path / 'dev.csv', _rows(6, 50)),
          _write(tmp_path / 'test.csv', test_rows)))
  config.update(backbone='tiny', max_steps=2, batch_size=8, eval_every=2,
                checkpoint_every=2, max_length=32, predict=True,
                cache_dir=str(tmp_path / 'tokens'))
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  counts = results['test_predictions']['test']
  # Label ids follow the training file's order of first appearance.
  expected = {name: sum(r['label'] == name for r in test_rows)
              for name in LABELS}
  assert counts['gold'] == expected
  assert sum(counts['predicted'].values()) == len(test_rows)
  assert set(results['dev_predictions']['gold']) == set(LABELS)
