"""The hash dropout keeps the right share, independently, and scales survivors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from adapter_bert import dropout as dropout_lib

SHAPE = (16, 12, 64, 64)  # An attention-probability tensor: 786,432 elements.


def _mask(seed, rate=0.1, shape=SHAPE):
  return np.asarray(dropout_lib.keep_mask(jax.random.key(seed), rate, shape))


@pytest.mark.parametrize('rate', [0.1, 0.5, 0.9])
def test_keep_share_matches_rate(rate):
  mask = _mask(0, rate)
  n = mask.size
  # Binomial standard deviation of the kept share; 5 sigma.
  assert abs(mask.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)


def test_bits_are_uniform():
  bits = np.asarray(dropout_lib.random_bits(jax.random.key(3), SHAPE))
  counts = np.bincount((bits >> 28).ravel(), minlength=16)  # Top 4 bits.
  assert stats.chisquare(counts).pvalue > 1e-4
  low = np.bincount((bits & 15).ravel(), minlength=16)     # Low 4 bits.
  assert stats.chisquare(low).pvalue > 1e-4


def test_neighbours_and_keys_are_uncorrelated():
  a = _mask(1).astype(np.float64).ravel()
  b = _mask(2).astype(np.float64).ravel()
  bound = 5 / np.sqrt(a.size)
  assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < bound      # Adjacent.
  assert abs(np.corrcoef(a[:-64], a[64:])[0, 1]) < bound    # Next row.
  assert abs(np.corrcoef(a, b)[0, 1]) < bound               # Other key.
  # Keys one fold_in apart (consecutive steps) give unrelated masks too.
  base = jax.random.key(0)
  c = np.asarray(dropout_lib.keep_mask(jax.random.fold_in(base, 1), 0.1,
                                       SHAPE)).ravel()
  d = np.asarray(dropout_lib.keep_mask(jax.random.fold_in(base, 2), 0.1,
                                       SHAPE)).ravel()
  assert abs(np.corrcoef(c, d)[0, 1]) < bound


def test_same_key_same_mask():
  np.testing.assert_array_equal(_mask(7), _mask(7))
  assert (_mask(7) != _mask(8)).any()


def test_module_scales_survivors_and_is_identity_when_deterministic():
  x = jnp.arange(1.0, 1.0 + np.prod(SHAPE)).reshape(SHAPE)
  layer = dropout_lib.Dropout(0.1)
  y = layer.apply({}, x, deterministic=False,
                  rngs={'dropout': jax.random.key(0)})
  y = np.asarray(y)
  kept = y != 0
  np.testing.assert_allclose(y[kept], np.asarray(x)[kept] / 0.9, rtol=1e-6)
  np.testing.assert_array_equal(
      kept, _mask_from_module_key(jax.random.key(0)))
  np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)
  np.testing.assert_array_equal(
      dropout_lib.Dropout(0.0).apply({}, x, deterministic=False), x)
  zeros = dropout_lib.Dropout(1.0).apply(
      {}, x, deterministic=False, rngs={'dropout': jax.random.key(0)})
  assert not np.asarray(zeros).any()


def _mask_from_module_key(key):
  # Flax derives the module's key from the 'dropout' stream the same way for
  # any module; capture it by calling make_rng in an equivalent module.
  class Probe(dropout_lib.Dropout):

    def __call__(self, x, deterministic):
      return dropout_lib.keep_mask(self.make_rng('dropout'), self.rate,
                                   x.shape)

  return np.asarray(Probe(0.1).apply({}, jnp.zeros(SHAPE), False,
                                     rngs={'dropout': key}))


def test_gradient_is_the_mask_scaled():
  x = jnp.ones((8, 32))
  key = jax.random.key(5)
  f = lambda x: dropout_lib.Dropout(0.25).apply(
      {}, x, deterministic=False, rngs={'dropout': key}).sum()
  grad = np.asarray(jax.grad(f)(x))
  out = np.asarray(dropout_lib.Dropout(0.25).apply(
      {}, x, deterministic=False, rngs={'dropout': key}))
  np.testing.assert_allclose(grad, out, rtol=1e-6)


def test_bad_rate_is_an_error():
  with pytest.raises(ValueError, match='rate'):
    dropout_lib.Dropout(1.5).apply({}, jnp.ones(3), deterministic=False,
                                   rngs={'dropout': jax.random.key(0)})
