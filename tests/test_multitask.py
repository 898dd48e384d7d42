"""One mixed-task batch on one backbone equals each task's own model."""

import numpy as np
import pytest

from adapter_bert import artifacts
from adapter_bert import multitask
from tests import tiny_artifacts


@pytest.fixture(scope='module')
def three_tasks(tmp_path_factory):
  """Different sizes, placements and heads: every padding path is exercised."""
  root = tmp_path_factory.mktemp('artifacts')
  return [
      tiny_artifacts.make_artifact(root / 'rte', 'rte', seed=1),
      tiny_artifacts.make_artifact(root / 'mrpc', 'mrpc', seed=2, m=8,
                                   placement='pfeiffer'),
      tiny_artifacts.make_artifact(root / 'stsb', 'stsb', seed=3,
                                   m_per_layer='2,0'),
  ]


def test_mixed_batch_equals_per_task_runs(three_tasks):
  loaded = [artifacts.load(p) for p in three_tasks]
  mt = multitask.from_loaded(loaded)
  assert mt.tasks == ('rte', 'mrpc', 'stsb')
  assert mt.num_outputs == (2, 2, 1)
  # The backbone is stored once; adapters, LayerNorms and heads per task.
  assert 'bert/layer_0/intermediate/kernel' in mt.shared
  assert 'bert/embeddings/word_embeddings/embedding' in mt.shared
  assert 'bert/layer_1/output_layer_norm/scale' in mt.per_task
  assert mt.per_task['bert/layer_0/adapter_ffn/down/kernel'].shape == (3, 32, 8)
  assert mt.per_task['classifier/kernel'].shape == (3, 32, 2)

  batch = tiny_artifacts.batch(num=7)
  task_ids = np.array([0, 1, 2, 0, 2, 1, 1])
  mixed = multitask.split_outputs(mt, mt.logits(batch, task_ids), task_ids)
  for t, artifact in enumerate(loaded):
    rows = np.flatnonzero(task_ids == t)
    alone = tiny_artifacts.apply(artifact, {k: v[rows]
                                            for k, v in batch.items()})
    got = np.stack([mixed[i] for i in rows])
    assert got.shape == alone.shape
    np.testing.assert_allclose(got, alone, atol=1e-6, rtol=0)
    # And the tasks really differ: another task's weights give other logits.
    other = (t + 1) % 3
    swapped = multitask.split_outputs(
        mt, mt.logits(batch, np.full_like(task_ids, other)), task_ids)
    assert not np.allclose(np.stack([swapped[i][:1] for i in rows]),
                           got[:, :1], atol=1e-3)


def test_incompatible_adapter_kinds_are_refused(three_tasks, tmp_path):
  parallel = tiny_artifacts.make_artifact(tmp_path / 'par', 'cola',
                                          adapter_parallel=True)
  with pytest.raises(ValueError, match='different adapter kinds'):
    multitask.load([three_tasks[0], parallel])


def test_serve_mixed_requests_and_benchmark(three_tasks, tokenizer):
  from experiments import serve  # pylint: disable=g-import-not-at-top
  loaded = [artifacts.load(p) for p in three_tasks]
  mt = multitask.from_loaded(loaded)
  requests = [
      dict(task='stsb', text_a='A man plays a guitar.',
           text_b='Someone is playing music.'),
      dict(task='rte', text_a='The cat sat on the mat.', text_b='A cat sat.'),
      dict(task='mrpc', text_a='He said hello.', text_b='He greeted us.'),
      dict(task='rte', text_a='Paris is in France.', text_b='Paris is big.'),
      dict(task='mrpc', text_a='One sentence only.'),
  ]
  arrays, task_ids = serve.encode(mt, tokenizer, requests, 32)
  assert list(task_ids) == [2, 0, 1, 0, 1]
  assert arrays['token_type_ids'][4].max() == 0  # No second segment.
  logits = serve.mixed_logits(mt, arrays, task_ids, batch_size=4)
  results = serve.predictions(mt, logits, task_ids)
  assert [r['task'] for r in results] == [r['task'] for r in requests]
  assert isinstance(results[0]['prediction'], float)
  assert results[1]['prediction'] in ('entailment', 'not_entailment')
  assert results[2]['prediction'] in ('0', '1')

  report = serve.benchmark(mt, loaded, arrays, task_ids, batch_size=4,
                           repeats=1)
  assert report['max_abs_logit_difference'] < 1e-5
  assert report['mixed_examples_per_sec'] > 0
  assert report['one_model_at_a_time_examples_per_sec'] > 0
  with pytest.raises(ValueError, match='served'):
    serve.encode(mt, tokenizer, [dict(task='qqp', text_a='x')], 32)
