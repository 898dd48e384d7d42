"""Degenerate user data is refused or reported, never trained on silently."""

import csv
import json
import os

import pytest

from adapter_bert import errors
from adapter_bert import tasks
from adapter_bert import train
from adapter_bert.data import extra
from configs import extra as extra_configs


def _write(path, header, rows):
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return str(path)


def _pairs(n, labels=('neg', 'pos'), offset=0):
  return [(f'text {offset + i} is here', labels[i % len(labels)])
          for i in range(n)]


def _config(tmp_path, arg, **overrides):
  config = extra_configs.get_config(f'{arg},backbone=tiny,m=4')
  config.cache_dir = str(tmp_path / 'tokens')
  config.max_steps = 2
  config.batch_size = 4
  config.eval_batch_size = 8
  config.max_length = 32
  config.log_every = 1
  for key, value in overrides.items():
    config[key] = value
  return config


def test_reliability_single_class_csv_is_refused(tmp_path):
  path = _write(tmp_path / 'one.csv', ['text', 'label'],
                _pairs(40, labels=('pos',)))
  config = _config(tmp_path, f'task=csv,csv_path={path}')
  with pytest.raises(errors.UserError,
                     match=r"one.csv: only class 'pos' .* at least two"):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not os.path.exists(tmp_path / 'run' / 'results.json')


def test_reliability_dev_or_test_label_unseen_in_train_is_refused(tmp_path):
  train_path = _write(tmp_path / 'train.csv', ['text', 'label'], _pairs(20))
  dev = _write(tmp_path / 'dev.csv', ['text', 'label'], _pairs(4))
  test = _write(tmp_path / 'test.csv', ['text', 'label'],
                _pairs(4) + [('odd one', 'unseen')])
  with pytest.raises(errors.UserError,
                     match=r"test.csv: label 'unseen' .*does not occur"):
    tasks.get_task('csv', csv_spec=dict(train_path=train_path, dev_path=dev,
                                        test_path=test))


def test_reliability_dropped_rows_are_counted_printed_and_recorded(
    tmp_path, capsys):
  path = tmp_path / 'data.csv'
  rows = _pairs(60)
  lines = ['text,label'] + [f'{t},{l}' for t, l in rows]
  lines += [',pos', '   ,neg',      # Empty text cells.
            'a row without its label field',  # A missing field.
            'a row with a blank label,']     # An unusable label.
  path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
  table = extra.read_labeled_table(str(path), extra.csv_dataset(
      dict(path=str(path))))
  assert len(table) == 60
  assert table.dropped == {extra.EMPTY_TEXT: 2, extra.MISSING_FIELD: 1, '': 1}

  config = _config(tmp_path, f'task=csv,csv_path={path}', predict=False)
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  printed = capsys.readouterr().out
  assert 'dropped 4 rows' in printed and '1 missing field' in printed
  assert '2 empty text' in printed
  recorded = json.loads((tmp_path / 'run' / 'results.json').read_text())
  assert recorded['data']['files'] == {'all': str(path)}
  assert recorded['data']['dropped'] == {'all': {
      extra.EMPTY_TEXT: 2, extra.MISSING_FIELD: 1, '': 1}}
  assert recorded['data']['rows'] == {'train': 48, 'validation': 6,
                                      'test': 6}
  assert results['data'] == recorded['data']


def test_reliability_more_than_two_text_columns_are_refused(tmp_path):
  path = _write(tmp_path / 'wide.csv', ['a', 'b', 'c', 'label'],
                [('x', 'y', 'z', 'pos'), ('u', 'v', 'w', 'neg')] * 10)
  with pytest.raises(errors.UserError, match=r"\['a', 'b', 'c'\].*one "
                     'column .* or two'):
    tasks.get_task('csv', csv_spec=dict(path=path, text_columns='a,b,c'))


def test_reliability_max_length_beyond_position_embeddings_fails_at_load(
    tmp_path):
  path = _write(tmp_path / 'data.csv', ['text', 'label'], _pairs(40))
  # The tiny backbone has 512 positions; 600-token batches would fail inside
  # the model, at the first batch holding a longer text.
  config = _config(tmp_path, f'task=csv,csv_path={path}', max_length=600)
  with pytest.raises(errors.UserError, match=r'max_length 600 exceeds the '
                     r"backbone's 512 position embeddings"):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  metrics = tmp_path / 'run' / 'metrics.jsonl'
  assert not metrics.exists() or '"train"' not in metrics.read_text()


def test_reliability_rare_class_error_for_csv_advises_what_csv_has(tmp_path):
  path = _write(tmp_path / 'rare.csv', ['text', 'label'],
                _pairs(40) + [('lonely', 'rare')])
  with pytest.raises(errors.UserError) as error:
    tasks.get_task('csv', csv_spec=dict(path=path))
  message = str(error.value)
  assert 'Stratified split failed' in message and "'rare', 1" in message
  assert 'label_map' not in message and 'train_path' in message
  # A registry dataset's error still points at its label_map.
  spec = extra.ExtraDataset(name='r', files={'all': 'rare.csv'},
                            text_columns=('text',), label_column='label',
                            source='somewhere')
  with pytest.raises(errors.UserError, match='label_map'):
    extra.load_extra_splits(spec, str(tmp_path))
