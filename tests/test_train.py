"""The training loop: devices, resumption, workdir contents, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from adapter_bert import artifacts
from adapter_bert import train
from configs import glue
from tests.conftest import REPO
from tests.conftest import TINY_ADAPTER_STEP_SETUP


@pytest.fixture(scope='module')
def token_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tokens'))


def _tiny_config(token_cache, **overrides):
  config = glue.get_config('task=rte,backbone=tiny')
  config.cache_dir = token_cache
  config.max_steps = 6
  config.batch_size = 8
  config.eval_batch_size = 64
  config.eval_every = 3
  config.checkpoint_every = 2
  config.log_every = 1
  config.predict = False
  config.max_length = 64
  for key, value in overrides.items():
    config[key] = value
  return config


_STEP_SCRIPT = r'''
import sys, numpy as np, jax
''' + TINY_ADAPTER_STEP_SETUP + r'''
opt_state = tx.init(trainable)
step = train.make_train_step(model, tasks.get_task('rte'), tx)
sharding = data.data_sharding()
losses = []
for i in range(2):
  trainable, opt_state, m = step(trainable, opt_state, frozen,
                                 inference.to_device(batch, sharding),
                                 jax.random.key(i))
  losses.append(float(m['loss']))
out = {k: np.asarray(v) for k, v in param_paths.flatten(trainable).items()}
out['loss'] = np.asarray(losses)
out['devices'] = np.asarray(jax.device_count())
np.savez(sys.argv[1], **out)
'''


def test_step_on_one_and_four_devices_agree(tmp_path):
  results = {}
  for devices in (1, 4):
    env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS=(
        f'--xla_force_host_platform_device_count={devices}'))
    path = tmp_path / f'{devices}.npz'
    subprocess.run([sys.executable, '-c', _STEP_SCRIPT, str(path)], env=env,
                   check=True, cwd=REPO)
    results[devices] = dict(np.load(path))
  assert int(results[4]['devices']) == 4 and int(results[1]['devices']) == 1
  for key, value in results[1].items():
    if key == 'devices':
      continue
    np.testing.assert_allclose(results[4][key], value, atol=1e-5, err_msg=key)


def test_interrupted_run_resumes_to_identical_results(tmp_path, token_cache):
  config = _tiny_config(token_cache)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  partial = train.train_and_evaluate(config, str(tmp_path / 'resumed'),
                                     interrupt_after_step=4)
  assert partial == dict(status='interrupted', step=4)
  assert not (tmp_path / 'resumed' / 'results.json').exists()
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  for key in ('dev', 'best_dev', 'best_step', 'score', 'steps'):
    assert resumed[key] == straight[key], key
  a = artifacts.load(str(tmp_path / 'straight' / 'artifact'))
  b = artifacts.load(str(tmp_path / 'resumed' / 'artifact'))
  for x, y in zip(np.asarray(a.params['classifier']['kernel']),
                  np.asarray(b.params['classifier']['kernel'])):
    np.testing.assert_array_equal(x, y)
  # Train-log lines of the interrupted attempt past step 4 were replaced.
  with open(tmp_path / 'resumed' / 'metrics.jsonl') as f:
    steps = [json.loads(l)['step'] for l in f if '"train"' in l]
  assert steps == list(range(1, 7))


def test_workdir_of_another_config_is_refused(tmp_path, token_cache):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(_tiny_config(token_cache, max_steps=2),
                           workdir, interrupt_after_step=2)
  with pytest.raises(ValueError, match=r'different config.*lr'):
    train.train_and_evaluate(_tiny_config(token_cache, max_steps=2, lr=0.1),
                             workdir)
  results = train.train_and_evaluate(
      _tiny_config(token_cache, max_steps=2, lr=0.1, overwrite=True), workdir)
  assert results['config']['lr'] == 0.1


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, token_cache):
  config = _tiny_config(token_cache, lr=1e38, max_steps=6, warmup_frac=0.0,
                        clip_norm=1e38)
  with pytest.raises(FloatingPointError, match='last good checkpoint'):
    train.train_and_evaluate(config, str(tmp_path / 'nan'))
  results = json.loads((tmp_path / 'nan' / 'results.json').read_text())
  assert results['status'] == 'diverged' and np.isnan(results['score'])


def test_artifact_predictions_match_and_wrong_backbone_is_refused(
    tmp_path, token_cache):
  config = _tiny_config(token_cache, max_steps=2, eval_every=2)
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  loaded = artifacts.load(str(tmp_path / 'run' / 'artifact'))
  assert loaded.label_names == ('entailment', 'not_entailment')
  size = os.path.getsize(tmp_path / 'run' / 'artifact' / 'params.msgpack')
  assert size < 0.1 * results['total_params'] * 4  # adapters, LNs, head only
  # Refused on a backbone of another shape (minilm: hidden 384, not 32).
  with pytest.raises(ValueError, match='hidden_size: artifact 32'):
    artifacts.load(str(tmp_path / 'run' / 'artifact'), backbone='minilm-l6')


def test_bad_config_values_list_valid_ones():
  with pytest.raises(ValueError, match='valid tasks'):
    glue.get_config('task=imdb')
  with pytest.raises(ValueError, match='valid methods'):
    glue.get_config('method=prompt_tuning')
  with pytest.raises(ValueError, match='known keys'):
    glue.get_config('bottleneck=3')


def test_main_command_end_to_end(tmp_path, token_cache):
  """experiments/train.py on the tiny backbone, including test predictions."""
  workdir = tmp_path / 'e2e'
  env = dict(os.environ, PYTHONPATH=REPO, ADAPTER_BERT_CACHE=str(tmp_path))
  subprocess.run(
      [sys.executable, '-m', 'experiments.train',
       '--config', 'configs/glue.py:task=rte,backbone=tiny',
       '--config.max_steps=3', '--config.batch_size=8',
       f'--config.cache_dir={token_cache}', '--config.max_length=64',
       '--config.eval_batch_size=256', f'--workdir={workdir}'],
      env=env, check=True, cwd=REPO)
  names = set(os.listdir(workdir))
  assert {'config.json', 'metrics.jsonl', 'results.json', 'checkpoints',
          'artifact', 'predictions', 'tb'} <= names
  assert any(f.startswith('events.out.tfevents') for f in
             os.listdir(workdir / 'tb'))
  results = json.loads((workdir / 'results.json').read_text())
  assert results['status'] == 'done' and results['steps'] == 3
  assert 0.0 <= results['dev']['accuracy'] <= 1.0
  with open(workdir / 'predictions' / 'RTE.tsv') as f:
    lines = f.read().splitlines()
  assert lines[0] == 'index\tprediction' and len(lines) == 3001
  assert {l.split('\t')[1] for l in lines[1:]} <= {'entailment',
                                                  'not_entailment'}
  # An unknown config key is an error naming it.
  bad = subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config',
       'configs/glue.py:task=rte,backbone=tiny', '--config.bottleneck=3',
       f'--workdir={tmp_path / "bad"}'],
      env=env, cwd=REPO, capture_output=True, text=True)
  assert bad.returncode != 0 and 'bottleneck' in bad.stderr
