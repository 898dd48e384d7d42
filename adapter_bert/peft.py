"""LoRA, IA3 and prefix tuning as factories that BERT layers call.

Like the adapters (adapters.py), each method is a module class or a
`functools.partial` of one that the layer calls at a fixed site with an
explicit name; the layer itself has no method branch. `LayerSites` holds one
layer's optional factories:

  query, key, value, attention_output, intermediate, output
      wrap a dense layer: called as `nn.Dense` is (features, kernel_init,
      dtype, dot_general, name), so they keep its `kernel` and `bias` at the
      pretrained paths and add their own leaves beside them. LoRA:
      `bert/layer_3/attention/query/{kernel,bias,lora_a,lora_b}`.
  key_scale, value_scale, intermediate_scale
      called on the key and value projections and on the FFN's activation,
      `f(t) -> t` (IA3: `bert/layer_3/attention/key_scale/scale`).
  prefix
      called on the heads-major keys, values and additive mask; returns them
      with extra key/value columns (`bert/layer_3/attention/prefix/key`).

All default to None, which is the pretrained computation with the pretrained
parameter paths. A plan entry of `BertModel.adapter_plan` is the adapters'
(attention, FFN) pair, optionally followed by the layer's `LayerSites`.
BitFit needs no site: it is a trainable set (optim.method_patterns).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from adapter_bert import param_paths

Factory = Callable[..., nn.Module]

# Dense sites of a layer -> their module path inside `layer_<i>` (the names
# modeling.py gives them); LoRA's `targets` regex is searched in
# 'layer_<i>/<path>'.
DENSE_SITES = {
    'query': param_paths.join(param_paths.ATTENTION, param_paths.QUERY),
    'key': param_paths.join(param_paths.ATTENTION, param_paths.KEY),
    'value': param_paths.join(param_paths.ATTENTION, param_paths.VALUE),
    'attention_output': param_paths.ATTENTION_OUTPUT,
    'intermediate': param_paths.INTERMEDIATE,
    'output': param_paths.OUTPUT,
}
# The LoRA paper's default: the query and value projections.
LORA_TARGETS = r'attention/(query|value)$'
LORA_INITS = ('kaiming_uniform', 'gaussian')


@dataclasses.dataclass(frozen=True)
class LayerSites:
  """One layer's optional factories besides its adapters; None = plain BERT."""
  query: Factory | None = None
  key: Factory | None = None
  value: Factory | None = None
  attention_output: Factory | None = None
  intermediate: Factory | None = None
  output: Factory | None = None
  key_scale: Factory | None = None
  value_scale: Factory | None = None
  intermediate_scale: Factory | None = None
  prefix: Factory | None = None


# --------------------------------------------------------------------------
# LoRA (Hu et al. 2021).


def _lora_a_init(kind: str, rank: int) -> nn.initializers.Initializer:
  if kind == 'kaiming_uniform':
    # The LoRA code's (and HF peft's) kaiming_uniform_(a=√5): U(±1/√d_in).
    return nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')
  if kind == 'gaussian':
    # The paper's text says Gaussian; N(0, 1/r) as HF peft's 'gaussian'.
    return nn.initializers.normal(1.0 / rank)
  raise ValueError(f'Unknown LoRA init {kind!r}; known: {LORA_INITS}')


class LoRADense(nn.Dense):
  """x·W + b + (α/r)·(x·A)·B: a dense layer with a low-rank update.

  `kernel` and `bias` are nn.Dense's own (loaded from the checkpoint and kept
  frozen); A (d_in×r) starts random and B (r×d_out) at zero, so training
  starts at the pretrained function. `merge_lora` folds α/r·A·B into W.

  Attributes (besides nn.Dense's):
    rank: r.
    alpha: α; the update is scaled by α/r.
    a_init: kaiming_uniform or gaussian (LORA_INITS).
  """
  rank: int = 8
  alpha: float = 8.0
  a_init: str = 'kaiming_uniform'

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    y = super().__call__(inputs)
    if self.rank < 1:
      raise ValueError(f'LoRA rank must be at least 1, got {self.rank}.')
    a = self.param(param_paths.LORA_A, _lora_a_init(self.a_init, self.rank),
                   (inputs.shape[-1], self.rank), self.param_dtype)
    b = self.param(param_paths.LORA_B, nn.initializers.zeros,
                   (self.rank, self.features), self.param_dtype)
    dtype = self.dtype or inputs.dtype
    dot = self.dot_general or jax.lax.dot_general
    contract = lambda u, w: dot(u, w.astype(dtype),
                                (((u.ndim - 1,), (0,)), ((), ())))
    update = contract(contract(inputs.astype(dtype), a), b)
    return y + jnp.asarray(self.alpha / self.rank, dtype) * update


def lora_param_count(d_in: int, d_out: int, rank: int) -> int:
  """Parameters LoRA adds to one d_in×d_out dense layer: r·(d_in + d_out)."""
  return rank * (d_in + d_out)


def lora_sites(num_layers: int, targets: str = LORA_TARGETS, rank: int = 8,
               alpha: float = 8.0, a_init: str = 'kaiming_uniform'
               ) -> tuple[LayerSites, ...]:
  """LoRA on every dense layer whose 'layer_<i>/<path>' `targets` matches."""
  _lora_a_init(a_init, max(rank, 1))  # Validates the name early.
  make = functools.partial(LoRADense, rank=rank, alpha=alpha, a_init=a_init)
  plan, hits = [], 0
  for i in range(num_layers):
    chosen = {site: make for site, path in DENSE_SITES.items()
              if re.search(targets, param_paths.join(param_paths.layer(i),
                                                     path))}
    hits += len(chosen)
    plan.append(LayerSites(**chosen))
  if not hits:
    raise ValueError(f'lora_targets {targets!r} matches no dense layer; they '
                     f'are searched in paths like layer_0/attention/query, '
                     f'layer_0/{DENSE_SITES["output"]}.')
  return tuple(plan)


# --------------------------------------------------------------------------
# IA3 (Liu et al. 2022).


class Scale(nn.Module):
  """l ⊙ t: a learned scale per feature of the last axis, initialised to 1."""
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, t: jax.Array) -> jax.Array:
    scale = self.param('scale', nn.initializers.ones, (t.shape[-1],))
    return t * scale.astype(t.dtype)


def ia3_param_count(hidden_size: int, intermediate_size: int) -> int:
  """IA3 per layer: l_k and l_v (d each) and l_ff (d_ff)."""
  return 2 * hidden_size + intermediate_size


def ia3_sites(num_layers: int) -> tuple[LayerSites, ...]:
  """Scales on keys, values and the FFN activation of every layer."""
  return (LayerSites(key_scale=Scale, value_scale=Scale,
                     intermediate_scale=Scale),) * num_layers


# --------------------------------------------------------------------------
# Prefix tuning (Li and Liang 2021).


class Prefix(nn.Module):
  """P learned key/value positions that every query of the layer attends to.

  The prefixes are P×d (d = heads·head_dim) each for keys and values, split
  into heads like the projected tokens. With `mlp_hidden` > 0 they are
  computed by an MLP from a P×d embedding, Li and Liang's reparameterisation
  but one MLP per layer where theirs is shared by all layers:
  Dense(mlp_hidden), tanh, Dense(2d). Only its output is needed at inference
  (`fold_prefix_mlp`; the exported artifact stores the folded prefixes).

  Attributes:
    length: P.
    mlp_hidden: width of the reparameterisation MLP; 0 = learn the prefixes
      directly.
    dtype: compute dtype of the returned keys and values.
  """
  length: int
  mlp_hidden: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def prefixes(self, features: int) -> tuple[jax.Array, jax.Array]:
    """[P, features] keys and values (float32)."""
    if self.length < 1:
      raise ValueError(f'Prefix length must be at least 1, got {self.length}.')
    # N(0, 1), as the nn.Embedding that holds them in the original code.
    init = nn.initializers.normal(1.0)
    shape = (self.length, features)
    if self.mlp_hidden <= 0:
      return (self.param(param_paths.KEY, init, shape),
              self.param(param_paths.VALUE, init, shape))
    hidden = jnp.tanh(nn.Dense(self.mlp_hidden, name='mlp_in')(
        self.param('embedding', init, shape)))
    both = nn.Dense(2 * features, name='mlp_out')(hidden)
    return both[:, :features], both[:, features:]

  def __call__(self, k: jax.Array, v: jax.Array, mask_bias: jax.Array
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[B, H, T, Dh] keys/values -> [B, H, P+T, Dh]; mask gets P open columns.

    `mask_bias` may have any leading shape ([B, 1, 1, T] for padding,
    [B, 1, T, T] for packed rows): zeros are put in front of its last (key)
    axis, so the prefix is visible to every query whatever else is masked.
    """
    batch, heads, _, head_dim = k.shape
    key, value = self.prefixes(heads * head_dim)

    def to_heads(p):
      p = p.astype(k.dtype).reshape(self.length, heads, head_dim)
      return jnp.broadcast_to(p.transpose(1, 0, 2)[None],
                              (batch, heads, self.length, head_dim))

    visible = jnp.zeros(mask_bias.shape[:-1] + (self.length,), mask_bias.dtype)
    return (jnp.concatenate([to_heads(key), k], axis=2),
            jnp.concatenate([to_heads(value), v], axis=2),
            jnp.concatenate([visible, mask_bias], axis=-1))


def prefix_param_count(hidden_size: int, length: int,
                       mlp_hidden: int = 0) -> int:
  """Trained parameters of one layer's prefix (2Pd without the MLP)."""
  d = hidden_size
  if mlp_hidden <= 0:
    return 2 * length * d
  return length * d + (d + 1) * mlp_hidden + (mlp_hidden + 1) * 2 * d


def prefix_sites(num_layers: int, length: int,
                 mlp_hidden: int = 0) -> tuple[LayerSites, ...]:
  make = functools.partial(Prefix, length=length, mlp_hidden=mlp_hidden)
  return (LayerSites(prefix=make),) * num_layers


# --------------------------------------------------------------------------
# Plans.


def sites_of(entry: Sequence[Any]) -> LayerSites:
  """The LayerSites of a plan entry (attn, ffn[, sites])."""
  return entry[2] if len(entry) > 2 else LayerSites()


def with_sites(plan: Sequence[Sequence[Any]], sites: Sequence[LayerSites],
               num_layers: int) -> tuple[tuple[Any, ...], ...]:
  """An adapter plan (or () for none) extended with each layer's sites."""
  if len(sites) != num_layers or (plan and len(plan) != num_layers):
    raise ValueError(f'Got {len(plan)} adapter entries and {len(sites)} site '
                     f'entries for {num_layers} layers.')
  pairs = [tuple(e[:2]) for e in plan] if plan else [(None, None)] * num_layers
  return tuple(pair + (s,) for pair, s in zip(pairs, sites))


def _replace_sites(plan, fn: Callable[[LayerSites], LayerSites]):
  return tuple(tuple(e[:2]) + (fn(sites_of(e)),) for e in plan)


def _is(factory, cls) -> bool:
  return isinstance(factory, functools.partial) and factory.func is cls


def merge_lora(params: Mapping[str, Any], plan: Sequence[Sequence[Any]],
               prefix: str = param_paths.BACKBONE
               ) -> tuple[dict[str, Any], tuple]:
  """Folds every LoRA update into its kernel: W' = W + (α/r)·A·B.

  Returns (params without lora_a/lora_b, the plan without LoRA): a model of
  the returned plan computes what the LoRA model computed, with no extra
  matmul at inference. `prefix` is the BertModel's path in `params`.
  """
  flat = param_paths.flatten(params)
  for i, entry in enumerate(plan):
    sites = sites_of(entry)
    for site, path in DENSE_SITES.items():
      factory = getattr(sites, site)
      if not _is(factory, LoRADense):
        continue
      leaf = functools.partial(param_paths.join, prefix, param_paths.layer(i),
                               path)
      a = np.asarray(flat.pop(leaf(param_paths.LORA_A)), np.float64)
      b = np.asarray(flat.pop(leaf(param_paths.LORA_B)), np.float64)
      kw = factory.keywords
      scale = kw.get('alpha', 8.0) / kw.get('rank', 8)
      kernel = np.asarray(flat[leaf(param_paths.KERNEL)])
      flat[leaf(param_paths.KERNEL)] = (kernel.astype(np.float64)
                                        + scale * a @ b).astype(kernel.dtype)
  plain = _replace_sites(plan, lambda s: dataclasses.replace(
      s, **{k: None for k in DENSE_SITES if _is(getattr(s, k), LoRADense)}))
  return param_paths.unflatten(flat), plain


def fold_prefix_mlp(params: Mapping[str, Any], plan: Sequence[Sequence[Any]],
                    hidden_size: int, prefix: str = param_paths.BACKBONE
                    ) -> tuple[dict[str, Any], tuple]:
  """Replaces each reparameterisation MLP by the prefixes it computes.

  The MLP only helps optimisation (Li and Liang 2021); what a task needs at
  inference is its output. Returns (params with `prefix/{key,value}` in place
  of `prefix/{embedding,mlp_in,mlp_out}`, the plan with direct prefixes).
  """
  flat = param_paths.flatten(params)
  for i, entry in enumerate(plan):
    factory = sites_of(entry).prefix
    if not _is(factory, Prefix) or factory.keywords.get('mlp_hidden', 0) <= 0:
      continue
    base = param_paths.join(prefix, param_paths.layer(i),
                            param_paths.ATTENTION, param_paths.PREFIX)
    sub = param_paths.subtree(flat, base)
    for name in sub:
      del flat[param_paths.join(base, name)]
    module = factory()
    key, value = module.apply({'params': param_paths.unflatten(sub)},
                              hidden_size, method=Prefix.prefixes)
    flat[param_paths.join(base, param_paths.KEY)] = np.asarray(key)
    flat[param_paths.join(base, param_paths.VALUE)] = np.asarray(value)
  direct = _replace_sites(plan, lambda s: s if not _is(s.prefix, Prefix) else
                          dataclasses.replace(s, prefix=functools.partial(
                              Prefix, **{**s.prefix.keywords,
                                         'mlp_hidden': 0})))
  return param_paths.unflatten(flat), direct
