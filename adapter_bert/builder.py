"""Config → model and initial parameters; shared by training, export and tools."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from adapter_bert import adapters
from adapter_bert import backbones
from adapter_bert import checkpoints
from adapter_bert import modeling

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def adapter_plan(config: Mapping[str, Any],
                 num_layers: int) -> adapters.AdapterPlan:
  """The adapter factories a config asks for (none unless method=adapter...)."""
  if config['placement'] == 'none':
    return ()
  return adapters.build_plan(
      num_layers, config['placement'], size=config['m'],
      init_scale=config['init_scale'], activation=config['adapter_act'])


def build_model(config: Mapping[str, Any], backbone_config: modeling.BertConfig,
                num_outputs: int) -> modeling.BertClassifier:
  """The classifier a training config describes, on a backbone architecture."""
  if config['dtype'] not in DTYPES:
    raise ValueError(f"Unknown dtype {config['dtype']!r}; valid: "
                     f'{sorted(DTYPES)}')
  arch = dataclasses.replace(backbone_config,
                             hidden_dropout=config['dropout'],
                             attention_dropout=config['dropout'])
  return modeling.BertClassifier(
      arch, num_outputs, adapter_plan(config, arch.num_layers),
      pooling=config['pooling'], head_dropout=config['dropout'],
      dtype=DTYPES[config['dtype']])


def initial_params(model: modeling.BertClassifier, backbone: backbones.Backbone,
                   seed: int) -> dict[str, Any]:
  """Fresh init (adapters, head) with the backbone's pretrained weights merged."""
  dummy = np.zeros((1, 8), np.int32)
  params = jax.jit(model.init)(jax.random.key(seed), dummy, dummy,
                               np.ones_like(dummy))['params']
  params = jax.tree.map(np.asarray, params)
  if backbone.weights_dir is not None:
    params = checkpoints.merge_pretrained(params,
                                          backbones.load_weights(backbone))
  return params
