"""Dropout whose mask comes from a counter-based integer hash.

Why not `flax.linen.Dropout`: it draws threefry bits for every element, and on
CPU the attention-probability masks ([B, H, T, T] per layer) made threefry
about 15% of an adapter training step (experiments/PERFORMANCE.md). Here one
threefry draw per call gives a 32-bit seed, and each element's 32 mask bits
are `mix(mix(index) ^ seed)` with `mix` the invertible `lowbias32` hash (two
xor-shift / odd-multiply rounds; Wellons, "Hash Prospector"). That costs about
as much as one multiply over the tensor. The mask depends on the global
element index only, so it is the same however the batch is sharded.

Semantics are those of `nn.Dropout`: zero each element with probability
`rate`, scale survivors by 1 / (1 - rate), identity when deterministic.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

_MAX_ELEMENTS = 2**32  # Element indices are uint32.


def _mix(h: jax.Array) -> jax.Array:
  """lowbias32: a bijection on uint32 with strong avalanche."""
  h = h ^ (h >> 16)
  h = h * jnp.uint32(0x7FEB352D)
  h = h ^ (h >> 15)
  h = h * jnp.uint32(0x846CA68B)
  return h ^ (h >> 16)


def random_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """uint32 bits of `shape` determined by `key` (one threefry draw in all)."""
  size = 1
  for dim in shape:
    size *= int(dim)
  if size >= _MAX_ELEMENTS:
    raise ValueError(f'Dropout over {size} elements (shape {shape}) exceeds '
                     f'the {_MAX_ELEMENTS - 1} this hash indexes.')
  seed = jax.random.bits(key, (), jnp.uint32)
  index = jax.lax.iota(jnp.uint32, size).reshape(shape)
  return _mix(_mix(index) ^ seed)


def keep_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
  """Boolean mask, each element True with probability 1 - rate (to 2**-32)."""
  threshold = min(int(round(rate * 2**32)), 2**32 - 1)
  return random_bits(key, shape) >= jnp.uint32(threshold)


class Dropout(nn.Module):
  """Drop-in for `nn.Dropout(rate)(x, deterministic=...)`; rng 'dropout'."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if not 0.0 <= self.rate <= 1.0:
      raise ValueError(f'Dropout rate {self.rate} is not in [0, 1].')
    if deterministic or self.rate == 0.0:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    keep = keep_mask(self.make_rng('dropout'), self.rate, x.shape)
    return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype)
