"""A task bundles its examples, head size, loss, metrics and prediction files.

The training loop asks the task for these and never branches on a task name:
GLUE, the paper's extra classification sets and a user's CSV are all tasks.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import Callable

import jax.numpy as jnp
import numpy as np
import optax

from adapter_bert import data
from adapter_bert import metrics as metrics_lib
from adapter_bert.data import atomic
from adapter_bert.data import extra as extra_lib


@dataclasses.dataclass(frozen=True)
class ClassificationTask:
  """Sentence(-pair) classification or regression (STS-B).

  Attributes:
    name: 'rte', 'extra:disasters', 'csv', ...
    label_names: class names in id order; None for regression.
    metric_names: see adapter_bert.metrics.METRICS.
    eval_splits: dev splits evaluated during training; the first one decides
      the run's score (best-on-dev selection).
    test_splits: splits predicted at the end (and scored if labeled).
    load_split: split name -> Examples.
    write_submission: (split, index, predictions, out_dir) -> path, or None
      to write a generic `<split>.tsv` of label names.
  """
  name: str
  label_names: tuple[str, ...] | None
  metric_names: tuple[str, ...]
  eval_splits: tuple[str, ...]
  test_splits: tuple[str, ...]
  load_split: Callable[[str], data.Examples]
  write_submission: Callable[..., str] | None = None

  @property
  def num_outputs(self) -> int:
    return 1 if self.label_names is None else len(self.label_names)

  def loss(self, logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Per-example loss: cross-entropy, or squared error for regression."""
    if self.label_names is None:
      return jnp.square(logits[:, 0] - labels)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)

  def predictions(self, logits: np.ndarray) -> np.ndarray:
    if self.label_names is None:
      return np.asarray(logits[:, 0], np.float32)
    return np.asarray(logits).argmax(-1).astype(np.int32)

  def metrics(self, predictions: np.ndarray,
              labels: np.ndarray) -> dict[str, float]:
    return metrics_lib.compute_metrics(self.metric_names, predictions, labels)

  @staticmethod
  def score(metrics: dict[str, float]) -> float:
    """One number per evaluation: the mean of the task's metrics (as GLUE)."""
    return float(np.mean(list(metrics.values())))

  def save_predictions(self, split: str, examples: data.Examples,
                       predictions: np.ndarray, out_dir: str) -> str:
    if self.write_submission is not None:
      return self.write_submission(split, examples.index, predictions, out_dir)
    path = os.path.join(out_dir, f'{split}.tsv')
    with atomic.atomic_open(path, 'w', encoding='utf-8', newline='') as f:
      writer = csv.writer(f, delimiter='\t', lineterminator='\n')
      writer.writerow(['index', 'prediction'])
      for i, p in zip(examples.index, predictions):
        value = f'{p:.4f}' if self.label_names is None else self.label_names[p]
        writer.writerow([int(i), value])
    return path


def _glue_task(name: str, data_dir: str, source: str) -> ClassificationTask:
  table = data.get_task(name)
  if source == 'tsv':
    load = lambda split: data.load_glue_split(name, split, data_dir or None)
  elif source == 'tfds':
    load = lambda split: data.load_tfds_split(name, split, data_dir or None)
  else:
    raise ValueError(f"Unknown data_source {source!r}; use 'tsv' or 'tfds'.")
  splits = table.splits
  if 'train' not in splits:
    raise ValueError(f'GLUE task {name!r} has no training split (AX is '
                     'evaluated with an MNLI model).')
  return ClassificationTask(
      name=name,
      label_names=table.label_names,
      metric_names=table.metric_names,
      eval_splits=tuple(s for s in splits if s.startswith('validation')),
      test_splits=tuple(s for s in splits if s.startswith('test')),
      load_split=load,
      write_submission=lambda split, index, preds, out: (
          data.write_glue_submission(name, split, index, preds, out)))


def _table_task(name: str, dataset, data_dir: str,
                seed: int) -> ClassificationTask:
  splits = {}

  def load(split):
    if not splits:
      splits.update(data.load_extra_splits(dataset, data_dir or None, seed))
    return splits[split]

  label_names = load('train').label_names
  return ClassificationTask(
      name=name, label_names=label_names, metric_names=('accuracy',),
      eval_splits=('validation',), test_splits=('test',), load_split=load)


def get_task(task: str, *, data_dir: str = '', data_source: str = 'tsv',
             csv_spec=None, split_seed: int = 0) -> ClassificationTask:
  """Builds a task from its name: a GLUE name, `extra:<name>` or `csv`.

  Args:
    task: the config's task string.
    data_dir: GLUE directory or extra-data directory ('' = defaults).
    data_source: 'tsv' (GLUE directory) or 'tfds' for GLUE tasks.
    csv_spec: for task 'csv': object with path, text_columns (comma-separated),
      label_column, delimiter, encoding.
    split_seed: seed of the 80/10/10 split of unsplit tables.
  """
  if task.startswith('extra:'):
    return _table_task(task, extra_lib.get_extra_dataset(task[6:]), data_dir,
                       split_seed)
  if task == 'csv':
    if csv_spec is None or not csv_spec.path:
      raise ValueError("task='csv' needs config.csv.path (and text_columns, "
                       'label_column).')
    path = os.path.abspath(csv_spec.path)
    dataset = extra_lib.ExtraDataset(
        name=os.path.basename(path), files={'all': os.path.basename(path)},
        text_columns=tuple(c for c in csv_spec.text_columns.split(',') if c),
        label_column=csv_spec.label_column, delimiter=csv_spec.delimiter,
        encoding=csv_spec.encoding, source=path)
    return _table_task(task, dataset, os.path.dirname(path), split_seed)
  try:
    data.get_task(task)
  except ValueError as e:
    raise ValueError(f'{e} Other tasks: extra:<name> (one of '
                     f'{sorted(extra_lib.EXTRA_DATASETS)}) or csv.') from None
  return _glue_task(task, data_dir, data_source)
