"""Adapter variants on hand-set weights against numpy, and their config keys."""

import jax
import numpy as np
import pytest
from scipy import special

from adapter_bert import adapters
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths
from configs import common

D, M = 6, 3


def _gelu_tanh(z):
  return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))


NUMPY_ACTIVATIONS = {
    'gelu': lambda z: 0.5 * z * (1 + special.erf(z / np.sqrt(2))),
    'gelu_tanh': _gelu_tanh,
    'relu': lambda z: np.maximum(z, 0),
    'tanh': np.tanh,
    'swish': lambda z: z / (1 + np.exp(-z)),
}


def _hand_set_params(depth=1, layer_norm=False):
  """Deterministic, non-trivial weights (not an init) for D -> M -> D."""
  grid = lambda *shape: (np.arange(np.prod(shape), dtype=np.float32).reshape(
      shape) % 7 - 3) / 5
  params = {'down': {'kernel': grid(D, M), 'bias': np.array([0.1, -0.2, 0.3],
                                                            np.float32)},
            'up': {'kernel': -0.5 * grid(M, D),
                   'bias': np.linspace(-0.3, 0.3, D, dtype=np.float32)}}
  for i in range(1, depth):
    params[f'mid_{i}'] = {'kernel': np.eye(M, dtype=np.float32) * 0.8 - 0.1,
                          'bias': np.full((M,), 0.05, np.float32)}
  if layer_norm:
    params['layer_norm'] = {'scale': np.linspace(0.5, 1.5, D, dtype=np.float32),
                            'bias': np.linspace(-0.1, 0.1, D, dtype=np.float32)}
  return params


def _numpy_adapter(params, h, x, activation='gelu_tanh', parallel=False,
                   layer_norm=False, depth=1, scale=1.0):
  g = NUMPY_ACTIVATIONS[activation]
  y = (x if parallel else h).astype(np.float64)
  if layer_norm:
    mean = y.mean(-1, keepdims=True)
    var = ((y - mean)**2).mean(-1, keepdims=True)
    y = (y - mean) / np.sqrt(var + adapters.LAYER_NORM_EPS)
    y = y * params['layer_norm']['scale'] + params['layer_norm']['bias']
  y = g(y @ params['down']['kernel'] + params['down']['bias'])
  for i in range(1, depth):
    y = g(y @ params[f'mid_{i}']['kernel'] + params[f'mid_{i}']['bias'])
  y = y @ params['up']['kernel'] + params['up']['bias']
  return h + scale * y


def _inputs():
  rng = np.random.default_rng(0)
  h = rng.normal(size=(2, 5, D)).astype(np.float32)
  x = rng.normal(size=(2, 5, D)).astype(np.float32)
  return h, x


@pytest.mark.parametrize('kwargs', [
    dict(),                                         # Houlsby (sequential).
    dict(parallel=True),                            # He et al. 2021.
    dict(parallel=True, scale=4.0),
    dict(layer_norm=True),
    dict(depth=2),
    dict(parallel=True, layer_norm=True, depth=2),
] + [dict(activation=a) for a in sorted(adapters.ACTIVATIONS)])
def test_adapter_matches_numpy_on_hand_set_weights(kwargs):
  h, x = _inputs()
  params = _hand_set_params(kwargs.get('depth', 1), kwargs.get('layer_norm',
                                                              False))
  adapter = adapters.BottleneckAdapter(size=M, **kwargs)
  shapes = jax.eval_shape(adapter.init, jax.random.key(0), h, x)['params']
  assert jax.tree.map(np.shape, shapes) == jax.tree.map(np.shape, params)
  out = adapter.apply({'params': params}, h, x)
  np.testing.assert_allclose(out, _numpy_adapter(params, h, x, **kwargs),
                             atol=1e-5, rtol=1e-5)


def test_parallel_reads_the_sublayer_input_and_sequential_its_output():
  h, x = _inputs()
  params = _hand_set_params()
  seq = adapters.BottleneckAdapter(size=M)
  par = adapters.BottleneckAdapter(size=M, parallel=True)
  # Sequential ignores x, parallel ignores h (beyond the residual).
  np.testing.assert_array_equal(seq.apply({'params': params}, h, x),
                                seq.apply({'params': params}, h, x + 1))
  out = par.apply({'params': params}, h, x)
  np.testing.assert_allclose(par.apply({'params': params}, h + 1, x), out + 1,
                             atol=1e-6)


@pytest.mark.parametrize('kwargs', [dict(), dict(parallel=True),
                                    dict(layer_norm=True, depth=2, scale=4.0)])
def test_zero_up_projection_is_exactly_the_identity(kwargs):
  h, x = _inputs()
  params = _hand_set_params(kwargs.get('depth', 1), kwargs.get('layer_norm',
                                                              False))
  params['up'] = jax.tree.map(np.zeros_like, params['up'])
  out = adapters.BottleneckAdapter(size=M, **kwargs).apply({'params': params},
                                                           h, x)
  np.testing.assert_array_equal(out, h)


@pytest.mark.parametrize('depth,layer_norm', [(1, False), (2, False),
                                              (1, True), (3, True)])
def test_parameter_count(depth, layer_norm):
  adapter = adapters.BottleneckAdapter(size=8, depth=depth,
                                       layer_norm=layer_norm)
  h = np.zeros((1, 32), np.float32)
  shapes = jax.eval_shape(adapter.init, jax.random.key(0), h, h)
  assert optim.count(param_paths.flatten(shapes['params'])) == (
      adapters.adapter_param_count(32, 8, depth, layer_norm))


def _model_sites(config):
  """{(layer, site): {param name: shape}} of the adapters a config builds."""
  model = builder.build_model(config, backbones.TINY_CONFIG, 2)
  ids = np.zeros((1, 4), np.int32)
  flat = param_paths.flatten(jax.eval_shape(model.init, jax.random.key(0),
                                      ids)['params'])
  sites = {}
  for path, leaf in flat.items():
    parts = path.split('/')
    if len(parts) > 3 and parts[2].startswith('adapter_'):
      key = (int(parts[1][len('layer_'):]), parts[2][len('adapter_'):])
      sites.setdefault(key, {})['/'.join(parts[3:])] = leaf.shape
  return model, sites


def test_variants_are_reachable_from_config_keys():
  config = common.base_config()
  config.backbone = 'tiny'
  config.m = 4
  _, default = _model_sites(config)
  assert set(default) == {(0, 'attn'), (0, 'ffn'), (1, 'attn'), (1, 'ffn')}
  assert default[(0, 'ffn')] == {'down/kernel': (32, 4), 'down/bias': (4,),
                                 'up/kernel': (4, 32), 'up/bias': (32,)}

  config.m_per_layer = '8,0'
  config.adapter_parallel = True
  config.adapter_ln = True
  config.adapter_depth = 2
  config.adapter_scale = 4.0
  config.adapter_act = 'swish'
  model, sites = _model_sites(config)
  assert set(sites) == {(0, 'attn'), (0, 'ffn')}  # m = 0: none in layer 1.
  assert sites[(0, 'attn')]['mid_1/kernel'] == (8, 8)
  assert sites[(0, 'attn')]['layer_norm/scale'] == (32,)
  factory = model.adapter_plan[0][0]
  assert factory.keywords == dict(size=8, init_scale=config.init_scale,
                                  activation='swish', parallel=True,
                                  layer_norm=True, depth=2, scale=4.0)

  config.m_per_layer = '8,8,8'
  with pytest.raises(ValueError, match='one per layer'):
    _model_sites(config)


def test_old_artifact_configs_without_variant_keys_build_the_paper_adapter():
  config = dict(common.base_config().to_dict())
  for key in ('m_per_layer', 'adapter_parallel', 'adapter_ln', 'adapter_depth',
              'adapter_scale', 'fusion_adapters', 'fusion_norms',
              'fusion_init_scale', 'fusion_reg'):
    del config[key]
  plan = builder.adapter_plan(config, 2)
  assert plan[0][0].keywords == dict(
      size=64, init_scale=1e-3, activation='gelu_tanh', parallel=False,
      layer_norm=False, depth=1, scale=1.0)


def test_variant_in_a_full_model_matches_the_layer_formula():
  """In BertLayer a parallel FFN adapter gives f + up(g(down(x1)))."""
  config = modeling.BertConfig(vocab_size=50, hidden_size=D, num_layers=1,
                               num_heads=2, intermediate_size=8,
                               max_position_embeddings=8)
  plan = adapters.build_plan(1, 'pfeiffer', size=M, parallel=True)
  model = modeling.BertModel(config, plan)
  ids = np.array([[1, 5, 7, 2]], np.int32)
  params = jax.tree.map(np.asarray, jax.jit(model.init)(jax.random.key(0),
                                                        ids)['params'])
  params['layer_0']['adapter_ffn'] = _hand_set_params()
  _, state = model.apply({'params': params}, ids, capture_intermediates=True,
                         mutable=['intermediates'])
  inter = param_paths.flatten(state['intermediates'])
  x1 = np.asarray(inter['layer_0/attention_layer_norm/__call__'][0])
  f = np.asarray(inter['layer_0/output/__call__'][0])  # No dropout at eval.
  np.testing.assert_allclose(
      inter['layer_0/adapter_ffn/__call__'][0],
      _numpy_adapter(params['layer_0']['adapter_ffn'], f, x1, parallel=True),
      atol=1e-5)
