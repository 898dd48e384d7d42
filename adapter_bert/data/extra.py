"""The paper's extra text-classification datasets (Table 2), and any CSV/TSV.

Each dataset is a registry entry (`ExtraDataset`): its file(s), columns,
encoding and how raw label values merge into classes. Sources publish these
sets unsplit, so we make deterministic stratified 80/10/10 splits with a fixed
seed (the paper made its own ~80/10/10 splits; its seeds are unknown); the
splits are stable for a given scikit-learn version. The crowd-sourced sets
repeat many texts (retweets), so rows with the same text (case and whitespace
aside) are kept in one split: otherwise a dev or test score would partly
measure recall of training examples.
A dataset with separate train/test files (20 Newsgroups) keeps its test file
and takes validation from train, in the same way. A user's own data
(`csv_dataset`) may instead come as train/dev[/test] files used as given, or
one file whose split column names each row's split. Files are CSV, TSV or
JSON lines. Rows whose label is empty or unmapped, whose text is empty, or
that lack a field are dropped, counted, and reported in the task's notes
(results.json's 'data'). Training
needs two classes; a dev or test label absent from train is an error.

The data is not vendored: pass `data_dir`, set ADAPTER_BERT_EXTRA_DIR, or keep
it in `../shared/data/extra` beside the repository.
"""

import collections
import csv
import dataclasses
import json
import logging
import os
import re
import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import model_selection

from adapter_bert import errors
from adapter_bert.data import examples as examples_lib

ENV_VAR = 'ADAPTER_BERT_EXTRA_DIR'
EMPTY_TEXT = '<empty text>'
MISSING_FIELD = '<missing field>'
DEFAULT_SEED = 0
FORMATS = ('auto', 'csv', 'tsv', 'jsonl')
# Values of a split column, lower-cased, and the split each one names.
SPLIT_NAMES = {'train': 'train', 'training': 'train', 'dev': 'validation',
               'validation': 'validation', 'valid': 'validation',
               'val': 'validation', 'test': 'test'}


@dataclasses.dataclass(frozen=True)
class ExtraDataset:
  """How to read one classification dataset from its published file(s).

  Attributes:
    name: registry key.
    files: 'all' -> the single unsplit file, or 'train'/'test' -> files of a
      published split, or 'train'/'validation'[/'test'] used as given; paths
      are relative to the extra-data directory, or absolute.
    text_columns: one column (or two, for a text pair).
    label_column: column holding the raw label.
    label_map: raw label (after `label_pattern`, whitespace-stripped) -> class
      name. Unmapped values are dropped. None keeps every non-empty value.
    label_pattern: optional regex; its first group, matched at the start of
      the raw label, replaces the raw label (for long CrowdFlower answers).
    delimiter, encoding, encoding_errors, quoting: passed to the CSV reader.
    column_names: names for a file without a header row.
    source: where the dataset is published ('' for a user's own files).
    notes: caveats (e.g. which column the paper's label most likely was).
    file_format: 'csv' (delimited by `delimiter`), 'tsv', 'jsonl', or 'auto'
      (by each file's extension: .tsv/.tab, .jsonl/.json/.ndjson, else csv).
    split_column: for a single file ('all'): the column naming each row's
      split (train; dev/validation; test), used instead of a random split.
  """

  name: str
  files: Mapping[str, str]
  text_columns: tuple[str, ...]
  label_column: str
  label_map: Mapping[str, str] | None = None
  label_pattern: str | None = None
  delimiter: str = ','
  encoding: str = 'utf-8'
  encoding_errors: str = 'strict'
  quoting: int = csv.QUOTE_MINIMAL
  column_names: tuple[str, ...] | None = None
  source: str = ''
  notes: str = ''
  file_format: str = 'csv'
  split_column: str | None = None

  def __post_init__(self):
    # More than two columns would be cut to a pair silently by the tokenizer.
    if not 1 <= len(self.text_columns) <= 2:
      raise errors.UserError(
          f'{self.name}: text_columns {list(self.text_columns)} must name one '
          'column (a text) or two (a text pair); join other columns into one '
          'in the file first.')
    if self.file_format not in FORMATS:
      raise errors.UserError(f'{self.name}: unknown format '
                             f'{self.file_format!r}; valid: {FORMATS}.')


@dataclasses.dataclass
class LabeledTable:
  """One file's usable rows, before splitting.

  Attributes:
    texts: one list per text column.
    labels: class name of each kept row; None for a file without labels (an
      unlabelled test file).
    rows: 0-based data-row number of each kept row in the file.
    dropped: raw label (or EMPTY_TEXT, MISSING_FIELD) -> rows dropped for it.
    groups: the split column's value of each kept row, if there is one.
    path: the file read.
  """

  texts: list[list[str]]
  labels: list[str] | None
  rows: np.ndarray
  dropped: collections.Counter
  groups: list[str] | None = None
  path: str = ''

  def __len__(self) -> int:
    return len(self.rows)

  def select(self, positions: np.ndarray) -> 'LabeledTable':
    """The rows at `positions` (drop counts stay with the whole file)."""
    return LabeledTable(
        texts=[[column[i] for i in positions] for column in self.texts],
        labels=(None if self.labels is None
                else [self.labels[i] for i in positions]),
        rows=self.rows[positions], dropped=collections.Counter(),
        groups=(None if self.groups is None
                else [self.groups[i] for i in positions]), path=self.path)


def file_format(path: str, fmt: str = 'auto',
                delimiter: str = ',') -> tuple[str, str]:
  """('csv', delimiter) or ('jsonl', '') for a file, `fmt` 'auto' by name."""
  if fmt == 'auto':
    ext = os.path.splitext(path)[1].lower()
    if ext in ('.jsonl', '.json', '.ndjson'):
      fmt = 'jsonl'
    elif ext in ('.tsv', '.tab'):
      fmt = 'tsv'
    else:
      return 'csv', delimiter
  if fmt == 'tsv':
    return 'csv', '\t'
  if fmt not in FORMATS:
    raise errors.UserError(f'Unknown format {fmt!r}; valid: {FORMATS}.')
  return fmt, (delimiter if fmt == 'csv' else '')


def _json_cell(value: Any) -> str:
  return value if isinstance(value, str) else json.dumps(value,
                                                         ensure_ascii=False)


def _read_jsonl(path: str, encoding: str,
                encoding_errors: str) -> tuple[pd.DataFrame, pd.DataFrame]:
  records = []
  with open(path, encoding=encoding, errors=encoding_errors) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise errors.UserError(f'{path}:{number}: not valid JSON ({e}).'
                               ) from None
      if not isinstance(record, dict):
        raise errors.UserError(f'{path}:{number}: a JSON line must be an '
                               f'object, got {type(record).__name__}.')
      records.append(record)
  columns = list(dict.fromkeys(k for r in records for k in r))
  missing = pd.DataFrame({c: [r.get(c) is None for r in records]
                          for c in columns}, dtype=bool)
  frame = pd.DataFrame({c: ['' if r.get(c) is None else _json_cell(r[c])
                            for r in records] for c in columns}, dtype=str)
  return frame, missing


def _field_counts(path: str, delimiter: str, encoding: str,
                  encoding_errors: str, quoting: int) -> list[int] | None:
  """Fields per non-blank record (the csv module's reading), or None."""
  try:
    with open(path, encoding=encoding, errors=encoding_errors,
              newline='') as f:
      return [len(r) for r in csv.reader(f, delimiter=delimiter,
                                         quoting=quoting) if r]
  except (csv.Error, UnicodeDecodeError):
    return None


def read_frame(path: str, *, fmt: str = 'auto', delimiter: str = ',',
               encoding: str = 'utf-8', encoding_errors: str = 'strict',
               quoting: int = csv.QUOTE_MINIMAL,
               column_names: Sequence[str] | None = None,
               needed: Sequence[str] = ()
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
  """(every cell as a string, which cells are missing) of a CSV/TSV/JSONL.

  pandas' C parser handles CR-only, LF and CRLF records and newlines inside
  quoted fields; every cell is read as a string ('NA' stays 'NA'). pandas
  reads a field absent from a short record as ''; to tell it from an empty
  cell, records with an empty `needed` cell are re-counted with the csv
  module. A JSON line's absent or null key is missing.
  """
  kind, delimiter = file_format(path, fmt, delimiter)
  if kind == 'jsonl':
    return _read_jsonl(path, encoding, encoding_errors)
  try:
    frame = pd.read_csv(
        path, sep=delimiter, encoding=encoding,
        encoding_errors=encoding_errors, quoting=quoting,
        header=None if column_names else 'infer',
        names=list(column_names) if column_names else None,
        dtype=str, keep_default_na=False, na_filter=False)
  except (UnicodeDecodeError, pd.errors.ParserError,
          pd.errors.EmptyDataError) as e:
    raise errors.UserError(f'{path}: cannot parse as {encoding} '
                           f'{delimiter!r}-separated text: {e}') from e
  missing = pd.DataFrame(False, index=frame.index, columns=frame.columns)
  present = [c for c in needed if c in frame.columns]
  if present and (frame[present] == '').to_numpy().any():
    counts = _field_counts(path, delimiter, encoding, encoding_errors,
                           quoting)
    if counts is not None and not column_names:
      counts = counts[1:]
    if counts is not None and len(counts) == len(frame):
      counts = np.asarray(counts)
      for j, column in enumerate(frame.columns):
        missing[column] = counts <= j
  return frame, missing


def read_labeled_table(path: str, dataset: ExtraDataset,
                       labeled: bool | None = True) -> LabeledTable:
  """Reads a CSV/TSV/JSONL file and applies the dataset's label rules.

  Args:
    path: the file.
    dataset: columns, format and label rules.
    labeled: True: the label column must exist; None: a file without it is
      read as unlabelled (labels None), e.g. a test file to predict.
  """
  text_columns = list(dataset.text_columns)
  split = [dataset.split_column] if dataset.split_column else []
  frame, absent = read_frame(
      path, fmt=dataset.file_format, delimiter=dataset.delimiter,
      encoding=dataset.encoding, encoding_errors=dataset.encoding_errors,
      quoting=dataset.quoting, column_names=dataset.column_names,
      needed=text_columns + [dataset.label_column] + split)
  if labeled is None:
    labeled = dataset.label_column in frame.columns
  needed = text_columns + ([dataset.label_column] if labeled else []) + split
  missing = [c for c in needed if c not in frame.columns]
  if missing:
    raise errors.UserError(f'{path}: no column(s) {missing}; columns are '
                           f'{list(frame.columns)}.')
  short = absent[needed].any(axis=1)
  text_frame = frame[text_columns]
  empty_text = (text_frame.apply(lambda c: c.str.strip() == '')).any(axis=1)
  if not labeled:
    keep = ~short & ~empty_text
    dropped = collections.Counter()
    if int(short.sum()):
      dropped[MISSING_FIELD] = int(short.sum())
    if int((empty_text & ~short).sum()):
      dropped[EMPTY_TEXT] = int((empty_text & ~short).sum())
    return LabeledTable(
        texts=[text_frame[c][keep].tolist() for c in text_columns],
        labels=None, rows=np.flatnonzero(keep.to_numpy()).astype(np.int64),
        dropped=dropped, path=path,
        groups=frame[split[0]][keep].tolist() if split else None)

  raw = frame[dataset.label_column].str.strip()
  if dataset.label_pattern is not None:
    extracted = raw.str.extract(f'^(?:{dataset.label_pattern})',
                                flags=re.DOTALL)[0]
    raw = extracted.where(extracted.notna(), '')
  if dataset.label_map is not None:
    labels = raw.map(dict(dataset.label_map))
  else:
    labels = raw.where(raw != '')
  keep = labels.notna() & ~empty_text & ~short

  # Each dropped row is counted once: a missing field, else its unusable
  # label, else its empty text.
  dropped = collections.Counter(
      frame.loc[labels.isna() & ~short, dataset.label_column].tolist())
  if int(short.sum()):
    dropped[MISSING_FIELD] = int(short.sum())
  empty_text_rows = int((empty_text & labels.notna() & ~short).sum())
  if empty_text_rows:
    dropped[EMPTY_TEXT] = empty_text_rows
  return LabeledTable(
      texts=[text_frame[c][keep].tolist() for c in text_columns],
      labels=labels[keep].tolist(),
      rows=np.flatnonzero(keep.to_numpy()).astype(np.int64),
      dropped=dropped, path=path,
      groups=frame[split[0]][keep].tolist() if split else None)


def text_groups(texts: Sequence[Sequence[str]]) -> np.ndarray:
  """A group id per row: rows whose texts agree up to case and whitespace."""
  keys = ['\x1f'.join(' '.join(t.lower().split()) for t in row)
          for row in zip(*texts)]
  _, ids = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
  return ids.reshape(-1)


def stratified_split(labels: Sequence[str] | np.ndarray, seed: int,
                     holdout_fractions: Sequence[float] = (0.1, 0.1),
                     hint: str = 'drop or merge rare classes with a label_map.',
                     groups: np.ndarray | None = None) -> list[np.ndarray]:
  """Deterministic stratified split of positions 0..N-1.

  Args:
    labels: class of each position.
    seed: random_state for scikit-learn.
    holdout_fractions: fractions of N for the held-out parts; (0.1, 0.1)
      gives [train 80%, validation 10%, test 10%], (0.1,) gives [90%, 10%].
    hint: what the error tells the user to do when a class is too rare.
    groups: with these, positions of one group land in one part.

  Returns:
    Sorted position arrays: the remainder first, then one per fraction.
  """
  labels = np.asarray(labels)
  if groups is not None:
    return _grouped_split(labels, seed, holdout_fractions, hint, groups)
  remaining = np.arange(len(labels))
  parts = []
  remaining_fraction = 1.0
  for fraction in holdout_fractions:
    try:
      keep, held_out = model_selection.train_test_split(
          remaining, test_size=fraction / remaining_fraction,
          stratify=labels[remaining], random_state=seed)
    except ValueError as e:
      smallest = collections.Counter(labels.tolist()).most_common()[-3:]
      raise errors.UserError(f'Stratified split failed: {e} Smallest '
                             f'classes: {smallest}; {hint}') from e
    parts.append(np.sort(held_out))
    remaining = keep
    remaining_fraction -= fraction
  return [np.sort(remaining)] + parts


def _grouped_split(labels: np.ndarray, seed: int,
                   holdout_fractions: Sequence[float], hint: str,
                   groups: np.ndarray) -> list[np.ndarray]:
  """stratified_split of the groups (each labelled by its first row), each
  group's rows then following it: fractions count groups, not rows."""
  ids, first = np.unique(groups, return_index=True)
  parts = stratified_split(labels[first], seed, holdout_fractions, hint)
  rows = [np.flatnonzero(np.isin(groups, ids[part])) for part in parts]
  unseen = sorted(set(labels.tolist()) - set(labels[rows[0]].tolist()))
  if unseen:  # Only a group's later rows had these labels.
    raise errors.UserError(f'Stratified split failed: no training row of '
                           f'class(es) {unseen}; {hint}')
  return rows


def _table_examples(table: LabeledTable, label_ids: Mapping[str, int],
                    label_names: tuple[str, ...]) -> examples_lib.Examples:
  return examples_lib.Examples(
      text_a=table.texts[0],
      text_b=table.texts[1] if len(table.texts) > 1 else None,
      labels=(None if table.labels is None else
              np.asarray([label_ids[l] for l in table.labels], np.int32)),
      index=table.rows,
      label_names=label_names)


def default_extra_dir() -> str | None:
  """$ADAPTER_BERT_EXTRA_DIR, else `<repo>/../shared/data/extra` if present."""
  if os.environ.get(ENV_VAR):
    return os.environ[ENV_VAR]
  repo = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
  shared = os.path.join(os.path.dirname(repo), 'shared', 'data', 'extra')
  return shared if os.path.isdir(shared) else None


def _file_path(dataset: ExtraDataset, key: str, data_dir: str | None) -> str:
  if os.path.isabs(dataset.files[key]):  # A user's own file.
    path = dataset.files[key]
    if not os.path.isfile(path):
      raise errors.UserError(f'{path} not found (the {key} file of '
                             f'{dataset.name}).')
    return path
  if data_dir is None:
    raise FileNotFoundError(
        f'No directory for the extra datasets: pass data_dir or set {ENV_VAR} '
        f'(expected file for {dataset.name!r}: {dataset.files[key]}).')
  path = os.path.join(data_dir, dataset.files[key])
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'{dataset.name}: {path} not found. Put the file '
        f'{os.path.basename(path)} (published at {dataset.source}) at '
        f'{dataset.files[key]} under {data_dir}.')
  return path


def read_extra_tables(dataset: ExtraDataset | str,
                      data_dir: str | None = None) -> dict[str, LabeledTable]:
  """Reads every file of a dataset ('all'; 'train', 'test'; ...).

  A 'test' file of a user's own data may lack the label column (read as
  unlabelled: predicted, not scored).
  """
  if isinstance(dataset, str):
    dataset = get_extra_dataset(dataset)
  data_dir = data_dir or default_extra_dir()
  return {key: read_labeled_table(
      _file_path(dataset, key, data_dir), dataset,
      labeled=None if key == 'test' and not dataset.source else True)
          for key in dataset.files}


@dataclasses.dataclass
class ExtraData:
  """A dataset's splits and what was done to get them.

  Attributes:
    splits: 'train', 'validation' and (when there is one) 'test' Examples.
    notes: for results.json: 'summary' (one line, printed at the start of a
      run), 'split' (how the splits were made), 'files', 'rows' per split and
      'dropped' (per file: reason or raw label -> rows dropped).
  """
  splits: dict[str, examples_lib.Examples]
  notes: dict[str, Any]


def _split_by_column(table: LabeledTable,
                     column: str) -> dict[str, LabeledTable]:
  """The rows of each split a split column names, in file order."""
  names = [SPLIT_NAMES.get(g.strip().lower()) for g in table.groups]
  unknown = sorted({g for g, n in zip(table.groups, names) if n is None})
  if unknown:
    raise errors.UserError(
        f'{table.path}: split column {column!r} has value(s) '
        f'{unknown[:5]} that name no split; use train, dev (or validation) '
        'and test.')
  names = np.asarray(names)
  parts = {split: table.select(np.flatnonzero(names == split))
           for split in ('train', 'validation', 'test')
           if (names == split).any()}
  for split in ('train', 'validation'):
    if split not in parts:
      raise errors.UserError(f'{table.path}: no row has {column}='
                             f'{"train" if split == "train" else "dev"}; a '
                             'split column must give train and dev rows.')
  return parts


def _check_classes(parts: Mapping[str, LabeledTable],
                   sources: Mapping[str, str], dataset: ExtraDataset) -> None:
  """At least two classes to train on; no dev/test class unseen in train."""
  train = collections.Counter(parts['train'].labels)
  if len(train) < 2:
    found = (f'only class {next(iter(train))!r}' if train
             else 'no row with a usable label and text')
    raise errors.UserError(
        f'{sources["train"]}: {found} in the training data (label column '
        f'{dataset.label_column!r}); a classifier needs at least two '
        'classes.')
  for split, table in parts.items():
    if split == 'train' or table.labels is None:
      continue
    unseen = collections.Counter(l for l in table.labels if l not in train)
    if unseen:
      label, rows = unseen.most_common(1)[0]
      raise errors.UserError(
          f'{sources[split]}: label {label!r} (in {rows} row(s)'
          + (f'; {len(unseen)} unseen labels in all' if len(unseen) > 1
             else '')
          + f') does not occur in the training data ({sources["train"]}); '
          'a model can only predict classes it was trained on.')


def _drop_summary(dropped: collections.Counter) -> str:
  reasons = []
  for reason in (MISSING_FIELD, EMPTY_TEXT):
    if dropped.get(reason):
      reasons.append(f'{dropped[reason]} {reason.strip("<>")}')
  labels = collections.Counter({k: v for k, v in dropped.items()
                                if k not in (MISSING_FIELD, EMPTY_TEXT)})
  if labels:
    shown = ', '.join(f'{k!r}: {v}' for k, v in labels.most_common(5))
    more = ', ...' if len(labels) > 5 else ''
    reasons.append(f'{sum(labels.values())} unusable label ({shown}{more})')
  return '; '.join(reasons)


def load_extra_data(dataset: ExtraDataset | str, data_dir: str | None = None,
                    seed: int = DEFAULT_SEED) -> ExtraData:
  """Loads a dataset's splits, checks its classes and describes both.

  Files 'all': a stratified 80/10/10 split with `seed`, or the dataset's
  split column. Files 'train' and 'test': test as given, validation a
  stratified 10% of train. Files 'train', 'validation' (and 'test'): as
  given. Class ids follow the sorted class names of train
  (`Examples.label_names`), shared by all splits; `Examples.index` holds each
  row's data-row number in its file.

  Args:
    dataset: a registry name (see `EXTRA_DATASETS`) or an `ExtraDataset`
      (`csv_dataset` for a user's own files).
    data_dir: directory holding relative files; default `default_extra_dir()`.
    seed: split seed; the default reproduces this repository's splits.

  Raises:
    UserError: fewer than two classes in train, a dev/test label unseen in
      train, bad split values or a class too rare to split.
  """
  if isinstance(dataset, str):
    dataset = get_extra_dataset(dataset)
  tables = read_extra_tables(dataset, data_dir)
  files = {key: t.path for key, t in tables.items()}
  for key, table in tables.items():
    logging.info('%s/%s: kept %d rows, dropped %d %s', dataset.name, key,
                 len(table), sum(table.dropped.values()), dict(table.dropped))
  hint = ('drop or merge rare classes with the dataset\'s label_map.'
          if dataset.source else
          'merge or remove the rare classes in the file, or give your own '
          'split (train_path and dev_path, or split_column).')
  keys = set(tables)
  if keys == {'all'} and dataset.split_column:
    parts = _split_by_column(tables['all'], dataset.split_column)
    sources = {s: f'{files["all"]} (rows with {dataset.split_column}='
                  f'{"dev" if s == "validation" else s})' for s in parts}
    how = f'as given by column {dataset.split_column!r} of {files["all"]}'
  elif keys == {'all'}:
    parts = {'train': tables['all']}
    sources = {'train': files['all']}
    how = (f'stratified 80/10/10 of {files["all"]} (seed {seed}), a text\'s '
           'copies in one split')
  elif keys == {'train', 'test'}:
    parts = {'train': tables['train'], 'test': tables['test']}
    sources = dict(files)
    how = (f'test file as given; validation a stratified 10% of train '
           f'(seed {seed}), a text\'s copies in one split')
  elif keys in ({'train', 'validation'}, {'train', 'validation', 'test'}):
    parts, sources, how = dict(tables), dict(files), 'files as given'
  else:
    raise ValueError(f'{dataset.name}: files must be {{"all"}}, {{"train", '
                     f'"test"}} or {{"train", "validation"[, "test"]}}, got '
                     f'{sorted(tables)}.')
  _check_classes(parts, sources, dataset)
  label_names = tuple(sorted(set(parts['train'].labels)))
  label_ids = {name: i for i, name in enumerate(label_names)}

  if keys == {'all'} and not dataset.split_column:
    table = tables['all']
    pieces = stratified_split(table.labels, seed, (0.1, 0.1), hint,
                              groups=text_groups(table.texts))
    full = _table_examples(table, label_ids, label_names)
    splits = {split: full.select(rows) for split, rows
              in zip(('train', 'validation', 'test'), pieces)}
  elif keys == {'train', 'test'}:
    train = _table_examples(tables['train'], label_ids, label_names)
    train_rows, validation_rows = stratified_split(
        tables['train'].labels, seed, (0.1,), hint,
        groups=text_groups(tables['train'].texts))
    splits = {
        'train': train.select(train_rows),
        'validation': train.select(validation_rows),
        'test': _table_examples(tables['test'], label_ids, label_names),
    }
  else:
    splits = {split: _table_examples(table, label_ids, label_names)
              for split, table in parts.items()}

  rows = {split: len(examples) for split, examples in splits.items()}
  dropped = {key: dict(t.dropped) for key, t in tables.items() if t.dropped}
  summary = [f'split {how}; ' + ', '.join(f'{s} {n}' for s, n in rows.items())
             + f' rows; {len(label_names)} classes']
  for key, table in tables.items():
    if table.dropped:
      summary.append(f'dropped {sum(table.dropped.values())} rows of '
                     f'{table.path}: {_drop_summary(table.dropped)}')
  if 'test' in splits and splits['test'].labels is None:
    summary.append('test file unlabelled: predicted, not scored')
  notes = dict(summary='; '.join(summary), split=how, files=files, rows=rows,
               dropped=dropped, classes=list(label_names))
  return ExtraData(splits, notes)


def load_extra_splits(dataset: ExtraDataset | str,
                      data_dir: str | None = None,
                      seed: int = DEFAULT_SEED
                      ) -> dict[str, examples_lib.Examples]:
  """`load_extra_data(...).splits`: {'train', 'validation'[, 'test']}."""
  return load_extra_data(dataset, data_dir, seed).splits


def csv_dataset(spec: Mapping[str, Any]) -> ExtraDataset:
  """The `ExtraDataset` of a user's own files (config key `csv`).

  Args:
    spec: `path` (one file, split 80/10/10 or by `split_column`), or
      `train_path` and `dev_path` (and optionally `test_path`) used as given;
      `text_columns` (comma-separated, one or two), `label_column`,
      `delimiter`, `encoding`, `format` (auto | csv | tsv | jsonl).
  """
  get = lambda key, default='': spec.get(key, default) or default
  path, train_path = get('path'), get('train_path')
  dev_path, test_path = get('dev_path'), get('test_path')
  split_column = get('split_column')
  if path and (train_path or dev_path or test_path):
    raise errors.UserError('task=csv: give csv.path (one file) or '
                           'csv.train_path and csv.dev_path, not both.')
  if path:
    files = {'all': os.path.abspath(path)}
  elif train_path and dev_path:
    files = {'train': os.path.abspath(train_path),
             'validation': os.path.abspath(dev_path)}
    if test_path:
      files['test'] = os.path.abspath(test_path)
  else:
    raise errors.UserError('task=csv needs csv.path, or csv.train_path and '
                           'csv.dev_path (csv.test_path optional).')
  if split_column and not path:
    raise errors.UserError('csv.split_column splits the one file csv.path; '
                           'with train_path/dev_path the files are the split.')
  first = files.get('all') or files['train']
  return ExtraDataset(
      name=os.path.basename(first), files=files,
      text_columns=tuple(c.strip() for c in get('text_columns', 'text')
                         .split(',') if c.strip()),
      label_column=get('label_column', 'label'),
      delimiter=get('delimiter', ','), encoding=get('encoding', 'utf-8'),
      file_format=get('format', 'auto'), split_column=split_column or None)


def _crowdflower(slug: str) -> str:
  return (f'CrowdFlower "Data for Everyone" (https://data.world/crowdflower/'
          f'{slug})')


_PROGRESSIVE_FILE = 'progressive/progressive-tweet-sentiment.csv'
_PROGRESSIVE_Q1 = ('q1_from_reading_the_tweet_which_of_the_options_below_is_'
                   'most_likely_to_be_true_about_the_stance_or_outlook_of_the_'
                   'tweeter_towards_the_target')
_PROGRESSIVE_Q2 = ('q2_which_of_the_options_below_is_true_about_the_opinion_'
                   'in_the_tweet')
_POLITICAL_FILE = 'political_social_media/political_social_media.csv'

_DATASETS = (
    ExtraDataset(
        name='20_newsgroups',
        files={'train': '20_newsgroups/20news-bydate-train.csv',
               'test': '20_newsgroups/20news-bydate-test.csv'},
        text_columns=('text',), label_column='label',
        source=('http://qwone.com/~jason/20Newsgroups/ (20news-bydate), as '
                'CSV with columns id,label,text'),
        notes=('The paper pooled all 18,846 posts into its own 80/10/10 '
               'split; here the by-date test set is kept and validation is '
               '10% of train.')),
    ExtraDataset(
        name='crowdflower_airline',
        files={'all': 'airline/Tweets.csv'},
        text_columns=('text',), label_column='airline_sentiment',
        source=('Twitter US Airline Sentiment, https://www.kaggle.com/'
                'datasets/crowdflower/twitter-airline-sentiment (Tweets.csv)'),
        notes='Not verified here (file absent); 14,640 rows, 3 classes.'),
    ExtraDataset(
        name='corporate_messaging',
        files={'all': 'corporate_messaging/Corporate-messaging-DFE.csv'},
        text_columns=('text',), label_column='category', encoding='latin-1',
        source=_crowdflower('corporate-messaging')),
    ExtraDataset(
        name='disasters',
        files={'all': 'disasters/socialmedia-disaster-tweets-DFE.csv'},
        text_columns=('text',), label_column='choose_one', encoding='latin-1',
        label_map={'Relevant': 'relevant', 'Not Relevant': 'not_relevant'},
        source=_crowdflower('disasters-on-social-media'),
        notes="The 16 \"Can't Decide\" rows are dropped (2 classes)."),
    ExtraDataset(
        name='economic_news',
        files={'all': 'economic_news/Full-Economic-News-DFE-839861.csv'},
        text_columns=('text',), label_column='relevance', encoding='latin-1',
        label_map={'yes': 'yes', 'no': 'no'},
        source=_crowdflower('economic-news-article-tone'),
        notes=('Not verified here (file absent). Relevance yes/no; "not sure" '
               'dropped (2 classes).')),
    ExtraDataset(
        name='emotion',
        files={'all': 'emotion/text_emotion.csv'},
        text_columns=('content',), label_column='sentiment',
        encoding_errors='replace',
        source=_crowdflower('sentiment-analysis-in-text'),
        notes='Not verified here (file absent); 40,000 rows, 13 classes.'),
    ExtraDataset(
        name='global_warming',
        files={'all': 'global_warming/1377884570_tweet_global_warming.csv'},
        text_columns=('tweet',), label_column='existence', encoding='cp1252',
        label_map={'Y': 'yes', 'Yes': 'yes', 'N': 'no', 'No': 'no'},
        source=_crowdflower('global-warming-climate-change'),
        notes=('Y/Yes -> yes, N/No -> no; NA, N/A and empty dropped: the '
               "paper lists 2 classes and 4,225 examples, exactly the yes+no "
               'rows.')),
    ExtraDataset(
        name='political_audience',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='audience', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 2 classes.'),
    ExtraDataset(
        name='political_bias',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='bias', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 2 classes.'),
    ExtraDataset(
        name='political_message',
        files={'all': _POLITICAL_FILE},
        text_columns=('text',), label_column='message', encoding='latin-1',
        source=_crowdflower('political-social-media-posts'),
        notes='Not verified here (file absent); 5,000 rows, 9 classes.'),
    ExtraDataset(
        name='primary_emotions',
        files={'all': 'primary_emotions/primary-plutchik-wheel-DFE.csv'},
        text_columns=('sentence',), label_column='emotion',
        source=_crowdflower('primary-emotions-of-statements')),
    ExtraDataset(
        name='progressive_opinion',
        files={'all': _PROGRESSIVE_FILE},
        text_columns=('tweet',), label_column=_PROGRESSIVE_Q2,
        encoding='latin-1', label_pattern=r'([123])\.',
        label_map={'1': 'opinion_about_target', '2': 'opinion_about_other',
                   '3': 'no_opinion'},
        source=_crowdflower('progressive-issues-sentiment-analysis')),
    ExtraDataset(
        name='progressive_stance',
        files={'all': _PROGRESSIVE_FILE},
        text_columns=('tweet',), label_column=_PROGRESSIVE_Q1,
        encoding='latin-1',
        label_pattern='(AGAINST|FOR|NEUTRAL|NONE OF THE ABOVE):',
        label_map={'AGAINST': 'against', 'FOR': 'for', 'NEUTRAL': 'neutral',
                   'NONE OF THE ABOVE': 'none'},
        source=_crowdflower('progressive-issues-sentiment-analysis')),
    ExtraDataset(
        name='us_economic_performance',
        files={'all': 'us_economic_performance/us-economic-newspaper.csv'},
        text_columns=('text',), label_column='positivity',
        label_map={'': 'not_relevant',
                   **{str(i): 'relevant' for i in range(1, 10)}},
        source=_crowdflower('us-economic-performance-based-on-news-articles'),
        notes=('The paper lists 2 classes; the only copy found lacks the '
               'relevance column, so relevance is read off positivity (empty '
               'exactly when an article was judged not relevant).')),
    ExtraDataset(
        name='customer_complaints',
        files={'all': 'customer_complaints/Consumer_Complaints.csv'},
        text_columns=('Consumer complaint narrative',), label_column='Issue',
        source=('CFPB Consumer Complaint Database, https://www.consumerfinance'
                '.gov/data-research/consumer-complaints/ (CSV export)'),
        notes=('Not verified here (file absent). Label assumed to be Issue '
               '(the paper lists 157 classes); rows without a narrative are '
               'dropped.')),
    ExtraDataset(
        name='news_aggregator',
        files={'all': 'news_aggregator/newsCorpora.csv'},
        text_columns=('title',), label_column='category', delimiter='\t',
        quoting=csv.QUOTE_NONE,
        column_names=('id', 'title', 'url', 'publisher', 'category', 'story',
                      'hostname', 'timestamp'),
        label_map={'b': 'business', 't': 'science_and_technology',
                   'e': 'entertainment', 'm': 'health'},
        source=('UCI News Aggregator, https://archive.ics.uci.edu/dataset/359/'
                'news+aggregator (newsCorpora.csv, tab-separated, no header)'),
        notes='Not verified here (file absent); ~422k headlines, 4 classes.'),
    ExtraDataset(
        name='sms_spam',
        files={'all': 'sms_spam/SMSSpamCollection'},
        text_columns=('text',), label_column='label', delimiter='\t',
        quoting=csv.QUOTE_NONE, column_names=('label', 'text'),
        encoding_errors='replace',
        source=('UCI SMS Spam Collection, https://archive.ics.uci.edu/dataset/'
                '228/sms+spam+collection (SMSSpamCollection, tab-separated)'),
        notes='Not verified here (file absent); 5,574 messages, ham/spam.'),
)

EXTRA_DATASETS: Mapping[str, ExtraDataset] = types.MappingProxyType(
    {d.name: d for d in _DATASETS})

# Other spellings of the paper's names ('crowdflower_disasters', ...).
_ALIASES = {
    **{f'crowdflower_{name}': name for name in EXTRA_DATASETS},
    'airline': 'crowdflower_airline',
    'newsgroups': '20_newsgroups',
    'customer_complaint_database': 'customer_complaints',
    'news_aggregator_dataset': 'news_aggregator',
    'sms_spam_collection': 'sms_spam',
}


def get_extra_dataset(name: str) -> ExtraDataset:
  """Looks an entry up by name; case, spaces and '-' are ignored."""
  key = re.sub(r'[\s\-]+', '_', name.strip().lower())
  key = _ALIASES.get(key, key)
  if key not in EXTRA_DATASETS:
    raise ValueError(f'Unknown extra dataset {name!r}; valid names: '
                     f'{", ".join(EXTRA_DATASETS)}.')
  return EXTRA_DATASETS[key]
