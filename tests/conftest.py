"""Shared fixtures: the embedded backbone, its tokenizer and real GLUE pairs."""

import csv
import os

import jax
import pytest

from adapter_bert import backbones
from adapter_bert import checkpoints
from adapter_bert import modeling

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def minilm():
  return backbones.resolve('minilm-l6')


@pytest.fixture(scope='session')
def minilm_weights(minilm):
  return backbones.load_weights(minilm)


@pytest.fixture(scope='session')
def tokenizer(minilm):
  return backbones.load_tokenizer(minilm)


@pytest.fixture(scope='session')
def rte_pairs():
  """The first 8 RTE dev pairs (real text, different lengths)."""
  path = os.path.join(REPO, 'data', 'glue', 'RTE', 'dev.tsv')
  with open(path, encoding='utf-8') as f:
    rows = list(csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE))[1:9]
  return [r[1] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope='session')
def rte_batch(tokenizer, rte_pairs):
  return dict(tokenizer(*rte_pairs, padding=True, truncation=True,
                        max_length=128, return_tensors='np'))


def init_params(model, batch, seed=0):
  """Initialises `model` on a batch's shapes (jit keeps it quick)."""
  init = jax.jit(model.init)
  return init(jax.random.key(seed), batch['input_ids'],
              batch['token_type_ids'], batch['attention_mask'])['params']


def load_minilm_params(model, batch, weights, prefix=''):
  return checkpoints.merge_pretrained(init_params(model, batch), weights,
                                      prefix=prefix)


@pytest.fixture(scope='session')
def minilm_config(minilm) -> modeling.BertConfig:
  return minilm.config
