"""The PEFT comparison report: lr selection, budgets, mean ± std per cell."""

import csv
import json
import os
import shutil

import numpy as np
import pytest

from experiments import peft_study

SIZES_1 = {'adapter': 23, 'lora': 25, 'prefix': 49}
SIZES_01 = {'adapter': 1, 'lora': 2, 'prefix': 5}
KEYS = {'adapter': 'm', 'lora': 'lora_rank', 'prefix': 'prefix_length'}
LRS = {'adapter': (3e-4, 1e-3, 3e-3), 'lora': (3e-4, 1e-3, 3e-3),
       'ia3': (1e-3, 3e-3, 1e-2, 3e-2), 'prefix': (1e-4, 3e-4, 1e-3),
       'bitfit': (3e-4, 1e-3, 3e-3)}
METRICS = {'mrpc': ('accuracy', 'f1'), 'rte': ('accuracy',),
           'stsb': ('pearson', 'spearman'), 'cola': ('matthews_corrcoef',)}


def _write(root, method, task, lr, seed, size, value, prefix_mlp=True):
  config = {'backbone': 'minilm-l6', 'lr': lr, 'seed': seed,
            'method': method, 'epochs': 3.0}
  if size is not None:
    config[KEYS[method]] = size
  # As in real runs: every config has the key, prefix tuning's knob.
  config['prefix_mlp'] = prefix_mlp if method == 'prefix' else False
  dev = {m: value - 0.01 * i for i, m in enumerate(METRICS[task])}
  name = f'{task}-{method}-{size}-{lr:g}-s{seed}' + (
      '' if prefix_mlp else '-direct')
  os.makedirs(os.path.join(root, name))
  with open(os.path.join(root, name, 'results.json'), 'w') as f:
    json.dump({'status': 'done', 'task': task, 'method': method, 'lr': lr,
               'seed': seed, 'epochs': 3.0, 'config': config, 'dev': dev,
               'trainable_params': 1000, 'total_params': 100000,
               'train_seconds': 1.0}, f)


def _make_runs(root, rng):
  """The three sweeps; returns the true best lr and every cell's values."""
  best, values = {}, {}
  for method, lrs in LRS.items():
    scores = rng.uniform(0.5, 0.9, size=len(lrs))
    best[method] = lrs[int(np.argmax(scores))]
    for lr, score in zip(lrs, scores):
      _write(root, method, 'mrpc', lr, 0, SIZES_1.get(method), score)
    for task in ('mrpc', 'rte', 'stsb', 'cola'):
      for seed in (1, 2) if task == 'mrpc' else (0, 1, 2):
        value = rng.uniform(0.3, 0.9)
        _write(root, method, task, best[method], seed, SIZES_1.get(method),
               value)
    if method in SIZES_01:
      for seed in (0, 1, 2):
        _write(root, method, 'mrpc', best[method], seed, SIZES_01[method],
               rng.uniform(0.3, 0.9))
  for method in LRS:
    for task in ('mrpc', 'rte', 'stsb', 'cola'):
      for share, sizes in (('1%', SIZES_1), ('0.1%', SIZES_01)):
        if share == '0.1%' and task != 'mrpc':
          continue
        size = sizes.get(method)
        vals = []
        for seed in (0, 1, 2):
          path = os.path.join(
              root, f'{task}-{method}-{size}-{best[method]:g}-s{seed}',
              'results.json')
          with open(path) as f:
            dev = json.load(f)['dev']
          vals.append(100 * dev[peft_study.TASK_METRICS[task]])
        values[(method, task, share)] = vals
  return best, values


def test_lr_selection_budgets_and_cells(tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  best, values = _make_runs(str(runs), np.random.default_rng(3))
  paths = peft_study.write_study(str(runs), str(out))
  with open(paths['selected']) as f:
    assert json.load(f)['lr'] == best
  results = peft_study.selection.load_results(str(runs))
  lrs = peft_study.select_lrs(results)
  assert lrs == best
  for share, tasks in (('1%', peft_study.TASKS), ('0.1%', ('mrpc',))):
    table = peft_study.cells(results, lrs, share, tasks)
    for method in LRS:
      for task in tasks:
        mean, std, n = table[method][task]
        expected = values[(method, task, share)]
        assert n == 3
        np.testing.assert_allclose(mean, np.mean(expected), rtol=1e-9)
        np.testing.assert_allclose(std, np.std(expected, ddof=1), rtol=1e-9)
  one = peft_study.cells(results, lrs, '1%', ('mrpc',))
  small = peft_study.cells(results, lrs, '0.1%', ('mrpc',))
  # Sized methods change share between the budgets; IA3 and BitFit do not.
  assert 0.009 < one['lora']['share'] < 0.011
  assert 0.0007 < small['lora']['share'] < 0.0012
  assert one['ia3']['share'] == small['ia3']['share'] < 0.001
  report = open(paths['report']).read()
  assert '| LoRA | r' not in report  # Sizes print as key=value.
  assert 'lora_rank=25' in report and 'lora_rank=2 ' in report
  assert 'RoBERTa-base | LoRA | 0.3M | 89.7 ± 0.7' in report
  assert 'Such runs here: none.' in report
  # The 0.1% table carries no speed column: the benchmark timed 1% sizes.
  small_table = report.split('## ~0.1% of the backbone (MRPC)')[1]
  header = next(l for l in small_table.splitlines() if l.startswith('| Method'))
  assert 'Step ex/s' not in header and 'Optimized' in header
  one_table = report.split('## ~1% of the backbone')[1]
  assert 'Step ex/s' in next(l for l in one_table.splitlines()
                             if l.startswith('| Method'))
  assert '| 1,000 |' in report  # Optimized: trainable_params, head included.
  with open(paths['runs']) as f:
    assert len(list(csv.DictReader(f))) == len(results)
  assert os.path.getsize(paths['plot']) > 1000


def test_no_runs_is_an_error(tmp_path):
  try:
    peft_study.write_study(str(tmp_path), str(tmp_path / 'out'))
  except ValueError as e:
    assert str(tmp_path) in str(e)
  else:
    raise AssertionError('expected a ValueError')


def test_constant_predictions_are_marked_and_listed(tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  best, _ = _make_runs(str(runs), np.random.default_rng(3))
  worst = next(lr for lr in LRS['lora'] if lr != best['lora'])
  path = os.path.join(runs, f'mrpc-lora-25-{worst:g}-s0', 'results.json')
  with open(path) as f:
    result = json.load(f)
  result['dev_predictions'] = dict(predicted={'0': 0, '1': 408})
  with open(path, 'w') as f:
    json.dump(result, f)
  report = open(peft_study.write_study(str(runs), str(out))['report']).read()
  lora = next(l for l in report.splitlines() if l.startswith('| LoRA |'))
  assert f'{worst:g}: ' in lora and '‡' in lora.split(f'{worst:g}: ')[1][:6]
  assert f'Such runs here: mrpc-lora-25-{worst:g}-s0.' in report


def test_report_without_runs_ends_in_one_line(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  (tmp_path / 'runs').mkdir()
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.peft_study',
       f'--runs_dir={tmp_path / "runs"}', f'--out={tmp_path / "out"}'],
      cwd=repo, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2, proc.stderr
  assert 'Traceback' not in proc.stderr
  assert proc.stderr.strip().splitlines() == [
      f'error: {tmp_path / "runs"}: no finished runs of '
      f'{peft_study.peft_config.METHODS}.']


def test_runs_outside_the_sweeps_are_refused(tmp_path):
  root = tmp_path / 'runs'
  _make_runs(str(root), np.random.default_rng(0))
  # Seed 0 at an lr off LoRA's grid, and a prefix run without its MLP.
  _write(str(root), 'lora', 'mrpc', 2e-3, 0, SIZES_1['lora'], 0.99)
  with pytest.raises(ValueError, match='mrpc-lora-25-0.002-s0; move them'):
    peft_study.write_study(str(root), str(tmp_path / 'out'))
  _write(str(tmp_path / 'runs2'), 'adapter', 'mrpc', 1e-3, 0, 7, 0.5)
  assert not peft_study.is_study_run(json.loads(
      (tmp_path / 'runs2' / 'mrpc-adapter-7-0.001-s0' / 'results.json')
      .read_text()))


def test_check_runs_are_reported_beside_the_grid_and_never_selected(
    tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  rng = np.random.default_rng(5)
  best, values = _make_runs(str(runs), rng)
  # LoRA's MRPC runs replaced: its best grid lr is its top one (3e-3); its
  # check past it scores 0.99, above everything, and must win nothing.
  for name in os.listdir(runs):
    if name.startswith('mrpc-lora-25-'):
      shutil.rmtree(runs / name)
  _write(str(runs), 'lora', 'mrpc', 3e-4, 0, 25, 0.50)
  _write(str(runs), 'lora', 'mrpc', 1e-3, 0, 25, 0.60)
  _write(str(runs), 'lora', 'mrpc', 3e-3, 0, 25, 0.70)
  for seed in (1, 2):
    _write(str(runs), 'lora', 'mrpc', 3e-3, seed, 25, 0.65)
  _write(str(runs), 'lora', 'mrpc', 1e-2, 0, 25, 0.99)
  _write(str(runs), 'prefix', 'mrpc', 1e-2, 0, 49, 0.90, prefix_mlp=False)
  paths = peft_study.write_study(str(runs), str(out))
  with open(paths['selected']) as f:
    assert json.load(f)['lr']['lora'] == 3e-3
  report = open(paths['report']).read()
  # 0.70 and 0.69 (accuracy, F1) -> selection score 69.5; the check 98.5.
  assert ('| LoRA | 0.0003: 49.5, 0.001: 59.5, 0.003: 69.5 | 0.01: 98.5 | '
          'yes |') in report
  assert ('Prefix tuning without the reparameterisation MLP (direct '
          'prefixes, lr 0.01): 89.5.') in report
  # The LoRA MRPC cell holds the three 3e-3 seeds only (70, 65, 65 accuracy).
  assert '| LoRA | lora_rank=25 | 0.003 |' in report
  assert '| 66.7 ± 2.9 (3) |' in report  # 70, 65, 65: std 2.89.
  with open(paths['runs']) as f:
    rows = list(csv.DictReader(f))
  assert sum(r['run'].startswith('mrpc-prefix-49-0.01-s0-direct')
             for r in rows) == 1


def test_a_method_with_an_unfinished_lr_grid_stays_out_of_selected_json(
    tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  best, _ = _make_runs(str(runs), np.random.default_rng(3))
  # One of LoRA's grid rates other than its best has not finished.
  lr = next(lr for lr in LRS['lora'] if lr != best['lora'])
  os.remove(os.path.join(runs, f'mrpc-lora-25-{lr:g}-s0', 'results.json'))
  paths = peft_study.write_study(str(runs), str(out))
  with open(paths['selected']) as f:
    chosen = json.load(f)['lr']
  assert chosen == {m: v for m, v in best.items() if m != 'lora'}
  report = open(paths['report']).read()
  assert (f"- Provisional: lora's lr is chosen among a grid that still lacks "
          f'lr {lr:g} (MRPC, seed 0)') in report
  from configs import peft as peft_config  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='lr_lora'):
    peft_config.sweep(lambda **kw: None,
                      f'sweep=seeds,selected={paths["selected"]}')
  # It diverged instead: tried (ranked last), so LoRA's lr is settled.
  with open(os.path.join(runs, f'mrpc-lora-25-{lr:g}-s0', 'results.json'),
            'w') as f:
    json.dump({'status': 'diverged', 'task': 'mrpc', 'method': 'lora',
               'lr': lr, 'seed': 0, 'epochs': 3.0, 'score': float('nan'),
               'config': {'backbone': 'minilm-l6', 'lr': lr, 'seed': 0,
                          'method': 'lora', 'epochs': 3.0, 'lora_rank': 25}},
              f)
  paths = peft_study.write_study(str(runs), str(out))
  with open(paths['selected']) as f:
    assert json.load(f)['lr'] == best
  report = open(paths['report']).read()
  assert 'Provisional' not in report
  assert f'fills no cell): mrpc-lora-25-{lr:g}-s0.' in report


def test_lower_lr_runs_sit_beside_the_table_and_never_fill_it(tmp_path):
  runs, out = tmp_path / 'runs', tmp_path / 'out'
  _make_runs(str(runs), np.random.default_rng(7))
  for name in os.listdir(runs):
    if '-lora-' in name:
      shutil.rmtree(runs / name)
  for lr, score in ((3e-4, 0.50), (1e-3, 0.60), (3e-3, 0.70)):
    _write(str(runs), 'lora', 'mrpc', lr, 0, 25, score)
  selected = (0.80, 0.10, 0.20)  # STS-B Pearson at 3e-3: two seeds fail.
  lower = (0.82, 0.84, 0.83)     # At 1e-3, the grid rate below.
  for seed, (high, low) in enumerate(zip(selected, lower)):
    _write(str(runs), 'lora', 'stsb', 3e-3, seed, 25, high)
    _write(str(runs), 'lora', 'stsb', 1e-3, seed, 25, low)
  report = open(peft_study.write_study(str(runs), str(out))['report']).read()
  fmt = lambda v: f'{np.mean(v) * 100:.1f} ± {np.std(v, ddof=1) * 100:.1f} (3)'
  assert (f'| LoRA | STS-B (pearson) | 0.003: 80.0, 10.0, 20.0 | '
          f'{fmt(selected)} | 0.001: 82.0, 84.0, 83.0 | {fmt(lower)} |'
          ) in report
  # The ~1% table keeps the selected rate's seeds.
  row = next(line for line in report.splitlines()
             if line.startswith('| LoRA | lora_rank=25 |'))
  assert fmt(selected) in row and fmt(lower) not in row
  # Other methods have no lower-rate runs off MRPC: no rows for them.
  section = report.split('(sweep=lower_lr)', 1)[1].split('\n## ', 1)[0]
  assert section.count('| LoRA |') == 1 and '| IA3 |' not in section
