"""The sweep runner: names, resume, shards, input errors, best-on-dev."""

import json
import math
import os
import subprocess
import sys

import pytest

from adapter_bert import workdir_lock
from configs import glue
from experiments import selection
from experiments import sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class FakeTrain:
  """Writes a results.json like train_and_evaluate; can fail on a given call."""

  def __init__(self, fail_on=(), error=RuntimeError, diverge_on=()):
    self.calls = []
    self.fail_on = set(fail_on)
    self.diverge_on = set(diverge_on)
    self.error = error

  def __call__(self, config, workdir):
    self.calls.append(os.path.basename(workdir))
    if len(self.calls) in self.fail_on:
      raise self.error('boom')
    os.makedirs(workdir, exist_ok=True)
    score = 0.5 + config.lr + config.m / 1e4
    if len(self.calls) in self.diverge_on:  # As train_and_evaluate does.
      with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump(dict(status='diverged', config=config.to_dict()), f)
      raise FloatingPointError('Loss became nan')
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f)
    with open(os.path.join(workdir, 'metrics.jsonl'), 'w') as f:
      f.write('{"step": 1}\n')
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(dict(status='done', task=config.task, method=config.method, m=config.m,
                     lr=config.lr, epochs=config.epochs, seed=config.seed,
                     config=config.to_dict(), score=score,
                     dev={'accuracy': score}, best_dev={'accuracy': score},
                     trainable_params=config.m * 100, total_params=10**6),
                f)


def _runs(arg='task=rte,sweep=cpu'):
  spec = os.path.join(REPO, 'configs', 'glue.py') + ':' + arg
  base = glue.get_config(arg)
  runs, _ = sweep.prepare(base, spec)
  return runs


def test_run_names_are_readable_and_stable():
  names = [r.name for r in _runs()]
  assert names == ['rte-adapter-m8-lr1e-3-ep3-s0', 'rte-adapter-m64-lr1e-3-ep3-s0',
                   'rte-full-lr5e-5-ep3-s0']
  assert sweep.run_name(dict(task='extra:sms_spam', method='top_k', top_k=3,
                             lr=3e-5, epochs=2.5, seed=1, m=64,
                             placement='none', init_scale=1e-2)) == (
                                 'extra_sms_spam-top_k-k3-lr3e-5-ep2.5-s1-'
                                 'init_scale1e-2')


def test_runs_carry_their_overrides():
  runs = _runs()
  assert [r.config.m for r in runs[:2]] == [8, 64]
  assert runs[2].config.method == 'full' and runs[2].config.placement == 'none'
  assert runs[2].config.lr == 5e-5


def test_interrupted_sweep_resumes_with_the_remaining_runs(tmp_path):
  runs = _runs()
  first = FakeTrain(fail_on={2}, error=KeyboardInterrupt)
  with pytest.raises(KeyboardInterrupt):
    sweep.run_sweep(runs, str(tmp_path), first)
  assert first.calls == [runs[0].name, runs[1].name]
  status = json.loads((tmp_path / runs[1].name / sweep.STATUS_FILE).read_text())
  assert status['state'] == 'interrupted'

  second = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path), second)
  assert second.calls == [runs[1].name, runs[2].name]
  assert set(states.values()) == {'done'}
  assert sweep.run_sweep(runs, str(tmp_path), FakeTrain()) == states


def test_failing_run_does_not_stop_the_sweep(tmp_path):
  runs = _runs()
  states = sweep.run_sweep(runs, str(tmp_path), FakeTrain(fail_on={1}))
  assert [states[r.name] for r in runs] == ['failed', 'done', 'done']
  status = json.loads((tmp_path / runs[0].name / sweep.STATUS_FILE).read_text())
  assert status['error'] == 'RuntimeError: boom' and status['attempts'] == 1
  summary = json.loads((tmp_path / 'sweep_summary.json').read_text())
  assert summary['failed'] == [runs[0].name]

  # A failed run is not retried silently; it keeps the sweep failing.
  again = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path), again)
  assert again.calls == [] and states[runs[0].name] == 'failed'

  retry = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path), retry, rerun_failed=True)
  assert retry.calls == [runs[0].name]
  assert set(states.values()) == {'done'}
  status = json.loads((tmp_path / runs[0].name / sweep.STATUS_FILE).read_text())
  assert status['attempts'] == 2 and status['state'] == 'done'


def test_reliability_sweep_diverged_run_keeps_failing_until_rerun(tmp_path):
  runs = _runs()
  states = sweep.run_sweep(runs, str(tmp_path), FakeTrain(diverge_on={2}))
  assert [states[r.name] for r in runs] == ['done', 'diverged', 'done']
  for _ in range(2):  # Every re-run reports it, and trains nothing.
    again = FakeTrain()
    states = sweep.run_sweep(runs, str(tmp_path), again)
    assert again.calls == [] and states[runs[1].name] == 'diverged'
  assert 'diverged' in sweep.dry_run(runs, str(tmp_path), None)
  # --rerun_failed retrains failed runs only; --rerun_diverged these.
  retry = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path), retry, rerun_failed=True)
  assert retry.calls == [] and states[runs[1].name] == 'diverged'
  states = sweep.run_sweep(runs, str(tmp_path), retry, rerun_diverged=True)
  assert retry.calls == [runs[1].name] and set(states.values()) == {'done'}


def test_reliability_sweep_diverged_run_is_published_as_a_result(tmp_path):
  runs = _runs()
  committed = tmp_path / 'committed'
  states = sweep.run_sweep(runs, str(tmp_path / 'a'), FakeTrain(diverge_on={2}),
                           results_dir=str(committed))
  assert sweep.exit_status(states) == 1
  assert sweep.exit_status(states, diverged_ok=True) == 0
  assert sweep.exit_status(dict(states, x='failed'), diverged_ok=True) == 1
  recorded = json.loads((committed / runs[1].name / 'results.json').read_text())
  assert recorded['status'] == 'diverged'
  # Another machine sees it as tried (ranked last), not as a run to retrain.
  other = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path / 'b'), other,
                           results_dir=str(committed))
  assert other.calls == [] and states[runs[1].name] == 'diverged'
  # A retraining that ends done replaces the diverged record, and the other
  # machine, whose workdir still holds the diverged file, sees it done.
  sweep.run_sweep(runs, str(tmp_path / 'a'), FakeTrain(),
                  results_dir=str(committed), rerun_diverged=True)
  recorded = json.loads((committed / runs[1].name / 'results.json').read_text())
  assert recorded['status'] == 'done'
  (tmp_path / 'b' / runs[1].name).mkdir(parents=True)
  (tmp_path / 'b' / runs[1].name / 'results.json').write_text(
      json.dumps(dict(status='diverged')))
  assert sweep.state(str(tmp_path / 'b'), runs[1], str(committed)) == 'done'


def test_sweep_prunes_checkpoints_of_finished_runs_only_when_asked(tmp_path):
  runs = _runs()[:2]

  def train_with_checkpoints(config, workdir):
    os.makedirs(os.path.join(workdir, 'checkpoints', '7'))
    FakeTrain()(config, workdir)

  sweep.run_sweep(runs[:1], str(tmp_path), train_with_checkpoints)
  assert (tmp_path / runs[0].name / 'checkpoints' / '7').is_dir()
  sweep.run_sweep(runs[1:], str(tmp_path), train_with_checkpoints,
                  prune_checkpoints=True)
  assert not (tmp_path / runs[1].name / 'checkpoints').exists()
  assert (tmp_path / runs[1].name / 'results.json').exists()
  # A diverged run keeps its last good checkpoint (its error message says so).
  def diverge_with_checkpoints(config, workdir):
    os.makedirs(os.path.join(workdir, 'checkpoints', '3'))
    FakeTrain(diverge_on={1})(config, workdir)

  more = _runs()[2:3]
  sweep.run_sweep(more, str(tmp_path), diverge_with_checkpoints,
                  prune_checkpoints=True)
  assert (tmp_path / more[0].name / 'checkpoints' / '3').is_dir()


def test_reliability_sweep_results_without_done_status_are_not_done(tmp_path):
  runs = _runs()[:1]
  run_dir = tmp_path / runs[0].name
  run_dir.mkdir()
  (run_dir / 'results.json').write_text(json.dumps(dict(status='interrupted')))
  assert sweep.state(str(tmp_path), runs[0]) == 'pending'
  (run_dir / 'results.json').write_text('{"status": "do')  # Truncated.
  assert sweep.state(str(tmp_path), runs[0]) == 'pending'


def test_reliability_sweep_changed_config_is_refused_with_keys(tmp_path):
  arg = 'task=rte,sweep=cpu'
  spec = os.path.join(REPO, 'configs', 'glue.py') + ':' + arg
  runs, _ = sweep.prepare(glue.get_config(arg), spec)
  sweep.run_sweep(runs, str(tmp_path), FakeTrain())
  changed_base = glue.get_config(arg)
  changed_base.dropout = 0.2
  changed, _ = sweep.prepare(changed_base, spec)
  again = FakeTrain()
  with pytest.raises(sweep.SweepError, match=r'dropout: 0\.1 -> 0\.2'):
    sweep.run_sweep(changed, str(tmp_path), again)
  assert again.calls == []
  listing = sweep.dry_run(changed, str(tmp_path), None)
  assert listing.count('changed') == 3 and 'dropout' in listing
  # Keys that only change logging or evaluation batching do not count.
  cosmetic = glue.get_config(arg)
  cosmetic.log_every = 1
  cosmetic.eval_batch_size = 7
  same, _ = sweep.prepare(cosmetic, spec)
  assert {sweep.state(str(tmp_path), r) for r in same} == {'done'}
  rerun = FakeTrain()
  states = sweep.run_sweep(changed, str(tmp_path), rerun, rerun_changed=True)
  assert rerun.calls == [r.name for r in runs]
  assert set(states.values()) == {'done'}
  recorded = json.loads((tmp_path / runs[0].name / 'results.json').read_text())
  assert recorded['config']['dropout'] == 0.2


def test_reliability_sweep_key_added_later_compares_with_its_default(tmp_path):
  runs = _runs()[:1]
  sweep.run_sweep(runs, str(tmp_path), FakeTrain())
  path = tmp_path / runs[0].name / 'results.json'
  results = json.loads(path.read_text())
  del results['config']['group_by_length']  # As if made before the key.
  path.write_text(json.dumps(results))
  defaults = glue.get_config('task=rte').to_dict()
  assert sweep.state(str(tmp_path), runs[0], defaults=defaults) == 'done'
  grouped = sweep.expand(runs[0].config, [dict(group_by_length=True)])[0]
  grouped = sweep.Run(runs[0].index, runs[0].name, {}, grouped.config)
  inspected = sweep.inspect_run(str(tmp_path), grouped, defaults=defaults)
  assert inspected.state == 'changed'
  assert inspected.changes == {'group_by_length': (False, True)}


def test_reliability_sweep_run_before_the_schedule_key_used_hf_schedule(
    tmp_path):
  runs = _runs()[:1]
  sweep.run_sweep(runs, str(tmp_path), FakeTrain())
  path = tmp_path / runs[0].name / 'results.json'
  results = json.loads(path.read_text())
  del results['config']['schedule']  # Made before the key: HF's schedule.
  path.write_text(json.dumps(results))
  defaults = glue.get_config('task=rte').to_dict()
  assert defaults['schedule'] == 'official'
  inspected = sweep.inspect_run(str(tmp_path), runs[0], defaults=defaults)
  assert inspected.changes == {'schedule': ('linear', 'official')}
  linear = sweep.expand(runs[0].config, [dict(schedule='linear')])[0]
  linear = sweep.Run(runs[0].index, runs[0].name, {}, linear.config)
  assert sweep.state(str(tmp_path), linear, defaults=defaults) == 'done'


def test_reliability_sweep_run_without_test_predictions_serves_no_request_for_them(
    tmp_path):
  runs = _runs()[:1]
  quiet = sweep.expand(runs[0].config, [dict(predict=False)])[0]
  quiet = sweep.Run(runs[0].index, runs[0].name, {}, quiet.config)
  sweep.run_sweep([quiet], str(tmp_path), FakeTrain())
  assert sweep.state(str(tmp_path), quiet) == 'done'
  asking = sweep.expand(runs[0].config, [dict(predict=True)])[0]
  asking = sweep.Run(runs[0].index, runs[0].name, {}, asking.config)
  inspected = sweep.inspect_run(str(tmp_path), asking)
  assert inspected.changes == {'predict': (False, True)}
  # A run that predicted serves a request that does not ask for it.
  sweep.run_sweep([asking], str(tmp_path / 'b'), FakeTrain())
  assert sweep.state(str(tmp_path / 'b'), quiet) == 'done'


def test_reliability_sweep_results_dir_carries_finished_runs(tmp_path):
  runs = _runs()
  results_dir = tmp_path / 'committed'
  sweep.run_sweep(runs, str(tmp_path / 'machine1'), FakeTrain(),
                  results_dir=str(results_dir))
  for run in runs:
    assert sorted(os.listdir(results_dir / run.name)) == [
        'config.json', 'metrics.jsonl', 'results.json']
  # Another machine, no local runs: everything committed is done.
  fresh = FakeTrain()
  states = sweep.run_sweep(runs, str(tmp_path / 'machine2'), fresh,
                           results_dir=str(results_dir))
  assert fresh.calls == [] and set(states.values()) == {'done'}


def test_reliability_sweep_run_done_before_an_interrupt_is_published(tmp_path):
  runs = _runs()[:2]
  results_dir = tmp_path / 'committed'
  fake = FakeTrain()

  def done_then_interrupted(config, workdir):
    fake(config, workdir)  # A done results.json, then Ctrl-C before copying.
    if len(fake.calls) == 1:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    sweep.run_sweep(runs, str(tmp_path / 'wd'), done_then_interrupted,
                    results_dir=str(results_dir))
  assert not (results_dir / runs[0].name).exists()
  states = sweep.run_sweep(runs, str(tmp_path / 'wd'), done_then_interrupted,
                           results_dir=str(results_dir))
  assert states == {r.name: 'done' for r in runs}
  assert fake.calls == [runs[0].name, runs[1].name]  # Run 0 not retrained.
  for run in runs:
    for filename in sweep.RESULT_FILES:
      assert ((results_dir / run.name / filename).read_bytes()
              == (tmp_path / 'wd' / run.name / filename).read_bytes())


def test_reliability_sweep_fills_a_partial_copy_and_keeps_amended_files(
    tmp_path):
  runs = _runs()[:1]
  results_dir = tmp_path / 'committed'
  sweep.run_sweep(runs, str(tmp_path / 'wd'), FakeTrain(),
                  results_dir=str(results_dir))
  copy = results_dir / runs[0].name
  (copy / 'metrics.jsonl').unlink()  # A copy that lost a file.
  # A committed results.json amended since (a field added after the run).
  amended = json.loads((copy / 'results.json').read_text())
  amended['dev_predictions'] = {'predicted': {'a': 1}}
  (copy / 'results.json').write_text(json.dumps(amended))
  sweep.run_sweep(runs, str(tmp_path / 'wd'), FakeTrain(),
                  results_dir=str(results_dir))
  assert (copy / 'metrics.jsonl').read_bytes() == (
      tmp_path / 'wd' / runs[0].name / 'metrics.jsonl').read_bytes()
  assert json.loads((copy / 'results.json').read_text()) == amended


def test_reliability_sweep_results_json_is_copied_last(tmp_path, monkeypatch):
  runs = _runs()[:1]
  results_dir = tmp_path / 'committed'
  real_copy = sweep.fileio.copy_file
  copied = []

  def copy_failing_on_metrics(src, dst):
    copied.append(os.path.basename(dst))
    if os.path.basename(dst) == 'metrics.jsonl':
      raise OSError('disk full')
    real_copy(src, dst)

  monkeypatch.setattr(sweep.fileio, 'copy_file', copy_failing_on_metrics)
  sweep.run_sweep(runs, str(tmp_path / 'wd'), FakeTrain(),
                  results_dir=str(results_dir))
  assert 'results.json' not in copied
  assert not (results_dir / runs[0].name / 'results.json').exists()
  assert sweep.state(str(tmp_path / 'other'), runs[0],
                     str(results_dir)) == 'pending'

  copied.clear()
  monkeypatch.setattr(sweep.fileio, 'copy_file', lambda src, dst: (
      copied.append(os.path.basename(dst)), real_copy(src, dst)))
  sweep.run_sweep(runs, str(tmp_path / 'wd'), FakeTrain(),
                  results_dir=str(results_dir))
  # config.json made it the first time and is kept; results.json comes last.
  assert copied == ['metrics.jsonl', 'results.json']
  assert sorted(os.listdir(results_dir / runs[0].name)) == [
      'config.json', 'metrics.jsonl', 'results.json']


def test_train_without_results_counts_as_failed(tmp_path):
  runs = _runs()[:1]
  states = sweep.run_sweep(runs, str(tmp_path), lambda config, workdir: None)
  assert states == {runs[0].name: 'failed'}


def test_two_shards_cover_the_sweep_exactly_once(tmp_path):
  runs = _runs('tasks=rte+mrpc,sweep=fixed_m')  # 12 runs
  trainers = [FakeTrain(), FakeTrain()]
  for i, train in enumerate(trainers):
    sweep.run_sweep(runs, str(tmp_path), train, shard=(i, 2))
  calls = trainers[0].calls + trainers[1].calls
  assert sorted(calls) == sorted(r.name for r in runs)
  assert trainers[0].calls == [r.name for r in runs[0::2]]
  for i in range(2):
    summary = json.loads(
        (tmp_path / f'sweep_summary.shard-{i}-of-2.json').read_text())
    assert len(summary['states']) == 6 and not summary['failed']
  index = json.loads((tmp_path / sweep.INDEX_FILE).read_text())
  assert [r['name'] for r in index['runs']] == [r.name for r in runs]


@pytest.mark.parametrize('spec', ['3/2', '0/0', 'x/2', '2/2', '-1/2', '1'])
def test_bad_shard_specs_raise(spec):
  with pytest.raises(ValueError, match='shard'):
    sweep.parse_shard(spec)


def test_shard_spec_parses():
  assert sweep.parse_shard('') is None
  assert sweep.parse_shard('1/3') == (1, 3)


def _bad_config(tmp_path):
  path = tmp_path / 'bad_config.py'
  path.write_text(
      'from configs import glue\n'
      'get_config = glue.get_config\n'
      'def sweep(add, arg=None):\n'
      '  add(task="rte", lr=1e-3)\n'
      '  add(task="rte", lrate=1e-3)\n')
  return str(path)


def test_unknown_sweep_key_fails_before_any_run(tmp_path):
  with pytest.raises(ValueError, match=r"'lrate'.*valid keys.*'lr'"):
    sweep.prepare(glue.get_config(), _bad_config(tmp_path))


def test_wrongly_typed_sweep_value_fails():
  with pytest.raises(ValueError, match='m='):
    sweep.expand(glue.get_config(), [dict(m='big')])


def test_duplicate_run_names_fail():
  with pytest.raises(ValueError, match='both named'):
    sweep.expand(glue.get_config(), [dict(lr=1e-3), dict(lr=1e-3)])


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.sweep', *args],
                        cwd=REPO, capture_output=True, text=True, timeout=120,
                        check=False)


def test_cli_errors_before_any_run_and_dry_run_lists_shards(tmp_path):
  workdir = tmp_path / 'sweep'
  bad_key = _cli(f'--config={_bad_config(tmp_path)}', f'--workdir={workdir}')
  assert bad_key.returncode == 2 and 'lrate' in bad_key.stderr
  bad_shard = _cli('--config=configs/glue.py:task=rte,sweep=cpu',
                   f'--workdir={workdir}', '--shard=3/2')
  assert bad_shard.returncode == 2 and '3/2' in bad_shard.stderr
  for bad in (bad_key, bad_shard):  # One line, not the usage text.
    assert bad.stderr.startswith('error: ')
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
  assert not workdir.exists()  # Nothing started.

  dry = _cli('--config=configs/glue.py:task=rte,sweep=cpu',
             f'--workdir={workdir}', '--shard=1/2', '--dry_run')
  assert dry.returncode == 0, dry.stderr
  assert 'rte-adapter-m64-lr1e-3-ep3-s0' in dry.stdout
  assert 'rte-adapter-m8-lr1e-3-ep3-s0' not in dry.stdout  # Shard 0.
  assert not workdir.exists()


# ------------------------------------------------------------ best on dev


def _result(root, run, score, task='rte', method='adapter', m=64,
            params=1000, top_k=0):
  d = root / run
  d.mkdir(parents=True)
  (d / 'results.json').write_text(json.dumps(dict(
      status='done', task=task, method=method, m=m, score=score,
      dev={'accuracy': score}, trainable_params=params, total_params=10**6,
      config=dict(m=m, top_k=top_k))))


def test_best_on_dev_picks_the_right_runs(tmp_path):
  _result(tmp_path, 'a-m8-lr1', 0.60, m=8, params=100)
  _result(tmp_path, 'a-m8-lr2', 0.70, m=8, params=100)
  _result(tmp_path, 'a-m64-lr1', 0.65, m=64, params=800)
  _result(tmp_path, 'a-m64-nan', math.nan, m=64, params=800)
  _result(tmp_path, 'full-1', 0.72, method='full', params=10**6)
  _result(tmp_path, 'mrpc-a', 0.80, task='mrpc', params=100)
  _result(tmp_path, 'k1', 0.61, method='top_k', top_k=1, params=5000)
  _result(tmp_path, 'k3', 0.66, method='top_k', top_k=3, params=15000)
  results = selection.load_results(str(tmp_path))
  assert len(results) == 8
  per_method = {k: r['run'] for k, r in selection.best_per_method(results).items()}
  assert per_method == {('mrpc', 'adapter'): 'mrpc-a', ('rte', 'adapter'): 'a-m8-lr2',
                        ('rte', 'full'): 'full-1', ('rte', 'top_k'): 'k3'}
  per_size = {k: r['run'] for k, r in selection.best_per_size(results).items()}
  assert per_size[('rte', 'adapter', 64)] == 'a-m64-lr1'  # NaN ranks last.
  assert per_size[('rte', 'adapter', 8)] == 'a-m8-lr2'
  assert per_size[('rte', 'top_k', 1)] == 'k1'
  assert per_size[('rte', 'full', None)] == 'full-1'


def test_ties_go_to_fewer_parameters_then_name(tmp_path):
  _result(tmp_path, 'b-big', 0.7, m=256, params=3000)
  _result(tmp_path, 'c-small', 0.7, m=8, params=100)
  _result(tmp_path, 'a-small', 0.7, m=8, params=100)
  results = selection.load_results(str(tmp_path))
  for _ in range(2):  # Independent of file order.
    best = selection.best_per_method(results)[('rte', 'adapter')]
    assert best['run'] == 'a-small'
    results.reverse()


# ------------------------------------------------------------ end to end


def test_tiny_sweep_end_to_end(tmp_path):
  """The real trainer on the tiny backbone: interrupt, resume, report."""
  from adapter_bert import train  # pylint: disable=g-import-not-at-top
  from experiments import report  # pylint: disable=g-import-not-at-top

  arg = 'task=rte,sweep=cpu,backbone=tiny'
  base = glue.get_config(arg)
  base.max_steps = 3
  base.eval_batch_size = 64
  base.max_length = 64
  base.checkpoint_every = 1  # So the preempted run leaves a checkpoint.
  runs, _ = sweep.prepare(base, os.path.join(REPO, 'configs', 'glue.py') + ':'
                          + arg)
  calls = []

  def preempted_on_second_run(config, workdir):
    calls.append(os.path.basename(workdir))
    if len(calls) == 2:  # Preempted after its first checkpoint.
      train.train_and_evaluate(config, workdir, interrupt_after_step=1)
      raise KeyboardInterrupt
    return train.train_and_evaluate(config, workdir)

  with pytest.raises(KeyboardInterrupt):
    sweep.run_sweep(runs, str(tmp_path), preempted_on_second_run)
  first_results = tmp_path / runs[0].name / 'results.json'
  first_mtime = first_results.stat().st_mtime_ns
  assert not (tmp_path / runs[1].name / 'results.json').exists()
  assert (tmp_path / runs[1].name / 'checkpoints' / '1').exists()

  calls.clear()

  def resumed(config, workdir):
    calls.append(os.path.basename(workdir))
    return train.train_and_evaluate(config, workdir)

  states = sweep.run_sweep(runs, str(tmp_path), resumed)
  assert calls == [runs[1].name, runs[2].name]
  assert set(states.values()) == {'done'}
  assert first_results.stat().st_mtime_ns == first_mtime
  results = selection.load_results(str(tmp_path))
  assert {r['run'] for r in results} == {r.name for r in runs}
  for r in results:
    assert r['steps'] == 3 and 0 <= r['score'] <= 1
    assert {'accuracy'} == set(r['best_dev'])

  out = tmp_path / 'report'
  report.write_report([str(tmp_path)], str(out))
  assert (out / 'params_glue.png').exists()
  assert (out / 'submission' / 'RTE.tsv').read_text().startswith(
      'index\tprediction\n')
  assert '| Adapters (8-64) | ours, dev |' in (out / 'report.md').read_text()


def test_a_run_finished_elsewhere_meanwhile_is_not_trained_again(tmp_path):
  runs = _runs()
  committed = tmp_path / 'committed'
  other = FakeTrain()

  class AlongsideAnotherProcess(FakeTrain):
    """While this sweep trains its first run, another finishes the last."""

    def __call__(self, config, workdir):
      super().__call__(config, workdir)
      if len(self.calls) == 1:
        other(runs[2].config, str(committed / runs[2].name))

  mine = AlongsideAnotherProcess()
  states = sweep.run_sweep(runs, str(tmp_path / 'work'), mine,
                           results_dir=str(committed))
  assert mine.calls == [runs[0].name, runs[1].name]
  assert other.calls == [runs[2].name]
  assert set(states.values()) == {'done'}
  summary = json.loads((tmp_path / 'work' / 'sweep_summary.json').read_text())
  assert summary['failed'] == []


_HOLD_LOCK = r'''
import sys, time
from adapter_bert import workdir_lock
with workdir_lock.hold(sys.argv[1]):
  print('held', flush=True)
  time.sleep(120)
'''


def _hold_in_another_process(run_dir):
  os.makedirs(run_dir, exist_ok=True)
  holder = subprocess.Popen(
      [sys.executable, '-c', _HOLD_LOCK, str(run_dir)], cwd=REPO,
      env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == 'held'
  return holder


def test_a_run_another_live_process_trains_is_skipped_not_failed(
    tmp_path, capsys):
  runs = _runs()
  work = tmp_path / 'work'
  holder = _hold_in_another_process(work / runs[1].name)
  try:
    assert sweep.state(str(work), runs[1]) == 'elsewhere'
    mine = FakeTrain()
    states = sweep.run_sweep(runs, str(work), mine)
    assert mine.calls == [runs[0].name, runs[2].name]
    assert states[runs[1].name] == 'elsewhere'
    out = capsys.readouterr().out
    assert (f'{runs[1].name}: another process is training it (pid '
            f'{holder.pid} on host') in out
    assert sweep.exit_status(states) == 1  # Not done: a plain sweep says so.
    assert sweep.exit_status(states, running_elsewhere_ok=True) == 0
    assert not (work / runs[1].name / sweep.STATUS_FILE).exists()
  finally:
    holder.kill()  # Gone: its lock file stays, naming a dead pid.
    holder.wait()
  assert (work / runs[1].name / '.lock').exists()
  assert sweep.state(str(work), runs[1]) == 'pending'  # Not 'elsewhere'.
  again = FakeTrain()
  states = sweep.run_sweep(runs, str(work), again)
  assert again.calls == [runs[1].name]
  assert set(states.values()) == {'done'}


def test_a_run_taken_between_the_look_and_the_lock_is_left_to_its_holder(
    tmp_path):
  runs = _runs()

  class LockTakenMeanwhile(FakeTrain):
    def __call__(self, config, workdir):
      if os.path.basename(workdir) == runs[0].name:
        self.calls.append(runs[0].name)
        raise workdir_lock.WorkdirLocked(f'{workdir} is in use by another run.')
      super().__call__(config, workdir)

  mine = LockTakenMeanwhile()
  states = sweep.run_sweep(runs, str(tmp_path), mine)
  assert mine.calls == [r.name for r in runs]
  assert states == {runs[0].name: 'elsewhere', runs[1].name: 'done',
                    runs[2].name: 'done'}
  summary = json.loads((tmp_path / 'sweep_summary.json').read_text())
  assert summary['states'][runs[0].name] == 'elsewhere'


def test_lock_probe_sees_only_a_live_holder_and_never_blocks_a_probe(tmp_path):
  run_dir = tmp_path / 'run'
  assert workdir_lock.live_holder(str(run_dir)) is None  # No workdir yet.
  holder = _hold_in_another_process(run_dir)
  try:
    seen = workdir_lock.live_holder(str(run_dir))
    assert seen['pid'] == holder.pid
    assert workdir_lock.live_holder(str(run_dir))['pid'] == holder.pid
  finally:
    holder.kill()
    holder.wait()
  assert workdir_lock.live_holder(str(run_dir)) is None  # Stale file only.
  with workdir_lock.hold(str(run_dir), say=lambda _: None):
    pass  # The probes left nothing held.
