"""The in-memory form every data source produces."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Examples:
  """Texts, labels and row ids of one split, in file order.

  Attributes:
    text_a: first (or only) text of each example.
    text_b: second text for sentence-pair tasks, else None.
    labels: int32 class ids, float32 scores for regression, or None when the
      split is unlabeled (GLUE test sets).
    index: int64 row ids; GLUE submissions are keyed by them.
    label_names: class names in id order (None for regression). Carried so
      that a consumer (head size, submission writer) needs no other lookup.
  """

  text_a: list[str]
  text_b: list[str] | None
  labels: np.ndarray | None
  index: np.ndarray
  label_names: tuple[str, ...] | None = None

  def __post_init__(self):
    n = len(self.text_a)
    if self.text_b is not None and len(self.text_b) != n:
      raise ValueError(f'text_b has {len(self.text_b)} rows, text_a has {n}.')
    if self.labels is not None and len(self.labels) != n:
      raise ValueError(f'labels has {len(self.labels)} rows, text_a has {n}.')
    if len(self.index) != n:
      raise ValueError(f'index has {len(self.index)} rows, text_a has {n}.')

  def __len__(self) -> int:
    return len(self.text_a)

  def select(self, rows: np.ndarray) -> 'Examples':
    """Returns the examples at positions `rows` (e.g. one split of a table)."""
    rows = np.asarray(rows, dtype=np.int64)
    return Examples(
        text_a=[self.text_a[i] for i in rows],
        text_b=None if self.text_b is None else [self.text_b[i] for i in rows],
        labels=None if self.labels is None else self.labels[rows],
        index=self.index[rows],
        label_names=self.label_names)
