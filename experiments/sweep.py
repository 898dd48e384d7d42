r"""Runs a config file's sweep: resumable, shardable, one run after another.

  python -m experiments.sweep --config configs/glue.py:task=rte,sweep=cpu \
      --workdir runs/sweep_rte [--shard 0/4] [--dry_run] [--config.dtype=bfloat16]
      [--results_dir experiments/results/x/runs] [--rerun_failed]
      [--rerun_diverged] [--diverged_ok] [--prune_checkpoints]
      [--rerun_changed] [--running_elsewhere_ok]

The config file declares `sweep(add, arg)` beside `get_config(arg)` (big_vision
style); each `add(**overrides)` call is one run, its flat keys set on top of
get_config(arg) (and any --config.key=value flags). Before anything trains,
every run's keys are checked against the config and its name is made
(`rte-adapter-m64-lr1e-3-ep3-s0`). Run j belongs to shard j mod n.

A run is done only when its results.json says `status: done` and the config
recorded in it equals the config the sweep gives the run now (keys that only
change logging or evaluation batching aside). Each run is in one state:
  done         finished, same config: skipped.
  changed      finished under another config: the sweep refuses to start and
               names the keys, unless --rerun_changed (then it retrains).
  diverged     the loss became NaN; failed: an exception. Both keep the exit
               status non-zero on every re-run; --rerun_failed retrains failed
               runs, --rerun_diverged diverged ones. With --diverged_ok a
               diverged run is a result (its learning rate is too high; it
               ranks last) and leaves the exit status 0.
  interrupted, running (a killed process), pending: (re)run; training resumes
               from the run's own checkpoint.
  elsewhere    another live process on this machine is training it (it holds
               the run's workdir lock): skipped, so several processes can work
               through one sweep together, each taking the next run nobody
               holds. It keeps the exit status non-zero (the run is not done)
               unless --running_elsewhere_ok (that process finishes it).
With --results_dir, each finished (done or diverged) run's results.json,
config.json and metrics.jsonl are copied to `<results_dir>/<run>/`
(results.json last; a later run of the sweep copies the files that copy
lacks, and never replaces one it has: a committed file may have been amended
since), and a run found there counts as done (or diverged) on any machine
(commit that directory to carry a sweep across machines; `experiments.report`
reads it). With --prune_checkpoints a done run's checkpoints are deleted
(its artifact stays); a diverged run keeps its last good one.

Files under --workdir: `<run>/` (the run's workdir), `<run>/sweep_status.json`
(state, timing, error), `sweep_index.json` (every run of the sweep and its
keys; the same for every shard) and `sweep_summary[.shard-i-of-n].json` (the
state of each run of this shard, rewritten after each run).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import time
import traceback
from typing import Any, Callable, Sequence

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from adapter_bert import errors
from adapter_bert import run_config
from adapter_bert import workdir_lock
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
_RESULTS_DIR = flags.DEFINE_string(
    'results_dir', '', 'Copy each finished run\'s results.json, config.json '
    'and metrics.jsonl to <results_dir>/<run>/; runs found there are finished '
    '(done or diverged).')
_RERUN_FAILED = flags.DEFINE_bool(
    'rerun_failed', False, 'Retrain failed runs (an exception).')
_RERUN_DIVERGED = flags.DEFINE_bool(
    'rerun_diverged', False, 'Retrain diverged runs (with the same config and '
    'seed they usually diverge again).')
_DIVERGED_OK = flags.DEFINE_bool(
    'diverged_ok', False, 'A diverged run is a result (ranked last), not an '
    'error: it leaves the exit status 0.')
_PRUNE_CHECKPOINTS = flags.DEFINE_bool(
    'prune_checkpoints', False, 'Delete a run\'s checkpoints once it is done '
    '(its artifact and results stay): a study of many runs would otherwise '
    'fill the disk.')
_RUNNING_ELSEWHERE_OK = flags.DEFINE_bool(
    'running_elsewhere_ok', False, 'A run that another live process is '
    'training leaves the exit status 0 (that process finishes it): for '
    'several processes sharing one sweep.')
_RERUN_CHANGED = flags.DEFINE_bool(
    'rerun_changed', False, 'Retrain finished runs whose config changed '
                            '(otherwise the sweep refuses to start).')

STATUS_FILE = 'sweep_status.json'
INDEX_FILE = 'sweep_index.json'
# Files of a finished run copied to --results_dir (no checkpoints, artifacts).
RESULT_FILES = (selection.RESULTS_FILE, 'config.json', 'metrics.jsonl')
FAILED_STATES = ('failed', 'diverged')
TrainFn = Callable[[ml_collections.ConfigDict, str], Any]
# Keys always spelled out in a run name, in this order; others follow sorted.
_NAME_KEYS = ('task', 'method', 'm', 'top_k', 'lr', 'epochs', 'seed')
_NAME_PREFIX = {'m': 'm', 'top_k': 'k', 'lr': 'lr', 'epochs': 'ep', 'seed': 's'}


class SweepError(ValueError):
  """A sweep that must not start as asked (e.g. finished runs changed)."""


@dataclasses.dataclass(frozen=True)
class Run:
  index: int                      # Position in the sweep; fixes the shard.
  name: str
  overrides: dict[str, Any]
  config: ml_collections.ConfigDict


def _load_module(path: str):
  if not os.path.exists(path):
    raise ValueError(f'Config file {path!r} does not exist.')
  name = 'sweep_config_' + re.sub(r'\W', '_', os.path.abspath(path))
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_sweep(config_spec: str) -> Callable[[Callable[..., None]], None]:
  """The `sweep` of config file `path[:arg]`, bound to its arg."""
  path, _, arg = config_spec.partition(':')
  module = _load_module(path)
  fn = getattr(module, 'sweep', None)
  if fn is None:
    raise ValueError(f'{path} declares no sweep(add, arg) function.')
  if len(inspect.signature(fn).parameters) >= 2:
    return lambda add: fn(add, arg or None)
  return fn  # big_vision style: sweep(add) without the arg.


def load_defaults(config_spec: str) -> dict[str, Any]:
  """get_config(arg) of the file, without flags: what a key absent from an
  older run's recorded config stood for."""
  path, _, arg = config_spec.partition(':')
  module = _load_module(path)
  return module.get_config(arg or None).to_dict()


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


@dataclasses.dataclass(frozen=True)
class RunState:
  """Where a run stands; `changes` names the keys of a changed run."""
  state: str
  changes: dict[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
  results_path: str | None = None


def _read_results(path: str) -> dict[str, Any] | None:
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def inspect_run(workdir: str, run: Run, results_dir: str = '',
                defaults: dict[str, Any] | None = None) -> RunState:
  """The run's state from its results.json (workdir, then results_dir).

  A done file wins over a diverged one: another machine may have retrained
  the run since this one diverged.
  """
  run_dir = os.path.join(workdir, run.name)
  candidates = [os.path.join(run_dir, selection.RESULTS_FILE)]
  if results_dir:
    candidates.append(os.path.join(results_dir, run.name,
                                   selection.RESULTS_FILE))
  diverged = None
  for path in candidates:
    results = _read_results(path) if os.path.exists(path) else None
    if results is None:
      continue
    status = results.get('status')
    if status == 'diverged':
      diverged = diverged or RunState('diverged', results_path=path)
      continue
    if status != 'done':
      continue  # Not a finished run's file.
    changes = run_config.changed_keys(results.get('config') or {},
                                      run.config.to_dict(), defaults)
    return RunState('changed' if changes else 'done', changes, path)
  if diverged:
    return diverged
  if workdir_lock.live_holder(run_dir) is not None:
    return RunState('elsewhere')
  status = _read_status(run_dir)
  return RunState(status.get('state', 'pending') if status else 'pending')


def state(workdir: str, run: Run, results_dir: str = '',
          defaults: dict[str, Any] | None = None) -> str:
  """done | changed | diverged | failed | interrupted | running | pending
  | elsewhere."""
  return inspect_run(workdir, run, results_dir, defaults).state


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


def _refuse_changed(inspected: dict[str, RunState]) -> None:
  changed = {n: r for n, r in inspected.items() if r.state == 'changed'}
  if changed:
    lines = '; '.join(f'{n} ({run_config.describe_changes(r.changes)})'
                      for n, r in changed.items())
    raise SweepError(
        f'{len(changed)} finished run(s) were made with another config: '
        f'{lines}. Pass --rerun_changed to retrain them, or restore the '
        'config they were made with.')


def _publish(run_dir: str, results_dir: str, name: str,
             only_missing: bool = False) -> list[str]:
  """Copies a finished run's small result files to results_dir/name.

  Each file is copied atomically, and results.json (what makes the copy count
  as done) last, so a copy cut short never looks like a finished run. With
  `only_missing`, files the copy already has are kept as they are (a
  committed results.json may have been amended, e.g. by
  experiments.backfill_predictions). Returns the names copied.
  """
  last = selection.RESULTS_FILE
  copied = []
  for filename in sorted(RESULT_FILES, key=lambda f: f == last):
    src = os.path.join(run_dir, filename)
    dst = os.path.join(results_dir, name, filename)
    if os.path.exists(src) and not (only_missing and os.path.exists(dst)):
      fileio.copy_file(src, dst)
      copied.append(filename)
  return copied


def _publish_finished(workdir: str, runs: Sequence[Run],
                      inspected: dict[str, RunState], results_dir: str
                      ) -> None:
  """Copies the files results_dir lacks of runs finished (done or diverged)
  in the workdir: a sweep interrupted between finishing a run and copying it
  would otherwise skip that run forever without it ever reaching
  results_dir."""
  for run in runs:
    run_dir = os.path.join(workdir, run.name)
    found = inspected[run.name]
    own = os.path.join(run_dir, selection.RESULTS_FILE)
    if found.state not in ('done', 'diverged') or found.results_path != own:
      continue
    copied = _publish(run_dir, results_dir, run.name, only_missing=True)
    if copied:
      print(f'Published {run.name} to {results_dir} ({", ".join(copied)} '
            'missing there).', flush=True)


def run_sweep(runs: Sequence[Run], workdir: str,
              train_fn: TrainFn | None = None,
              shard: tuple[int, int] | None = None,
              config_spec: str = '', *, results_dir: str = '',
              defaults: dict[str, Any] | None = None,
              rerun_failed: bool = False,
              rerun_changed: bool = False,
              prune_checkpoints: bool = False,
              rerun_diverged: bool = False) -> dict[str, str]:
  """Trains this shard's unfinished runs in order; returns name -> state.

  Raises SweepError before training anything if a finished run's config
  changed and rerun_changed is False.
  """
  mine = [r for r in runs if in_shard(r, shard)]
  inspected = {r.name: inspect_run(workdir, r, results_dir, defaults)
               for r in mine}
  if not rerun_changed:
    _refuse_changed(inspected)
  os.makedirs(workdir, exist_ok=True)
  write_index(workdir, runs, config_spec)
  if results_dir:
    _publish_finished(workdir, mine, inspected, results_dir)
  states = {n: r.state for n, r in inspected.items()}
  summary_path = _summary_path(workdir, shard)

  def write_summary():
    fileio.write_json(summary_path, dict(
        config=config_spec, shard=None if shard is None else list(shard),
        states=states, failed=sorted(n for n, s in states.items()
                                     if s != 'done'),
        updated=time.time()))

  write_summary()
  todo = _to_train(runs, mine, states, rerun_failed, rerun_diverged)
  if todo and train_fn is None:
    train_fn = _default_train_fn()
  for run in todo:
    run_dir = os.path.join(workdir, run.name)
    now = inspect_run(workdir, run, results_dir, defaults).state
    if now in ('done', 'elsewhere'):
      # Finished since the to-do list was made, or being trained, by another
      # process (a second shard or a helper over the same results_dir): not
      # trained twice.
      states[run.name] = now
      write_summary()
      why = ('finished elsewhere meanwhile' if now == 'done' else
             'another process is training it '
             f'({workdir_lock.describe(workdir_lock.live_holder(run_dir))})')
      print(f'Run {run.index + 1}/{len(runs)} {run.name}: {why}; skipped.',
            flush=True)
      continue
    config = copy.deepcopy(run.config)
    if states[run.name] in ('changed',) + FAILED_STATES:
      # A stale or failed result must not survive a retraining cut short.
      stale = os.path.join(run_dir, selection.RESULTS_FILE)
      if os.path.exists(stale):
        os.remove(stale)
      if states[run.name] == 'changed' and 'overwrite' in config:
        config.overwrite = True  # Discard checkpoints of the old config.
    status = dict(name=run.name, index=run.index, overrides=run.overrides,
                  state='running',
                  attempts=_read_status(run_dir).get('attempts', 0) + 1,
                  started=time.time(), host=os.uname().nodename,
                  pid=os.getpid(), config=run.config.to_dict())
    fileio.write_json(os.path.join(run_dir, STATUS_FILE), status)
    states[run.name] = 'running'
    write_summary()
    print(f'Run {run.index + 1}/{len(runs)} {run.name} '
          f'(attempt {status["attempts"]})', flush=True)
    try:
      _attempt(run, run_dir, config, status, train_fn, workdir,
               results_dir=results_dir, defaults=defaults,
               prune_checkpoints=prune_checkpoints)
    finally:  # Recorded however the attempt ended, interrupted included.
      states[run.name] = status['state']
      write_summary()
  return states


def _to_train(runs: Sequence[Run], mine: Sequence[Run],
              states: dict[str, str], rerun_failed: bool,
              rerun_diverged: bool = False) -> list[Run]:
  """This shard's runs to train now, in order; says how many and why."""
  retrain = ({'changed'} | ({'failed'} if rerun_failed else set())
             | ({'diverged'} if rerun_diverged else set()))
  todo = [r for r in mine
          if states[r.name] != 'done'
          and (states[r.name] not in ('changed',) + FAILED_STATES
               or states[r.name] in retrain)]
  kept = collections.Counter(s for s in states.values()
                             if s in FAILED_STATES and s not in retrain)
  print(f'Sweep: {len(runs)} runs, {len(mine)} in this shard, '
        f'{sum(s == "done" for s in states.values())} already done, '
        f'{len(todo)} to run'
        + ''.join(f', {n} {s} kept as they are (--rerun_{s} retrains them)'
                  for s, n in sorted(kept.items())) + '.', flush=True)
  return todo


def _attempt(run: Run, run_dir: str, config: ml_collections.ConfigDict,
             status: dict[str, Any], train_fn: TrainFn, workdir: str, *,
             results_dir: str, defaults: dict[str, Any] | None,
             prune_checkpoints: bool = False) -> None:
  """Trains one run; its final state, error and time go into `status` (and
  its status file). An interrupt (KeyboardInterrupt, SystemExit) is recorded,
  then raised."""
  status_path = os.path.join(run_dir, STATUS_FILE)
  start = time.time()
  try:
    try:
      train_fn(config, run_dir)
      error = None
    except workdir_lock.WorkdirLocked as e:
      # Taken by another process since this one looked: it trains the run.
      print(f'{run.name}: {e} Skipped.', flush=True)
      status.update(state='elsewhere')
      return  # Its status file is the holder's to write.
    except FloatingPointError as e:  # It wrote a diverged results.json.
      logging.warning('Run %s diverged: %s', run.name, e)
      error = f'{type(e).__name__}: {e}'
    finished = inspect_run(workdir, run, defaults=defaults).state
    if finished == 'pending':
      raise RuntimeError('train_and_evaluate returned without writing '
                         f'{selection.RESULTS_FILE}.')
    if finished not in ('done', 'diverged'):
      raise RuntimeError(f'The run ended in state {finished!r}.')
    status.update(state=finished, error=error)
    if results_dir:
      _publish(run_dir, results_dir, run.name)
    if prune_checkpoints and finished == 'done':
      shutil.rmtree(os.path.join(run_dir, run_config.CHECKPOINTS_DIR),
                    ignore_errors=True)
  except Exception as e:  # pylint: disable=broad-except
    logging.exception('Run %s failed.', run.name)
    status.update(state='failed', error=f'{type(e).__name__}: {e}',
                  traceback=traceback.format_exc())
  except BaseException:  # KeyboardInterrupt, SystemExit: record, then stop.
    status.update(state='interrupted', finished=time.time(),
                  seconds=time.time() - start)
    fileio.write_json(status_path, status)
    raise
  status.update(finished=time.time(), seconds=time.time() - start)
  fileio.write_json(status_path, status)


def prepare(base: ml_collections.ConfigDict, config_spec: str,
            shard_spec: str = '') -> tuple[list[Run], tuple[int, int] | None]:
  """Loads, expands and checks the sweep; every input error surfaces here."""
  shard = parse_shard(shard_spec)
  runs = expand(base, collect(load_sweep(config_spec)))
  return runs, shard


def dry_run(runs: Sequence[Run], workdir: str,
            shard: tuple[int, int] | None, results_dir: str = '',
            defaults: dict[str, Any] | None = None) -> str:
  n = shard[1] if shard else 1
  lines = [f'{len(runs)} runs'
           + (f', shard {shard[0]}/{shard[1]}' if shard else '') + ':',
           'index  shard  state        name']
  for run in runs:
    if in_shard(run, shard):
      inspected = inspect_run(workdir, run, results_dir, defaults)
      line = f'{run.index:5d}  {run.index % n:5d}  {inspected.state:11s}  {run.name}'
      if inspected.changes:
        line += f'  ({run_config.describe_changes(inspected.changes)})'
      lines.append(line)
  return '\n'.join(lines)


def exit_status(states: dict[str, str], diverged_ok: bool = False,
                running_elsewhere_ok: bool = False) -> int:
  """1 while a run is not done (diverged runs aside with `diverged_ok`, runs
  another process trains with `running_elsewhere_ok`)."""
  allowed = ({'done'} | ({'diverged'} if diverged_ok else set())
             | ({'elsewhere'} if running_elsewhere_ok else set()))
  return int(any(s not in allowed for s in states.values()))


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
  except ValueError as e:  # The config's or the shard's mistake: one line.
    errors.exit_with_message(str(e))
  flag_keys = set(config_flags.get_override_values(flags.FLAGS['config']))
  shadowed = sorted(flag_keys & {k for r in runs for k in r.overrides})
  if shadowed:
    logging.warning('The sweep sets %s itself; its values win over the '
                    '--config.* flags.', shadowed)
  results_dir = _RESULTS_DIR.value
  defaults = load_defaults(config_spec)
  if _DRY_RUN.value:
    print(dry_run(runs, _WORKDIR.value, shard, results_dir, defaults))
    return
  try:
    states = run_sweep(runs, _WORKDIR.value, shard=shard,
                       config_spec=config_spec, results_dir=results_dir,
                       defaults=defaults, rerun_failed=_RERUN_FAILED.value,
                       rerun_changed=_RERUN_CHANGED.value,
                       prune_checkpoints=_PRUNE_CHECKPOINTS.value,
                       rerun_diverged=_RERUN_DIVERGED.value)
  except SweepError as e:
    errors.exit_with_message(str(e))
  bad = {n: s for n, s in states.items() if s != 'done'}
  print(f'{len(states) - len(bad)}/{len(states)} runs done.')
  for name, s in bad.items():
    error = _read_status(os.path.join(_WORKDIR.value, name)).get('error', '')
    print(f'  {s}: {name}: {error}')
  sys.exit(exit_status(states, _DIVERGED_OK.value,
                       _RUNNING_ELSEWHERE_OK.value))


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
