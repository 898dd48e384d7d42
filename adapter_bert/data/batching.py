"""Token arrays -> batches: resumable shuffled training, exhaustive evaluation.

Batches are trimmed to the smallest length bucket that holds their longest
sequence, so short-text tasks do not pay for max_length; a few fixed buckets
bound the number of jit compilations.

Training order is a pure function of (seed, step): epoch e is the permutation
drawn from `np.random.default_rng((seed, e))`, so restarting at step k yields
exactly the batches an uninterrupted run would have seen from step k on.
Each epoch drops its last incomplete batch (steps per epoch = N // batch_size);
the dropped examples differ from epoch to epoch.

`group_by_length` (as HF Trainer's option of that name): each epoch's
permutation is cut into groups of GROUP_BATCHES batches, each group is sorted
by length and cut into batches, and the epoch's batches are shuffled. Batches
then hold examples of similar length and need far less padding; which
examples share a batch is less random, the data seen per epoch is the same.

`packing` (packing.py): the same examples per step, in the same order, laid
end to end in rows (the narrowest of packing.ROW_WIDTHS that holds the
batch's longest example) instead of one padded row each.
"""

from collections.abc import Iterator, Mapping, Sequence

import jax
import numpy as np

from adapter_bert.data import packing as packing_lib

# Steps of 16 up to BERT's usual 128, then of 64 (SQuAD windows run to 384).
DEFAULT_BUCKETS = (16, 32, 48, 64, 80, 96, 112, 128, 192, 256, 320, 384, 448,
                   512)
Batch = dict[str, np.ndarray]
# Training targets: one [N] array (class ids, scores) or a dict of them
# (a span task's start and end positions); batches carry the same structure.
Labels = np.ndarray | Mapping[str, np.ndarray]
# Batches per length-sorted group under group_by_length (HF uses 50).
GROUP_BATCHES = 50


def bucket_lengths(max_length: int, buckets: Sequence[int]) -> tuple[int, ...]:
  """The usable buckets: those below max_length, plus max_length itself."""
  if any(int(b) <= 0 for b in buckets):
    raise ValueError(f'Bucket lengths must be positive, got {tuple(buckets)}.')
  return tuple(sorted({int(b) for b in buckets if b < max_length}
                      | {max_length}))


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
  """Full batches per epoch (the incomplete last batch is dropped)."""
  return num_examples // batch_size


def _make_batch(arrays: Mapping[str, np.ndarray], labels: Labels | None,
                rows: np.ndarray, buckets: tuple[int, ...]) -> Batch:
  lengths = arrays['lengths'][rows]
  longest = int(lengths.max())
  seq_len = next(b for b in buckets if b >= longest)
  batch = {
      'input_ids': arrays['input_ids'][rows, :seq_len],
      'token_type_ids': arrays['token_type_ids'][rows, :seq_len],
      'attention_mask': (np.arange(seq_len)[None, :]
                         < lengths[:, None]).astype(np.int32),
  }
  if labels is not None:
    batch['labels'] = jax.tree.map(lambda x: np.asarray(x)[rows], labels)
  return batch


def _check_inputs(arrays: Mapping[str, np.ndarray], labels: Labels | None,
                  batch_size: int) -> int:
  missing = {'input_ids', 'token_type_ids', 'lengths'} - set(arrays)
  if missing:
    raise ValueError(f'arrays lacks {sorted(missing)} (see tokenize_examples).')
  n = len(arrays['lengths'])
  for leaf in jax.tree.leaves(labels):
    if len(leaf) != n:
      raise ValueError(f'{len(leaf)} labels for {n} examples.')
  if batch_size <= 0:
    raise ValueError(f'batch_size must be positive, got {batch_size}.')
  return n


def epoch_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int,
                group_by_length: bool = False) -> np.ndarray:
  """The epoch's row order: batch k is rows [k * batch_size, (k+1) * ...)."""
  n = len(lengths)
  rng = np.random.default_rng((seed, epoch))
  order = rng.permutation(n)
  if not group_by_length:
    return order
  usable = steps_per_epoch(n, batch_size) * batch_size
  group = GROUP_BATCHES * batch_size
  batches = []
  for start in range(0, usable, group):
    rows = order[start:min(start + group, usable)]
    rows = rows[np.argsort(-lengths[rows], kind='stable')]
    batches.extend(rows.reshape(-1, batch_size))
  shuffled = [batches[i] for i in rng.permutation(len(batches))]
  return np.concatenate(shuffled + [order[usable:]])


def train_batches(arrays: Mapping[str, np.ndarray], labels: Labels,
                  batch_size: int, seed: int, start_step: int = 0,
                  buckets: Sequence[int] = DEFAULT_BUCKETS,
                  group_by_length: bool = False, packing: bool = False,
                  num_groups: int = 1) -> Iterator[Batch]:
  """Endless shuffled training batches, starting at global step `start_step`.

  Args:
    arrays: output of `tokenize_examples` (input_ids, token_type_ids, lengths).
    labels: [N] class ids or regression targets, or a dict of [N] arrays.
    batch_size: global batch size.
    seed: non-negative int; with the step it fixes the order.
    start_step: the step to resume at (0 for a fresh run).
    buckets: candidate sequence lengths; the arrays' max_length is always one.
    group_by_length: batch examples of similar length (module docstring).
    packing: pack each batch's examples into rows (packing.pack_batch); the
      examples and their order are those of the unpacked batch.
    num_groups: with packing, the groups (devices) a batch is split over.

  Yields:
    {'input_ids', 'token_type_ids', 'attention_mask'}: int32 [B, L];
    'labels': [B] (or a dict of [B], as given); 'mask': float32 ones [B]
    (same structure as eval batches). Packed: see packing.pack_batch.
  """
  n = _check_inputs(arrays, labels, batch_size)
  per_epoch = steps_per_epoch(n, batch_size)
  if per_epoch == 0:
    raise ValueError(f'batch_size {batch_size} exceeds the {n} training '
                     'examples; no full batch can be formed.')
  lengths = bucket_lengths(arrays['input_ids'].shape[1], buckets)
  step, epoch, order = start_step, None, None
  while True:
    step_epoch, position = divmod(step, per_epoch)
    if step_epoch != epoch:
      epoch = step_epoch
      order = epoch_order(arrays['lengths'], batch_size, seed, epoch,
                          group_by_length)
    rows = order[position * batch_size:(position + 1) * batch_size]
    if packing:
      batch = packing_lib.pack_batch(arrays, labels, rows,
                                     np.ones((batch_size,), bool), num_groups)
    else:
      batch = _make_batch(arrays, labels, rows, lengths)
      batch['mask'] = np.ones((batch_size,), np.float32)
    yield batch
    step += 1


def eval_batches(arrays: Mapping[str, np.ndarray], labels: Labels | None,
                 batch_size: int, buckets: Sequence[int] = DEFAULT_BUCKETS,
                 packing: bool = False, num_groups: int = 1
                 ) -> Iterator[Batch]:
  """Every example exactly once, in order; the last batch is padded.

  Padding rows repeat the last real row (so the model sees ordinary inputs)
  and carry mask 0. Concatenating the outputs and keeping mask == 1 rows
  gives one result per example, in the split's order.

  Args:
    arrays: output of `tokenize_examples`.
    labels: [N] labels (or a dict of them), or None for an unlabeled split
      (no 'labels' key).
    batch_size: global batch size; every batch has exactly this many rows.
    buckets: candidate sequence lengths.
    packing: pack each batch (padding slots are not packed; packing.py).
    num_groups: with packing, the groups (devices) a batch is split over.

  Yields:
    As `train_batches`, with 'mask' float32 [B]: 1 for real rows, 0 for pads.
  """
  n = _check_inputs(arrays, labels, batch_size)
  lengths = bucket_lengths(arrays['input_ids'].shape[1], buckets)
  for start in range(0, n, batch_size):
    rows = np.arange(start, min(start + batch_size, n))
    num_real = len(rows)
    rows = np.concatenate(
        [rows, np.full((batch_size - num_real,), rows[-1], rows.dtype)])
    real = np.arange(batch_size) < num_real
    if packing:
      yield packing_lib.pack_batch(arrays, labels, rows, real, num_groups)
      continue
    batch = _make_batch(arrays, labels, rows, lengths)
    batch['mask'] = real.astype(np.float32)
    yield batch


def host_slice(batch: Mapping[str, np.ndarray], process_index: int,
               process_count: int) -> Batch:
  """This host's contiguous share of a global batch (for `shard_batch`).

  Each leaf is cut along its own leading axis: a packed batch has row-,
  example- and group-level leaves of different sizes.
  """

  def cut(v):
    size = len(v)
    if size % process_count:
      raise ValueError(f'Global batch size {size} is not divisible by the '
                       f'{process_count} processes (hosts).')
    per_host = size // process_count
    return v[process_index * per_host:(process_index + 1) * per_host]

  return jax.tree.map(cut, dict(batch))


def data_sharding(devices: Sequence[jax.Device] | None = None
                  ) -> jax.sharding.NamedSharding:
  """Batch-dimension sharding over a 1-D ('data',) mesh of `devices`."""
  devices = jax.devices() if devices is None else list(devices)
  mesh = jax.sharding.Mesh(np.asarray(devices), ('data',))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))


def shard_batch(batch: Mapping[str, np.ndarray],
                sharding: jax.sharding.Sharding) -> dict[str, jax.Array]:
  """Assembles global arrays from each host's `host_slice` of the batch.

  Args:
    batch: this process's share of the global batch.
    sharding: how the global batch is laid out, e.g. `data_sharding()`.

  Raises:
    ValueError: the global batch size does not split evenly over the devices.
  """
  process_count = jax.process_count()

  def put(x):
    x = np.asarray(x)
    global_shape = (x.shape[0] * process_count,) + x.shape[1:]
    try:
      sharding.shard_shape(global_shape)
    except ValueError:
      raise ValueError(
          f'Global batch size {global_shape[0]} cannot be split evenly over '
          f'{len(sharding.device_set)} devices ({sharding}); use a batch size '
          'that is a multiple of the number of devices.') from None
    return jax.make_array_from_process_local_data(sharding, x, global_shape)

  return jax.tree.map(put, dict(batch))
