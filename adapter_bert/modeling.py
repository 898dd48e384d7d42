"""Flax BERT whose layers take adapter factories, and the task heads.

Post-LN layer with adapters (Houlsby et al. Fig. 2; the official code's
`transformer_model`):

  h  = Dropout(Dense_o(SelfAttention(x)));  x1 = LN(x + Adapter_attn(h, x))
  f  = Dropout(Dense_out(act(Dense_in(x1))));  x2 = LN(x1 + Adapter_ffn(f, x1))

Parameter names follow the module tree (`bert/layer_3/adapter_ffn/up/kernel`),
named by the constants of param_paths, so trainable sets are regexes over paths
and the HF name map is a table.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from adapter_bert import adapters as adapters_lib
from adapter_bert import dropout as dropout_lib
from adapter_bert import param_paths
from adapter_bert import peft

# HF `hidden_act` names → our activation names (adapters.ACTIVATIONS).
_HF_ACTIVATIONS = {
    'gelu': 'gelu', 'gelu_new': 'gelu_tanh', 'gelu_pytorch_tanh': 'gelu_tanh',
    'gelu_fast': 'gelu_tanh', 'relu': 'relu', 'silu': 'swish', 'swish': 'swish',
    'tanh': 'tanh',
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Architecture hyperparameters, as in an HF or original BERT config.json."""
  vocab_size: int = 30522
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = 'gelu'
  hidden_dropout: float = 0.1
  attention_dropout: float = 0.1
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12
  initializer_range: float = 0.02

  def __post_init__(self):
    adapters_lib.get_activation(self.hidden_act)
    if self.hidden_size % self.num_heads:
      raise ValueError(f'hidden_size {self.hidden_size} is not divisible by '
                       f'num_heads {self.num_heads}.')

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> 'BertConfig':
    """Reads HF `config.json` keys (or original `bert_config.json`, same keys)."""
    act = d.get('hidden_act', 'gelu')
    if act not in _HF_ACTIVATIONS:
      raise ValueError(f'Unsupported hidden_act {act!r}; supported: '
                       f'{sorted(_HF_ACTIVATIONS)}')
    position_type = d.get('position_embedding_type', 'absolute')
    if position_type != 'absolute':
      raise ValueError(f'Unsupported position_embedding_type {position_type!r}.')
    return cls(
        vocab_size=d['vocab_size'],
        hidden_size=d['hidden_size'],
        num_layers=d['num_hidden_layers'],
        num_heads=d['num_attention_heads'],
        intermediate_size=d['intermediate_size'],
        hidden_act=_HF_ACTIVATIONS[act],
        hidden_dropout=d.get('hidden_dropout_prob', 0.1),
        attention_dropout=d.get('attention_probs_dropout_prob', 0.1),
        max_position_embeddings=d.get('max_position_embeddings', 512),
        type_vocab_size=d.get('type_vocab_size', 2),
        layer_norm_eps=d.get('layer_norm_eps', 1e-12),
        initializer_range=d.get('initializer_range', 0.02),
    )

  @classmethod
  def from_json_file(cls, path: str) -> 'BertConfig':
    with open(path) as f:
      return cls.from_dict(json.load(f))


def dot_general_f32(lhs, rhs, dimension_numbers, precision=None, **unused):
  """dot_general that accumulates in float32 and returns the inputs' dtype.

  With bfloat16 inputs this is the fast path on CPUs with AVX512-BF16 (about
  2x float32) and the usual mixed-precision matmul on GPU/TPU.
  """
  del unused
  out = jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                            preferred_element_type=jnp.float32)
  return out.astype(lhs.dtype)


def _dense(config: BertConfig, features: int, name: str, dtype,
           factory: peft.Factory | None = None) -> nn.Dense:
  """A BERT dense layer; `factory` (e.g. LoRA) is called as nn.Dense would be."""
  init = nn.initializers.truncated_normal(config.initializer_range)
  return (factory or nn.Dense)(features, kernel_init=init, dtype=dtype,
                               name=name, dot_general=dot_general_f32)


def _site(factory: peft.Factory | None, name: str, dtype, t: jax.Array):
  """`factory(name=name, dtype=dtype)(t)`, or t where no factory plugs in."""
  return t if factory is None else factory(name=name, dtype=dtype)(t)


def _layer_norm(config: BertConfig, name: str, dtype) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=dtype, name=name)


class BertEmbeddings(nn.Module):
  """Word + position + token-type embeddings, LayerNorm, dropout."""
  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids, deterministic: bool,
               position_ids=None):
    c = self.config
    init = nn.initializers.truncated_normal(c.initializer_range)
    embed = functools.partial(nn.Embed, features=c.hidden_size,
                              embedding_init=init, dtype=self.dtype)
    seq_len = input_ids.shape[-1]
    if seq_len > c.max_position_embeddings:
      raise ValueError(f'Sequence length {seq_len} exceeds max_position_'
                       f'embeddings {c.max_position_embeddings}.')
    words = embed(c.vocab_size, name=param_paths.WORD_EMBEDDINGS)(input_ids)
    if position_ids is None:  # One example per row.
      position_ids = jnp.arange(seq_len)[None]
    positions = embed(c.max_position_embeddings,
                      name=param_paths.POSITION_EMBEDDINGS)(position_ids)
    types = embed(c.type_vocab_size, name=param_paths.TOKEN_TYPE_EMBEDDINGS)(
        token_type_ids)
    x = words + positions + types
    x = _layer_norm(c, param_paths.LAYER_NORM, self.dtype)(x)
    return dropout_lib.Dropout(c.hidden_dropout)(
        x, deterministic=deterministic)


class BertSelfAttention(nn.Module):
  """Multi-head scaled dot-product attention (before the output projection).

  `sites` (peft.LayerSites) may wrap the query/key/value projections, scale
  keys and values, and add prefix key/value columns; by default none does.
  """
  config: BertConfig
  dtype: Any = jnp.float32
  sites: peft.LayerSites = peft.LayerSites()

  @nn.compact
  def __call__(self, x, mask_bias, deterministic: bool):
    c = self.config
    head_dim = c.hidden_size // c.num_heads
    split = lambda t: t.reshape(t.shape[:-1] + (c.num_heads, head_dim))
    # Heads-major [B, H, T, Dh] operands: XLA's CPU batched matmul is several
    # times faster on them than on the [B, T, H, Dh] einsum (PERFORMANCE.md).
    heads = lambda t: split(t).transpose(0, 2, 1, 3)
    s = self.sites
    q = heads(_dense(c, c.hidden_size, param_paths.QUERY, self.dtype,
                     s.query)(x))
    k = heads(_site(s.key_scale, param_paths.KEY_SCALE, self.dtype, _dense(
        c, c.hidden_size, param_paths.KEY, self.dtype, s.key)(x)))
    v = heads(_site(s.value_scale, param_paths.VALUE_SCALE, self.dtype, _dense(
        c, c.hidden_size, param_paths.VALUE, self.dtype, s.value)(x)))
    if s.prefix is not None:  # Extra key/value columns, visible to all.
      k, v, mask_bias = s.prefix(name=param_paths.PREFIX, dtype=self.dtype)(
          k, v, mask_bias)
    batched = (((3,), (2,)), ((0, 1), (0, 1)))  # [B,H,i,j] x [B,H,j,k]
    scores = jax.lax.dot_general(q, k.swapaxes(-1, -2), batched,
                                 preferred_element_type=jnp.float32)
    # Softmax in float32 whatever the compute dtype.
    probs = jax.nn.softmax(scores / jnp.sqrt(head_dim) + mask_bias, axis=-1)
    probs = dropout_lib.Dropout(c.attention_dropout)(
        probs, deterministic=deterministic)
    context = dot_general_f32(probs.astype(self.dtype), v, batched)
    context = context.transpose(0, 2, 1, 3)
    return context.reshape(context.shape[:-2] + (c.hidden_size,))


class BertLayer(nn.Module):
  """Post-LN transformer layer with an adapter factory at each site.

  Attributes:
    config: architecture.
    attn_adapter: factory called as `attn_adapter(name='adapter_attn',
      dtype=...)`, or None for no adapter after the attention output.
    ffn_adapter: likewise after the FFN output (`adapter_ffn`).
    dtype: compute dtype.
    sites: the other factories (peft.LayerSites: dense wrappers such as LoRA,
      scales, a prefix); the defaults leave the pretrained layer as it is.
  """
  config: BertConfig
  attn_adapter: adapters_lib.AdapterFactory | None = None
  ffn_adapter: adapters_lib.AdapterFactory | None = None
  dtype: Any = jnp.float32
  sites: peft.LayerSites = peft.LayerSites()

  @nn.compact
  def __call__(self, x, mask_bias, deterministic: bool):
    c = self.config
    dropout = lambda t: dropout_lib.Dropout(c.hidden_dropout)(
        t, deterministic=deterministic)
    s = self.sites
    context = BertSelfAttention(c, self.dtype, s, name=param_paths.ATTENTION)(
        x, mask_bias, deterministic)
    h = dropout(_dense(c, c.hidden_size, param_paths.ATTENTION_OUTPUT,
                       self.dtype, s.attention_output)(context))
    if self.attn_adapter is not None:
      h = self.attn_adapter(name=param_paths.ADAPTER_ATTN, dtype=self.dtype)(
          h, x)
    x = _layer_norm(c, param_paths.ATTENTION_LAYER_NORM, self.dtype)(x + h)

    f = _dense(c, c.intermediate_size, param_paths.INTERMEDIATE, self.dtype,
               s.intermediate)(x)
    f = _site(s.intermediate_scale, param_paths.INTERMEDIATE_SCALE, self.dtype,
              adapters_lib.get_activation(c.hidden_act)(f))
    f = dropout(_dense(c, c.hidden_size, param_paths.OUTPUT, self.dtype,
                       s.output)(f))
    if self.ffn_adapter is not None:
      f = self.ffn_adapter(name=param_paths.ADAPTER_FFN, dtype=self.dtype)(
          f, x)
    return _layer_norm(c, param_paths.OUTPUT_LAYER_NORM, self.dtype)(x + f)


def packed_mask_bias(segment_ids: jax.Array) -> jax.Array:
  """[R, 1, T, T] additive mask: 0 within an example, -1e9 across or on pads.

  A token attends only to the tokens of its own example (its nonzero segment),
  so packed examples see exactly what they would see alone in a row.
  """
  same = segment_ids[:, :, None] == segment_ids[:, None, :]
  keep = same & (segment_ids[:, None, :] > 0)
  return jnp.where(keep, 0.0, -1e9).astype(jnp.float32)[:, None]


def gather_examples(sequence: jax.Array, cls_index: jax.Array) -> jax.Array:
  """[R, T, H] packed rows -> [E, H]: the token at each example's start.

  `cls_index` [G, E/G] indexes the flattened tokens of its group's R/G rows,
  so with one group per device the gather stays on the device.
  """
  groups = cls_index.shape[0]
  tokens = sequence.reshape(groups, -1, sequence.shape[-1])
  picked = jnp.take_along_axis(tokens, cls_index[..., None], axis=1)
  return picked.reshape(-1, sequence.shape[-1])


class BertModel(nn.Module):
  """Embeddings, encoder layers and pooler; returns (sequence, pooled).

  Packed rows (adapter_bert/data/packing.py) pass `segment_ids`,
  `position_ids` and `cls_index`: attention is then block-diagonal over the
  segments and `pooled` holds one vector per example, [E, H].

  Attributes:
    config: architecture.
    adapter_plan: per layer, (attention-site, FFN-site) adapter factories, as
      built by `adapters.build_plan`; empty = no adapters anywhere.
    dtype: compute dtype (parameters stay float32).
  """
  config: BertConfig
  adapter_plan: adapters_lib.AdapterPlan = ()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids=None, attention_mask=None,
               deterministic: bool = True, segment_ids=None, position_ids=None,
               cls_index=None):
    c = self.config
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    if attention_mask is None:
      attention_mask = jnp.ones_like(input_ids)
    if self.adapter_plan and len(self.adapter_plan) != c.num_layers:
      raise ValueError(f'adapter_plan has {len(self.adapter_plan)} entries for '
                       f'{c.num_layers} layers.')
    if segment_ids is not None:
      mask_bias = packed_mask_bias(segment_ids)
    else:
      # Additive mask over keys: 0 for tokens, a large negative for padding.
      mask_bias = jnp.where(attention_mask[:, None, None, :] > 0, 0.0,
                            -1e9).astype(jnp.float32)
    x = BertEmbeddings(c, self.dtype, name=param_paths.EMBEDDINGS)(
        input_ids, token_type_ids, deterministic, position_ids)
    for i in range(c.num_layers):
      # A plan entry is (attn, ffn) adapters, optionally then peft.LayerSites.
      attn, ffn, *sites = (self.adapter_plan[i] if self.adapter_plan
                           else (None, None))
      x = BertLayer(c, attn, ffn, self.dtype, *sites,
                    name=param_paths.layer(i))(x, mask_bias, deterministic)
    first = x[:, 0] if cls_index is None else gather_examples(x, cls_index)
    pooled = jnp.tanh(_dense(c, c.hidden_size, param_paths.POOLER,
                             self.dtype)(first))
    return x, pooled


def mean_pool(sequence: jax.Array, attention_mask: jax.Array) -> jax.Array:
  """Average of the token vectors over real (unpadded) positions."""
  weights = attention_mask.astype(sequence.dtype)[..., None]
  return (sequence * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)


def packed_mean_pool(sequence: jax.Array, segment_ids: jax.Array,
                     cls_index: jax.Array) -> jax.Array:
  """[R, T, H] packed rows -> [E, H]: each example's mean token vector.

  Example j of group g owns the tokens of segment j + 1 in the group's rows
  (data/packing.py); a per-group one-hot matmul sums them in float32.
  """
  groups, per_group = cls_index.shape
  tokens = sequence.reshape(groups, -1, sequence.shape[-1])
  segments = segment_ids.reshape(groups, -1)
  one_hot = (segments[:, None, :] == jnp.arange(1, per_group + 1)[:, None]
            ).astype(jnp.float32)
  sums = jnp.einsum('gen,gnh->geh', one_hot, tokens.astype(jnp.float32),
                    precision=jax.lax.Precision.HIGHEST)
  counts = jnp.maximum(one_hot.sum(-1, keepdims=True), 1.0)
  return (sums / counts).reshape(-1, sequence.shape[-1]).astype(sequence.dtype)


class BertClassifier(nn.Module):
  """BERT + dropout + dense: classification (num_outputs classes) or regression.

  Attributes:
    config: architecture.
    num_outputs: classes, or 1 for regression.
    adapter_plan: see BertModel.
    pooling: 'pooler' (the pretrained pooler on [CLS], as the paper) or 'mean'
      (masked mean of the last layer, for backbones trained with mean pooling).
    head_dropout: dropout on the pooled vector.
    dtype: compute dtype; logits are returned in float32.
  """
  config: BertConfig
  num_outputs: int
  adapter_plan: adapters_lib.AdapterPlan = ()
  pooling: str = 'pooler'
  head_dropout: float = 0.1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids=None, attention_mask=None,
               deterministic: bool = True, segment_ids=None, position_ids=None,
               cls_index=None):
    """Logits [B, num_outputs]; packed rows (see BertModel) give [E, ...]."""
    if self.pooling not in ('pooler', 'mean'):
      raise ValueError(f"Unknown pooling {self.pooling!r}; use 'pooler' or "
                       "'mean'.")
    if attention_mask is None:
      attention_mask = jnp.ones_like(input_ids)
    if (segment_ids is None) != (cls_index is None):
      raise ValueError('Packed inputs need both segment_ids and cls_index.')
    sequence, pooled = BertModel(self.config, self.adapter_plan, self.dtype,
                                 name=param_paths.BACKBONE)(
                                     input_ids, token_type_ids, attention_mask,
                                     deterministic, segment_ids, position_ids,
                                     cls_index)
    if self.pooling == 'mean' and segment_ids is not None:
      pooled = packed_mean_pool(sequence, segment_ids, cls_index)
    elif self.pooling == 'mean':
      pooled = mean_pool(sequence, attention_mask)
    pooled = dropout_lib.Dropout(self.head_dropout)(
        pooled, deterministic=deterministic)
    logits = nn.Dense(self.num_outputs, kernel_init=nn.initializers.truncated_normal(0.02),
                      dtype=self.dtype, name=param_paths.CLASSIFIER)(pooled)
    return logits.astype(jnp.float32)
