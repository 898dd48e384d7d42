"""Layer-span ablation (experiments/ablate.py) and the init-scale study."""

import json

import numpy as np
import pytest

from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import param_paths
from configs import ablation
from experiments import ablate
from experiments import sweep as sweep_lib
from tests import tiny_artifacts


@pytest.mark.parametrize('variant', [dict(), dict(adapter_parallel=True,
                                                  adapter_depth=2)])
def test_removing_all_adapters_equals_the_backbone_without_adapters(
    tmp_path, variant):
  path = tiny_artifacts.make_artifact(tmp_path / 'rte', 'rte', **variant)
  loaded = artifacts.load(path)
  batch = tiny_artifacts.batch()
  args = (batch['input_ids'], batch['token_type_ids'], batch['attention_mask'])

  config = tiny_artifacts.tiny_config('rte', placement='none')
  bare = builder.build_model(config, backbones.TINY_CONFIG, 2)
  bare_params = param_paths.unflatten({p: v for p, v in param_paths.flatten(
      loaded.params).items() if '/adapter_' not in p})
  expected = bare.apply({'params': bare_params}, *args)

  removed = ablate.remove_adapters(loaded.params, [0, 1])
  np.testing.assert_array_equal(
      loaded.model.apply({'params': removed}, *args), expected)
  # Removing some layers' adapters is something else, and so is keeping all.
  one = loaded.model.apply({'params': ablate.remove_adapters(
      loaded.params, [1])}, *args)
  assert not np.allclose(one, expected, atol=1e-4)
  assert not np.allclose(tiny_artifacts.apply(loaded, batch), one, atol=1e-4)
  with pytest.raises(ValueError, match='No adapters'):
    ablate.remove_adapters(loaded.params, [2])


def test_ablate_writes_the_heatmap(tmp_path):
  path = tiny_artifacts.make_artifact(tmp_path / 'rte', 'rte')
  out = tmp_path / 'ablation'
  result = ablate.run(path, str(out), max_examples=24, batch_size=16,
                      cache_dir=str(tmp_path / 'tokens'))
  assert [(r['first'], r['last']) for r in result['spans']] == [
      (0, 0), (0, 1), (1, 1)]
  assert result['num_examples'] == 24
  assert set(result['baseline']['metrics']) == {'accuracy'}
  with open(out / 'ablation.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with open(out / 'ablation.json') as f:
    assert json.load(f)['task'] == 'rte'
  with open(out / 'ablation.csv') as f:
    lines = f.read().splitlines()
  assert lines[0] == 'first,last,score,delta_points,accuracy'
  assert len(lines) == 2 + 3
  assert ablate.spans(3) == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]


def test_init_scale_study_is_a_runnable_sweep():
  points = []
  ablation.sweep(lambda **kw: points.append(kw), 'task=mrpc,sweep=init_scale')
  assert [p['init_scale'] for p in points] == list(ablation.INIT_SCALES)
  assert ablation.INIT_SCALES[0] == 1e-7 and ablation.INIT_SCALES[-1] == 1.0
  base = ablation.get_config('task=mrpc,sweep=init_scale')
  runs = sweep_lib.expand(base, points)  # Every key is a real config key.
  assert len({r.name for r in runs}) == len(points)
  assert all(r.config.method == 'adapter' for r in runs)
  assert runs[0].config.init_scale == 1e-7

  variants = []
  ablation.sweep(lambda **kw: variants.append(kw), 'task=rte,sweep=variants')
  runs = sweep_lib.expand(ablation.get_config('task=rte'), variants)
  assert len(runs) == len(variants) > 5
  for run in runs:  # Each builds its model.
    config = run.config
    config.backbone = 'tiny'
    builder.adapter_plan(config, 6)
  with pytest.raises(ValueError, match='Unknown sweep'):
    ablation.sweep(lambda **kw: None, 'sweep=huge')
