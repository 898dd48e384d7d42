"""Pretrained BERT weights (HF or original TF checkpoints) → our parameter tree.

One table maps each checkpoint tensor to a parameter path under the `bert`
module. The mapping is strict: a tensor the table does not know, a tensor the
table expects but the checkpoint lacks, or a shape that differs from the freshly
initialised tree is an error naming the tensor. Pretraining heads (`cls.*`) and
optimizer slots are the only tensors skipped, and they are skipped by name.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

from absl import logging
import numpy as np

from adapter_bert import param_paths

# Each entry: (HF module name, TF module name, our module path, kind).
_Kind = str  # 'dense' | 'layer_norm' | 'embedding'

# Tensor-name suffixes per kind: {suffix: (our leaf name, transpose)}.
_HF_LEAVES = {
    'dense': {'weight': ('kernel', True), 'bias': ('bias', False)},
    'layer_norm': {'weight': ('scale', False), 'bias': ('bias', False)},
    'embedding': {'weight': ('embedding', False)},
}
_TF_LEAVES = {
    'dense': {'kernel': ('kernel', False), 'bias': ('bias', False)},
    'layer_norm': {'gamma': ('scale', False), 'beta': ('bias', False)},
    'embedding': {'': ('embedding', False)},
}

# Tensors that carry no backbone weight; anything else unknown is an error.
_HF_SKIP = re.compile(r'^(cls\.|embeddings\.position_ids$)')
_TF_SKIP = re.compile(r'(^cls/|^global_step$|/adam_[mv]$|^bad_steps$|'
                      r'^good_steps$|^loss_scale$)')


def _module_table(num_layers: int) -> list[tuple[str, str, str, _Kind]]:
  """Each checkpoint module and ours (its path inside the `bert` module)."""
  embedding = lambda name: param_paths.join(param_paths.EMBEDDINGS, name)
  table = [
      ('embeddings.word_embeddings', 'embeddings/word_embeddings',
       embedding(param_paths.WORD_EMBEDDINGS), 'embedding'),
      ('embeddings.position_embeddings', 'embeddings/position_embeddings',
       embedding(param_paths.POSITION_EMBEDDINGS), 'embedding'),
      ('embeddings.token_type_embeddings', 'embeddings/token_type_embeddings',
       embedding(param_paths.TOKEN_TYPE_EMBEDDINGS), 'embedding'),
      ('embeddings.LayerNorm', 'embeddings/LayerNorm',
       embedding(param_paths.LAYER_NORM), 'layer_norm'),
      ('pooler.dense', 'pooler/dense', param_paths.POOLER, 'dense'),
  ]
  attention = param_paths.ATTENTION
  for i in range(num_layers):
    hf, tf = f'encoder.layer.{i}', f'encoder/layer_{i}'
    ours = lambda *names, i=i: param_paths.join(param_paths.layer(i), *names)
    table += [
        (f'{hf}.attention.self.query', f'{tf}/attention/self/query',
         ours(attention, param_paths.QUERY), 'dense'),
        (f'{hf}.attention.self.key', f'{tf}/attention/self/key',
         ours(attention, param_paths.KEY), 'dense'),
        (f'{hf}.attention.self.value', f'{tf}/attention/self/value',
         ours(attention, param_paths.VALUE), 'dense'),
        (f'{hf}.attention.output.dense', f'{tf}/attention/output/dense',
         ours(param_paths.ATTENTION_OUTPUT), 'dense'),
        (f'{hf}.attention.output.LayerNorm', f'{tf}/attention/output/LayerNorm',
         ours(param_paths.ATTENTION_LAYER_NORM), 'layer_norm'),
        (f'{hf}.intermediate.dense', f'{tf}/intermediate/dense',
         ours(param_paths.INTERMEDIATE), 'dense'),
        (f'{hf}.output.dense', f'{tf}/output/dense',
         ours(param_paths.OUTPUT), 'dense'),
        (f'{hf}.output.LayerNorm', f'{tf}/output/LayerNorm',
         ours(param_paths.OUTPUT_LAYER_NORM), 'layer_norm'),
    ]
  return table


def _num_layers(names: list[str], pattern: str) -> int:
  found = [int(m.group(1)) for n in names if (m := re.search(pattern, n))]
  return max(found) + 1 if found else 0


def convert_hf_weights(
    tensors: Mapping[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
  """HF BertModel tensors → {our path: (source tensor name, array)}."""
  # BertForPreTraining / BertForSequenceClassification prefix the encoder.
  tensors = {_hf_canonical_name(k): v for k, v in tensors.items()}
  num_layers = _num_layers(list(tensors), r'^encoder\.layer\.(\d+)\.')
  expected = {}
  for hf, _, ours, kind in _module_table(num_layers):
    for suffix, (leaf, transpose) in _HF_LEAVES[kind].items():
      expected[f'{hf}.{suffix}'] = (f'{ours}/{leaf}', transpose)
  return _convert(tensors, expected, _HF_SKIP)


def _hf_canonical_name(name: str) -> str:
  """Strips the `bert.` prefix of task models; old LayerNorms say gamma/beta."""
  name = re.sub(r'^bert\.', '', name)
  if 'LayerNorm.' in name:
    name = re.sub(r'\.gamma$', '.weight', re.sub(r'\.beta$', '.bias', name))
  return name


def convert_tf_weights(
    tensors: Mapping[str, np.ndarray]) -> dict[str, tuple[str, np.ndarray]]:
  """Original TF BERT variables → {our path: (source tensor name, array)}."""
  tensors = {re.sub(r'^bert/', '', k): v for k, v in tensors.items()}
  num_layers = _num_layers(list(tensors), r'^encoder/layer_(\d+)/')
  expected = {}
  for _, tf, ours, kind in _module_table(num_layers):
    for suffix, (leaf, transpose) in _TF_LEAVES[kind].items():
      name = f'{tf}/{suffix}' if suffix else tf
      expected[name] = (f'{ours}/{leaf}', transpose)
  return _convert(tensors, expected, _TF_SKIP)


def _convert(tensors, expected, skip):
  out = {}
  unexpected = []
  for name, array in tensors.items():
    if name in expected:
      path, transpose = expected[name]
      out[path] = (name, np.asarray(array.T if transpose else array))
    elif not skip.search(name):
      unexpected.append(name)
  if unexpected:
    raise ValueError(f'Checkpoint has {len(unexpected)} unexpected tensor(s), '
                     f'e.g. {sorted(unexpected)[:5]}.')
  missing = [name for name in expected if name not in tensors]
  if missing:
    raise ValueError(f'Checkpoint lacks {len(missing)} tensor(s) a BERT needs, '
                     f'e.g. {sorted(missing)[:5]}.')
  return out


def read_hf_directory(path: str) -> dict[str, np.ndarray]:
  """Reads `model.safetensors` (or `pytorch_model.bin` with torch) of an HF dir."""
  safetensors_file = os.path.join(path, 'model.safetensors')
  torch_file = os.path.join(path, 'pytorch_model.bin')
  if os.path.exists(safetensors_file):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return dict(load_file(safetensors_file))
  if os.path.exists(torch_file):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(f'{torch_file} needs torch to read; convert it to '
                        'model.safetensors or install torch.') from e
    state = torch.load(torch_file, map_location='cpu', weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}
  raise FileNotFoundError(f'No model.safetensors or pytorch_model.bin in {path}.')


def read_tf_checkpoint(prefix: str) -> dict[str, np.ndarray]:
  """Reads every variable of an original TF BERT checkpoint (`bert_model.ckpt`)."""
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(f'Reading the TF checkpoint {prefix} needs tensorflow '
                      '(pip install tensorflow-cpu).') from e
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


def merge_pretrained(params: Mapping[str, Any],
                     converted: Mapping[str, tuple[str, np.ndarray]],
                     prefix: str = param_paths.BACKBONE) -> dict[str, Any]:
  """Copies converted tensors into a freshly initialised tree (strict shapes).

  Args:
    params: the initialised parameter tree (adapters and heads stay as they are).
    converted: output of convert_hf_weights / convert_tf_weights.
    prefix: '/'-path of the BERT module in `params` ('' for a bare BertModel).

  Returns:
    A new tree with every backbone leaf replaced.
  """
  flat = param_paths.flatten(params)
  for path, (name, array) in converted.items():
    full = param_paths.join(prefix, path)
    if full not in flat:
      raise ValueError(f'Checkpoint tensor {name!r} maps to {full!r}, which the '
                       'model does not have.')
    if tuple(flat[full].shape) != tuple(array.shape):
      raise ValueError(f'Checkpoint tensor {name!r} has shape {array.shape} but '
                       f'the model expects {tuple(flat[full].shape)} at {full!r}.')
    flat[full] = np.asarray(array, dtype=flat[full].dtype)
  scope = f'{prefix}/' if prefix else ''
  loaded = {scope + path for path in converted}
  # Adapters, LoRA, IA3 and prefixes are added: no checkpoint holds them.
  missing = [p for p in flat if p.startswith(scope) and p not in loaded
             and not re.search(param_paths.ADDED_RE, f'/{p}')]
  if missing:
    raise ValueError(f'Pretrained weights lack {len(missing)} backbone '
                     f'parameter(s) of the model, e.g. {missing[:5]}.')
  logging.info('Merged %d pretrained tensors.', len(converted))
  return param_paths.unflatten(flat)
