r"""The minilm-l6 GLUE study: Table 1 analogue, curves, robustness, claims.

  python -m experiments.glue_study \
      --runs_dir experiments/results/glue_minilm/runs \
      --out experiments/results/glue_minilm

Reads the committed runs alone (results.json per run) and writes, under --out:
  runs.csv        one row per run (experiments.study.RUN_COLUMNS).
  selected.json   per task and method, the configuration chosen on dev among
                  the seed-0 runs (final-step scores); also the best m=64
                  adapter point. configs/glue.py:sweep=study_seeds reads it.
                  A row's task is left out while its grid lacks a seed-0
                  run (the report names them).
  curve_points.json the curves-stage sizes whose best seed-0 lr lacks the
                  curve's seeds; configs/glue.py:sweep=study_curve_best
                  reads it.
  report.md       Table 1 layout (mean ± std over seeds of the selected
                  configuration), the paper's rows and the AdapterHub
                  reference beside it, the curves and the claims.
  params_<task>.png, relative.png, init_scale.png, lr.png   when their runs
                  exist.
  ablation.png    the mean over seeds of the layer-span ablations under
                  <out>/ablation/<run>/ablation.json (experiments.ablate on
                  the MRPC m=64 adapters; the pipeline's ablation stage);
                  ablation_mean_pooling.png the same with a mean-pooling
                  head (sweep=study_pooling).
  discussion.md   (written by hand, read) why the claims that fail here fail;
                  appended to report.md with any number of it that the
                  tables no longer contain marked stale.
Every score is the final step's (as the official code), on a 0-100 scale; the
per-task number is the metric the paper's Table 1 prints (MCC for CoLA, F1
for MRPC, Spearman for STS-B, accuracy otherwise), while selection ranks the
mean of the task's metrics (as GLUE).
"""

from __future__ import annotations

import math
import os
import statistics
from typing import Any, Mapping, Sequence

from absl import app
from absl import flags

from configs import glue as glue_config
from experiments import cli
from experiments import fileio
from experiments import plots
from experiments import paper_results
from experiments import selection
from experiments import study
from experiments.tables import ablation
from experiments.tables import discussion
from experiments.tables import checks
from experiments.tables import claims
from experiments.tables import common
from experiments.tables import init_scale
from experiments.tables import learning_rate

Result = selection.Result
TASKS = ('rte', 'mrpc', 'stsb', 'cola', 'sst2')
PAPER_METRIC = paper_results.PAPER_METRIC
PAPER_COLUMN = {task: column for column, task, _ in paper_results.GLUE_COLUMNS}
# Rows of the Table 1 analogue: label -> (method, size filter).
ROWS = (('Adapters (8-256)', 'adapter', None), ('Adapters (64)', 'adapter', 64),
        ('Full fine-tuning', 'full', None),
        ('Variable FT (best k)', 'top_k', None),
        ('LayerNorm only', 'layernorm', None))
# The rows drawn as curves (Figs. 3-4): label -> method.
CURVE_ROWS = (('Adapters (8-256)', 'adapter'),
              ('Variable FT (best k)', 'top_k'), ('Full fine-tuning', 'full'))
# Hand-written, beside the report; its numbers are checked against it.
DISCUSSION = 'discussion.md'
# Beside selected.json: the curve points sweep=study_curve_best adds seeds to.
CURVE_POINTS = 'curve_points.json'
LONG_EPOCHS = glue_config.STUDY_LONG_EPOCHS
# Metrics whose chance level is 0 (a constant prediction scores exactly 0).
CORRELATION_METRICS = ('matthews_corrcoef', 'spearman', 'pearson')
# The curves stage's sizes (three seeds each): the curve claim's evidence.
# The grid's other sizes (adapters m=8, one seed) are plotted only.
CURVE_SIZES = {'adapter': glue_config.CURVE_MS,
               'top_k': glue_config.CURVE_TOP_KS}
CURVE_SIZES_NOTE = (
    '  - The verdict is over the curves stage\'s sizes (adapters m in '
    f'{{{", ".join(map(str, glue_config.CURVE_MS))}}}, top k in '
    f'{{{", ".join(map(str, glue_config.CURVE_TOP_KS))}}}, three seeds each); '
    'the grid\'s other sizes (one seed) are in the plots only.')
CURVE_NAMES = {'adapter': 'Adapters', 'top_k': 'Variable FT (top k)',
               'full': 'Full fine-tuning'}


def _metric(result: Result, task: str) -> float:
  """The paper's metric of the run's final step, x100."""
  dev = result.get('dev') or {}
  value = dev.get(PAPER_METRIC[task])
  return math.nan if value is None else 100 * float(value)


def batching_line(results: Sequence[Result]) -> str:
  """Which runs trained on packed batches, per task (runs.csv: `packed`)."""
  counts = {}
  for r in results:
    packed = bool((r.get('config') or {}).get('packing', False))
    by_task = counts.setdefault(r['task'], [0, 0])
    by_task[packed] += 1
  parts = [f'{common.task_label(t)} {n[1]} packed, {n[0]} unpacked'
           for t, n in ((t, counts[t]) for t in common.task_order(counts))]
  return ('Batching (packed batches are the same optimization up to dropout '
          'masks): ' + '; '.join(parts) + '.')


def _is_default_model(result: Result) -> bool:
  """The paper's model: default adapter init and the pooler head."""
  config = result.get('config') or {}
  return (float(config.get('init_scale', 1e-3)) == 1e-3
          and config.get('pooling', 'pooler') == 'pooler')


# (method, size, lr, epochs) of the study's grid (configs/glue.py).
GRID_POINTS = frozenset(study.point_key(p) for p in glue_config.study_grid())


def _is_grid_run(result: Result) -> bool:
  """A run at a point of the study's grid, with the default model.

  Only these runs are selected from and fill Table 1: a curve's m=16 or k=6,
  or a check beyond the grid's learning rates, must not win the selection.
  """
  _, method, size, lr, epochs = study.config_key(result)
  return (_is_default_model(result)
          and (method, size, lr, epochs) in GRID_POINTS)


def select(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
  """Row label -> task -> the selected configuration key (seed-0 runs)."""
  grid = [r for r in results if _is_grid_run(r)]
  chosen = {}
  for label, method, size in ROWS:
    pool = [r for r in grid if r['method'] == method
            and (size is None or selection.size(r) == size)]
    picked = study.select_configs(pool)
    chosen[label] = {task: list(key) for (task, _), key in picked.items()}
  return chosen


def pending_selections(results: Sequence[Result],
                       chosen: dict[str, dict[str, Any]]
                       ) -> dict[tuple[str, str], list[tuple]]:
  """(row label, task) -> the row's grid points still without a seed-0 run.

  Only where some are missing. SST-2 runs one point per method, chosen from
  the other tasks (sweep=study_sst2), so its rows have no grid to finish.
  """
  grid = glue_config.study_grid()
  pending = {}
  for label, method, size in ROWS:
    points = [p for p in grid if p['method'] == method
              and (size is None or study.point_key(p)[1] == size)]
    for task in chosen[label]:
      if task == 'sst2':
        continue
      missing = study.unfinished_points(results, task, points)
      if missing:
        pending[(label, task)] = missing
  return pending


def settled(chosen: dict[str, dict[str, Any]],
            pending: dict[tuple[str, str], list[tuple]]
            ) -> dict[str, dict[str, Any]]:
  """`chosen` without the provisional selections: what selected.json holds."""
  return {label: {task: key for task, key in rows.items()
                  if (label, task) not in pending}
          for label, rows in chosen.items()}


def pending_lines(pending: dict[tuple[str, str], list[tuple]]) -> list[str]:
  """One report line per provisional selection."""
  return [study.provisional_line(f'{label} on {common.task_label(task)}',
                                 f'{study.points_text(missing)} (seed 0)')
          for (label, task), missing in sorted(pending.items())]


def _cell(results: Sequence[Result], key: Sequence[Any] | None,
          task: str) -> tuple[str, float, int, Result | None]:
  """'mean ± std (n)' of the paper's metric over the configuration's seeds."""
  if key is None:
    return '-', math.nan, 0, None
  runs = study.runs_of(results, key)
  mean, std, _ = study.mean_std_sem([_metric(r, task) for r in runs])
  text = f'{mean:.1f}' + ('' if math.isnan(std) else f' ± {std:.1f}')
  return f'{text} (n={len(runs)})', mean, len(runs), runs[0]


def table1(results: Sequence[Result], chosen: dict[str, dict[str, Any]],
           tasks: Sequence[str]) -> tuple[list[str], list[list[str]]]:
  """Our rows, then the paper's and AdapterHub's, tasks as columns."""
  n = len(tasks)
  header = (['Row', f'Params for {n} task{"s" if n > 1 else ""}',
             'Trained / task']
            + [f'{common.task_label(t)} ({PAPER_METRIC[t]})' for t in tasks]
            + ['Mean'])
  rows = []
  for label, method, _ in ROWS:
    cells, means, shares = [], [], []
    for task in tasks:
      text, mean, count, run = _cell(results, chosen[label].get(task), task)
      cells.append(text)
      if count:
        means.append(mean)
        shares.append(study.run_row(run)['trained_share'])
    if not shares:
      continue
    share = statistics.fmean(shares)
    total = n if method == 'full' else 1 + n * share
    mean = f'{statistics.fmean(means):.1f}' if len(means) == n else '-'
    rows.append([label, f'{total:.2f}x', f'{100 * share:.2f}%'] + cells
                + [mean])
  constant = [study.task_constant_score(results, t, PAPER_METRIC[t])
              for t in tasks]
  if any(v is not None for v in constant):
    rows.append(['Best constant prediction (dev labels)', '-', '0%']
                + ['-' if v is None else f'{v:.1f}' for v in constant]
                + [f'{statistics.fmean(constant):.1f}' if None not in constant
                   else '-'])
  for label, paper in paper_results.GLUE_TABLE1.items():
    values = [paper['scores'][PAPER_COLUMN[t]] for t in tasks]
    rows.append([f'Paper {label} (BERT-large, test)',
                 f'{paper["total_params"]:.1f}x (9 tasks)',
                 f'{100 * paper["trained_share"]:.1f}%']
                + [f'{v:.1f}' for v in values]
                + [f'{statistics.fmean(values):.1f}'])
  for method, label in (('adapter', 'Adapters (64)'), ('full', 'Full FT')):
    ref = paper_results.ADAPTERHUB_REFERENCE
    values = [ref[t][method]['scores'].get(PAPER_METRIC[t]) if t in ref
              else None for t in tasks]
    share = paper_results.ADAPTERHUB_SHARE if method == 'adapter' else 1.0
    rows.append([f'AdapterHub 1.3 {label} (minilm-l6, dev, 1 seed, lr off '
                 'grid)', '-', f'{100 * share:.1f}%']
                + ['-' if v is None else f'{v:.1f}' for v in values]
                + [f'{statistics.fmean(values):.1f}' if None not in values
                   else '-'])
  return header, rows


def row_means(results: Sequence[Result], chosen: dict[str, dict[str, Any]],
              tasks: Sequence[str]
              ) -> dict[str, tuple[float, float, float, int]]:
  """Row label -> (mean over tasks, its s.e.m., trained share, fewest seeds).

  The s.e.m. of a mean over tasks combines the per-task s.e.m.s (independent
  seeds): sqrt(Σ sem_t²) / T. SST-2 runs one seed by design: it adds no
  spread term and does not count for the fewest seeds.
  """
  out = {}
  for label, _, _ in ROWS:
    means, sems, shares, seeds = [], [], [], []
    for task in tasks:
      key = chosen[label].get(task)
      if key is None:
        break
      runs = study.runs_of(results, key)
      mean, _, sem = study.mean_std_sem([_metric(r, task) for r in runs])
      means.append(mean)
      sems.append(0.0 if task == 'sst2' and len(runs) == 1 else sem)
      shares.append(study.run_row(runs[0])['trained_share'])
      if task != 'sst2':
        seeds.append(len(runs))
    else:
      if means:
        out[label] = (statistics.fmean(means),
                      math.sqrt(sum(s * s for s in sems)) / len(sems),
                      statistics.fmean(shares), min(seeds, default=1))
  return out


# ---------------------------------------------------------------- curves


def _on_curve(result: Result, chosen: dict[str, dict[str, Any]]) -> bool:
  """A grid run, or a curves-stage size at its row's selected lr and epochs.

  The checks' runs past a grid's edge (full FT at lr 1e-4, ...) are neither:
  a seed-0 check must not become a curve's point by scoring best.
  """
  if _is_grid_run(result):
    return True
  task, method, _, lr, epochs = study.config_key(result)
  label = {m: label for label, m in CURVE_ROWS}.get(method)
  key = chosen.get(label, {}).get(task) if label else None
  return (key is not None and _is_default_model(result)
          and (float(key[3]), float(key[4])) == (lr, epochs))


def _curve_runs(results: Sequence[Result], task: str,
                chosen: dict[str, dict[str, Any]]
                ) -> dict[str, list[tuple[int, list[Result]]]]:
  """Method -> [(size, runs)] along its curve: the runs of each point.

  Each size at the lr its seed-0 runs chose on dev (the paper draws the best
  model at every point), among the lrs run with the most seeds there: the
  curves stage runs its sizes at the row's selected lr with three seeds, and
  a one-seed grid lr at the same size must not replace that point. The
  grid's other sizes choose among their lrs. Full fine-tuning is one point
  (size 0).
  """
  grid = [r for r in results if r['task'] == task and _on_curve(r, chosen)]
  curves = {}
  for label, method in CURVE_ROWS:
    if chosen[label].get(task) is None:
      continue
    runs = [r for r in grid if r['method'] == method]
    series = []
    for size in sorted({selection.size(r) or 0 for r in runs}):
      at_size = [r for r in runs if (selection.size(r) or 0) == size]
      seeds = {}
      for r in at_size:
        seeds.setdefault(float(r['lr']), set()).add(study.seed_of(r))
      most = max(len(s) for s in seeds.values())
      seed0 = [r for r in at_size if study.seed_of(r) == 0
               and len(seeds[float(r['lr'])]) == most]
      if not seed0:
        continue
      lr = float(min(seed0, key=selection.rank_key)['lr'])
      series.append((size, [r for r in at_size if float(r['lr']) == lr]))
    curves[method] = series
  return curves


def _passed_over(results: Sequence[Result], task: str,
                 chosen: dict[str, dict[str, Any]]
                 ) -> list[tuple[str, int, list[Result], Result]]:
  """(method, size, drawn runs, seed-0 winner) where the winner's lr has
  fewer seeds than the drawn one and so is not the curve's point."""
  grid = [r for r in results if r['task'] == task and _on_curve(r, chosen)]
  out = []
  for method, series in _curve_runs(results, task, chosen).items():
    for size, runs in series:
      seed0 = [r for r in grid if r['method'] == method and study.seed_of(r)
               == 0 and (selection.size(r) or 0) == size]
      best = min(seed0, key=selection.rank_key)
      if float(best['lr']) != float(runs[0]['lr']):
        out.append((method, size, runs, best))
  return out


def passed_over_lrs(results: Sequence[Result], task: str,
                    chosen: dict[str, dict[str, Any]]) -> list[str]:
  """Curve points whose seed-0 winner was an lr with fewer seeds (kept out)."""
  out = []
  for method, size, runs, best in _passed_over(results, task, chosen):
    knob = {'adapter': 'm', 'top_k': 'k'}.get(method, 'size')
    out.append(f'{common.task_label(task)} {knob}={size} (lr '
               f'{float(runs[0]["lr"]):g} drawn, {len(runs)} seeds; lr '
               f'{float(best["lr"]):g} higher at seed 0)')
  return out


def curve_seed_points(results: Sequence[Result],
                      chosen: dict[str, dict[str, Any]]) -> list[list[Any]]:
  """[task, method, size, lr, epochs] of each curves-stage size whose seed-0
  winner lacks the curve's seeds: configs/glue.py sweep=study_curve_best
  adds them, so that the curve draws that size's best model (as the paper
  does) with as many seeds as the others."""
  return [list(study.config_key(best))
          for task in glue_config.CURVE_TASKS
          for method, size, _, best in _passed_over(results, task, chosen)
          if size in CURVE_SIZES.get(method, ())]


def curve_table(results: Sequence[Result], chosen: dict[str, dict[str, Any]],
                tasks: Sequence[str]) -> common.Table:
  """Every curve point: its size, lr, seeds, score and constant predictors."""
  header = ['Task', 'Method', 'Size', 'Trained params', 'lr', 'Seeds',
            'Dev score', 'Constant-prediction seeds']
  rows = []
  for task in tasks:
    for method, series in _curve_runs(results, task, chosen).items():
      for size, runs in series:
        mean, std, _ = study.mean_std_sem([_metric(r, task) for r in runs])
        spread = '' if math.isnan(std) else f' ± {std:.1f}'
        knob = {'adapter': f'm={size}', 'top_k': f'k={size}'}.get(method, '-')
        constant = sum(bool(study.constant_prediction(r)) for r in runs)
        rows.append([common.task_label(task), CURVE_NAMES[method], knob,
                     claims.params_text(float(runs[0]['trainable_params'])),
                     f'{float(runs[0]["lr"]):g}', str(len(runs)),
                     f'{mean:.1f}{spread}', f'{constant} of {len(runs)}'])
  return header, rows


def curve_points(results: Sequence[Result], task: str,
                 chosen: dict[str, dict[str, Any]],
                 sizes: Mapping[str, Sequence[int]] | None = None
                 ) -> dict[str, list[tuple[float, float, float, int]]]:
  """Method -> [(trained params, mean, std, seeds)] over sizes (Figs. 3-4).

  `sizes`: method -> the sizes to keep, e.g. the curves stage's, which have
  three seeds each; the grid's other sizes have one. None keeps every size.
  """
  points = {}
  for method, series in _curve_runs(results, task, chosen).items():
    points[method] = []
    for size, runs in series:
      if sizes and method in sizes and size not in sizes[method]:
        continue
      mean, std, _ = study.mean_std_sem([_metric(r, task) for r in runs])
      points[method].append((float(runs[0]['trainable_params']), mean, std,
                             len(runs)))
  return points


def relative_points(results: Sequence[Result],
                    chosen: dict[str, dict[str, Any]], tasks: Sequence[str]
                    ) -> dict[str, list[tuple[float, list[float]]]]:
  """Method -> [(trained params, [score - full FT per task])] (paper Fig. 3).

  Each task's score is its mean over seeds, relative to its full fine-tuning
  point. Only the sizes every task has are kept, so that each percentile is
  over the same tasks; params is their mean over the tasks.
  """
  per_task = {}
  for task in tasks:
    curves = _curve_runs(results, task, chosen)
    if not all(curves.get(m) for m in ('adapter', 'top_k', 'full')):
      continue
    full = statistics.fmean(_metric(r, task) for r in curves['full'][0][1])
    per_task[task] = {
        method: {size: (float(runs[0]['trainable_params']), statistics.fmean(
            _metric(r, task) for r in runs) - full) for size, runs in series}
        for method, series in curves.items() if method != 'full'}
  out = {}
  for method in ('adapter', 'top_k'):
    shared = set.intersection(*[set(p[method]) for p in per_task.values()]
                              ) if per_task else set()
    out[method] = [(statistics.fmean(p[method][size][0]
                                     for p in per_task.values()),
                    [p[method][size][1] for p in per_task.values()])
                   for size in sorted(shared)]
  return out if len(per_task) > 1 else {}


def relative_tasks(results: Sequence[Result], chosen: dict[str, dict[str, Any]],
                   tasks: Sequence[str]) -> list[str]:
  """The tasks relative.png aggregates: the curve tasks once both have curves,
  else (a study in progress) every task with the three methods."""
  curves = {t: _curve_runs(results, t, chosen) for t in tasks}
  complete = [t for t in tasks
              if all(curves[t].get(m) for m in ('adapter', 'top_k', 'full'))]
  curve_tasks = [t for t in glue_config.CURVE_TASKS if t in complete]
  if len(curve_tasks) == len(glue_config.CURVE_TASKS) and all(
      set(glue_config.CURVE_MS) <= {size for size, _ in curves[t]['adapter']}
      for t in curve_tasks):
    return curve_tasks
  return complete


def plot_curves(results: Sequence[Result], chosen: dict[str, dict[str, Any]],
                tasks: Sequence[str], out_dir: str) -> list[str]:
  """params_<task>.png per task, and relative.png (Figure 3's form)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  paths = []
  for task in tasks:
    points = curve_points(results, task, chosen)
    if sum(len(v) for v in points.values()) < 3:
      continue
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for method, series in points.items():
      xs, means, stds, _ = zip(*series)
      ax.errorbar(xs, means, yerr=[0 if math.isnan(v) else v for v in stds],
                  marker='o', capsize=3, label=CURVE_NAMES[method])
    plots.log_x_panel(
        ax, 'Trained parameters per task',
        f'{common.task_label(task)} dev {PAPER_METRIC[task]} (x100)',
        f'{common.task_label(task)}: score against trained parameters')
    paths.append(plots.save_figure(
        fig, os.path.join(out_dir, f'params_{task}.png')))
  aggregated = relative_tasks(results, chosen, tasks)
  relative = relative_points(results, chosen, aggregated)
  if any(relative.values()):
    paths.append(_plot_relative(relative, aggregated,
                                os.path.join(out_dir, 'relative.png')))
  return paths


def _plot_relative(relative: dict[str, list[tuple[float, list[float]]]],
                   tasks: Sequence[str], path: str) -> str:
  """Median and 20th-80th percentile band over tasks, as the paper's Fig. 3."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  for method, points in relative.items():
    if not points:
      continue
    xs = [x for x, _ in points]
    low, mid, high = zip(*(np.percentile(d, [20, 50, 80]) for _, d in points))
    line, = ax.plot(xs, mid, marker='o', label=CURVE_NAMES[method])
    ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
    if len(xs) == 1:  # A band needs two points; show the spread as a bar.
      ax.errorbar(xs, mid, yerr=[[mid[0] - low[0]], [high[0] - mid[0]]],
                  color=line.get_color(), capsize=3)
  ax.axhline(0.0, color='black', linewidth=0.8)
  names = ', '.join(common.task_label(t) for t in tasks)
  plots.log_x_panel(ax, 'Trained parameters per task',
                    'Dev score − full fine-tuning (points)',
                    f'Relative to full FT over {names}\n(median, 20th-80th '
                    'percentile; paper Fig. 3 form)', legend='small',
                    fontsize='small')
  return plots.save_figure(fig, path)


def _constant_value(result: Result) -> str:
  """What a constant-predicting run predicts: its class, or 'one score'."""
  predicted = result['dev_predictions'].get('predicted')
  if not predicted:
    return 'one score'
  return f"'{max(predicted, key=predicted.get)}'"


def chance_lines(grid: Sequence[Result], chosen: dict[str, dict[str, Any]],
                 tasks: Sequence[str]) -> list[str]:
  """Table 1 cells at chance: a correlation metric within 1 point of 0.

  MCC is 0 exactly when a classifier predicts one class for every example;
  such a cell says the method never left the majority class there.
  """
  lines = []
  for label, _, _ in ROWS:
    flat = []
    for task in tasks:
      key = chosen[label].get(task)
      if key is None or PAPER_METRIC[task] not in CORRELATION_METRICS:
        continue
      scores = [_metric(r, task) for r in study.runs_of(grid, key)]
      if scores and all(abs(v) < 1.0 for v in scores):
        flat.append(f'{common.task_label(task)} '
                    f'({", ".join(f"{v:.1f}" for v in scores)})')
    if flat:
      lines.append(f'- {label} is at chance on {"; ".join(flat)}: within 1 '
                   'point of 0, what a constant prediction scores (an MCC of '
                   'exactly 0: one class for every example).')
  return lines


def constant_lines(grid: Sequence[Result], chosen: dict[str, dict[str, Any]],
                   tasks: Sequence[str]) -> list[str]:
  """Table 1 cells where some seed's final step predicts a constant.

  Such a run scores what a constant predictor scores (the majority class's
  accuracy, an MCC or correlation of 0): the cell measures a failure to
  train, not the method's capacity. Beside them, seeds of the same cell that
  put all but at most 1% of dev in one class are counted.
  """
  lines = []
  for label, _, _ in ROWS:
    found = []
    for task in tasks:
      key = chosen[label].get(task)
      if key is None:
        continue
      runs = [r for r in study.runs_of(grid, key)
              if study.constant_prediction(r) is not None]
      constant = [r for r in runs if study.constant_prediction(r)]
      nearly = [study.nearly_constant_prediction(r) for r in runs]
      nearly = [n for n in nearly if n is not None]
      if constant:
        values = sorted({_constant_value(r) for r in constant})
        text = (f'{common.task_label(task)} ({len(constant)} of '
                f'{len(runs)} seeds; {", ".join(values)}')
        text += ''.join(f"; another seed {count} of {total} '{value}'"
                        for value, count, total in nearly)
        found.append(text + ')')
    if found:
      lines.append(f'- {label} predicts one value for every dev example on '
                   f'{"; ".join(found)}: there it scores what a constant '
                   'predictor scores, not what the method can learn.')
  return lines


def long_training_table(results: Sequence[Result],
                        chosen: dict[str, dict[str, Any]],
                        tasks: Sequence[str]) -> common.Table | None:
  """3 against 10 epochs at the selected adapter and full FT points, seed 0.

  The paper chose between 3 and 20 epochs; our grid has 3 only, so these
  runs say how much the CPU budget's short training costs each method.
  """
  header = ['Task', 'Row', 'Configuration', '3 epochs (seed 0)',
            f'{LONG_EPOCHS:g} epochs (seed 0)']
  default_model = [r for r in results if _is_default_model(r)]
  rows = []
  for task in tasks:
    for label in ('Adapters (8-256)', 'Full fine-tuning'):
      key = chosen[label].get(task)
      if key is None:
        continue
      long_key = list(key[:4]) + [LONG_EPOCHS]
      scores = []
      for k in (key, long_key):
        runs = [r for r in study.runs_of(default_model, k)
                if study.seed_of(r) == 0]
        scores.append(study.score_text(_metric(runs[0], task), runs[0])
                      if runs else None)
      if scores[1] is None:
        continue
      size = '' if key[2] is None else f'm={key[2]}, '
      rows.append([common.task_label(task), label, f'{size}lr {key[3]:g}',
                   scores[0] or '-', scores[1]])
  return (header, rows) if rows else None


def write_claims(results: Sequence[Result], grid: Sequence[Result],
                 chosen: dict[str, dict[str, Any]], tasks: Sequence[str],
                 out_dir: str) -> list[str]:
  """The Claims section: Table 1, the curves, init scale, the ablation.

  The Table 1 claims average over the tasks every row they compare has
  reached, so that a study in progress reports its gaps so far (provisional
  until all five). Variable FT is in no such claim, and SST-2 has no
  variable FT run by design: it must not hold the verdicts back.
  """
  complete = [t for t in tasks
              if all(chosen[label].get(t) for label, _, _ in ROWS
                     if label != 'Variable FT (best k)')]
  curve_tasks = [t for t in glue_config.CURVE_TASKS if t in tasks]
  ablations = {pooling: ablation.seeds_summary(os.path.join(out_dir, name))
               for pooling, name in ablation.DIRS.items()}
  return (claims.table1(row_means(grid, chosen, complete), complete, TASKS)
          + claims.curves({t: curve_points(results, t, chosen, CURVE_SIZES)
                           for t in curve_tasks}, glue_config.CURVE_TASKS)
          + [CURVE_SIZES_NOTE]
          + claims.init_scale(init_scale.summary(
              init_scale.study_runs(results)))
          + claims.ablation({p: s for p, s in ablations.items() if s}))


def write_study(runs_dir: str, out_dir: str) -> dict[str, str]:
  loaded = [r for r in selection.load_results(runs_dir) if r['task'] in TASKS]
  results = [r for r in loaded if r.get('status') == 'done']
  diverged = study.diverged_runs(loaded)
  if not results:
    raise ValueError(f'No finished runs under {runs_dir}.')
  tasks = [t for t in TASKS if any(r['task'] == t for r in results)]
  chosen = select(results)
  paths = dict(runs=os.path.join(out_dir, 'runs.csv'),
               selected=os.path.join(out_dir, 'selected.json'),
               curve_points=os.path.join(out_dir, CURVE_POINTS),
               report=os.path.join(out_dir, 'report.md'))
  study.write_runs_csv(results, paths['runs'])
  grid = [r for r in results if _is_grid_run(r)]
  pending = pending_selections(
      grid + [r for r in diverged if _is_grid_run(r)], chosen)
  fileio.write_json(paths['selected'], settled(chosen, pending))
  fileio.write_json(paths['curve_points'], dict(
      protocol=('curves-stage sizes whose best seed-0 lr lacks the curve\'s '
                'seeds: [task, method, size, lr, epochs]'),
      points=curve_seed_points(results, chosen)))
  table = table1(grid, chosen, tasks)
  lines = ['# GLUE on minilm-l6: the paper\'s claims measured on CPU', '',
           f'{len(results)} runs from `{runs_dir}`. Dev set, final step, '
           'x100; each cell is mean ± std over the seeds of the configuration '
           'chosen on dev among the seed-0 runs of the study\'s CPU grid '
           '(NOT the paper\'s grid; configs/glue.py `sweep=study`). Paper rows: '
           'BERT-large GLUE test scores, for orientation only. The whole '
           'study, resumable: `python -m experiments.study_pipeline '
           '--study=glue`.', '',
           batching_line(results), '',
           '## Table 1 analogue', '', common.to_markdown(table)]
  if pending or diverged:
    lines += pending_lines(pending) + study.diverged_line(diverged) + ['']
  lines += ['## Claims', '']
  lines += write_claims(results, grid, chosen, tasks, out_dir)
  score = lambda r: _metric(r, r['task'])
  edge_checks = checks.edge_checks(results, chosen, tasks)
  head_pairs = checks.head_pairs(results)
  lines += chance_lines(grid, chosen, tasks)
  lines += constant_lines(grid, chosen, tasks)
  found = checks.evidence(edge_checks, head_pairs, score)
  if found:
    lines += ['- What the checks of the selection say so far (seed 0 unless '
              'stated; "Checks" below):'] + found
  if os.path.exists(os.path.join(out_dir, DISCUSSION)):
    lines += ['- Why: the hand-written section at the end of this report.']
  lines += ['']
  for path in plot_curves(results, chosen, tasks, out_dir):
    name = os.path.basename(path)
    paths[name] = path
    lines += [f'![{name}]({name})', '']
  if 'relative.png' in paths:
    curve_tasks = [t for t in glue_config.CURVE_TASKS if t in tasks]
    lines += ['## Bottleneck-size curves (Figures 3-4)', '',
              common.to_markdown(curve_table(results, chosen, curve_tasks))]
    passed = [p for t in tasks for p in passed_over_lrs(results, t, chosen)]
    lines += ['Curves: mean ± std over seeds. The curves stage ran its '
              'sizes at the row\'s selected lr with three seeds (a CPU '
              'budget: the paper draws the best model at every point); those '
              'points stay at that lr even where a grid lr with fewer seeds '
              'scored higher at seed 0'
              + (f': {"; ".join(passed)}' if passed else ' (none here)')
              + '. The grid\'s other sizes are at the lr their seed-0 run '
              f'chose on dev. Top-k has lr {glue_config.STUDY_TOP_K_LR:g} '
              'only. relative.png keeps the sizes every aggregated task has.',
              '']
  sigma_runs = init_scale.study_runs(results)
  if sigma_runs:
    paths['init_scale'] = os.path.join(out_dir, 'init_scale.png')
    init_scale.plot(sigma_runs, paths['init_scale'])
    lines += ['## Robustness to the init scale (Figure 6)', '',
              common.to_markdown(init_scale.table(sigma_runs)),
              '![init_scale.png](init_scale.png)', '']
  long_table = long_training_table(results, chosen, tasks)
  if long_table:
    lines += ['## Longer training (10 epochs, seed 0)', '',
              common.to_markdown(long_table), study.CONSTANT_NOTE, '']
  edges = checks.edge_table(edge_checks, score)
  heads = checks.head_table(head_pairs, score)
  if edges or heads:
    lines += ['## Checks of the selection (seed 0, beside the grid)', '',
              'Runs of `sweep=study_checks` (and the ablation\'s mean-pooling '
              'seeds); none of them is selected from.', '']
  if edges:
    lines += ['Rows selected at the lowest or highest lr of their grid, and '
              'one lr past that edge:', '', common.to_markdown(edges)]
  if heads:
    lines += ['The checkpoint\'s untrained pooler (frozen for adapters and '
              'LayerNorm-only tuning) against mean pooling, same seeds:', '',
              common.to_markdown(heads)]
  for pooling, name in ablation.DIRS.items():
    section = ablation.write(os.path.join(out_dir, name),
                             os.path.join(out_dir, f'{name}.png'),
                             ablation.HEADINGS[pooling])
    if section:
      paths[name] = os.path.join(out_dir, f'{name}.png')
    lines += section
  seed0 = [r for r in grid if int(r.get('seed', 0)) == 0]
  paths['lr'] = learning_rate.plot(
      seed0, score, tasks,
      lambda t: f'{common.task_label(t)} dev {PAPER_METRIC[t]} (x100)',
      os.path.join(out_dir, 'lr.png'), marked=study.constant_prediction,
      marked_label=f'{study.CONSTANT_MARK} constant prediction')
  lines += ['## Dev score against learning rate (seed 0)', '',
            common.to_markdown(learning_rate.table(
                seed0, score, tasks, mark=study.CONSTANT_MARK,
                marked=study.constant_prediction)),
            study.CONSTANT_NOTE, '', '![lr.png](lr.png)', '']
  lines += discussion.section(os.path.join(out_dir, DISCUSSION),
                              '\n'.join(lines))
  fileio.write_text(paths['report'], '\n'.join(lines))
  return paths


def main(argv: Sequence[str]) -> None:
  cli.write_and_list(argv, write_study, flags.FLAGS.runs_dir, flags.FLAGS.out)


if __name__ == '__main__':
  cli.define_study_flags()
  app.run(main)
