"""The ablation over seeds: means, spreads and the report section."""

import json
import math
import os

import pytest

from experiments.tables import ablation


def _ablation(run_dir, deltas, baseline, task='mrpc', layers=2):
  spans = [(0, 0), (0, 1), (1, 1)]
  result = dict(task=task, num_layers=layers, baseline=dict(score=baseline),
                spans=[dict(first=lo, last=hi, delta=d, score=0.0)
                       for (lo, hi), d in zip(spans, deltas)])
  os.makedirs(run_dir)
  with open(os.path.join(run_dir, 'ablation.json'), 'w') as f:
    json.dump(result, f)


def test_mean_and_std_over_seeds(tmp_path):
  _ablation(tmp_path / 's0', [-1.0, -20.0, -3.0], 0.80)
  _ablation(tmp_path / 's1', [-2.0, -10.0, 1.0], 0.84)
  _ablation(tmp_path / 's2', [0.0, -15.0, -4.0], 0.82)
  mean = ablation.aggregate(ablation.load(str(tmp_path)))
  assert mean['runs'] == ['s0', 's1', 's2']
  assert mean['baseline']['score'] == pytest.approx(0.82)
  by_span = {(s['first'], s['last']): s for s in mean['spans']}
  assert by_span[(0, 1)]['delta'] == pytest.approx(-15.0)
  # Sample std of (-3, 1, -4): mean -2, squares 1 + 9 + 4 = 14, /2.
  assert by_span[(1, 1)]['std'] == pytest.approx(math.sqrt(7.0))
  summary = ablation.single_layer_summary(mean)
  assert (summary['worst_layer'], summary['worst_delta']) == (1, -2.0)
  # Layer 0: mean of (-1, -2, 0); layer 1: of (-3, 1, -4); in layer order.
  assert summary['single_deltas'] == pytest.approx([-1.0, -2.0])
  assert summary['all_removed_delta'] == pytest.approx(-15.0)
  header, rows = ablation.table(mean, ablation.load(str(tmp_path)))
  assert header[2:] == ['s0', 's1', 's2']
  assert rows[2] == ['layers 0-1', '-15.0 ± 5.0', '-20.0', '-10.0', '-15.0']


def test_seeds_of_other_configurations_are_refused(tmp_path):
  _ablation(tmp_path / 'a', [0.0, 0.0, 0.0], 0.8)
  _ablation(tmp_path / 'b', [0.0, 0.0, 0.0], 0.8, task='rte')
  with pytest.raises(ValueError, match='another task'):
    ablation.aggregate(ablation.load(str(tmp_path)))


def test_report_section_and_heatmap(tmp_path):
  assert not ablation.write(str(tmp_path / 'none'), str(tmp_path / 'x.png'))
  _ablation(tmp_path / 'abl' / 's0', [-1.0, -20.0, -3.0], 0.80)
  lines = ablation.write(str(tmp_path / 'abl'), str(tmp_path / 'abl.png'))
  assert os.path.getsize(tmp_path / 'abl.png') > 0
  text = '\n'.join(lines)
  assert 'worst single layer to lose is layer 1 (-3.0' in text
  assert '![abl.png](abl.png)' in text
