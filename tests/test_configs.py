"""Configs build for every task and method; sweeps set only real keys."""

import collections
import itertools
import json
import os

import ml_collections
import pytest

from configs import backbones
from configs import common
from configs import extra
from configs import glue
from experiments import sweep as sweep_lib

SHARED_EXTRA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..',
    'shared', 'data', 'extra')


def _points(module, arg):
  points = []
  module.sweep(lambda **kw: points.append(kw), arg)
  return points


def _flat_keys(config, prefix=''):
  keys = set()
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      keys |= _flat_keys(value, f'{prefix}{key}.')
    else:
      keys.add(prefix + key)
  return keys


@pytest.mark.parametrize('task', glue.TASKS)
@pytest.mark.parametrize('method', common.METHODS)
def test_glue_config_builds(task, method):
  config = glue.get_config(f'task={task},method={method}')
  assert config.task == task and config.method == method
  assert config.placement == ('houlsby' if method == 'adapter' else 'none')
  # Methods that train a small set take adapters' rate; whole networks 5e-5.
  small_set = method in ('adapter', 'lora', 'ia3', 'prefix', 'bitfit')
  assert config.lr == (1e-3 if small_set else 5e-5)
  assert _flat_keys(config) == _flat_keys(common.base_config())


@pytest.mark.parametrize('task', extra.TASKS)
@pytest.mark.parametrize('method', common.METHODS)
def test_extra_config_builds(task, method):
  arg = f'task={task},method={method}'
  if task == 'csv':
    arg += ',csv_path=my.csv,text_columns=title+body,label_column=y'
  config = extra.get_config(arg)
  assert config.task == task and config.method == method
  assert config.epochs in extra.PAPER_EPOCH_CHOICES
  assert _flat_keys(config) == _flat_keys(common.base_config())


def test_extra_name_and_csv_keys():
  assert extra.get_config('name=emotion').task == 'extra:emotion'
  config = extra.get_config(
      'task=csv,csv_path=/d/my.csv,text_columns=title+body,label_column=y,'
      'delimiter=;')
  assert (config.csv.path, config.csv.text_columns, config.csv.label_column,
          config.csv.delimiter) == ('/d/my.csv', 'title,body', 'y', ';')
  with pytest.raises(ValueError, match='csv_path'):
    extra.get_config('task=csv')
  with pytest.raises(ValueError, match='Unknown extra task'):
    extra.get_config('name=imdb')


def test_bad_glue_args_raise():
  with pytest.raises(ValueError, match='Unknown GLUE task'):
    glue.get_config('task=imdb')
  with pytest.raises(ValueError, match='Unknown config argument'):
    glue.get_config('lrate=1')
  with pytest.raises(ValueError, match='Unknown sweep'):
    _points(glue, 'sweep=huge')
  with pytest.raises(ValueError, match='Unknown task'):
    _points(glue, 'tasks=rte+imdb')
  with pytest.raises(ValueError, match='seeds'):
    _points(glue, 'seeds=0')


def test_paper_grid_has_18_points_per_task_and_seed():
  points = _points(glue, 'tasks=rte+mrpc,sweep=paper,seeds=5')
  assert len(points) == 2 * 5 * 18
  for task, seed in itertools.product(('rte', 'mrpc'), range(5)):
    grid = {(p['lr'], p['epochs'], p['m']) for p in points
            if p['task'] == task and p['seed'] == seed}
    assert grid == set(itertools.product((3e-5, 3e-4, 3e-3), (3.0, 20.0),
                                         (8, 64, 256)))
  assert {p['method'] for p in points} == {'adapter'}


def test_task_groups_and_seed_offset():
  assert {p['task'] for p in _points(glue, 'tasks=all')} == set(glue.TASKS)
  assert len(_points(glue, 'tasks=all,sweep=paper')) == 9 * 18
  assert {p['seed'] for p in _points(glue, 'seed=3,seeds=2')} == {3, 4}
  # Without tasks=, the sweep covers `task` only.
  assert {p['task'] for p in _points(glue, 'task=rte')} == {'rte'}


def test_other_glue_grids():
  fixed = _points(glue, 'sweep=fixed_m')
  assert len(fixed) == 6 and {p['m'] for p in fixed} == {64}
  finetune = _points(glue, 'sweep=finetune')
  assert {(p['method'], p['placement']) for p in finetune} == {('full', 'none')}
  assert len(finetune) == len(glue.FINETUNE_LRS) * len(glue.FINETUNE_EPOCHS)
  assert {p['method'] for p in _points(glue, 'sweep=layernorm')} == {'layernorm'}
  # minilm-l6 has 6 layers: the paper's n in {1,2,3,5,7,...} stops at 5.
  assert {p['top_k'] for p in _points(glue, 'sweep=top_k')} == {1, 2, 3, 5}
  large = _points(glue, 'sweep=top_k,backbone=bert-large-uncased')
  assert {p['top_k'] for p in large} == {1, 2, 3, 5, 7, 9, 11, 12}


def test_cpu_grid():
  points = _points(glue, 'tasks=cpu,sweep=cpu')
  assert {p['task'] for p in points} == {'rte', 'mrpc', 'stsb', 'cola', 'sst2'}
  rte = {(p['method'], p.get('m'), p['lr'], p['epochs']) for p in points
         if p['task'] == 'rte'}
  assert rte == {('adapter', 8, 1e-3, 3.0), ('adapter', 64, 1e-3, 3.0),
                 ('full', None, 5e-5, 3.0)}


def test_extra_grids():
  paper = _points(extra, 'name=sms_spam,sweep=paper')
  assert len(paper) == 4 * 6  # lr x m at the dataset's epochs
  assert {p['epochs'] for p in paper} == {20.0}  # Table 4: adapters 20.
  assert {p['m'] for p in paper} == {2, 4, 8, 16, 32, 64}
  assert len(_points(extra, 'name=sms_spam,sweep=paper,epoch_grid=all')) == 72
  table2 = _points(extra, 'tasks=all,sweep=table2')
  assert len({p['task'] for p in table2}) == 17
  assert {p['method'] for p in table2} == {'full', 'top_k', 'adapter'}
  assert {p['task'] for p in _points(extra, 'tasks=emotion+extra:sms_spam')} == {
      'extra:emotion', 'extra:sms_spam'}


def _write_selected(path):
  """A selected.json as experiments/extra_study.py writes it."""
  selected = [
      dict(task='extra:global_warming', method='adapter', m=8, top_k=None,
           lr=3e-4, epochs=5.0),
      dict(task='extra:global_warming', method='full', m=None, top_k=None,
           lr=2e-5, epochs=5.0),
      dict(task='extra:progressive_stance', method='top_k', m=None, top_k=3,
           lr=5e-5, epochs=5.0),
  ]
  path.write_text(json.dumps(dict(selected=selected)))
  return path


def test_table2_cpu_grid_and_order():
  points = _points(extra, 'sweep=table2_cpu')
  sizes = extra.TABLE2_CPU_TRAIN_SIZES
  assert len(sizes) == 8
  assert len(points) == 8 * (2 + 2 + 4)
  tasks = [p['task'].split(':')[1] for p in points]
  # One dataset across all methods before the next, smallest first.
  order = list(dict.fromkeys(tasks))
  assert sorted(order) == sorted(sizes)
  assert [sizes[t] for t in order] == sorted(sizes[t] for t in order)
  assert all(tasks[i:i + 8] == [tasks[i]] * 8 for i in range(0, 64, 8))
  assert {p['seed'] for p in points} == {0}
  for p in points:
    name = p['task'].split(':')[1]
    expected = 1.0 if name == '20_newsgroups' else (
        5.0 if sizes[name] < 5000 else 3.0)
    assert p['epochs'] == expected, name
  by_method = collections.defaultdict(set)
  for p in points:
    by_method[p['method']].add((p.get('m'), p.get('top_k'), p['lr']))
  assert by_method == {
      'full': {(None, None, 2e-5), (None, None, 5e-5)},
      'top_k': {(None, 1, 5e-5), (None, 3, 5e-5)},
      'adapter': {(8, None, 3e-4), (8, None, 1e-3), (64, None, 3e-4),
                  (64, None, 1e-3)}}
  assert {p['epochs'] for p in points
          if p['task'] == 'extra:disasters'} == {3.0}
  one = _points(extra, 'sweep=table2_cpu,tasks=disasters+progressive_stance')
  assert [p['task'] for p in one[::8]] == ['extra:progressive_stance',
                                           'extra:disasters']
  with pytest.raises(ValueError, match='sms_spam'):
    _points(extra, 'sweep=table2_cpu,name=sms_spam')


def test_table2_seeds_reads_the_selected_points(tmp_path):
  path = _write_selected(tmp_path / 'selected.json')
  points = _points(extra, f'sweep=table2_seeds,selected={path}')
  # Smallest dataset first; within it seed 1 then seed 2, methods in order.
  assert [(p['task'], p['method'], p['seed']) for p in points] == [
      ('extra:progressive_stance', 'top_k', 1),
      ('extra:progressive_stance', 'top_k', 2),
      ('extra:global_warming', 'full', 1),
      ('extra:global_warming', 'adapter', 1),
      ('extra:global_warming', 'full', 2),
      ('extra:global_warming', 'adapter', 2)]
  # Each run is its seed-0 grid point with another seed: the same keys.
  grid = {sweep_lib.run_name(p) for p in _points(extra, 'sweep=table2_cpu')}
  for p in points:
    assert sweep_lib.run_name(dict(p, seed=0)) in grid, p
  with pytest.raises(ValueError, match='does not exist'):
    _points(extra, f'sweep=table2_seeds,selected={tmp_path / "none.json"}')
  (tmp_path / 'bad.json').write_text(json.dumps(dict(selected=[dict(
      task='extra:disasters', method='adapter', lr=1e-3, epochs=3.0)])))
  with pytest.raises(ValueError, match=r"lacks \['m'\]"):
    _points(extra, f'sweep=table2_seeds,selected={tmp_path / "bad.json"}')
  with pytest.raises(ValueError, match='no selected point'):
    _points(extra, f'sweep=table2_seeds,selected={path},tasks=disasters')


def test_table2_budget_reruns_full_ft_and_adapters_with_more_epochs(tmp_path):
  path = _write_selected(tmp_path / 'selected.json')
  points = _points(extra,
                   f'sweep=table2_budget,selected={path},tasks=global_warming')
  # Full FT and adapters only (not variable FT), seeds 0-2, 4x the epochs.
  assert [(p['task'], p['method'], p['seed'], p['lr'], p['epochs'])
          for p in points] == [
              ('extra:global_warming', method, seed, lr, 20.0)
              for seed in (0, 1, 2)
              for method, lr in (('full', 2e-5), ('adapter', 3e-4))]
  assert {p.get('m') for p in points if p['method'] == 'adapter'} == {8}
  # Its runs are not grid runs: another number of epochs, another name.
  grid = {sweep_lib.run_name(p) for p in _points(extra, 'sweep=table2_cpu')}
  assert not grid & {sweep_lib.run_name(p) for p in points}
  # By default the datasets of TABLE2_BUDGET_TASKS; a named dataset without
  # a selected full-FT or adapter point (here only variable FT): an error.
  assert extra.TABLE2_BUDGET_TASKS == ('progressive_stance', 'primary_emotions',
                                      'progressive_opinion')
  with pytest.raises(ValueError, match='no selected point'):
    _points(extra, f'sweep=table2_budget,selected={path}')


def test_table2_cpu_sizes_match_the_data():
  if not os.path.isdir(SHARED_EXTRA):
    pytest.skip(f'shared extra data absent ({SHARED_EXTRA}); CI checks out '
                'only the repository')
  from adapter_bert.data import extra as registry  # pylint: disable=g-import-not-at-top
  for name, size in extra.TABLE2_CPU_TRAIN_SIZES.items():
    splits = registry.load_extra_splits(name, SHARED_EXTRA)
    assert len(splits['train']) == size, name


def test_extra_epochs_are_the_papers_per_dataset_and_method():
  assert set(extra.PAPER_EPOCHS) == set(extra.DATASETS)
  # Table 4 differs by method on some datasets (SMS spam: 50 against 20).
  assert extra.get_config('name=sms_spam,method=full').epochs == 50.0
  assert extra.get_config('name=sms_spam,method=top_k').epochs == 50.0
  assert extra.get_config('name=sms_spam').epochs == 20.0  # Adapters.
  assert extra.get_config('name=sms_spam,method=lora').epochs == 20.0
  assert extra.get_config('name=progressive_stance').epochs == 100.0
  assert extra.get_config('name=news_aggregator,epochs=3').epochs == 3.0
  table2 = _points(extra, 'name=global_warming,sweep=table2')
  assert {(p['method'], p['epochs']) for p in table2} == {
      ('full', 100.0), ('top_k', 100.0), ('adapter', 50.0)}
  with pytest.raises(ValueError, match='epoch_grid'):
    _points(extra, 'name=sms_spam,sweep=paper,epoch_grid=size')


@pytest.mark.parametrize('module,sweeps,arg', [
    (glue, glue.SWEEPS, 'tasks=all,backbone=bert-large-uncased'),
    (extra, extra.SWEEPS, 'tasks=all,backbone=bert-base-uncased'),
])
def test_every_key_a_sweep_sets_exists(module, sweeps, arg, tmp_path):
  base = module.get_config(arg)
  valid = _flat_keys(base)
  selected = _write_selected(tmp_path / 'selected.json')
  for name in sweeps:
    if name.startswith('study_'):
      continue  # Needs a GLUE study's selected points: test_glue_study.py.
    more = (f',selected={selected}'
            if name in ('table2_seeds', 'table2_budget') else '')
    points = _points(module, f'{arg},sweep={name}{more}')
    assert points, name
    for point in points:
      assert set(point) <= valid, (name, set(point) - valid)
    # Values also type-check against the config and names are unique.
    runs = sweep_lib.expand(base, points)
    assert len({r.name for r in runs}) == len(points)


def test_backbone_depths(tmp_path):
  assert backbones.num_layers('minilm-l6') == 6
  (tmp_path / 'config.json').write_text('{"num_hidden_layers": 4}')
  assert backbones.num_layers(str(tmp_path)) == 4
  with pytest.raises(ValueError, match='Unknown backbone'):
    backbones.num_layers('gpt2')


def test_extra_names_match_the_data_registry():
  from adapter_bert.data import extra as registry  # pylint: disable=g-import-not-at-top
  assert set(extra.DATASETS) == set(registry.EXTRA_DATASETS)


def test_configs_name_the_library_methods_without_importing_it():
  from adapter_bert import optim  # pylint: disable=g-import-not-at-top
  assert common.METHODS == optim.METHODS


def test_every_declared_glue_sweep_has_its_function():
  assert set(glue.SWEEPS) == set(glue._GRIDS) | set(glue._STUDY_SWEEPS)  # pylint: disable=protected-access
  with pytest.raises(ValueError, match='valid sweeps'):
    sweep_lib.collect(lambda add: glue.sweep(add, 'sweep=nope'))


def test_reference_sweep_is_the_study_reference_point_per_seed():
  study = _points(glue, 'task=cola,sweep=study')
  reference = _points(glue, 'task=cola,sweep=reference,seed=3,seeds=2')
  assert [p['seed'] for p in reference] == [3, 4]
  for point in reference:
    assert dict(point, seed=0) == study[0]
    assert (point['m'], point['lr']) == (64, 1e-3)


def test_classification_configs_pack_by_default_span_tasks_do_not():
  from configs import squad  # pylint: disable=g-import-not-at-top
  assert glue.get_config('task=cola').packing
  assert extra.get_config('name=disasters').packing
  assert not squad.get_config().packing  # Span tasks keep padded batches.
