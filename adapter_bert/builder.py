"""Config → model and initial parameters; shared by training, export and tools."""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from adapter_bert import adapters
from adapter_bert import artifact_files
from adapter_bert import backbones
from adapter_bert import checkpoints
from adapter_bert import errors
from adapter_bert import fusion
from adapter_bert import heads
from adapter_bert import modeling
from adapter_bert import param_paths
from adapter_bert import peft

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def adapter_plan(config: Mapping[str, Any],
                 num_layers: int) -> adapters.AdapterPlan:
  """The adapter factories a config asks for (none unless method=adapter...).

  `fusion_adapters` (artifact directories) builds AdapterFusion over them;
  otherwise `placement`, `m` (or `m_per_layer`) and the variant keys build
  bottleneck adapters. Keys added after an artifact was written default to
  the paper's adapter, so old artifacts still load.
  """
  if config.get('fusion_adapters'):
    return fusion_plan(config['fusion_adapters'], num_layers,
                       init_scale=config.get('fusion_init_scale', 0.02))
  if config['placement'] == 'none':
    return ()
  per_layer = config.get('m_per_layer', '')
  return adapters.build_plan(
      num_layers, config['placement'],
      size=(adapters.parse_sizes(per_layer, num_layers) if per_layer
            else config['m']),
      init_scale=config['init_scale'], activation=config['adapter_act'],
      parallel=config.get('adapter_parallel', False),
      layer_norm=config.get('adapter_ln', False),
      depth=config.get('adapter_depth', 1),
      scale=config.get('adapter_scale', 1.0))


def _fusion_paths(spec: str | Sequence[str]) -> list[str]:
  paths = [p for p in spec.split('+') if p] if isinstance(spec, str) else list(
      spec)
  if not paths:
    raise ValueError('AdapterFusion needs at least one artifact directory.')
  return paths


def _fusion_names(metas: Sequence[Mapping[str, Any]]) -> list[str]:
  """Submodule names from the artifacts' task names, made unique."""
  names = []
  for meta in metas:
    base = re.sub(r'\W', '_', str(meta['config'].get('task', 'task')))
    if base in ('fusion', ''):
      base = f'task_{base}'
    name, i = base, 1
    while name in names:
      name, i = f'{base}_{i}', i + 1
    names.append(name)
  return names


def fusion_plan(artifact_dirs: str | Sequence[str], num_layers: int,
               init_scale: float = 0.02) -> adapters.AdapterPlan:
  """A plan with, at every site some artifact has an adapter, their fusion.

  Args:
    artifact_dirs: exported adapter artifacts (`<workdir>/artifact`), as a
      sequence or joined by '+'. Each one's adapters (any placement, sizes,
      variant) are rebuilt from its own config and frozen at their values.
    num_layers: layers of the backbone; every artifact must have as many.
    init_scale: stddev of the query/key init.
  """
  paths = _fusion_paths(artifact_dirs)
  metas, trained = [], []
  for path in paths:
    meta, flat = artifact_files.read(path)
    if meta['config'].get('fusion_adapters'):
      raise ValueError(f'{path} is itself a fusion artifact; fuse the task '
                       'adapter artifacts it was built from instead.')
    depth = meta['backbone']['shape']['num_layers']
    if depth != num_layers:
      raise ValueError(f'{path} was trained on a {depth}-layer backbone, this '
                       f'model has {num_layers} layers.')
    metas.append(meta)
    trained.append(flat)
  names = _fusion_names(metas)
  plans = [adapter_plan(m['config'], num_layers) for m in metas]
  plan = []
  for i in range(num_layers):
    sites = []
    for s, site in enumerate(fusion.SITES):
      makes, site_names, site_values = [], [], []
      for n, name in enumerate(names):
        factory = plans[n][i][s] if plans[n] else None
        if factory is None:
          continue
        params = param_paths.subtree(trained[n], param_paths.join(
            param_paths.BACKBONE, param_paths.layer(i),
            param_paths.adapter(site)))
        if not params:
          method = metas[n]['config'].get('method')
          raise ValueError(
              f'{paths[n]} has an adapter at layer {i} ({site}) but no trained '
              f'parameters for it (method {method!r}).')
        makes.append(factory)
        site_names.append(name)
        site_values.append(fusion.Constant(param_paths.unflatten(params)))
      sites.append(functools.partial(
          fusion.AdapterFusion, adapters=tuple(makes), names=tuple(site_names),
          values=tuple(site_values), init_scale=init_scale)
                   if makes else None)
    plan.append(tuple(sites))
  return tuple(plan)


def load_fusion_norms(config: Mapping[str, Any],
               flat_params: Mapping[str, Any]) -> dict[str, Any]:
  """The model's flat parameters with its LayerNorms as `fusion_norms` says.

  A no-op unless the config fuses adapters with fusion_norms='first'; then the
  backbone's LayerNorms (not those inside adapters) are the first artifact's.
  """
  flat = dict(flat_params)
  spec = config.get('fusion_adapters', '')
  norms = config.get('fusion_norms', 'first')
  if norms not in fusion.NORMS:
    raise ValueError(f'Unknown fusion_norms {norms!r}; valid: {fusion.NORMS}')
  if not spec or norms == 'pretrained':
    return flat
  _, trained = artifact_files.read(_fusion_paths(spec)[0])
  for path, value in trained.items():
    if (re.search(param_paths.LAYER_NORMS_RE, path)
        and not re.search(param_paths.ADAPTERS_RE, path) and path in flat):
      if tuple(np.shape(flat[path])) != value.shape:
        raise ValueError(f'LayerNorm {path} of the first fused artifact has '
                         f'shape {value.shape}, the model '
                         f'{tuple(np.shape(flat[path]))}.')
      flat[path] = value
  return flat


def layer_sites(config: Mapping[str, Any], num_layers: int
                ) -> tuple[peft.LayerSites, ...] | None:
  """Each layer's LoRA / IA3 / prefix factories for method lora / ia3 / prefix.

  None for every other method (BitFit adds nothing: it is a trainable set).
  Keys are read with defaults, so artifacts written before them still load.
  """
  method = config.get('method')
  if method == 'lora':
    return peft.lora_sites(
        num_layers, config.get('lora_targets', peft.LORA_TARGETS),
        rank=config.get('lora_rank', 8), alpha=config.get('lora_alpha', 8.0),
        a_init=config.get('lora_init', 'kaiming_uniform'))
  if method == 'ia3':
    return peft.ia3_sites(num_layers)
  if method == 'prefix':
    return peft.prefix_sites(
        num_layers, config.get('prefix_length', 10),
        config.get('prefix_mlp_hidden', 512) if config.get('prefix_mlp')
        else 0)
  return None


def layer_plan(config: Mapping[str, Any], num_layers: int):
  """The model's per-layer plan: the adapters, then any other method's sites."""
  plan = adapter_plan(config, num_layers)
  sites = layer_sites(config, num_layers)
  return plan if sites is None else peft.with_sites(plan, sites, num_layers)


def _architecture(config: Mapping[str, Any],
                  backbone_config: modeling.BertConfig) -> modeling.BertConfig:
  if config['dtype'] not in DTYPES:
    raise ValueError(f"Unknown dtype {config['dtype']!r}; valid: "
                     f'{sorted(DTYPES)}')
  # Caught here, before training: otherwise the first batch holding a text
  # longer than the position table fails inside the model, mid-run.
  max_length = config.get('max_length')
  if max_length and max_length > backbone_config.max_position_embeddings:
    raise errors.UserError(
        f'max_length {max_length} exceeds the backbone\'s '
        f'{backbone_config.max_position_embeddings} position embeddings; set '
        f'--config.max_length to at most '
        f'{backbone_config.max_position_embeddings}.')
  return dataclasses.replace(backbone_config,
                             hidden_dropout=config['dropout'],
                             attention_dropout=config['dropout'])


def build_model(config: Mapping[str, Any], backbone_config: modeling.BertConfig,
                num_outputs: int) -> modeling.BertClassifier:
  """The classifier a training config describes, on a backbone architecture."""
  arch = _architecture(config, backbone_config)
  return modeling.BertClassifier(
      arch, num_outputs, layer_plan(config, arch.num_layers),
      pooling=config['pooling'], head_dropout=config['dropout'],
      dtype=DTYPES[config['dtype']])


def build_span_model(config: Mapping[str, Any],
                     backbone_config: modeling.BertConfig
                     ) -> heads.BertSpanExtractor:
  """The span extractor (SQuAD) a training config describes."""
  arch = _architecture(config, backbone_config)
  return heads.BertSpanExtractor(arch, layer_plan(config, arch.num_layers),
                                 dtype=DTYPES[config['dtype']])


def initial_params(model: nn.Module, backbone: backbones.Backbone,
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
