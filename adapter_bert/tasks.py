"""A task bundles its examples, head, loss, metrics and prediction files.

The training loop asks the task for these and never branches on a task name:
GLUE, the paper's extra classification sets, a user's CSV and SQuAD are all
tasks. Every task offers (see `Task`):

  build_model(config, backbone_config) -> flax module
  load_features(split, tokenizer, max_length=, cache_dir=) -> Features
  loss(outputs, batch) -> per-example loss [B]
  evaluate(outputs, features) -> metrics ({} for an unlabeled split)
  score(metrics) -> float (best-on-dev selection)
  save_predictions(split, features, outputs, out_dir) -> path
  prediction_summary(outputs, features) -> what the predictions look like
      (class counts; {} if the task has none), for results.json
  describe() -> notes on the data for results.json ({} if none)

where `outputs` is the list, one entry per evaluation batch, of the model's
outputs (any pytree of numpy arrays) for that batch's real rows, in order.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Any, Callable, Mapping, Protocol, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import optax

from adapter_bert import atomic
from adapter_bert import builder
from adapter_bert import data
from adapter_bert import metrics as metrics_lib
from adapter_bert import modeling
from adapter_bert import squad_metrics
from adapter_bert.data import extra as extra_lib
from adapter_bert.data import squad as squad_lib
from adapter_bert.data import tokenization

Outputs = Sequence[Any]  # Per evaluation batch: model outputs of real rows.


@dataclasses.dataclass
class Features:
  """One split, ready for batching and evaluation.

  Attributes:
    arrays: 'input_ids', 'token_type_ids' int32 [N, L] and 'lengths' [N]
      (what data.train_batches / eval_batches read), plus any per-row arrays
      evaluation needs (a span task's offsets and question index).
    labels: training targets: [N] array, dict of [N] arrays, or None.
    examples: the source records (Examples; a list of SquadExample).
  """
  arrays: dict[str, np.ndarray]
  labels: np.ndarray | dict[str, np.ndarray] | None
  examples: Any

  def __len__(self) -> int:
    """Rows (windows for SQuAD): what epochs and steps count."""
    return len(self.arrays['lengths'])


class Task(Protocol):
  """What `train.train_and_evaluate` asks of a task."""
  name: str
  label_names: tuple[str, ...] | None
  eval_splits: tuple[str, ...]
  test_splits: tuple[str, ...]
  head: str  # Model family for artifacts: 'classifier' | 'span'.

  def build_model(self, config: Mapping[str, Any],
                  backbone_config: modeling.BertConfig) -> nn.Module: ...

  def load_features(self, split: str, tokenizer: Any, *, max_length: int,
                    cache_dir: str | None = None) -> Features: ...

  def loss(self, outputs: Any, batch: Mapping[str, Any]) -> jnp.ndarray: ...

  def evaluate(self, outputs: Outputs,
               features: Features) -> dict[str, float]: ...

  def score(self, metrics: Mapping[str, float]) -> float: ...

  def save_predictions(self, split: str, features: Features, outputs: Outputs,
                       out_dir: str) -> str: ...

  def prediction_summary(self, outputs: Outputs,
                         features: Features) -> dict[str, Any]: ...

  def describe(self) -> dict[str, Any]: ...


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
    notes: () -> what the data is (files, split, dropped rows), or {}.
  """
  name: str
  label_names: tuple[str, ...] | None
  metric_names: tuple[str, ...]
  eval_splits: tuple[str, ...]
  test_splits: tuple[str, ...]
  load_split: Callable[[str], data.Examples]
  write_submission: Callable[..., str] | None = None
  notes: Callable[[], dict[str, Any]] = dict
  head = 'classifier'
  # One vector per example: batches may be packed (data/packing.py).
  supports_packing = True

  @property
  def num_outputs(self) -> int:
    return 1 if self.label_names is None else len(self.label_names)

  def build_model(self, config: Mapping[str, Any],
                  backbone_config: modeling.BertConfig) -> nn.Module:
    return builder.build_model(config, backbone_config, self.num_outputs)

  def load_features(self, split: str, tokenizer: Any, *, max_length: int,
                    cache_dir: str | None = None) -> Features:
    examples = self.load_split(split)
    arrays = tokenization.tokenize_examples(tokenizer, examples, max_length,
                                            cache_dir=cache_dir)
    return Features(arrays, examples.labels, examples)

  def loss(self, outputs: jnp.ndarray,
           batch: Mapping[str, Any]) -> jnp.ndarray:
    """Per-example loss: cross-entropy, or squared error for regression."""
    labels = batch['labels']
    if self.label_names is None:
      return jnp.square(outputs[:, 0] - labels)
    return optax.softmax_cross_entropy_with_integer_labels(outputs, labels)

  def predictions(self, logits: np.ndarray) -> np.ndarray:
    if self.label_names is None:
      return np.asarray(logits[:, 0], np.float32)
    return np.asarray(logits).argmax(-1).astype(np.int32)

  def metrics(self, predictions: np.ndarray,
              labels: np.ndarray) -> dict[str, float]:
    return metrics_lib.compute_metrics(self.metric_names, predictions, labels)

  def evaluate(self, outputs: Outputs, features: Features) -> dict[str, float]:
    if features.labels is None:
      return {}
    return self.metrics(self.predictions(np.concatenate(outputs)),
                        features.labels)

  @staticmethod
  def score(metrics: Mapping[str, float]) -> float:
    """One number per evaluation: the mean of the task's metrics (as GLUE)."""
    return float(np.mean(list(metrics.values())))

  def save_predictions(self, split: str, features: Features, outputs: Outputs,
                       out_dir: str) -> str:
    examples = features.examples
    predictions = self.predictions(np.concatenate(outputs))
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

  def prediction_summary(self, outputs: Outputs,
                         features: Features) -> dict[str, Any]:
    """Predicted and gold counts per class (std for regression).

    A run that predicts one class for every example scores the majority
    rate (MCC 0); these counts say so directly rather than by inference.
    """
    predictions = self.predictions(np.concatenate(outputs))
    if self.label_names is None:
      summary = dict(prediction_std=float(np.std(predictions)))
      if features.labels is not None:
        summary['gold_std'] = float(np.std(features.labels))
      return summary
    def counts(ids):
      found = np.bincount(np.asarray(ids), minlength=len(self.label_names))
      return {name: int(n) for name, n in zip(self.label_names, found)}
    summary = dict(predicted=counts(predictions))
    if features.labels is not None:
      summary['gold'] = counts(features.labels)
    return summary

  def describe(self) -> dict[str, Any]:
    return self.notes()


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
  loaded = extra_lib.load_extra_data(dataset, data_dir or None, seed)
  return ClassificationTask(
      name=name, label_names=loaded.splits['train'].label_names,
      metric_names=('accuracy',), eval_splits=('validation',),
      test_splits=tuple(s for s in ('test',) if s in loaded.splits),
      load_split=loaded.splits.__getitem__, notes=lambda: loaded.notes)


def _stack(outputs: Sequence[np.ndarray]) -> np.ndarray:
  """Per-batch [b, l_i] token scores -> [N, max l_i], padded with -inf."""
  width = max(o.shape[1] for o in outputs)
  return np.concatenate([
      np.pad(np.asarray(o, np.float32), ((0, 0), (0, width - o.shape[1])),
             constant_values=-np.inf) for o in outputs])


@dataclasses.dataclass(frozen=True)
class SpanTask:
  """Extractive question answering (SQuAD v1.1): an answer span per question.

  Rows are token windows of a question and its context (data/squad.py); the
  head scores each token as the answer's start and end; the loss is the mean
  of the two cross-entropies; evaluation picks the best span over a
  question's windows and applies the official EM / F1 (x100).

  Attributes:
    name: 'squad'.
    load_examples: split ('train' | 'validation') -> list of SquadExample.
    doc_stride: context tokens shared by consecutive windows.
    max_query_length: questions are cut to this many tokens.
    max_answer_length: longest predicted answer, in tokens.
    n_best: start and end candidates per window.
    notes: () -> what the data is (files, protocol, held-out articles).
  """
  name: str
  load_examples: Callable[[str], list[squad_lib.SquadExample]]
  doc_stride: int = 128
  max_query_length: int = 64
  max_answer_length: int = 30
  n_best: int = 20
  notes: Callable[[], dict[str, Any]] = dict
  label_names = None
  head = 'span'
  eval_splits = ('validation',)
  # The official answer file ({id: text}) of the evaluated split.
  test_splits = ('validation',)

  def build_model(self, config: Mapping[str, Any],
                  backbone_config: modeling.BertConfig) -> nn.Module:
    return builder.build_span_model(config, backbone_config)

  def load_features(self, split: str, tokenizer: Any, *, max_length: int,
                    cache_dir: str | None = None) -> Features:
    examples = self.load_examples(split)
    arrays = squad_lib.make_windows(
        tokenizer, examples, max_length, self.doc_stride,
        self.max_query_length, cache_dir=cache_dir)
    labels = {k: arrays.pop(k) for k in ('start_positions', 'end_positions')}
    return Features(arrays, labels, examples)

  def loss(self, outputs: Mapping[str, jnp.ndarray],
           batch: Mapping[str, Any]) -> jnp.ndarray:
    """Mean of the start and end cross-entropies, per window."""
    labels = batch['labels']
    start = optax.softmax_cross_entropy_with_integer_labels(
        outputs['start_logits'], labels['start_positions'])
    end = optax.softmax_cross_entropy_with_integer_labels(
        outputs['end_logits'], labels['end_positions'])
    return (start + end) / 2

  def answers(self, outputs: Outputs, features: Features) -> dict[str, str]:
    """{question id: predicted answer text}."""
    return squad_lib.best_answers(
        _stack([o['start_logits'] for o in outputs]),
        _stack([o['end_logits'] for o in outputs]),
        features.arrays['offsets'], features.arrays['example_index'],
        features.examples, n_best=self.n_best,
        max_answer_length=self.max_answer_length)

  def evaluate(self, outputs: Outputs, features: Features) -> dict[str, float]:
    gold = {e.id: e.answer_texts for e in features.examples if e.answer_texts}
    if not gold:
      return {}
    return squad_metrics.evaluate(gold, self.answers(outputs, features))

  @staticmethod
  def score(metrics: Mapping[str, float]) -> float:
    """F1, the number the paper reports for SQuAD."""
    return float(metrics['f1'])

  def save_predictions(self, split: str, features: Features, outputs: Outputs,
                       out_dir: str) -> str:
    """The official prediction file: `{question id: answer text}` JSON."""
    path = os.path.join(out_dir, f'{split}.json')
    with atomic.atomic_open(path, 'w', encoding='utf-8') as f:
      json.dump(self.answers(outputs, features), f)
    return path

  def prediction_summary(self, outputs: Outputs,
                         features: Features) -> dict[str, Any]:
    """Nothing to count: answers are spans."""
    del outputs, features
    return {}

  def describe(self) -> dict[str, Any]:
    return self.notes()


# Printed in results.json and the log of every held-out run.
HOLDOUT_WARNING = (
    'NOT the paper\'s protocol: trained on some articles of one file and '
    'evaluated on its last {k} articles (held out); the paper trains on SQuAD '
    'v1.1 train (~88k questions) and evaluates on the dev set, so these '
    'numbers are not comparable with its F1.')


def _squad_task(spec, data_source: str, data_dir: str) -> SpanTask:
  """SQuAD from official JSON files or TFDS, optionally an article holdout."""
  holdout = int(spec.holdout_articles)
  if data_source == 'tfds':
    sources = {'train': 'tfds squad/v1.1 train',
               'validation': 'tfds squad/v1.1 validation'}
    read = lambda split: squad_lib.load_tfds(split, data_dir or None)
  elif data_source == 'json':
    sources = {'train': spec.train_file, 'validation': spec.eval_file}
    if not spec.train_file:
      raise ValueError('task squad with data_source json needs '
                       'config.squad.train_file (official-layout JSON), or '
                       'data_source=tfds.')
    if holdout and spec.eval_file:
      raise ValueError('config.squad.holdout_articles evaluates on held-out '
                       'articles of train_file; leave squad.eval_file empty.')
    if not holdout and not spec.eval_file:
      raise ValueError('Set config.squad.eval_file, or holdout_articles > 0 '
                       'to evaluate on held-out articles of train_file.')
    read = lambda split: squad_lib.read_json(sources[split])
  else:
    raise ValueError(f"Unknown data_source {data_source!r} for squad; use "
                     "'json' (squad.train_file / eval_file) or 'tfds'.")
  cache = {}

  def load(split):
    if split not in sources:
      raise ValueError(f'SQuAD has splits {sorted(sources)}, not {split!r}.')
    if split not in cache:
      if holdout:
        cache['train'], cache['validation'] = squad_lib.holdout_split(
            read('train'), holdout)
      else:
        cache[split] = read(split)
    return cache[split]

  def notes():
    if not holdout:
      return dict(summary=f"train {sources['train']}, evaluate "
                  f"{sources['validation']} (the paper's protocol when these "
                  'are SQuAD v1.1 train and dev)', **{
                      f'{k}_source': v for k, v in sources.items()})
    train, held_out = load('train'), load('validation')
    return dict(
        summary=HOLDOUT_WARNING.format(k=holdout),
        source=sources['train'], holdout_articles=holdout,
        train_articles=squad_lib.article_titles(train),
        eval_articles=squad_lib.article_titles(held_out),
        train_questions=len(train), eval_questions=len(held_out))

  return SpanTask(
      name='squad', load_examples=load, doc_stride=int(spec.doc_stride),
      max_query_length=int(spec.max_query_length),
      max_answer_length=int(spec.max_answer_length), n_best=int(spec.n_best),
      notes=notes)


def from_config(config: Mapping[str, Any]) -> Task:
  """The task a training config names (see configs/common.py, squad.py)."""
  return get_task(config['task'], data_dir=config['data_dir'],
                  data_source=config['data_source'],
                  csv_spec=config.get('csv'), split_seed=config['split_seed'],
                  squad_spec=config.get('squad'))


def get_task(task: str, *, data_dir: str = '', data_source: str = 'tsv',
             csv_spec=None, split_seed: int = 0, squad_spec=None) -> Task:
  """Builds a task from its name: a GLUE name, `extra:<name>`, `csv`, `squad`.

  Args:
    task: the config's task string.
    data_dir: GLUE directory or extra-data directory ('' = defaults).
    data_source: 'tsv' (GLUE directory) or 'tfds' for GLUE tasks.
    csv_spec: for task 'csv': mapping with path (or train_path, dev_path,
      test_path), split_column, text_columns (comma-separated), label_column,
      delimiter, encoding, format (see extra.csv_dataset).
    split_seed: seed of the 80/10/10 split of unsplit tables.
    squad_spec: for task 'squad': object with train_file, eval_file,
      holdout_articles, doc_stride, max_query_length, max_answer_length and
      n_best (configs/squad.py); data_source is 'json' or 'tfds'.
  """
  if task == 'squad':
    if squad_spec is None:
      raise ValueError("task='squad' needs config.squad (configs/squad.py).")
    return _squad_task(squad_spec, data_source, data_dir)
  if task.startswith('extra:'):
    return _table_task(task, extra_lib.get_extra_dataset(task[6:]), data_dir,
                       split_seed)
  if task == 'csv':
    if csv_spec is None:
      raise ValueError("task='csv' needs config.csv (configs/common.py).")
    return _table_task(task, extra_lib.csv_dataset(csv_spec), '', split_seed)
  try:
    data.get_task(task)
  except ValueError as e:
    raise ValueError(f'{e} Other tasks: extra:<name> (one of '
                     f'{sorted(extra_lib.EXTRA_DATASETS)}), csv or '
                     'squad.') from None
  return _glue_task(task, data_dir, data_source)
