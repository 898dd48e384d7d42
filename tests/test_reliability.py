"""Faults and mistakes that must never end in a wrong result reported as done.

Invalid run lengths, two runs on one workdir, damaged checkpoints and
artifacts, and the command line's answers to user errors. Tiny backbone, the
vendored RTE data, a few steps per run.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import flax
import jax
from jax.experimental.compilation_cache import compilation_cache
import pytest

from adapter_bert import artifact_files
from adapter_bert import artifacts
from adapter_bert import checksums
from adapter_bert import errors
from adapter_bert import train
from adapter_bert import workdir_lock
from configs import glue
from tests import tiny_artifacts
from tests.conftest import REPO


@pytest.fixture(scope='module')
def token_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tokens'))


@pytest.fixture(scope='module', autouse=True)
def _shared_compilation(tmp_path_factory):
  """The runs here share compiled steps, as a sweep's do (most of a run's time).

  Takes effect when this module compiles first (`-k reliability`); settings
  are restored afterwards.
  """
  keys = ('jax_compilation_cache_dir',
          'jax_persistent_cache_min_compile_time_secs')
  previous = {k: getattr(jax.config, k) for k in keys}
  jax.config.update(keys[0], str(tmp_path_factory.mktemp('xla')))
  jax.config.update(keys[1], 0.0)
  compilation_cache.reset_cache()
  yield
  for key, value in previous.items():
    jax.config.update(key, value)
  compilation_cache.reset_cache()


def _config(token_cache, **overrides):
  config = glue.get_config('task=rte,backbone=tiny')
  config.update(cache_dir=token_cache, max_steps=2, batch_size=8,
                eval_batch_size=128, eval_every=2, checkpoint_every=2,
                log_every=1, predict=False, max_length=32, m=4)
  config.update(overrides)
  return config


# Item 2: a config that trains nothing, or not what it says, is refused
# before anything is written.


@pytest.mark.parametrize('overrides,key', [
    (dict(epochs=0.0, max_steps=-1), 'epochs'),
    (dict(epochs=-2.0, max_steps=-1), 'epochs'),
    (dict(max_steps=0), 'max_steps'),
    (dict(batch_size=0), 'batch_size'),
    (dict(batch_size=-8), 'batch_size'),
    (dict(m=0), r'\bm\b'),
    (dict(log_every=0), 'log_every'),
    # Random adapters the method would leave frozen (LoRA) or train too (full).
    (dict(method='lora'), r'placement=.houlsby.*method .lora.'),
    (dict(method='full'), r'placement=.houlsby.*method .full.'),
    (dict(method='adapter', placement='none'), 'needs a placement'),
    (dict(fusion_adapters='a+b'), 'fusion_adapters'),
])
def test_reliability_invalid_configs_are_refused_before_any_work(
    tmp_path, token_cache, overrides, key):
  workdir = tmp_path / 'run'
  with pytest.raises(errors.UserError, match=key):
    train.train_and_evaluate(_config(token_cache, **overrides), str(workdir))
  assert not workdir.exists()


def test_reliability_epochs_giving_zero_steps_are_refused(tmp_path,
                                                          token_cache):
  # 2490 RTE examples x 0.001 epochs / 8 per batch = 0 steps.
  workdir = tmp_path / 'run'
  with pytest.raises(errors.UserError, match=r'epochs=0\.001.*0 steps'):
    train.train_and_evaluate(_config(token_cache, epochs=0.001, max_steps=-1),
                             str(workdir))
  assert not (workdir / 'results.json').exists()
  assert not (workdir / 'checkpoints').exists()
  # A per-layer m makes m=0 valid (the check is on the bottleneck sizes).
  train._validate(_config(token_cache, m=0, m_per_layer='4,4'))


def test_reliability_methods_without_adapters_validate():
  for method in ('lora', 'full'):
    train._validate(_config('', method=method, placement='none'))


# Item 4: one run per workdir.

_HOLDER = r'''
import sys, time
from adapter_bert import workdir_lock
with workdir_lock.hold(sys.argv[1]):
  print('held', flush=True)
  time.sleep(120)
'''


def test_reliability_workdir_lock_refuses_a_live_holder_takes_a_stale_one(
    tmp_path, token_cache, capsys):
  workdir = tmp_path / 'run'
  workdir.mkdir()
  holder = subprocess.Popen(
      [sys.executable, '-c', _HOLDER, str(workdir)], cwd=REPO,
      env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    start = time.monotonic()
    with pytest.raises(workdir_lock.WorkdirLocked,
                       match=rf'in use by another run \(pid {holder.pid} on '
                       r'host .* since'):
      train.train_and_evaluate(_config(token_cache), str(workdir))
    assert time.monotonic() - start < 5  # At once, not after loading data.
    assert sorted(os.listdir(workdir)) == ['.lock']  # Nothing written.
  finally:
    holder.kill()  # SIGKILL: the lock file stays behind, naming a dead pid.
    holder.wait()
  assert json.loads((workdir / '.lock').read_text())['pid'] == holder.pid
  # Past the lock this time: stopped by the next check (0 steps), after which
  # the lock is released. (Full runs take the lock in every other test.)
  with pytest.raises(errors.UserError, match='0 steps'):
    train.train_and_evaluate(_config(token_cache, epochs=0.001, max_steps=-1),
                             str(workdir))
  out = capsys.readouterr().out
  assert f'Taking over the stale lock of {workdir} (pid {holder.pid}' in out
  assert 'no longer running' in out
  assert (workdir / 'config.json').exists()
  assert not (workdir / '.lock').exists()  # Released at the end.
  # A lock naming another host may be live there: refused, with the way out.
  (workdir / '.lock').write_text(json.dumps(
      dict(pid=1, host='elsewhere', since='2026-01-01T00:00:00+00:00')))
  with pytest.raises(workdir_lock.WorkdirLocked,
                     match=r'pid 1 on host elsewhere .*delete .*\.lock'):
    with workdir_lock.hold(str(workdir)):
      pass


# Item 5: a damaged newest checkpoint falls back to the one before it.


def _largest_file(directory):
  files = [os.path.join(r, f) for r, _, fs in os.walk(directory) for f in fs
           if f != 'checksums.json']
  return max(files, key=os.path.getsize)


def _truncate(path):
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)


def _flip_byte(path):
  with open(path, 'r+b') as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0x40]))


def _damage_newest_unsealed(step_dir):
  # Killed after orbax finished, before the checksums were written.
  os.remove(os.path.join(step_dir, 'checksums.json'))
  shutil.rmtree(os.path.join(step_dir, 'state'))


def test_reliability_checksums_name_a_truncated_deleted_or_flipped_file(
    tmp_path):
  for name, damage in (('truncated', _truncate), ('deleted', os.remove),
                       ('flipped', _flip_byte)):
    tree = tmp_path / name
    (tree / 'state' / 'd').mkdir(parents=True)
    (tree / 'state' / 'd' / 'data').write_bytes(bytes(range(256)) * 8)
    (tree / 'progress').mkdir()
    (tree / 'progress' / 'metadata').write_text('{"step": 4}')
    checksums.write_manifest(str(tree))
    assert checksums.verify_manifest(str(tree)) is None
    damage(str(tree / 'state' / 'd' / 'data'))
    problem = checksums.verify_manifest(str(tree))
    assert problem and f'{name}/state/d/data' in problem, (name, problem)


def test_reliability_damaged_checkpoint_falls_back_to_an_intact_one(
    tmp_path, token_cache, capsys):
  config = _config(token_cache, max_steps=4, keep_checkpoints=2)
  base = tmp_path / 'base'
  train.train_and_evaluate(config, str(base), interrupt_after_step=4)
  assert sorted(os.listdir(base / 'checkpoints')) == ['2', '4']
  damages = {  # Checksums catch the first; orbax's restore fails the second.
      'flipped': lambda d: _flip_byte(_largest_file(os.path.join(d, 'state'))),
      'unsealed': _damage_newest_unsealed}
  for name, damage in damages.items():
    workdir = tmp_path / name
    shutil.copytree(base, workdir)
    damage(str(workdir / 'checkpoints' / '4'))
    capsys.readouterr()
    results = train.train_and_evaluate(config, str(workdir))
    out = capsys.readouterr().out
    assert 'Checkpoint step 4 is damaged' in out, name
    assert 'resuming from step 2 instead' in out, name
    assert 'Resumed' in out and 'at step 2.' in out, name
    assert (workdir / 'corrupt_checkpoints' / '4').is_dir(), name
    # Not reported as divergence: retrained from step 2 to the end.
    assert results['status'] == 'done' and results['steps'] == 4, name
    assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4'], name

  # Every checkpoint damaged: an error naming the file, nothing moved.
  workdir = tmp_path / 'all'
  shutil.copytree(base, workdir)
  for step in ('2', '4'):
    _flip_byte(_largest_file(str(workdir / 'checkpoints' / step / 'state')))
  with pytest.raises(errors.UserError,
                     match=r'No intact checkpoint .*/checkpoints/4/state/.*'
                     r'sha256 mismatch'):
    train.train_and_evaluate(config, str(workdir))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['2', '4']


# Item 6: a damaged or incomplete artifact is refused, naming the file.


def test_reliability_damaged_artifacts_are_refused_by_name(tmp_path, caplog):
  def fresh(name):
    path = tmp_path / name
    tiny_artifacts.make_artifact(path)
    return path

  # One tensor left out, checksum consistent: refused, not left at init.
  path = fresh('missing')
  params = path / artifact_files.PARAMS_FILE
  state = flax.serialization.msgpack_restore(params.read_bytes())
  del state['bert']['layer_1']['adapter_attn']
  params.write_bytes(flax.serialization.msgpack_serialize(state))
  meta = json.loads((path / artifact_files.META_FILE).read_text())
  meta['sha256'] = {artifact_files.PARAMS_FILE: checksums.sha256_file(params)}
  (path / artifact_files.META_FILE).write_text(json.dumps(meta))
  with pytest.raises(errors.UserError,
                     match=r'params.msgpack lacks 4 of .*adapter_attn'):
    artifacts.load(str(path))

  for name, damage in (('truncated', _truncate), ('flipped', _flip_byte)):
    path = fresh(name)
    damage(str(path / artifact_files.PARAMS_FILE))
    with pytest.raises(errors.UserError,
                       match=rf'{name}/params.msgpack does not match the '
                       'sha256'):
      artifacts.load(str(path))
  path = fresh('bad_json')
  (path / artifact_files.META_FILE).write_text('{"format": 1, "config": {')
  with pytest.raises(errors.UserError,
                     match=r'bad_json/artifact.json is not valid JSON'):
    artifacts.load(str(path))

  # An artifact exported before checksums existed loads, with a warning.
  path = fresh('old')
  meta = json.loads((path / artifact_files.META_FILE).read_text())
  del meta['sha256']
  (path / artifact_files.META_FILE).write_text(json.dumps(meta))
  caplog.clear()
  artifacts.load(str(path))
  assert 'records no checksum' in caplog.text



# Item 7: user errors are one line and exit status 2; overwrite starts clean.


def _command(tmp_path, *args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config',
       'configs/glue.py:task=rte,backbone=tiny', *args,
       f'--workdir={tmp_path / "cli"}'],
      env=dict(os.environ, PYTHONPATH=REPO), cwd=REPO, capture_output=True,
      text=True)


def test_reliability_user_errors_are_one_line_with_exit_status_2(tmp_path):
  unknown = _command(tmp_path, '--config.nonsense=1')
  assert unknown.returncode == 2, unknown.stderr
  lines = [l for l in unknown.stderr.splitlines() if l.startswith('error:')]
  assert len(lines) == 1 and 'Traceback' not in unknown.stderr
  assert "'nonsense'" in lines[0] and 'valid keys' in lines[0]
  assert all(k in lines[0] for k in ('lr', 'epochs', 'csv.path'))

  zero = _command(tmp_path, '--config.epochs=0', '--config.max_steps=-1')
  assert zero.returncode == 2, zero.stderr
  assert 'Traceback' not in zero.stderr and 'epochs=0.0' in zero.stderr
  assert not (tmp_path / 'cli').exists()


def test_reliability_internal_errors_keep_their_traceback():
  with pytest.raises(SystemExit) as exited:
    with errors.exit_on_user_error():
      raise errors.UserError('bad key')
  assert exited.value.code == 2
  with pytest.raises(RuntimeError, match='a bug'):
    with errors.exit_on_user_error():
      raise RuntimeError('a bug')


def test_reliability_overwrite_removes_old_results_before_training(
    tmp_path, token_cache):
  workdir = tmp_path / 'run'
  (workdir / 'artifact').mkdir(parents=True)
  (workdir / 'artifact' / 'artifact.json').write_text('{}')
  (workdir / 'results.json').write_text(json.dumps(dict(status='done')))
  # Stopped by the 0-step check, which comes after the workdir is prepared.
  with pytest.raises(errors.UserError, match='0 steps'):
    train.train_and_evaluate(
        _config(token_cache, overwrite=True, epochs=0.001, max_steps=-1),
        str(workdir))
  assert not (workdir / 'results.json').exists()
  assert not (workdir / 'artifact').exists()
