"""AdapterFusion: formula, single-adapter identity, loading, what trains."""

import functools
import inspect
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adapter_bert import adapters
from adapter_bert import artifact_files
from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import fusion
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths
from configs import fusion as fusion_config
from experiments import fusion_attention
from tests import tiny_artifacts

D = 8


def _adapter_params(rng, m=4, scale=0.5):
  normal = lambda *shape: (scale * rng.standard_normal(shape)).astype(
      np.float32)
  return {'down': {'kernel': normal(D, m), 'bias': normal(m)},
          'up': {'kernel': normal(m, D), 'bias': normal(D)}}


def _site(values, init_scale=1.0, **adapter_kwargs):
  factories = tuple(functools.partial(
      adapters.BottleneckAdapter, size=v['down']['kernel'].shape[1],
      **adapter_kwargs) for v in values)
  return fusion.AdapterFusion(
      factories, tuple(f't{i}' for i in range(len(values))),
      values=tuple(fusion.Constant(v) for v in values), init_scale=init_scale)


def _hx(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((2, 5, D)).astype(np.float32),
          rng.standard_normal((2, 5, D)).astype(np.float32))


@pytest.mark.parametrize('parallel', [False, True])
def test_one_adapter_with_identity_value_is_that_adapter(parallel):
  """softmax over one adapter is 1 and V = I: out = h + δ = Adapter(h, x).

  Whatever Q and K are (here large random ones): the scores do not matter.
  """
  h, x = _hx()
  values = [_adapter_params(np.random.default_rng(1))]
  site = _site(values, init_scale=1.0, parallel=parallel)
  params = site.init(jax.random.key(0), h, x)['params']
  np.testing.assert_array_equal(params['fusion']['value']['kernel'], np.eye(D))
  assert np.abs(params['fusion']['query']['kernel']).max() > 0.5
  # The task adapter's weights are the loaded ones, not an init.
  np.testing.assert_array_equal(params['t0']['up']['kernel'],
                                values[0]['up']['kernel'])
  alone = adapters.BottleneckAdapter(size=4, parallel=parallel).apply(
      {'params': values[0]}, h, x)
  out, state = site.apply({'params': params}, h, x, mutable=['intermediates'])
  np.testing.assert_allclose(out, alone, atol=1e-6, rtol=0)
  (weights,) = state['intermediates']['fusion']['attention']
  np.testing.assert_array_equal(weights, 1.0)


def test_fusion_matches_numpy_on_hand_set_weights():
  h, x = _hx()
  rng = np.random.default_rng(2)
  values = [_adapter_params(rng, m) for m in (4, 2, 3)]
  site = _site(values)
  params = jax.tree.map(np.asarray, site.init(jax.random.key(0), h, x)[
      'params'])
  params['fusion'] = {
      'query': {'kernel': 0.3 * rng.standard_normal((D, D)),
                'bias': 0.1 * rng.standard_normal(D)},
      'key': {'kernel': 0.3 * rng.standard_normal((D, D)),
              'bias': 0.1 * rng.standard_normal(D)},
      'value': {'kernel': np.eye(D) + 0.2 * rng.standard_normal((D, D))}}
  params = jax.tree.map(lambda a: np.asarray(a, np.float32), params)
  out = np.asarray(site.apply({'params': params}, h, x))

  gelu = lambda z: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) *
                                          (z + 0.044715 * z**3)))
  deltas = np.stack([gelu(h @ v['down']['kernel'] + v['down']['bias'])
                     @ v['up']['kernel'] + v['up']['bias'] for v in values], -2)
  f = params['fusion']
  q = h @ f['query']['kernel'] + f['query']['bias']
  k = deltas @ f['key']['kernel'] + f['key']['bias']
  scores = np.einsum('btd,btnd->btn', q, k)
  s = np.exp(scores - scores.max(-1, keepdims=True))
  s /= s.sum(-1, keepdims=True)
  expected = h + np.einsum('btn,btnd->btd', s, deltas @ f['value']['kernel'])
  np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def test_regularizer_is_the_squared_distance_of_v_to_identity():
  h, x = _hx()
  site = _site([_adapter_params(np.random.default_rng(0))])
  params = jax.tree.map(np.asarray, site.init(jax.random.key(0), h, x)[
      'params'])
  assert float(fusion.value_regularizer(params)) == 0.0
  v = params['fusion']['value']['kernel'] + 0.1
  params['fusion']['value']['kernel'] = v
  two_sites = {'a': {'adapter_ffn': params}, 'b': {'adapter_attn': params}}
  expected = 0.01 * 2 * np.sum((np.eye(D) - v)**2)
  np.testing.assert_allclose(fusion.value_regularizer(two_sites), expected,
                             rtol=1e-6)
  grad = jax.grad(fusion.value_regularizer)(two_sites)
  np.testing.assert_allclose(grad['a']['adapter_ffn']['fusion']['value'][
      'kernel'], 0.01 * 2 * (v - np.eye(D)), rtol=1e-5)
  assert fusion.regularizer(dict(fusion_adapters='', fusion_reg=0.01)) is None
  assert fusion.regularizer(dict(fusion_adapters='a', fusion_reg=0.0)) is None
  assert fusion.regularizer(dict(fusion_adapters='a', fusion_reg=0.01))


@pytest.fixture(scope='module')
def two_artifacts(tmp_path_factory):
  root = tmp_path_factory.mktemp('fusion')
  return (tiny_artifacts.make_artifact(root / 'rte', 'rte', seed=1),
          tiny_artifacts.make_artifact(root / 'mrpc', 'mrpc', seed=2, m=8,
                                       placement='pfeiffer'))


def _fusion_model(spec, **keys):
  config = fusion_config.get_config(f'task=rte,adapters={spec},backbone=tiny')
  for key, value in keys.items():
    config[key] = value
  backbone = backbones.resolve('tiny')
  model = builder.build_model(config, backbone.config, 2)
  flat = param_paths.flatten(builder.initial_params(model, backbone,
                                                    config.seed))
  return config, model, builder.load_fusion_norms(config, flat)


def test_fusing_one_artifact_reproduces_its_model(two_artifacts):
  """Same encoder output as the artifact's own model (its LayerNorms too)."""
  rte = artifacts.load(two_artifacts[0])
  config, model, flat = _fusion_model(two_artifacts[0])
  batch = tiny_artifacts.batch()
  args = (batch['input_ids'], batch['token_type_ids'], batch['attention_mask'])
  params = param_paths.unflatten(flat)
  seq, pooled = modeling.BertModel(model.config, model.adapter_plan).apply(
      {'params': params['bert']}, *args)
  ref_seq, ref_pooled = modeling.BertModel(
      rte.model.config, rte.model.adapter_plan).apply(
          {'params': rte.params['bert']}, *args)
  np.testing.assert_allclose(seq, ref_seq, atol=1e-5, rtol=0)
  np.testing.assert_allclose(pooled, ref_pooled, atol=1e-5, rtol=0)
  # With the backbone's own LayerNorms it is a different model.
  config.fusion_norms = 'pretrained'
  pretrained = param_paths.unflatten(builder.load_fusion_norms(
      config, param_paths.flatten(builder.initial_params(
          model, backbones.resolve('tiny'), config.seed))))
  other, _ = modeling.BertModel(model.config, model.adapter_plan).apply(
      {'params': pretrained['bert']}, *args)
  assert not np.allclose(other, ref_seq, atol=1e-3)


def test_fusion_of_two_artifacts_trains_fusion_and_head_only(two_artifacts,
                                                             tmp_path):
  spec = '+'.join(two_artifacts)
  config, model, flat = _fusion_model(spec)
  assert fusion.site_names(model.adapter_plan) == {
      'layer_0/attn': ('rte',), 'layer_0/ffn': ('rte', 'mrpc'),
      'layer_1/attn': ('rte',), 'layer_1/ffn': ('rte', 'mrpc')}
  # Frozen task adapters hold the artifacts' values after the backbone merge.
  _, mrpc = artifact_files.read(two_artifacts[1])
  np.testing.assert_array_equal(
      flat['bert/layer_1/adapter_ffn/mrpc/up/kernel'],
      mrpc['bert/layer_1/adapter_ffn/up/kernel'])
  paths = optim.trainable_paths(flat, optim.method_patterns('fusion', 2))
  assert paths == {p for p in flat if '/fusion/' in p
                   or p.startswith('classifier/')}
  assert 'bert/layer_0/adapter_ffn/fusion/value/kernel' in paths
  assert not any('/rte/' in p or '/mrpc/' in p or 'layer_norm' in p
                 for p in paths)
  # Decay would pull V to 0; its regulariser pulls it to I instead.
  decay = param_paths.flatten(optim._decay_mask(  # pylint: disable=protected-access
      param_paths.unflatten({p: flat[p] for p in paths})))
  assert not decay['bert/layer_0/adapter_ffn/fusion/value/kernel']
  assert decay['bert/layer_0/adapter_ffn/fusion/query/kernel']

  # Attention weights per site, over the real tokens.
  batch = tiny_artifacts.batch()
  weights = fusion.attention_weights(model, param_paths.unflatten(flat), batch)
  assert set(weights) == set(fusion.site_names(model.adapter_plan))
  assert weights['layer_1/ffn'].shape == (6, 12, 2)
  np.testing.assert_allclose(weights['layer_1/ffn'].sum(-1), 1.0, atol=1e-6)
  means = fusion.mean_attention(weights, batch['attention_mask'])
  assert len(means['layer_0/ffn']) == 2

  # One step of the loss the training loop builds (regulariser included)
  # moves only the fusion and head parameters.
  trainable, frozen = param_paths.partition(flat, paths)
  trainable = param_paths.unflatten(trainable)
  reg = fusion.regularizer(config)

  def loss_fn(trainable):
    params = param_paths.unflatten({**frozen, **param_paths.flatten(trainable)})
    logits = model.apply({'params': params}, batch['input_ids'],
                         batch['token_type_ids'], batch['attention_mask'])
    labels = jnp.array([0, 1, 0, 1, 1, 0])
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return ce.mean() + reg(params)

  grads = jax.grad(loss_fn)(trainable)
  assert float(optax.global_norm(grads)) > 0
  tx, _ = optim.make_optimizer(trainable, lr=1e-3, total_steps=10)
  updates, _ = tx.update(grads, tx.init(trainable), trainable)

  # A fusion artifact reloads into the same model (LayerNorms from the first).
  trained = optax.apply_updates(trainable, updates)
  backbone = backbones.resolve('tiny')
  artifact_files.export(str(tmp_path / 'fused'), param_paths.unflatten(trained),
                   config=json.loads(config.to_json()), backbone=backbone,
                   label_names=('entailment', 'not_entailment'), report={})
  reloaded = artifacts.load(str(tmp_path / 'fused'))
  expected = model.apply({'params': param_paths.unflatten(
      {**frozen, **param_paths.flatten(trained)})},
                         batch['input_ids'], batch['token_type_ids'],
                         batch['attention_mask'])
  np.testing.assert_allclose(tiny_artifacts.apply(reloaded, batch), expected,
                             atol=1e-6)
  report = fusion_attention.mean_attention(str(tmp_path / 'fused'),
                                           max_examples=8, batch_size=8,
                                           cache_dir=str(tmp_path / 'tokens'))
  assert report['num_examples'] == 8
  assert set(report['sites']['layer_0/ffn']) == {'rte', 'mrpc'}
  np.testing.assert_allclose(sum(report['sites']['layer_0/ffn'].values()), 1,
                             atol=1e-5)


def test_bad_fusion_inputs(two_artifacts, tmp_path):
  with pytest.raises(ValueError, match='adapters='):
    fusion_config.get_config('task=rte')
  with pytest.raises(FileNotFoundError):
    builder.fusion_plan(str(tmp_path / 'missing'), 2)
  with pytest.raises(ValueError, match='2-layer'):
    builder.fusion_plan(two_artifacts[0], 3)
  with pytest.raises(ValueError, match='fusion_norms'):
    builder.load_fusion_norms(dict(fusion_adapters=two_artifacts[0],
                                   fusion_norms='mean'), {})
  points = []
  fusion_config.sweep(lambda **kw: points.append(kw),
                      f'task=rte,adapters={two_artifacts[0]}')
  assert {p['lr'] for p in points} == set(fusion_config.SWEEP_LRS)


def test_fusion_run_through_the_training_loop(two_artifacts, tmp_path):
  """train_and_evaluate on configs/fusion.py: loss term, LayerNorms, export."""
  from adapter_bert import train  # pylint: disable=g-import-not-at-top
  if 'regularizer' not in inspect.signature(train.make_train_step).parameters:
    pytest.skip('adapter_bert/train.py lacks the fusion hook (see fusion.py).')
  config = fusion_config.get_config(
      f'task=rte,adapters={"+".join(two_artifacts)},backbone=tiny')
  config.update(max_steps=2, batch_size=8, eval_batch_size=64, max_length=32,
                predict=False, log_every=1, lr=1e-2,
                cache_dir=str(tmp_path / 'tokens'))
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert results['status'] == 'done'
  _, trained = artifact_files.read(str(tmp_path / 'run' / 'artifact'))
  assert all('/fusion/' in p or p.startswith('classifier/') for p in trained)
  reloaded = artifacts.load(str(tmp_path / 'run' / 'artifact'))
  # Trained away from I (the loss term's gradient is there), LayerNorms are
  # the first artifact's.
  assert float(fusion.value_regularizer(reloaded.params)) > 0
  _, rte = artifact_files.read(two_artifacts[0])
  np.testing.assert_array_equal(
      param_paths.flatten(
          reloaded.params)['bert/layer_1/output_layer_norm/bias'],
      rte['bert/layer_1/output_layer_norm/bias'])
