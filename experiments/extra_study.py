r"""The minilm-l6 Table 2 study: extra classification tasks over seeds.

  python -m experiments.extra_study \
      --runs_dir experiments/results/extra_minilm/runs \
      --out experiments/results/extra_minilm [--peer_dir DIR]

The whole study is one command, REPRODUCE below: the seed-0 grid, this module
(it writes selected.json), seeds 1 and 2 at the selected points, this module
again, then the AdapterHub peer and the budget check (`sweep=table2_budget`:
full FT and adapters with 4x the epochs, beside the table).

Reads the committed runs alone (results.json per run) and writes, under --out:
  runs.csv       one row per run (experiments.study.RUN_COLUMNS).
  selected.json  {"selected": [...]}: per dataset and method the configuration
                 with the best final-step dev accuracy among the seed-0 runs
                 (task, method, m, top_k, lr, epochs); configs/extra.py
                 `sweep=table2_seeds` reads it to add seeds 1 and 2 there.
                 A (dataset, method) is left out while its grid lacks a seed-0
                 run (the report names them).
  report.md      the paper's Table 2 layout: a row per dataset (classes,
                 training examples), full FT / variable FT / adapters as test
                 accuracy mean ± s.e.m. over the seeds of the selected
                 configuration, the paper's numbers beside ours, the average
                 and trained-share rows, the claim, the budget check, the
                 AdapterHub peer rows.
  params.png     test accuracy against trained parameters (log x), a panel per
                 dataset (the form of the paper's Figure 4).
  discussion.md  (written by hand, read) why the claim holds or fails where it
                 does; its numbers are checked against the generated report.
The AdapterHub peer's JSON files (experiments/adapterhub/peer_glue.py run on
an exported split, `--task_name` set) are read from --peer_dir, default
<out>/peer, when it exists.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import statistics
from typing import Any, Hashable, Mapping, Sequence

from absl import app
from absl import flags

from configs import extra as extra_config
from experiments import cli
from experiments import fileio
from experiments import plots
from experiments import paper_results
from experiments import selection
from experiments import study
from experiments.tables import common
from experiments.tables import discussion

Result = selection.Result
Table = common.Table
METHODS = ('full', 'top_k', 'adapter')
METHOD_LABELS = {m: common.METHOD_NAMES[m] for m in METHODS}
# The whole study, resumable (experiments/study_pipeline.py holds its stages).
REPRODUCE = 'python -m experiments.study_pipeline --study=extra'
DISCUSSION = 'discussion.md'  # Beside report.md, written by hand.
# The paper's claim: adapters within about this many points of full
# fine-tuning on average (73.3 vs 73.7) while training about 1% of the weights.
CLAIM_GAP = 0.5
# The study's datasets (configs/extra.py) and seeds: the claim's verdict
# waits for all of them.
STUDY_TASKS = tuple(f'extra:{n}' for n in extra_config.TABLE2_CPU_TRAIN_SIZES)
MIN_SEEDS = 3
# A dataset on which neither full fine-tuning nor adapters beats predicting
# the majority class by this many points (test accuracy x100) says nothing
# about the claim at our budget; the verdict names it and also averages
# without it.
LEARNED_MARGIN = 2.0


@dataclasses.dataclass(frozen=True)
class Cell:
  """A method's Table 2 entry on one dataset.

  Attributes:
    key: the dev-selected configuration (study.config_key).
    runs: its runs over seeds.
    mean, std, sem: of the runs' test accuracy (x100); std and sem NaN for one.
    n: runs with a test accuracy.
    dev_score: the seed-0 run's final-step dev accuracy (x100), which chose it.
    trained_params, trained_share: of the configuration.
  """

  key: tuple[Hashable, ...]
  runs: tuple[Result, ...]
  mean: float
  std: float
  sem: float
  n: int
  dev_score: float
  trained_params: int
  trained_share: float


def _count(n: int) -> str:
  return f'{n} dataset{"" if n == 1 else "s"}'


def _name(task: str) -> str:
  return task.split(':', 1)[-1]


def _label(task: str) -> str:
  return paper_results.EXTRA_LABELS.get(_name(task), _name(task))


def load(runs_dir: str, status: str = 'done') -> list[Result]:
  """The extra-task runs under `runs_dir` that ended in `status`."""
  return [r for r in selection.load_results(runs_dir)
          if r.get('status') == status and str(r['task']).startswith('extra:')
          and r.get('method') in METHODS]


@functools.lru_cache(maxsize=None)
def _grid_points(name: str) -> frozenset[tuple[str, Any, float, float]]:
  """(method, size, lr, epochs) of a dataset's sweep=table2_cpu grid."""
  known = extra_config.TABLE2_CPU_TRAIN_SIZES
  if name not in known:
    raise ValueError(f'extra:{name} is not one of the Table 2 study\'s '
                     f'datasets ({", ".join(known)}).')
  return frozenset(study.point_key(p)
                   for p in extra_config.table2_cpu_points(name))


def is_grid_run(result: Result) -> bool:
  """A run at a point of its dataset's CPU grid, whatever its seed.

  Only these are selected from and fill Table 2: a run at another lr, size
  or number of epochs, seed 0 or not, must not win a dataset's cell.
  """
  task, method, size, lr, epochs = study.config_key(result)
  return (method, size, lr, epochs) in _grid_points(_name(task))


def _test_accuracies(rows) -> list[float]:
  """The test accuracies (x100) of runs.csv rows that have one."""
  return [row['test_accuracy'] for row in rows if row['test_accuracy'] != '']


def table2_cells(results: Sequence[Result]) -> dict[tuple[str, str], Cell]:
  """(task, method) -> test accuracy over the seeds of the configuration
  chosen on dev among the seed-0 runs of the CPU grid (the paper's Table 2
  protocol)."""
  cells = {}
  results = [r for r in results if is_grid_run(r)]
  for (task, method), key in study.select_configs(results, seed=0).items():
    runs = study.runs_of(results, key)
    rows = [study.run_row(r) for r in runs]
    tests = _test_accuracies(rows)
    mean, std, sem = study.mean_std_sem(tests)
    first = next(row for r, row in zip(runs, rows) if study.seed_of(r) == 0)
    cells[(task, method)] = Cell(
        key=key, runs=tuple(runs), mean=mean, std=std, sem=sem, n=len(tests),
        dev_score=first['dev_score'], trained_params=first['trained_params'],
        trained_share=first['trained_share'])
  return cells


def dataset_info(results: Sequence[Result]) -> dict[str, tuple[int, int]]:
  """task -> (classes, training examples), from the runs' data notes."""
  info = {}
  for r in results:
    data = r.get('data') or {}
    rows, classes = data.get('rows') or {}, data.get('classes')
    if 'train' in rows and classes:
      info[r['task']] = (len(classes), int(rows['train']))
  return info


def task_order(results: Sequence[Result]) -> list[str]:
  """Datasets smallest first (the sweep's order), then by name."""
  info = dataset_info(results)
  tasks = {r['task'] for r in results}
  return sorted(tasks, key=lambda t: (info.get(t, (0, math.inf))[1], t))


def _size(key: Sequence[Hashable]) -> Hashable:
  return key[2]


def _config_text(method: str, key: Sequence[Hashable]) -> str:
  size = {'adapter': f'm={_size(key)}, ', 'top_k': f'top {_size(key)}, '}
  mantissa, exponent = f'{key[3]:.3e}'.split('e')
  lr = f'{mantissa.rstrip("0").rstrip(".")}e{int(exponent)}'
  return f'{size.get(method, "")}lr {lr}, {key[4]:g} ep'


def _ours(cell: Cell | None) -> str:
  if cell is None or not cell.n:
    return '-'
  spread = '' if math.isnan(cell.sem) else f' ± {cell.sem:.1f}'
  return f'{cell.mean:.1f}{spread} (n={cell.n})'


def _paper(name: str, method: str) -> str:
  mean = paper_results.EXTRA_TABLE2.get(name, {}).get(method)
  if mean is None:
    return '-'
  return f'{mean:.1f} ± {paper_results.EXTRA_TABLE2_SEM[name][method]:.1f}'


def averages(cells: dict[tuple[str, str], Cell], tasks: Sequence[str]
             ) -> dict[str, tuple[float, float, float, int]]:
  """method -> (mean over datasets, its s.e.m., mean trained share, datasets).

  Over the datasets with a test accuracy for the method; the s.e.m. of a mean
  over datasets combines theirs (independent seeds): sqrt(Σ sem²) / T, NaN
  while any dataset has a single seed.
  """
  out = {}
  for method in METHODS:
    present = [cells[(t, method)] for t in tasks
               if (t, method) in cells and cells[(t, method)].n]
    if present:
      out[method] = (
          statistics.fmean(c.mean for c in present),
          math.sqrt(sum(c.sem ** 2 for c in present)) / len(present),
          statistics.fmean(c.trained_share for c in present), len(present))
  return out


def majority_accuracy(results: Sequence[Result], task: str) -> float | None:
  """x100: the test accuracy of predicting the majority class everywhere."""
  return study.task_constant_score(results, task, 'accuracy', test=True)


def table2(results: Sequence[Result], cells: dict[tuple[str, str], Cell]
           ) -> Table:
  """Our columns and the paper's, a row per dataset, average and share rows."""
  tasks = task_order(results)
  info = dataset_info(results)
  header = (['Dataset', 'Classes', 'Train examples']
            + [f'{METHOD_LABELS[m]} (ours)' for m in METHODS]
            + ['Majority class (ours)']
            + [f'{METHOD_LABELS[m]} (paper†)' for m in METHODS])
  rows = []
  for task in tasks:
    classes, train = info.get(task, ('-', '-'))
    majority = majority_accuracy(results, task)
    rows.append([_label(task), str(classes), str(train)]
                + [_ours(cells.get((task, m))) for m in METHODS]
                + ['-' if majority is None else f'{majority:.1f}']
                + [_paper(_name(task), m) for m in METHODS])
  means = averages(cells, tasks)
  n = len(tasks)

  def avg(method: str) -> str:
    if method not in means:
      return '-'
    mean, sem, _, count = means[method]
    spread = '' if math.isnan(sem) else f' ± {sem:.1f}'
    return f'{mean:.1f}{spread}' + ('' if count == n else
                                     f' ({count} of {_count(n)})')

  def paper_avg(method: str) -> str:
    values = [paper_results.EXTRA_TABLE2[_name(t)][method] for t in tasks
              if _name(t) in paper_results.EXTRA_TABLE2]
    return f'{statistics.fmean(values):.1f}' if values else '-'

  majorities = [majority_accuracy(results, t) for t in tasks]
  rows.append([f'Average ({_count(n)})', '', '']
              + [avg(m) for m in METHODS]
              + [f'{statistics.fmean(majorities):.1f}'
                 if majorities and None not in majorities else '-']
              + [paper_avg(m) for m in METHODS])
  rows.append([f'Paper average ({paper_results.EXTRA_NUM_TASKS} datasets)', '',
               ''] + [''] * (len(METHODS) + 1)
              + [f'{paper_results.EXTRA_AVERAGE[m]:.1f}' for m in METHODS])
  rows.append(['Trained / task', '', '']
              + [f'{100 * means[m][2]:.2f}%' if m in means else '-'
                 for m in METHODS] + ['0%']
              + [f'{100 * paper_results.EXTRA_TRAINED_SHARE[m]:g}%'
                 for m in METHODS])
  return header, rows


def selected_table(results: Sequence[Result],
                   cells: dict[tuple[str, str], Cell]) -> Table:
  """What dev chose per dataset and method, and the seeds run there."""
  header = ['Dataset', 'Method', 'Selected (seed-0 dev)', 'Seed-0 dev acc',
            'Seed-0 runs', 'Seeds', 'Test acc per seed', 'Trained']
  rows = []
  for task in task_order(results):
    for method in METHODS:
      cell = cells.get((task, method))
      if cell is None:
        continue
      grid = sum(1 for r in results if r['task'] == task and is_grid_run(r)
                 and r['method'] == method and study.seed_of(r) == 0)
      tests = [study.run_row(r)['test_accuracy'] for r in cell.runs]
      first = next(r for r in cell.runs if study.seed_of(r) == 0)
      rows.append([_label(task), METHOD_LABELS[method],
                   _config_text(method, cell.key),
                   study.score_text(cell.dev_score, first), str(grid),
                   ', '.join(str(study.seed_of(r)) for r in cell.runs),
                   ', '.join('-' if t == '' else study.score_text(t, r)
                             for t, r in zip(tests, cell.runs)),
                   f'{100 * cell.trained_share:.2f}%'])
  return header, rows


def pending_selections(results: Sequence[Result],
                       cells: dict[tuple[str, str], Cell]
                       ) -> dict[tuple[str, str], list[tuple]]:
  """(task, method) -> its grid points still without a seed-0 run, where
  some are: the cell's selection is provisional."""
  pending = {}
  for task, method in cells:
    points = [p for p in extra_config.table2_cpu_points(_name(task))
              if p['method'] == method]
    missing = study.unfinished_points(results, task, points)
    if missing:
      pending[(task, method)] = missing
  return pending


def selected_entries(cells: dict[tuple[str, str], Cell],
                     pending: Sequence[tuple[str, str]] = ()
                     ) -> list[dict[str, Any]]:
  """selected.json's list: what configs/extra.py `sweep=table2_seeds` reads.

  Cells in `pending` (a grid still in progress) are left out, so that no
  seeds stage starts from a selection a missing run may overturn.
  """
  entries = []
  for (task, method), cell in sorted(cells.items()):
    if (task, method) in pending:
      continue
    _, _, size, lr, epochs = cell.key
    first = next(r for r in cell.runs if study.seed_of(r) == 0)
    entries.append(dict(
        task=task, method=method, m=size if method == 'adapter' else None,
        top_k=size if method == 'top_k' else None, lr=lr, epochs=epochs,
        run=first.get('run', ''), dev_score=cell.dev_score,
        seeds=sorted(study.seed_of(r) for r in cell.runs)))
  return entries


def claim(cells: dict[tuple[str, str], Cell], tasks: Sequence[str],
          all_tasks: Sequence[str] = STUDY_TASKS,
          majority: Mapping[str, float | None] | None = None) -> list[str]:
  """The paper's claim against ours, then each dataset's gap: where it fails
  (beyond CLAIM_GAP and twice the gap's s.e.m.), where it is noise.

  The verdict is provisional ("so far") until every dataset of `all_tasks`
  has both columns with MIN_SEEDS seeds. `majority` (task -> the majority
  class's test accuracy x100) names the datasets where neither method learned
  more than that, and gives the gap without them.
  """
  both = [t for t in tasks if all((t, m) in cells and cells[(t, m)].n
                                  for m in ('full', 'adapter'))]
  paper_average_gap = (paper_results.EXTRA_AVERAGE['adapter']
                       - paper_results.EXTRA_AVERAGE['full'])
  text = (f'Paper: adapters {paper_results.EXTRA_AVERAGE["adapter"]:.1f} vs '
          f'full fine-tuning {paper_results.EXTRA_AVERAGE["full"]:.1f} '
          f'({paper_average_gap:+.1f} points) averaged over '
          f'{paper_results.EXTRA_NUM_TASKS} datasets, training '
          f'{100 * paper_results.EXTRA_TRAINED_SHARE["adapter"]:.2f}% of the '
          'weights per task.')
  if not both:
    return [text + ' Ours: not measured yet (no dataset has both columns).']
  adapter, full, noise = _average_gap(cells, both)
  gap = adapter[0] - full[0]
  holds = gap >= -CLAIM_GAP - (0.0 if math.isnan(noise) else noise)
  noise_text = _sem_text(noise)
  fewest = min(cells[(t, m)].n for t in both for m in ('full', 'adapter'))
  complete = set(all_tasks) <= set(both) and fewest >= MIN_SEEDS
  verdict = ('holds' if holds else 'does not hold') + (
      ' here.' if complete else
      f' so far (provisional: {len(both)} of {len(all_tasks)} datasets, '
      f'fewest seeds {fewest}).')
  # Beside ours, the paper's own gap over the same datasets: its 17-dataset
  # average hides that on some of these its adapters trail by more than 0.5.
  lines = [text + f' Ours over the {_count(len(both))} with both'
           f'{_paper_gap_text(both)}: adapters '
           f'{adapter[0]:.1f} vs full fine-tuning {full[0]:.1f} ({gap:+.1f} '
           f'points, s.e.m. of the gap {noise_text}) at '
           f'{100 * adapter[2]:.2f}% trained (paper: '
           f'{100 * paper_results.EXTRA_TRAINED_SHARE["adapter"]:.2f}%): '
           f'adapters within {CLAIM_GAP} points of fine-tuning or better '
           + verdict]
  majority = majority or {}
  unlearned = [t for t in both if _learned_nothing(cells, t, majority)]
  for task in both:
    if task in unlearned:
      lines.append(f'- {_label(task)}: neither full fine-tuning '
                   f'({cells[(task, "full")].mean:.1f}) nor adapters '
                   f'({cells[(task, "adapter")].mean:.1f}) beats the majority '
                   f'class ({majority[task]:.1f}) by {LEARNED_MARGIN} points: '
                   'at our budget this row measures neither method'
                   f'{_paper_text(task)}.')
    else:
      lines.append(_dataset_gap_line(cells, task))
  rest = [t for t in both if t not in unlearned]
  if unlearned and rest:
    adapter, full, noise = _average_gap(cells, rest)
    lines.append(f'- Without {"it" if len(unlearned) == 1 else "them"}, over '
                 f'the {_count(len(rest))} left: adapters {adapter[0]:.1f} vs '
                 f'full fine-tuning {full[0]:.1f} ({adapter[0] - full[0]:+.1f} '
                 f'points, s.e.m. of the gap {_sem_text(noise)})'
                 f'{_paper_gap_text(rest)}.')
  return lines


def paper_gap(tasks: Sequence[str]) -> float | None:
  """The paper's adapters minus full fine-tuning (Table 2, points),
  averaged over those of `tasks` it reports; None if it reports none."""
  table = paper_results.EXTRA_TABLE2
  gaps = [table[_name(t)]['adapter'] - table[_name(t)]['full'] for t in tasks
          if _name(t) in table]
  return statistics.fmean(gaps) if gaps else None


def _paper_text(task: str) -> str:
  gap = paper_gap([task])
  return '' if gap is None else f' (the paper: {gap:+.1f})'


def _paper_gap_text(tasks: Sequence[str]) -> str:
  gap = paper_gap(tasks)
  return '' if gap is None else f' (the paper\'s gap on them: {gap:+.1f})'


def _learned_nothing(cells: dict[tuple[str, str], Cell], task: str,
                     majority: Mapping[str, float | None]) -> bool:
  """Neither method beats the majority class by LEARNED_MARGIN points."""
  floor = majority.get(task)
  return floor is not None and all(
      cells[(task, m)].mean < floor + LEARNED_MARGIN
      for m in ('full', 'adapter'))


def _dataset_gap_line(cells: dict[tuple[str, str], Cell], task: str) -> str:
  """One dataset's adapters against full fine-tuning, and whether the gap
  is a failure of the claim (beyond CLAIM_GAP and twice its s.e.m.)."""
  a, f = cells[(task, 'adapter')], cells[(task, 'full')]
  diff = a.mean - f.mean
  spread = math.hypot(a.sem, f.sem)
  if diff >= -CLAIM_GAP:
    verdict = f': within {CLAIM_GAP} points or better'
  elif math.isnan(spread):
    verdict = ': behind; s.e.m. unknown (one seed)'
  elif diff < -2 * spread:
    verdict = f', more than twice the s.e.m. {spread:.1f}'
  else:
    verdict = (f': behind, but within twice the s.e.m. {spread:.1f}, so not '
               'a clear failure')
  paper = paper_gap([task])
  paper_text = '' if paper is None else f'; the paper: {paper:+.1f}'
  return (f'- {_label(task)}: adapters {a.mean:.1f} vs full fine-tuning '
          f'{f.mean:.1f} ({diff:+.1f} points{verdict}{paper_text}).')


def _average_gap(cells: dict[tuple[str, str], Cell], tasks: Sequence[str]):
  """Adapters' and full FT's averages (as `averages`) over `tasks`, and the
  s.e.m. of their difference."""
  means = averages({k: v for k, v in cells.items() if k[0] in tasks}, tasks)
  adapter, full = means['adapter'], means['full']
  return adapter, full, math.hypot(adapter[1], full[1])


def _sem_text(sem: float) -> str:
  return 'unknown (one seed)' if math.isnan(sem) else f'{sem:.1f}'


def load_peers(peer_dir: str) -> list[dict[str, Any]]:
  """The AdapterHub peer's JSON results under `peer_dir` (none if absent)."""
  if not os.path.isdir(peer_dir):
    return []
  peers = []
  for name in sorted(os.listdir(peer_dir)):
    if name.endswith('.json'):
      with open(os.path.join(peer_dir, name)) as f:
        peer = json.load(f)
      if peer.get('task'):
        peers.append(dict(peer, file=name))
  return peers


def peer_table(results: Sequence[Result], peers: Sequence[dict[str, Any]]
               ) -> Table:
  """AdapterHub against our run of the same configuration and seed, in
  Table 2's dataset order.

  Accuracy only: the two ran at different times beside different work, so
  their wall times are no speed comparison (experiments/benchmark.py is).
  """
  header = ['Dataset', 'Method', 'Configuration', 'AdapterHub test acc',
            'Ours test acc', 'AdapterHub dev acc', 'Ours dev acc']
  rows = []
  order = {task: i for i, task in enumerate(task_order(results))}
  for peer in sorted(peers, key=lambda p: order.get(p['task'], len(order))):
    method = peer['method']
    size = peer.get('m') if method == 'adapter' else None
    key = (peer['task'], method, size, float(peer['lr']),
           float(peer['epochs']))
    ours = [r for r in study.runs_of(results, key)
            if study.seed_of(r) == int(peer.get('seed', 0))]
    row = study.run_row(ours[0]) if ours else {}
    pct = lambda v: '-' if v is None else f'{100 * v:.1f}'
    rows.append([
        _label(peer['task']), METHOD_LABELS.get(method, method),
        _config_text(method, key) + f', seed {peer.get("seed", 0)}',
        pct((peer.get('test') or {}).get('accuracy')),
        '-' if row.get('test_accuracy', '') == '' else
        f'{row["test_accuracy"]:.1f}',
        pct((peer.get('dev') or {}).get('accuracy')),
        f'{row["dev_score"]:.1f}' if row else '-'])
  return header, rows


def budget_table(results: Sequence[Result],
                 cells: dict[tuple[str, str], Cell]) -> Table:
  """Each Table 2 cell of full FT and adapters beside the same configuration
  with TABLE2_BUDGET_FACTOR times the epochs (sweep=table2_budget), and the
  gap between the two methods at each budget; [] rows before such runs."""
  factor = extra_config.TABLE2_BUDGET_FACTOR
  header = ['Dataset', 'Method', 'Configuration', 'Table 2 cell',
            f'{factor}x the epochs', 'Change']

  def gap(adapter, full):  # (mean, s.e.m.) each -> "-0.3 ± 1.2".
    spread = math.hypot(adapter[1], full[1])
    return f'{adapter[0] - full[0]:+.1f}' + (
        '' if math.isnan(spread) else f' ± {spread:.1f}')

  rows = []
  for task in task_order(results):  # Table 2's order; each gap under its pair.
    longer = {}
    for method in sorted(extra_config.TABLE2_BUDGET_METHODS):  # Adapters first.
      cell = cells.get((task, method))
      if cell is None:
        continue
      key = cell.key[:4] + (factor * cell.key[4],)
      tests = _test_accuracies(map(study.run_row, study.runs_of(results, key)))
      if not tests:
        continue
      mean, _, sem = study.mean_std_sem(tests)
      longer[method] = (mean, sem)
      spread = '' if math.isnan(sem) else f' ± {sem:.1f}'
      rows.append([_label(task), METHOD_LABELS[method],
                   _config_text(method, cell.key).rsplit(', ', 1)[0],
                   f'{_ours(cell)}, {cell.key[4]:g} ep',
                   f'{mean:.1f}{spread} (n={len(tests)}), {key[4]:g} ep',
                   f'{mean - cell.mean:+.1f}'])
    if 'full' in longer and 'adapter' in longer:
      short = [(cells[(task, m)].mean, cells[(task, m)].sem)
               for m in ('adapter', 'full')]
      rows.append([_label(task), 'Adapters - full FT (± s.e.m.)', '',
                   gap(*short), gap(longer['adapter'], longer['full']), ''])
  return header, rows


def size_points(results: Sequence[Result], task: str, method: str
                ) -> list[tuple[float, float, float]]:
  """[(trained params, mean, s.e.m.)] of test accuracy per size, each size at
  its lr (and epochs) chosen on seed-0 dev."""
  points = []
  pool = [r for r in results if r['task'] == task and r['method'] == method]
  for size in sorted({selection.size(r) or 0 for r in pool}):
    runs = [r for r in pool if (selection.size(r) or 0) == size]
    for key in study.select_configs(runs, seed=0).values():
      chosen = study.runs_of(runs, key)
      tests = _test_accuracies(map(study.run_row, chosen))
      if tests:
        mean, _, sem = study.mean_std_sem(tests)
        points.append((float(chosen[0]['trainable_params']), mean, sem))
  return sorted(points)


def plot_params(results: Sequence[Result], path: str) -> None:
  """Test accuracy against trained parameters (log x), a panel per dataset,
  with the majority class's accuracy as a dashed line."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  tasks = task_order(results)
  cols = min(4, len(tasks))
  rows = math.ceil(len(tasks) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows),
                           squeeze=False)
  styles = {'adapter': dict(marker='o', color='tab:blue'),
            'top_k': dict(marker='s', color='tab:orange'),
            'full': dict(marker='*', color='tab:red', markersize=11)}
  all_xs = []
  for ax, task in zip(axes.flat, tasks):
    for method in METHODS:
      points = size_points(results, task, method)
      if not points:
        continue
      xs, means, sems = zip(*points)
      all_xs.extend(xs)
      ax.errorbar(xs, means, yerr=[0 if math.isnan(s) else s for s in sems],
                  capsize=3, label=METHOD_LABELS[method], **styles[method])
      # Seed-0 grid points (one run) hollow: not as sure as the seeded ones.
      single = [(x, y) for x, y, s in points if math.isnan(s)]
      if single:
        ax.plot(*zip(*single), linestyle='none', markerfacecolor='white',
                zorder=3, **styles[method])  # Above errorbar's own markers.
    majority = majority_accuracy(results, task)
    if majority is not None:  # What learning nothing scores: the scale's floor.
      ax.axhline(majority, linestyle='--', linewidth=1, color='gray',
                 label='Majority class')
    low, high = ax.get_ylim()  # At least 10 points tall: noise stays small.
    if high - low < 10:
      middle = (low + high) / 2
      ax.set_ylim(middle - 5, middle + 5)
    plots.log_x_panel(ax, 'Trained parameters per task', 'Test accuracy (%)',
                      _label(task), legend=None, fontsize='small')
  for ax in list(axes.flat)[:len(tasks)]:
    if all_xs:  # One x range for every panel: sizes compare across them.
      ax.set_xlim(min(all_xs) / 2, max(all_xs) * 2)
  for ax in list(axes.flat)[len(tasks):]:
    ax.axis('off')
  handles, labels = axes.flat[0].get_legend_handles_labels()
  fig.legend(handles, labels, loc='lower center', ncol=len(labels),
             fontsize='small')
  fig.suptitle('Test accuracy against trained parameters (paper Fig. 4 form); '
               'each size at its lr chosen on dev, mean ± s.e.m. over seeds '
               '(hollow: seed 0 only)', fontsize='medium')
  plots.save_figure(fig, path, rect=(0, 0.06, 1, 0.95))


def write_study(runs_dir: str, out_dir: str, peer_dir: str = ''
                ) -> dict[str, str]:
  """Writes runs.csv, selected.json, report.md and params.png; name -> path."""
  results = load(runs_dir)
  if not results:
    raise ValueError(f'No finished extra-task runs under {runs_dir}.')
  diverged = load(runs_dir, 'diverged')
  cells = table2_cells(results)
  tasks = task_order(results)
  peer_dir = peer_dir or os.path.join(out_dir, 'peer')
  peers = load_peers(peer_dir)
  paths = dict(runs=os.path.join(out_dir, 'runs.csv'),
               selected=os.path.join(out_dir, 'selected.json'),
               report=os.path.join(out_dir, 'report.md'),
               params=os.path.join(out_dir, 'params.png'))
  study.write_runs_csv(results, paths['runs'])
  pending = pending_selections(results + diverged, cells)
  fileio.write_json(paths['selected'], dict(
      protocol=('per (task, method): the seed-0 run with the best final-step '
                'dev accuracy; ties to fewer trained parameters'),
      selected=selected_entries(cells, pending)))
  plot_params([r for r in results if is_grid_run(r)], paths['params'])
  packed = sorted({study.run_row(r)['packed'] for r in results})
  backbones = ', '.join(sorted({str(r.get('backbone', '?')) for r in results}))
  lines = [
      f'# Extra classification tasks on {backbones} (the paper\'s Table 2, '
      'measured on CPU)', '',
      f'{len(results)} runs from `{runs_dir}`, {_count(len(tasks))}. Each '
      'cell: test accuracy (%) as mean ± s.e.m. over the seeds (n) of the '
      'configuration chosen on dev (final step) among the seed-0 runs of a '
      'CPU grid, NOT the paper\'s (configs/extra.py `sweep=table2_cpu`, then '
      '`sweep=table2_seeds`). Packed batches: '
      f'{" and ".join("yes" if p else "no" for p in packed)}. Our splits are '
      'this repository\'s stratified 80/10/10, each text\'s copies in one '
      'split (20 newsgroups: its by-date test set; its posts begin with their '
      'mail headers, From:, Subject:, Organization:, which fill much of the '
      '128 tokens), not the paper\'s. The paper\'s (its Table 3) are '
      '80/10/10 splits of each whole set, 20 newsgroups included (15,076 / '
      '1,885 / 1,885 of its 18,846 posts): its 20 newsgroups row tests on a '
      'tenth of all the posts, ours on the by-date test set of later posts.',
      '',
      '† The paper\'s numbers (BERT-base, 20-100 epochs) as in '
      'experiments/paper_results.py: its Table 2, checked value by value '
      'against a full-text copy of the paper (see there).', '',
      '## Table 2 layout', '', common.to_markdown(table2(results, cells))]
  if pending or diverged:
    lines += [study.provisional_line(f'{_label(task)} {method}',
                                     f'{study.points_text(missing)} (seed 0)')
              for (task, method), missing in sorted(pending.items())]
    lines += study.diverged_line(diverged) + ['']
  lines += ['## The claim', '']
  majority = {t: majority_accuracy(results, t) for t in tasks}
  lines += claim(cells, tasks, majority=majority)
  lines += ['', '![params.png](params.png)', '',
            '## Selected configurations', '',
            common.to_markdown(selected_table(results, cells)),
            study.CONSTANT_NOTE, '']
  budget = budget_table(results, cells)
  if budget[1]:
    lines += ['## Is the gap the CPU budget\'s? (sweep=table2_budget)', '',
              'Full FT and adapters at their selected configurations again, '
              f'with {extra_config.TABLE2_BUDGET_FACTOR}x the epochs (the '
              'paper: 20-100), seeds 0-2; test accuracy, mean ± s.e.m. '
              'Beside Table 2, never selected from.', '',
              common.to_markdown(budget), '']
  if peers:
    lines += ['## AdapterHub 1.3 peer (same split, hyperparameters and '
              'seed; unpacked, padded batches)', '',
              common.to_markdown(peer_table(results, peers)), '']
  lines += discussion.section(os.path.join(out_dir, DISCUSSION),
                              '\n'.join(lines))
  lines += ['## Reproduce', '', '```', REPRODUCE, '```', '']
  fileio.write_text(paths['report'], '\n'.join(lines))
  return paths


def define_flags() -> None:
  """Defined by the entry point only: importing claims no flag names."""
  cli.define_study_flags()
  flags.DEFINE_string('peer_dir', '', 'AdapterHub peer JSONs; default '
                      '<out>/peer.')


def main(argv: Sequence[str]) -> None:
  f = flags.FLAGS
  cli.write_and_list(argv, write_study, f.runs_dir, f.out, f.peer_dir)


if __name__ == '__main__':
  define_flags()
  app.run(main)
