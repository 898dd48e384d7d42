r"""One command runs a whole study, stage by stage, resuming where it stopped.

  python -m experiments.study_pipeline --study=glue
  python -m experiments.study_pipeline --study=extra --stages=disasters,peer
  python -m experiments.study_pipeline --study=peft --dry_run
  python -m experiments.study_pipeline --study=glue,peft,extra --status
  python -m experiments.study_pipeline --study=glue,peft,extra   # A queue.

A study is a list of stages; a stage is a list of commands of this
repository's entry points: sweeps, which skip every run whose results.json is
already under the study's results directory (committed runs count, on any
machine); the study's report, which rereads those results and writes the
selected points the next stage's sweep reads; for the GLUE study the ablation
of the MRPC m=64 adapters; for the extra-task study the AdapterHub peer and
the budget check; for the PEFT study the step benchmark. Stop it at any
point (or lose the machine) and run the same command again: it continues with
the first unfinished run. Commit `<results>/runs/` as runs land to carry the
study to another machine; `runs/` (artifacts; checkpoints until a run
finishes) stays local. A diverged run is a result (its lr ranks last); a run
that failed (an exception, e.g. data not found) stops the study, stays failed
on every rerun, and is retrained with --rerun_failed once its cause is fixed.
Two copies of one command (e.g. one per core) share the work: each skips a run
the other is training (the sweep's `elsewhere` state) and goes on, so neither
trains a run twice; a stage's seeds wait only for the selections that are
complete (a grid still in training leaves its method out of selected.json, and
whichever copy finishes that grid runs the seeds it selects). A step that
is not a sweep or the report (the peer, the ablation, the benchmark) runs in
one copy only: the other finds its lock held and goes on to the next step.

Batching: the GLUE study's MRPC runs are unpacked (its seed-0 grid began before
packed batches existed; one batching per task keeps its seeds and curves
comparable); every other task of every study trains on packed batches
(`--config.packing=True`, the same optimization up to dropout masks;
experiments/results/packing/README.md). runs.csv records it per run.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shlex
import subprocess
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags

from adapter_bert import backbones
from adapter_bert import errors
from adapter_bert import workdir_lock
from configs import extra as extra_config
from configs import glue as glue_config
from configs import peft as peft_config
from experiments import selection
from experiments.adapterhub import peer_env
from experiments.tables import ablation as ablation_table

FLAGS = flags.FLAGS

GLUE_TASKS = glue_config.STUDY_GRID_TASKS  # The study's order: MRPC first.
GLUE_UNPACKED = ('mrpc',)
ABLATION_SEEDS = glue_config.CURVE_SEEDS  # sweep=study_pooling's seeds too.
# The AdapterHub peer beside ours on two Table 2 datasets (seed 0, the
# adapters' dev-selected configuration): the smallest and a 4-class one.
PEER_DATASETS = ('progressive_stance', 'corporate_messaging')

# A command is an argv list; a step makes its commands when the stage runs,
# so it can read what an earlier stage wrote (selected points).
Command = list[str]
Step = Callable[['Study'], list[Command]]


@dataclasses.dataclass(frozen=True)
class Study:
  """Where one study's runs, results and report live."""
  name: str
  config: str        # configs/<x>.py
  workdir: str       # Checkpoints and artifacts (local, not committed).
  out: str           # Report, runs.csv, selected.json (committed).
  report: Command    # The module that writes the report and selected.json.
  stages: tuple[tuple[str, tuple[Step, ...]], ...]
  # Predict the test split after training: only where it has labels (the
  # extra tasks' Table 2 is test accuracy). GLUE's test labels are hidden, so
  # there predictions would only cost time (4-15% of a run's wall time).
  predict_test: bool = False
  # Retrain runs that failed (an exception) in an earlier attempt.
  rerun_failed: bool = False

  @property
  def runs_dir(self) -> str:
    return os.path.join(self.out, 'runs')

  @property
  def selected(self) -> str:
    return os.path.join(self.out, 'selected.json')


def _python(module: str, *args: str) -> Command:
  return [sys.executable, '-m', module, *args]


def sweep(arg: str, packed: bool = True) -> Step:
  """A sweep of the study's config; it skips runs already in runs_dir.

  A diverged run is one of the study's results (its lr ranks last), not a
  reason to stop, nor is a run another copy of the study is training;
  checkpoints of finished runs are deleted (their artifacts stay), or the
  studies' ~300 runs would fill the disk.
  """
  def commands(s: Study) -> list[Command]:
    extra = [f'--config.packing={packed}',  # Explicit: defaults may change.
             f'--config.predict={s.predict_test}',
             '--diverged_ok', '--prune_checkpoints', '--running_elsewhere_ok']
    if s.rerun_failed:
      extra.append('--rerun_failed')
    return [_python('experiments.sweep', f'--config={s.config}:{arg}', *extra,
                    f'--workdir={s.workdir}', f'--results_dir={s.runs_dir}')]
  return commands


def report(s: Study) -> list[Command]:
  return [list(s.report)]


def _glue_sweep_per_task(name: str) -> tuple[Step, ...]:
  return tuple(sweep(f'task={t},sweep={name}', packed=t not in GLUE_UNPACKED)
               for t in GLUE_TASKS)


def ablation_runs(s: Study, pooling: str = 'pooler',
                  task: str = 'mrpc') -> list[selection.Result]:
  """The seeds' runs at the selected m=64 adapter point of `task`."""
  try:
    with open(s.selected) as f:
      point = json.load(f)['Adapters (64)'][task]
  except (OSError, ValueError, KeyError) as e:
    raise ValueError(f'{s.selected}: no selected m=64 adapter point for '
                     f'{task} ({e!r}); run the grid and select stages '
                     'first.') from None
  _, method, m, lr, epochs = point
  runs = {r['seed']: r for r in selection.load_results(s.runs_dir)
          if r.get('status', 'done') == 'done' and r.get('task') == task
          and r.get('method') == method and r.get('m') == m
          and r.get('lr') == lr and r.get('epochs') == epochs
          and (r.get('config') or {}).get('pooling', 'pooler') == pooling
          and float((r.get('config') or {}).get('init_scale', 1e-3)) == 1e-3}
  missing = [seed for seed in ABLATION_SEEDS if seed not in runs]
  if missing:
    raise ValueError(f'{s.runs_dir}: no finished run of {task} adapters m={m} '
                     f'lr={lr} pooling={pooling} for seeds {missing}; run the '
                     'seeds stage (pooler) or sweep=study_pooling first.')
  return [runs[seed] for seed in ABLATION_SEEDS]


def ablation(s: Study) -> list[Command]:
  """experiments.ablate on each seed's artifact, unless its output exists.

  Both heads: the paper's pooler and mean pooling (sweep=study_pooling).
  """
  commands = []
  runs = [(p, r) for p in ablation_table.DIRS for r in ablation_runs(s, p)]
  for pooling, run in runs:
    out = os.path.join(s.out, ablation_table.DIRS[pooling], run['run'])
    if os.path.exists(os.path.join(out, 'ablation.json')):
      continue
    artifact = os.path.join(s.workdir, run['run'], 'artifact')
    if not os.path.isdir(artifact):
      raise ValueError(
          f'{artifact}: the artifact of {run["run"]} is not on this machine '
          f'(runs/ is not committed); move {s.runs_dir}/{run["run"]} aside '
          'and rerun the seeds stage to retrain it.')
    commands.append(_python('experiments.ablate', f'--artifact={artifact}',
                            f'--out={out}'))
  return commands


def peer(s: Study) -> list[Command]:
  """AdapterHub on PEER_DATASETS at the adapters' selected point, seed 0."""
  entries = {e['task']: e for e in extra_config.read_selected(s.selected)
             if e['method'] == 'adapter'}
  peer_python = os.path.join(peer_env.peer_venv_dir(), 'bin', 'python')
  commands = []
  for name in PEER_DATASETS:
    if f'extra:{name}' not in entries:
      raise ValueError(f'{s.selected}: no selected adapter point of '
                       f'extra:{name}; run the grid stage first.')
    e = entries[f'extra:{name}']
    out = os.path.join(s.out, 'peer', f'{name}-adapter-s0.json')
    if os.path.exists(out):
      continue
    data = os.path.join(s.workdir, 'peer_data', name)
    if not os.path.exists(os.path.join(data, 'task.json')):
      commands.append(_python('experiments.export_split',
                              f'--config={s.config}:name={name}',
                              f'--out={data}'))
    commands.append([
        peer_python, os.path.relpath(peer_env.GLUE_SCRIPT),
        f'--model_dir={backbones.resolve("minilm-l6").weights_dir}',
        f'--task_dir={data}', '--method=adapter', f'--m={e["m"]}',
        f'--lr={e["lr"]}', f'--epochs={e["epochs"]}', '--schedule=official',
        '--seed=0', f'--out={out}'])
  if not commands:
    return []
  build_venv = [sys.executable, '-c', 'from experiments.adapterhub import '
                'peer_env; peer_env.ensure_peer_venv()']
  return [build_venv] + commands


def peft_benchmark(s: Study) -> list[Command]:
  """The step benchmark of every method at the 1% budget, once."""
  path = os.path.join(s.out, 'benchmark.json')
  if os.path.exists(path):
    return []
  return [_python('experiments.benchmark', *peft_config.benchmark_flags(),
                  f'--json_out={path}')]


def _minilm_study(name: str, report_module: str, stages,
                  predict_test: bool = False) -> Study:
  """A study of configs/<name>.py on minilm-l6, results in <name>_minilm."""
  out = f'experiments/results/{name}_minilm'
  return Study(name=name, config=f'configs/{name}.py',
               workdir=f'runs/{name}_minilm', out=out,
               report=_python(report_module, f'--runs_dir={out}/runs',
                              f'--out={out}'),
               stages=stages, predict_test=predict_test)


def _glue() -> Study:
  return _minilm_study('glue', 'experiments.glue_study', (
      ('grid', _glue_sweep_per_task('study') + (report,)),
      ('seeds', _glue_sweep_per_task('study_seeds') + (report,)),
      # Right after the seeds, while their artifacts are on this machine.
      ('ablation', (sweep('sweep=study_pooling', packed=False), ablation,
                    report)),
      ('sst2', (sweep('task=sst2,sweep=study_sst2'), report)),
      # Seed 0 beside the grid: lrs past its edges, mean pooling on CoLA.
      ('checks', _glue_sweep_per_task('study_checks') + (report,)),
      # Then seeds at each size's best seed-0 lr where it is not the row's.
      ('curves', (sweep('sweep=study_curves,tasks=mrpc', packed=False),
                  sweep('sweep=study_curves,tasks=cola'), report,
                  sweep('sweep=study_curve_best,tasks=mrpc', packed=False),
                  sweep('sweep=study_curve_best,tasks=cola'), report)),
      ('init', (sweep('sweep=study_init', packed=False), report)),
  ))


def _extra_rows() -> tuple[tuple[str, tuple[Step, ...]], ...]:
  """One stage per dataset, smallest first: its seed-0 grid, then seeds 1-2
  at its selected points, so that the committed runs form complete rows of
  Table 2 as early as possible."""
  return tuple(
      (name, (sweep(f'sweep=table2_cpu,tasks={name}'), report,
              sweep(f'sweep=table2_seeds,tasks={name}'), report))
      for name in extra_config.TABLE2_CPU_TRAIN_SIZES)


def _extra() -> Study:
  return _minilm_study('extra', 'experiments.extra_study', (
      *_extra_rows(),
      ('peer', (peer, report)),
      # Beside Table 2: is a gap the short CPU budget's? (4x the epochs.)
      ('budget', (sweep('sweep=table2_budget'), report)),
  ), predict_test=True)


def _peft() -> Study:
  selected = 'selected=experiments/results/peft_minilm/selected.json'
  return _minilm_study('peft', 'experiments.peft_study', (
      ('lr_grid', (sweep('sweep=lr_grid'), report)),
      # Seed 0 beside the grid: lrs past its ends, prefixes without the MLP.
      ('checks', (sweep(f'sweep=checks,{selected}'), report)),
      ('seeds', (sweep(f'sweep=seeds,{selected}'), report)),
      ('budget_0p1', (sweep(f'sweep=budget_0p1,{selected}'), report)),
      # Beside the table: a rate chosen on MRPC that failed seeds elsewhere.
      ('lower_lr', (sweep(f'sweep=lower_lr,{selected}'), report)),
      ('benchmark', (peft_benchmark, report)),
  ))


STUDIES = {'glue': _glue, 'extra': _extra, 'peft': _peft}


def stages_to_run(study: Study, names: Sequence[str]) -> list[str]:
  """`names` in the study's order; all stages if empty."""
  order = [name for name, _ in study.stages]
  unknown = sorted(set(names) - set(order))
  if unknown:
    raise ValueError(f'--stages: {unknown} are not stages of the {study.name} '
                     f'study; its stages in order: {",".join(order)}.')
  return [name for name in order if not names or name in names]


def _shareable(commands: Sequence[Command], study: Study) -> bool:
  """Sweeps and the report: commands two copies of a study may run at once
  (a sweep skips the runs another process trains; reports write atomically)."""
  return all('experiments.sweep' in c or c == list(study.report)
             for c in commands)


def step_lock_dir(study: Study, stage: str, step: Step) -> str:
  """The directory whose lock one copy of the study holds while it runs a
  step that is not shareable."""
  return os.path.join(study.workdir, 'pipeline_steps',
                      f'{stage}-{getattr(step, "__name__", "step")}')


def run(study: Study, names: Sequence[str], dry_run: bool = False,
        runner: Callable[[Command], int] | None = None) -> int:
  """Runs the stages' commands in order; the first failure's exit status."""
  runner = runner or (lambda cmd: subprocess.run(cmd, check=False).returncode)
  steps = dict(study.stages)
  chosen = stages_to_run(study, names)
  for i, name in enumerate(chosen, 1):
    print(f'== {study.name} stage {i}/{len(chosen)}: {name}', flush=True)
    for step in steps[name]:
      try:
        commands = step(study)
      except ValueError as e:
        if dry_run:  # Later stages read what earlier ones write.
          print(f'   (after the stages before it: {e})')
          continue
        raise
      if dry_run or _shareable(commands, study):
        status = _run_commands(name, commands, dry_run, runner)
      else:
        lock_dir = step_lock_dir(study, name, step)
        os.makedirs(lock_dir, exist_ok=True)
        try:
          with workdir_lock.hold(lock_dir):
            # Again: another copy may have done the work while we looked.
            status = _run_commands(name, step(study), dry_run, runner)
        except workdir_lock.WorkdirLocked as e:
          print(f'   {e} Skipped: that copy of the study runs this step.',
                flush=True)
          status = 0
      if status:
        return status
  return 0


def _run_commands(stage: str, commands: Sequence[Command], dry_run: bool,
                  runner: Callable[[Command], int]) -> int:
  for command in commands:
    print('   ' + shlex.join(command), flush=True)
    if dry_run:
      continue
    status = runner(command)
    if status:
      print(f'Stage {stage} failed (exit {status}): {shlex.join(command)}',
            file=sys.stderr)
      return status
  return 0


def sweep_states(command: Command) -> collections.Counter | str:
  """State -> runs of one sweep command, from its --dry_run listing; or the
  sweep's one-line error (e.g. the points a later stage reads are missing)."""
  done = subprocess.run(command + ['--dry_run'], check=False,
                        capture_output=True, text=True)
  if done.returncode:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f'exit status {done.returncode}'
  states = collections.Counter()
  for line in done.stdout.splitlines():
    fields = line.split()
    if len(fields) >= 4 and fields[0].isdigit() and fields[1].isdigit():
      states[fields[2]] += 1
  return states


def status(study: Study, names: Sequence[str],
           states_of: Callable[[Command], collections.Counter | str] = (
               sweep_states)
           ) -> list[str]:
  """Where each stage stands: its sweeps' run states, its other work."""
  lines = []
  steps = dict(study.stages)
  for name in stages_to_run(study, names):
    lines.append(f'{study.name} {name}:')
    heading = len(lines)
    for step in steps[name]:
      if step is report:
        continue
      try:
        commands = step(study)
      except ValueError as e:
        lines.append(f'   waits for the stages before it ({e})')
        continue
      for command in commands:
        if 'experiments.sweep' in command:
          arg = next(a for a in command if a.startswith('--config='))
          counts = states_of(command)
          if isinstance(counts, str):
            lines.append(f'   {arg[len("--config="):]}: waits for the stages '
                         f'before it ({counts})')
            continue
          lines.append(f'   {arg[len("--config="):]}: {sum(counts.values())} '
                       'runs: ' + ', '.join(f'{n} {state}' for state, n
                                            in sorted(counts.items())))
        else:
          lines.append(f'   to run: {shlex.join(command[:4])} ...')
    if len(lines) == heading:
      lines.append('   nothing left to run (its outputs exist)')
  return lines


def run_studies(names: Sequence[str], stages: Sequence[str],
                dry_run: bool = False,
                runner: Callable[[Command], int] | None = None,
                rerun_failed: bool = False, show_status: bool = False) -> int:
  """Several studies one after another (the CPU's queue); stops at a failure.

  --stages names one study's stages, so it needs exactly one study.
  """
  unknown = [n for n in names if n not in STUDIES]
  if unknown or not names:
    raise ValueError(f'--study: {unknown or "nothing"} given; the studies '
                     f'are {",".join(STUDIES)}.')
  if stages and len(names) > 1:
    raise ValueError('--stages needs a single --study (stages are per '
                     'study).')
  for name in names:
    chosen = dataclasses.replace(STUDIES[name](), rerun_failed=rerun_failed)
    if show_status:
      print('\n'.join(status(chosen, stages)), flush=True)
      continue
    status_code = run(chosen, stages, dry_run, runner)
    if status_code:
      return status_code
  return 0


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  flags.DEFINE_list('study', None, 'Studies to run, in this order: '
                    f'{",".join(STUDIES)} or a comma-separated list of them.')
  flags.DEFINE_list('stages', [], 'Stages to run (default: all, in order).')
  flags.DEFINE_bool('dry_run', False, 'Print the commands and stop.')
  flags.DEFINE_bool('status', False, 'Print each stage\'s run states (done, '
                    'pending, failed, ...) and stop; trains nothing.')
  flags.DEFINE_bool('rerun_failed', False, 'Retrain runs that failed (an '
                    'exception, e.g. data not found) in an earlier attempt; '
                    'diverged runs are results and stay.')
  flags.mark_flag_as_required('study')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    status = run_studies(FLAGS.study, FLAGS.stages, FLAGS.dry_run,
                         rerun_failed=FLAGS.rerun_failed,
                         show_status=FLAGS.status)
  except ValueError as e:
    errors.exit_with_message(f'study_pipeline: {e}')
  sys.exit(status)


if __name__ == '__main__':
  define_flags()
  app.run(main)
