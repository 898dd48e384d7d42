"""Bottleneck adapters (Houlsby et al. 2019) as factories that BERT layers call.

A factory is a module class or `functools.partial` of one; a layer calls it with
`name='adapter_attn'` or `name='adapter_ffn'`, so each adapter has its own
parameters under a stable, regex-friendly path. Every adapter is called as
`adapter(h, x)`: `h` is the sub-layer output (after its dropout) and `x` the
sub-layer input; it returns what the layer adds to `x` before LayerNorm. This
one signature serves sequential (Houlsby) and parallel (He et al. 2021) adapters
without touching the layer code, and so do the other variants of follow-up work
(BottleneckAdapter's options: LayerNorm on the adapter input, other
activations, a two-layer bottleneck, a scale; `build_plan` takes a size per
layer) and AdapterFusion (adapter_bert/fusion.py), which fills a site with
several frozen task adapters.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from adapter_bert import param_paths

AdapterFactory = Callable[..., nn.Module]
# One (attention-site, FFN-site) pair of optional factories per layer; an entry
# may add a third element, the layer's other sites (peft.LayerSites).
AdapterPlan = tuple[tuple[AdapterFactory | None, AdapterFactory | None], ...]

PLACEMENTS = ('houlsby', 'pfeiffer', 'attention', 'none')
# Epsilon of the optional LayerNorm inside an adapter (Flax's default).
LAYER_NORM_EPS = 1e-6


def gelu(x: jax.Array) -> jax.Array:
  """Exact GELU, x·Φ(x), in BERT's erf form.

  `jax.nn.gelu(approximate=False)` uses erfc, which XLA's CPU backend
  evaluates about 5x slower than erf (PERFORMANCE.md); the two agree to 1e-6.
  """
  return 0.5 * x * (1.0 + jax.lax.erf(x * jnp.asarray(0.5**0.5, x.dtype)))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    'gelu': gelu,
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
  """h + s·(W_up·g(W_down·h + b_down) + b_up): near identity at small σ.

  The defaults are the paper's adapter; the other attributes are the variants
  of follow-up work, so that they reuse the layer code unchanged.

  Attributes:
    size: bottleneck width m.
    init_scale: stddev of the truncated-normal init of `down` and `up`.
    activation: name in ACTIVATIONS (every one has g(0) = 0, which makes a
      zero-padded bottleneck compute exactly what the unpadded one does).
    parallel: read the sub-layer input x instead of h (He et al. 2021).
    layer_norm: LayerNorm on the adapter's input before `down` (as some
      follow-ups do); its parameters start at scale 1, bias 0.
    depth: projections inside the bottleneck: 1 is d→m→d; 2 is d→m→m→d (an
      extra m→m layer `mid_1` and activation), and so on.
    scale: s, the factor on the adapter's contribution (He et al. 2021 use 4
      for their parallel FFN adapter); 1 for the paper's adapter.
    dtype: compute dtype.
  """
  size: int
  init_scale: float = 1e-3
  activation: str = 'gelu_tanh'
  parallel: bool = False
  layer_norm: bool = False
  depth: int = 1
  scale: float = 1.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, x: jax.Array) -> jax.Array:
    if self.depth < 1:
      raise ValueError(f'Adapter depth must be at least 1, got {self.depth}.')
    y = x if self.parallel else h
    if self.layer_norm:
      y = nn.LayerNorm(epsilon=LAYER_NORM_EPS, dtype=self.dtype,
                       name=param_paths.LAYER_NORM)(y)
    g = get_activation(self.activation)
    init = truncated_normal_init(self.init_scale)
    y = g(nn.Dense(self.size, kernel_init=init, dtype=self.dtype,
                   name=param_paths.DOWN)(y))
    for i in range(1, self.depth):
      # Flax's default (LeCun normal) init keeps the signal's scale; with
      # init_scale here the up-projection would start with a gradient ~σ² and
      # barely move. The adapter stays near identity because `up` is small.
      y = g(nn.Dense(self.size, dtype=self.dtype, name=f'mid_{i}')(y))
    y = nn.Dense(h.shape[-1], kernel_init=init, dtype=self.dtype,
                 name=param_paths.UP)(y)
    return h + (y if self.scale == 1.0 else self.scale * y)


def adapter_param_count(d: int, m: int, depth: int = 1,
                        layer_norm: bool = False) -> int:
  """Parameters of one bottleneck adapter: 2md + d + m for the paper's."""
  return (2 * m * d + d + m + (depth - 1) * (m * m + m)
          + (2 * d if layer_norm else 0))


def parse_sizes(spec: str, num_layers: int) -> tuple[int, ...]:
  """'64,64,0,0,8,8' -> one bottleneck size per layer (0 = no adapter there)."""
  try:
    sizes = tuple(int(v) for v in spec.split(','))
  except ValueError:
    raise ValueError(f'Per-layer adapter sizes {spec!r} are not '
                     'comma-separated integers, e.g. 64,64,0,0,8,8.') from None
  if len(sizes) != num_layers or min(sizes) < 0:
    raise ValueError(f'Per-layer adapter sizes {spec!r} need {num_layers} '
                     'non-negative integers, one per layer.')
  return sizes


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
    **factory_kwargs: passed to the factory (init_scale, activation,
      parallel, layer_norm, depth, scale).
  """
  if placement not in PLACEMENTS:
    raise ValueError(f'Unknown adapter placement {placement!r}; known: '
                     f'{PLACEMENTS}')
  sizes = [size] * num_layers if isinstance(size, int) else list(size)
  if any(m < 0 for m in sizes):
    raise ValueError(f'Adapter sizes must be non-negative, got {sizes}.')
  if len(sizes) != num_layers:
    raise ValueError(f'Got {len(sizes)} adapter sizes for {num_layers} layers.')
  at_attn = placement in ('houlsby', 'attention')
  at_ffn = placement in ('houlsby', 'pfeiffer')
  plan = []
  for m in sizes:
    make = functools.partial(factory, size=m, **factory_kwargs) if m > 0 else None
    plan.append((make if at_attn else None, make if at_ffn else None))
  return tuple(plan)
