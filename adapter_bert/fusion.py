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

The task adapters' weights come from exported artifacts (artifacts.export) and
are put in place at `init` (so the pretrained-backbone merge leaves them
alone); method `fusion` trains only `/fusion/` and the head. Every artifact's
adapters were trained together with its own LayerNorms (DESIGN.md §1), which
sit in the layer, outside any adapter site: `fusion_norms='first'` (default)
takes the first artifact's (put the target task first: attention on its
adapters then reproduces that task's model), 'pretrained' keeps the backbone's
(AdapterHub's adapters never train LayerNorms). `load_norms` applies it after
the backbone merge; the training loop and artifacts.load call it.
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
from adapter_bert import artifacts
from adapter_bert import builder
from adapter_bert import optim

SITES = ('attn', 'ffn')
NORMS = ('first', 'pretrained')
# Where the sown attention weights go (model.apply(..., mutable=[...])).
INTERMEDIATES = 'intermediates'


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
        want = set(optim.flatten(self.variables['params'][name]))
        if want != set(optim.flatten(value.tree)):
          raise ValueError(f'Loaded parameters of adapter {name!r} '
                           f'{sorted(optim.flatten(value.tree))} do not match '
                           f'its module {sorted(want)}.')
    return FusionAttention(self.init_scale, self.dtype, name='fusion')(
        h, deltas)


def _paths(spec: str | Sequence[str]) -> list[str]:
  paths = [p for p in spec.split('+') if p] if isinstance(spec, str) else list(
      spec)
  if not paths:
    raise ValueError('AdapterFusion needs at least one artifact directory.')
  return paths


def _names(metas: Sequence[Mapping[str, Any]]) -> list[str]:
  """Submodule names from the artifacts' task names, made unique."""
  names = []
  for meta in metas:
    base = re.sub(r'\W', '_', str(meta['config'].get('task', 'task')))
    if base in ('fusion', ''):
      base = f'task_{base}'
    name, i = base, 1
    while name in names:
      name, i = f'{base}_{i}', i + 1
    names.append(name)
  return names


def build_plan(artifact_dirs: str | Sequence[str], num_layers: int,
               init_scale: float = 0.02) -> adapters.AdapterPlan:
  """A plan with, at every site some artifact has an adapter, their fusion.

  Args:
    artifact_dirs: exported adapter artifacts (`<workdir>/artifact`), as a
      sequence or joined by '+'. Each one's adapters (any placement, sizes,
      variant) are rebuilt from its own config and frozen at their values.
    num_layers: layers of the backbone; every artifact must have as many.
    init_scale: stddev of the query/key init.
  """
  paths = _paths(artifact_dirs)
  metas, trained = [], []
  for path in paths:
    meta, flat = artifacts.read(path)
    if meta['config'].get('fusion_adapters'):
      raise ValueError(f'{path} is itself a fusion artifact; fuse the task '
                       'adapter artifacts it was built from instead.')
    depth = meta['backbone']['shape']['num_layers']
    if depth != num_layers:
      raise ValueError(f'{path} was trained on a {depth}-layer backbone, this '
                       f'model has {num_layers} layers.')
    metas.append(meta)
    trained.append(flat)
  names = _names(metas)
  plans = [builder.adapter_plan(m['config'], num_layers) for m in metas]
  plan = []
  for i in range(num_layers):
    sites = []
    for s, site in enumerate(SITES):
      makes, site_names, site_values = [], [], []
      for n, name in enumerate(names):
        factory = plans[n][i][s] if plans[n] else None
        if factory is None:
          continue
        prefix = f'bert/layer_{i}/adapter_{site}/'
        params = {k[len(prefix):]: v for k, v in trained[n].items()
                  if k.startswith(prefix)}
        if not params:
          method = metas[n]['config'].get('method')
          raise ValueError(
              f'{paths[n]} has an adapter at layer {i} ({site}) but no trained '
              f'parameters for it (method {method!r}).')
        makes.append(factory)
        site_names.append(name)
        site_values.append(Constant(optim.unflatten(params)))
      sites.append(functools.partial(
          AdapterFusion, adapters=tuple(makes), names=tuple(site_names),
          values=tuple(site_values), init_scale=init_scale)
                   if makes else None)
    plan.append(tuple(sites))
  return tuple(plan)


def load_norms(config: Mapping[str, Any],
               flat_params: Mapping[str, Any]) -> dict[str, Any]:
  """The model's flat parameters with its LayerNorms as `fusion_norms` says.

  A no-op unless the config fuses adapters with fusion_norms='first'; then the
  backbone's LayerNorms (not those inside adapters) are the first artifact's.
  """
  flat = dict(flat_params)
  spec = config.get('fusion_adapters', '')
  norms = config.get('fusion_norms', 'first')
  if norms not in NORMS:
    raise ValueError(f'Unknown fusion_norms {norms!r}; valid: {NORMS}')
  if not spec or norms == 'pretrained':
    return flat
  _, trained = artifacts.read(_paths(spec)[0])
  for path, value in trained.items():
    if (re.search(optim.LAYER_NORMS, path) and '/adapter_' not in path
        and path in flat):
      if tuple(np.shape(flat[path])) != value.shape:
        raise ValueError(f'LayerNorm {path} of the first fused artifact has '
                         f'shape {value.shape}, the model '
                         f'{tuple(np.shape(flat[path]))}.')
      flat[path] = value
  return flat


def value_regularizer(params: Mapping[str, Any],
                      weight: float = 0.01) -> jax.Array:
  """weight · Σ_sites ‖I − V‖²_F over the fusion value kernels in `params`."""
  total = jnp.zeros((), jnp.float32)
  for path, v in optim.flatten(params).items():
    if re.search(optim.FUSION + r'value/kernel$', path):
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
  for path, value in optim.flatten(sown).items():
    match = re.search(r'(layer_\d+)/adapter_(\w+)/fusion/attention$', path)
    if match:
      (weights,) = value  # sow appends to a tuple; one call per apply.
      out[f'{match.group(1)}/{match.group(2)}'] = np.asarray(weights)
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
        out[f'layer_{i}/{site}'] = tuple(factory.keywords['names'])
  return out
