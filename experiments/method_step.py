"""A method's train step at the benchmark's shapes, and what XLA says it costs.

Shared by the benchmark and the profiler: every method is set up by
`train.setup`, the function `train.train_and_evaluate` sets its runs up with
(a GLUE config from configs/glue.py, the task's model, the trainable split,
optimizer, replicated parameters, the loop's data-sharded batch), so both
measure training's own program.
"""

from __future__ import annotations

import dataclasses

import jax
import ml_collections
import numpy as np

from adapter_bert import backbones
from adapter_bert import modeling
from adapter_bert import train
from configs import common
from configs import glue

BERT_BASE_RANDOM = 'bert-base-random'
MIN_STEPS = 10
# A step count for the learning-rate schedule; it does not change the program.
SCHEDULE_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class Settings:
  """What to measure; `smoke()` gives the seconds-long CI variant."""
  backbone: str = 'minilm-l6'
  batch_size: int = 32
  seq_len: int = 128
  methods: tuple[str, ...] = ('adapter', 'full')
  steps: int = MIN_STEPS
  dtype: str = 'float32'
  m: int = 64
  peer: bool = False
  inference: bool = False
  seed: int = 0
  smoke: bool = False
  rounds: int = 1
  overrides: str = ''  # key=value,... on every method's config (--set).

  @classmethod
  def smoke_settings(cls, **overrides) -> 'Settings':
    return cls(**{**dict(backbone='tiny', batch_size=8, seq_len=32, steps=2,
                         peer=False, smoke=True), **overrides})



def random_backbone(config: modeling.BertConfig,
                    name: str = 'random') -> backbones.Backbone:
  """A backbone of `config`'s shapes with random weights (no file is read)."""
  return backbones.Backbone(name, config, weights_dir=None,
                            tokenizer_dir=backbones.minilm_dir())


def resolve_backbone(name: str) -> backbones.Backbone:
  """A named backbone, or BERT-base shapes with random weights."""
  if name == BERT_BASE_RANDOM:
    return random_backbone(modeling.BertConfig(), name)
  return backbones.resolve(name)


def make_config(method: str, settings: Settings):
  """The training config of a GLUE run of `method` at the benchmark's shapes."""
  config = glue.get_config(f'task=mrpc,method={method},m={settings.m}')
  config.backbone = settings.backbone
  config.batch_size = settings.batch_size
  config.max_length = settings.seq_len
  config.dtype = settings.dtype
  config.seed = settings.seed
  config.max_steps = SCHEDULE_STEPS
  if settings.overrides:
    defaults = {k: v for k, v in config.items()
                if not isinstance(v, ml_collections.ConfigDict)}
    config.update(common.parse_arg(settings.overrides, **defaults))
  return config


def random_batch(vocab_size: int, num_outputs: int, batch_size: int,
                 seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
  """A training batch of random ids, every position real, two segments."""
  rng = np.random.default_rng(seed)
  shape = (batch_size, seq_len)
  segments = (np.arange(seq_len) >= seq_len // 2).astype(np.int32)
  if num_outputs == 1:
    labels = rng.standard_normal(batch_size).astype(np.float32)
  else:
    labels = rng.integers(0, num_outputs, batch_size, dtype=np.int32)
  return dict(
      input_ids=rng.integers(0, vocab_size, shape, dtype=np.int32),
      token_type_ids=np.broadcast_to(segments, shape).copy(),
      attention_mask=np.ones(shape, np.int32),
      labels=labels,
      mask=np.ones((batch_size,), np.float32))


def tree_bytes(tree) -> int:
  return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape))
                 for x in jax.tree.leaves(tree)))


def setup_method(method: str, settings: Settings,
                 backbone: backbones.Backbone) -> train.Run:
  """`method` at the benchmark's shapes, set up by training's `train.setup`."""
  return train.setup(make_config(method, settings), SCHEDULE_STEPS,
                     backbone=backbone)


def build_method(method: str, settings: Settings, backbone: backbones.Backbone
                 ) -> tuple[train.Run, dict[str, jax.Array]]:
  """(run, device batch): `method` set up by training's own `train.setup`.

  The batch is random ids at the benchmark's shapes, put on the devices by
  training's host-to-device path.
  """
  run = setup_method(method, settings, backbone)
  host_batch = random_batch(backbone.config.vocab_size, run.task.num_outputs,
                            settings.batch_size, settings.seq_len,
                            settings.seed)
  return run, run.to_device(host_batch)


def compile_train_step(run: train.Run, settings: Settings):
  """The run's train step compiled for a batch of the benchmark's shapes.

  Lowered from shapes alone (nothing runs): for checking the FLOPs and
  memory of the very program the benchmark times.
  """
  batch = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
      random_batch(2, run.task.num_outputs, settings.batch_size,
                   settings.seq_len))
  rng = jax.eval_shape(lambda: jax.random.key(0))
  return run.train_step.lower(run.trainable, run.opt_state, run.frozen, batch,
                              rng).compile()


def memory_stats(compiled) -> dict[str, int] | None:
  """XLA's memory analysis in bytes; None where the backend reports none."""
  try:
    stats = compiled.memory_analysis()
  except (NotImplementedError, RuntimeError, jax.errors.JaxRuntimeError):
    return None
  if stats is None:
    return None
  fields = dict(temp_bytes='temp_size_in_bytes',
                argument_bytes='argument_size_in_bytes',
                output_bytes='output_size_in_bytes',
                alias_bytes='alias_size_in_bytes',
                generated_code_bytes='generated_code_size_in_bytes')
  out = {k: int(getattr(stats, a)) for k, a in fields.items()
         if getattr(stats, a, None) is not None}
  return out or None


def step_flops(compiled) -> float | None:
  """XLA's FLOP count of one call (per device); None where not reported."""
  try:
    cost = compiled.cost_analysis()
  except (NotImplementedError, RuntimeError, jax.errors.JaxRuntimeError):
    return None
  if isinstance(cost, (list, tuple)):  # Older JAX: one dict per device.
    cost = cost[0] if cost else None
  flops = (cost or {}).get('flops')
  return float(flops) if flops is not None and flops >= 0 else None
