"""GLUE from a directory in the classic download layout (`<TASK>/train.tsv`).

Files are read with `csv` (tab, QUOTE_NONE) so texts come through byte for
byte: SST-2 and MRPC contain literal quote characters. Columns are found by
header name, which copes with MNLI's many extra columns and MRPC's BOM.
"""

import csv
import os

import numpy as np

from adapter_bert.data import examples as examples_lib
from adapter_bert.data import glue

_DOWNLOAD_SCRIPT = ('https://github.com/nyu-mll/GLUE-baselines/blob/master/'
                    'download_glue_data.py')
_VENDORED = 'CoLA, SST-2, MRPC, STS-B, RTE, WNLI and AX (diagnostic)'


def default_glue_dir() -> str:
  """The GLUE data vendored in this repository: `<repo>/data/glue`."""
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  return os.path.join(repo, 'data', 'glue')


def _missing_file_message(task: glue.GlueTask, path: str) -> str:
  return (
      f'GLUE file not found: {path}. Get {task.display_name} from TFDS '
      f'({task.tfds_name!r}, see load_tfds_split) or with the GLUE download '
      f'script ({_DOWNLOAD_SCRIPT}) and pass its output folder as data_dir. '
      f'The repository vendors only {_VENDORED} under data/glue; MNLI, QQP '
      'and QNLI (its train split in particular) are not vendored.')


def _column_positions(header: list[str], names, path: str) -> list[int]:
  missing = [n for n in names if n not in header]
  if missing:
    raise ValueError(f'{path}: header lacks column(s) {missing}; header is '
                     f'{header}.')
  return [header.index(n) for n in names]


def _label_parser(task: glue.GlueTask, path: str):
  """Returns f(raw, line) -> int class id or float score, with clear errors."""
  if task.label_names is None:
    def parse_score(raw: str, line: int) -> float:
      try:
        value = float(raw)
      except ValueError:
        raise ValueError(f'{path}:{line}: {task.display_name} score {raw!r} is '
                         'not a number.') from None
      if not np.isfinite(value):
        raise ValueError(f'{path}:{line}: {task.display_name} score {raw!r} is '
                         'not finite.')
      return value
    return parse_score

  ids = {name: i for i, name in enumerate(task.label_names)}
  def parse_class(raw: str, line: int) -> int:
    if raw not in ids:
      raise ValueError(f'{path}:{line}: unknown {task.display_name} label '
                       f'{raw!r}; valid labels: {list(task.label_names)}.')
    return ids[raw]
  return parse_class


def load_glue_split(task_name: str, split: str,
                    data_dir: str | None = None) -> examples_lib.Examples:
  """Reads one split of a GLUE task from a GLUE-layout directory.

  Args:
    task_name: e.g. 'rte', 'SST-2' (see `glue.get_task`).
    split: 'train', 'validation', 'test', or MNLI's 'validation_matched',
      'validation_mismatched', 'test_matched', 'test_mismatched'.
    data_dir: the GLUE directory; defaults to `default_glue_dir()`.

  Returns:
    The split's examples in file order; labels None for test splits.

  Raises:
    FileNotFoundError: the file is absent (the message says where to get it).
    ValueError: empty file, missing header column, short row, unknown label;
      the message names the file and line.
  """
  task = glue.get_task(task_name)
  glue_file = task.file(split)
  path = os.path.join(data_dir or default_glue_dir(), glue_file.path)
  if not os.path.isfile(path):
    raise FileNotFoundError(_missing_file_message(task, path))

  # utf-8-sig drops MRPC's byte-order mark, which would otherwise glue itself
  # to the first header name ('\ufeffQuality').
  with open(path, encoding='utf-8-sig', newline='') as f:
    reader = csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
    if glue_file.columns is None:
      header = next(reader, None)
      if header is None:
        raise ValueError(f'{path}: file is empty (expected a header row).')
    else:
      header = list(glue_file.columns)

    text_pos = _column_positions(header, task.text_columns, path)
    # Test files carry no label column; train and validation files must.
    labeled = task.label_column is not None and not split.startswith('test')
    label_pos = (_column_positions(header, [task.label_column], path)[0]
                 if labeled else None)
    index_pos = (header.index(task.index_column)
                 if task.index_column in header else None)
    used = text_pos + [p for p in (label_pos, index_pos) if p is not None]
    min_columns = max(used) + 1
    parse_label = _label_parser(task, path)

    texts = [[] for _ in text_pos]
    labels, index = [], []
    for row_number, row in enumerate(reader):
      line = reader.line_num
      if len(row) < min_columns:
        raise ValueError(f'{path}:{line}: expected at least {min_columns} '
                         f'tab-separated columns, found {len(row)}.')
      for column, pos in zip(texts, text_pos):
        column.append(row[pos])
      if label_pos is not None:
        labels.append(parse_label(row[label_pos], line))
      if index_pos is None:
        index.append(row_number)
      else:
        try:
          index.append(int(row[index_pos]))
        except ValueError:
          raise ValueError(f'{path}:{line}: row id {row[index_pos]!r} in '
                           f'column {task.index_column!r} is not an '
                           'integer.') from None

  if not index:
    raise ValueError(f'{path}: file has no examples.')
  label_dtype = np.float32 if task.is_regression else np.int32
  return examples_lib.Examples(
      text_a=texts[0],
      text_b=texts[1] if task.is_pair else None,
      labels=np.asarray(labels, label_dtype) if label_pos is not None else None,
      index=np.asarray(index, np.int64),
      label_names=task.label_names)
