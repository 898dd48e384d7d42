"""Examples -> fixed-length token arrays, with an on-disk cache.

One batched tokenizer call per split (the Rust tokenizer parallelises it).
The cache key covers everything the output depends on, so a changed vocab,
length or text is a miss, never a stale hit.
"""

import hashlib
import json
import logging
import os
import zipfile
from typing import Any

import numpy as np

from adapter_bert import atomic
from adapter_bert.data import examples as examples_lib

# Bump when the arrays or their meaning change, to invalidate old caches.
_FORMAT_VERSION = 'tokens-v1'
ARRAY_NAMES = ('input_ids', 'token_type_ids', 'lengths')


def tokenizer_fingerprint(tokenizer: Any) -> str:
  """sha256 of what decides a tokenizer's output (vocab, normalizer, ...).

  A fast tokenizer's JSON also records its current truncation and padding
  settings, which each call overwrites; those are dropped so the fingerprint
  is stable across calls.
  """
  backend = getattr(tokenizer, 'backend_tokenizer', None)
  if backend is not None:
    spec = json.loads(backend.to_str())
    spec.pop('truncation', None)
    spec.pop('padding', None)
  else:
    spec = {'class': type(tokenizer).__name__,
            'vocab': sorted(tokenizer.get_vocab().items())}
  blob = json.dumps(spec, sort_keys=True, ensure_ascii=False)
  return hashlib.sha256(blob.encode('utf-8')).hexdigest()


def examples_fingerprint(examples: examples_lib.Examples) -> str:
  """sha256 of the texts (lengths prefixed, so no two inputs collide)."""
  digest = hashlib.sha256()
  columns = [examples.text_a]
  if examples.text_b is not None:
    columns.append(examples.text_b)
  digest.update(f'{len(columns)}:{len(examples)};'.encode())
  for column in columns:
    for text in column:
      data = text.encode('utf-8')
      digest.update(f'{len(data)}:'.encode())
      digest.update(data)
  return digest.hexdigest()


def cache_key(tokenizer: Any, examples: examples_lib.Examples,
              max_length: int) -> str:
  parts = [_FORMAT_VERSION, tokenizer_fingerprint(tokenizer), str(max_length),
           examples_fingerprint(examples)]
  return hashlib.sha256('|'.join(parts).encode()).hexdigest()


def _tokenize(tokenizer: Any, examples: examples_lib.Examples,
              max_length: int) -> dict[str, np.ndarray]:
  if not len(examples):
    return {'input_ids': np.zeros((0, max_length), np.int32),
            'token_type_ids': np.zeros((0, max_length), np.int32),
            'lengths': np.zeros((0,), np.int32)}
  encoded = tokenizer(
      examples.text_a,
      examples.text_b,
      truncation='longest_first',
      max_length=max_length,
      padding='max_length',
      return_token_type_ids=True,
      return_attention_mask=True,
      return_tensors='np')
  mask = encoded['attention_mask'].astype(np.int32)
  # Multiplying by the mask makes padding 0 whatever the pad token id is.
  return {
      'input_ids': encoded['input_ids'].astype(np.int32) * mask,
      'token_type_ids': encoded['token_type_ids'].astype(np.int32) * mask,
      'lengths': mask.sum(axis=1, dtype=np.int32),
  }


def _load(path: str) -> dict[str, np.ndarray] | None:
  try:
    with np.load(path) as data:
      return {name: data[name] for name in ARRAY_NAMES}
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logging.warning('Ignoring unreadable token cache %s (%s).', path, e)
    return None


def cache_path(tokenizer: Any, examples: examples_lib.Examples,
               max_length: int, cache_dir: str) -> str:
  """Where `tokenize_examples` caches this split (to check or clear it)."""
  return os.path.join(cache_dir,
                      cache_key(tokenizer, examples, max_length) + '.npz')


def tokenize_examples(tokenizer: Any, examples: examples_lib.Examples,
                      max_length: int, cache_dir: str | None = None
                      ) -> dict[str, np.ndarray]:
  """Tokenizes a split into padded int32 arrays.

  Pairs are joined as [CLS] a [SEP] b [SEP] and truncated 'longest_first'.

  Args:
    tokenizer: a Hugging Face (fast) BERT tokenizer.
    examples: the split.
    max_length: sequence length of the output arrays.
    cache_dir: if set, results are cached there as `<sha256>.npz`; the key
      covers the tokenizer's vocab and normalizer, max_length, the texts and a
      format version.

  Returns:
    {'input_ids': int32 [N, max_length] (0-padded),
     'token_type_ids': int32 [N, max_length],
     'lengths': int32 [N], the number of real tokens per row}.
  """
  if max_length < 2:
    raise ValueError(f'max_length must be >= 2 ([CLS] and [SEP]), got '
                     f'{max_length}.')
  path = None
  if cache_dir is not None:
    path = cache_path(tokenizer, examples, max_length, cache_dir)
    if os.path.exists(path):
      arrays = _load(path)
      if arrays is not None:
        logging.info('Token cache hit: %s', path)
        return arrays
  arrays = _tokenize(tokenizer, examples, max_length)
  if path is not None:
    with atomic.atomic_open(path, 'wb') as f:
      np.savez(f, **arrays)
    logging.info('Token cache written: %s', path)
  return arrays

