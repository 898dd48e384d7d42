"""The per-task artifact: only the trained parameters, plus the run's config.

An adapter run exports a few MB (adapters, LayerNorms, head) instead of the
whole model; loading puts them back on top of the pretrained backbone. An
artifact trained for another backbone shape is refused, naming the fields.
Loading is strict: the weights file must match the sha256 recorded at export,
and must hold exactly the tensors (and shapes) the artifact's config trains,
so a damaged or incomplete artifact never runs with random-init parts.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from absl import logging
import flax
import jax
import ml_collections
import numpy as np

from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import checksums
from adapter_bert import errors
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
  params_path = os.path.join(path, PARAMS_FILE)
  with atomic.atomic_open(params_path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(state))
  meta = dict(format=FORMAT_VERSION, config=dict(config),
              backbone=dict(name=backbone.name,
                            shape=dataclasses.asdict(backbone.config)),
              label_names=label_names, head=head, parameters=dict(report),
              sha256={PARAMS_FILE: checksums.sha256_file(params_path)})
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
  """(metadata, trained parameters as a flat path → array dict) of an artifact.

  Raises:
    FileNotFoundError: a file of the artifact is missing.
    errors.UserError: a damaged file (bad JSON, checksum mismatch, undecodable
      weights), naming it.
  """
  meta_path = os.path.join(path, META_FILE)
  if not os.path.exists(meta_path):
    raise FileNotFoundError(f'{meta_path} not found: not an adapter artifact.')
  try:
    with open(meta_path) as f:
      meta = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise errors.UserError(f'{meta_path} is not valid JSON ({e}); the artifact '
                           'is damaged: export it again.') from e
  if not isinstance(meta, dict) or 'config' not in meta:
    raise errors.UserError(f'{meta_path} lacks the artifact metadata (config);'
                           ' the artifact is damaged: export it again.')
  params_path = os.path.join(path, PARAMS_FILE)
  if not os.path.exists(params_path):
    raise FileNotFoundError(f'{params_path} not found: the artifact is '
                            'incomplete.')
  expected = (meta.get('sha256') or {}).get(PARAMS_FILE)
  if expected is None:
    logging.warning('%s records no checksum (exported by an older version): '
                    'damage to %s cannot be detected.', meta_path, PARAMS_FILE)
  elif checksums.sha256_file(params_path) != expected:
    raise errors.UserError(
        f'{params_path} does not match the sha256 recorded in {meta_path} '
        '(truncated, altered or from another export): export it again.')
  with open(params_path, 'rb') as f:
    raw = f.read()
  try:
    trained = optim.flatten(flax.serialization.msgpack_restore(raw))
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(f'{params_path} cannot be decoded '
                           f'({type(e).__name__}); the artifact is damaged.'
                           ) from e
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
  params_path = os.path.join(path, PARAMS_FILE)
  for key, value in trained.items():
    if key not in params:
      raise errors.UserError(f'Artifact parameter {key!r} in {params_path} '
                             'does not exist in the model.')
    if tuple(params[key].shape) != tuple(value.shape):
      raise errors.UserError(
          f'Artifact parameter {key!r} in {params_path} has shape '
          f'{value.shape}; the model expects {tuple(params[key].shape)}.')
    params[key] = value
  # Every tensor the config trains must be there: one left out would run at
  # its random initial value.
  expected = optim.trainable_paths(params, optim.method_patterns(
      config['method'], resolved.config.num_layers, config.get('top_k', 0)))
  missing = sorted(expected - set(trained))
  if missing:
    raise errors.UserError(
        f'{params_path} lacks {len(missing)} of the {len(expected)} tensors '
        f"its config (method {config['method']!r}) trains, e.g. "
        f'{missing[:3]}; the artifact is incomplete: export it again.')
  return LoadedArtifact(model, optim.unflatten(params), meta, resolved)
