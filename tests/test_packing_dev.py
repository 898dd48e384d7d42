"""Packed against unpacked dev scores over seeds (experiments.packing_dev)."""

import json
import math
import os

import pytest
from scipy import stats

from experiments import packing_dev


def _sweep_run(root, layout, task, seed, f1, packing=None, lr=1e-3):
  run = os.path.join(root, layout, f'{task}-adapter-m64-lr1e-3-ep3-s{seed}')
  os.makedirs(run)
  packing = layout == 'packed' if packing is None else packing
  with open(os.path.join(run, 'results.json'), 'w') as f:
    json.dump(dict(status='done', task=task, method='adapter', m=64, lr=lr,
                   epochs=3.0, seed=seed, config=dict(packing=packing),
                   dev=dict(f1=f1, accuracy=f1 - 0.05),
                   trainable_params=1000), f)


def _e2e_record(root, task, layout, seed, f1):
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, f'{task}-ours_{layout}-s{seed}.json'), 'w') as f:
    json.dump(dict(dev=dict(f1=f1, accuracy=f1 - 0.05)), f)


def test_both_sources_combine_into_the_comparison(tmp_path):
  seeds, e2e = tmp_path / 'seeds', tmp_path / 'e2e'
  unpacked = {0: 0.87, 1: 0.86, 2: 0.85, 3: 0.88}
  packed = {0: 0.89, 1: 0.90, 2: 0.91, 3: 0.92}
  for seed in (0, 1):
    _e2e_record(e2e, 'mrpc', 'unpacked', seed, unpacked[seed])
    _e2e_record(e2e, 'mrpc', 'packed', seed, packed[seed])
  _e2e_record(e2e, 'mrpc', 'group_by_length', 0, 0.1)  # Not ours_*: ignored.
  for seed in (1, 2, 3):  # Seed 1 is in both sources, with the same scores.
    _sweep_run(seeds, 'unpacked', 'mrpc', seed, unpacked[seed])
    _sweep_run(seeds, 'packed', 'mrpc', seed, packed[seed])
  result = packing_dev.write(str(seeds), str(e2e), str(tmp_path / 'o.json'))
  mrpc = result['tasks']['mrpc']
  assert mrpc['metric'] == 'f1'
  assert list(mrpc['seeds']['packed']) == [0, 1, 2, 3]
  u = [100 * v for v in unpacked.values()]
  p = [100 * v for v in packed.values()]
  assert mrpc['unpacked']['mean'] == pytest.approx(sum(u) / 4)
  assert mrpc['difference'] == pytest.approx(sum(p) / 4 - sum(u) / 4)
  # Welch by hand: t = (mp - mu) / sqrt(vp/n + vu/n), Welch-Satterthwaite df.
  var = lambda xs: sum((x - sum(xs) / 4) ** 2 for x in xs) / 3
  se2 = var(p) / 4 + var(u) / 4
  t = mrpc['difference'] / math.sqrt(se2)
  df = se2 ** 2 / ((var(p) / 4) ** 2 / 3 + (var(u) / 4) ** 2 / 3)
  assert mrpc['welch_p'] == pytest.approx(2 * stats.t.sf(abs(t), df))
  # Every packed score above every unpacked one: exact two-sided p = 2/C(8,4).
  assert mrpc['mann_whitney_p'] == pytest.approx(2 / 70)
  pooled = math.sqrt((var(p) + var(u)) / 2)
  assert mrpc['pooled_std'] == pytest.approx(pooled)
  # The gap (3.9) is far beyond one seed std (about 1.3): not within noise.
  assert not mrpc['within_seed_noise']
  assert packing_dev.compare([80.0, 82.0, 84.0], [81.0, 83.0, 82.5])[
      'within_seed_noise']
  assert json.loads((tmp_path / 'o.json').read_text())['tasks']['mrpc']
  assert '| mrpc (f1) |' in packing_dev.markdown(result)


def test_disagreeing_duplicates_and_misfiled_runs_are_refused(tmp_path):
  _e2e_record(tmp_path / 'e2e', 'mrpc', 'packed', 0, 0.8)
  _sweep_run(tmp_path / 'a', 'packed', 'mrpc', 0, 0.7)
  with pytest.raises(ValueError, match='other dev scores'):
    packing_dev.collect(str(tmp_path / 'a'), str(tmp_path / 'e2e'))
  _sweep_run(tmp_path / 'b', 'packed', 'mrpc', 0, 0.8, packing=False)
  with pytest.raises(ValueError, match='config.packing=False in the packed'):
    packing_dev.collect(str(tmp_path / 'b'), str(tmp_path / 'none'))
  _sweep_run(tmp_path / 'c', 'unpacked', 'mrpc', 0, 0.8, lr=3e-3)
  with pytest.raises(ValueError, match='not the reference point'):
    packing_dev.collect(str(tmp_path / 'c'), str(tmp_path / 'none'))
