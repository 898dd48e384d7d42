"""Several tasks' trained adapters on one backbone, in one mixed batch.

The promise of adapters (paper §1): one frozen backbone serves many tasks, each
adding a few MB. This module loads several exported artifacts of one backbone,
stacks what differs between them (adapters, LayerNorms, heads: whatever each
run trained) along a leading task axis, and runs a batch whose examples belong
to different tasks: each example gathers its task's slice and the model runs
per example under `jax.vmap`, so every example computes exactly what its own
task's model computes, LayerNorms included, with the layer code unchanged.

Artifacts may differ in adapter sizes, placements and head sizes: every array
is zero-padded to the largest shape. That is exact: a padded bottleneck unit
gets zero input weights and bias, g(0) = 0 for every activation, and its zero
up-projection row adds nothing; a missing adapter is an all-zero one, exactly
the identity; padded head columns are sliced off. The adapters' kind
(sequential/parallel, activation, LayerNorm, depth, scale) must agree.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from adapter_bert import adapters as adapters_lib
from adapter_bert import artifact_files
from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import modeling
from adapter_bert import param_paths

# Factory arguments that may differ between tasks (padding absorbs size; the
# init scale does not matter for trained weights).
_FREE_KWARGS = ('size', 'init_scale')


@dataclasses.dataclass
class MultiTaskModel:
  """One backbone, N tasks.

  Attributes:
    model: the classifier with the union of the tasks' adapter sites (each at
      its largest size) and the largest head.
    shared: flat parameters every task has in common (the frozen backbone),
      on device.
    per_task: flat parameters that differ, each stacked to [N, ...].
    tasks: each artifact's task name.
    num_outputs: each task's head size (logits beyond it are padding).
    label_names: each task's class names (None for regression).
    backbone: the backbone they share.
    configs: each artifact's training config.
  """
  model: modeling.BertClassifier
  shared: dict[str, jax.Array]
  per_task: dict[str, jax.Array]
  tasks: tuple[str, ...]
  num_outputs: tuple[int, ...]
  label_names: tuple[tuple[str, ...] | None, ...]
  backbone: backbones.Backbone
  configs: tuple[dict[str, Any], ...] = ()

  @functools.cached_property
  def _logits_fn(self) -> Callable[..., jax.Array]:
    return jax.jit(functools.partial(mixed_logits, self.model))

  def logits(self, batch: dict[str, Any], task_ids: Any) -> jax.Array:
    """[B, max outputs] logits; example i uses task task_ids[i]'s weights."""
    return self._logits_fn(self.shared, self.per_task, batch['input_ids'],
                           batch['token_type_ids'], batch['attention_mask'],
                           jnp.asarray(task_ids, jnp.int32))


def mixed_logits(model: modeling.BertClassifier, shared, per_task, input_ids,
                 token_type_ids, attention_mask, task_ids) -> jax.Array:
  """Each example through the model with its own task's parameters."""
  mine = jax.tree.map(lambda stacked: stacked[task_ids], per_task)  # Gather.

  def one(params, ids, types, mask):
    full = param_paths.unflatten({**shared, **params})
    return model.apply({'params': full}, ids[None], types[None], mask[None])[0]

  return jax.vmap(one)(mine, input_ids, token_type_ids, attention_mask)


def _union_factory(factories: Sequence[Any], where: str):
  present = [f for f in factories if f is not None]
  if not present:
    return None
  for f in present:
    if not (isinstance(f, functools.partial)
            and f.func is adapters_lib.BottleneckAdapter):
      raise ValueError(f'Multi-task serving stacks bottleneck adapters; '
                       f'{where} has {f!r} (AdapterFusion artifacts are not '
                       'supported).')
  kinds = {tuple(sorted((k, v) for k, v in f.keywords.items()
                        if k not in _FREE_KWARGS)) for f in present}
  if len(kinds) > 1:
    raise ValueError(f'The artifacts use different adapter kinds at {where}: '
                     f'{sorted(kinds)}; one batch needs one computation.')
  size = max(f.keywords['size'] for f in present)
  return functools.partial(present[0], size=size)


def _union_plan(plans: Sequence[adapters_lib.AdapterPlan],
                num_layers: int) -> adapters_lib.AdapterPlan:
  """Every site any task has an adapter at, at the largest size there."""
  if any(len(entry) > 2 for p in plans for entry in p):
    raise ValueError('Multi-task serving stacks bottleneck adapters; LoRA, '
                     'IA3 and prefix-tuning artifacts are not supported.')
  plans = [p or ((None, None),) * num_layers for p in plans]
  plan = tuple(
      tuple(_union_factory([p[i][s] for p in plans], f'layer {i} site {s}')
            for s in range(2))
      for i in range(num_layers))
  return () if all(f is None for layer in plan for f in layer) else plan


def _pad(value: np.ndarray, shape: tuple[int, ...], path: str) -> np.ndarray:
  value = np.asarray(value)
  if value.ndim != len(shape) or any(v > s for v, s in zip(value.shape, shape)):
    raise ValueError(f'{path}: cannot pad {value.shape} to {shape}.')
  return np.pad(value, [(0, s - v) for v, s in zip(value.shape, shape)])


def from_loaded(loaded: Sequence[artifacts.LoadedArtifact]) -> MultiTaskModel:
  """Stacks already loaded artifacts (see `load`)."""
  if not loaded:
    raise ValueError('No artifacts to serve.')
  first = loaded[0]
  for a in loaded[1:]:
    if a.backbone.name != first.backbone.name:
      raise ValueError(f'Artifacts of different backbones: '
                       f'{first.backbone.name!r} and {a.backbone.name!r}.')
    if a.model.pooling != first.model.pooling:
      raise ValueError('Artifacts pool differently: '
                       f'{first.model.pooling!r} and {a.model.pooling!r}.')
    if a.model.dtype != first.model.dtype:
      raise ValueError('Artifacts compute in different dtypes: '
                       f'{first.model.dtype} and {a.model.dtype}.')
  config = first.model.config
  plan = _union_plan([a.model.adapter_plan for a in loaded], config.num_layers)
  num_outputs = tuple(a.model.num_outputs for a in loaded)
  model = modeling.BertClassifier(config, max(num_outputs), plan,
                                  pooling=first.model.pooling,
                                  head_dropout=first.model.head_dropout,
                                  dtype=first.model.dtype)
  dummy = np.zeros((1, 4), np.int32)
  shapes = param_paths.flatten(jax.eval_shape(model.init, jax.random.key(0),
                                              dummy)['params'])
  flats = [param_paths.flatten(a.params) for a in loaded]
  shared, per_task = {}, {}
  for path, leaf in shapes.items():
    values = []
    for a, flat in zip(loaded, flats):
      if path in flat:
        values.append(_pad(flat[path], leaf.shape, path))
      elif re.search(param_paths.ADAPTERS_RE, path):
        values.append(np.zeros(leaf.shape, leaf.dtype))  # No adapter: identity.
      else:
        raise ValueError(f'{a.meta["config"].get("task")} lacks {path}.')
    if all(np.array_equal(values[0], v) for v in values[1:]):
      shared[path] = values[0]
    else:
      per_task[path] = np.stack(values)
  return MultiTaskModel(
      model=model, shared=jax.device_put(shared),
      per_task=jax.device_put(per_task),
      tasks=tuple(str(a.meta['config'].get('task')) for a in loaded),
      num_outputs=num_outputs,
      label_names=tuple(a.label_names for a in loaded),
      backbone=first.backbone,
      configs=tuple(dict(a.meta['config']) for a in loaded))


def load(paths: Sequence[str], backbone: str | None = None) -> MultiTaskModel:
  """Loads exported artifacts of one backbone for mixed-task inference."""
  # Refuse incompatible adapters before building any model.
  metas = [artifact_files.read(p)[0] for p in paths]
  for meta in metas:
    if meta['config'].get('fusion_adapters'):
      raise ValueError('Multi-task serving stacks bottleneck adapters; '
                       'AdapterFusion artifacts are not supported.')
  depth = metas[0]['backbone']['shape']['num_layers'] if metas else 0
  _union_plan([builder.adapter_plan(m['config'], depth) for m in metas], depth)
  return from_loaded([artifacts.load(p, backbone) for p in paths])


def split_outputs(mt: MultiTaskModel, logits: np.ndarray,
                  task_ids: Sequence[int]) -> list[np.ndarray]:
  """Per example, its logits without the padded head columns."""
  logits = np.asarray(logits)
  return [logits[i, :mt.num_outputs[t]] for i, t in enumerate(task_ids)]
