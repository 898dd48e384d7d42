"""A loaded artifact run over new texts: tokenize, batch, apply.

Built from training's own evaluation pieces (tokenization, eval batches,
`train.make_eval_step`, `train.predict_outputs`), so an artifact given a split
with the run's evaluation batch size reproduces the run's outputs on it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tqdm

from adapter_bert import artifacts
from adapter_bert import data
from adapter_bert import errors
from adapter_bert import train


def encode(tokenizer, text_a: Sequence[str], text_b: Sequence[str] | None,
           max_length: int) -> dict[str, np.ndarray]:
  """Token arrays of texts (or pairs), as training tokenizes a split."""
  examples = data.Examples(
      text_a=list(text_a), text_b=None if text_b is None else list(text_b),
      labels=None, index=np.arange(len(text_a), dtype=np.int64))
  return data.tokenize_examples(tokenizer, examples, max_length)


def classifier_outputs(loaded: artifacts.LoadedArtifact,
                       arrays: dict[str, np.ndarray], batch_size: int,
                       progress: bool = False) -> np.ndarray:
  """[N, num_outputs] logits (or regression scores) of the rows, in order.

  Args:
    loaded: a classifier artifact (`artifacts.load`).
    arrays: `encode` output.
    batch_size: rows per batch (a multiple of the device count).
    progress: show a tqdm bar over the rows.
  """
  if loaded.meta.get('head', 'classifier') != 'classifier':
    raise errors.UserError(
        f"The artifact's head is {loaded.meta['head']!r}; only sequence "
        'classification and regression artifacts predict per row.')
  eval_step = train.make_eval_step(loaded.model)
  params = train.replicate(loaded.params)
  sharding = data.data_sharding()
  n = len(arrays['lengths'])
  outputs = []
  with tqdm.tqdm(total=n, disable=not progress, unit='row',
                 desc='predict') as bar:
    # One batch per call, so the bar moves; the batches are those one call
    # over all rows would make.
    for start in range(0, n, batch_size):
      chunk = {k: v[start:start + batch_size] for k, v in arrays.items()}
      outputs += train.predict_outputs(eval_step, params, {}, chunk,
                                       batch_size, sharding)
      bar.update(len(chunk['lengths']))
  if not outputs:
    return np.zeros((0, loaded.model.num_outputs), np.float32)
  return np.concatenate(outputs).astype(np.float32)
