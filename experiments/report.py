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
Every file is written atomically; each table is built by its module in
experiments/tables/.
"""

from __future__ import annotations

import os
from typing import Sequence

from absl import app
from absl import flags
from absl import logging

from experiments import cli
from experiments import fileio
from experiments import selection
from experiments.tables import common
from experiments.tables import extra as extra_tables
from experiments.tables import glue as glue_tables
from experiments.tables import init_scale
from experiments.tables import params_plot
from experiments.tables import runs as runs_tables
from experiments.tables import squad as squad_tables

Result = selection.Result
_INTRO = ('Ours: dev scores x100 of the best run on dev (the paper\'s '
          'selection); "Mean" averages each task\'s metrics, then tasks. '
          'Paper rows: BERT-large GLUE *test* scores, one metric per task '
          '(F1 for MRPC and QQP, Spearman for STS-B, MCC for CoLA, '
          'accuracy otherwise). Params for N tasks: '
          'N for full fine-tuning, else 1 + N x trained share.')


def copy_submission(results: Sequence[Result], out_dir: str,
                    method: str = '') -> dict[str, str]:
  """Copies the best GLUE run's predictions/*.tsv per task; file -> run."""
  pool = [r for r in results if r['task'] in common.GLUE_TASKS
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


def load(sweep_dirs: Sequence[str]) -> list[Result]:
  """Every run under the sweep dirs; run names prefixed by their dir if many."""
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
  return results


class _Report:
  """report.md's sections and the files written beside it (name -> path)."""

  def __init__(self, out_dir: str, intro: str):
    self.out_dir = out_dir
    self.sections = [intro]
    self.paths = {}

  def table(self, name: str, title: str, table: common.Table) -> None:
    """name.csv, and the table in report.md under `title`."""
    self.paths[name] = os.path.join(self.out_dir, f'{name}.csv')
    fileio.write_text(self.paths[name], common.to_csv(table))
    self.sections.append(f'## {title}\n\n{common.to_markdown(table)}')

  def plot(self, name: str, caption: str, draw, *args,
           key: str = '') -> None:
    """name.png drawn by draw(*args, path), shown in report.md."""
    path = self.paths[key or name] = os.path.join(self.out_dir, f'{name}.png')
    draw(*args, path)
    self.sections.append(f'![{caption}]({name}.png)\n')

  def finish(self) -> dict[str, str]:
    self.paths['report'] = os.path.join(self.out_dir, 'report.md')
    fileio.write_text(self.paths['report'], '\n'.join(self.sections))
    return self.paths


def _paper_tables(doc: _Report, results: Sequence[Result],
                  num_tasks: int) -> None:
  """GLUE (Table 1), extra tasks (Table 2) and SQuAD, where there are runs."""
  glue = [r for r in results if r['task'] in common.GLUE_TASKS]
  squad = [r for r in results if r['task'] == 'squad']
  extra = [r for r in results
           if r['task'] not in common.GLUE_TASKS and r['task'] != 'squad']
  if glue:
    doc.table('glue_table', 'GLUE (paper Table 1 layout)',
              glue_tables.table(glue, num_tasks))
    doc.plot('params_glue', 'GLUE: score against trained parameters',
             params_plot.plot, glue)
  if extra:
    doc.table('extra_table', 'Extra tasks (paper Table 2 layout)',
              extra_tables.table(extra, num_tasks))
    doc.plot('params_extra', 'Extra tasks: score against trained parameters',
             params_plot.plot, extra)
  if squad:
    doc.table('squad_table', 'SQuAD v1.1 (EM / F1 on the evaluated articles; '
              'a holdout split is not the paper\'s protocol)',
              squad_tables.table(squad))


def write_report(sweep_dirs: Sequence[str], out_dir: str, num_tasks: int = 0,
                 submission_method: str = '') -> dict[str, str]:
  """Writes every table, plot and submission file; returns name -> path."""
  results = load(sweep_dirs)
  doc = _Report(out_dir, f'# Results\n\n{len(results)} runs from '
                f'{", ".join(sweep_dirs)}. {_INTRO}\n')
  _paper_tables(doc, results, num_tasks)
  study = init_scale.study_runs(results)
  if study:
    doc.table('init_scale', 'Adapter initialisation scale (paper Fig. 6, '
              'right)', init_scale.table(study))
    doc.plot('init_scale', 'Dev score against init stddev', init_scale.plot,
             study, key='init_scale_plot')
  doc.table('wall_time', 'Wall time', runs_tables.wall_time(results))
  doc.table('runs', 'Every run', runs_tables.every_run(results))
  copied = copy_submission(results, out_dir, submission_method)
  if copied:
    doc.sections.append('## GLUE submission\n\n' + '\n'.join(
        f'- `submission/{f}` from `{run}`' for f, run in sorted(copied.items()))
                        + '\n')
  return doc.finish()


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
  f = flags.FLAGS
  cli.write_and_list(argv, write_report, f.sweep_dir, f.out, f.num_tasks,
                     f.submission_method)


if __name__ == '__main__':
  define_flags()
  app.run(main)
