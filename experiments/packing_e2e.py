r"""Packed batches end to end: ours three ways against AdapterHub two ways.

  nice -n 10 python -m experiments.packing_e2e [--tasks=mrpc,cola] \
      [--seeds=0,1,2] [--root=runs/packing_e2e] \
      [--out=experiments/results/packing/summary.json] [--dry_run]

Trains adapters (m=64, the default recipe of configs/glue.py, 3 epochs) on
each task, interleaved on this machine so that all runs share its load:

  ours_unpacked               python -m experiments.train
                              --config.packing=False (random batches,
                              length buckets of 16)
  ours_group_by_length        + --config.group_by_length=True
  ours_packed                 --config.packing=True (the default since the
                              seed comparison in dev_seeds.json)
  adapterhub                  experiments/adapterhub/peer_glue.py in the peer
                              venv (dynamic padding, random batches)
  adapterhub_group_by_length  + --group_by_length (HF Trainer's sampler)

Round r runs every variant of every task with seed r (the first round) or,
after it, the variants of MULTI_SEED only (MRPC packed and unpacked: seed
noise of the dev score). Each finished run leaves its record in
<out dir>/runs/<name>.json and is skipped on a rerun, so an interrupted
study continues where it stopped; summary.json is rewritten after every run.
Training seconds are each library's training loop (ours: train_seconds,
compilation included, evaluation excluded); the 1-minute load average before
and after each run is recorded. Ours runs with --config.predict=False (no
test-set files: not part of the comparison).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any, Sequence

from absl import app
from absl import flags

from adapter_bert import backbones
from adapter_bert import tasks as tasks_lib
from experiments import fileio
from experiments import token_accounting
from experiments.adapterhub import peer_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ('ours_unpacked', 'ours_group_by_length', 'ours_packed',
            'adapterhub', 'adapterhub_group_by_length')
# Explicit both ways: packing is the GLUE configs' default since session 5.
OURS_FLAGS = {'ours_unpacked': ('--config.packing=False',),
              'ours_group_by_length': ('--config.group_by_length=True',
                                       '--config.packing=False'),
              'ours_packed': ('--config.packing=True',)}
# Variants run with every seed (the others with the first seed only).
MULTI_SEED = {'mrpc': ('ours_unpacked', 'ours_packed')}
# Targets of the study: packed at least this much faster than each.
TARGETS = {'adapterhub': 2.0, 'adapterhub_group_by_length': 1.2,
           'ours_unpacked': 1.5}


def define_flags() -> None:
  """Defined by the entry point only: importing claims no flag names."""
  flags.DEFINE_list('tasks', ['mrpc', 'cola'], 'GLUE tasks.')
  flags.DEFINE_list('seeds', ['0', '1', '2'],
                    'Seeds; the first one runs every variant.')
  flags.DEFINE_list('variants', list(VARIANTS), 'Variants to run.')
  flags.DEFINE_string('root', 'runs/packing_e2e',
                      'Work directories (ours) and exported peer data.')
  flags.DEFINE_string('out', 'experiments/results/packing/summary.json',
                      'Summary JSON; run records go beside it in runs/.')
  flags.DEFINE_bool('dry_run', False, 'Print the plan and stop.')


@dataclasses.dataclass(frozen=True)
class Run:
  task: str
  variant: str
  seed: int

  @property
  def name(self) -> str:
    return f'{self.task}-{self.variant}-s{self.seed}'


def plan(task_names: Sequence[str], seeds: Sequence[int],
         variants: Sequence[str] = VARIANTS) -> list[Run]:
  """Runs in execution order: rounds of seeds; tasks, variants interleaved."""
  runs = []
  for i, seed in enumerate(seeds):
    for task in task_names:
      for variant in variants:
        if i == 0 or variant in MULTI_SEED.get(task, ()):
          runs.append(Run(task, variant, seed))
  return runs


def _peer_task_dir(task: str, root: str) -> str:
  """The task's splits exported for the peer (once)."""
  path = os.path.join(root, 'peer_data', task)
  if not os.path.exists(os.path.join(path, 'task.json')):
    subprocess.run([sys.executable, '-m', 'experiments.export_split',
                    '--config', f'configs/glue.py:task={task}',
                    f'--out={path}'], check=True, cwd=REPO)
  return path


def command(run: Run, root: str, peer_python: str = 'PEER_PYTHON',
            out: str = 'OUT.json') -> list[str]:
  """The command line of one run."""
  if run.variant in OURS_FLAGS:
    return [sys.executable, '-m', 'experiments.train', '--config',
            f'configs/glue.py:task={run.task},seed={run.seed}',
            f'--workdir={os.path.join(root, run.name)}',
            '--config.predict=False', *OURS_FLAGS[run.variant]]
  model_dir = backbones.resolve('minilm-l6').weights_dir
  return [peer_python, os.path.relpath(peer_env.GLUE_SCRIPT, REPO),
          f'--model_dir={model_dir}',
          f'--task_dir={os.path.join(root, "peer_data", run.task)}',
          '--method=adapter', f'--seed={run.seed}', f'--task_name={run.task}',
          f'--out={out}'] + (['--group_by_length']
                             if run.variant.endswith('group_by_length') else [])


def execute(run: Run, root: str, record_path: str,
            peer_python: str | None) -> dict[str, Any]:
  """Runs one training and returns (and writes) its record."""
  if run.variant in OURS_FLAGS:
    workdir = os.path.join(root, run.name)
    shutil.rmtree(workdir, ignore_errors=True)  # A fresh run, not a resume.
    cmd = command(run, root)
    results_path = os.path.join(workdir, 'results.json')
  else:
    _peer_task_dir(run.task, root)
    results_path = os.path.join(root, f'{run.name}.json')
    cmd = command(run, root, peer_python, results_path)
  load_before = os.getloadavg()[0]
  start = time.perf_counter()
  subprocess.run(cmd, check=True, cwd=REPO)
  wall = time.perf_counter() - start
  with open(results_path) as f:
    results = json.load(f)
  record = dict(
      task=run.task, variant=run.variant, seed=run.seed,
      command=' '.join(['python'] + cmd[1:] if run.variant in OURS_FLAGS
                       else cmd),
      train_s=results['train_seconds'], wall_s=wall,
      dev=results['dev'], steps=results['steps'],
      load_before=load_before, load_after=os.getloadavg()[0],
      finished=datetime.datetime.now(datetime.timezone.utc).isoformat())
  fileio.write_json(record_path, record)
  return record


def _median(values):
  return statistics.median(values) if values else None


def summarise(records: Sequence[dict[str, Any]],
              shares: dict[str, Any], first_seed: int) -> dict[str, Any]:
  """The issue's schema: per task token shares, train_s, dev, speedups."""
  out = {}
  for task in sorted({r['task'] for r in records} | set(shares)):
    mine = [r for r in records if r['task'] == task]
    first = {r['variant']: r for r in mine if r['seed'] == first_seed}
    entry = dict(
        real_token_share={k: v['real_token_share']
                          for k, v in shares.get(task, {}).items()
                          if isinstance(v, dict)},
        train_s={v: first[v]['train_s'] for v in VARIANTS if v in first},
        dev={v: first[v]['dev'] for v in VARIANTS if v in first},
        seeds={})
    for variant in VARIANTS:
      runs = sorted((r for r in mine if r['variant'] == variant),
                    key=lambda r: r['seed'])
      if len(runs) > 1:
        entry['seeds'][variant] = dict(
            seeds=[r['seed'] for r in runs],
            train_s=[r['train_s'] for r in runs],
            dev=[r['dev'] for r in runs])
    packed = entry['train_s'].get('ours_packed')
    entry['packed_speedup'] = {
        other: entry['train_s'][other] / packed
        for other in TARGETS if packed and other in entry['train_s']}
    entry['targets_met'] = {
        other: ratio >= TARGETS[other]
        for other, ratio in entry['packed_speedup'].items()}
    # Seeds that ran both ways: the ratio within each seed, and their median.
    by_seed = {(r['variant'], r['seed']): r['train_s'] for r in mine}
    for other in ('ours_unpacked',):
      ratios = [by_seed[(other, s)] / by_seed[('ours_packed', s)]
                for s in sorted({r['seed'] for r in mine})
                if (other, s) in by_seed and ('ours_packed', s) in by_seed]
      if len(ratios) > 1:
        entry.setdefault('packed_speedup_by_seed', {})[other] = dict(
            ratios=ratios, median=_median(ratios))
    out[task] = entry
  loads = [x for r in records for x in (r['load_before'], r['load_after'])]
  return dict(
      tasks=out,
      load=dict(min=min(loads, default=None), max=max(loads, default=None),
                median=_median(loads), per_run={
                    f"{r['task']}-{r['variant']}-s{r['seed']}":
                    [r['load_before'], r['load_after']] for r in records}),
      machine=dict(platform=platform.platform(), cpus=os.cpu_count()),
      runs=len(records))


def main(argv):
  del argv
  f = flags.FLAGS
  seeds = [int(s) for s in f.seeds]
  runs = plan(f.tasks, seeds, f.variants)
  root = os.path.abspath(f.root)
  records_dir = os.path.join(os.path.dirname(f.out), 'runs')
  if f.dry_run:
    for run in runs:
      print(run.name, ' '.join(command(run, root)))
    return
  peer_python = None
  if any(not r.variant.startswith('ours') for r in runs):
    peer_python = peer_env.ensure_peer_venv()
  shares = {}
  tokenizer = backbones.load_tokenizer(backbones.resolve('minilm-l6'))
  for task in f.tasks:
    features = tasks_lib.get_task(task).load_features(
        'train', tokenizer, max_length=128)
    shares[task] = token_accounting.account(features.arrays, features.labels,
                                            32)
  command_line = 'nice -n 10 python -m experiments.packing_e2e ' + ' '.join(
      f'--{k}={",".join(v)}' for k, v in (('tasks', f.tasks),
                                          ('seeds', f.seeds)))
  records = []
  for run in runs:
    path = os.path.join(records_dir, f'{run.name}.json')
    if os.path.exists(path):
      with open(path) as record_file:
        records.append(json.load(record_file))
      continue
    print(f'[packing_e2e] {run.name}', flush=True)
    records.append(execute(run, root, path, peer_python))
    summary = summarise(records, shares, seeds[0])
    summary['command'] = command_line
    fileio.write_json(f.out, summary)
  summary = summarise(records, shares, seeds[0])
  summary['command'] = command_line
  fileio.write_json(f.out, summary)
  print(json.dumps(summary['tasks'], indent=1))


if __name__ == '__main__':
  define_flags()
  app.run(main)
