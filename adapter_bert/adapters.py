"""Bottleneck adapters (Houlsby et al. 2019) as factories that BERT layers call.

A factory is a module class or `functools.partial` of one; a layer calls it with
`name='adapter_attn'` or `name='adapter_ffn'`, so each adapter has its own
parameters under a stable, regex-friendly path. Every adapter is called as
`adapter(h, x)`: `h` is the sub-layer output (after its dropout) and `x` the
sub-layer input; it returns what the layer adds to `x` before LayerNorm. This
one signature serves sequential (Houlsby) and parallel (He et al. 2021) adapters
without touching the layer code.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

AdapterFactory = Callable[..., nn.Module]
# One (attention-site, FFN-site) pair of optional factories per layer.
AdapterPlan = tuple[tuple[AdapterFactory | None, AdapterFactory | None], ...]

PLACEMENTS = ('houlsby', 'pfeiffer', 'attention', 'none')

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'gelu': functools.partial(jax.nn.gelu, approximate=False),
    'gelu_tanh': functools.partial(jax.nn.gelu, approximate=True),
    'relu': jax.nn.relu,
    'tanh': jnp.tanh,
    'swish': jax.nn.swish,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f'Unknown activation {name!r}; known: {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]


def truncated_normal_init(stddev: float) -> nn.initializers.Initializer:
  """Normal(0, stddev) cut at ±2 stddev, as TF1's truncated_normal (no rescale)."""
  return nn.initializers.truncated_normal(stddev, lower=-2.0, upper=2.0)


class BottleneckAdapter(nn.Module):
  """h + W_up·g(W_down·h + b_down) + b_up: near identity at small init_scale.

  Attributes:
    size: bottleneck width m.
    init_scale: stddev of the truncated-normal init of both projections.
    activation: name in ACTIVATIONS.
    parallel: read the sub-layer input x instead of h (He et al. 2021).
    dtype: compute dtype.
  """
  size: int
  init_scale: float = 1e-3
  activation: str = 'gelu_tanh'
  parallel: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, x: jax.Array) -> jax.Array:
    source = x if self.parallel else h
    init = truncated_normal_init(self.init_scale)
    down = nn.Dense(self.size, kernel_init=init, dtype=self.dtype, name='down')
    up = nn.Dense(h.shape[-1], kernel_init=init, dtype=self.dtype, name='up')
    return h + up(get_activation(self.activation)(down(source)))


def adapter_param_count(d: int, m: int) -> int:
  """Parameters of one bottleneck adapter: 2md + d + m."""
  return 2 * m * d + d + m


def build_plan(num_layers: int,
               placement: str = 'houlsby',
               size: int | Sequence[int] = 64,
               factory: AdapterFactory = BottleneckAdapter,
               **factory_kwargs) -> AdapterPlan:
  """Per-layer (attention, FFN) adapter factories for a placement.

  Args:
    num_layers: transformer layers L.
    placement: houlsby (both sites), pfeiffer (FFN only), attention (attention
      only, a paper ablation) or none.
    size: one m for all layers, or a sequence of L sizes (0 = no adapter there).
    factory: adapter module class.
    **factory_kwargs: passed to the factory (init_scale, activation, ...).
  """
  if placement not in PLACEMENTS:
    raise ValueError(f'Unknown adapter placement {placement!r}; known: '
                     f'{PLACEMENTS}')
  sizes = [size] * num_layers if isinstance(size, int) else list(size)
  if len(sizes) != num_layers:
    raise ValueError(f'Got {len(sizes)} adapter sizes for {num_layers} layers.')
  at_attn = placement in ('houlsby', 'attention')
  at_ffn = placement in ('houlsby', 'pfeiffer')
  plan = []
  for m in sizes:
    make = functools.partial(factory, size=m, **factory_kwargs) if m > 0 else None
    plan.append((make if at_attn else None, make if at_ffn else None))
  return tuple(plan)
