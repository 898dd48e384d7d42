"""Training/eval batching: resumable order, buckets, exactly-once evaluation."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from adapter_bert.data import batching

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_arrays(n, max_length=128, seed=0):
  """Token arrays whose position 1 holds example id + 1 (to trace rows)."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, max_length + 1, size=n).astype(np.int32)
  positions = np.arange(max_length)[None, :]
  real = positions < lengths[:, None]
  input_ids = np.where(real, 1000 + positions, 0).astype(np.int32)
  input_ids[:, 1] = np.arange(n) + 1
  token_type_ids = np.where(real & (positions > lengths[:, None] // 2), 1, 0)
  return {'input_ids': input_ids,
          'token_type_ids': token_type_ids.astype(np.int32),
          'lengths': lengths}


def test_bucket_lengths():
  assert batching.bucket_lengths(128, (32, 64, 96, 128)) == (32, 64, 96, 128)
  assert batching.bucket_lengths(100, (32, 64, 96, 128)) == (32, 64, 96, 100)
  assert batching.bucket_lengths(48, (32, 64)) == (32, 48)
  with pytest.raises(ValueError, match='positive'):
    batching.bucket_lengths(48, (0, 32))


def test_train_batches_structure_and_buckets():
  arrays = make_arrays(100)
  arrays['lengths'][:] = np.minimum(arrays['lengths'], 40)
  labels = np.arange(100, dtype=np.int32) % 3
  batch = next(batching.train_batches(arrays, labels, 16, seed=0))
  assert set(batch) == {'input_ids', 'token_type_ids', 'attention_mask',
                        'labels', 'mask'}
  assert batch['input_ids'].shape == (16, 48)  # longest 40 -> bucket 48
  for name in ('input_ids', 'token_type_ids', 'attention_mask'):
    assert batch[name].dtype == np.int32
  assert batch['mask'].dtype == np.float32 and batch['mask'].all()
  rows = batch['input_ids'][:, 1] - 1
  np.testing.assert_array_equal(batch['labels'], labels[rows])
  np.testing.assert_array_equal(batch['attention_mask'].sum(1),
                                arrays['lengths'][rows])
  np.testing.assert_array_equal(
      batch['input_ids'], arrays['input_ids'][rows, :48])


def _rows(batch):
  return (batch['input_ids'][:, 1] - 1).tolist()


def test_each_epoch_is_a_permutation_without_the_last_partial_batch():
  arrays = make_arrays(50)
  labels = np.zeros(50, np.int32)
  it = batching.train_batches(arrays, labels, 8, seed=3)
  assert batching.steps_per_epoch(50, 8) == 6
  epochs = [[r for _ in range(6) for r in _rows(next(it))] for _ in range(3)]
  for rows in epochs:
    assert len(rows) == 48 and len(set(rows)) == 48
  assert epochs[0] != epochs[1]  # reshuffled each epoch


def test_restart_at_step_k_continues_the_same_order():
  arrays = make_arrays(45)
  labels = np.arange(45, dtype=np.int32)
  uninterrupted = batching.train_batches(arrays, labels, 4, seed=7)
  reference = [_rows(next(uninterrupted)) for _ in range(40)]
  for k in (0, 5, 11, 12, 23):  # 11 steps per epoch: 11 and 22 cross epochs
    resumed = batching.train_batches(arrays, labels, 4, seed=7, start_step=k)
    assert [_rows(next(resumed)) for _ in range(40 - k)] == reference[k:]
  other_seed = batching.train_batches(arrays, labels, 4, seed=8)
  assert _rows(next(other_seed)) != reference[0]


def test_group_by_length_keeps_each_epoch_and_cuts_padding():
  n, batch_size = 2000, 8  # 250 batches: 5 groups of 50.
  arrays = make_arrays(n)
  labels = np.zeros(n, np.int32)
  per_epoch = batching.steps_per_epoch(n, batch_size)
  plain = batching.train_batches(arrays, labels, batch_size, seed=1)
  grouped = batching.train_batches(arrays, labels, batch_size, seed=1,
                                   group_by_length=True)
  plain_rows, grouped_rows, padded = [], [], {'plain': 0, 'grouped': 0}
  for _ in range(per_epoch):
    for name, it, rows in (('plain', plain, plain_rows),
                           ('grouped', grouped, grouped_rows)):
      batch = next(it)
      rows.extend(_rows(batch))
      padded[name] += batch['input_ids'].size
  # The same examples each epoch (the permutation's first full batches).
  assert sorted(grouped_rows) == sorted(plain_rows)
  assert len(set(grouped_rows)) == per_epoch * batch_size
  # Lengths are uniform on 3..128 here: random batches of 8 nearly always pad
  # to 128, sorted ones to their mean length rounded up to a 16-bucket.
  assert padded['grouped'] < 0.7 * padded['plain']
  # Batches are shuffled: not one long descending run.
  firsts = [arrays['lengths'][r] for r in grouped_rows[::batch_size]]
  assert not all(a >= b for a, b in zip(firsts, firsts[1:]))


def test_group_by_length_resumes_the_same_order():
  arrays = make_arrays(300)
  labels = np.zeros(300, np.int32)
  make = lambda k: batching.train_batches(arrays, labels, 4, seed=2,
                                          start_step=k, group_by_length=True)
  uninterrupted = make(0)
  reference = [_rows(next(uninterrupted)) for _ in range(160)]
  for k in (0, 74, 75, 90):  # 75 steps per epoch.
    resumed = make(k)
    assert [_rows(next(resumed)) for _ in range(160 - k)] == reference[k:]


def test_train_batch_size_larger_than_data_is_an_error():
  with pytest.raises(ValueError, match='exceeds the 5 training examples'):
    next(batching.train_batches(make_arrays(5), np.zeros(5), 8, seed=0))


def _scored_rows(arrays, labels, batch_size, sharding):
  """Runs a jitted per-example 'model' over eval batches; returns row ids."""
  score = jax.jit(lambda b: (b['input_ids'][:, 1] - 1, b['mask']))
  rows, seen_labels = [], []
  for batch in batching.eval_batches(arrays, labels, batch_size):
    assert batch['input_ids'].shape[0] == batch_size
    global_batch = batching.shard_batch(
        batching.host_slice(batch, jax.process_index(), jax.process_count()),
        sharding)
    ids, mask = jax.device_get(score(global_batch))
    rows += ids[mask == 1].tolist()
    seen_labels += batch['labels'][batch['mask'] == 1].tolist()
  return rows, seen_labels


@pytest.mark.parametrize('n,batch_size', [(32, 8), (37, 8), (5, 8), (1, 4)])
def test_eval_scores_every_example_once_on_one_device(n, batch_size):
  arrays = make_arrays(n)
  labels = (np.arange(n) * 7 % 5).astype(np.int32)
  sharding = batching.data_sharding(jax.devices()[:1])
  rows, seen_labels = _scored_rows(arrays, labels, batch_size, sharding)
  assert rows == list(range(n))
  assert seen_labels == labels.tolist()


def test_eval_padding_rows_are_masked_real_inputs():
  arrays = make_arrays(10)
  batches = list(batching.eval_batches(arrays, None, 4))
  assert len(batches) == 3 and 'labels' not in batches[0]
  last = batches[-1]
  assert last['mask'].tolist() == [1, 1, 0, 0]
  assert last['mask'].dtype == np.float32
  assert last['attention_mask'][2:].sum(1).min() >= 3  # not empty rows


def test_host_slice_partitions_a_batch():
  batch = {'x': np.arange(8), 'y': np.arange(8) * 2}
  parts = [batching.host_slice(batch, i, 4) for i in range(4)]
  np.testing.assert_array_equal(np.concatenate([p['x'] for p in parts]),
                                batch['x'])
  with pytest.raises(ValueError, match='not divisible by the 3 processes'):
    batching.host_slice(batch, 0, 3)


_FOUR_DEVICE_SCRIPT = textwrap.dedent('''
    import json
    import jax
    import numpy as np
    from adapter_bert.data import batching
    from tests import test_batching as t

    assert jax.device_count() == 4, jax.devices()
    sharding = batching.data_sharding()
    results = {}
    for n, batch_size in [(64, 8), (37, 8), (37, 12), (3, 4)]:
      arrays = t.make_arrays(n)
      labels = np.arange(n, dtype=np.int32)
      rows, seen = t._scored_rows(arrays, labels, batch_size, sharding)
      results[f'{n}/{batch_size}'] = rows == list(range(n)) and seen == rows
    batch = next(batching.eval_batches(t.make_arrays(8), None, 6))
    try:
      batching.shard_batch(batch, sharding)
      results['indivisible'] = 'no error'
    except ValueError as e:
      results['indivisible'] = str(e)
    placed = batching.shard_batch(
        next(batching.eval_batches(t.make_arrays(8), None, 8)), sharding)
    results['shards'] = len(placed['input_ids'].addressable_shards)
    print(json.dumps(results))
''')


def test_eval_scores_every_example_once_on_four_devices():
  """Forced 4 host devices need the flag before jax starts: a subprocess."""
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4',
             JAX_PLATFORMS='cpu')
  env['PYTHONPATH'] = os.pathsep.join(
      [REPO] + [p for p in [env.get('PYTHONPATH')] if p])
  result = subprocess.run([sys.executable, '-c', _FOUR_DEVICE_SCRIPT],
                          cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads(result.stdout.strip().splitlines()[-1])
  assert results.pop('shards') == 4
  assert 'cannot be split evenly over 4 devices' in results.pop('indivisible')
  assert results == {'64/8': True, '37/8': True, '37/12': True, '3/4': True}
