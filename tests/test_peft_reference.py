"""LoRA, IA3 and prefix tuning against independent PyTorch implementations.

HF PEFT's LoRA and IA3 wrap HF's BertModel; given the same added weights,
they must compute what ours does on the embedded backbone. Prefix tuning is
checked against HF's BertModel fed the prefixes as past keys and values,
because HF PEFT's prefix tuning of BERT moves every real token's position by
the prefix length and drops the token types (shown below), while ours keeps
the positions and segments the backbone was pretrained with.
"""

import numpy as np
import pytest

from adapter_bert import builder
from adapter_bert import modeling
from adapter_bert import param_paths
from configs import common
from tests.conftest import load_minilm_params

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')
hf_peft = pytest.importorskip('peft')

# The FFN's second dense in HF's BERT (its input is the intermediate
# activation IA3 scales); not the attention output's dense.
_HF_FFN_OUT = r'.*\.layer\.\d+\.output\.dense'


@pytest.fixture(name='single_batch', scope='module')
def _single_batch(tokenizer, rte_pairs):
  """Three RTE premises alone (one segment), padded to the longest."""
  batch = dict(tokenizer(list(rte_pairs[0][:3]), padding=True,
                         truncation=True, max_length=64, return_tensors='np'))
  assert batch['attention_mask'].min() == 0
  return batch


def _ours(minilm, minilm_weights, batch, method, **keys):
  config = common.base_config()
  config.method = method
  config.backbone = 'minilm-l6'
  config.placement = 'none'
  for key, value in keys.items():
    config[key] = value
  model = modeling.BertModel(
      minilm.config, builder.layer_plan(config, minilm.config.num_layers))
  params = load_minilm_params(model, batch, minilm_weights)
  return model, param_paths.flatten(params)


def _run_ours(model, flat, batch):
  seq, _ = model.apply({'params': param_paths.unflatten(flat)},
                       batch['input_ids'], batch['token_type_ids'],
                       batch['attention_mask'])
  return np.asarray(seq)


def _hf_bert(minilm):
  return transformers.BertModel.from_pretrained(minilm.weights_dir).eval()


def _run_hf(model, batch, **extra):
  inputs = {k: torch.from_numpy(np.asarray(v, np.int64))
            for k, v in batch.items()}
  inputs.update(extra)
  with torch.no_grad():
    return model(**inputs).last_hidden_state.numpy()


def _assert_close_on_tokens(ours, theirs, batch, atol=1e-5):
  mask = batch['attention_mask'][..., None]
  np.testing.assert_allclose(ours * mask, theirs * mask, atol=atol, rtol=0)


def _hf_layer(name):
  """HF module path -> (its layer index, the path's parts)."""
  parts = name.split('.')
  return int(parts[parts.index('layer') + 1]), parts


def test_lora_equals_hf_peft_lora(minilm, minilm_weights, rte_batch):
  batch = {k: v[:3] for k, v in rte_batch.items()}  # Pairs, padded.
  rank, alpha = 4, 8.0
  model, flat = _ours(minilm, minilm_weights, batch, 'lora', lora_rank=rank,
                      lora_alpha=alpha)
  reference = hf_peft.get_peft_model(_hf_bert(minilm), hf_peft.LoraConfig(
      r=rank, lora_alpha=alpha, lora_dropout=0.0,
      target_modules=['query', 'value']))
  rng = np.random.default_rng(0)
  written = 0
  with torch.no_grad():
    for name, module in reference.named_modules():
      if not hasattr(module, 'lora_A') or 'default' not in module.lora_A:
        continue
      layer, parts = _hf_layer(name)
      a = 0.1 * rng.standard_normal((module.in_features, rank))
      b = 0.1 * rng.standard_normal((rank, module.out_features))  # Not 0.
      module.lora_A['default'].weight.copy_(torch.from_numpy(a.T.copy()))
      module.lora_B['default'].weight.copy_(torch.from_numpy(b.T.copy()))
      ours = f'layer_{layer}/attention/{parts[-1]}'
      flat[f'{ours}/lora_a'] = a.astype(np.float32)
      flat[f'{ours}/lora_b'] = b.astype(np.float32)
      written += 1
  assert written == 2 * minilm.config.num_layers
  _assert_close_on_tokens(_run_ours(model, flat, batch),
                          _run_hf(reference, batch), batch)


def test_ia3_equals_hf_peft_ia3(minilm, minilm_weights, rte_batch):
  batch = {k: v[:3] for k, v in rte_batch.items()}
  model, flat = _ours(minilm, minilm_weights, batch, 'ia3')
  reference = hf_peft.get_peft_model(_hf_bert(minilm), hf_peft.IA3Config(
      target_modules=rf'.*\.attention\.self\.(key|value)|{_HF_FFN_OUT}',
      feedforward_modules=_HF_FFN_OUT))
  rng = np.random.default_rng(1)
  written = set()
  with torch.no_grad():
    for name, module in reference.named_modules():
      if not hasattr(module, 'ia3_l') or 'default' not in module.ia3_l:
        continue
      layer, parts = _hf_layer(name)
      scale = module.ia3_l['default']
      values = rng.uniform(0.5, 1.5, scale.numel())
      scale.copy_(torch.from_numpy(values.reshape(scale.shape)))
      ours = (f'layer_{layer}/intermediate_scale/scale'
              if parts[-2] == 'output' else
              f'layer_{layer}/attention/{parts[-1]}_scale/scale')
      assert flat[ours].shape == values.shape
      flat[ours] = values.astype(np.float32)
      written.add(ours)
  assert len(written) == 3 * minilm.config.num_layers
  _assert_close_on_tokens(_run_ours(model, flat, batch),
                          _run_hf(reference, batch), batch)


def _prefix_cache(config, prefixes, batch_size):
  """HF's cache holding each layer's [P, d] prefix keys and values."""
  heads = config.num_attention_heads
  head_dim = config.hidden_size // heads
  cache = transformers.DynamicCache(config=config)
  for layer, (key, value) in enumerate(prefixes):
    split = lambda p: torch.from_numpy(np.ascontiguousarray(np.broadcast_to(
        p.reshape(len(p), heads, head_dim).transpose(1, 0, 2)[None],
        (batch_size, heads, len(p), head_dim))))
    cache.update(split(key), split(value), layer)
  return cache


def _random_prefixes(flat, num_layers, rng):
  prefixes = []
  for layer in range(num_layers):
    pair = []
    for name in ('key', 'value'):
      path = f'layer_{layer}/attention/prefix/{name}'
      flat[path] = rng.standard_normal(flat[path].shape).astype(np.float32)
      pair.append(flat[path])
    prefixes.append(tuple(pair))
  return prefixes


def test_prefix_equals_hf_bert_with_prefixes_as_past_keys(
    minilm, minilm_weights, rte_batch):
  batch = {k: v[:3] for k, v in rte_batch.items()}  # Pairs, padded.
  length = 5
  model, flat = _ours(minilm, minilm_weights, batch, 'prefix',
                      prefix_length=length)
  prefixes = _random_prefixes(flat, minilm.config.num_layers,
                              np.random.default_rng(2))
  hf = _hf_bert(minilm)
  rows, width = batch['input_ids'].shape
  theirs = _run_hf(
      hf, batch,
      attention_mask=torch.from_numpy(np.concatenate(
          [np.ones((rows, length), np.int64), batch['attention_mask']], 1)),
      position_ids=torch.arange(width)[None].repeat(rows, 1),
      past_key_values=_prefix_cache(hf.config, prefixes, rows))
  _assert_close_on_tokens(_run_ours(model, flat, batch), theirs, batch)


def test_hf_peft_prefix_tuning_differs_by_position_shift_only(
    minilm, minilm_weights, single_batch):
  """Why HF PEFT's prefix tuning is not our reference: on one segment (it
  drops token types) it equals HF's BertModel with the same past keys whose
  real tokens sit at positions P..P+T-1 instead of 0..T-1."""
  length = 5
  num_layers = minilm.config.num_layers
  rng = np.random.default_rng(3)
  _, flat = _ours(minilm, minilm_weights, single_batch, 'prefix',
                  prefix_length=length)
  prefixes = _random_prefixes(flat, num_layers, rng)
  reference = hf_peft.get_peft_model(
      _hf_bert(minilm), hf_peft.PrefixTuningConfig(
          task_type='FEATURE_EXTRACTION', num_virtual_tokens=length))
  # PEFT's one embedding row per virtual token: [layers x (key, value), d].
  table = np.stack([np.concatenate([k, v], 1) for k, v in prefixes], 1)
  with torch.no_grad():
    reference.prompt_encoder['default'].embedding.weight.copy_(
        torch.from_numpy(table.reshape(length, -1)))
  peft_out = _run_hf(reference, single_batch)
  hf = _hf_bert(minilm)
  rows = single_batch['input_ids'].shape[0]
  open_prefix = np.concatenate([np.ones((rows, length), np.int64),
                                single_batch['attention_mask']], 1)
  shifted = _run_hf(hf, single_batch,
                    attention_mask=torch.from_numpy(open_prefix),
                    past_key_values=_prefix_cache(hf.config, prefixes, rows))
  _assert_close_on_tokens(peft_out, shifted, single_batch)
  kept = _run_hf(hf, single_batch,
                 attention_mask=torch.from_numpy(open_prefix),
                 position_ids=torch.arange(
                     single_batch['input_ids'].shape[1])[None].repeat(rows, 1),
                 past_key_values=_prefix_cache(hf.config, prefixes, rows))
  mask = single_batch['attention_mask'][..., None]
  assert np.abs((kept - shifted) * mask).max() > 1e-2
