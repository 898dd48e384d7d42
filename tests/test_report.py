"""The report: paper-style tables, CSVs, plots and submission files."""

import csv
import json
import statistics

import pytest

from experiments import paper_results
from experiments import report
from experiments.tables import common


def _result(root, run, task, method, dev, m=64, params=1000, total=10**6,
            seconds=10.0, predictions=None, top_k=0, init_scale=None,
            seed=0):
  d = root / run
  d.mkdir(parents=True)
  score = statistics.mean(dev.values())
  (d / 'results.json').write_text(json.dumps(dict(
      status='done', task=task, method=method, m=m, lr=1e-3, epochs=3.0,
      seed=seed,
      config=dict(m=m, top_k=top_k, **(
          {} if init_scale is None else {'init_scale': init_scale})), dev=dev, best_dev=dev, best_step=10,
      score=score, trainable_params=params, total_params=total,
      trainable_share=params / total, train_seconds=seconds, steps=20)))
  if predictions:
    (d / 'predictions').mkdir()
    for name, text in predictions.items():
      (d / 'predictions' / name).write_text(text)


@pytest.fixture
def sweep_dir(tmp_path):
  root = tmp_path / 'sweep'
  _result(root, 'rte-adapter-m8', 'rte', 'adapter', {'accuracy': 0.6321},
          m=8, params=20_000, seconds=100,
          predictions={'RTE.tsv': 'index\tprediction\n0\tentailment\n'})
  _result(root, 'rte-adapter-m64', 'rte', 'adapter', {'accuracy': 0.6101},
          m=64, params=40_000, seconds=120,
          predictions={'RTE.tsv': 'index\tprediction\n0\tnot_entailment\n'})
  _result(root, 'rte-full', 'rte', 'full', {'accuracy': 0.5812},
          params=10**6, seconds=300)
  _result(root, 'mrpc-adapter-m8', 'mrpc', 'adapter',
          {'f1': 0.8812, 'accuracy': 0.8333}, m=8, params=20_000, seconds=50)
  _result(root, 'mrpc-adapter-m64', 'mrpc', 'adapter',
          {'f1': 0.8712, 'accuracy': 0.8333}, m=64, params=40_000, seconds=60)
  _result(root, 'mrpc-full', 'mrpc', 'full', {'f1': 0.8901, 'accuracy': 0.8502},
          params=10**6, seconds=200)
  _result(root, 'spam-adapter', 'extra:sms_spam', 'adapter',
          {'accuracy': 0.9876}, params=30_000)
  _result(root, 'spam-full', 'extra:sms_spam', 'full', {'accuracy': 0.9911},
          params=10**6)
  return root


def _rows(path):
  with open(path) as f:
    return list(csv.reader(f))


def test_report_renders_tables_plots_and_submission(sweep_dir, tmp_path):
  out = tmp_path / 'out'
  paths = report.write_report([str(sweep_dir)], str(out))
  for name in ('report', 'glue_table', 'extra_table', 'wall_time', 'runs',
               'params_glue', 'params_extra'):
    assert (out / paths[name].split('/')[-1]).exists(), name
  for png in ('params_glue.png', 'params_extra.png'):
    assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

  header, *rows = _rows(out / 'glue_table.csv')
  assert header[4:6] == ['MRPC (F1 / acc)', 'RTE (acc)']
  by_label = {r[0]: dict(zip(header, r)) for r in rows}
  # Adapters, best over m: m=8 in both tasks.
  adapters = by_label['Adapters (8-64)']
  assert adapters['RTE (acc)'] == '63.2'
  assert adapters['MRPC (F1 / acc)'] == '88.1 / 83.3'
  assert by_label['Adapters (64)']['RTE (acc)'] == '61.0'
  assert by_label['Full FT']['MRPC (F1 / acc)'] == '89.0 / 85.0'
  assert by_label['Full FT']['Params for 2 tasks'] == '2.00x'
  # m=8 in both tasks: share 2% -> 1 + 2 * 0.02.
  assert adapters['Trained / task'] == '2.00%'
  assert adapters['Params for 2 tasks'] == '1.04x'
  assert adapters['Train s (sum)'] == '150'
  paper = by_label['Paper: Adapters (8-256)']
  assert paper['RTE (acc)'] == '71.5' and paper['MRPC (F1 / acc)'] == '89.5'
  hub = by_label['AdapterHub 1.3: Adapters (64)']
  assert hub['RTE (acc)'] == '54.2' and hub['MRPC (F1 / acc)'] == '86.8 / 81.4'

  header, *rows = _rows(out / 'extra_table.csv')
  spam = dict(zip(header, rows[0]))
  assert spam['Dataset'] == 'sms_spam'
  assert spam['Adapters (ours)'] == '98.8' and spam['Full FT (ours)'] == '99.1'
  assert spam['Adapters (paper)'] == '95.1'

  markdown = (out / 'report.md').read_text()
  assert '| Adapters (8-64) | ours, dev |' in markdown
  assert '63.2' in markdown and '71.5' in markdown
  assert '](params_glue.png)' in markdown
  # The best RTE run overall is the adapter m=8 one: its file is submitted.
  assert (out / 'submission' / 'RTE.tsv').read_text().endswith('entailment\n')
  assert 'not_' not in (out / 'submission' / 'RTE.tsv').read_text()
  assert len(_rows(out / 'runs.csv')) == 1 + 8


def test_submission_of_one_method(sweep_dir, tmp_path):
  copied = report.copy_submission(
      report.selection.load_results(str(sweep_dir)), str(tmp_path), 'full')
  assert copied == {}  # The full runs made no predictions.


def test_init_scale_study_table_and_plot(tmp_path):
  root = tmp_path / 'init'
  scores = {1e-7: (0.50, 0.52), 1e-3: (0.55, 0.57), 1.0: (0.10, 0.30)}
  for sigma, per_seed in scores.items():
    for seed, value in enumerate(per_seed):
      _result(root, f'cola-s{sigma:g}-{seed}', 'cola', 'adapter',
              {'mcc': value}, init_scale=sigma, seed=seed)
  _result(root, 'rte-one-sigma', 'rte', 'adapter', {'accuracy': 0.6},
          init_scale=1e-3)  # One σ only: no study for RTE.
  out = tmp_path / 'out'
  paths = report.write_report([str(root)], str(out))
  rows = _rows(paths['init_scale'])
  assert rows[0] == ['task', 'init σ', 'runs', 'dev score', 'min', 'max']
  assert rows[1:] == [['CoLA', '1e-07', '2', '51.0', '50.0', '52.0'],
                      ['CoLA', '0.001', '2', '56.0', '55.0', '57.0'],
                      ['CoLA', '1', '2', '20.0', '10.0', '30.0']]
  assert (out / 'init_scale.png').stat().st_size > 0
  assert 'init_scale.png' in (out / 'report.md').read_text()


def test_squad_runs_get_their_own_table_on_the_0_100_scale(tmp_path):
  root = tmp_path / 'squad'
  for run, method, m, em, f1 in (('sq-ad', 'adapter', 64, 40.1, 52.3),
                                 ('sq-ft', 'full', 64, 45.0, 58.9)):
    _result(root, run, 'squad', method, {'exact_match': em, 'f1': f1}, m=m)
  paths = report.write_report([str(root)], str(tmp_path / 'out'))
  rows = _rows(paths['squad_table'])
  assert [r[:5] for r in rows[1:]] == [
      ['Full FT', '-', 'dev', '45.0', '58.9'],
      ['Adapters', 'm=64', 'dev', '40.1', '52.3']]
  assert [r[-1] for r in rows[1:]] == ['90.7', '90.4']
  assert 'extra_table' not in paths  # SQuAD is not an extra classification task.


def test_no_init_scale_section_without_a_study(sweep_dir, tmp_path):
  paths = report.write_report([str(sweep_dir)], str(tmp_path / 'out'))
  assert 'init_scale' not in paths


def test_total_params_multiplier_matches_the_paper():
  assert common.total_params_multiplier('full', 1.0, 9) == 9.0
  assert round(common.total_params_multiplier('adapter', 0.036, 9), 1) == 1.3
  assert round(common.total_params_multiplier('adapter', 0.021, 9), 1) == 1.2
  assert round(common.total_params_multiplier('adapter', 0.0114, 17), 2) == 1.19


def test_no_results_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='No results.json'):
    report.write_report([str(tmp_path)], str(tmp_path / 'out'))


def test_paper_numbers_are_consistent():
  for row in paper_results.GLUE_TABLE1.values():
    assert set(row['scores']) == {c for c, _, _ in paper_results.GLUE_COLUMNS}
  table2 = paper_results.EXTRA_TABLE2
  assert len(table2) == paper_results.EXTRA_NUM_TASKS
  assert set(paper_results.EXTRA_TABLE2_SEM) == set(table2)
  assert set(paper_results.EXTRA_EPOCHS) == set(table2)
  assert set(paper_results.EXTRA_LABELS) == set(table2)
  for method in ('full', 'top_k', 'adapter'):
    mean = statistics.mean(row[method] for row in table2.values())
    # Each printed value is rounded to 0.1 (error <= 0.05, so their mean's
    # error <= 0.05), and so is the printed average (<= 0.05).
    assert abs(mean - paper_results.EXTRA_AVERAGE[method]) <= 0.1, method
    for name, row in paper_results.EXTRA_TABLE2_SEM.items():
      assert 0 <= row[method] < 3, (name, method)
  for epochs in paper_results.EXTRA_EPOCHS.values():
    assert set(epochs.values()) <= {20, 50, 100}  # The paper's epoch grid.
