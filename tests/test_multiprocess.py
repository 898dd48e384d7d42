"""Two JAX processes on this CPU, launched as SLURM would launch them.

Each process gets the environment a SLURM task gets (SLURM_PROCID, ...), and
JAX_COORDINATOR_ADDRESS names a free local port; `jax.distributed.initialize()`
(what `--config.distributed=True` calls) finds the rest itself. CPU
collectives go through gloo, jax's default on CPU.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from tests.conftest import TINY_ADAPTER_STEP_SETUP

_STEP_SCRIPT = r'''
import sys, numpy as np, jax
from jax.experimental import multihost_utils
if sys.argv[2] == 'distributed':
  jax.distributed.initialize()
''' + TINY_ADAPTER_STEP_SETUP + r'''
trainable, frozen = inference.replicate((trainable, frozen))
opt_state = inference.replicate(tx.init(trainable))
step = train.make_train_step(model, tasks.get_task('rte'), tx)
sharding = data.data_sharding()
local = data.host_slice(batch, jax.process_index(), jax.process_count())
global_batch = inference.to_device(batch, sharding)
seen = multihost_utils.process_allgather(global_batch['input_ids'], tiled=True)
losses = []
for i in range(2):
  trainable, opt_state, m = step(trainable, opt_state, frozen,
                                 inference.to_device(batch, sharding),
                                 jax.random.key(i))
  losses.append(float(m['loss']))
out = {k: np.asarray(v.addressable_data(0))
       for k, v in param_paths.flatten(trainable).items()}
out.update(loss=np.asarray(losses), local_ids=local['input_ids'],
           global_ids=np.asarray(seen), full_ids=batch['input_ids'],
           devices=np.asarray(jax.device_count()),
           processes=np.asarray(jax.process_count()))
np.savez(sys.argv[1], **out)
'''

# Records every file process 1 opens for writing, then trains.
_RUN_SCRIPT = r'''
import builtins, json, os, sys, tempfile
workdir, record, config_json = sys.argv[1:4]
written = []
_open, _mkstemp = builtins.open, tempfile.mkstemp
def _logging_open(file, mode='r', *args, **kwargs):
  if any(c in mode for c in 'wax+'):
    written.append(os.path.abspath(str(file)))
  return _open(file, mode, *args, **kwargs)
def _logging_mkstemp(*args, **kwargs):
  fd, path = _mkstemp(*args, **kwargs)
  written.append(os.path.abspath(path))
  return fd, path
builtins.open, tempfile.mkstemp = _logging_open, _logging_mkstemp
import jax, ml_collections
from adapter_bert import train
config = ml_collections.ConfigDict(json.loads(config_json))
results = train.train_and_evaluate(config, workdir)
builtins.open = _open
with open(record, 'w') as f:
  json.dump(dict(written=written, processes=jax.process_count(),
                 index=jax.process_index(), status=results.get('status'),
                 dev=results.get('dev')), f)
'''


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _env(devices: int, **extra) -> dict[str, str]:
  env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
  env.update(PYTHONPATH=REPO, JAX_PLATFORMS='cpu', XLA_FLAGS=(
      f'--xla_force_host_platform_device_count={devices}'), **extra)
  return env


def _slurm_env(process_id: int, port: int) -> dict[str, str]:
  """What `srun --ntasks=2` gives each task, plus the coordinator's port."""
  return _env(1, SLURM_JOB_ID='1', SLURM_NTASKS='2',
              SLURM_PROCID=str(process_id), SLURM_LOCALID=str(process_id),
              SLURM_STEP_NODELIST='localhost', SLURM_STEP_NUM_NODES='1',
              JAX_COORDINATOR_ADDRESS=f'localhost:{port}')


def _run_two(args_of, timeout=600):
  """Runs two processes (args_of(i)) with SLURM-like envs; both must pass."""
  port = _free_port()
  procs = [subprocess.Popen(args_of(i), cwd=REPO, env=_slurm_env(i, port),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True) for i in range(2)]
  outputs = []
  try:
    for p in procs:
      outputs.append(p.communicate(timeout=timeout)[0])
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  return outputs


def test_two_processes_match_one_process_on_two_devices(tmp_path):
  one = tmp_path / 'one.npz'
  subprocess.run([sys.executable, '-c', _STEP_SCRIPT, str(one), 'local'],
                 cwd=REPO, env=_env(2), check=True)
  _run_two(lambda i: [sys.executable, '-c', _STEP_SCRIPT,
                      str(tmp_path / f'p{i}.npz'), 'distributed'])
  single = dict(np.load(one))
  assert int(single['devices']) == 2 and int(single['processes']) == 1
  parts = [dict(np.load(tmp_path / f'p{i}.npz')) for i in range(2)]
  full = single['full_ids']
  for i, part in enumerate(parts):
    assert int(part['devices']) == 2 and int(part['processes']) == 2
    # Each process feeds its own half; both see the same global batch.
    np.testing.assert_array_equal(part['local_ids'], full[4 * i:4 * i + 4])
    np.testing.assert_array_equal(part['global_ids'], full)
    for key, value in single.items():
      if key in ('devices', 'processes', 'local_ids'):
        continue
      np.testing.assert_allclose(part[key], value, atol=1e-5, rtol=0,
                                 err_msg=f'process {i}: {key}')


@pytest.fixture
def csv_task(tmp_path):
  lines = ['text,label'] + [f'sample text number {i},{"ab"[i % 2]}'
                            for i in range(40)]
  path = tmp_path / 'data.csv'
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


def test_two_process_run_writes_its_files_once(tmp_path, csv_task):
  from configs import extra as extra_configs  # pylint: disable=g-import-not-at-top
  config = extra_configs.get_config(
      f'task=csv,csv_path={csv_task},backbone=tiny,m=4')
  config.update(dict(cache_dir=str(tmp_path / 'tokens'), max_steps=2,
                     batch_size=8, eval_batch_size=8, max_length=32,
                     log_every=1, distributed=True))
  workdir = tmp_path / 'run'
  _run_two(lambda i: [sys.executable, '-c', _RUN_SCRIPT, str(workdir),
                      str(tmp_path / f'record{i}.json'), config.to_json()])
  records = [json.loads((tmp_path / f'record{i}.json').read_text())
             for i in range(2)]
  assert [(r['processes'], r['index'], r['status']) for r in records] == [
      (2, 0, 'done'), (2, 1, 'done')]
  assert records[0]['dev'] == records[1]['dev']
  # Process 1 wrote nothing of the run's own files: orbax's checkpoints (its
  # multi-host protocol) at most.
  mine = [p for p in records[1]['written'] if p.startswith(str(workdir))]
  assert all(p.startswith(str(workdir / 'checkpoints')) for p in mine), mine
  chief = [os.path.relpath(p, workdir) for p in records[0]['written']
           if p.startswith(str(workdir))]
  assert 'metrics.jsonl' in chief
  # Every file once: one train row per step, one results.json, one card.
  with open(workdir / 'metrics.jsonl') as f:
    rows = [json.loads(l) for l in f]
  assert [r['step'] for r in rows if r['split'] == 'train'] == [1, 2]
  results = json.loads((workdir / 'results.json').read_text())
  assert results['status'] == 'done' and results['dev'] == records[0]['dev']
  assert (workdir / 'artifact' / 'README.md').exists()
  assert os.listdir(workdir / 'checkpoints') == ['2']
