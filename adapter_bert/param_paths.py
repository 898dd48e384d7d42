"""Parameter paths: the names that make them up, and the tree helpers.

A parameter is addressed by its '/'-joined path in the Flax tree
(`bert/layer_3/adapter_ffn/up/kernel`). These paths are the library's
interface: trainable sets are regexes over them, pretrained checkpoints map
onto them, artifacts store them by them. The models name their submodules with
the constants below and every regex or lookup is built from the same
constants, so the two cannot drift apart. Renaming one would break every
checkpoint and artifact on disk: the values are fixed.

This module imports nothing of the library, so every other module may use it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

import flax

Flat = dict[str, Any]

SEP = '/'

# A task model (BertClassifier, BertSpanExtractor): the backbone, then a head.
BACKBONE = 'bert'
CLASSIFIER = 'classifier'
SPAN_HEAD = 'span_head'

# Inside the backbone (BertModel): embeddings, layers `layer_<i>`, pooler.
EMBEDDINGS = 'embeddings'
WORD_EMBEDDINGS = 'word_embeddings'
POSITION_EMBEDDINGS = 'position_embeddings'
TOKEN_TYPE_EMBEDDINGS = 'token_type_embeddings'
POOLER = 'pooler'
_LAYER = 'layer_'

# Inside a layer (BertLayer), in the order of its computation.
ATTENTION = 'attention'  # The self-attention: query, key, value inside.
QUERY = 'query'
KEY = 'key'
VALUE = 'value'
ATTENTION_OUTPUT = 'attention_output'
ATTENTION_LAYER_NORM = 'attention_layer_norm'
INTERMEDIATE = 'intermediate'
OUTPUT = 'output'
OUTPUT_LAYER_NORM = 'output_layer_norm'
# The embeddings' LayerNorm and an adapter's own; the name every LayerNorm's
# name ends with (the layer's two above included).
LAYER_NORM = 'layer_norm'

# A layer's adapters sit after its attention and after its FFN.
ADAPTER_SITES = ('attn', 'ffn')
_ADAPTER = 'adapter_'
ADAPTER_ATTN = _ADAPTER + 'attn'
ADAPTER_FFN = _ADAPTER + 'ffn'
# Inside a bottleneck adapter, and AdapterFusion's attention at a site.
DOWN = 'down'
UP = 'up'
FUSION = 'fusion'

# What other methods add (peft.py): LoRA's leaves beside a dense layer's
# kernel, IA3's scales, the prefix of the self-attention.
LORA_A = 'lora_a'
LORA_B = 'lora_b'
KEY_SCALE = 'key_scale'
VALUE_SCALE = 'value_scale'
INTERMEDIATE_SCALE = 'intermediate_scale'
PREFIX = 'prefix'

KERNEL = 'kernel'
BIAS = 'bias'


def join(*parts: str) -> str:
  """'/'-joins path parts, skipping empty ones (a bare BertModel's prefix)."""
  return SEP.join(p for p in parts if p)


def layer(i: int | str) -> str:
  """The module name of encoder layer i (an int, or digits from a match)."""
  return f'{_LAYER}{i}'


def adapter(site: str) -> str:
  """The module name of a layer's adapter at a site ('attn' or 'ffn')."""
  if site not in ADAPTER_SITES:
    raise ValueError(f'Unknown adapter site {site!r}; valid: {ADAPTER_SITES}')
  return _ADAPTER + site


# Regexes over full paths (re.search), as trainable sets and lookups use them.
# A layer's name and an adapter's; groups: the layer index, the site.
LAYER_NAME_RE = _LAYER + r'(\d+)'
ADAPTER_NAME_RE = _ADAPTER + f'({"|".join(ADAPTER_SITES)})'
# The task head: everything outside the backbone (classifier, span head, ...).
HEAD_RE = rf'^(?!{BACKBONE}{SEP})'
ADAPTERS_RE = SEP + _ADAPTER
POOLER_RE = rf'^{BACKBONE}/{POOLER}/'
LAYER_NORMS_RE = LAYER_NORM + SEP
FUSION_RE = SEP + FUSION + SEP
LORA_RE = rf'/({LORA_A}|{LORA_B})$'
IA3_RE = rf'/({KEY_SCALE}|{VALUE_SCALE}|{INTERMEDIATE_SCALE})/'
PREFIX_RE = SEP + join(ATTENTION, PREFIX) + SEP
# Every bias of the backbone (LayerNorm β included).
BIASES_RE = rf'^{BACKBONE}/.*/{BIAS}$'
# Parameters a pretrained checkpoint does not hold: each method's additions
# (searched in '/'+path, so a bare BertModel's paths match too).
ADDED_RE = '|'.join((ADAPTERS_RE, LORA_RE, IA3_RE, PREFIX_RE))
# The up-projections of a layer's adapters, fused task adapters' included;
# groups: layer index, site.
ADAPTER_UP_RE = (rf'^{BACKBONE}/{LAYER_NAME_RE}/{ADAPTER_NAME_RE}/(.+/)?'
                 rf'{UP}/({KERNEL}|{BIAS})$')


def layers_re(indices: Iterable[int]) -> str:
  """Regex for every parameter of the backbone's layers `indices`."""
  return rf'^{BACKBONE}/{_LAYER}({"|".join(str(i) for i in indices)})/'


def flatten(tree: Mapping[str, Any]) -> Flat:
  """Nested parameter dict -> {'a/b/c': leaf}."""
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep=SEP)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  """{'a/b/c': leaf} -> nested parameter dict (inverse of flatten)."""
  return flax.traverse_util.unflatten_dict(dict(flat), sep=SEP)


def merge(*trees: Mapping[str, Any]) -> dict[str, Any]:
  """Nested trees merged leaf by leaf (later trees win), e.g. frozen+trained."""
  flat = {}
  for tree in trees:
    flat.update(flatten(tree))
  return unflatten(flat)


def subtree(flat: Mapping[str, Any], prefix: str) -> Flat:
  """The leaves under module path `prefix`, with paths relative to it."""
  start = prefix.rstrip(SEP) + SEP
  return {p[len(start):]: v for p, v in flat.items() if p.startswith(start)}


def select(flat: Mapping[str, Any], patterns: Iterable[str],
           hint: str = '') -> set[str]:
  """Paths any regex pattern matches (re.search); one matching none is an error.

  An unmatched pattern is almost always a misspelt name or a method without
  the modules it trains; failing names it instead of silently selecting less.
  `hint` is added to that error.
  """
  selected = set()
  for pattern in patterns:
    matched = {p for p in flat if re.search(pattern, p)}
    if not matched:
      raise ValueError(f'Pattern {pattern!r} matches no parameter{hint}; '
                       f'paths look like {sorted(flat)[:3]}.')
    selected |= matched
  return selected


def partition(flat: Mapping[str, Any],
              paths: Iterable[str]) -> tuple[Flat, Flat]:
  """Splits a flat tree into (the leaves at `paths`, the rest)."""
  paths = set(paths)
  chosen = {p: v for p, v in flat.items() if p in paths}
  rest = {p: v for p, v in flat.items() if p not in paths}
  return chosen, rest
