"""The official SQuAD v1.1 metric: exact match and token F1, x100.

A transcription of the v1.1 evaluation script (`evaluate-v1.1.py`, Rajpurkar
et al. 2016), kept separate from the GLUE metrics because it differs in kind:
it compares strings, takes the best over several gold answers and reports
percentages. Answers are normalised by lowercasing, dropping punctuation and
the articles a/an/the, and collapsing whitespace. A question with no
prediction scores 0, as in the official script.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r'\b(a|an|the)\b')


def normalize_answer(s: str) -> str:
  """Lowercase, drop punctuation, drop articles, collapse whitespace."""
  s = s.lower()
  s = ''.join(ch for ch in s if ch not in _PUNCTUATION)
  s = _ARTICLES.sub(' ', s)
  return ' '.join(s.split())


def f1_score(prediction: str, ground_truth: str) -> float:
  """Token-overlap F1 of the normalised strings (0 when nothing is shared)."""
  prediction_tokens = normalize_answer(prediction).split()
  ground_truth_tokens = normalize_answer(ground_truth).split()
  common = (collections.Counter(prediction_tokens)
            & collections.Counter(ground_truth_tokens))
  num_same = sum(common.values())
  if num_same == 0:
    return 0.0
  precision = num_same / len(prediction_tokens)
  recall = num_same / len(ground_truth_tokens)
  return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> float:
  return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def metric_max_over_ground_truths(metric_fn: Callable[[str, str], float],
                                  prediction: str,
                                  ground_truths: Sequence[str]) -> float:
  return max(metric_fn(prediction, gt) for gt in ground_truths)


def gold_answers(dataset: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
  """{question id: gold answer texts} of an official JSON's `data` list."""
  return {qa['id']: [a['text'] for a in qa['answers']]
          for article in dataset for paragraph in article['paragraphs']
          for qa in paragraph['qas']}


def evaluate(gold: Mapping[str, Sequence[str]],
             predictions: Mapping[str, str]) -> dict[str, float]:
  """{'exact_match', 'f1'}, each averaged over every gold question, x100.

  Args:
    gold: question id -> its gold answer texts (see `gold_answers`).
    predictions: question id -> predicted answer text; missing ids score 0.
  """
  if not gold:
    raise ValueError('No gold questions to score.')
  exact_match = f1 = 0.0
  for qid, ground_truths in gold.items():
    if qid not in predictions:
      continue
    exact_match += metric_max_over_ground_truths(
        exact_match_score, predictions[qid], ground_truths)
    f1 += metric_max_over_ground_truths(f1_score, predictions[qid],
                                        ground_truths)
  return {'exact_match': 100.0 * exact_match / len(gold),
          'f1': 100.0 * f1 / len(gold)}
