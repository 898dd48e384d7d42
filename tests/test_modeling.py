"""BERT parity with HF PyTorch, adapter near-identity, and parameter counts."""


import jax
import numpy as np
import pytest

from adapter_bert import adapters
from adapter_bert import modeling
from adapter_bert import param_paths
from tests.conftest import init_params, load_minilm_params


def _apply(model, params, batch):
  return model.apply({'params': params}, batch['input_ids'],
                     batch['token_type_ids'], batch['attention_mask'])


def test_parity_with_hf_pytorch_bert(minilm, minilm_weights, rte_batch):
  torch = pytest.importorskip('torch')
  transformers = pytest.importorskip('transformers')
  model = modeling.BertModel(minilm.config)
  params = load_minilm_params(model, rte_batch, minilm_weights)
  sequence, pooled = _apply(model, params, rte_batch)

  reference = transformers.BertModel.from_pretrained(minilm.weights_dir).eval()
  with torch.no_grad():
    out = reference(**{k: torch.tensor(v) for k, v in rte_batch.items()})
  mask = rte_batch['attention_mask'][..., None]
  assert mask.min() == 0, 'the batch should contain padding'
  np.testing.assert_allclose(np.asarray(sequence) * mask,
                             out.last_hidden_state.numpy() * mask, atol=1e-5,
                             rtol=0)
  np.testing.assert_allclose(pooled, out.pooler_output.numpy(), atol=1e-5,
                             rtol=0)


def _adapter_model(config, m=64, **kwargs):
  plan = adapters.build_plan(config.num_layers, 'houlsby', size=m, **kwargs)
  return modeling.BertModel(config, adapter_plan=plan)


def test_adapters_are_near_identity_at_init(minilm, minilm_weights, rte_batch):
  base = modeling.BertModel(minilm.config)
  base_params = load_minilm_params(base, rte_batch, minilm_weights)
  model = _adapter_model(minilm.config, init_scale=1e-3)
  params = load_minilm_params(model, rte_batch, minilm_weights)
  ref_seq, ref_pooled = _apply(base, base_params, rte_batch)
  seq, pooled = _apply(model, params, rte_batch)
  rel = np.linalg.norm(seq - ref_seq) / np.linalg.norm(ref_seq)
  assert 0 < rel <= 1e-3
  # Zeroing the up-projections makes every adapter exactly the identity.
  flat = param_paths.flatten(params)
  flat = {k: (np.zeros_like(v) if '/up/' in k else v) for k, v in flat.items()}
  zeroed = param_paths.unflatten(flat)
  seq0, pooled0 = _apply(model, zeroed, rte_batch)
  np.testing.assert_array_equal(seq0, ref_seq)
  np.testing.assert_array_equal(pooled0, ref_pooled)


def _adapter_leaves(params):
  flat = param_paths.flatten(params)
  return {k: v for k, v in flat.items() if '/adapter_' in k}


@pytest.mark.parametrize('d,m,layers', [(32, 8, 2), (384, 64, 6), (768, 64, 12),
                                        (1024, 256, 24), (768, 2, 12)])
def test_parameter_count_matches_formula(d, m, layers):
  config = modeling.BertConfig(vocab_size=8, hidden_size=d, num_layers=layers,
                               num_heads=2, intermediate_size=8,
                               max_position_embeddings=4)
  model = _adapter_model(config, m=m)
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          np.zeros((1, 4), np.int32))['params']
  leaves = _adapter_leaves(shapes)
  per_adapter = adapters.adapter_param_count(d, m)
  assert per_adapter == 2 * m * d + d + m
  assert len(leaves) == 2 * layers * 4  # down/up kernel and bias, 2 sites.
  total = sum(int(np.prod(v.shape)) for v in leaves.values())
  assert total == 2 * layers * per_adapter
  if (d, m, layers) == (768, 64, 12):
    assert total == 2_379_264  # BERT-base, m=64 (issue 2).


@pytest.mark.parametrize('placement,sites', [('houlsby', {'attn', 'ffn'}),
                                             ('pfeiffer', {'ffn'}),
                                             ('attention', {'attn'}),
                                             ('none', set())])
def test_placements(placement, sites):
  config = modeling.BertConfig(vocab_size=8, hidden_size=16, num_layers=3,
                               num_heads=2, intermediate_size=8,
                               max_position_embeddings=4)
  plan = adapters.build_plan(3, placement, size=4)
  model = modeling.BertModel(config, adapter_plan=plan)
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          np.zeros((1, 4), np.int32))['params']
  found = {k.split('/')[1].removeprefix('adapter_')
           for k in _adapter_leaves(shapes)}
  assert found == sites
  with pytest.raises(ValueError, match='placement'):
    adapters.build_plan(3, 'everywhere', size=4)


def test_adapter_init_is_truncated_normal_with_zero_bias():
  adapter = adapters.BottleneckAdapter(size=256, init_scale=1e-2)
  h = np.ones((1, 512), np.float32)
  params = adapter.init(jax.random.key(0), h, h)['params']
  down = np.asarray(params['down']['kernel'])
  assert np.abs(down).max() <= 2e-2
  assert 0.8e-2 < down.std() < 0.9e-2  # σ of N(0, 1e-2) cut at ±2σ ≈ 0.88σ.
  np.testing.assert_array_equal(params['down']['bias'], 0)
  np.testing.assert_array_equal(params['up']['bias'], 0)


def test_bfloat16_compute_keeps_float32_params(rte_batch):
  config = modeling.BertConfig(hidden_size=32, num_layers=2, num_heads=2,
                               intermediate_size=64)
  plan = adapters.build_plan(2, 'houlsby', size=8)
  model = modeling.BertClassifier(config, 2, adapter_plan=plan,
                                  dtype=jax.numpy.bfloat16)
  params = init_params(model, rte_batch)
  assert {v.dtype for v in jax.tree.leaves(params)} == {np.dtype('float32')}
  logits = _apply(model, params, rte_batch)
  assert logits.dtype == np.float32 and logits.shape == (8, 2)
  f32 = modeling.BertClassifier(config, 2, adapter_plan=plan)
  np.testing.assert_allclose(logits, _apply(f32, params, rte_batch), atol=0.05)


def test_classifier_heads_and_pooling(rte_batch):
  config = modeling.BertConfig(hidden_size=32, num_layers=2, num_heads=2,
                               intermediate_size=64)
  for pooling in ('pooler', 'mean'):
    model = modeling.BertClassifier(config, 1, pooling=pooling)
    params = init_params(model, rte_batch)
    assert params['classifier']['kernel'].shape == (32, 1)
    assert _apply(model, params, rte_batch).shape == (8, 1)
  with pytest.raises(ValueError, match='pooling'):
    model = modeling.BertClassifier(config, 2, pooling='max')
    init_params(model, rte_batch)
