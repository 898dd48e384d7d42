"""LoRA, IA3, prefix tuning, BitFit: init, placement, counts, trained set."""

import functools
import json
import re

import jax
import numpy as np
import pytest

from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import checkpoints
from adapter_bert import modeling
from adapter_bert import optim
from adapter_bert import param_paths
from adapter_bert import peft
from adapter_bert import train
from configs import common
from configs import peft as peft_configs
from experiments import method_step
from experiments import sweep as sweep_lib
from tests.conftest import load_minilm_params

TINY = backbones.TINY_CONFIG
NEW_METHODS = ('lora', 'ia3', 'prefix', 'bitfit')


def _config(method, backbone='tiny', **keys):
  config = common.base_config()
  config.method = method
  config.backbone = backbone
  config.placement = 'houlsby' if method == 'adapter' else 'none'
  for key, value in keys.items():
    config[key] = value
  return config


def _batch(lengths, width=None, seed=0):
  """Random ids, right-padded to `width`; two segments per example."""
  rng = np.random.default_rng(seed)
  width = width or max(lengths)
  ids = np.zeros((len(lengths), width), np.int32)
  types = np.zeros_like(ids)
  mask = np.zeros_like(ids)
  for i, n in enumerate(lengths):
    ids[i, :n] = rng.integers(1000, 2000, n)
    types[i, n // 2:n] = 1
    mask[i, :n] = 1
  return dict(input_ids=ids, token_type_ids=types, attention_mask=mask)


def _apply(model, params, batch):
  return model.apply({'params': params}, batch['input_ids'],
                     batch['token_type_ids'], batch['attention_mask'])


def _init(model, batch, seed=0):
  return jax.tree.map(np.asarray, jax.jit(model.init)(
      jax.random.key(seed), batch['input_ids'], batch['token_type_ids'],
      batch['attention_mask'])['params'])


def _flat(params):
  return param_paths.flatten(params)


def _plain_params(flat):
  """The parameters a plain BERT has: the method's additions removed."""
  return param_paths.unflatten({k: v for k, v in flat.items() if not _added(k)})


def _added(path):
  return re.search(param_paths.ADDED_RE, '/' + path) is not None


# --------------------------------------------------------------------------
# The pretrained function at init, on the real backbone.


@pytest.fixture(scope='module')
def pair_batch(rte_batch):
  """Two RTE pairs, one of them padded."""
  batch = {k: v[:2] for k, v in rte_batch.items()}
  width = int(batch['attention_mask'].sum(1).max())
  batch = {k: v[:, :width] for k, v in batch.items()}
  assert batch['attention_mask'].min() == 0
  return batch


@pytest.fixture(scope='module')
def pretrained_outputs(minilm, minilm_weights, pair_batch):
  base = modeling.BertModel(minilm.config)
  params = load_minilm_params(base, pair_batch, minilm_weights)
  return _apply(base, params, pair_batch)


@pytest.mark.parametrize('method', ['lora', 'ia3', 'bitfit'])
def test_pretrained_function_at_init(method, minilm, minilm_weights,
                                     pair_batch, pretrained_outputs):
  """LoRA (B = 0), IA3 (scales 1) and BitFit compute pretrained BERT."""
  config = _config(method, 'minilm-l6', lora_targets='.')  # LoRA everywhere.
  plan = builder.layer_plan(config, minilm.config.num_layers)
  model = modeling.BertModel(minilm.config, plan)
  params = load_minilm_params(model, pair_batch, minilm_weights)
  seq, pooled = _apply(model, params, pair_batch)
  ref_seq, ref_pooled = pretrained_outputs
  np.testing.assert_allclose(seq, ref_seq, atol=1e-6, rtol=0)
  np.testing.assert_allclose(pooled, ref_pooled, atol=1e-6, rtol=0)
  flat = _flat(params)
  added = {k for k in flat if _added(k)}
  if method == 'bitfit':
    assert not added and plan == ()
    return
  assert added
  # The additions are live: moving them off their init moves the output.
  rng = np.random.default_rng(0)
  moved = {k: (v + 0.1 * rng.standard_normal(v.shape).astype(v.dtype)
               if k in added else v) for k, v in flat.items()}
  seq_moved, _ = _apply(model, param_paths.unflatten(moved), pair_batch)
  mask = pair_batch['attention_mask'][..., None]
  assert np.abs((seq_moved - ref_seq) * mask).max() > 1e-3


def test_pretrained_paths_are_unchanged_and_load(minilm, minilm_weights):
  """Every backbone tensor keeps its path; the additions sit beside them."""
  ids = jax.ShapeDtypeStruct((1, 8), np.int32)

  def loaded(model):  # Strict: a missing or unexpected tensor is an error.
    shapes = jax.eval_shape(model.init, jax.random.key(0), ids)['params']
    return set(_flat(checkpoints.merge_pretrained(shapes, minilm_weights,
                                                  prefix='')))

  base_paths = loaded(modeling.BertModel(minilm.config))
  for method, extra in (('lora', {'attention/query/lora_a',
                                  'attention/value/lora_b'}),
                        ('ia3', {'attention/key_scale/scale',
                                 'intermediate_scale/scale'}),
                        ('prefix', {'attention/prefix/key'})):
    plan = builder.layer_plan(_config(method, 'minilm-l6'), 6)
    flat = loaded(modeling.BertModel(minilm.config, plan))
    assert base_paths <= set(flat)
    new = set(flat) - base_paths
    assert new and all(_added(p) for p in new)
    for e in extra:
      assert f'layer_3/{e}' in new


# --------------------------------------------------------------------------
# LoRA.


def test_lora_dense_matches_numpy():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 3, 5)).astype(np.float32)
  layer = peft.LoRADense(4, rank=2, alpha=6.0)
  params = jax.tree.map(np.asarray, layer.init(jax.random.key(0), x)['params'])
  assert {k: v.shape for k, v in params.items()} == {
      'kernel': (5, 4), 'bias': (4,), 'lora_a': (5, 2), 'lora_b': (2, 4)}
  np.testing.assert_array_equal(params['lora_b'], 0)
  params = {k: rng.standard_normal(v.shape).astype(np.float32)
            for k, v in params.items()}
  expected = (x @ params['kernel'] + params['bias']
              + 3.0 * (x @ params['lora_a']) @ params['lora_b'])
  np.testing.assert_allclose(layer.apply({'params': params}, x), expected,
                             atol=1e-5, rtol=1e-5)
  assert peft.lora_param_count(5, 4, 2) == 18


def test_lora_a_inits():
  x = np.zeros((1, 400), np.float32)
  a = lambda kind: np.asarray(peft.LoRADense(8, rank=16, a_init=kind).init(
      jax.random.key(0), x)['params']['lora_a'])
  uniform = a('kaiming_uniform')
  bound = 1 / np.sqrt(400)  # kaiming_uniform_(a=√5), as the LoRA code.
  assert np.abs(uniform).max() <= bound
  assert np.abs(uniform).max() > 0.95 * bound
  np.testing.assert_allclose(a('gaussian').std(), 1 / 16, rtol=0.1)
  with pytest.raises(ValueError, match='Unknown LoRA init'):
    peft.lora_sites(2, a_init='xavier')


def test_lora_targets_regex():
  plan = peft.lora_sites(2, r'layer_1/(attention_output|intermediate)$')
  assert plan[0] == peft.LayerSites()
  assert plan[1].attention_output and plan[1].intermediate
  assert not (plan[1].query or plan[1].output)
  default = peft.lora_sites(3)
  assert all(s.query and s.value and not s.key for s in default)
  with pytest.raises(ValueError, match='matches no dense layer'):
    peft.lora_sites(2, 'attention/qury')


def test_lora_merge_equals_unmerged():
  config = _config('lora', lora_targets='.', lora_rank=3, lora_alpha=12.0)
  plan = builder.layer_plan(config, TINY.num_layers)
  model = modeling.BertClassifier(TINY, 2, plan)
  batch = _batch([9, 6])
  flat = _flat(_init(model, batch))
  rng = np.random.default_rng(1)
  flat = {k: (rng.standard_normal(v.shape).astype(np.float32) * 0.2
              if k.endswith('lora_b') else v) for k, v in flat.items()}
  params = param_paths.unflatten(flat)
  merged, plain_plan = peft.merge_lora(params, plan)
  assert not any('lora' in k for k in _flat(merged))
  assert set(_flat(merged)) == set(_flat(_plain_params(flat)))
  plain = modeling.BertClassifier(TINY, 2, plain_plan)
  logits = _apply(model, params, batch)
  np.testing.assert_allclose(_apply(plain, merged, batch), logits, atol=1e-5,
                             rtol=0)
  # The update matters: without it the outputs differ.
  assert np.abs(_apply(plain, _plain_params(flat), batch) - logits).max() > 1e-3


# --------------------------------------------------------------------------
# IA3.


def test_ia3_scales_keys_values_and_ffn_activation():
  """Scales l_k, l_v, l_ff equal a plain model with rescaled kernels."""
  plan = builder.layer_plan(_config('ia3'), TINY.num_layers)
  model = modeling.BertClassifier(TINY, 2, plan)
  batch = _batch([9, 6])
  flat = _flat(_init(model, batch))
  np.testing.assert_array_equal(
      flat['bert/layer_0/attention/key_scale/scale'], 1.0)
  rng = np.random.default_rng(2)
  scaled, plain = {}, {}
  for k, v in flat.items():
    scaled[k] = (rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
                 if k.endswith('_scale/scale') else v)
  for k, v in scaled.items():
    if k.endswith('_scale/scale'):
      continue
    plain[k] = v
  for i in range(TINY.num_layers):
    pre = f'bert/layer_{i}/'
    for name in ('key', 'value'):
      s = scaled[f'{pre}attention/{name}_scale/scale']
      plain[f'{pre}attention/{name}/kernel'] = (
          scaled[f'{pre}attention/{name}/kernel'] * s)
      plain[f'{pre}attention/{name}/bias'] = (
          scaled[f'{pre}attention/{name}/bias'] * s)
    l_ff = scaled[f'{pre}intermediate_scale/scale']
    plain[f'{pre}output/kernel'] = scaled[f'{pre}output/kernel'] * l_ff[:, None]
  plain_model = modeling.BertClassifier(TINY, 2)
  np.testing.assert_allclose(
      _apply(model, param_paths.unflatten(scaled), batch),
      _apply(plain_model, param_paths.unflatten(plain), batch), atol=1e-5,
      rtol=1e-5)
  assert peft.ia3_param_count(32, 64) == 128


# --------------------------------------------------------------------------
# Prefix tuning.


def _prefix_model(mlp_hidden=0, length=3):
  config = _config('prefix', prefix_length=length, prefix_mlp=mlp_hidden > 0,
                   prefix_mlp_hidden=mlp_hidden)
  plan = builder.layer_plan(config, TINY.num_layers)
  return modeling.BertModel(TINY, plan), plan


@pytest.mark.parametrize('mlp_hidden', [0, 16])
def test_prefix_padded_batch_equals_unpadded_example(mlp_hidden):
  model, _ = _prefix_model(mlp_hidden)
  padded = _batch([5, 11])
  alone = {k: v[:1, :5] for k, v in padded.items()}
  params = _init(model, padded)
  seq, pooled = _apply(model, params, padded)
  seq1, pooled1 = _apply(model, params, alone)
  np.testing.assert_allclose(seq[0, :5], seq1[0], atol=1e-5, rtol=0)
  np.testing.assert_allclose(pooled[0], pooled1[0], atol=1e-5, rtol=0)
  # Prefixes change the function (they take attention mass): not identity.
  base_seq, _ = _apply(modeling.BertModel(TINY), _plain_params(_flat(params)),
                       alone)
  assert np.abs(base_seq - seq1).max() > 1e-3


@pytest.mark.parametrize('method', ['prefix', 'lora', 'ia3'])
def test_packed_row_equals_examples_alone(method):
  """Packed rows (block-diagonal mask) give each example its own output."""
  plan = builder.layer_plan(_config(method, prefix_length=3), TINY.num_layers)
  model = modeling.BertModel(TINY, plan)
  a, b = _batch([3], seed=5), _batch([4], seed=6)
  packed = {k: np.concatenate([a[k], b[k], np.zeros((1, 2), np.int32)], 1)
            for k in a}
  segment_ids = np.array([[1, 1, 1, 2, 2, 2, 2, 0, 0]], np.int32)
  position_ids = np.array([[0, 1, 2, 0, 1, 2, 3, 0, 0]], np.int32)
  params = _init(model, packed)
  flat = _flat(params)  # Off the init, so LoRA and IA3 change the function.
  rng = np.random.default_rng(7)
  params = param_paths.unflatten({
      k: v + (0.3 * rng.standard_normal(v.shape).astype(v.dtype)
              if _added(k) else 0) for k, v in flat.items()})
  seq, pooled = model.apply(
      {'params': params}, packed['input_ids'], packed['token_type_ids'],
      packed['attention_mask'], segment_ids=segment_ids,
      position_ids=position_ids, cls_index=np.array([[0, 3]], np.int32))
  for example, span, row in ((a, slice(0, 3), 0), (b, slice(3, 7), 1)):
    seq1, pooled1 = _apply(model, params, example)
    np.testing.assert_allclose(seq[0, span], seq1[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(pooled[row], pooled1[0], atol=1e-5, rtol=0)


def _attention_reference(p, x, key_mask, prefix_key, prefix_value, heads):
  """Self-attention over [prefix; tokens] in float64 NumPy."""
  b, t, d = x.shape
  dh = d // heads
  split = lambda y: y.reshape(y.shape[0], -1, heads, dh).transpose(0, 2, 1, 3)
  dense = lambda name: x @ p[name]['kernel'] + p[name]['bias']
  q, k, v = split(dense('query')), split(dense('key')), split(dense('value'))
  pk = np.broadcast_to(split(prefix_key[None]), (b, heads, len(prefix_key), dh))
  pv = np.broadcast_to(split(prefix_value[None]), pk.shape)
  k, v = np.concatenate([pk, k], 2), np.concatenate([pv, v], 2)
  scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
  visible = np.concatenate([np.ones((b, prefix_key.shape[0])), key_mask], 1)
  scores = np.where(visible[:, None, None, :] > 0, scores, -np.inf)
  probs = np.exp(scores - scores.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, d)


def test_prefix_attention_matches_numpy_reference():
  sites = peft.prefix_sites(1, length=4)[0]
  attention = modeling.BertSelfAttention(TINY, sites=sites)
  rng = np.random.default_rng(3)
  x = rng.standard_normal((2, 6, TINY.hidden_size)).astype(np.float32)
  key_mask = np.array([[1] * 6, [1] * 4 + [0] * 2], np.float32)
  mask_bias = np.where(key_mask[:, None, None, :] > 0, 0.0, -1e9).astype(
      np.float32)
  params = jax.tree.map(np.asarray, attention.init(
      jax.random.key(0), x, mask_bias, True)['params'])
  assert params['prefix']['key'].shape == (4, TINY.hidden_size)
  ours = attention.apply({'params': params}, x, mask_bias, True)
  ref = _attention_reference(
      jax.tree.map(lambda a: np.asarray(a, np.float64), params),
      x.astype(np.float64), key_mask, params['prefix']['key'].astype(
          np.float64), params['prefix']['value'].astype(np.float64),
      TINY.num_heads)
  np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=1e-5)


def test_prefix_with_block_diagonal_mask_matches_separate_rows():
  """A [B, 1, T, T] (packed) mask gets the prefix columns as [B, 1, 1, T]."""
  sites = peft.prefix_sites(1, length=3)[0]
  layer = modeling.BertLayer(TINY, sites=sites)
  rng = np.random.default_rng(4)
  a = rng.standard_normal((1, 3, TINY.hidden_size)).astype(np.float32)
  b = rng.standard_normal((1, 4, TINY.hidden_size)).astype(np.float32)
  open_row = lambda n: np.zeros((1, 1, 1, n), np.float32)
  params = layer.init(jax.random.key(0), a, open_row(3), True)['params']
  run = lambda x, m: np.asarray(layer.apply({'params': params}, x, m, True))
  segment = np.array([1, 1, 1, 2, 2, 2, 2])
  block = np.where(segment[:, None] == segment[None], 0.0, -1e9).astype(
      np.float32)[None, None]
  packed = run(np.concatenate([a, b], 1), block)
  np.testing.assert_allclose(packed[:, :3], run(a, open_row(3)), atol=1e-5)
  np.testing.assert_allclose(packed[:, 3:], run(b, open_row(4)), atol=1e-5)


def test_fold_prefix_mlp_keeps_the_function():
  model, plan = _prefix_model(mlp_hidden=16, length=3)
  batch = _batch([7, 4])
  params = _init(model, batch)
  folded, direct_plan = peft.fold_prefix_mlp(params, plan, TINY.hidden_size,
                                             prefix='')
  flat = _flat(folded)
  assert 'layer_1/attention/prefix/key' in flat
  assert not any('mlp_' in k or 'embedding' in k.split('/')[-1] and
                 'prefix' in k for k in flat)
  direct = modeling.BertModel(TINY, direct_plan)
  for ours, theirs in zip(_apply(direct, folded, batch),
                          _apply(model, params, batch)):
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
  prefix_params = sum(v.size for k, v in flat.items() if '/prefix/' in k)
  assert prefix_params == TINY.num_layers * peft.prefix_param_count(32, 3)


# --------------------------------------------------------------------------
# Trainable sets, optimizer state and one real step.


def _expected_trainable(method, paths):
  head = {'classifier/kernel', 'classifier/bias'}
  layers = range(TINY.num_layers)
  if method == 'lora':
    return head | {f'bert/layer_{i}/attention/{n}/lora_{ab}' for i in layers
                   for n in ('query', 'value') for ab in 'ab'}
  if method == 'ia3':
    return head | {f'bert/layer_{i}/{s}/scale' for i in layers
                   for s in ('attention/key_scale', 'attention/value_scale',
                             'intermediate_scale')}
  if method == 'prefix':
    return head | {f'bert/layer_{i}/attention/prefix/{n}' for i in layers
                   for n in ('key', 'value')}
  assert method == 'bitfit'
  return head | {p for p in paths if p.startswith('bert/') and
                 p.endswith('/bias')}


@pytest.mark.parametrize('method', NEW_METHODS)
def test_only_the_method_trains_and_has_optimizer_state(method):
  # The benchmark's own build (as training builds it), at a tiny shape; lr at
  # full strength from the first update.
  settings = method_step.Settings.smoke_settings(
      methods=(method,), batch_size=4, seq_len=16,
      overrides='warmup_frac=0.0,prefix_length=2')
  backbone = backbones.resolve('tiny')
  run, batch = method_step.build_method(method, settings, backbone)
  trainable = _flat(run.trainable)
  frozen = _flat(run.frozen)
  assert set(trainable) == _expected_trainable(method,
                                               set(trainable) | set(frozen))
  if method == 'bitfit':
    assert 'bert/embeddings/layer_norm/bias' in trainable
    assert 'bert/pooler/bias' in trainable
    assert not any(p.endswith(('/kernel', '/scale', '/embedding'))
                   for p in trainable if p.startswith('bert/'))
  # Adam's two moments for the trainable leaves, and nothing else but counts.
  moments = [x for x in jax.tree.leaves(run.opt_state) if x.ndim]
  assert sum(x.size for x in moments) == 2 * optim.count(trainable)
  assert method_step.tree_bytes(run.opt_state) <= 2 * method_step.tree_bytes(
      run.trainable) + 64
  before = jax.tree.map(np.array, trainable)
  new, _, metrics = run.train_step(run.trainable, run.opt_state, run.frozen,
                                   batch, jax.random.key(0))
  assert np.isfinite(float(metrics['loss']))
  new = _flat(new)
  assert set(new) == set(before)
  changed = {k for k in new if not np.array_equal(np.asarray(new[k]),
                                                  before[k])}
  assert changed == set(before)  # Every trained leaf moves (decay or grad).
  if method == 'lora':
    assert float(np.abs(np.asarray(
        new['bert/layer_0/attention/query/lora_b'])).max()) > 0


# --------------------------------------------------------------------------
# configs/peft.py: formulas against real counts, budgets, sweeps.


@pytest.mark.parametrize('backbone', ['tiny', 'minilm-l6'])
def test_budget_formulas_match_real_parameter_counts(backbone):
  resolved = backbones.resolve(backbone)
  shape = peft_configs.SHAPES[backbone]
  c = resolved.config
  assert shape == dict(vocab=c.vocab_size, hidden=c.hidden_size,
                       layers=c.num_layers, intermediate=c.intermediate_size,
                       positions=c.max_position_embeddings,
                       types=c.type_vocab_size)
  ids = jax.ShapeDtypeStruct((1, 8), np.int32)

  def counts(config):
    model = builder.build_model(config, c, 2)
    flat = _flat(jax.eval_shape(model.init, jax.random.key(0), ids,
                                ids)['params'])
    paths = optim.trainable_paths(flat, optim.method_patterns(
        config.method, c.num_layers))
    trained = {p: flat[p] for p in paths if not p.startswith('classifier/')}
    bert = {p: v for p, v in flat.items() if p.startswith('bert/')}
    return optim.count(trained), optim.count(bert)

  _, plain = counts(_config('full', backbone))
  assert plain == peft_configs.backbone_params(backbone)
  for method in peft_configs.METHODS:
    key = peft_configs.SIZE_KEYS.get(method)
    for size in ((3, 5) if key else (0,)):
      config = peft_configs.get_config(
          f'method={method},backbone={backbone},budget=0,prefix_mlp=false')
      if key:
        config[key] = size
      trained, _ = counts(config)
      assert trained == peft_configs.method_params(method, backbone, size), (
          method, size)
  # With the MLP, prefix tuning trains the MLP (the budget counts its output).
  config = peft_configs.get_config(f'method=prefix,backbone={backbone},'
                                   'budget=0,prefix_mlp=true')
  trained, _ = counts(config)
  assert trained == c.num_layers * peft.prefix_param_count(
      c.hidden_size, config.prefix_length, config.prefix_mlp_hidden)


def test_budget_sizes_are_the_documented_ones():
  """The sizes the configs/peft.py docstring states for minilm-l6."""
  assert peft_configs.backbone_params('minilm-l6') == 22_713_216
  assert peft_configs.budget_sizes(0.01, 'minilm-l6') == dict(
      adapter={'m': 23}, lora={'lora_rank': 25}, ia3={},
      prefix={'prefix_length': 49}, bitfit={})
  assert peft_configs.budget_sizes(0.001, 'minilm-l6') == dict(
      adapter={'m': 1}, lora={'lora_rank': 2}, ia3={},
      prefix={'prefix_length': 5}, bitfit={})
  documented = {('adapter', 23): 226_836, ('lora', 25): 230_400,
                ('prefix', 49): 225_792, ('adapter', 1): 23_820,
                ('lora', 2): 18_432, ('prefix', 5): 23_040, ('ia3', 0): 13_824,
                ('bitfit', 0): 26_112}
  for (method, size), n in documented.items():
    assert peft_configs.method_params(method, 'minilm-l6', size) == n
  # Prefix tuning's MLP at P=49 (trained, then folded away).
  assert 6 * peft.prefix_param_count(384, 49, 512) == 3_659_520


def _runs(arg):
  points = []
  peft_configs.sweep(lambda **kw: points.append(kw), arg)
  base = peft_configs.get_config(arg)
  return sweep_lib.expand(base, points)


def test_sweeps_declare_the_comparison():
  lrs = ','.join(f'lr_{m}=1e-3' for m in peft_configs.METHODS)
  grid = _runs('sweep=lr_grid')
  assert len(grid) == 5 * 3 + 1  # IA3's grid has a fourth point.
  assert {r.config.task for r in grid} == {'mrpc'}
  assert {r.config.seed for r in grid} == {0}
  by_method = {r.config.method: r.config for r in grid}
  assert by_method['adapter'].m == 23 and by_method['adapter'].placement == (
      'houlsby')
  assert by_method['lora'].lora_rank == 25
  assert by_method['lora'].placement == 'none'
  assert by_method['prefix'].prefix_length == 49
  assert by_method['prefix'].prefix_mlp
  seeds = _runs(f'sweep=seeds,{lrs}')
  assert len(seeds) == 5 * 4 * 3
  assert {r.config.task for r in seeds} == {'mrpc', 'rte', 'stsb', 'cola'}
  assert {r.config.lr for r in seeds} == {1e-3}
  small = _runs(f'sweep=budget_0p1,{lrs}')
  assert len(small) == 3 * 3
  assert {(r.config.method, r.config.m if r.config.method == 'adapter' else
           r.config.lora_rank if r.config.method == 'lora' else
           r.config.prefix_length) for r in small} == {
               ('adapter', 1), ('lora', 2), ('prefix', 5)}
  with pytest.raises(ValueError, match='lr_lora'):
    _runs('sweep=seeds,lr_adapter=1e-3')
  with pytest.raises(ValueError, match='Unknown sweep'):
    _runs('sweep=paper')


def test_seed_sweeps_read_the_selected_rates(tmp_path):
  path = tmp_path / 'selected.json'
  path.write_text(json.dumps({'lr': dict(adapter=3e-3, lora=3e-4, ia3=1e-2,
                                         prefix=1e-4, bitfit=1e-3)}))
  seeds = _runs(f'sweep=seeds,selected={path},lr_adapter=1e-3')
  lr = {r.config.method: r.config.lr for r in seeds}
  assert lr == dict(adapter=1e-3, lora=3e-4, ia3=1e-2, prefix=1e-4,
                    bitfit=1e-3)  # lr_adapter given wins over the file.
  path.write_text(json.dumps({'lr': dict(adapter=3e-3)}))
  with pytest.raises(ValueError, match='lr_lora'):
    _runs(f'sweep=budget_0p1,selected={path}')
  with pytest.raises(ValueError, match='cannot read'):
    _runs(f'sweep=seeds,selected={tmp_path / "absent.json"}')


def test_check_sweep_runs_past_the_grid_ends_it_selected(tmp_path):
  path = tmp_path / 'selected.json'
  # adapter mid-grid (no check); lora at its top, ia3 at its bottom.
  path.write_text(json.dumps({'lr': dict(adapter=1e-3, lora=3e-3, ia3=1e-3,
                                         prefix=3e-4, bitfit=3e-3)}))
  checks = _runs(f'sweep=checks,selected={path}')
  got = sorted((r.config.method, r.config.lr) for r in checks)
  assert got == sorted([('lora', 1e-2), ('ia3', 3e-4), ('bitfit', 1e-2),
                        ('prefix', 1e-2)])
  assert [r.config.prefix_mlp for r in checks
          if r.config.method == 'prefix'] == [False]
  assert {r.config.task for r in checks} == {'mrpc'}
  assert {r.config.seed for r in checks} == {0}
  assert {r.config.lora_rank for r in checks
          if r.config.method == 'lora'} == {25}
  assert {r.config.prefix_length for r in checks
          if r.config.method == 'prefix'} == {49}
  assert peft_configs.edge_check_lr('prefix', 1e-3) == 3e-3
  assert peft_configs.edge_check_lr('prefix', 1e-4) == 3e-5
  assert peft_configs.edge_check_lr('prefix', 3e-4) is None


def test_old_artifact_configs_build_without_the_new_keys():
  config = dict(common.base_config().to_dict(), method='lora',
                placement='none')
  for key in ('lora_rank', 'lora_alpha', 'lora_targets', 'lora_init',
              'prefix_length', 'prefix_mlp', 'prefix_mlp_hidden'):
    del config[key]
  plan = builder.layer_plan(config, 2)
  assert plan[0][:2] == (None, None)
  assert plan[0][2].query.keywords == dict(rank=8, alpha=8.0,
                                           a_init='kaiming_uniform')
  assert builder.layer_plan(dict(config, method='full'), 2) == ()


def test_default_layer_sites_are_plain_bert():
  """No site set: the same parameter tree as a model without sites."""
  batch = _batch([4])
  with_sites = modeling.BertModel(TINY, peft.with_sites(
      (), (peft.LayerSites(),) * TINY.num_layers, TINY.num_layers))
  shapes = lambda m: jax.tree.map(np.shape, jax.eval_shape(
      functools.partial(m.init, jax.random.key(0)), batch['input_ids']))
  assert shapes(with_sites) == shapes(modeling.BertModel(TINY))
  flat = param_paths.flatten(shapes(with_sites)['params'])
  assert 'layer_1/attention/query/kernel' in flat


def test_lora_run_exports_an_artifact_that_loads_and_merges(tmp_path):
  """Train (2 steps), export, load, merge: the merged model predicts the same."""
  # pylint: disable-next=g-import-not-at-top
  from adapter_bert import artifact_files, artifacts
  config = peft_configs.get_config('task=rte,method=lora,backbone=tiny,'
                                   'budget=0')
  config.update(dict(cache_dir=str(tmp_path / 'tokens'), max_steps=2,
                     batch_size=8, eval_batch_size=64, eval_every=2,
                     predict=False, max_length=32, warmup_frac=0.0))
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  # L=2 layers x (query, value) x r=8 x (d_in + d_out), and the head.
  assert results['trainable_params'] == 2 * 2 * 8 * (32 + 32) + 2 * 32 + 2
  loaded = artifacts.load(str(tmp_path / 'run' / 'artifact'))
  assert set(artifact_files.read(str(tmp_path / 'run' / 'artifact'))[1]) == (
      _expected_trainable('lora', ()))
  lora_b = _flat(loaded.params)['bert/layer_0/attention/query/lora_b']
  assert np.abs(np.asarray(lora_b)).max() > 0  # Trained, not the zero init.
  merged, plan = peft.merge_lora(loaded.params, loaded.model.adapter_plan)
  plain = modeling.BertClassifier(TINY, 2, plan)
  batch = _batch([9, 5])
  np.testing.assert_allclose(_apply(plain, merged, batch),
                             _apply(loaded.model, loaded.params, batch),
                             atol=1e-5, rtol=0)


def test_prefix_mlp_run_stores_the_folded_prefixes(tmp_path):
  """The artifact holds 2·L·P·d prefix numbers, no MLP, and scores as trained."""
  # pylint: disable-next=g-import-not-at-top
  from adapter_bert import artifact_files, inference
  from experiments import artifact_eval  # pylint: disable=g-import-not-at-top
  config = peft_configs.get_config('task=stsb,method=prefix,backbone=tiny,'
                                   'budget=0')
  assert config.prefix_mlp
  config.update(dict(cache_dir=str(tmp_path / 'tokens'), max_steps=2,
                     batch_size=8, eval_batch_size=64, eval_every=2,
                     predict=False, max_length=32, warmup_frac=0.0))
  results = train.train_and_evaluate(config, str(tmp_path / 'run'))
  artifact = str(tmp_path / 'run' / 'artifact')
  meta, stored = artifact_files.read(artifact)
  assert meta['config']['prefix_mlp'] is False
  prefix = {k: v for k, v in stored.items() if '/prefix/' in k}
  assert sorted({k.rsplit('/', 1)[1] for k in prefix}) == ['key', 'value']
  length, d = config.prefix_length, TINY.hidden_size
  assert sum(v.size for v in prefix.values()) == (
      2 * TINY.num_layers * length * d)
  # Trained through the MLP, the run counted it; the artifact does not need it.
  assert results['trainable_params'] > sum(v.size for v in stored.values())
  # Re-scored from the artifact, dev's correlations equal training's.
  dev = artifact_eval.load_dev(artifact, cache_dir=config.cache_dir)
  eval_step = inference.make_eval_step(dev.loaded.model)
  outputs = inference.predict(
      lambda b: eval_step(dev.loaded.params, {}, b), dev.features.arrays,
      64, packing=bool(dev.config.packing))
  rescored = dev.task.evaluate(outputs, dev.features)
  assert set(rescored) == set(results['dev'])
  for key, value in results['dev'].items():
    assert rescored[key] == pytest.approx(value, abs=1e-5), key


def test_lower_lr_sweep_steps_one_grid_rate_down_on_other_tasks(tmp_path):
  path = tmp_path / 'selected.json'
  path.write_text(json.dumps({'lr': dict(adapter=1e-3, lora=3e-3, ia3=3e-2,
                                         prefix=1e-4, bitfit=3e-3)}))
  runs = _runs(f'sweep=lower_lr,selected={path}')
  got = sorted((r.config.method, r.config.task, r.config.seed, r.config.lr)
               for r in runs)
  assert got == sorted((('lora', t, s, 1e-3) for t in ('stsb', 'cola')
                        for s in (0, 1, 2)))
  assert {r.config.lora_rank for r in runs} == {25}
  # Chosen methods; one at the bottom of its grid (prefix) has no lower rate.
  runs = _runs(f'sweep=lower_lr,selected={path},methods=ia3+prefix,tasks=rte')
  assert sorted((r.config.method, r.config.lr) for r in runs) == [
      ('ia3', 1e-2)] * 3
  with pytest.raises(ValueError, match="methods='dora'"):
    _runs(f'sweep=lower_lr,selected={path},methods=dora')
  assert peft_configs.lower_grid_lr('ia3', 3e-2) == 1e-2
  assert peft_configs.lower_grid_lr('adapter', 3e-4) is None
