"""The study pipeline: which commands each stage runs, resuming, failures."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest

from configs import extra
from configs import glue
from configs import peft
from experiments import study_pipeline

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_SWEEPS = {'configs/glue.py': glue.SWEEPS,
                 'configs/extra.py': extra.SWEEPS,
                 'configs/peft.py': peft.SWEEPS}


def _plan(study, stages=()):
  """Every command run() would run, with a runner that records them."""
  ran = []
  status = study_pipeline.run(study, stages,
                              runner=lambda cmd: ran.append(cmd) or 0)
  assert status == 0
  return ran


def _arg(command, flag):
  return next(a.split('=', 1)[1] for a in command if a.startswith(flag + '='))


@pytest.mark.parametrize('name', sorted(study_pipeline.STUDIES))
def test_sweep_commands_name_real_modules_and_sweeps(name):
  study = study_pipeline.STUDIES[name]()
  first = study.stages[0][0]
  commands = _plan(study, [first])
  assert commands[-1] == study.report  # The report closes every stage.
  for command in commands:
    module = command[command.index('-m') + 1]
    assert os.path.exists(os.path.join(REPO, *module.split('.')) + '.py')
    if module == 'experiments.sweep':
      config, arg = _arg(command, '--config').split(':', 1)
      sweep = dict(kv.split('=') for kv in arg.split(','))['sweep']
      assert sweep in CONFIG_SWEEPS[config], command
      assert _arg(command, '--results_dir') == study.runs_dir


def test_glue_grid_keeps_mrpc_unpacked_and_packs_the_rest():
  commands = _plan(study_pipeline.STUDIES['glue'](), ['grid'])
  sweeps = [c for c in commands if 'experiments.sweep' in c]
  tasks = [_arg(c, '--config').split('task=')[1].split(',')[0] for c in sweeps]
  assert tasks == ['mrpc', 'rte', 'stsb', 'cola']
  packed = ['--config.packing=True' in c for c in sweeps]
  assert packed == [False, True, True, True]


@pytest.mark.parametrize('name,predicts', [
    ('glue', False), ('peft', False), ('extra', True)])
def test_only_studies_scored_on_labelled_test_splits_predict_them(name,
                                                                  predicts):
  study = study_pipeline.STUDIES[name]()
  sweeps = [c for c in _plan(study, [study.stages[0][0]])
            if 'experiments.sweep' in c]
  assert sweeps
  for command in sweeps:
    assert _arg(command, '--config.predict') == str(predicts), command


def test_a_failing_command_stops_the_pipeline_with_its_status(capsys):
  study = study_pipeline.STUDIES['glue']()
  ran = []

  def runner(command):
    ran.append(command)
    return 3 if len(ran) == 2 else 0

  assert study_pipeline.run(study, ['grid', 'seeds'], runner=runner) == 3
  assert len(ran) == 2
  assert 'Stage grid failed (exit 3)' in capsys.readouterr().err


def test_unknown_stage_is_named():
  with pytest.raises(ValueError, match=r"\['later'\] are not stages.*grid,"):
    study_pipeline.run(study_pipeline.STUDIES['peft'](), ['seeds', 'later'])


def _glue_study_in(tmp_path, seeds=(0, 1, 2)):
  study = dataclasses.replace(study_pipeline.STUDIES['glue'](),
                              workdir=str(tmp_path / 'work'),
                              out=str(tmp_path / 'out'))
  os.makedirs(study.runs_dir)
  with open(study.selected, 'w') as f:
    json.dump({'Adapters (64)': {'mrpc': ['mrpc', 'adapter', 64, 3e-4, 3.0]}},
              f)
  for seed in seeds:
    # Only the selected lr's runs are ablated, per head; the init-scale run
    # at the same point is not one of them.
    for lr, extra in ((3e-4, {}), (1e-3, {}), (3e-4, dict(pooling='mean')),
                      (3e-4, dict(init_scale=1.0))):
      suffix = ''.join(f'-{k}{v}' for k, v in extra.items())
      name = f'mrpc-adapter-m64-lr{lr:g}-ep3-s{seed}{suffix}'
      os.makedirs(os.path.join(study.runs_dir, name))
      with open(os.path.join(study.runs_dir, name, 'results.json'), 'w') as f:
        json.dump(dict(status='done', task='mrpc', method='adapter', m=64,
                       lr=lr, epochs=3.0, seed=seed, config=extra,
                       dev=dict(f1=0.8, accuracy=0.75),
                       trainable_params=1000), f)
      os.makedirs(os.path.join(study.workdir, name, 'artifact'))
  return study


def test_ablation_covers_each_seed_and_head_once_and_resumes(tmp_path):
  study = _glue_study_in(tmp_path)
  commands = study_pipeline.ablation(study)
  artifacts = [_arg(c, '--artifact') for c in commands]
  names = [f'mrpc-adapter-m64-lr0.0003-ep3-s{s}' for s in (0, 1, 2)]
  assert artifacts == [os.path.join(study.workdir, n, 'artifact') for n in (
      names + [n + '-poolingmean' for n in names])]
  outs = [_arg(c, '--out') for c in commands]
  assert outs[0] == os.path.join(study.out, 'ablation', names[0])
  assert outs[3] == os.path.join(study.out, 'ablation_mean_pooling',
                                 names[0] + '-poolingmean')
  os.makedirs(outs[0])
  open(os.path.join(outs[0], 'ablation.json'), 'w').close()
  assert len(study_pipeline.ablation(study)) == 5


def test_ablation_says_what_is_missing(tmp_path):
  study = _glue_study_in(tmp_path, seeds=(0, 2))
  with pytest.raises(ValueError, match=r'for seeds \[1\]; run the seeds'):
    study_pipeline.ablation(study)
  study = _glue_study_in(tmp_path / 'b')
  os.rmdir(os.path.join(study.workdir, 'mrpc-adapter-m64-lr0.0003-ep3-s1',
                        'artifact'))
  with pytest.raises(ValueError, match='not on this machine'):
    study_pipeline.ablation(study)


def test_extra_study_finishes_one_dataset_row_before_the_next():
  study = study_pipeline.STUDIES['extra']()
  names = [name for name, _ in study.stages]
  assert names == list(extra.TABLE2_CPU_TRAIN_SIZES) + ['peer', 'budget']
  rows = names[:-2]
  sizes = [extra.TABLE2_CPU_TRAIN_SIZES[n] for n in rows]
  assert sizes == sorted(sizes)
  for name in rows:
    sweeps = [_arg(c, '--config') for c in _plan(study, [name])
              if 'experiments.sweep' in c]
    assert sweeps == [f'configs/extra.py:sweep=table2_cpu,tasks={name}',
                      f'configs/extra.py:sweep=table2_seeds,tasks={name}']
  # The budget check last, after every row (it reads their selections).
  assert [_arg(c, '--config') for c in _plan(study, ['budget'])
          if 'experiments.sweep' in c] == [
              'configs/extra.py:sweep=table2_budget']


def test_peer_runs_the_selected_adapter_point_once(tmp_path):
  study = dataclasses.replace(study_pipeline.STUDIES['extra'](),
                              workdir=str(tmp_path / 'work'),
                              out=str(tmp_path / 'out'))
  os.makedirs(study.out)
  selected = [dict(task=f'extra:{n}', method='adapter', m=8, lr=3e-4,
                   epochs=5.0) for n in study_pipeline.PEER_DATASETS]
  selected.append(dict(task='extra:progressive_stance', method='full',
                       lr=5e-5, epochs=5.0))
  with open(study.selected, 'w') as f:
    json.dump({'selected': selected}, f)
  commands = study_pipeline.peer(study)
  assert 'ensure_peer_venv' in commands[0][-1]
  peers = [c for c in commands if c[1].endswith('peer_glue.py')]
  assert len(peers) == 2
  assert {_arg(c, '--m') for c in peers} == {'8'}
  assert {_arg(c, '--lr') for c in peers} == {'0.0003'}
  assert {_arg(c, '--schedule') for c in peers} == {'official'}
  for name in study_pipeline.PEER_DATASETS:
    out = os.path.join(study.out, 'peer', f'{name}-adapter-s0.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    open(out, 'w').close()
  assert not study_pipeline.peer(study)


def test_study_sweeps_take_divergence_as_a_result_and_prune_checkpoints():
  for name in study_pipeline.STUDIES:
    study = study_pipeline.STUDIES[name]()
    sweeps = [c for c in _plan(study, [study.stages[0][0]])
              if 'experiments.sweep' in c]
    for command in sweeps:
      assert '--diverged_ok' in command and '--prune_checkpoints' in command
      assert '--running_elsewhere_ok' in command
      assert '--rerun_failed' not in command
  ran = []
  assert study_pipeline.run_studies(
      ['peft'], ['lr_grid'], dry_run=False, rerun_failed=True,
      runner=lambda command: ran.append(command) or 0) == 0
  assert '--rerun_failed' in ran[0] and 'experiments.sweep' in ran[0]


def test_status_lists_each_sweeps_states_without_training(tmp_path):
  study = dataclasses.replace(study_pipeline.STUDIES['peft'](),
                              out=str(tmp_path / 'out'))
  asked = []

  def states_of(command):
    asked.append(command)
    if 'sweep=lr_grid' in _arg(command, '--config'):
      return study_pipeline.collections.Counter(done=10, pending=5)
    return 'error: no selected.json'

  lines = study_pipeline.status(study, ['lr_grid', 'seeds'], states_of)
  assert lines[0] == 'peft lr_grid:'
  assert lines[1].endswith('sweep=lr_grid: 15 runs: 10 done, 5 pending')
  assert 'waits for the stages before it (error: no selected.json)' in lines[3]
  assert all('experiments.sweep' in c for c in asked)  # No report, no training.
  benchmark = study_pipeline.status(
      dataclasses.replace(study, out=os.path.join(
          REPO, 'experiments/results/peft_minilm')),
      ['benchmark'], states_of)
  assert benchmark[1] == '   nothing left to run (its outputs exist)'


def test_studies_run_as_a_queue_and_stop_at_the_first_failure(
    monkeypatch, capsys):
  def tiny(name):
    step = lambda s: [['echo', s.name]]
    return lambda: study_pipeline.Study(
        name=name, config='', workdir='', out='', report=[],
        stages=(('only', (step,)),))

  monkeypatch.setattr(study_pipeline, 'STUDIES',
                      {n: tiny(n) for n in ('glue', 'extra', 'peft')})
  ran = []

  def runner(command):
    ran.append(command[1])
    return 5 if command[1] == 'extra' else 0

  assert study_pipeline.run_studies(['glue', 'extra', 'peft'], [],
                                    runner=runner) == 5
  assert ran == ['glue', 'extra']  # peft never starts.
  ran.clear()
  assert study_pipeline.run_studies(['peft', 'glue'], [], runner=runner) == 0
  assert ran == ['peft', 'glue']
  capsys.readouterr()


@pytest.mark.parametrize('names,stages,message', [
    (['glue', 'peft'], ['grid'], 'needs a single --study'),
    (['glue', 'squad'], [], "['squad']"),
    ([], [], 'nothing'),
])
def test_study_queue_rejects_bad_flags(names, stages, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    study_pipeline.run_studies(names, stages, runner=lambda c: 0)


_HOLD_LOCK = r'''
import sys, time
from adapter_bert import workdir_lock
with workdir_lock.hold(sys.argv[1]):
  print('held', flush=True)
  time.sleep(120)
'''


def test_a_step_that_is_not_a_sweep_runs_in_one_copy_of_the_study(
    tmp_path, capsys):
  outputs = tmp_path / 'out'
  outputs.mkdir()

  def exporter(s):  # Like the peer: a command per output not yet written.
    del s
    return [['export', name] for name in ('a', 'b')
            if not (outputs / name).exists()]

  base = study_pipeline.STUDIES['extra']()
  study = dataclasses.replace(
      base, workdir=str(tmp_path / 'work'),
      stages=(('one', (exporter, study_pipeline.report,
                       study_pipeline.sweep('sweep=table2_budget'))),))
  ran = []
  lock_dir = study_pipeline.step_lock_dir(study, 'one', exporter)
  os.makedirs(lock_dir)
  holder = subprocess.Popen(
      [sys.executable, '-c', _HOLD_LOCK, lock_dir], cwd=REPO,
      env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'held'
    assert study_pipeline.run(study, [], runner=lambda c: ran.append(c) or 0
                              ) == 0
  finally:
    holder.kill()
    holder.wait()
  # The other copy holds the step: this one goes on with the report and the
  # sweep (which share their work themselves).
  assert [c[0] for c in ran if c[0] == 'export'] == []
  assert len(ran) == 2 and 'experiments.sweep' in ran[1]
  assert f'pid {holder.pid}' in capsys.readouterr().out
  # Free again, and one output written meanwhile: only the other is made.
  (outputs / 'a').touch()
  ran.clear()
  assert study_pipeline.run(study, [], runner=lambda c: ran.append(c) or 0
                            ) == 0
  assert ran[0] == ['export', 'b'] and len(ran) == 3


def test_a_locked_step_rereads_what_is_left_once_it_holds_the_lock(tmp_path):
  looks = []

  def exporter(s):  # 'a' appears between the first look and the lock.
    del s
    looks.append(1)
    return [['export', 'a'], ['export', 'b']] if len(looks) == 1 else [
        ['export', 'b']]

  study = dataclasses.replace(study_pipeline.STUDIES['extra'](),
                              workdir=str(tmp_path / 'work'),
                              stages=(('one', (exporter,)),))
  ran = []
  assert study_pipeline.run(study, [], runner=lambda c: ran.append(c) or 0
                            ) == 0
  assert ran == [['export', 'b']] and len(looks) == 2
