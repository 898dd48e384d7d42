"""One BertLayer with Houlsby adapters against an independent NumPy reference.

The reference writes the paper's placement out by hand: each adapter reads the
sub-layer's output projection h and the layer computes LayerNorm(x + A(h)),
with A(h) = h + W_up·g(W_down·h + b_down) + b_up. The adapters are initialised
far from the identity (σ = 1), so a misplaced adapter (after the LayerNorm,
or on the sub-layer input) changes the output by far more than the tolerance.
"""

import functools

import jax
import numpy as np
from scipy import special

from adapter_bert import adapters
from adapter_bert import modeling

CONFIG = modeling.BertConfig(vocab_size=100, hidden_size=16, num_layers=1,
                             num_heads=2, intermediate_size=24)


def _dense(p, x):
  return x @ np.asarray(p['kernel'], np.float64) + np.asarray(p['bias'],
                                                              np.float64)


def _layer_norm(p, x, eps):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean) ** 2).mean(-1, keepdims=True)
  return ((x - mean) / np.sqrt(var + eps) * np.asarray(p['scale'], np.float64)
          + np.asarray(p['bias'], np.float64))


def _gelu_tanh(x):
  return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _adapter(p, h):
  return h + _dense(p['up'], _gelu_tanh(_dense(p['down'], h)))


def _reference_layer(p, x, key_mask, after_layer_norm=False):
  """The paper's post-LN layer with adapters, in float64 NumPy.

  after_layer_norm=True moves each adapter behind its LayerNorm, a plausible
  misplacement, to show the test can tell the two apart.
  """
  c = CONFIG
  b, t, d = x.shape
  dh = d // c.num_heads
  heads = lambda y: y.reshape(b, t, c.num_heads, dh).transpose(0, 2, 1, 3)
  q = heads(_dense(p['attention']['query'], x))
  k = heads(_dense(p['attention']['key'], x))
  v = heads(_dense(p['attention']['value'], x))
  scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
  scores = np.where(key_mask[:, None, None, :] > 0, scores, -np.inf)
  probs = np.exp(scores - scores.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
  h = _dense(p['attention_output'], context)
  eps = c.layer_norm_eps
  if after_layer_norm:
    sublayer = lambda name, y, out: _adapter(
        p[f'adapter_{name}'], _layer_norm(p[f'{name}_ln'], y + out, eps))
  else:
    sublayer = lambda name, y, out: _layer_norm(
        p[f'{name}_ln'], y + _adapter(p[f'adapter_{name}'], out), eps)
  p = dict(p, attn_ln=p['attention_layer_norm'], ffn_ln=p['output_layer_norm'])
  x1 = sublayer('attn', x, h)
  inner = _dense(p['intermediate'], x1)
  inner = 0.5 * inner * (1 + special.erf(inner / np.sqrt(2)))  # Exact GELU.
  f = _dense(p['output'], inner)
  return sublayer('ffn', x1, f), h


def test_houlsby_layer_matches_numpy_reference_far_from_identity():
  factory = functools.partial(adapters.BottleneckAdapter, size=4,
                              init_scale=1.0, activation='gelu_tanh')
  layer = modeling.BertLayer(CONFIG, attn_adapter=factory, ffn_adapter=factory)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, CONFIG.hidden_size)).astype(np.float32)
  key_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.float32)
  mask_bias = np.where(key_mask[:, None, None, :] > 0, 0.0,
                       -1e9).astype(np.float32)
  params = layer.init(jax.random.key(1), x, mask_bias, True)['params']
  params = jax.tree.map(np.asarray, params)
  # Non-trivial LayerNorm parameters, so scale and bias placement matter too.
  for name in ('attention_layer_norm', 'output_layer_norm'):
    params[name] = dict(
        scale=rng.uniform(0.5, 1.5, CONFIG.hidden_size).astype(np.float32),
        bias=rng.normal(size=CONFIG.hidden_size).astype(np.float32))

  ours = np.asarray(layer.apply({'params': params}, x, mask_bias, True))
  reference, h = _reference_layer(params, x.astype(np.float64), key_mask)

  # Far from identity: the attention-site adapter changes h substantially.
  delta = _adapter(params['adapter_attn'], h) - h
  assert np.linalg.norm(delta) > 0.3 * np.linalg.norm(h)
  np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=1e-5)
  misplaced, _ = _reference_layer(params, x.astype(np.float64), key_mask,
                                  after_layer_norm=True)
  assert np.abs(ours - misplaced).max() > 1e-2


