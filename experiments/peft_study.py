r"""Adapters against LoRA, IA3, prefix tuning and BitFit: the report.

  python -m experiments.peft_study \
      [--runs_dir=experiments/results/peft_minilm/runs] \
      [--benchmark=experiments/results/peft_minilm/benchmark.json] \
      [--out=experiments/results/peft_minilm]

Reads the finished runs of configs/peft.py's sweeps (lr_grid, seeds,
budget_0p1; checks and lower_lr, reported beside and never selected from) and
writes runs.csv, selected.json (each method's learning rate, chosen on MRPC
with seed 0 at the ~1% budget by the final-step dev score; a method is left
out while its lr grid lacks a run, which the report names),
report.md (methods as rows, tasks as columns, mean ± std over seeds, the
trained share, step examples/s from the benchmark) and score_vs_params.png.
Hu et al. (2021)'s RoBERTa GLUE dev results are quoted beside ours for
orientation only: another backbone, another recipe, many more epochs.
"""

from __future__ import annotations

import collections
import json
import math
import os
from typing import Any, Sequence

from absl import app
from absl import flags

from configs import glue as glue_config
from configs import peft as peft_config
from experiments import cli
from experiments import fileio
from experiments import plots
from experiments import selection
from experiments import study
from experiments.tables import common

Result = selection.Result
TASKS = ('mrpc', 'rte', 'stsb', 'cola')
# Each task's column metric: the one Hu et al. (2021) report, so that the
# quoted rows read on the same scale.
TASK_METRICS = {'mrpc': 'accuracy', 'rte': 'accuracy', 'stsb': 'pearson',
                'cola': 'matthews_corrcoef'}
METHOD_LABELS = {'adapter': 'Adapters (Houlsby)', 'lora': 'LoRA',
                 'ia3': 'IA3', 'prefix': 'Prefix tuning', 'bitfit': 'BitFit'}
SELECTION_TASK = 'mrpc'
# A run belongs to the ~1% budget when its method adds at least this share of
# the backbone, else to the ~0.1% one (IA3 and BitFit, of fixed size, sit
# near 0.1% and are shown in both tables).
BUDGET_SPLIT = 0.004

# Hu et al. 2021 (LoRA, ICLR 2022), Table 2, GLUE dev: (model, method,
# trained parameters, {task: (value, ± or None)}). MRPC and RTE accuracy,
# STS-B Pearson, CoLA Matthews correlation; ± as printed there. '*' rows are
# numbers they quote from prior work; '†' rows follow Houlsby et al.'s setup.
HU_2021 = (
    ('RoBERTa-base', 'Full fine-tuning*', '125M',
     {'mrpc': (90.2, None), 'rte': (78.7, None), 'stsb': (91.2, None),
      'cola': (63.6, None)}),
    ('RoBERTa-base', 'BitFit*', '0.1M',
     {'mrpc': (92.7, None), 'rte': (81.5, None), 'stsb': (90.8, None),
      'cola': (62.0, None)}),
    ('RoBERTa-base', 'AdapterDrop*', '0.3M',
     {'mrpc': (88.5, 1.1), 'rte': (71.5, 2.7), 'stsb': (89.7, 0.3),
      'cola': (60.8, 0.4)}),
    ('RoBERTa-base', 'AdapterDrop*', '0.9M',
     {'mrpc': (88.4, 0.1), 'rte': (75.9, 2.2), 'stsb': (90.3, 0.1),
      'cola': (62.6, 0.9)}),
    ('RoBERTa-base', 'LoRA', '0.3M',
     {'mrpc': (89.7, 0.7), 'rte': (86.6, 0.7), 'stsb': (91.5, 0.2),
      'cola': (63.4, 1.2)}),
    ('RoBERTa-large', 'Adapters (Houlsby)†', '6.0M',
     {'mrpc': (88.7, 2.9), 'rte': (83.4, 1.1), 'stsb': (91.0, 1.7),
      'cola': (66.5, 4.4)}),
    ('RoBERTa-large', 'Adapters (Houlsby)†', '0.8M',
     {'mrpc': (87.7, 1.7), 'rte': (72.9, 2.9), 'stsb': (91.5, 0.5),
      'cola': (66.3, 2.0)}),
    ('RoBERTa-large', 'LoRA†', '0.8M',
     {'mrpc': (90.2, 1.0), 'rte': (85.2, 1.1), 'stsb': (92.3, 0.5),
      'cola': (68.2, 1.9)}),
)


def _config(result: Result) -> dict[str, Any]:
  return result.get('config') or {}


def _get(result: Result, key: str, default=None):
  return result.get(key, _config(result).get(key, default))


def method_share(result: Result) -> float:
  """What the run's method adds to the backbone, as a share of it (no head)."""
  backbone = _get(result, 'backbone', 'minilm-l6')
  params = peft_config.method_params(result['method'], backbone,
                                     selection.size(result) or 0)
  return params / peft_config.backbone_params(backbone)


def budget(result: Result) -> str:
  """'1%' or '0.1%': the comparison the run belongs to."""
  return '1%' if method_share(result) >= BUDGET_SPLIT else '0.1%'


def task_value(result: Result) -> float:
  """The task's column metric at the final step, 0-100."""
  metric = TASK_METRICS[result['task']]
  value = (result.get('dev') or {}).get(metric)
  return math.nan if value is None else 100 * float(value)


def is_study_run(result: Result) -> bool:
  """A run configs/peft.py's sweeps make: a method's grid lr, its size at
  one of the two budgets, the study's epochs (prefix tuning: with its MLP).

  Only these are selected from and fill the tables; a run at another lr or
  size, seed 0 or not, must not win a method's learning rate.
  """
  method = result['method']
  config = result.get('config') or {}
  backbone = str(config.get('backbone', 'minilm-l6'))
  sizes = [peft_config.budget_sizes(fraction, backbone)[method]
           for fraction in (peft_config.BUDGET, peft_config.SMALL_BUDGET)]
  return (any(all(config.get(k) == v for k, v in size.items())
              for size in sizes)
          and any(math.isclose(float(_get(result, 'lr')), lr)
                  for lr in peft_config.LRS[method])
          and float(_get(result, 'epochs')) == glue_config.CPU_EPOCHS
          and (method != 'prefix' or bool(config.get('prefix_mlp'))))


def is_check_run(result: Result) -> bool:
  """A run of sweep=checks: seed 0 on MRPC at the ~1% size, one lr past the
  grid's end (CHECK_LRS), or prefix tuning without its MLP at
  PREFIX_DIRECT_LR. Reported beside the grid, never selected from."""
  method = result['method']
  config = result.get('config') or {}
  backbone = str(config.get('backbone', 'minilm-l6'))
  size = peft_config.budget_sizes(peft_config.BUDGET, backbone)[method]
  if not (result['task'] == SELECTION_TASK
          and int(_get(result, 'seed', 0)) == 0
          and all(config.get(k) == v for k, v in size.items())
          and float(_get(result, 'epochs')) == glue_config.CPU_EPOCHS):
    return False
  lr = float(_get(result, 'lr'))
  if method == 'prefix' and not config.get('prefix_mlp'):
    return math.isclose(lr, peft_config.PREFIX_DIRECT_LR)
  return any(math.isclose(lr, c) for c in peft_config.CHECK_LRS[method])


def checks_markdown(results: Sequence[Result], checks: Sequence[Result],
                    lrs: dict[str, float]) -> list[str]:
  """Each method selected at an end of its grid, and one lr past it."""
  # Other methods' configs carry prefix_mlp=False too: it is prefix's knob.
  scores = {(r['method'], float(_get(r, 'lr')), r['method'] != 'prefix'
             or bool(_config(r).get('prefix_mlp'))): r for r in checks}
  grid = collections.defaultdict(dict)
  for r in lr_grid_runs(results):
    grid[r['method']][float(_get(r, 'lr'))] = r
  text = lambda r: study.score_text(100 * selection.score(r), r)
  lines = ['| Method | grid (lr: score) | past the edge | better than '
           'selected |', '|---|---|---|---|']
  for method in (m for m in peft_config.METHODS if m in lrs):
    lr = lrs[method]
    edge = peft_config.edge_check_lr(method, lr)
    if edge is None:
      continue
    points = ', '.join(f'{x:g}: {text(r)}' for x, r in sorted(
        grid[method].items()))
    check = scores.get((method, edge, True))
    if check is None:
      lines.append(f'| {METHOD_LABELS[method]} | {points} | {edge:g}: not '
                   'run yet | - |')
      continue
    better = selection.score(check) > selection.score(grid[method][lr])
    lines.append(f'| {METHOD_LABELS[method]} | {points} | {edge:g}: '
                 f'{text(check)} | {"yes" if better else "no"} |')
  direct = scores.get(('prefix', peft_config.PREFIX_DIRECT_LR, False))
  lines += ['', 'Prefix tuning without the reparameterisation MLP (direct '
            f'prefixes, lr {peft_config.PREFIX_DIRECT_LR:g}): '
            + (text(direct) if direct else 'not run yet') + '.']
  return lines


def lr_grid_runs(results: Sequence[Result]) -> list[Result]:
  """The runs of sweep=lr_grid: seed 0, MRPC, the ~1% budget.

  IA3 and BitFit have one size, which counts as their 1% point.
  """
  return [r for r in results if r['task'] == SELECTION_TASK
          and int(_get(r, 'seed', 0)) == 0
          and (budget(r) == '1%' or selection.size(r) is None)]


def select_lrs(results: Sequence[Result]) -> dict[str, float]:
  """Per method, the lr of its best lr-grid run (final-step MRPC dev)."""
  best = selection.best_by(lr_grid_runs(results), lambda r: (r['method'],))
  return {method: float(_get(r, 'lr')) for (method,), r in best.items()}


def pending_lrs(results: Sequence[Result], lrs: dict[str, float]
                ) -> dict[str, list[float]]:
  """Method -> its grid rates (configs/peft.py LRS) still without a seed-0
  MRPC run at the ~1% budget, for the methods `lrs` chose among fewer."""
  pending = {}
  tried = lr_grid_runs(results)
  for method in lrs:
    done = [float(_get(r, 'lr')) for r in tried if r['method'] == method]
    missing = [lr for lr in peft_config.LRS[method]
               if not any(math.isclose(lr, d) for d in done)]
    if missing:
      pending[method] = missing
  return pending


def _at(results, method: str, lr: float, share: str, task: str):
  fixed = lambda r: selection.size(r) is None
  return sorted((r for r in results
                 if r['method'] == method and r['task'] == task
                 and math.isclose(float(_get(r, 'lr')), lr)
                 and (budget(r) == share or fixed(r))),
                key=lambda r: int(_get(r, 'seed', 0)))


def cells(results: Sequence[Result], lrs: dict[str, float], share: str,
          tasks: Sequence[str]) -> dict[str, dict[str, Any]]:
  """{method: {task: (mean, std, n), 'share': ..., 'size': ...}}."""
  table = {}
  for method in peft_config.METHODS:
    if method not in lrs:
      continue
    row: dict[str, Any] = {}
    for task in tasks:
      runs = _at(results, method, lrs[method], share, task)
      values = [task_value(r) for r in runs]
      mean, std, _ = study.mean_std_sem(values)
      row[task] = (mean, std, len(values))
      if runs and 'share' not in row:
        row['share'] = method_share(runs[0])
        row['size'] = selection.size(runs[0])
        row['optimized'] = int(runs[0]['trainable_params'])
    if 'share' in row:
      table[method] = row
  return table


def _fmt(cell: tuple[float, float, int]) -> str:
  mean, std, n = cell
  if not n:
    return '–'
  if n == 1:
    return f'{mean:.1f} (1 seed)'
  return f'{mean:.1f} ± {std:.1f} ({n})'


def _size_label(method: str, size: int | None) -> str:
  key = peft_config.SIZE_KEYS.get(method)
  return '' if key is None or size is None else f'{key}={size}'


def _speed(benchmark: dict[str, Any] | None, method: str) -> str:
  row = ((benchmark or {}).get('methods') or {}).get(method)
  if not row or not row.get('examples_per_sec'):
    return '–'
  return f"{row['examples_per_sec']:.1f}"


def table_markdown(table: dict[str, dict[str, Any]], lrs: dict[str, float],
                   tasks: Sequence[str], benchmark=None,
                   speed: bool = True) -> list[str]:
  """Methods as rows; `speed` adds the benchmark's column (1% sizes only)."""
  head = (['Method', 'Size', 'lr', 'Trained share', 'Optimized']
          + [f'{common.task_label(t)} ({TASK_METRICS[t]})' for t in tasks]
          + (['Step ex/s'] if speed else []))
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for method, row in table.items():
    cols = [METHOD_LABELS[method], _size_label(method, row.get('size')),
            f'{lrs[method]:g}', f"{100 * row['share']:.3f}%",
            f"{row['optimized']:,}"]
    cols += [_fmt(row[t]) for t in tasks]
    cols += [_speed(benchmark, method)] if speed else []
    lines.append('| ' + ' | '.join(cols) + ' |')
  return lines


def lower_lr_markdown(results: Sequence[Result], lrs: dict[str, float]
                      ) -> list[str]:
  """Runs off MRPC at the grid rate below a method's selected one (those of
  sweep=lower_lr, or older) beside its seeds at the selected rate, per task;
  [] while there are none."""
  def seeds(lr, runs):
    values = [task_value(r) for r in runs]
    mean, std, _ = study.mean_std_sem(values)
    return (f'{lr:g}: ' + ', '.join(study.score_text(v, r)
                                    for v, r in zip(values, runs)),
            _fmt((mean, std, len(values))))
  rows = []
  for method in (m for m in peft_config.METHODS if m in lrs):
    lower = peft_config.lower_grid_lr(method, lrs[method])
    if lower is None:
      continue
    for task in (t for t in TASKS if t != SELECTION_TASK):
      low = _at(results, method, lower, '1%', task)
      if low:
        rows.append([METHOD_LABELS[method],
                     f'{common.task_label(task)} ({TASK_METRICS[task]})',
                     *seeds(lrs[method], _at(results, method, lrs[method],
                                             '1%', task)),
                     *seeds(lower, low)])
  if not rows:
    return []
  head = ['Method', 'Task', 'Selected lr: per seed', 'Mean ± std',
          'Next lower lr: per seed', 'Mean ± std']
  return (['', '## A lower rate where the MRPC-chosen one failed '
           '(sweep=lower_lr)', '',
           'Every run off MRPC at the grid rate just below a method\'s '
           'selected one (sweep=lower_lr\'s seeds 0-2, and any seed run there '
           'before the rate was selected), beside its seeds at the selected '
           'rate. Never selected from: the table above keeps the protocol\'s '
           'rate.', '',
           '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
          + ['| ' + ' | '.join(row) + ' |' for row in rows])


def lr_grid_markdown(results: Sequence[Result], lrs: dict[str, float]
                     ) -> list[str]:
  """MRPC seed-0 scores of every learning rate tried, per method."""
  grid = collections.defaultdict(dict)
  for r in lr_grid_runs(results):
    grid[r['method']][float(_get(r, 'lr'))] = study.score_text(
        100 * selection.score(r), r)
  lines = ['| Method | lr: selection score (mean of F1 and accuracy) |',
           '|---|---|']
  for method in peft_config.METHODS:
    if method not in grid:
      continue
    points = ', '.join(
        f"{'**' if math.isclose(lr, lrs.get(method, -1)) else ''}{lr:g}: "
        f"{score}{'**' if math.isclose(lr, lrs.get(method, -1)) else ''}"
        for lr, score in sorted(grid[method].items()))
    lines.append(f'| {METHOD_LABELS[method]} | {points} |')
  return lines


def hu_markdown(tasks: Sequence[str]) -> list[str]:
  head = ['Backbone', 'Method', 'Trained'] + [common.task_label(t) for t in tasks]
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for model, method, trained, values in HU_2021:
    cols = [model, method, trained] + [
        f'{values[t][0]:.1f}' + (f' ± {values[t][1]:.1f}'
                                 if values[t][1] is not None else '')
        for t in tasks]
    lines.append('| ' + ' | '.join(cols) + ' |')
  return lines


def plot(tables: dict[str, dict[str, dict[str, Any]]], path: str) -> str:
  """MRPC score against the trained share, one line per method."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for method in peft_config.METHODS:
    points = sorted((row[method]['share'] * 100, row[method]['mrpc'])
                    for row in tables.values()
                    if method in row and row[method]['mrpc'][2])
    if not points:
      continue
    xs = [x for x, _ in points]
    ys = [cell[0] for _, cell in points]
    errs = [0.0 if math.isnan(cell[1]) else cell[1] for _, cell in points]
    ax.errorbar(xs, ys, yerr=errs, marker='o', capsize=3,
                label=METHOD_LABELS[method])
  plots.log_x_panel(ax, 'trained share of the backbone (%)',
                    'MRPC dev accuracy (final step)',
                    'minilm-l6, mean ± std over seeds', legend='small')
  return plots.save_figure(fig, path)


def write_study(runs_dir: str, out_dir: str,
                benchmark_path: str | None = None) -> dict[str, str]:
  """Writes runs.csv, selected.json, report.md and the plot; their paths."""
  loaded = [r for r in selection.load_results(runs_dir)
            if r.get('method') in peft_config.METHODS]
  results = [r for r in loaded if r.get('status', 'done') == 'done']
  diverged = [r for r in study.diverged_runs(loaded) if is_study_run(r)]
  checks = [r for r in results if not is_study_run(r) and is_check_run(r)]
  outside = sorted(str(r.get('run', '?')) for r in results
                   if not is_study_run(r) and not is_check_run(r))
  if outside:
    raise ValueError(f'{runs_dir}: runs outside configs/peft.py\'s sweeps '
                     f'(lr, size, epochs): {", ".join(outside)}; move them '
                     'aside.')
  results = [r for r in results if is_study_run(r)]
  if not results:
    raise ValueError(f'{runs_dir}: no finished runs of {peft_config.METHODS}.')
  benchmark = None
  if benchmark_path and os.path.exists(benchmark_path):
    with open(benchmark_path) as f:
      benchmark = json.load(f)
  lrs = select_lrs(results)
  pending = pending_lrs(results + diverged, lrs)
  tables = {'1%': cells(results, lrs, '1%', TASKS),
            '0.1%': cells(results, lrs, '0.1%', ('mrpc',))}
  paths = {'runs': os.path.join(out_dir, 'runs.csv'),
           'selected': os.path.join(out_dir, 'selected.json'),
           'report': os.path.join(out_dir, 'report.md'),
           'plot': os.path.join(out_dir, 'score_vs_params.png')}
  study.write_runs_csv(results + checks, paths['runs'])
  fileio.write_json(paths['selected'], {
      'protocol': 'lr per method: best final-step MRPC dev score, seed 0, '
                  '~1% budget (configs/peft.py sweep=lr_grid)',
      'lr': {m: lr for m, lr in lrs.items() if m not in pending}})
  plot(tables, paths['plot'])
  fileio.write_text(paths['report'], report_markdown(
      results, lrs, tables, benchmark, benchmark_path, pending, diverged,
      checks))
  return paths


def report_markdown(results, lrs, tables, benchmark, benchmark_path,
                    pending=None, diverged=(), checks=()) -> str:
  seeds = collections.Counter((r['method'], r['task']) for r in results)
  lines = [
      '# Adapters against LoRA, IA3, prefix tuning and BitFit (minilm-l6)',
      '',
      'Generated by `python -m experiments.peft_study` from the runs in '
      '`runs/` (configs/peft.py). Our CPU grids, not any paper\'s: 3 epochs,'
      ' batch 32, the official BERT schedule, final-step dev scores. Each '
      'method\'s learning rate is chosen on MRPC (seed 0, ~1% budget); the '
      'tables give mean ± sample std over seeds (count in brackets) at that '
      'rate; each MRPC cell includes that seed-0 selection run. Trained '
      'share: what the method adds to or unfreezes in the backbone '
      '(22,713,216 parameters), the task head excluded; what an artifact '
      'keeps. Optimized: the parameters the optimizer updates, the head '
      'included; for prefix tuning they include Li and Liang\'s '
      'reparameterisation MLP (folded away after training), so its 0.1% '
      'run optimizes about as many as its 1% run. The whole study, '
      'resumable: `python -m experiments.study_pipeline --study=peft`.',
      '', f'{len(results)} finished runs; runs per (method, task): '
      + ', '.join(f'{m}/{t} {n}' for (m, t), n in sorted(seeds.items())) + '.',
      '', '## Learning rates (MRPC, seed 0, ~1% budget)', '']
  lines += lr_grid_markdown(results, lrs)
  lines += [study.provisional_line(
      f'{method}\'s lr', f'lr {", ".join(f"{lr:g}" for lr in missing)} '
      '(MRPC, seed 0)') for method, missing in sorted((pending or {}).items())]
  lines += study.diverged_line(diverged)
  lines += ['', '## Checks of the selection (MRPC, seed 0, beside the grid)',
            '', 'Runs of `sweep=checks`; none of them is selected from or '
            'fills a table below.', '']
  lines += checks_markdown(results, checks, lrs)
  lines += ['', '## ~1% of the backbone', '']
  lines += table_markdown(tables['1%'], lrs, TASKS, benchmark)
  lines += ['', '## ~0.1% of the backbone (MRPC)', '']
  lines += table_markdown(tables['0.1%'], lrs, ('mrpc',), speed=False)
  lines += ['', 'Step ex/s (~1% table): training examples per second of one '
            'step on unpacked batches of 32 x 128 tokens (the runs train on '
            'packed ones), each method at its ~1% size, from '
            f'`{benchmark_path}` ({"present" if benchmark else "not yet run"}'
            '; `python -m experiments.benchmark '
            f'{" ".join(peft_config.benchmark_flags())} --json_out=...`).']
  lines += lower_lr_markdown(results, lrs)
  lines += ['',
            '![score against trained share](score_vs_params.png)', '',
            '## For orientation: Hu et al. (2021), RoBERTa, GLUE dev', '',
            'Quoted from the LoRA paper\'s Table 2 (±: their confidence '
            'intervals over seeds; * numbers they quote from prior work, '
            '† runs in a setup like Houlsby et al.\'s). Another backbone '
            '(125M and 355M parameters against 22.7M), many more epochs and '
            'their own grids: compare orderings, not values.', '']
  lines += hu_markdown(TASKS)
  constant = sorted(r.get('run', '?') for r in list(results) + list(checks)
                    if study.constant_prediction(r))
  lines += ['', '## Runs that learned nothing of the input', '',
            study.CONSTANT_NOTE + ' Such runs here: '
            + (', '.join(constant) if constant else 'none') + '.']
  return '\n'.join(lines) + '\n'


def define_flags() -> None:
  flags.DEFINE_string('runs_dir', 'experiments/results/peft_minilm/runs',
                      'Finished runs (results.json per run directory).')
  flags.DEFINE_string('benchmark',
                      'experiments/results/peft_minilm/benchmark.json',
                      'The benchmark JSON of the methods at ~1% (optional).')
  flags.DEFINE_string('out', 'experiments/results/peft_minilm',
                      'Where runs.csv, selected.json, report.md go.')


def main(argv: Sequence[str]) -> None:
  f = flags.FLAGS
  cli.write_and_list(argv, write_study, f.runs_dir, f.out, f.benchmark)


if __name__ == '__main__':
  define_flags()
  app.run(main)
