"""Trainable sets, the optimizer and parameter reports."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from adapter_bert import adapters
from adapter_bert import backbones
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths
from adapter_bert import tasks
from adapter_bert import train


def _tiny_flat(placement='houlsby'):
  config = backbones.TINY_CONFIG
  plan = adapters.build_plan(2, placement, size=4) if placement != 'none' else ()
  model = modeling.BertClassifier(config, 2, adapter_plan=plan)
  ids = np.zeros((1, 8), np.int32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), ids)['params']
  return model, param_paths.flatten(shapes)


def _selected(method, top_k=0, placement='houlsby'):
  _, flat = _tiny_flat(placement)
  return optim.trainable_paths(flat, optim.method_patterns(method, 2, top_k))


def test_adapter_method_trains_adapters_layernorms_and_head_only():
  paths = _selected('adapter')
  assert all('/adapter_' in p or 'layer_norm/' in p or p.startswith(
      'classifier/') for p in paths)
  assert 'bert/embeddings/layer_norm/scale' in paths
  assert 'bert/layer_1/attention_layer_norm/bias' in paths
  assert 'bert/layer_0/adapter_ffn/up/kernel' in paths
  assert 'classifier/kernel' in paths
  assert not any(p.startswith('bert/pooler') for p in paths)
  assert 'bert/layer_0/intermediate/kernel' not in paths


def test_other_methods():
  _, flat = _tiny_flat()
  assert _selected('full') == set(flat)
  assert _selected('head') == {'classifier/kernel', 'classifier/bias'}
  top = _selected('top_k', top_k=1)
  assert 'bert/layer_1/intermediate/kernel' in top
  assert not any(p.startswith('bert/layer_0/') for p in top)
  assert not any(p.startswith('bert/embeddings/') for p in top)
  # The pooler sits above the top layers: variable fine-tuning trains it.
  assert {'bert/pooler/kernel', 'bert/pooler/bias'} <= top
  assert _selected('top_k', top_k=2) == {
      p for p in flat if not p.startswith('bert/embeddings/')}
  assert {p for p in _selected('layernorm') if 'layer_norm' not in p} == {
      'classifier/kernel', 'classifier/bias'}
  with pytest.raises(ValueError, match='top_k'):
    optim.method_patterns('top_k', 2, 0)
  with pytest.raises(ValueError, match='valid methods'):
    optim.method_patterns('prompt', 2)


def test_pattern_matching_nothing_is_an_error():
  with pytest.raises(ValueError, match='matches no parameter'):
    _selected('adapter', placement='none')


def _fixed_batch(batch_size=8, length=16, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, 1000, (batch_size, length)).astype(np.int32)
  mask = np.ones_like(ids)
  mask[:, length // 2:] = rng.integers(0, 2, (batch_size, 1))
  return dict(input_ids=ids, token_type_ids=np.zeros_like(ids),
              attention_mask=mask,
              labels=rng.integers(0, 2, batch_size).astype(np.int32),
              mask=np.ones(batch_size, np.float32))


def _rte_task():
  return tasks.get_task('rte')


def _train_three_steps(method, top_k=0):
  """Initial and trained full parameter trees, split by train.split_trainable."""
  model, _ = _tiny_flat()
  params = jax.jit(model.init)(jax.random.key(0),
                               _fixed_batch()['input_ids'])['params']
  initial = param_paths.flatten(jax.tree.map(np.array, params))
  config = ml_collections.ConfigDict(dict(method=method, top_k=top_k))
  trainable, frozen = train.split_trainable(config, 2, dict(initial))
  tx, _ = optim.make_optimizer(trainable, lr=1e-2, total_steps=10)
  opt_state = tx.init(trainable)
  # Moments (mu, nu) exist for trainable leaves only; the rest are counters.
  moments = [x for x in jax.tree.leaves(opt_state) if np.ndim(x)]
  assert len(moments) == 2 * len(jax.tree.leaves(trainable))
  assert sum(np.size(x) for x in moments) == 2 * optim.count(
      param_paths.flatten(trainable))
  step = train.make_train_step(model, _rte_task(), tx)
  for i in range(3):
    trainable, opt_state, metrics = step(trainable, opt_state, frozen,
                                         _fixed_batch(seed=i),
                                         jax.random.key(i))
    assert np.isfinite(metrics['loss'])
  # The model a run exports and evaluates: frozen and trained leaves merged.
  final = {**param_paths.flatten(frozen), **param_paths.flatten(trainable)}
  assert set(final) == set(initial)
  changed = {p for p in initial if not np.array_equal(final[p], initial[p])}
  return initial, changed


def _is_adapter_method_leaf(path):
  return ('/adapter_' in path or 'layer_norm/' in path
          or path.startswith('classifier/'))


def test_adapter_steps_change_exactly_the_trainable_leaves():
  # Observed on the merged model, so a wrong split (e.g. a trained pooler or
  # a frozen LayerNorm) changes the set of leaves that move.
  initial, changed = _train_three_steps('adapter')
  expected = {p for p in initial if _is_adapter_method_leaf(p)}
  assert 'bert/pooler/kernel' not in expected
  assert changed == expected


def test_full_fine_tuning_changes_the_frozen_leaves_of_adapter_tuning():
  # The same observation is sensitive: under full fine-tuning the backbone,
  # pooler included, moves.
  initial, changed = _train_three_steps('full')
  assert 'bert/pooler/kernel' in changed
  assert 'bert/layer_0/attention/query/kernel' in changed
  assert len(changed) > len({p for p in initial if _is_adapter_method_leaf(p)})


def test_official_schedule_decays_from_step_zero():
  # BERT's optimizer: lr·t/W in warmup, then lr·(1 − t/T).
  schedule = optim.learning_rate_schedule(1.0, 100, 0.1)
  expected = {0: 0.0, 5: 0.5, 9: 0.9, 10: 0.9, 11: 0.89, 55: 0.45, 99: 0.01,
              100: 0.0}
  for t, value in expected.items():
    assert float(schedule(t)) == pytest.approx(value, abs=1e-6), t
  assert float(optim.learning_rate_schedule(2.0, 50, 0.0)(10)) == (
      pytest.approx(1.6))


def test_linear_schedule_warmup_then_decay_over_the_rest():
  schedule = optim.learning_rate_schedule(1.0, 100, 0.1, 'linear')
  assert float(schedule(0)) == 0.0
  assert float(schedule(5)) == pytest.approx(0.5)
  assert float(schedule(10)) == pytest.approx(1.0)
  assert float(schedule(55)) == pytest.approx(0.5)
  assert float(schedule(100)) == pytest.approx(0.0)
  with pytest.raises(ValueError, match='valid schedules'):
    optim.learning_rate_schedule(1.0, 100, 0.1, 'cosine')


def test_weight_decay_skips_layernorms_and_biases():
  params = {'a': {'kernel': jnp.ones(2), 'bias': jnp.ones(2)},
            'x_layer_norm': {'scale': jnp.ones(2)}}
  tx, _ = optim.make_optimizer(params, lr=1.0, total_steps=2, warmup_frac=0.0,
                               weight_decay=0.5, clip_norm=1e9)
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero_grads, tx.init(params), params)
  np.testing.assert_allclose(updates['a']['kernel'], -0.5)
  np.testing.assert_array_equal(updates['a']['bias'], 0.0)
  np.testing.assert_array_equal(updates['x_layer_norm']['scale'], 0.0)


def test_uncorrected_adam_matches_bert_optimizer():
  g = {'w': jnp.array([0.3, -2.0])}
  tx = optim.scale_by_adam_uncorrected(0.9, 0.999, 1e-6)
  updates, state = tx.update(g, tx.init(g))
  m, v = 0.1 * g['w'], 0.001 * g['w'] ** 2
  np.testing.assert_allclose(updates['w'], m / (np.sqrt(v) + 1e-6), rtol=1e-6)
  corrected = optax.scale_by_adam(0.9, 0.999, 1e-6)
  updates_c, _ = corrected.update(g, corrected.init(g))
  assert not np.allclose(updates['w'], updates_c['w'])


def test_parameter_report():
  trainable = {'a': np.zeros((10,), np.float32)}
  frozen = {'b': np.zeros((90,), np.float32)}
  report = optim.parameter_report(trainable, frozen, num_tasks=9)
  assert report['trainable_share'] == pytest.approx(0.1)
  assert report['artifact_bytes'] == 40
  assert report['total_params_multiple'] == pytest.approx(1 + 9 * 0.1)
  full = optim.parameter_report({'a': np.zeros(100)}, {}, num_tasks=9)
  assert full['total_params_multiple'] == pytest.approx(9.0)
