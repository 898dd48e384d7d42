"""Exported artifacts of runs on the tiny random backbone, made in seconds."""

import json

import jax
import numpy as np

from adapter_bert import artifact_files
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import optim
from adapter_bert import param_paths
from configs import common

LABELS = {'rte': ('entailment', 'not_entailment'), 'mrpc': ('0', '1'),
          'cola': ('0', '1'), 'stsb': None}


def tiny_config(task='rte', **overrides):
  config = common.base_config()
  config.backbone = 'tiny'
  config.task = task
  config.m = 4
  config.max_length = 64
  for key, value in overrides.items():
    config[key] = value
  return config


def make_artifact(path, task='rte', seed=1, scale=0.3, **overrides):
  """Exports a 'trained' run: its trainable subset set to random values.

  The backbone is the tiny one at config.seed (0 unless overridden), so every
  artifact made here shares it. The trained values are drawn around their
  usual init (LayerNorm scales and fusion values near 1 / I) with `scale`
  large enough that adapters, LayerNorms and head all matter. Shapes come from
  eval_shape, so nothing is compiled here.
  """
  config = tiny_config(task, **overrides)
  backbone = backbones.resolve('tiny')
  names = LABELS[task]
  model = builder.build_model(config, backbone.config,
                              1 if names is None else len(names))
  ids = np.zeros((1, 8), np.int32)
  shapes = param_paths.flatten(jax.eval_shape(model.init, jax.random.key(0),
                                        ids)['params'])
  paths = optim.trainable_paths(shapes, optim.method_patterns(
      config.method, backbone.config.num_layers, config.top_k))
  rng = np.random.default_rng(seed)
  trainable = {}
  for p in sorted(paths):
    shape = shapes[p].shape
    base = np.zeros(shape, np.float32)
    if p.endswith('/scale'):
      base = np.ones(shape, np.float32)
    elif p.endswith('/fusion/value/kernel'):
      base = np.eye(*shape, dtype=np.float32)
    trainable[p] = (base + scale * rng.standard_normal(shape)).astype(
        np.float32)
  artifact_files.export(str(path), param_paths.unflatten(trainable),
                   config=json.loads(config.to_json()), backbone=backbone,
                   label_names=names, report={})
  return str(path)


def batch(num=6, length=12, seed=0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(4, length + 1, num)
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  return dict(input_ids=(rng.integers(5, 1000, (num, length)) * mask
                         ).astype(np.int32),
              token_type_ids=(np.arange(length)[None] >= lengths[:, None] // 2
                              ).astype(np.int32) * mask,
              attention_mask=mask)


def apply(loaded, b):
  return np.asarray(loaded.model.apply(
      {'params': loaded.params}, b['input_ids'], b['token_type_ids'],
      b['attention_mask']))
