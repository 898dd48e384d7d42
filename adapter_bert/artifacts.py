"""The per-task artifact: only the trained parameters, plus the run's config.

An adapter run exports a few MB (adapters, LayerNorms, head) instead of the
whole model; loading puts them back on top of the pretrained backbone. An
artifact trained for another backbone shape is refused, naming the fields.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

import flax
import jax
import ml_collections
import numpy as np

from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert.data import atomic

PARAMS_FILE = 'params.msgpack'
# Model families an artifact can hold: sequence classifier or span extractor.
HEADS = ('classifier', 'span')
META_FILE = 'artifact.json'
FORMAT_VERSION = 1


def export(path: str, trainable: Mapping[str, Any], *,
           config: Mapping[str, Any], backbone: backbones.Backbone,
           label_names: tuple[str, ...] | None,
           report: Mapping[str, Any], head: str = 'classifier') -> None:
  """Writes the trained subset and what is needed to rebuild the model.

  `head` names the model family (a key of HEADS) that `load` rebuilds.
  """
  if head not in HEADS:
    raise ValueError(f'Unknown head {head!r}; known: {sorted(HEADS)}')
  os.makedirs(path, exist_ok=True)
  state = jax.tree.map(np.asarray, dict(trainable))
  with atomic.atomic_open(os.path.join(path, PARAMS_FILE), 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(state))
  meta = dict(format=FORMAT_VERSION, config=dict(config),
              backbone=dict(name=backbone.name,
                            shape=dataclasses.asdict(backbone.config)),
              label_names=label_names, head=head, parameters=dict(report))
  with atomic.atomic_open(os.path.join(path, META_FILE), 'w') as f:
    json.dump(meta, f, indent=2, default=_json_default)


def _json_default(value):
  if isinstance(value, ml_collections.ConfigDict):
    return value.to_dict()
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f'Cannot serialise {type(value)}')


@dataclasses.dataclass
class LoadedArtifact:
  """A ready-to-run model: module, full parameters, metadata, tokenizer."""
  model: modeling.BertClassifier
  params: dict[str, Any]
  meta: dict[str, Any]
  backbone: backbones.Backbone

  @property
  def label_names(self):
    names = self.meta['label_names']
    return None if names is None else tuple(names)


_SHAPE_FIELDS = ('vocab_size', 'hidden_size', 'num_layers', 'num_heads',
                 'intermediate_size', 'max_position_embeddings',
                 'type_vocab_size')


def read(path: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """(metadata, trained parameters as a flat path → array dict) of an artifact."""
  meta_path = os.path.join(path, META_FILE)
  if not os.path.exists(meta_path):
    raise FileNotFoundError(f'{meta_path} not found: not an adapter artifact.')
  with open(meta_path) as f:
    meta = json.load(f)
  with open(os.path.join(path, PARAMS_FILE), 'rb') as f:
    trained = optim.flatten(flax.serialization.msgpack_restore(f.read()))
  return meta, trained


def load(path: str, backbone: str | None = None) -> LoadedArtifact:
  """Rebuilds the model of an artifact on its (or a given) backbone."""
  # fusion reads artifacts itself (through this module), hence the late import.
  from adapter_bert import fusion  # pylint: disable=g-import-not-at-top
  meta, trained = read(path)
  resolved = backbones.resolve(backbone or meta['backbone']['name'])
  trained_shape = meta['backbone']['shape']
  wrong = [f'{k}: artifact {trained_shape[k]} vs backbone '
           f'{getattr(resolved.config, k)}' for k in _SHAPE_FIELDS
           if trained_shape.get(k) != getattr(resolved.config, k)]
  if wrong:
    raise ValueError(f'Artifact {path} was trained for another backbone shape '
                     f'than {resolved.name!r}: ' + '; '.join(wrong))
  config = meta['config']
  names = meta['label_names']
  head = meta.get('head', 'classifier')
  if head == 'span':
    model = builder.build_span_model(config, resolved.config)
  else:
    model = builder.build_model(config, resolved.config,
                                1 if names is None else len(names))
  params = optim.flatten(builder.initial_params(model, resolved,
                                                config['seed']))
  # A fusion run's frozen LayerNorms come from a fused artifact, not the file.
  params = fusion.load_norms(config, params)
  for key, value in trained.items():
    if key not in params:
      raise ValueError(f'Artifact parameter {key!r} does not exist in the model.')
    if tuple(params[key].shape) != tuple(value.shape):
      raise ValueError(f'Artifact parameter {key!r} has shape {value.shape}; '
                       f'the model expects {tuple(params[key].shape)}.')
    params[key] = value
  return LoadedArtifact(model, optim.unflatten(params), meta, resolved)
