"""AdapterFusion (Pfeiffer et al. 2021): attention over N frozen task adapters.

At every adapter site (layer l, after attention or FFN) the fusion module runs
the N task adapters trained elsewhere and mixes their contributions per token.
With h the sub-layer output and δ_n = Adapter_n(h, x) − h what adapter n adds:

  s_n = softmax_n((h·Q + b_Q) · (δ_n·K + b_K))      Q, K: d×d, init N(0, 0.02)
  out = h + Σ_n s_n · δ_n·V                        V: d×d, no bias, init I

This is the paper's s = softmax(hᵀQ ⊗ zᵀK), z' = zᵀV, o = sᵀZ' with query h
("the output of the feed-forward sub-layer", here of whichever sub-layer the
site follows) and, as AdapterHub's implementation (BertFusion with
`residual_before=False`, `value_before_softmax=True`, bias-free value), the
adapters' up-projections as keys and values with the residual h added after
the mix. Keying on δ_n or on the adapter outputs z_n = h + δ_n gives the same
softmax (h·K adds the same number to every score of a token). With V = I the
output is Σ s_n z_n, a convex mix of the adapters' outputs, so one adapter is
reproduced (to the rounding of (z − h) + h) whatever Q and K are. As the
paper's (and AdapterHub's 'dynamic') setting: no 1/√d scaling, no temperature;
unlike AdapterHub no dropout on the scores (the adapter signature carries no
dropout flag).

Training adds λ·Σ_sites ‖I − V‖²_F (λ = 0.01, `fusion_reg`) to the loss:
`regularizer(config)` returns that function of the parameters.

The task adapters' weights come from exported artifacts and are put in place
at `init` as `Constant`s (so the pretrained-backbone merge leaves them alone);
method `fusion` trains only `/fusion/` and the head. Every artifact's adapters
were trained together with its own LayerNorms (the paper's adapter tuning
trains the layer norms too), which sit in the layer, outside any adapter site:
`fusion_norms` (one of NORMS) says whose the fused model keeps. Building the
plan from artifact files and putting those LayerNorms in place is the
builder's (builder.fusion_plan, builder.load_fusion_norms); this module holds
the modules, the regulariser and the attention analysis.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from adapter_bert import adapters
from adapter_bert import param_paths

SITES = param_paths.ADAPTER_SITES
NORMS = ('first', 'pretrained')
# Where the sown attention weights go (model.apply(..., mutable=[...])).
INTERMEDIATES = 'intermediates'
# A sown attention's path; groups: the layer index, the site.
_SOWN_ATTENTION = (f'{param_paths.LAYER_NAME_RE}/{param_paths.ADAPTER_NAME_RE}/'
                   f'{param_paths.FUSION}/attention$')


def _identity_init(key, shape, dtype=jnp.float32):
  del key
  return jnp.eye(shape[0], shape[1], dtype=dtype)


class FusionAttention(nn.Module):
  """Per-token attention of the sub-layer output over the adapters' outputs.

  Attributes:
    init_scale: stddev of the normal init of the query and key kernels.
    dtype: compute dtype; scores and softmax in float32.
  """
  init_scale: float = 0.02
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, deltas: jax.Array) -> jax.Array:
    """h [..., d], deltas [..., N, d] -> h + Σ_n s_n V(δ_n)."""
    d = h.shape[-1]
    dense = functools.partial(nn.Dense, d, dtype=self.dtype)
    init = nn.initializers.normal(self.init_scale)
    query = dense(kernel_init=init, name='query')(h)
    key = dense(kernel_init=init, name='key')(deltas)
    value = dense(kernel_init=_identity_init, use_bias=False,
                  name='value')(deltas)
    scores = jnp.einsum('...d,...nd->...n', query, key,
                        preferred_element_type=jnp.float32)
    probs = jax.nn.softmax(scores, axis=-1)
    self.sow(INTERMEDIATES, 'attention', probs)
    return h + jnp.einsum('...n,...nd->...d', probs.astype(value.dtype), value)


class Constant:
  """Arrays for a module attribute: hashed and compared by identity."""

  def __init__(self, tree: Mapping[str, Any]):
    self.tree = jax.tree.map(np.asarray, dict(tree))


class AdapterFusion(nn.Module):
  """An adapter site holding N (frozen) task adapters and their fusion.

  Attributes:
    adapters: the task adapters' factories.
    names: their submodule names (parameter paths `<site>/<name>/...`).
    values: per adapter, the parameters it gets at `init` (a Constant, e.g.
      an artifact's trained adapter), or None for a fresh init. They are put
      in place before the adapter declares its parameters, so Flax checks
      their shapes; missing or extra ones are an error.
    init_scale: see FusionAttention.
    dtype: compute dtype.
  """
  adapters: tuple[adapters.AdapterFactory, ...]
  names: tuple[str, ...]
  values: tuple[Constant | None, ...] = ()
  init_scale: float = 0.02
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, x: jax.Array) -> jax.Array:
    values = self.values or (None,) * len(self.adapters)
    if not self.adapters or not (len(self.adapters) == len(self.names)
                                 == len(values)):
      raise ValueError(
          f'AdapterFusion needs one name (and value) per adapter, got '
          f'{len(self.adapters)} adapters, names {self.names}, {len(values)} '
          'values.')
    loading = self.is_initializing()
    if loading:
      for name, value in zip(self.names, values):
        if value is not None:
          self.put_variable('params', name, value.tree)
    deltas = jnp.stack([make(name=name, dtype=self.dtype)(h, x) - h
                        for make, name in zip(self.adapters, self.names)],
                       axis=-2)
    if loading:
      for name, value in zip(self.names, values):
        if value is None:
          continue
        want = set(param_paths.flatten(self.variables['params'][name]))
        got = sorted(param_paths.flatten(value.tree))
        if want != set(got):
          raise ValueError(f'Loaded parameters of adapter {name!r} {got} do '
                           f'not match its module {sorted(want)}.')
    return FusionAttention(self.init_scale, self.dtype,
                           name=param_paths.FUSION)(h, deltas)


def value_regularizer(params: Mapping[str, Any],
                      weight: float = 0.01) -> jax.Array:
  """weight · Σ_sites ‖I − V‖²_F over the fusion value kernels in `params`."""
  total = jnp.zeros((), jnp.float32)
  values = param_paths.FUSION_RE + param_paths.join(
      param_paths.VALUE, param_paths.KERNEL) + '$'
  for path, v in param_paths.flatten(params).items():
    if re.search(values, path):
      eye = jnp.eye(v.shape[0], v.shape[1], dtype=jnp.float32)
      total = total + jnp.sum(jnp.square(eye - v.astype(jnp.float32)))
  return weight * total


def regularizer(config: Mapping[str, Any]
                ) -> Callable[[Mapping[str, Any]], jax.Array] | None:
  """The loss term a config asks for (params -> scalar), or None."""
  weight = config.get('fusion_reg', 0.01)
  if not config.get('fusion_adapters') or not weight:
    return None
  return functools.partial(value_regularizer, weight=weight)


@functools.partial(jax.jit, static_argnums=0)
def _sown(model: nn.Module, params, input_ids, token_type_ids, attention_mask):
  _, state = model.apply({'params': params}, input_ids, token_type_ids,
                         attention_mask, deterministic=True,
                         mutable=[INTERMEDIATES])
  return state.get(INTERMEDIATES, {})


def attention_weights(model: nn.Module, params: Mapping[str, Any],
                      batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Fusion attention per site on a batch: {'layer_3/ffn': [B, T, N] array}.

  The order along N is the site's `names` (see `site_names`: the artifacts'
  order, skipping those without an adapter there).
  """
  ids = batch['input_ids']
  types = batch.get('token_type_ids')
  mask = batch.get('attention_mask')
  sown = _sown(model, params, ids,
               np.zeros_like(ids) if types is None else types,
               np.ones_like(ids) if mask is None else mask)
  out = {}
  for path, value in param_paths.flatten(sown).items():
    match = re.search(_SOWN_ATTENTION, path)
    if match:
      (weights,) = value  # sow appends to a tuple; one call per apply.
      site = param_paths.join(param_paths.layer(match.group(1)), match.group(2))
      out[site] = np.asarray(weights)
  return out


def mean_attention(weights: Mapping[str, np.ndarray],
                   attention_mask: np.ndarray) -> dict[str, list[float]]:
  """Each site's attention averaged over the real tokens of a batch."""
  mask = np.asarray(attention_mask, np.float32)[..., None]
  return {site: ((w * mask).sum((0, 1)) / max(mask.sum(), 1.0)).tolist()
          for site, w in weights.items()}


def site_names(plan: adapters.AdapterPlan) -> dict[str, tuple[str, ...]]:
  """{'layer_3/ffn': ('rte', 'mrpc')}: the adapter of each attention column."""
  out = {}
  for i, layer in enumerate(plan):
    for site, factory in zip(SITES, layer):
      if factory is not None:
        out[param_paths.join(param_paths.layer(i), site)] = tuple(
            factory.keywords['names'])
  return out
