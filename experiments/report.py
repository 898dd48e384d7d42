r"""Paper-style tables, plots and GLUE submission files from a sweep's results.

  python -m experiments.report --sweep_dir runs/sweep_rte --out experiments/results/cpu

Reads every results.json under the sweep dir(s), picks the best run on dev per
(task, method) and per (task, method, size) (experiments.selection), and writes
under --out:
  report.md          Table 1 layout for GLUE (ours next to the paper's and the
                     AdapterHub reference), Table 2 layout for extra tasks,
                     wall times, and every run.
  glue_table.csv, extra_table.csv, wall_time.csv, runs.csv   the same tables.
  params_glue.png, params_extra.png   metric against trained parameters (log x),
                     one curve per method, a panel per task (paper Figs. 3-4).
  squad_table.csv    SQuAD runs: EM / F1, trained share, time, split.
  init_scale.csv, init_scale.png   when adapter runs of a task differ only in
                     the init stddev σ (configs/ablation.py sweep=init_scale):
                     dev score against σ (paper Fig. 6, right).
  submission/        the GLUE server files of the best run per task.
Every file is written atomically.
"""

from __future__ import annotations

import collections
import csv
import io
import math
import os
import statistics
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from experiments import fileio
from experiments import plots
from experiments import paper_results
from experiments import selection

Result = selection.Result
GLUE_TASKS = ('cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli', 'qnli', 'rte',
              'wnli')
TASK_NAMES = {'cola': 'CoLA', 'sst2': 'SST-2', 'mrpc': 'MRPC', 'stsb': 'STS-B',
              'qqp': 'QQP', 'mnli': 'MNLI', 'qnli': 'QNLI', 'rte': 'RTE',
              'wnli': 'WNLI'}
METHOD_ORDER = ('full', 'top_k', 'adapter', 'layernorm', 'head')
METHOD_NAMES = {'full': 'Full FT', 'top_k': 'Variable FT', 'adapter': 'Adapters',
                'layernorm': 'LayerNorm only', 'head': 'Head only'}
METRIC_ORDER = ('matthews_corrcoef', 'f1', 'accuracy', 'pearson', 'spearman')
METRIC_NAMES = {'matthews_corrcoef': 'MCC', 'f1': 'F1', 'accuracy': 'acc',
                'pearson': 'Pearson', 'spearman': 'Spearman'}
Table = tuple[list[str], list[list[str]]]


# ---------------------------------------------------------------- helpers


def _metric_key(name: str) -> tuple[int, str]:
  for i, base in enumerate(METRIC_ORDER):
    if name == base or name.startswith(base):
      return i, name
  return len(METRIC_ORDER), name


def _metric_label(name: str) -> str:
  for base, label in METRIC_NAMES.items():
    if name.startswith(base):
      return label + name[len(base):]
  return name


def dev_metrics(result: Result) -> dict[str, float]:
  """Dev metrics of the final step (the run's score), in display order."""
  dev = result.get('dev') or {}
  return {k: float(dev[k]) for k in sorted(dev, key=_metric_key)}


def _pct(value: float | None) -> str:
  if value is None or not math.isfinite(value):
    return '-'
  return f'{100 * value:.1f}'


def _cell(values: Sequence[float | None]) -> str:
  return ' / '.join(_pct(v) for v in values) if values else '-'


def trainable_share(result: Result) -> float:
  if result.get('trainable_share') is not None:
    return float(result['trainable_share'])
  return float(result['trainable_params']) / float(result['total_params'])


def total_params_multiplier(method: str, share: float, num_tasks: int) -> float:
  """Parameters stored for N tasks, in units of one model (paper Tables 1-2).

  Full fine-tuning keeps a whole model per task: N. Every other method shares
  the frozen network and adds its trained parameters per task: 1 + N * share
  (the paper's 1.3x for 3.6% and 1.2x for 2.1% over GLUE's 9 tasks).
  """
  if method == 'full':
    return float(num_tasks)
  return 1.0 + num_tasks * share


def _task_order(tasks: Sequence[str]) -> list[str]:
  known = [t for t in GLUE_TASKS if t in tasks]
  return known + sorted(t for t in tasks if t not in GLUE_TASKS)


def _task_label(task: str) -> str:
  return TASK_NAMES.get(task, task.split(':', 1)[-1])


def _method_rank(method: str) -> tuple[int, str]:
  order = METHOD_ORDER.index(method) if method in METHOD_ORDER else 99
  return order, method


def _size_label(method: str, sizes: Sequence[int | None]) -> str:
  """'Adapters (8-256)', 'Adapters (64)', 'Variable FT (top 3)'."""
  name = METHOD_NAMES.get(method, method)
  sizes = sorted(s for s in sizes if s is not None)
  if not sizes:
    return name
  span = str(sizes[0]) if sizes[0] == sizes[-1] else f'{sizes[0]}-{sizes[-1]}'
  return f'{name} ({"top " if method == "top_k" else ""}{span})'


def to_markdown(table: Table) -> str:
  header, rows = table
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join('---' for _ in header) + '|']
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines) + '\n'


def to_csv(table: Table) -> str:
  header, rows = table
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(header)
  writer.writerows(rows)
  return buffer.getvalue()


# ---------------------------------------------------------------- tables


def glue_table(results: Sequence[Result], num_tasks: int = 0) -> Table:
  """Paper Table 1 layout: a row per method (best over its grid) and per size,
  then the paper's rows and the AdapterHub reference, tasks as columns."""
  results = [r for r in results if r['task'] in GLUE_TASKS]
  tasks = _task_order({r['task'] for r in results})
  n = num_tasks or len(tasks)
  metrics = {t: sorted({k for r in results if r['task'] == t
                        for k in dev_metrics(r)}, key=_metric_key)
             for t in tasks}
  header = (['Row', 'Source', f'Params for {n} tasks', 'Trained / task']
            + [f'{_task_label(t)} ({" / ".join(map(_metric_label, metrics[t]))})'
               for t in tasks]
            + ['Mean', 'Train s (sum)'])
  rows = []

  def our_row(label: str, method: str, best: dict[str, Result]) -> list[str]:
    shares = [trainable_share(best[t]) for t in tasks if t in best]
    share = statistics.mean(shares) if shares else math.nan
    cells = [_cell([dev_metrics(best[t]).get(k) for k in metrics[t]])
             if t in best else '-' for t in tasks]
    scores = [selection.score(best[t]) for t in tasks if t in best]
    seconds = sum(float(best[t].get('train_seconds', 0)) for t in best)
    return ([label, 'ours, dev',
             f'{total_params_multiplier(method, share, n):.2f}x',
             f'{100 * share:.2f}%'] + cells
            + [_pct(statistics.mean(scores)) if scores else '-',
               f'{seconds:.0f}'])

  per_method = selection.best_per_method(results)
  per_size = selection.best_per_size(results)
  for method in sorted({r['method'] for r in results}, key=_method_rank):
    runs = [r for r in results if r['method'] == method]
    sizes = sorted({selection.size(r) for r in runs}, key=lambda s: s or 0)
    best = {t: per_method[(t, method)] for t in tasks if (t, method) in per_method}
    rows.append(our_row(_size_label(method, sizes), method, best))
    if len(sizes) > 1:
      for s in sizes:
        best = {t: per_size[(t, method, s)] for t in tasks
                if (t, method, s) in per_size}
        rows.append(our_row(_size_label(method, [s]), method, best))

  for label, paper in paper_results.GLUE_TABLE1.items():
    cells = []
    for t in tasks:
      values = [v / 100 for column, task, _ in paper_results.GLUE_COLUMNS
                if task == t for v in [paper['scores'][column]]]
      cells.append(_cell(values))
    rows.append([f'Paper: {label}', 'paper, BERT-large, test',
                 f'{paper["total_params"]:.1f}x',
                 f'{100 * paper["trained_share"]:.1f}%'] + cells
                + [f'GLUE {paper["total"]:.1f}', '-'])

  for method in ('adapter', 'full'):
    ref = {t: paper_results.ADAPTERHUB_REFERENCE[t][method] for t in tasks
           if t in paper_results.ADAPTERHUB_REFERENCE}
    if not ref:
      continue
    share = paper_results.ADAPTERHUB_SHARE if method == 'adapter' else 1.0
    cells = [_cell([ref[t]['scores'].get(k, math.nan) / 100
                    for k in metrics[t]]) if t in ref else '-' for t in tasks]
    means = [statistics.mean(ref[t]['scores'].values()) / 100 for t in ref]
    label = 'Adapters (64)' if method == 'adapter' else 'Full FT'
    rows.append([f'AdapterHub 1.3: {label}', 'reference, minilm-l6, dev',
                 f'{total_params_multiplier(method, share, n):.2f}x',
                 f'{100 * share:.1f}%'] + cells
                + [_pct(statistics.mean(means)),
                   f'{sum(ref[t]["seconds"] for t in ref):.0f}'])
  return header, rows


def extra_table(results: Sequence[Result], num_tasks: int = 0) -> Table:
  """Paper Table 2 layout: a row per dataset, ours and the paper's per method."""
  results = [r for r in results if r['task'] not in GLUE_TASKS]
  tasks = _task_order({r['task'] for r in results})
  n = num_tasks or len(tasks)
  methods = sorted({r['method'] for r in results}, key=_method_rank)
  per_method = selection.best_per_method(results)
  paper_methods = [m for m in methods if m in paper_results.EXTRA_AVERAGE]
  header = (['Dataset'] + [f'{METHOD_NAMES.get(m, m)} (ours)' for m in methods]
            + [f'{METHOD_NAMES[m]} (paper)' for m in paper_methods])
  rows = []
  for t in tasks:
    name = t.split(':', 1)[-1]
    ours = [_pct(selection.score(per_method[(t, m)]))
            if (t, m) in per_method else '-' for m in methods]
    paper = [f'{paper_results.EXTRA_TABLE2[name][m]:.1f}'
             if m in paper_results.EXTRA_TABLE2.get(name, {}) else '-'
             for m in paper_methods]
    rows.append([_task_label(t)] + ours + paper)

  def over_tasks(m, fn):
    values = [fn(per_method[(t, m)]) for t in tasks if (t, m) in per_method]
    return statistics.mean(values) if values else math.nan

  shares = {m: over_tasks(m, trainable_share) for m in methods}
  rows.append(['Average'] + [_pct(over_tasks(m, selection.score))
                             for m in methods]
              + [f'{paper_results.EXTRA_AVERAGE[m]:.1f}' for m in paper_methods])
  rows.append([f'Params for {n} tasks (paper: {paper_results.EXTRA_NUM_TASKS})']
              + [f'{total_params_multiplier(m, shares[m], n):.2f}x'
                 for m in methods]
              + [f'{paper_results.EXTRA_TOTAL_PARAMS[m]:g}x'
                 for m in paper_methods])
  rows.append(['Trained / task'] + [f'{100 * shares[m]:.2f}%' for m in methods]
              + [f'{100 * paper_results.EXTRA_TRAINED_SHARE[m]:g}%'
                 for m in paper_methods])
  return header, rows


def squad_table(results: Sequence[Result]) -> Table:
  """SQuAD runs: EM / F1 (already x100), trained share, time; paper's F1."""
  header = ['Method', 'Size', 'Split', 'EM', 'F1', 'Trained', 'Train s',
            'Paper dev F1 (BERT-base, SQuAD train)']
  rows = []
  for r in sorted(results, key=lambda r: (_method_rank(r['method']),
                                          selection.size(r) or 0, r['run'])):
    dev = r.get('dev') or {}
    size = selection.size(r)
    key = 'full' if r['method'] == 'full' else f'adapter_m{size}'
    paper = paper_results.SQUAD_DEV_F1.get(key)
    holdout = ((r.get('config') or {}).get('squad') or {}).get(
        'holdout_articles', 0)
    rows.append([METHOD_NAMES.get(r['method'], r['method']),
                 '-' if size is None else f'm={size}',
                 f'last {holdout} dev articles held out' if holdout
                 else 'dev',
                 f'{dev.get("exact_match", math.nan):.1f}',
                 f'{dev.get("f1", math.nan):.1f}',
                 f'{100 * trainable_share(r):.2f}%',
                 f'{float(r.get("train_seconds", 0)):.0f}',
                 '-' if paper is None else f'{paper:.1f}'])
  return header, rows


def wall_time_table(results: Sequence[Result]) -> Table:
  """Per task and method: the best run's training time and the whole grid's."""
  header = ['Task', 'Method', 'Runs', 'Best run', 'Best run train s',
            'Steps', 'Grid train s (sum)', 'AdapterHub train s']
  rows = []
  per_method = selection.best_per_method(results)
  order = {t: i for i, t in enumerate(_task_order({t for t, _ in per_method}))}
  for (task, method), best in sorted(
      per_method.items(),
      key=lambda kv: (order[kv[0][0]], _method_rank(kv[0][1]))):
    runs = [r for r in results if r['task'] == task and r['method'] == method]
    ref = paper_results.ADAPTERHUB_REFERENCE.get(task, {}).get(method)
    rows.append([_task_label(task), METHOD_NAMES.get(method, method),
                 str(len(runs)), best['run'],
                 f'{float(best.get("train_seconds", 0)):.0f}',
                 str(best.get('steps', '-')),
                 f'{sum(float(r.get("train_seconds", 0)) for r in runs):.0f}',
                 f'{ref["seconds"]}' if ref else '-'])
  return header, rows


def runs_table(results: Sequence[Result]) -> Table:
  metric_names = sorted({k for r in results for k in dev_metrics(r)},
                        key=_metric_key)
  header = (['run', 'task', 'method', 'size', 'lr', 'epochs', 'seed', 'score']
            + [f'dev_{k}' for k in metric_names]
            + ['best_step', 'steps', 'trainable_params', 'total_params',
               'trainable_share', 'train_seconds'])
  rows = []
  for r in sorted(results, key=lambda r: (r['task'], r['run'])):
    dev = dev_metrics(r)
    size = selection.size(r)
    rows.append([r['run'], r['task'], r['method'],
                 '' if size is None else str(size), f'{r.get("lr", "")}',
                 f'{r.get("epochs", "")}', f'{r.get("seed", "")}',
                 f'{selection.score(r):.4f}']
                + [f'{dev[k]:.4f}' if k in dev else '' for k in metric_names]
                + [str(r.get(k, '')) for k in ('best_step', 'steps',
                                               'trainable_params',
                                               'total_params')]
                + [f'{trainable_share(r):.5f}',
                   f'{float(r.get("train_seconds", 0)):.1f}'])
  return header, rows


def init_scale_runs(results: Sequence[Result]) -> dict[str, list[Result]]:
  """Per task, its adapter runs when they span more than one init σ."""
  by_task = collections.defaultdict(list)
  for r in results:
    if r['method'] == 'adapter' and 'init_scale' in (r.get('config') or {}):
      by_task[r['task']].append(r)
  return {task: runs for task, runs in by_task.items()
          if len({float(r['config']['init_scale']) for r in runs}) > 1}


def _by_sigma(runs: Sequence[Result]) -> dict[float, list[float]]:
  scores = collections.defaultdict(list)
  for r in runs:
    scores[float(r['config']['init_scale'])].append(selection.score(r))
  return dict(sorted(scores.items()))


def init_scale_table(study: dict[str, list[Result]]) -> Table:
  """Dev score (mean, min, max over seeds) per task and init σ."""
  header = ['task', 'init σ', 'runs', 'dev score', 'min', 'max']
  rows = []
  for task in _task_order(study):
    for sigma, scores in _by_sigma(study[task]).items():
      rows.append([_task_label(task), f'{sigma:g}', str(len(scores)),
                   _pct(statistics.mean(scores)), _pct(min(scores)),
                   _pct(max(scores))])
  return header, rows


# ---------------------------------------------------------------- plots


def plot_init_scale(study: dict[str, list[Result]], path: str) -> None:
  """Dev score against the adapters' init stddev (log x), a line per task."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for task in _task_order(study):
    by_sigma = _by_sigma(study[task])
    sigmas = list(by_sigma)
    means = [100 * statistics.mean(v) for v in by_sigma.values()]
    low = [m - 100 * min(v) for m, v in zip(means, by_sigma.values())]
    high = [100 * max(v) - m for m, v in zip(means, by_sigma.values())]
    ax.errorbar(sigmas, means, yerr=[low, high], marker='o', capsize=3,
                label=_task_label(task))
  plots.log_x_panel(ax, 'Adapter init stddev σ', 'Dev score (x100)',
                    'Initialisation scale (paper Fig. 6, right)')
  plots.save_figure(fig, path)



def plot_params(results: Sequence[Result], path: str) -> None:
  """Best dev score against trained parameters (log x), a curve per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  tasks = _task_order({r['task'] for r in results})
  per_size = selection.best_per_size(results)
  cols = min(3, len(tasks))
  rows = math.ceil(len(tasks) / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.5 * rows),
                           squeeze=False)
  for ax, task in zip(axes.flat, tasks):
    methods = sorted({m for (t, m, _) in per_size if t == task},
                     key=_method_rank)
    for method in methods:
      points = sorted((float(r['trainable_params']), 100 * selection.score(r))
                      for (t, m, _), r in per_size.items()
                      if t == task and m == method)
      xs, ys = zip(*points)
      ax.plot(xs, ys, marker='o', label=METHOD_NAMES.get(method, method))
    plots.log_x_panel(ax, 'Trained parameters per task', 'Dev score (x100)',
                      _task_label(task))
  for ax in list(axes.flat)[len(tasks):]:
    ax.axis('off')
  plots.save_figure(fig, path)


# ---------------------------------------------------------------- submission


def copy_submission(results: Sequence[Result], out_dir: str,
                    method: str = '') -> dict[str, str]:
  """Copies the best GLUE run's predictions/*.tsv per task; file -> run."""
  pool = [r for r in results if r['task'] in GLUE_TASKS
          and (not method or r['method'] == method)]
  copied = {}
  for (task,), best in selection.best_by(pool, lambda r: (r['task'],)).items():
    pred_dir = os.path.join(best['run_dir'], 'predictions')
    files = sorted(os.listdir(pred_dir)) if os.path.isdir(pred_dir) else []
    if not files:
      logging.warning('Best %s run %s has no predictions/.', task, best['run'])
    for name in files:
      fileio.copy_file(os.path.join(pred_dir, name),
                       os.path.join(out_dir, 'submission', name))
      copied[name] = best['run']
  return copied


# ---------------------------------------------------------------- main


def write_report(sweep_dirs: Sequence[str], out_dir: str, num_tasks: int = 0,
                 submission_method: str = '') -> dict[str, str]:
  """Writes every table, plot and submission file; returns name -> path."""
  results = []
  for sweep_dir in sweep_dirs:
    found = selection.load_results(sweep_dir)
    if len(sweep_dirs) > 1:
      for r in found:
        r['run'] = os.path.join(os.path.basename(sweep_dir.rstrip('/')),
                                r['run'])
    results += found
  if not results:
    raise ValueError(f'No {selection.RESULTS_FILE} under {list(sweep_dirs)}.')
  glue = [r for r in results if r['task'] in GLUE_TASKS]
  squad = [r for r in results if r['task'] == 'squad']
  extra = [r for r in results
           if r['task'] not in GLUE_TASKS and r['task'] != 'squad']
  paths = {}
  sections = [f'# Results\n\n{len(results)} runs from {", ".join(sweep_dirs)}. '
              'Ours: dev scores x100 of the best run on dev (the paper\'s '
              'selection); "Mean" averages each task\'s metrics, then tasks. '
              'Paper rows: BERT-large GLUE *test* scores, one metric per task '
              '(F1 for MRPC and QQP, Spearman for STS-B, MCC for CoLA, '
              'accuracy otherwise). Params for N tasks: '
              'N for full fine-tuning, else 1 + N x trained share.\n']

  def emit(name: str, title: str, table: Table):
    path = os.path.join(out_dir, f'{name}.csv')
    fileio.write_text(path, to_csv(table))
    paths[name] = path
    sections.append(f'## {title}\n\n{to_markdown(table)}')

  if glue:
    emit('glue_table', 'GLUE (paper Table 1 layout)', glue_table(glue, num_tasks))
    paths['params_glue'] = os.path.join(out_dir, 'params_glue.png')
    plot_params(glue, paths['params_glue'])
    sections.append('![GLUE: score against trained parameters](params_glue.png)\n')
  if extra:
    emit('extra_table', 'Extra tasks (paper Table 2 layout)',
         extra_table(extra, num_tasks))
    paths['params_extra'] = os.path.join(out_dir, 'params_extra.png')
    plot_params(extra, paths['params_extra'])
    sections.append('![Extra tasks: score against trained parameters]'
                    '(params_extra.png)\n')
  if squad:
    emit('squad_table', 'SQuAD v1.1 (EM / F1 on the evaluated articles; a '
         'holdout split is not the paper\'s protocol)', squad_table(squad))
  study = init_scale_runs(results)
  if study:
    emit('init_scale', 'Adapter initialisation scale (paper Fig. 6, right)',
         init_scale_table(study))
    paths['init_scale_plot'] = os.path.join(out_dir, 'init_scale.png')
    plot_init_scale(study, paths['init_scale_plot'])
    sections.append('![Dev score against init stddev](init_scale.png)\n')
  emit('wall_time', 'Wall time', wall_time_table(results))
  emit('runs', 'Every run', runs_table(results))
  copied = copy_submission(results, out_dir, submission_method)
  if copied:
    sections.append('## GLUE submission\n\n' + '\n'.join(
        f'- `submission/{f}` from `{run}`' for f, run in sorted(copied.items()))
                    + '\n')
  paths['report'] = os.path.join(out_dir, 'report.md')
  fileio.write_text(paths['report'], '\n'.join(sections))
  return paths


def define_flags() -> None:
  """Defined by the entry point only: importing claims no flag names."""
  flags.DEFINE_list('sweep_dir', None, 'Sweep directories (comma-separated).')
  flags.DEFINE_string('out', None, 'Output directory.')
  flags.DEFINE_integer('num_tasks', 0, 'N of "total parameters for N tasks"; '
                       '0 = tasks present.')
  flags.DEFINE_string('submission_method', '', 'Submit the best run of this '
                      'method per task; empty = of any method.')
  flags.mark_flags_as_required(['sweep_dir', 'out'])


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  f = flags.FLAGS
  try:
    paths = write_report(f.sweep_dir, f.out, f.num_tasks, f.submission_method)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  for name, path in paths.items():
    print(f'{name}: {path}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
