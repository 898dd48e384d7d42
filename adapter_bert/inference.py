"""Running a model over rows: devices, the eval step, and `predict`.

Training's evaluation, exported artifacts and the analysis tools all run a
model over a split through `predict`, so each sees the same batches (each
row once, in order, padding dropped) and an artifact given a split with the
run's evaluation batch size and packing reproduces the run's outputs on it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
from jax.experimental import multihost_utils
import numpy as np
import tqdm

from adapter_bert import artifacts
from adapter_bert import data
from adapter_bert import errors
from adapter_bert import param_paths


def replicate(tree):
  """Puts a pytree on every device (parameters and optimizer state)."""
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ('data',))
  return jax.device_put(tree, jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec()))


def to_device(batch: Mapping[str, np.ndarray],
              sharding: jax.sharding.Sharding) -> dict[str, jax.Array]:
  """This process's rows of a global host batch, as one sharded device batch."""
  local = data.host_slice(batch, jax.process_index(), jax.process_count())
  return data.shard_batch(local, sharding)


def packed_inputs(batch: Mapping[str, Any]) -> dict[str, Any]:
  """A packed batch's extra model inputs (data/packing.py); {} if unpacked."""
  return {k: batch[k] for k in data.PACKED_KEYS if k in batch}


def make_eval_step(model) -> Callable:
  """jit(eval_step)(trainable, frozen, batch) -> the model's outputs."""

  def eval_step(trainable, frozen, batch):
    params = param_paths.merge(frozen, trainable)
    return model.apply({'params': params}, batch['input_ids'],
                       batch['token_type_ids'], batch['attention_mask'],
                       deterministic=True, **packed_inputs(batch))

  return jax.jit(eval_step)


def predict(apply_fn: Callable[[dict[str, Any]], Any],
            arrays: Mapping[str, np.ndarray], batch_size: int, *,
            row_ids: np.ndarray | None = None,
            sharding: jax.sharding.Sharding | None = None,
            packing: bool = False) -> list[Any]:
  """`apply_fn(batch)` over every row of a split, each once, in order.

  One entry per batch (its real rows only), not concatenated: per-token
  outputs differ in length from bucket to bucket; the caller assembles them.

  Args:
    apply_fn: a batch of `data.eval_batches` (without its 'mask') -> outputs
      with the batch's rows leading.
    arrays: a split's token arrays.
    batch_size: rows per batch.
    row_ids: per-row values (e.g. each row's task) given to `apply_fn` as
      the batch's 'labels'.
    sharding: put each batch on these devices as training does (and gather
      the outputs of every process); None leaves batches on the host.
    packing: pack each batch, with one group per device of `sharding`.
  """
  groups = 1 if sharding is None else len(sharding.device_set)
  outputs = []
  for batch in data.eval_batches(arrays, row_ids, batch_size, packing=packing,
                                 num_groups=groups):
    keep = batch.pop('mask') == 1
    out = apply_fn(batch if sharding is None else to_device(batch, sharding))
    if jax.process_count() > 1:
      out = multihost_utils.process_allgather(out, tiled=True)
    outputs.append(jax.tree.map(lambda x: np.asarray(x)[keep], out))
  return outputs


def encode(tokenizer, text_a: Sequence[str], text_b: Sequence[str] | None,
           max_length: int) -> dict[str, np.ndarray]:
  """Token arrays of texts (or pairs), as training tokenizes a split."""
  examples = data.Examples(
      text_a=list(text_a), text_b=None if text_b is None else list(text_b),
      labels=None, index=np.arange(len(text_a), dtype=np.int64))
  return data.tokenize_examples(tokenizer, examples, max_length)


def classifier_outputs(loaded: artifacts.LoadedArtifact,
                       arrays: dict[str, np.ndarray], batch_size: int,
                       progress: bool = False) -> np.ndarray:
  """[N, num_outputs] logits (or regression scores) of the rows, in order.

  Args:
    loaded: a classifier artifact (`artifacts.load`).
    arrays: `encode` output.
    batch_size: rows per batch (a multiple of the device count).
    progress: show a tqdm bar over the rows.
  """
  if loaded.meta.get('head', 'classifier') != 'classifier':
    raise errors.UserError(
        f"The artifact's head is {loaded.meta['head']!r}; only sequence "
        'classification and regression artifacts predict per row.')
  eval_step = make_eval_step(loaded.model)
  params = replicate(loaded.params)
  sharding = data.data_sharding()
  n = len(arrays['lengths'])
  outputs = []
  with tqdm.tqdm(total=n, disable=not progress, unit='row',
                 desc='predict') as bar:
    # One batch per call, so the bar moves; the batches are those one call
    # over all rows would make.
    for start in range(0, n, batch_size):
      chunk = {k: v[start:start + batch_size] for k, v in arrays.items()}
      outputs += predict(lambda b: eval_step(params, {}, b), chunk,
                         batch_size, sharding=sharding)
      bar.update(len(chunk['lengths']))
  if not outputs:
    return np.zeros((0, loaded.model.num_outputs), np.float32)
  return np.concatenate(outputs).astype(np.float32)
