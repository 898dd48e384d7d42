"""The layer-span ablation over seeds (paper Fig. 6, left): mean and spread.

experiments.ablate writes one ablation.json per trained run; the study
ablates the same configuration at several seeds, and one seed's heatmap says
little about which layers matter. This combines them: per span of removed
layers, the mean and sample std of the dev-score change (points) and each
seed's change, plus a heatmap of the mean.
"""

from __future__ import annotations

import json
import os
import statistics
from typing import Any, Sequence

from experiments import plots
from experiments.tables import common

Ablation = dict[str, Any]
# Per head (config `pooling`), the directory of its runs' ablations under a
# study's results, and the report's heading for it.
DIRS = {'pooler': 'ablation', 'mean': 'ablation_mean_pooling'}
HEADINGS = {'pooler': 'Removing trained adapters (Figure 6, left)',
            'mean': 'Removing trained adapters, mean-pooling head (why the '
                    'top layer matters here)'}


def load(ablation_dir: str) -> list[Ablation]:
  """Every <run>/ablation.json under `ablation_dir`, by run name."""
  if not os.path.isdir(ablation_dir):
    return []
  found = []
  for run in sorted(os.listdir(ablation_dir)):
    path = os.path.join(ablation_dir, run, 'ablation.json')
    if os.path.exists(path):
      with open(path) as f:
        found.append(dict(json.load(f), run=run, path=path))
  return found


def aggregate(ablations: Sequence[Ablation]) -> Ablation:
  """One ablation-like record whose deltas are the mean over `ablations`."""
  if not ablations:
    raise ValueError('No ablations to aggregate.')
  first = ablations[0]
  spans = [(s['first'], s['last']) for s in first['spans']]
  for a in ablations[1:]:
    if (a['task'], a['num_layers']) != (first['task'], first['num_layers']) or [
        (s['first'], s['last']) for s in a['spans']] != spans:
      raise ValueError(f"{a['path']}: another task, depth or span set than "
                       f"{first['path']}; ablate one configuration's seeds.")
  rows = []
  for i, (lo, hi) in enumerate(spans):
    deltas = [a['spans'][i]['delta'] for a in ablations]
    rows.append(dict(first=lo, last=hi, delta=statistics.mean(deltas),
                     std=statistics.stdev(deltas) if len(deltas) > 1 else 0.0,
                     deltas=deltas))
  baseline = statistics.mean(a['baseline']['score'] for a in ablations)
  return dict(task=first['task'], num_layers=first['num_layers'],
              runs=[a['run'] for a in ablations], baseline=dict(score=baseline),
              spans=rows,
              title=(f"{first['task']}: mean dev score change over "
                     f"{len(ablations)} seeds (points)\nbaseline "
                     f'{100 * baseline:.1f}'))


def table(mean: Ablation, ablations: Sequence[Ablation]) -> common.Table:
  """Rows: no removal, then each span; columns: mean ± std and each seed."""
  header = ['Adapters removed', 'Dev change, mean ± std (points)'] + [
      a['run'] for a in ablations]
  rows = [['none (dev score)', common.pct(mean['baseline']['score'])] + [
      common.pct(a['baseline']['score']) for a in ablations]]
  for span in mean['spans']:
    lo, hi = span['first'], span['last']
    rows.append([f'layer {lo}' if lo == hi else f'layers {lo}-{hi}',
                 f"{span['delta']:+.1f} ± {span['std']:.1f}"]
                + [f'{d:+.1f}' for d in span['deltas']])
  return header, rows


def single_layer_summary(mean: Ablation) -> dict[str, Any]:
  """The paper's comparison point: the worst single-layer removal."""
  singles = [s for s in mean['spans'] if s['first'] == s['last']]
  worst = min(singles, key=lambda s: s['delta'])
  whole = next(s for s in mean['spans']
               if (s['first'], s['last']) == (0, mean['num_layers'] - 1))
  return dict(worst_layer=worst['first'], worst_delta=worst['delta'],
              worst_std=worst['std'], all_removed_delta=whole['delta'],
              single_deltas=[s['delta'] for s in
                             sorted(singles, key=lambda s: s['first'])])


def seeds_summary(ablation_dir: str) -> tuple[dict[str, Any], int] | None:
  """single_layer_summary of the seeds' mean, and the number of seeds."""
  ablations = load(ablation_dir)
  if not ablations:
    return None
  return single_layer_summary(aggregate(ablations)), len(ablations)


def write(ablation_dir: str, out_png: str,
          heading: str = 'Removing trained adapters (Figure 6, left)'
          ) -> list[str]:
  """The report's ablation section (markdown lines), and its heatmap."""
  ablations = load(ablation_dir)
  if not ablations:
    return []
  mean = aggregate(ablations)
  plots.span_heatmap(mean, out_png)
  summary = single_layer_summary(mean)
  return [
      f'## {heading}', '',
      f"{len(ablations)} runs of {mean['task']} ({', '.join(mean['runs'])}); "
      'no retraining: the adapters of a span of layers are removed from the '
      'trained model and dev is scored again (`python -m experiments.ablate`). '
      f"The worst single layer to lose is layer {summary['worst_layer']} "
      f"({summary['worst_delta']:+.1f} ± {summary['worst_std']:.1f} points); "
      f"removing every layer's adapters: {summary['all_removed_delta']:+.1f}. "
      'The paper (12-layer BERT, MNLI and CoLA) loses at most 2% removing '
      'any single layer\'s adapters, and falls to the majority class (MNLI '
      '37%, CoLA 69%) removing all of them.', '',
      common.to_markdown(table(mean, ablations)),
      f'![{os.path.basename(out_png)}]({os.path.basename(out_png)})', '']
