"""GLUE server submission files (`index<TAB>prediction`, one per test split)."""

import os

import numpy as np

from adapter_bert import atomic
from adapter_bert.data import glue

# STS-B scores are similarities in [0, 5]; the server expects that range.
_STSB_RANGE = (0.0, 5.0)


def format_predictions(task: glue.GlueTask,
                       predictions: np.ndarray) -> list[str]:
  """Class ids -> GLUE label names; regression scores -> clipped '%.3f'."""
  predictions = np.asarray(predictions)
  if predictions.ndim != 1:
    raise ValueError(f'predictions must be 1-D, got shape {predictions.shape}.')
  if task.is_regression:
    return [f'{x:.3f}' for x in np.clip(predictions.astype(np.float64),
                                        *_STSB_RANGE)]
  if not np.issubdtype(predictions.dtype, np.integer):
    raise ValueError(f'{task.display_name} predictions must be integer class '
                     f'ids, got dtype {predictions.dtype}.')
  if predictions.size and (predictions.min() < 0
                           or predictions.max() >= task.num_labels):
    raise ValueError(f'{task.display_name} class ids must lie in '
                     f'[0, {task.num_labels}).')
  return [task.label_names[i] for i in predictions]


def write_glue_submission(task_name: str, split: str, index: np.ndarray,
                          predictions: np.ndarray, output_dir: str) -> str:
  """Writes one GLUE submission file atomically, rows sorted by index.

  Args:
    task_name: e.g. 'mnli', 'ax'.
    split: a test split of the task ('test', 'test_matched', ...).
    index: [N] row ids of the test examples (`Examples.index`).
    predictions: [N] class ids, or float scores for STS-B.
    output_dir: created if needed.

  Returns:
    The path written, e.g. '<output_dir>/MNLI-m.tsv'.
  """
  task = glue.get_task(task_name)
  if split not in task.submission_files:
    raise ValueError(f'{task.display_name} split {split!r} is not submitted '
                     f'to GLUE; test splits: {list(task.submission_files)}.')
  index = np.asarray(index)
  if index.ndim != 1 or len(index) != len(predictions):
    raise ValueError(f'index {index.shape} and predictions '
                     f'{np.shape(predictions)} must be 1-D of equal length.')
  if len(np.unique(index)) != len(index):
    raise ValueError('index holds duplicate row ids.')
  formatted = format_predictions(task, predictions)
  order = np.argsort(index, kind='stable')
  lines = ['index\tprediction\n']
  lines += [f'{int(index[i])}\t{formatted[i]}\n' for i in order]

  path = os.path.join(output_dir, task.submission_files[split])
  with atomic.atomic_open(path, 'w', encoding='utf-8', newline='') as f:
    f.writelines(lines)
  return path
