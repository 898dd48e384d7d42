"""What the entry points that evaluate one exported artifact share.

ablate.py and fusion_attention.py both run an artifact's model over the first
dev split of its task: the same flags, the same loading, the same features.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from absl import flags
import jax
import ml_collections
import numpy as np

from adapter_bert import artifacts
from adapter_bert import backbones
from adapter_bert import tasks as tasks_lib


def define_flags(out_name: str, batch_size: int,
                 artifact_help: str = 'Exported artifact directory '
                 '(<workdir>/artifact).') -> None:
  """--artifact (required), --out (default: `out_name` beside the artifact),
  --max_examples and --batch_size."""
  flags.DEFINE_string('artifact', None, artifact_help)
  flags.DEFINE_string('out', None,
                      f'Output; default: <artifact>/../{out_name}.')
  flags.DEFINE_integer('max_examples', 0, 'Evaluate the first N dev examples '
                       'only (0 = all).')
  flags.DEFINE_integer('batch_size', batch_size, 'Evaluation batch size.')
  flags.mark_flags_as_required(['artifact'])


def beside(artifact: str, name: str) -> str:
  """`name` in the run directory that holds `artifact` (the default --out)."""
  return os.path.join(os.path.dirname(os.path.abspath(artifact)), name)


@dataclasses.dataclass(frozen=True)
class DevSplit:
  """An artifact loaded with its run's config, task and first dev split."""
  loaded: Any
  config: ml_collections.ConfigDict
  task: tasks_lib.Task
  split: str
  features: tasks_lib.Features


def load_dev(artifact: str, *, max_examples: int = 0,
             cache_dir: str | None = None,
             data_dir: str | None = None) -> DevSplit:
  """The artifact, its run's config (data_dir replaced if given), dev split."""
  loaded = artifacts.load(artifact)
  config = ml_collections.ConfigDict(loaded.meta['config'])
  if data_dir is not None:
    config.data_dir = data_dir
  task = tasks_lib.from_config(config)
  split = task.eval_splits[0]
  features = dev_features(task, split,
                          backbones.load_tokenizer(loaded.backbone), config,
                          max_examples, cache_dir)
  return DevSplit(loaded, config, task, split, features)


def dev_features(task, split: str, tokenizer, config: Mapping[str, Any],
                 max_examples: int = 0, cache_dir: str | None = None):
  """A split's features, optionally its first `max_examples` rows only."""
  features = task.load_features(split, tokenizer,
                                max_length=config['max_length'],
                                cache_dir=cache_dir)
  if not max_examples or max_examples >= len(features):
    return features
  if not hasattr(features.examples, 'select'):
    raise ValueError(f'--max_examples is not supported for task {task.name}.')
  rows = np.arange(max_examples)
  return tasks_lib.Features(
      {k: v[:max_examples] for k, v in features.arrays.items()},
      jax.tree.map(lambda x: np.asarray(x)[:max_examples], features.labels),
      features.examples.select(rows))
