"""SQuAD v1.1: official metric, windows, span decoding, TFDS, config, end to end."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from adapter_bert import backbones
from adapter_bert import heads
from adapter_bert import optim
from adapter_bert import param_paths
from adapter_bert import squad_metrics
from adapter_bert import tasks
from adapter_bert.data import batching
from adapter_bert.data import squad
from configs import common
from configs import squad as squad_config
from experiments import sweep
from tests.conftest import REPO

TINY = os.path.join(REPO, 'data', 'squad', 'dev-v1.1.tiny-SuperBowl50-5paras.json')
TWO = os.path.join(REPO, 'data', 'squad', 'dev-v1.1.first2articles.json')


# --------------------------------------------------------------------------
# The official metric, on hand-computed cases.


def test_normalization_drops_case_punctuation_articles_and_spaces():
  assert squad_metrics.normalize_answer(' The  Quick, brown fox! ') == (
      'quick brown fox')
  assert squad_metrics.normalize_answer('An apple a day') == 'apple day'
  # Punctuation is deleted, not replaced by a space.
  assert squad_metrics.normalize_answer('well-known') == 'wellknown'
  # Articles only as whole words.
  assert squad_metrics.normalize_answer('Theory of anagrams') == (
      'theory of anagrams')


@pytest.mark.parametrize('prediction, golds, em, f1', [
    ('the Denver Broncos.', ['Denver Broncos'], 1.0, 1.0),
    # p = 2/3, r = 1: F1 = 0.8.
    ('Denver Broncos team', ['the Denver Broncos'], 0.0, 0.8),
    # Max over gold answers (F1 and EM each take their own best).
    ('Broncos', ['Denver Broncos', 'Broncos!', 'Carolina'], 1.0, 1.0),
    # p = 1/2, r = 1/3 against the first gold, 1/2 and 1/2 against the second.
    ('Santa Clara', ["Levi's Stadium in Santa Barbara", 'Santa Monica'],
     0.0, 0.5),
    ('', ['Denver'], 0.0, 0.0),
    ('well known', ['well-known'], 0.0, 0.0),
    # The v1.1 script's quirk: both normalise to '' -> EM 1 but F1 0.
    ('a', ['the'], 1.0, 0.0),
])
def test_exact_match_and_f1(prediction, golds, em, f1):
  assert squad_metrics.metric_max_over_ground_truths(
      squad_metrics.exact_match_score, prediction, golds) == em
  assert squad_metrics.metric_max_over_ground_truths(
      squad_metrics.f1_score, prediction, golds) == pytest.approx(f1)


def test_evaluate_averages_over_gold_questions_x100():
  gold = {'q1': ['Denver Broncos'], 'q2': ['the Denver Broncos'],
          'q3': ['Denver'], 'q4': ['Carolina Panthers']}
  predictions = {'q1': 'denver broncos', 'q2': 'Denver Broncos team',
                 'q3': '', 'extra': 'ignored'}  # q4 unanswered: scores 0.
  result = squad_metrics.evaluate(gold, predictions)
  assert result['exact_match'] == pytest.approx(25.0)
  assert result['f1'] == pytest.approx(45.0)  # (1 + 0.8 + 0 + 0) / 4


def test_gold_prediction_file_scores_100(tmp_path):
  with open(TINY) as f:
    dataset = json.load(f)['data']
  examples = squad.read_json(TINY)
  assert len(examples) == 117
  path = tmp_path / 'predictions.json'
  path.write_text(json.dumps({e.id: e.answer_texts[0] for e in examples}))
  result = squad_metrics.evaluate(squad_metrics.gold_answers(dataset),
                                  json.loads(path.read_text()))
  assert result == {'exact_match': 100.0, 'f1': 100.0}


# --------------------------------------------------------------------------
# Windows and decoding.


@pytest.fixture(scope='module')
def two_articles():
  return squad.read_json(TWO)


def _windows_of(windows):
  of = {}
  for i, j in enumerate(windows['example_index']):
    of.setdefault(int(j), []).append(i)
  return of


@pytest.mark.parametrize('max_length, stride', [(384, 128), (128, 32)])
def test_every_gold_answer_is_recoverable_from_a_window(
    tokenizer, two_articles, max_length, stride):
  windows = squad.make_windows(tokenizer, two_articles, max_length, stride, 64)
  offsets = windows['offsets']
  assert windows['input_ids'].shape == (len(offsets), max_length)
  assert windows['lengths'].max() <= max_length
  of = _windows_of(windows)
  assert sorted(of) == list(range(len(two_articles)))
  if max_length == 128:
    assert len(offsets) > 1.5 * len(two_articles)  # Long contexts overflow.
  answers = not_aligned = 0
  for j, example in enumerate(two_articles):
    for text, start in zip(example.answer_texts, example.answer_starts):
      answers += 1
      end = start + len(text)
      assert example.context[start:end] == text
      recovered = set()
      for i in of[j]:
        span = squad.token_span(offsets[i], start, end)
        if span is not None:
          s, e = span
          recovered.add((int(offsets[i, s, 0]), int(offsets[i, e, 1])))
      assert recovered, (example.id, text)  # Some window holds the answer.
      token_starts = {int(x) for i in of[j] for x in offsets[i, :, 0]}
      token_ends = {int(x) for i in of[j] for x in offsets[i, :, 1]}
      if start in token_starts and end in token_ends:
        # On token boundaries: exactly the gold text, from every window.
        assert recovered == {(start, end)}, (example.id, text)
      else:
        # Inside a word piece ('gold' in 'golden'): the smallest cover.
        not_aligned += 1
        (a, b), = recovered
        assert a <= start and end <= b and (a, b) != (start, end)
  assert not_aligned <= 0.01 * answers


def test_window_labels_point_at_the_first_answer(tokenizer, two_articles):
  examples = two_articles[:200]
  windows = squad.make_windows(tokenizer, examples, 128, 32, 64)
  for i, j in enumerate(windows['example_index']):
    example = examples[j]
    start = example.answer_starts[0]
    span = squad.token_span(windows['offsets'][i], start,
                            start + len(example.answer_texts[0]))
    got = (windows['start_positions'][i], windows['end_positions'][i])
    assert got == (span or (0, 0))  # [CLS] when the answer is elsewhere.
    # Question tokens come first, with no offsets into the context.
    assert (windows['offsets'][i, 1:3] == squad.NOT_CONTEXT).all()


def test_long_questions_are_cut_to_max_query_length(tokenizer):
  example = squad.SquadExample('q', 't', 'Paris is in France.',
                               ' Where ' + 'is it really ' * 40 + '?',
                               ('France',), (12,))
  windows = squad.make_windows(tokenizer, [example], 64, 16, max_query_length=8)
  with pytest.raises(ValueError, match='below max_length'):
    squad.make_windows(tokenizer, [example], 64, 32, max_query_length=32)
  first_segment = windows['token_type_ids'][0, :windows['lengths'][0]] == 0
  assert first_segment.sum() - 2 <= 9  # [CLS] question [SEP]
  assert windows['start_positions'][0] > 0


def _one_hot_logits(windows, positions):
  logits = np.full(windows['input_ids'].shape, -10.0, np.float32)
  logits[np.arange(len(logits)), positions] = 10.0
  return logits


def test_decoding_oracle_logits_returns_the_labelled_spans(
    tokenizer, two_articles):
  windows = squad.make_windows(tokenizer, two_articles, 128, 32, 64)
  start = _one_hot_logits(windows, windows['start_positions'])
  end = _one_hot_logits(windows, windows['end_positions'])
  answers = squad.best_answers(start, end, windows['offsets'],
                               windows['example_index'], two_articles)
  assert len(answers) == len(two_articles)
  for example in two_articles:
    s = example.answer_starts[0]
    e = s + len(example.answer_texts[0])
    assert example.context[s:e] in answers[example.id]
  result = squad_metrics.evaluate(
      {e.id: e.answer_texts for e in two_articles}, answers)
  assert result['exact_match'] > 98.0


def test_decoding_rules():
  # One question, two windows of 6 tokens: [CLS] q [SEP] c c [SEP]-like.
  context = 'aa bb cc dd'
  example = squad.SquadExample('q', 't', context, 'q?', ('bb',), (3,))
  nc = squad.NOT_CONTEXT
  offsets = np.array([
      [[nc, nc], [nc, nc], [nc, nc], [0, 2], [3, 5], [nc, nc]],
      [[nc, nc], [nc, nc], [nc, nc], [6, 8], [9, 11], [nc, nc]],
  ], np.int32)
  index = np.zeros(2, np.int32)
  start = np.full((2, 6), -5.0)
  end = np.full((2, 6), -5.0)
  start[0, 1] = end[0, 1] = 9.0       # Best logits on a question token.
  start[0, 4], end[0, 3] = 3.0, 2.0   # 'bb' .. 'aa': end before start.
  start[0, 3] = 1.0                   # 'aa' in window 1: valid, score 3.
  start[1, 3], end[1, 4] = 2.0, 2.5   # 'cc dd' in window 2: best, 4.5.
  best = squad.best_answers(start, end, offsets, index, [example])
  assert best == {'q': 'cc dd'}
  # Spans longer than max_answer_length are skipped.
  best = squad.best_answers(start, end, offsets, index, [example],
                            max_answer_length=1)
  assert best == {'q': 'aa'}
  # No valid span anywhere: the empty answer.
  assert squad.best_answers(start[:, :3], end[:, :3], offsets, index,
                            [example]) == {'q': ''}


def test_holdout_keeps_the_last_articles(two_articles):
  train, held_out = squad.holdout_split(two_articles, 1)
  assert squad.article_titles(train) == ['Super_Bowl_50']
  assert squad.article_titles(held_out) == ['Warsaw']
  assert (len(train), len(held_out)) == (810, 247)
  with pytest.raises(ValueError, match='holdout_articles'):
    squad.holdout_split(two_articles, 2)


# --------------------------------------------------------------------------
# TFDS.


def _as_tfds_records(path):
  """The official JSON as TFDS `squad` records (bytes, as tfds.as_numpy)."""
  with open(path) as f:
    for article in json.load(f)['data']:
      for paragraph in article['paragraphs']:
        for qa in paragraph['qas']:
          yield {
              'id': qa['id'].encode(), 'title': article['title'].encode(),
              'context': paragraph['context'].encode(),
              'question': qa['question'].encode(),
              'answers': {
                  'text': np.array([a['text'].encode() for a in qa['answers']],
                                   object),
                  'answer_start': np.array(
                      [a['answer_start'] for a in qa['answers']], np.int32)}}


def test_tfds_records_equal_json_records():
  assert squad.examples_from_records(_as_tfds_records(TINY)) == (
      squad.read_json(TINY))


def test_tfds_mock_path_yields_records():
  tfds = pytest.importorskip('tensorflow_datasets')
  with tfds.testing.mock_data(num_examples=4):
    examples = squad.load_tfds('validation')
  assert len(examples) == 4
  for e in examples:
    assert isinstance(e, squad.SquadExample)
    assert all(isinstance(v, str) for v in (e.id, e.title, e.context,
                                            e.question))
    # Mock data draws each sequence's length independently.
    assert isinstance(e.answer_texts, tuple) and e.answer_texts
    assert all(isinstance(t, str) for t in e.answer_texts)
    assert all(isinstance(s, int) for s in e.answer_starts)


# --------------------------------------------------------------------------
# Head, batching, config, sweep, end to end.


def test_span_head_is_outside_bert_and_trained_by_every_method():
  model = heads.BertSpanExtractor(backbones.TINY_CONFIG)
  ids = np.ones((2, 16), np.int32)
  mask = np.ones_like(ids)
  mask[1, 10:] = 0
  params = model.init(jax.random.key(0), ids, ids * 0, mask)['params']
  flat = param_paths.flatten(params)
  assert {'span_head/kernel', 'span_head/bias'} <= set(flat)
  assert flat['span_head/kernel'].shape == (32, 2)
  for method in ('head', 'layernorm', 'full'):
    assert 'span_head/kernel' in optim.trainable_paths(
        flat, optim.method_patterns(method, 2))
  out = model.apply({'params': params}, ids, ids * 0, mask)
  assert out['start_logits'].shape == out['end_logits'].shape == (2, 16)
  assert (out['start_logits'][1, 10:] < -1e8).all()  # Padding masked.


def test_batches_carry_dict_labels():
  rng = np.random.default_rng(0)
  arrays = dict(input_ids=rng.integers(1, 99, (10, 64)).astype(np.int32),
                token_type_ids=np.zeros((10, 64), np.int32),
                lengths=rng.integers(5, 64, 10).astype(np.int32))
  labels = dict(start_positions=np.arange(10, dtype=np.int32),
                end_positions=np.arange(10, dtype=np.int32) + 100)
  batch = next(batching.train_batches(arrays, labels, 4, seed=0, start_step=1))
  assert set(batch['labels']) == set(labels)
  np.testing.assert_array_equal(batch['labels']['end_positions'],
                                batch['labels']['start_positions'] + 100)
  half = batching.host_slice(batch, 1, 2)
  assert half['labels']['start_positions'].shape == (2,)
  sharded = batching.shard_batch(batch, batching.data_sharding())
  assert sharded['labels']['end_positions'].shape == (4,)
  with pytest.raises(ValueError, match='labels for 10'):
    next(batching.train_batches(arrays, dict(a=np.zeros(3)), 4, seed=0))


def _flat_keys(config, prefix=''):
  keys = set()
  for key, value in config.items():
    keys |= (_flat_keys(value, f'{prefix}{key}.') if hasattr(value, 'items')
             else {prefix + key})
  return keys


def test_config_keys_and_errors():
  config = squad_config.get_config(f'method=full,train_file={TWO},holdout=1')
  assert (config.task, config.data_source, config.max_length) == (
      'squad', 'json', 384)
  assert config.placement == 'none' and config.lr == 5e-5
  squad_keys = {'squad.' + k for k in (
      'train_file', 'eval_file', 'holdout_articles', 'doc_stride',
      'max_query_length', 'max_answer_length', 'n_best')}
  assert _flat_keys(config) == _flat_keys(common.base_config()) | squad_keys
  assert squad_config.get_config('').data_source == 'tfds'
  with pytest.raises(ValueError, match='known keys'):
    squad_config.get_config('stride=3')
  task = tasks.from_config(config)
  assert task.describe()['eval_articles'] == ['Warsaw']
  assert 'NOT the paper' in task.describe()['summary']
  config.squad.eval_file = TINY
  with pytest.raises(ValueError, match='leave squad.eval_file empty'):
    tasks.from_config(config)


def test_sweeps_load_through_the_runner():
  spec = os.path.join(REPO, 'configs', 'squad.py')
  sizes = {}
  for name in squad_config.SWEEPS:
    arg = f'sweep={name},train_file={TWO},holdout=1'
    runs, _ = sweep.prepare(squad_config.get_config(arg), f'{spec}:{arg}')
    sizes[name] = len(runs)
    assert all(r.config.task == 'squad' for r in runs)
    assert all(r.config.squad.holdout_articles == 1 for r in runs)
  assert sizes == {'paper': 48, 'fixed_m': 12, 'finetune': 9, 'cpu': 2}
  runs, _ = sweep.prepare(squad_config.get_config('sweep=cpu'),
                          f'{spec}:sweep=cpu')
  assert [r.name for r in runs] == ['squad-adapter-m64-lr1e-3-ep3-s0',
                                    'squad-full-lr5e-5-ep3-s0']


def test_main_command_end_to_end(tmp_path):
  """experiments/train.py: tiny backbone, held-out article, predictions."""
  workdir = tmp_path / 'run'
  env = dict(os.environ, PYTHONPATH=REPO, ADAPTER_BERT_CACHE=str(tmp_path))
  subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config',
       f'configs/squad.py:backbone=tiny,train_file={TWO},holdout=1',
       '--config.max_steps=4', '--config.batch_size=8',
       '--config.max_length=128', '--config.squad.doc_stride=32',
       '--config.eval_batch_size=256',
       f'--workdir={workdir}'],
      env=env, check=True, cwd=REPO)
  results = json.loads((workdir / 'results.json').read_text())
  assert results['status'] == 'done' and results['steps'] == 4
  assert set(results['dev']) == {'exact_match', 'f1'}
  assert 0.0 <= results['dev']['f1'] <= 100.0
  assert results['test']['validation'] == results['dev']
  assert results['data']['eval_articles'] == ['Warsaw']
  assert 'NOT the paper' in results['data']['summary']
  predictions = json.loads(
      (workdir / 'predictions' / 'validation.json').read_text())
  _, held_out = squad.holdout_split(squad.read_json(TWO), 1)
  assert set(predictions) == {e.id for e in held_out}
  assert all(isinstance(v, str) for v in predictions.values())
  # The exported artifact rebuilds the span model, not a classifier.
  from adapter_bert import artifacts, heads  # pylint: disable=g-import-not-at-top
  loaded = artifacts.load(str(workdir / 'artifact'))
  assert isinstance(loaded.model, heads.BertSpanExtractor)
  assert 'span_head' in loaded.params
