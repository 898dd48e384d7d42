"""An exported artifact rebuilt as a ready-to-run model.

Loading puts the artifact's trained parameters back on top of the pretrained
backbone. An artifact trained for another backbone shape is refused, naming
the fields. Loading is strict: the weights file must hold exactly the tensors
(and shapes) the artifact's config trains, so a damaged or incomplete
artifact never runs with random-init parts.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from adapter_bert import artifact_files
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import errors
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths


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


def load(path: str, backbone: str | None = None) -> LoadedArtifact:
  """Rebuilds the model of an artifact on its (or a given) backbone."""
  meta, trained = artifact_files.read(path)
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
  params = param_paths.flatten(builder.initial_params(model, resolved,
                                                      config['seed']))
  # A fusion run's frozen LayerNorms come from a fused artifact, not the file.
  params = builder.load_fusion_norms(config, params)
  params_path = os.path.join(path, artifact_files.PARAMS_FILE)
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
  return LoadedArtifact(model, param_paths.unflatten(params), meta, resolved)
