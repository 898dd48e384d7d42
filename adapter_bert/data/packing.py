"""Packed batches: a batch's examples laid end to end in rows of tokens.

Short-text tasks waste most of a padded batch on padding; packing several
examples into each row removes it (Krell et al. 2021, "Efficient sequence
packing without cross-contamination"). The batch holds the same examples as
the padded one; only the layout changes, and the model keeps examples apart:

  segment_ids   [R, T]  which example of its group a token belongs to (1-based;
                        0 = padding): attention is block-diagonal over it
  position_ids  [R, T]  restart at 0 for each example
  cls_index     [G, E/G]  where each example starts (its [CLS] token), as a
                        flat index into its group's R/G rows of T tokens

With G groups (one per device), the batch's E examples are cut into G equal
consecutive groups and each group is packed into its own R/G rows, so rows
split over devices whole and every example's tokens and [CLS] index live on
one device. Example-level arrays ('labels', 'mask') keep the example order
[E]. Rows are filled first-fit decreasing; the row count per group is padded
up to a bucket of ROW_BUCKETS so jit compiles few shapes. A batch's rows are
as wide as the smallest of ROW_WIDTHS that holds its longest example (at most
max_length): attention, its mask and its dropout cost grow with the square of
the row width, so short-text batches (CoLA, SST-2) pack into short rows.
"""

from collections.abc import Mapping, Sequence

import jax
import numpy as np

# The keys a packed batch adds; the model takes them as keyword arguments.
PACKED_KEYS = ('segment_ids', 'position_ids', 'cls_index')
# Row counts per group: every count to 8, then 4 steps per doubling, so a
# bucket wastes at most 1/8 of its rows while a task's batches (whose token
# totals vary little) use two or three shapes.
ROW_BUCKETS = tuple(range(1, 9)) + tuple(
    m << k for k in range(1, 12) for m in (5, 6, 7, 8))


# Row widths a batch may take (capped at the arrays' max_length).
ROW_WIDTHS = (32, 64, 128, 256, 512)


def row_width(longest: int, max_width: int) -> int:
  """The narrowest of ROW_WIDTHS >= longest, never more than max_width."""
  return min(next((w for w in ROW_WIDTHS if w >= longest), max_width),
             max_width)


def row_bucket(rows: int, max_rows: int) -> int:
  """The smallest bucket >= rows; never more than max_rows (one per example)."""
  return min(next(b for b in ROW_BUCKETS if b >= rows), max_rows)


def first_fit_decreasing(lengths: Sequence[int],
                         capacity: int) -> list[list[int]]:
  """Indices of `lengths` grouped into rows of at most `capacity` tokens.

  Longest first (ties in index order), each into the first row with room:
  deterministic, and at most 11/9 of the fewest rows possible, plus one.
  """
  lengths = np.asarray(lengths)
  if len(lengths) and lengths.max() > capacity:
    raise ValueError(f'An example of {lengths.max()} tokens does not fit a '
                     f'row of {capacity}.')
  rows, free = [], []
  for i in np.argsort(-lengths, kind='stable'):
    n = int(lengths[i])
    for r, room in enumerate(free):
      if n <= room:
        rows[r].append(int(i))
        free[r] -= n
        break
    else:
      rows.append([int(i)])
      free.append(capacity - n)
  return rows


def pack_batch(arrays: Mapping[str, np.ndarray], labels, examples: np.ndarray,
               real: np.ndarray, num_groups: int,
               width: int | None = None) -> dict[str, np.ndarray]:
  """Packs the given examples (in this order) into a batch of rows.

  Args:
    arrays: 'input_ids', 'token_type_ids' [N, T], 'lengths' [N].
    labels: [N] array, dict of them, or None.
    examples: [E] indices into arrays: the batch's examples, in order.
    real: [E] bool; False marks a padding slot (evaluation's last batch),
      which is not packed and must be dropped by its mask.
    num_groups: G, the number of devices the batch is split over.
    width: T, the row width; None: row_width of the longest real example.

  Returns:
    'input_ids', 'token_type_ids', 'attention_mask', 'segment_ids',
    'position_ids' int32 [R, T]; 'cls_index' int32 [G, E/G]; 'labels' [E]
    (if labels is not None); 'mask' float32 [E] (= real).
  """
  num_examples = len(examples)
  if num_groups <= 0 or num_examples % num_groups:
    raise ValueError(f'A batch of {num_examples} examples cannot be split '
                     f'into {num_groups} equal groups (one per device).')
  per_group = num_examples // num_groups
  lengths = np.asarray(arrays['lengths'])[examples]
  if width is None:
    width = row_width(int(lengths[real].max(initial=1)),
                      arrays['input_ids'].shape[1])
  layouts = []
  for g in range(num_groups):
    slots = np.arange(g * per_group, (g + 1) * per_group)
    slots = slots[real[slots]]
    layouts.append([[slots[i] for i in row] for row in
                    first_fit_decreasing(lengths[slots], width)])
  per_group_rows = row_bucket(max(1, max(map(len, layouts))), per_group)
  shape = (num_groups * per_group_rows, width)
  batch = {k: np.zeros(shape, np.int32) for k in (
      'input_ids', 'token_type_ids', 'segment_ids', 'position_ids')}
  cls_index = np.zeros((num_examples,), np.int32)
  for g, layout in enumerate(layouts):
    for r, row_slots in enumerate(layout):
      row, offset = g * per_group_rows + r, 0
      for slot in row_slots:
        n, source = int(lengths[slot]), examples[slot]
        span = slice(offset, offset + n)
        batch['input_ids'][row, span] = arrays['input_ids'][source, :n]
        batch['token_type_ids'][row, span] = (
            arrays['token_type_ids'][source, :n])
        batch['segment_ids'][row, span] = slot - g * per_group + 1
        batch['position_ids'][row, span] = np.arange(n)
        cls_index[slot] = r * width + offset
        offset += n
  batch['attention_mask'] = (batch['segment_ids'] > 0).astype(np.int32)
  batch['cls_index'] = cls_index.reshape(num_groups, per_group)
  if labels is not None:
    batch['labels'] = jax.tree.map(lambda x: np.asarray(x)[examples], labels)
  batch['mask'] = np.asarray(real, np.float32)
  return batch
