r"""Runs a config file's sweep: resumable, shardable, one run after another.

  python -m experiments.sweep --config configs/glue.py:task=rte,sweep=cpu \
      --workdir runs/sweep_rte [--shard 0/4] [--dry_run] [--config.dtype=bfloat16]

The config file declares `sweep(add, arg)` beside `get_config(arg)` (big_vision
style); each `add(**overrides)` call is one run, its flat keys set on top of
get_config(arg) (and any --config.key=value flags). Before anything trains,
every run's keys are checked against the config and its name is made
(`rte-adapter-m64-lr1e-3-ep3-s0`). Run j belongs to shard j mod n. A run with a
results.json is skipped; any other (failed, interrupted, never started) is
(re)run, and train_and_evaluate resumes from its own checkpoint. A failing run
does not stop the sweep; the exit status is non-zero if any run failed.

Files under --workdir: `<run>/` (the run's workdir), `<run>/sweep_status.json`
(state, timing, error), `sweep_index.json` (every run of the sweep and its
keys; the same for every shard) and `sweep_summary[.shard-i-of-n].json` (the
state of each run of this shard, rewritten after each run).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import inspect
import json
import os
import re
import sys
import time
import traceback
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from experiments import fileio
from experiments import selection

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file with get_config and sweep: path[:arg].',
    lock_config=False)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory of the sweep.')
_SHARD = flags.DEFINE_string(
    'shard', '', 'i/n: run only runs j with j mod n == i (0 <= i < n).')
_DRY_RUN = flags.DEFINE_bool('dry_run', False,
                             'List the runs, their shard and state; train nothing.')

STATUS_FILE = 'sweep_status.json'
INDEX_FILE = 'sweep_index.json'
TrainFn = Callable[[ml_collections.ConfigDict, str], Any]
# Keys always spelled out in a run name, in this order; others follow sorted.
_NAME_KEYS = ('task', 'method', 'm', 'top_k', 'lr', 'epochs', 'seed')
_NAME_PREFIX = {'m': 'm', 'top_k': 'k', 'lr': 'lr', 'epochs': 'ep', 'seed': 's'}


@dataclasses.dataclass(frozen=True)
class Run:
  index: int                      # Position in the sweep; fixes the shard.
  name: str
  overrides: dict[str, Any]
  config: ml_collections.ConfigDict


def load_sweep(config_spec: str) -> Callable[[Callable[..., None]], None]:
  """The `sweep` of config file `path[:arg]`, bound to its arg."""
  path, _, arg = config_spec.partition(':')
  if not os.path.exists(path):
    raise ValueError(f'Config file {path!r} does not exist.')
  name = 'sweep_config_' + re.sub(r'\W', '_', os.path.abspath(path))
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  fn = getattr(module, 'sweep', None)
  if fn is None:
    raise ValueError(f'{path} declares no sweep(add, arg) function.')
  if len(inspect.signature(fn).parameters) >= 2:
    return lambda add: fn(add, arg or None)
  return fn  # big_vision style: sweep(add) without the arg.


def collect(sweep_fn: Callable[[Callable[..., None]], None]) -> list[dict]:
  points = []
  sweep_fn(lambda **overrides: points.append(overrides))
  return points


def _flat_keys(config: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  keys = []
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      keys += _flat_keys(value, f'{prefix}{key}.')
    else:
      keys.append(prefix + key)
  return keys


def apply_overrides(base: ml_collections.ConfigDict,
                    overrides: dict[str, Any]) -> ml_collections.ConfigDict:
  """A copy of `base` with flat (or dotted, e.g. csv.path) keys set."""
  valid = _flat_keys(base)
  config = copy.deepcopy(base)
  for key, value in overrides.items():
    if key not in valid:
      raise ValueError(f'The sweep sets {key!r}, which is not a config key; '
                       f'valid keys: {sorted(valid)}')
    *parents, leaf = key.split('.')
    node = config
    for parent in parents:
      node = node[parent]
    try:
      node[leaf] = value
    except TypeError as e:
      raise ValueError(f'The sweep sets {key}={value!r}: {e}') from e
  return config


def _format(value: Any) -> str:
  if isinstance(value, float):
    if value == int(value) and abs(value) < 1e4:
      return str(int(value))
    if abs(value) >= 0.1:
      return f'{value:g}'
    mantissa, exponent = f'{value:.4e}'.split('e')
    return f'{mantissa.rstrip("0").rstrip(".")}e{int(exponent)}'
  return str(value)


def run_name(overrides: dict[str, Any]) -> str:
  """Readable, stable name: rte-adapter-m64-lr1e-3-ep3-s0 (+ other keys)."""
  method = overrides.get('method')
  parts = []
  for key in _NAME_KEYS:
    if key not in overrides:
      continue
    if key == 'm' and method not in (None, 'adapter'):
      continue  # m is unused without adapters.
    if key == 'top_k' and method not in (None, 'top_k'):
      continue
    parts.append(_NAME_PREFIX.get(key, '') + _format(overrides[key]))
  for key in sorted(set(overrides) - set(_NAME_KEYS)):
    value = overrides[key]
    if key == 'placement' and value in ('houlsby', 'none'):
      continue  # The method's default placement.
    parts.append(f'{key.split(".")[-1]}{_format(value)}')
  name = '-'.join(parts) or 'run'
  return re.sub(r'[^A-Za-z0-9_.+=-]', '_', name)


def expand(base: ml_collections.ConfigDict,
           points: Sequence[dict[str, Any]]) -> list[Run]:
  """Runs of the sweep; raises on any bad key or name clash before training."""
  if not points:
    raise ValueError('The sweep adds no runs.')
  runs, seen = [], {}
  for index, overrides in enumerate(points):
    config = apply_overrides(base, overrides)
    name = run_name(overrides)
    if name in seen:
      raise ValueError(f'Runs {seen[name]} and {index} are both named {name!r}: '
                       f'{points[seen[name]]} vs {overrides}')
    seen[name] = index
    runs.append(Run(index, name, dict(overrides), config))
  return runs


def parse_shard(spec: str) -> tuple[int, int] | None:
  """'i/n' -> (i, n); '' -> None (every run)."""
  if not spec:
    return None
  match = re.fullmatch(r'\s*(\d+)\s*/\s*(\d+)\s*', spec)
  if not match:
    raise ValueError(f'--shard={spec!r} is not of the form i/n, e.g. 0/4.')
  i, n = int(match.group(1)), int(match.group(2))
  if n < 1 or not 0 <= i < n:
    raise ValueError(f'--shard={spec!r}: need n >= 1 and 0 <= i < n.')
  return i, n


def in_shard(run: Run, shard: tuple[int, int] | None) -> bool:
  return shard is None or run.index % shard[1] == shard[0]


def state(workdir: str, run: Run) -> str:
  """done (results.json exists) | failed | interrupted | running | pending."""
  run_dir = os.path.join(workdir, run.name)
  if os.path.exists(os.path.join(run_dir, selection.RESULTS_FILE)):
    return 'done'
  status = _read_status(run_dir)
  return status.get('state', 'pending') if status else 'pending'


def _read_status(run_dir: str) -> dict[str, Any]:
  try:
    with open(os.path.join(run_dir, STATUS_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def _summary_path(workdir: str, shard: tuple[int, int] | None) -> str:
  tag = '' if shard is None else f'.shard-{shard[0]}-of-{shard[1]}'
  return os.path.join(workdir, f'sweep_summary{tag}.json')


def write_index(workdir: str, runs: Sequence[Run], config_spec: str) -> None:
  fileio.write_json(os.path.join(workdir, INDEX_FILE), dict(
      config=config_spec, num_runs=len(runs),
      runs=[dict(index=r.index, name=r.name, overrides=r.overrides)
            for r in runs]))


def _default_train_fn() -> TrainFn:
  from adapter_bert import train  # pylint: disable=g-import-not-at-top
  train.enable_compilation_cache()  # Runs of one sweep share compiled steps.
  return train.train_and_evaluate


def run_sweep(runs: Sequence[Run], workdir: str,
              train_fn: TrainFn | None = None,
              shard: tuple[int, int] | None = None,
              config_spec: str = '') -> dict[str, str]:
  """Trains this shard's unfinished runs in order; returns name -> state."""
  os.makedirs(workdir, exist_ok=True)
  write_index(workdir, runs, config_spec)
  mine = [r for r in runs if in_shard(r, shard)]
  states = {r.name: state(workdir, r) for r in mine}
  summary_path = _summary_path(workdir, shard)

  def write_summary():
    fileio.write_json(summary_path, dict(
        config=config_spec, shard=None if shard is None else list(shard),
        states=states, failed=sorted(n for n, s in states.items()
                                     if s != 'done'),
        updated=time.time()))

  write_summary()
  todo = [r for r in mine if states[r.name] != 'done']
  print(f'Sweep: {len(runs)} runs, {len(mine)} in this shard, '
        f'{len(mine) - len(todo)} already done, {len(todo)} to run.', flush=True)
  if todo and train_fn is None:
    train_fn = _default_train_fn()
  for run in todo:
    run_dir = os.path.join(workdir, run.name)
    status_path = os.path.join(run_dir, STATUS_FILE)
    previous = _read_status(run_dir)
    status = dict(name=run.name, index=run.index, overrides=run.overrides,
                  state='running', attempts=previous.get('attempts', 0) + 1,
                  started=time.time(), host=os.uname().nodename,
                  pid=os.getpid(), config=run.config.to_dict())
    fileio.write_json(status_path, status)
    states[run.name] = 'running'
    write_summary()
    print(f'Run {run.index + 1}/{len(runs)} {run.name} '
          f'(attempt {status["attempts"]})', flush=True)
    start = time.time()
    try:
      train_fn(copy.deepcopy(run.config), run_dir)
      if not os.path.exists(os.path.join(run_dir, selection.RESULTS_FILE)):
        raise RuntimeError('train_and_evaluate returned without writing '
                           f'{selection.RESULTS_FILE}.')
      status.update(state='done', error=None)
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('Run %s failed.', run.name)
      status.update(state='failed', error=f'{type(e).__name__}: {e}',
                    traceback=traceback.format_exc())
    except BaseException:  # KeyboardInterrupt, SystemExit: record, then stop.
      status.update(state='interrupted', finished=time.time(),
                    seconds=time.time() - start)
      fileio.write_json(status_path, status)
      states[run.name] = 'interrupted'
      write_summary()
      raise
    status.update(finished=time.time(), seconds=time.time() - start)
    fileio.write_json(status_path, status)
    states[run.name] = status['state']
    write_summary()
  return states


def prepare(base: ml_collections.ConfigDict, config_spec: str,
            shard_spec: str = '') -> tuple[list[Run], tuple[int, int] | None]:
  """Loads, expands and checks the sweep; every input error surfaces here."""
  shard = parse_shard(shard_spec)
  runs = expand(base, collect(load_sweep(config_spec)))
  return runs, shard


def dry_run(runs: Sequence[Run], workdir: str,
            shard: tuple[int, int] | None) -> str:
  n = shard[1] if shard else 1
  lines = [f'{len(runs)} runs'
           + (f', shard {shard[0]}/{shard[1]}' if shard else '') + ':',
           'index  shard  state        name']
  for run in runs:
    if in_shard(run, shard):
      lines.append(f'{run.index:5d}  {run.index % n:5d}  '
                   f'{state(workdir, run):11s}  {run.name}')
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  if not _WORKDIR.value:
    raise app.UsageError('--workdir is required.')
  config_spec = config_flags.get_config_filename(flags.FLAGS['config'])
  try:
    runs, shard = prepare(_CONFIG.value, config_spec, _SHARD.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  flag_keys = set(config_flags.get_override_values(flags.FLAGS['config']))
  shadowed = sorted(flag_keys & {k for r in runs for k in r.overrides})
  if shadowed:
    logging.warning('The sweep sets %s itself; its values win over the '
                    '--config.* flags.', shadowed)
  if _DRY_RUN.value:
    print(dry_run(runs, _WORKDIR.value, shard))
    return
  states = run_sweep(runs, _WORKDIR.value, shard=shard, config_spec=config_spec)
  bad = {n: s for n, s in states.items() if s != 'done'}
  print(f'{len(states) - len(bad)}/{len(states)} runs done.')
  for name, s in bad.items():
    error = _read_status(os.path.join(_WORKDIR.value, name)).get('error', '')
    print(f'  {s}: {name}: {error}')
  if bad:
    sys.exit(1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
