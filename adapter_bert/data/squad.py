"""SQuAD v1.1: records, sliding token windows, and token spans back to text.

Sources give the same records (`SquadExample`, one per question):
  read_json(path)                   a file in the official JSON layout
  load_tfds(split, data_dir=None)   TFDS `squad/v1.1` ('train' | 'validation')
  holdout_split(examples, k)        the last k articles (in load order) held
                                    out from one file: NOT the paper's protocol

`make_windows` tokenizes question-context pairs with the backbone's fast
tokenizer into overlapping windows ([CLS] question [SEP] context-piece [SEP]),
keeps each token's character span in the context, and labels each window with
the token span of the first gold answer, or [CLS] (index 0) when the answer
is not wholly inside the window. `best_answers` inverts this: the best-scoring
valid span over all windows of a question, cut out of the context by offsets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from adapter_bert import atomic
from adapter_bert.data import tokenization

# Bump when the window arrays or their meaning change (invalidates caches).
_FORMAT_VERSION = 'squad-windows-v1'
# Offsets of tokens outside the context (question, special tokens, padding).
NOT_CONTEXT = -1


@dataclasses.dataclass(frozen=True)
class SquadExample:
  """One question: its article, paragraph and gold answers (character spans)."""
  id: str
  title: str
  context: str
  question: str
  answer_texts: tuple[str, ...]
  answer_starts: tuple[int, ...]


def examples_from_json(dataset: Sequence[Mapping[str, Any]]
                       ) -> list[SquadExample]:
  """Records of an official JSON's `data` list, in file order."""
  return [
      SquadExample(
          id=qa['id'], title=article['title'], context=paragraph['context'],
          question=qa['question'],
          answer_texts=tuple(a['text'] for a in qa['answers']),
          answer_starts=tuple(int(a['answer_start']) for a in qa['answers']))
      for article in dataset for paragraph in article['paragraphs']
      for qa in paragraph['qas']]


def read_json(path: str) -> list[SquadExample]:
  """Reads a file in the official layout (`{"version", "data": [...]}`)."""
  with open(path, encoding='utf-8') as f:
    return examples_from_json(json.load(f)['data'])


def _as_text(value: Any) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def examples_from_records(records: Iterable[Mapping[str, Any]]
                          ) -> list[SquadExample]:
  """Maps TFDS `squad` records (bytes or str fields) to `SquadExample`s."""
  return [
      SquadExample(
          id=_as_text(r['id']), title=_as_text(r['title']),
          context=_as_text(r['context']), question=_as_text(r['question']),
          answer_texts=tuple(_as_text(t) for t in r['answers']['text']),
          answer_starts=tuple(int(s) for s in r['answers']['answer_start']))
      for r in records]


def load_tfds(split: str, data_dir: str | None = None) -> list[SquadExample]:
  """TFDS `squad/v1.1` ('train': 87,599 questions; 'validation': 10,570)."""
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'SQuAD from TFDS needs tensorflow and tensorflow-datasets; or read '
        'the official JSON files (config squad.train_file / eval_file).') from e
  try:
    tf.config.set_visible_devices([], 'GPU')  # Leave accelerators to JAX.
  except RuntimeError:
    pass
  ds = tfds.load('squad/v1.1', split=split, data_dir=data_dir,
                 shuffle_files=False)
  return examples_from_records(tfds.as_numpy(ds))


def article_titles(examples: Sequence[SquadExample]) -> list[str]:
  """Article titles in order of first appearance."""
  return list(dict.fromkeys(e.title for e in examples))


def holdout_split(examples: Sequence[SquadExample], k: int
                  ) -> tuple[list[SquadExample], list[SquadExample]]:
  """(train, held out): the last `k` articles, in load order, are held out.

  For runs without the official train set: train on some articles of one
  file, evaluate on the others. This is NOT the paper's protocol (train on
  SQuAD train, ~88k questions; evaluate on the dev set), so its numbers are
  not comparable with the paper's.
  """
  titles = article_titles(examples)
  if not 0 < k < len(titles):
    raise ValueError(f'holdout_articles={k} must lie in 1..{len(titles) - 1} '
                     f'(the data has {len(titles)} articles).')
  held_out = set(titles[-k:])
  return ([e for e in examples if e.title not in held_out],
          [e for e in examples if e.title in held_out])


def token_span(offsets: np.ndarray, start_char: int,
               end_char: int) -> tuple[int, int] | None:
  """Tokens [s, e] of one window covering context characters [start, end).

  Args:
    offsets: [L, 2] character spans of the window's tokens, NOT_CONTEXT for
      tokens outside the context.
    start_char: first character of the answer.
    end_char: one past its last character.

  Returns:
    (s, e), or None when the answer is not wholly inside the window.
  """
  context = np.flatnonzero(offsets[:, 0] != NOT_CONTEXT)
  if (not context.size or offsets[context[0], 0] > start_char
      or offsets[context[-1], 1] < end_char):
    return None
  starts, ends = offsets[context, 0], offsets[context, 1]
  s = context[np.flatnonzero(starts <= start_char)[-1]]
  e = context[np.flatnonzero(ends >= end_char)[0]]
  return int(s), int(e)


def _truncate_questions(tokenizer: Any, questions: list[str],
                        max_query_length: int) -> list[str]:
  """Cuts each question after its first `max_query_length` tokens (BERT's)."""
  encoded = tokenizer(questions, add_special_tokens=False, truncation=True,
                      max_length=max_query_length,
                      return_offsets_mapping=True)
  return [q[:offsets[-1][1]] if len(offsets) == max_query_length else q
          for q, offsets in zip(questions, encoded['offset_mapping'])]


def _cache_key(tokenizer: Any, examples: Sequence[SquadExample],
               *settings: int) -> str:
  digest = hashlib.sha256()
  for part in (_FORMAT_VERSION, tokenization.tokenizer_fingerprint(tokenizer),
               json.dumps(settings)):
    digest.update(f'{part}|'.encode())
  for e in examples:
    blob = json.dumps([e.question, e.context, e.answer_texts, e.answer_starts],
                      ensure_ascii=False).encode('utf-8')
    digest.update(f'{len(blob)}:'.encode())
    digest.update(blob)
  return digest.hexdigest()


def make_windows(tokenizer: Any, examples: Sequence[SquadExample],
                 max_length: int = 384, doc_stride: int = 128,
                 max_query_length: int = 64,
                 cache_dir: str | None = None) -> dict[str, np.ndarray]:
  """Tokenizes questions with their contexts into overlapping windows.

  `doc_stride` is passed to the tokenizer as `stride`: the number of context
  tokens consecutive windows share (Hugging Face's meaning; BERT's
  run_squad.py calls the distance between window starts doc_stride).

  Args:
    tokenizer: the backbone's fast (Rust) tokenizer.
    examples: the questions.
    max_length: tokens per window, special tokens included.
    doc_stride: context tokens shared by consecutive windows.
    max_query_length: questions are cut to this many tokens.
    cache_dir: if set, the arrays are cached there as `<sha256>.npz`, keyed
      by the tokenizer, the settings and the questions, contexts and answers.

  Returns:
    Per window (F rows): 'input_ids', 'token_type_ids' int32 [F, max_length]
    (0-padded), 'lengths' int32 [F]; 'offsets' int32 [F, max_length, 2]
    (character span in the context, NOT_CONTEXT elsewhere); 'example_index'
    int32 [F] (the window's question); 'start_positions', 'end_positions'
    int32 [F], the first gold answer's tokens, 0 ([CLS]) if not in the window.
  """
  if not examples:
    raise ValueError('No SQuAD examples to tokenize.')
  if doc_stride + max_query_length + 3 >= max_length:
    # Else a long question leaves no new context tokens (the tokenizer panics).
    raise ValueError(
        f'doc_stride ({doc_stride}) + max_query_length ({max_query_length}) '
        f'+ 3 special tokens must be below max_length ({max_length}).')
  path = None
  if cache_dir:
    key = _cache_key(tokenizer, examples, max_length, doc_stride,
                     max_query_length)
    path = os.path.join(cache_dir, key + '.npz')
    try:
      with np.load(path) as cached:
        return {name: cached[name] for name in cached.files}
    except FileNotFoundError:
      pass
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
      logging.warning('Ignoring unreadable window cache %s (%s).', path, e)
  arrays = _make_windows(tokenizer, examples, max_length, doc_stride,
                         max_query_length)
  if path is not None:
    with atomic.atomic_open(path, 'wb') as f:
      np.savez(f, **arrays)
  return arrays


def _make_windows(tokenizer: Any, examples: Sequence[SquadExample],
                  max_length: int, doc_stride: int,
                  max_query_length: int) -> dict[str, np.ndarray]:
  questions = _truncate_questions(
      tokenizer, [e.question.lstrip() for e in examples], max_query_length)
  encoded = tokenizer(
      questions, [e.context for e in examples],
      truncation='only_second', max_length=max_length, stride=doc_stride,
      return_overflowing_tokens=True, return_offsets_mapping=True,
      padding='max_length', return_token_type_ids=True,
      return_attention_mask=True, return_tensors='np')
  mask = encoded['attention_mask'].astype(np.int32)
  offsets = encoded['offset_mapping'].astype(np.int32)
  num_windows = len(mask)
  for i in range(num_windows):
    in_context = np.asarray([s == 1 for s in encoded.sequence_ids(i)])
    offsets[i][~in_context] = NOT_CONTEXT
  example_index = encoded['overflow_to_sample_mapping'].astype(np.int32)
  starts = np.zeros((num_windows,), np.int32)
  ends = np.zeros((num_windows,), np.int32)
  for i, j in enumerate(example_index):
    example = examples[j]
    if not example.answer_texts:
      continue
    start_char = example.answer_starts[0]
    span = token_span(offsets[i], start_char,
                      start_char + len(example.answer_texts[0]))
    if span is not None:
      starts[i], ends[i] = span
  return {
      'input_ids': encoded['input_ids'].astype(np.int32) * mask,
      'token_type_ids': encoded['token_type_ids'].astype(np.int32) * mask,
      'lengths': mask.sum(axis=1, dtype=np.int32),
      'offsets': offsets,
      'example_index': example_index,
      'start_positions': starts,
      'end_positions': ends,
  }


def best_answers(start_logits: np.ndarray, end_logits: np.ndarray,
                 offsets: np.ndarray, example_index: np.ndarray,
                 examples: Sequence[SquadExample], n_best: int = 20,
                 max_answer_length: int = 30) -> dict[str, str]:
  """{question id: answer text}: the best valid span over all its windows.

  Per window, the n_best highest start and end logits are paired; a pair is
  valid when both tokens are in the context, end >= start and it spans at
  most max_answer_length tokens; its score is start + end logit. A question
  with no valid pair in any window gets the empty answer.

  Args:
    start_logits, end_logits: [F, L] per window and token (L <= the offsets'
      length; positions past a window's tokens may hold anything).
    offsets, example_index: from `make_windows`.
    examples: the questions `make_windows` was given.
    n_best: start and end candidates per window.
    max_answer_length: longest answer in tokens.
  """
  num_windows, length = start_logits.shape
  offsets = offsets[:, :length]
  k = min(n_best, length)
  rows = np.arange(num_windows)[:, None]
  top_start = np.argsort(-start_logits, axis=1, kind='stable')[:, :k]
  top_end = np.argsort(-end_logits, axis=1, kind='stable')[:, :k]
  s, e = top_start[:, :, None], top_end[:, None, :]  # [F, k, 1], [F, 1, k]
  valid = ((e >= s) & (e - s + 1 <= max_answer_length)
           & (offsets[rows, top_start, 0] != NOT_CONTEXT)[:, :, None]
           & (offsets[rows, top_end, 0] != NOT_CONTEXT)[:, None, :])
  scores = (start_logits[rows, top_start][:, :, None]
            + end_logits[rows, top_end][:, None, :]).astype(np.float64)
  scores = np.where(valid, scores, -np.inf).reshape(num_windows, -1)
  best_pair = scores.argmax(axis=1)
  best_score = scores[np.arange(num_windows), best_pair]

  best: dict[int, tuple[float, int, int, int]] = {}
  for i in range(num_windows):
    if not np.isfinite(best_score[i]):
      continue
    j = int(example_index[i])
    if j not in best or best_score[i] > best[j][0]:
      best[j] = (best_score[i], i, int(top_start[i, best_pair[i] // k]),
                 int(top_end[i, best_pair[i] % k]))
  answers = {}
  for j, example in enumerate(examples):
    if j not in best:
      answers[example.id] = ''
      continue
    _, i, s, e = best[j]
    answers[example.id] = example.context[offsets[i, s, 0]:offsets[i, e, 1]]
  return answers
