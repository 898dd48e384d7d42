"""experiments/predict.py and the adapter card, on tiny-backbone artifacts."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import cards
from adapter_bert import errors
from adapter_bert import inference
from adapter_bert import train
from configs import extra as extra_configs
from experiments import predict
from tests import tiny_artifacts
from tests.conftest import REPO

WORDS = {'neg': 'awful bad terrible', 'pos': 'great good lovely',
         'mid': 'plain okay average'}


def _write(path, n, offset, labels=True):
  names = sorted(WORDS)
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['id', 'title', 'body'] + (['label'] if labels else []))
    for i in range(offset, offset + n):
      label = names[i % 3]
      words = WORDS[label].split()
      row = [i, f'item {i} {words[i % 3]}',
             f'{words[(i + 1) % 3]} words number {i}' + ' filler' * (i % 7)]
      writer.writerow(row + ([label] if labels else []))
  return str(path)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A finished task=csv run (split files) on the tiny backbone."""
  root = tmp_path_factory.mktemp('predict')
  paths = {'train': _write(root / 'train.csv', 48, 0),
           'dev': _write(root / 'dev.csv', 13, 100),
           'test': _write(root / 'test.csv', 11, 200)}
  config = extra_configs.get_config(
      f"task=csv,train_path={paths['train']},dev_path={paths['dev']},"
      f"test_path={paths['test']},text_columns=title+body,backbone=tiny,m=4,"
      'lr=0.03')
  config.cache_dir = str(root / 'tokens')
  config.max_steps = 60
  config.eval_every = 30
  config.warmup_frac = 0.0
  config.pooling = 'mean'  # Learns in 60 steps on the random tiny backbone.
  config.batch_size = 8
  config.eval_batch_size = 8  # dev: a full batch and a padded one.
  config.max_length = 32
  config.log_every = 1
  workdir = root / 'run'
  argv = ['experiments/train.py', '--config', 'configs/extra.py:task=csv',
          f'--workdir={workdir}']
  old_argv, sys.argv = sys.argv, argv
  try:
    results = train.train_and_evaluate(config, str(workdir))
  finally:
    sys.argv = old_argv
  return dict(root=root, paths=paths, results=results, workdir=workdir,
              artifact=str(workdir / 'artifact'), argv=argv)


def test_predict_reproduces_the_runs_dev_and_test_predictions(run):
  output = run['root'] / 'dev_predictions.csv'
  done = subprocess.run(
      [sys.executable, '-m', 'experiments.predict',
       f"--artifact={run['artifact']}", f"--input={run['paths']['dev']}",
       f'--output={output}'], cwd=REPO, capture_output=True, text=True,
      env=dict(os.environ, PYTHONPATH=REPO))
  assert done.returncode == 0, done.stderr
  assert 'PyTorch was not found' not in done.stderr
  dev = pd.read_csv(run['paths']['dev'], dtype=str, keep_default_na=False)
  out = pd.read_csv(output, dtype=str, keep_default_na=False)
  labels = ('mid', 'neg', 'pos')
  assert list(out.columns) == list(dev.columns) + ['prediction'] + [
      f'probability_{l}' for l in labels]
  pd.testing.assert_frame_equal(out[dev.columns], dev)
  probabilities = out[[f'probability_{l}' for l in labels]].astype(float)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
  accuracy = float(np.mean(out['prediction'] == dev['label']))
  assert accuracy == run['results']['dev']['accuracy']

  # The test file: row for row what the run itself wrote.
  test = predict.predict_file(run['artifact'], run['paths']['test'],
                              str(run['root'] / 'test_predictions.jsonl'),
                              progress=False)
  written = pd.read_csv(run['workdir'] / 'predictions' / 'test.tsv', sep='\t',
                        dtype=str)
  assert test['prediction'].tolist() == written['prediction'].tolist()
  assert len(set(test['prediction'])) > 1  # Not a constant classifier.
  assert float(np.mean(test['prediction'] == test['label'])) == (
      run['results']['test']['test']['accuracy'])
  lines = (run['root'] / 'test_predictions.jsonl').read_text().splitlines()
  assert json.loads(lines[0])['prediction'] == test['prediction'][0]


def test_predict_refuses_an_input_without_the_text_columns(run, tmp_path):
  bad = tmp_path / 'bad.csv'
  bad.write_text('id,headline\n1,hello\n')
  done = subprocess.run(
      [sys.executable, '-m', 'experiments.predict',
       f"--artifact={run['artifact']}", f'--input={bad}',
       f"--output={tmp_path / 'out.csv'}"], cwd=REPO, capture_output=True,
      text=True, env=dict(os.environ, PYTHONPATH=REPO))
  assert done.returncode == 2
  message = done.stderr.strip().splitlines()[-1]
  assert message.startswith('error: ') and "['title', 'body']" in message
  assert 'bad.csv' in message and not (tmp_path / 'out.csv').exists()
  # Mapping its own column names with --text_columns works.
  out = predict.predict_file(run['artifact'], str(bad),
                             str(tmp_path / 'out.tsv'),
                             text_columns=['headline', 'id'], progress=False)
  assert len(out) == 1 and out['prediction'][0] in ('mid', 'neg', 'pos')
  with pytest.raises(errors.UserError, match='trained on 2'):
    predict.predict_file(run['artifact'], str(bad), str(tmp_path / 'x.csv'),
                         text_columns=['headline'], progress=False)


def test_card_fields_equal_results(run):
  card = cards.read_card(os.path.join(run['artifact'], cards.CARD_FILE))
  results = json.loads((run['workdir'] / 'results.json').read_text())
  fields = card['fields']
  assert fields['task'] == 'csv' and fields['labels'] == 'mid, neg, pos'
  assert fields['backbone'] == 'tiny' and fields['method'] == 'adapter'
  assert fields['m'] == str(results['config']['m']) == '4'
  assert fields['placement'] == results['config']['placement']
  assert int(fields['trained parameters']) == results['trainable_params']
  assert float(fields['trained share']) == results['trainable_share']
  assert fields['command'] == ('python -m experiments.train --config '
                               'configs/extra.py:task=csv '
                               f"--workdir={run['workdir']}")
  assert fields['date'].endswith('UTC')
  assert {'python', 'jax', 'flax', 'transformers'} <= set(fields['software'])
  expected = {('dev', k): v for k, v in results['dev'].items()}
  expected.update({('test:test', k): v
                   for k, v in results['test']['test'].items()})
  assert card['metrics'] == expected and expected
  text = open(os.path.join(run['artifact'], cards.CARD_FILE)).read()
  assert 'python -m experiments.predict --artifact' in text
  assert '--text_columns title,body' in text
  snippet = text.split('```python\n', 1)[1].split('```', 1)[0]
  exec(compile(snippet, 'README.md', 'exec'), {})  # pylint: disable=exec-used
  assert "['first text'], ['second text']" in snippet


@pytest.mark.parametrize('task', ['rte', 'stsb'])
def test_predict_on_glue_artifacts_uses_their_columns(tmp_path, task):
  path = tiny_artifacts.make_artifact(tmp_path / 'artifact', task=task)
  rows = pd.DataFrame(dict(sentence1=['A man is here.', 'Two dogs run.'],
                           sentence2=['Someone is here.', 'Cats sleep.']))
  rows.to_csv(tmp_path / 'in.csv', index=False)
  out = predict.predict_file(path, str(tmp_path / 'in.csv'),
                             str(tmp_path / 'out.csv'), progress=False)
  loaded = artifacts.load(path)
  tokenizer = backbones.load_tokenizer(loaded.backbone)
  arrays = inference.encode(tokenizer, rows['sentence1'], rows['sentence2'],
                            64)
  batch = dict(input_ids=arrays['input_ids'],
               token_type_ids=arrays['token_type_ids'],
               attention_mask=(arrays['input_ids'] > 0).astype(np.int32))
  logits = tiny_artifacts.apply(loaded, batch)
  if task == 'stsb':
    assert list(out.columns)[-1] == 'score'
    np.testing.assert_allclose(out['score'], logits[:, 0], atol=1e-5)
  else:
    names = tiny_artifacts.LABELS['rte']
    assert out['prediction'].tolist() == [names[i] for i in
                                          logits.argmax(-1)]


def test_tokenizer_import_prints_no_framework_notice():
  """No "PyTorch was not found" (torch hidden here); real warnings still show."""
  script = (
      "import sys; sys.modules['torch'] = None; "
      "sys.modules['tensorflow'] = None\n"
      'from adapter_bert import backbones\n'
      "tok = backbones.load_tokenizer(backbones.resolve('minilm-l6'))\n"
      "print(tok(['quiet please'])['input_ids'])\n"
      'from transformers.utils import logging\n'
      "logging.get_logger('transformers').warning('a real warning')\n")
  env = {k: v for k, v in os.environ.items()
         if k != 'TRANSFORMERS_NO_ADVISORY_WARNINGS'}
  done = subprocess.run([sys.executable, '-c', script], cwd=REPO, env=dict(
      env, PYTHONPATH=REPO), capture_output=True, text=True, check=True)
  output = done.stdout + done.stderr
  assert '[[101,' in done.stdout
  assert 'PyTorch' not in output and 'TensorFlow' not in output
  assert 'a real warning' in output
