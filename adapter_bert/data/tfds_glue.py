"""GLUE from TensorFlow Datasets (`glue/<task>`), mapped to `Examples`.

`examples_from_records` is the one place TFDS field names meet our container;
it is shared with tests that check the GLUE-dir reader against TFDS's own
parsing of the same files.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from adapter_bert.data import examples as examples_lib
from adapter_bert.data import glue

# TFDS marks the label of an unlabeled (test) example with -1.
_MISSING_LABEL = -1


def _as_text(value: Any) -> str:
  if isinstance(value, np.ndarray):  # 0-d object arrays from encode_example.
    value = value.item()
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def examples_from_records(task: glue.GlueTask | str,
                          records: Iterable[Mapping[str, Any]]
                          ) -> examples_lib.Examples:
  """Maps TFDS GLUE records to `Examples`, in the order given.

  Args:
    task: the task or its name.
    records: dicts with the task's TFDS text features (e.g. 'premise',
      'hypothesis'), 'label' (class id, float score, or -1 when unlabeled) and
      'idx'. Texts may be `bytes` (as from `tfds.as_numpy`) or `str`.

  Returns:
    Examples whose labels are None when every label is -1.

  Raises:
    ValueError: some but not all labels are -1, or a class id is out of range.
  """
  if isinstance(task, str):
    task = glue.get_task(task)
  texts = [[] for _ in task.tfds_text_features]
  labels, index = [], []
  for record in records:
    for column, feature in zip(texts, task.tfds_text_features):
      column.append(_as_text(record[feature]))
    labels.append(record['label'])
    index.append(int(record['idx']))

  dtype = np.float32 if task.is_regression else np.int32
  labels = np.asarray(labels, dtype).reshape(-1)
  unlabeled = labels == _MISSING_LABEL
  if labels.size and unlabeled.all():
    labels = None
  elif unlabeled.any():
    raise ValueError(f'{task.display_name}: {int(unlabeled.sum())} of '
                     f'{labels.size} records have label -1 (unlabeled); a '
                     'split must be all labeled or all unlabeled.')
  elif not task.is_regression and labels.size and (
      labels.min() < 0 or labels.max() >= task.num_labels):
    raise ValueError(f'{task.display_name}: class ids must lie in '
                     f'[0, {task.num_labels}), got [{labels.min()}, '
                     f'{labels.max()}].')
  return examples_lib.Examples(
      text_a=texts[0],
      text_b=texts[1] if task.is_pair else None,
      labels=labels,
      index=np.asarray(index, np.int64),
      label_names=task.label_names)


def _unbatch(batches: Iterable[Mapping[str, np.ndarray]]
             ) -> Iterator[dict[str, Any]]:
  for batch in batches:
    keys = list(batch)
    for i in range(len(batch[keys[0]])):
      yield {k: batch[k][i] for k in keys}


def load_tfds_split(task_name: str, split: str,
                    data_dir: str | None = None) -> examples_lib.Examples:
  """Loads one split of `glue/<task>` with TFDS, sorted by 'idx'.

  TFDS's 'idx' is the row number in the source file, so sorting gives file
  order, as the GLUE-dir reader does. (For MRPC train/validation TFDS numbers
  rows of the raw msr_paraphrase_train.txt, so those ids differ from the
  GLUE-dir reader's; test ids agree.)

  Args:
    task_name: e.g. 'rte' (see `glue.get_task`).
    split: a split of the task, TFDS naming ('validation_matched', ...).
    data_dir: TFDS data directory; None uses TFDS's default.
  """
  task = glue.get_task(task_name)
  task.file(split)  # Validates the split name with a clear error.
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'load_tfds_split needs tensorflow and tensorflow-datasets '
        '(pip install tensorflow-cpu tensorflow-datasets); or read a GLUE '
        'directory with load_glue_split.') from e
  try:
    # Keep TensorFlow off accelerators that JAX owns.
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:
    pass  # TensorFlow was already initialised by the caller.

  ds = tfds.load(task.tfds_name, split=split, data_dir=data_dir,
                 shuffle_files=False)
  records = _unbatch(tfds.as_numpy(ds.batch(4096)))
  examples = examples_from_records(task, records)
  order = np.argsort(examples.index, kind='stable')
  return examples.select(order)
