"""An artifact's files: the trained parameters and the run's metadata.

An adapter run exports a few MB (adapters, LayerNorms, head) instead of the
whole model. Writing and reading the files live here, below the model
builders, so that building a model from artifact files (AdapterFusion) and
rebuilding an artifact's own model (artifacts.load) both read them the same
way. Reading is strict: the weights file must match the sha256 recorded at
export, and a damaged file is reported by name.
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

from adapter_bert import atomic
from adapter_bert import backbones
from adapter_bert import checksums
from adapter_bert import errors
from adapter_bert import param_paths

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
    trained = param_paths.flatten(flax.serialization.msgpack_restore(raw))
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(f'{params_path} cannot be decoded '
                           f'({type(e).__name__}); the artifact is damaged.'
                           ) from e
  return meta, trained


