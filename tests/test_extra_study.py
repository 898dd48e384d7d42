"""The Table 2 builder: test accuracy over seeds of the dev-selected point."""

import csv
import json
import math
import os
import statistics

import numpy as np
import pytest

from configs import extra as extra_config
from experiments import extra_study
from experiments.tables import discussion

PARAMS = {('adapter', 8): 20_000, ('adapter', 64): 150_000,
          ('top_k', 1): 1_800_000, ('top_k', 3): 5_400_000,
          ('full', None): 22_700_000}
TOTAL = 22_700_000


def _write(root, name, task, method, seed, dev, test, size=None, lr=1e-3,
           epochs=5.0, train=927, classes=3, predicted=None, test_gold=None):
  params = PARAMS[(method, size)]
  result = dict(
      status='done', task=task, method=method, m=size or 64, lr=lr,
      epochs=epochs, seed=seed, score=dev, best_score=max(dev, 0.99),
      schedule='official', trainable_params=params, total_params=TOTAL,
      trainable_share=params / TOTAL, train_seconds=10.0 + seed,
      dev={'accuracy': dev}, test={'test': {'accuracy': test}},
      config=dict(method=method, m=size or 64, top_k=size or 0, lr=lr,
                  epochs=epochs, seed=seed, packing=False),
      data=dict(rows=dict(train=train, validation=100, test=100),
                classes=[f'c{i}' for i in range(classes)]))
  if predicted is not None:
    result['dev_predictions'] = dict(predicted=predicted)
  if test_gold is not None:
    result['test_predictions'] = dict(test=dict(predicted=test_gold,
                                                gold=test_gold))
  os.makedirs(root / name)
  (root / name / 'results.json').write_text(json.dumps(result))


# Test accuracies per seed of the hand-made runs (dataset A).
A_ADAPTER_M8 = (0.70, 0.74, 0.69)    # Best seed-0 dev: selected.
A_ADAPTER_M64 = (0.90, 0.91, 0.92)   # Best mean (test and dev), not selected.
A_FULL = (0.80, 0.83, 0.86)
B_FULL = (0.60,)                     # One seed: no s.e.m.


@pytest.fixture(name='runs_dir')
def _runs_dir(tmp_path):
  root = tmp_path / 'runs'
  a, b = 'extra:progressive_stance', 'extra:disasters'
  for seed, (m8, m64, full) in enumerate(zip(A_ADAPTER_M8, A_ADAPTER_M64,
                                             A_FULL)):
    # Seed 0: m=8 has the best dev; seeds 1-2: m=64 far better on dev.
    _write(root, f'a-m8-s{seed}', a, 'adapter', seed, 0.80 if seed == 0
           else 0.70, m8, size=8)
    _write(root, f'a-m64-s{seed}', a, 'adapter', seed, 0.79 if seed == 0
           else 0.95, m64, size=64)
    _write(root, f'a-full-s{seed}', a, 'full', seed, 0.85, full, lr=5e-5)
  # A worse full-FT lr on A, seed 0 only.
  _write(root, 'a-full-lr2e-5-s0', a, 'full', 0, 0.70, 0.99, lr=2e-5)
  _write(root, 'a-topk-s0', a, 'top_k', 0, 0.75, 0.77, size=1, lr=5e-5,
         test_gold=dict(c0=50, c1=30, c2=20))
  _write(root, 'b-full-s0', b, 'full', 0, 0.9, B_FULL[0], lr=5e-5, epochs=3.0,
         train=8688, classes=2, predicted=dict(c0=100, c1=0))
  _write(root, 'b-m64-s0', b, 'adapter', 0, 0.88, 0.58, size=64, epochs=3.0,
         train=8688, classes=2)
  return root


def _complete_grids(root):
  """Seed-0 runs (dev 0.1: never selected) at the grid points the fixture's
  (dataset, method) cells lack; how many it wrote."""
  results = extra_study.load(str(root))
  written = 0
  for task, method in {(r['task'], r['method']) for r in results}:
    name = task.split(':')[1]
    for point in extra_config.table2_cpu_points(name):
      size = point.get({'adapter': 'm', 'top_k': 'top_k'}.get(method, ''))
      key = (point['method'], size, point['lr'], point['epochs'])
      if point['method'] != method or any(
          (r['task'], r['method'], r['seed']) == (task, method, 0)
          and extra_study.study.config_key(r)[1:] == key for r in results):
        continue
      first = next(r for r in results if r['task'] == task)
      _write(root, f'{name}-{method}-{size}-{point["lr"]:g}-s0', task, method,
             0, 0.1, 0.1, size=size, lr=point['lr'], epochs=point['epochs'],
             train=first['data']['rows']['train'],
             classes=len(first['data']['classes']))
      written += 1
  return written


def _expected(tests):
  values = 100 * np.asarray(tests)
  if len(values) == 1:
    return values[0], math.nan
  return values.mean(), values.std(ddof=1) / np.sqrt(len(values))


def test_cells_are_mean_and_sem_of_the_dev_selected_configuration(runs_dir):
  cells = extra_study.table2_cells(extra_study.load(str(runs_dir)))
  a = cells[('extra:progressive_stance', 'adapter')]
  # Seed-0 dev picks m=8 although m=64 has the better mean over seeds.
  assert a.key[2] == 8 and a.n == 3
  mean, sem = _expected(A_ADAPTER_M8)
  assert a.mean == pytest.approx(mean, abs=1e-6)
  assert a.sem == pytest.approx(sem, abs=1e-6)
  assert a.std == pytest.approx(statistics.stdev(100 * x for x in A_ADAPTER_M8))
  assert a.mean < 100 * statistics.fmean(A_ADAPTER_M64)
  full = cells[('extra:progressive_stance', 'full')]
  assert full.key[3] == 5e-5
  mean, sem = _expected(A_FULL)
  assert (full.mean, full.sem) == pytest.approx((mean, sem), abs=1e-6)
  b = cells[('extra:disasters', 'full')]
  assert b.n == 1 and b.mean == pytest.approx(60.0) and math.isnan(b.sem)
  assert a.trained_share == pytest.approx(20_000 / TOTAL, abs=1e-6)


def test_only_the_cpu_grid_competes_in_selection(runs_dir):
  # Seed-0 runs off dataset A's grid that beat it on dev: adapters at an lr
  # the grid lacks, full fine-tuning at 3 epochs where A's budget is 5.
  a = 'extra:progressive_stance'
  _write(runs_dir, 'a-m8-lr3e-3-s0', a, 'adapter', 0, 0.99, 0.10, size=8,
         lr=3e-3)
  _write(runs_dir, 'a-full-ep3-s0', a, 'full', 0, 0.99, 0.10, lr=5e-5,
         epochs=3.0)
  results = extra_study.load(str(runs_dir))
  cells = extra_study.table2_cells(results)
  assert cells[(a, 'adapter')].key == (a, 'adapter', 8, 1e-3, 5.0)
  assert cells[(a, 'full')].key == (a, 'full', None, 5e-5, 5.0)
  assert cells[(a, 'full')].n == 3
  _write(runs_dir, 'other-s0', 'extra:imdb', 'full', 0, 0.9, 0.9, lr=5e-5)
  with pytest.raises(ValueError, match='extra:imdb is not one of'):
    extra_study.table2_cells(extra_study.load(str(runs_dir)))


def test_study_writes_the_table_selected_points_and_plot(runs_dir, tmp_path):
  out = tmp_path / 'out'
  peer_dir = out / 'peer'
  peer_dir.mkdir(parents=True)
  (peer_dir / 'stance-adapter.json').write_text(json.dumps(dict(
      framework='adapterhub', task='extra:progressive_stance',
      method='adapter', m=8, lr=1e-3, epochs=5, seed=0, train_seconds=42.0,
      dev=dict(accuracy=0.5), test=dict(accuracy=0.625))))
  # Named to sort first; its row still follows the smaller dataset's.
  (peer_dir / 'a-disasters-full.json').write_text(json.dumps(dict(
      framework='adapterhub', task='extra:disasters', method='full',
      lr=5e-5, epochs=3, seed=0, dev=dict(accuracy=0.9),
      test=dict(accuracy=0.6))))
  added = _complete_grids(runs_dir)
  # Off the grid (lr 1e-4): in runs.csv, never in a count of grid runs.
  _write(runs_dir, 'b-full-lr1e-4-s0', 'extra:disasters', 'full', 0, 0.5, 0.5,
         lr=1e-4, epochs=3.0, train=8688, classes=2)
  paths = extra_study.write_study(str(runs_dir), str(out))
  with open(paths['runs']) as f:
    assert len(list(csv.DictReader(f))) == 13 + added + 1
  text = (out / 'report.md').read_text()
  mean, sem = _expected(A_ADAPTER_M8)
  # Smallest dataset first, with its classes and training examples.
  row_a = next(l for l in text.splitlines() if l.startswith('| Progressive'))
  row_b = next(l for l in text.splitlines() if l.startswith('| Disasters'))
  assert text.index(row_a) < text.index(row_b)
  assert row_a.startswith('| Progressive stance | 3 | 927 |')
  assert f'{mean:.1f} ± {sem:.1f} (n=3)' in row_a
  assert '60.6 ± 1.4' in row_a  # The paper's adapters on progressive stance.
  assert '| 60.0 (n=1) |' in row_b
  # The majority class's test accuracy, where a run recorded the counts.
  header = next(l for l in text.splitlines() if l.startswith('| Dataset |'))
  column = [c.strip() for c in header.split('|')].index('Majority class (ours)')
  assert [[c.strip() for c in row.split('|')][column]
          for row in (row_a, row_b)] == ['50.0', '-']
  # B's full FT predicts one class on dev: its selected row is marked.
  assert '| Disasters | Full FT | lr 5e-5, 3 ep | 90.0‡ | 2 | 0 | 60.0‡ |' in text
  # The peer row: its accuracies beside ours; no wall times (they ran apart).
  peer_row = next(l for l in text.splitlines()
                  if l.startswith('| Progressive stance | Adapters | m=8')
                  and ', seed 0 |' in l)
  ours_test = f'{100 * A_ADAPTER_M8[0]:.1f}'
  assert [c.strip() for c in peer_row.split('|')[4:-1]] == [
      '62.5', ours_test, '50.0', '80.0']
  later_peer_row = '| Disasters | Full FT | lr 5e-5, 3 ep, seed 0 | 60.0 |'
  assert text.index(peer_row) < text.index(later_peer_row)
  assert os.path.getsize(paths['params']) > 10_000
  selected = json.loads((out / 'selected.json').read_text())['selected']
  chosen = {(e['task'], e['method']): e for e in selected}
  assert chosen[('extra:progressive_stance', 'adapter')]['m'] == 8
  assert chosen[('extra:disasters', 'full')]['lr'] == 5e-5
  # The seeds sweep reads this file: seeds 1 and 2 at each selected point.
  points = []
  extra_config.sweep(lambda **kw: points.append(kw),
                     f'sweep=table2_seeds,selected={out / "selected.json"}')
  assert len(points) == 2 * len(selected)
  assert {(p['task'], p['method'], p.get('m'), p['seed']) for p in points
          if p['method'] == 'adapter'} == {
              ('extra:progressive_stance', 'adapter', 8, 1),
              ('extra:progressive_stance', 'adapter', 8, 2),
              ('extra:disasters', 'adapter', 64, 1),
              ('extra:disasters', 'adapter', 64, 2)}


def test_budget_check_sits_beside_the_table_and_never_fills_it(runs_dir,
                                                               tmp_path):
  # Stance's selected full FT (lr 5e-5) and adapters (m=8, lr 1e-3), 5 epochs,
  # again with 4x the epochs; their dev scores beat every grid run's.
  longer_adapter, longer_full = (0.75, 0.78, 0.80), (0.81, 0.80)
  a = 'extra:progressive_stance'
  for seed, test in enumerate(longer_adapter):
    _write(runs_dir, f'a-m8-ep20-s{seed}', a, 'adapter', seed, 0.99, test,
           size=8, epochs=20.0)
  for seed, test in enumerate(longer_full):
    _write(runs_dir, f'a-full-ep20-s{seed}', a, 'full', seed, 0.99, test,
           lr=5e-5, epochs=20.0)
  extra_study.write_study(str(runs_dir), str(tmp_path / 'out'))
  text = (tmp_path / 'out' / 'report.md').read_text()
  lines = text.splitlines()
  table2 = next(l for l in lines if l.startswith('| Progressive stance | 3 |'))
  mean, sem = _expected(A_ADAPTER_M8)
  assert f'{mean:.1f} ± {sem:.1f} (n=3)' in table2  # Still the 5-epoch runs.
  budget = text[text.index('## Is the gap the CPU budget'):]
  rows = [[c.strip() for c in l.split('|')[1:-1]] for l in budget.splitlines()
          if l.startswith('| Progressive stance')]
  adapter_mean, adapter_sem = _expected(longer_adapter)
  full_mean, full_sem = _expected(longer_full)
  full5, _ = _expected(A_FULL)
  assert rows == [
      ['Progressive stance', 'Adapters', 'm=8, lr 1e-3',
       f'{mean:.1f} ± {sem:.1f} (n=3), 5 ep',
       f'{adapter_mean:.1f} ± {adapter_sem:.1f} (n=3), 20 ep',
       f'{adapter_mean - mean:+.1f}'],
      ['Progressive stance', 'Full FT', 'lr 5e-5',
       f'{full5:.1f} ± {_expected(A_FULL)[1]:.1f} (n=3), 5 ep',
       f'{full_mean:.1f} ± {full_sem:.1f} (n=2), 20 ep',
       f'{full_mean - full5:+.1f}'],
      ['Progressive stance', 'Adapters - full FT (± s.e.m.)', '',
       f'{mean - full5:+.1f} ± {np.hypot(sem, _expected(A_FULL)[1]):.1f}',
       f'{adapter_mean - full_mean:+.1f} ± '
       f'{np.hypot(adapter_sem, full_sem):.1f}', '']]


def test_budget_rows_follow_table2_order_with_each_gap_under_its_pair(
    runs_dir, tmp_path):
  # Disasters sorts first by name but has 8,688 training examples to
  # progressive stance's 927, so Table 2 (smallest first) lists it second.
  a, b = 'extra:progressive_stance', 'extra:disasters'
  _write(runs_dir, 'b-m64-ep12-s0', b, 'adapter', 0, 0.99, 0.60, size=64,
         epochs=12.0, train=8688, classes=2)
  _write(runs_dir, 'b-full-ep12-s0', b, 'full', 0, 0.99, 0.62, lr=5e-5,
         epochs=12.0, train=8688, classes=2)
  _write(runs_dir, 'a-m8-ep20-s0', a, 'adapter', 0, 0.99, 0.75, size=8,
         epochs=20.0)
  _write(runs_dir, 'a-full-ep20-s0', a, 'full', 0, 0.99, 0.81, lr=5e-5,
         epochs=20.0)
  extra_study.write_study(str(runs_dir), str(tmp_path / 'out'))
  text = (tmp_path / 'out' / 'report.md').read_text()
  budget = text[text.index('## Is the gap the CPU budget'):]
  budget = budget[:budget.index('\n## ')]
  rows = [[c.strip() for c in l.split('|')[1:3]] for l in budget.splitlines()
          if l.startswith('| ') and not l.startswith('| Dataset')]
  gap = 'Adapters - full FT (± s.e.m.)'
  assert rows == [['Progressive stance', 'Adapters'],
                  ['Progressive stance', 'Full FT'],
                  ['Progressive stance', gap],
                  ['Disasters', 'Adapters'],
                  ['Disasters', 'Full FT'],
                  ['Disasters', gap]]


def test_hand_written_discussion_is_checked_against_the_report(runs_dir,
                                                              tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  mean, _ = _expected(A_ADAPTER_M8)
  # One number the report prints (adapters on A) and one it does not.
  (out / 'discussion.md').write_text(
      f'Adapters reach {mean:.1f} on stance; once they reached 99.9.\n')
  extra_study.write_study(str(runs_dir), str(out))
  text = (out / 'report.md').read_text()
  assert text.index('## The claim') < text.index(discussion.HEADING)
  assert text.index(discussion.HEADING) < text.index('## Reproduce')
  assert '**Stale:** 99.9 no longer appear' in text
  assert f'Adapters reach {mean:.1f} on stance' in text


def test_selections_of_an_unfinished_grid_stay_out_of_selected_json(
    runs_dir, tmp_path):
  _complete_grids(runs_dir)
  # Disasters' adapters still lack m=8 at lr 1e-3 (another shard's run).
  missing = runs_dir / 'disasters-adapter-8-0.001-s0'
  assert (missing / 'results.json').exists()
  (missing / 'results.json').unlink()
  out = tmp_path / 'out'
  extra_study.write_study(str(runs_dir), str(out))
  selected = json.loads((out / 'selected.json').read_text())['selected']
  chosen = {(e['task'], e['method']) for e in selected}
  assert ('extra:disasters', 'adapter') not in chosen
  assert ('extra:disasters', 'full') in chosen
  assert ('extra:progressive_stance', 'adapter') in chosen
  text = (out / 'report.md').read_text()
  assert ('- Provisional: Disasters adapter is chosen among a grid that still '
          'lacks adapter size=8 lr 0.001 3 ep (seed 0)') in text
  # It diverged instead: tried, ranked last; the cell's grid is complete.
  result = dict(status='diverged', task='extra:disasters', method='adapter',
                m=8, lr=1e-3, epochs=3.0, seed=0, score=math.nan,
                config=dict(method='adapter', m=8, top_k=0, lr=1e-3,
                            epochs=3.0, seed=0))
  (missing / 'results.json').write_text(json.dumps(result))
  extra_study.write_study(str(runs_dir), str(out))
  selected = json.loads((out / 'selected.json').read_text())['selected']
  assert ('extra:disasters', 'adapter') in {(e['task'], e['method'])
                                           for e in selected}
  text = (out / 'report.md').read_text()
  assert 'Provisional' not in text
  assert 'fills no cell): disasters-adapter-8-0.001-s0.' in text


def test_no_runs_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='No finished extra-task runs'):
    extra_study.write_study(str(tmp_path), str(tmp_path / 'out'))


def _cell(mean, sem, n, share=0.01):
  return extra_study.Cell(key=(), runs=(), mean=mean, std=sem * math.sqrt(n),
                          sem=sem, n=n, dev_score=0.0, trained_params=1,
                          trained_share=share)


def test_claim_is_provisional_until_every_dataset_has_three_seeds():
  a, b = 'extra:progressive_stance', 'extra:disasters'
  cells = {(a, 'full'): _cell(70.0, 0.5, 3, 1.0),
           (a, 'adapter'): _cell(69.8, 0.5, 3),
           (b, 'full'): _cell(80.0, 0.5, 2, 1.0),
           (b, 'adapter'): _cell(79.9, 0.5, 2)}
  line = extra_study.claim(cells, [a, b], (a, b))[0]
  assert line.endswith('holds so far (provisional: 2 of 2 datasets, fewest '
                       'seeds 2).')
  cells[(b, 'full')] = _cell(80.0, 0.5, 3, 1.0)
  cells[(b, 'adapter')] = _cell(79.9, 0.5, 3)
  assert extra_study.claim(cells, [a, b], (a, b))[0].endswith('holds here.')
  # The study's own datasets: two of eight is never a final verdict.
  line = extra_study.claim(cells, [a, b])[0]
  assert line.endswith('holds so far (provisional: 2 of 8 datasets, fewest '
                       'seeds 3).')
  # Adapters 2 points behind (s.e.m. of the gap 0.5): does not hold.
  cells[(a, 'adapter')] = _cell(67.0, 0.5, 3)
  cells[(b, 'adapter')] = _cell(78.0, 0.5, 3)
  assert extra_study.claim(cells, [a, b], (a, b))[0].endswith(
      'does not hold here.')


def test_claim_names_datasets_neither_method_learned_and_drops_them():
  a, b, c = ('extra:progressive_stance', 'extra:primary_emotions',
             'extra:disasters')
  cells = {(a, 'full'): _cell(70.0, 0.6, 3, 1.0),
           (a, 'adapter'): _cell(66.0, 0.8, 3),
           (b, 'full'): _cell(21.5, 0.3, 3, 1.0),   # majority 21.0: +0.5
           (b, 'adapter'): _cell(22.9, 0.4, 3),     # +1.9, under 2 points
           (c, 'full'): _cell(80.0, 0.0, 3, 1.0),
           (c, 'adapter'): _cell(81.0, 0.0, 3)}
  majority = {a: 40.0, b: 21.0, c: 55.0}
  lines = extra_study.claim(cells, [a, b, c], (a, b, c), majority)
  assert ('- Primary emotions: neither full fine-tuning (21.5) nor adapters '
          '(22.9) beats the majority class (21.0) by 2.0 points: at our '
          'budget this row measures neither method (the paper: -3.0).'
          ) in lines
  # Over a and c: adapters (66 + 81) / 2 = 73.5, full (70 + 80) / 2 = 75.0;
  # s.e.m.s sqrt(0.8² + 0²) / 2 = 0.4 and sqrt(0.6² + 0²) / 2 = 0.3, gap's 0.5.
  # The paper's Table 2 (adapters - full FT): progressive stance
  # 60.6 - 63.8 = -3.2, disasters 84.1 - 85.3 = -1.2; mean -2.2.
  assert lines[-1] == ('- Without it, over the 2 datasets left: adapters 73.5 '
                       'vs full fine-tuning 75.0 (-1.5 points, s.e.m. of the '
                       'gap 0.5) (the paper\'s gap on them: -2.2).')
  # All three, primary emotions 33.9 - 36.9 = -3.0 included: mean -2.47.
  assert (" Ours over the 3 datasets with both (the paper's gap on them: "
          '-2.5): ') in lines[0]
  # One method clear of the margin: the row counts, and nothing is added.
  cells[(b, 'adapter')] = _cell(23.1, 0.4, 3)
  assert not any('majority class' in line for line in
                 extra_study.claim(cells, [a, b, c], (a, b, c), majority))
  # Without majorities (as before), no such lines.
  assert not any('majority class' in line for line in
                 extra_study.claim(cells, [a, b, c], (a, b, c)))


def test_claim_gives_every_learned_datasets_gap_and_says_which_fail():
  a, b, c, d = ('extra:progressive_stance', 'extra:progressive_opinion',
                'extra:corporate_messaging', 'extra:disasters')
  cells = {(a, 'full'): _cell(60.5, 0.7, 3, 1.0),
           (a, 'adapter'): _cell(52.8, 0.7, 3),   # -7.7, s.e.m. 0.99: fails.
           (b, 'full'): _cell(91.7, 0.1, 3, 1.0),
           (b, 'adapter'): _cell(89.6, 1.6, 3),   # -2.1, s.e.m. 1.60: noise.
           (c, 'full'): _cell(80.0, 0.2, 3, 1.0),
           (c, 'adapter'): _cell(79.7, 0.2, 3),   # -0.3: within 0.5.
           (d, 'full'): _cell(70.0, math.nan, 1, 1.0),
           (d, 'adapter'): _cell(60.0, math.nan, 1)}
  lines = extra_study.claim(cells, [a, b, c, d], (a, b, c, d))
  # Each line ends with the paper's own gap there (its Table 2, adapters -
  # full FT): 60.6 - 63.8, 71.7 - 71.6, 92.9 - 92.5, 84.1 - 85.3.
  assert lines[1:] == [
      '- Progressive stance: adapters 52.8 vs full fine-tuning 60.5 (-7.7 '
      'points, more than twice the s.e.m. 1.0; the paper: -3.2).',
      '- Progressive opinion: adapters 89.6 vs full fine-tuning 91.7 (-2.1 '
      'points: behind, but within twice the s.e.m. 1.6, so not a clear '
      'failure; the paper: +0.1).',
      '- Corporate messaging: adapters 79.7 vs full fine-tuning 80.0 (-0.3 '
      'points: within 0.5 points or better; the paper: +0.4).',
      '- Disasters: adapters 60.0 vs full fine-tuning 70.0 (-10.0 points: '
      'behind; s.e.m. unknown (one seed); the paper: -1.2).']
  # Mean of the four: (-3.2 + 0.1 + 0.4 - 1.2) / 4 = -0.975.
  assert "(the paper's gap on them: -1.0): adapters" in lines[0]


def test_paper_gap_is_left_out_where_the_paper_has_no_such_dataset():
  assert extra_study.paper_gap(['extra:not_in_the_paper']) is None
  assert extra_study.paper_gap(
      ['extra:not_in_the_paper', 'extra:global_warming']) == pytest.approx(
          82.7 - 84.2)
