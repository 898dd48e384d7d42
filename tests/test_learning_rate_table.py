"""The dev-score-against-lr table and plot of the GLUE study report."""

import os

import pytest

from experiments.tables import learning_rate


def _run(task, method, lr, score, m=None, top_k=None):
  return dict(task=task, method=method, lr=lr, m=m, seed=0,
              config=dict(top_k=top_k), _score=score)


RUNS = [
    _run('mrpc', 'adapter', 3e-3, 81.2, m=64),
    _run('mrpc', 'adapter', 3e-4, 83.8, m=64),
    _run('mrpc', 'adapter', 1e-3, 87.3, m=64),
    _run('mrpc', 'adapter', 3e-4, 82.4, m=8),
    _run('mrpc', 'full', 5e-5, 86.1),
    _run('mrpc', 'full', 2e-5, 81.6),
    _run('mrpc', 'top_k', 5e-5, 82.2, top_k=3),
    _run('rte', 'full', 5e-5, 56.0),
]


def _score(r):
  return r['_score']


def test_lines_group_by_method_and_size_and_sort_by_lr():
  by_task = learning_rate.lines(RUNS, _score)
  assert by_task['mrpc'][('adapter', 64)] == [
      (3e-4, 83.8), (1e-3, 87.3), (3e-3, 81.2)]
  assert by_task['mrpc'][('adapter', 8)] == [(3e-4, 82.4)]
  assert by_task['mrpc'][('top_k', 3)] == [(5e-5, 82.2)]
  assert by_task['rte'] == {('full', None): [(5e-5, 56.0)]}


def test_table_rows_follow_the_task_order_with_spreads():
  header, rows = learning_rate.table(RUNS, _score, ['rte', 'mrpc'])
  assert header[0] == 'Task'
  assert [r[:2] for r in rows] == [
      ['RTE', 'Full FT'], ['MRPC', 'Adapters m=8'], ['MRPC', 'Adapters m=64'],
      ['MRPC', 'Full FT'], ['MRPC', 'Top-k FT k=3']]
  m64 = rows[2]
  assert m64[2] == '0.0003: 83.8, 0.001: 87.3, 0.003: 81.2'
  assert m64[3] == f'{87.3 - 81.2:.1f}'
  assert rows[0][3] == '-'  # One lr: no spread.


def test_plot_draws_only_lines_with_two_learning_rates(tmp_path,
                                                       monkeypatch):
  matplotlib = pytest.importorskip('matplotlib')
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  drawn = []
  real_plot = plt.Axes.plot

  def spy(ax, *args, **kwargs):
    drawn.append(kwargs.get('label'))
    return real_plot(ax, *args, **kwargs)

  monkeypatch.setattr(plt.Axes, 'plot', spy)
  path = learning_rate.plot(RUNS, _score, ['rte', 'mrpc'], str.upper,
                            str(tmp_path / 'lr.png'))
  assert os.path.getsize(path) > 0
  # RTE has no line with two lrs, so only MRPC's panel is drawn.
  assert drawn == ['Adapters m=64', 'Full FT']


def test_plot_crosses_marked_points_on_drawn_lines_only(tmp_path, monkeypatch):
  matplotlib = pytest.importorskip('matplotlib')
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  crossed = []
  real_scatter = plt.Axes.scatter

  def spy(ax, x, y, **kwargs):
    crossed.append((list(x), list(y), kwargs.get('label')))
    return real_scatter(ax, x, y, **kwargs)

  monkeypatch.setattr(plt.Axes, 'scatter', spy)
  # MRPC m=64 at 3e-3 is marked; m=8 (one lr, no line) and RTE too.
  marked = lambda r: r['lr'] == 3e-3 or r['method'] == 'full' and (
      r['task'] == 'rte') or r.get('m') == 8
  learning_rate.plot(RUNS, _score, ['rte', 'mrpc'], str.upper,
                     str(tmp_path / 'lr.png'), marked=marked,
                     marked_label='constant')
  assert crossed == [([3e-3], [81.2], 'constant')]


def test_table_marks_the_picked_runs():
  _, rows = learning_rate.table(RUNS, _score, ['mrpc'], mark='*',
                                marked=lambda r: r['lr'] == 3e-3)
  assert rows[1][2] == '0.0003: 83.8, 0.001: 87.3, 0.003: 81.2*'
