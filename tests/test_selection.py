"""load_results: a malformed results.json stops the reports, naming the file."""

import json
import os
import subprocess
import sys

import pytest

from experiments import selection

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _done(**overrides):
  result = dict(status='done', task='mrpc', method='adapter', m=64, lr=1e-3,
                epochs=3.0, seed=0, dev={'accuracy': 0.8, 'f1': 0.85},
                score=0.825, trainable_params=1000, total_params=10_000,
                config=dict(method='adapter', m=64, lr=1e-3))
  result.update(overrides)
  return result


def _write(root, name, result):
  path = root / name / 'results.json'
  path.parent.mkdir(parents=True)
  path.write_text(result if isinstance(result, str) else json.dumps(result))
  return path


def test_a_valid_set_loads_with_each_run_named(tmp_path):
  _write(tmp_path, 'a', _done())
  _write(tmp_path, 'b', _done(seed=1, trainable_params=2000))
  _write(tmp_path, 'c', dict(status='diverged', task='mrpc', score=None))
  results = selection.load_results(str(tmp_path))
  assert [r['run'] for r in results] == ['a', 'b', 'c']
  assert [r.get('trainable_params') for r in results] == [1000, 2000, None]
  assert results[0]['run_dir'] == str(tmp_path / 'a')


def test_a_truncated_file_names_the_file(tmp_path):
  _write(tmp_path, 'a', _done())
  text = json.dumps(_done(seed=1))
  path = _write(tmp_path, 'b', text[:len(text) // 2])
  with pytest.raises(ValueError) as e:
    selection.load_results(str(tmp_path))
  assert str(e.value).startswith(f'{path}: not valid JSON (')
  assert '\n' not in str(e.value)


@pytest.mark.parametrize('result, key', [
    (_done(dev='0.8'), 'dev'),
    (_done(task=['mrpc']), 'task'),
    ({k: v for k, v in _done().items() if k != 'trainable_params'},
     'trainable_params'),
    (_done(trainable_params=1000.5), 'trainable_params'),
    ({k: v for k, v in _done().items() if k != 'status'}, 'status'),
])
def test_a_done_run_of_the_wrong_shape_names_the_file_and_key(
    tmp_path, result, key):
  path = _write(tmp_path, 'a', result)
  with pytest.raises(ValueError) as e:
    selection.load_results(str(tmp_path))
  assert str(e.value).startswith(f'{path}: ')
  assert f'"{key}"' in str(e.value)


def test_a_file_that_is_not_an_object_names_the_file(tmp_path):
  path = _write(tmp_path, 'a', '[1, 2]')
  with pytest.raises(ValueError, match='expected a JSON object, got list'):
    selection.load_results(str(tmp_path))
  with pytest.raises(ValueError, match=str(path)):
    selection.load_results(str(tmp_path))


def test_glue_report_on_a_truncated_file_ends_in_one_line(tmp_path):
  runs = tmp_path / 'runs'
  _write(runs, 'mrpc-adapter-m64-lr1e-3-ep3-s0', _done())
  text = json.dumps(_done(seed=1))
  path = _write(runs, 'mrpc-adapter-m64-lr1e-3-ep3-s1', text[:-7])
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.glue_study', f'--runs_dir={runs}',
       f'--out={tmp_path / "out"}'],
      cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2, proc.stderr
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith(f'error: {path}: not valid JSON (')
  assert 'Traceback' not in proc.stderr
  assert not (tmp_path / 'out').exists()
