"""Shared fixtures: the embedded backbone, its tokenizer and real GLUE pairs."""

import csv
import os

import jax
import pytest

from adapter_bert import backbones
from adapter_bert import checkpoints
from adapter_bert import modeling

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The start of the subprocess scripts that run a tiny adapter train step (names
# np and jax must be imported before it): model, batch, the trainable/frozen
# split and the optimizer, the same in every process count a test compares.
TINY_ADAPTER_STEP_SETUP = r'''
from adapter_bert import adapters, backbones, data, inference, modeling, optim
from adapter_bert import param_paths
from adapter_bert import tasks, train
config = backbones.TINY_CONFIG
model = modeling.BertClassifier(config, 2, adapter_plan=adapters.build_plan(
    2, 'houlsby', size=8, init_scale=1e-2))
rng = np.random.default_rng(0)
batch = dict(input_ids=rng.integers(5, 1000, (8, 16)).astype(np.int32),
             token_type_ids=np.zeros((8, 16), np.int32),
             attention_mask=np.ones((8, 16), np.int32),
             labels=rng.integers(0, 2, 8).astype(np.int32),
             mask=np.ones(8, np.float32))
params = jax.jit(model.init)(jax.random.key(0), batch['input_ids'])['params']
flat = param_paths.flatten(jax.tree.map(np.asarray, params))
paths = optim.trainable_paths(flat, optim.method_patterns('adapter', 2))
trainable, frozen = (param_paths.unflatten(t)
                     for t in param_paths.partition(flat, paths))
tx, _ = optim.make_optimizer(trainable, lr=1e-2, total_steps=10)
'''


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
