r"""Dev scores of packed and unpacked training over seeds: within seed noise?

  python -m experiments.packing_dev

Packed and unpacked training optimize the same loss on the same examples in
the same order; only dropout masks differ (tests/test_packing.py checks the
rest to 1e-4). Whether packing should be the default therefore rests on one
question: are the dev scores of the two layouts two samples of the same seed
distribution? This reads every run of the study's reference point (adapters
m=64, lr 1e-3, 3 epochs) trained both ways:

  experiments/results/packing/seeds/{packed,unpacked}/<run>/results.json
      (configs/glue.py sweep=reference, one directory per layout)
  experiments/results/packing/runs/<task>-ours_{packed,unpacked}-s<seed>.json
      (the end-to-end timing runs, experiments.packing_e2e: the same point)

and writes --out (dev_seeds.json): per task and layout the seeds and the
paper's Table 1 metric (x100), mean and sample std; the difference of means;
Welch's t-test (scipy) and the Mann-Whitney U test, since a collapsed seed
(majority class) makes the scores far from normal; and the decision rule
fixed before the last seeds were in: within seed noise when the gap is below
the pooled seed std and Welch's p is above 0.05. A seed present in both
sources must agree; they are the same run.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from typing import Any, Sequence

from absl import app
from absl import flags
from scipy import stats

from experiments import fileio
from experiments import paper_results
from experiments import selection

FLAGS = flags.FLAGS
LAYOUTS = ('unpacked', 'packed')
PAPER_METRIC = paper_results.PAPER_METRIC
# The study's reference point, the one both sources train.
REFERENCE = dict(method='adapter', m=64, lr=1e-3, epochs=3.0)
_E2E_NAME = re.compile(r'^(\w+)-ours_(packed|unpacked)-s(\d+)\.json$')


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  flags.DEFINE_string('seeds_dir', 'experiments/results/packing/seeds',
                      'packed/ and unpacked/ sweep results of sweep=reference.')
  flags.DEFINE_string('e2e_dir', 'experiments/results/packing/runs',
                      'Records of experiments.packing_e2e.')
  flags.DEFINE_string('out', 'experiments/results/packing/dev_seeds.json',
                      'Where the comparison goes.')


def _sweep_scores(seeds_dir: str) -> list[tuple[str, str, int, dict, str]]:
  """(task, layout, seed, dev metrics, source) of the sweep's runs."""
  found = []
  for layout in LAYOUTS:
    for r in selection.load_results(os.path.join(seeds_dir, layout)):
      if r.get('status', 'done') != 'done':
        continue
      if any(r.get(k) != v for k, v in REFERENCE.items()):
        raise ValueError(f"{r['run_dir']}: not the reference point "
                         f'{REFERENCE}; this comparison holds only it.')
      packed = bool((r.get('config') or {}).get('packing'))
      if packed != (layout == 'packed'):
        raise ValueError(f"{r['run_dir']}: config.packing={packed} in the "
                         f'{layout}/ directory.')
      found.append((r['task'], layout, int(r['seed']), r['dev'],
                    r['run_dir']))
  return found


def _e2e_scores(e2e_dir: str) -> list[tuple[str, str, int, dict, str]]:
  """The same, from the end-to-end records (ours, default recipe)."""
  found = []
  if not os.path.isdir(e2e_dir):
    return found
  for name in sorted(os.listdir(e2e_dir)):
    match = _E2E_NAME.match(name)
    if match:
      path = os.path.join(e2e_dir, name)
      with open(path) as f:
        record = json.load(f)
      found.append((match.group(1), match.group(2), int(match.group(3)),
                    record['dev'], path))
  return found


def collect(seeds_dir: str, e2e_dir: str) -> dict[str, dict[str, dict]]:
  """task -> layout -> seed -> dev metrics; duplicate seeds must agree."""
  table: dict[str, dict[str, dict]] = {}
  where: dict[tuple[str, str, int], str] = {}
  for task, layout, seed, dev, source in (_sweep_scores(seeds_dir)
                                          + _e2e_scores(e2e_dir)):
    runs = table.setdefault(task, {}).setdefault(layout, {})
    if seed in runs:
      if any(not math.isclose(runs[seed][k], dev[k], abs_tol=1e-9)
             for k in dev):
        raise ValueError(f'{source} and {where[task, layout, seed]}: the same '
                         f'{task} {layout} seed {seed} with other dev scores.')
      continue
    runs[seed] = dev
    where[task, layout, seed] = source
  return table


def compare(unpacked: Sequence[float], packed: Sequence[float]
            ) -> dict[str, Any]:
  """Means, spreads and the two tests of packed against unpacked."""
  def summary(values):
    return dict(n=len(values), mean=statistics.mean(values),
                std=statistics.stdev(values) if len(values) > 1 else math.nan,
                min=min(values), max=max(values))
  out = dict(unpacked=summary(unpacked), packed=summary(packed),
             difference=statistics.mean(packed) - statistics.mean(unpacked))
  if len(unpacked) > 1 and len(packed) > 1:
    out['welch_p'] = float(stats.ttest_ind(packed, unpacked,
                                           equal_var=False).pvalue)
    out['mann_whitney_p'] = float(stats.mannwhitneyu(
        packed, unpacked, alternative='two-sided').pvalue)
    out['pooled_std'] = math.sqrt((out['unpacked']['std'] ** 2
                                   + out['packed']['std'] ** 2) / 2)
    # The criterion fixed before the last seeds were in (README): the gap
    # is smaller than one seed std and no test tells the layouts apart.
    out['within_seed_noise'] = (abs(out['difference']) < out['pooled_std']
                                and out['welch_p'] > 0.05)
  return out


def write(seeds_dir: str, e2e_dir: str, out: str) -> dict[str, Any]:
  """Builds the comparison per task and writes it to `out`."""
  tasks = {}
  for task, layouts in sorted(collect(seeds_dir, e2e_dir).items()):
    metric = PAPER_METRIC[task]
    scores = {layout: {seed: 100 * dev[metric]
                       for seed, dev in sorted(layouts.get(layout, {}).items())}
              for layout in LAYOUTS}
    entry = dict(metric=metric, seeds=scores)
    if all(scores[layout] for layout in LAYOUTS):
      entry.update(compare(list(scores['unpacked'].values()),
                           list(scores['packed'].values())))
    tasks[task] = entry
  result = dict(point=REFERENCE, tasks=tasks,
                command='python -m experiments.packing_dev',
                sources=[seeds_dir, e2e_dir])
  fileio.write_json(out, result)
  return result


def markdown(result: dict[str, Any]) -> str:
  lines = ['| task (metric) | unpacked: mean ± std (n) | packed: mean ± std (n) '
           '| packed − unpacked | pooled std | Welch p | Mann-Whitney p | '
           'within seed noise |',
           '|---|---|---|---|---|---|---|---|']
  for task, e in result['tasks'].items():
    if 'difference' not in e:
      continue
    cell = lambda s: f"{s['mean']:.1f} ± {s['std']:.1f} ({s['n']})"
    lines.append(f"| {task} ({e['metric']}) | {cell(e['unpacked'])} | "
                 f"{cell(e['packed'])} | {e['difference']:+.1f} | "
                 f"{e.get('pooled_std', math.nan):.1f} | "
                 f"{e.get('welch_p', math.nan):.2f} | "
                 f"{e.get('mann_whitney_p', math.nan):.2f} | "
                 f"{'yes' if e.get('within_seed_noise') else 'no'} |")
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    result = write(FLAGS.seeds_dir, FLAGS.e2e_dir, FLAGS.out)
  except ValueError as e:
    raise SystemExit(f'packing_dev: {e}') from None
  print(markdown(result))
  print(f'Wrote {FLAGS.out}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
