"""Task heads beyond sentence classification: span extraction (SQuAD).

Each head sits on the same adapter-carrying `BertModel` (module `bert`) and
names its own parameters outside `bert/`, so the trainable-set regexes count
it as the head (param_paths.HEAD_RE) for every method.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from adapter_bert import adapters as adapters_lib
from adapter_bert import modeling
from adapter_bert import param_paths

# Logit of padding positions: no probability mass whatever the bucket length.
_MASKED = -1e9


class BertSpanExtractor(nn.Module):
  """BERT + Dense(2) on every token: start and end logits of an answer span.

  As BERT's SQuAD model (Devlin et al. 2018, run_squad.py): no pooling and no
  extra dropout. Padding positions get a large negative logit, so dynamic
  padding (length buckets) does not change the softmax over real tokens.

  Attributes:
    config: architecture.
    adapter_plan: see modeling.BertModel.
    dtype: compute dtype; logits are returned in float32.
  """
  config: modeling.BertConfig
  adapter_plan: adapters_lib.AdapterPlan = ()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, input_ids, token_type_ids=None, attention_mask=None,
               deterministic: bool = True) -> dict[str, jnp.ndarray]:
    if attention_mask is None:
      attention_mask = jnp.ones_like(input_ids)
    sequence, _ = modeling.BertModel(self.config, self.adapter_plan,
                                     self.dtype, name=param_paths.BACKBONE)(
                                         input_ids, token_type_ids,
                                         attention_mask, deterministic)
    logits = nn.Dense(2, kernel_init=nn.initializers.truncated_normal(
        self.config.initializer_range), dtype=self.dtype,
                      name=param_paths.SPAN_HEAD)(sequence).astype(jnp.float32)
    logits = jnp.where(attention_mask[..., None] > 0, logits, _MASKED)
    return {'start_logits': logits[..., 0], 'end_logits': logits[..., 1]}
