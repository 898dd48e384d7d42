"""Strict pretrained-weight loading: HF safetensors, torch .bin, original TF."""

import json

import numpy as np
import pytest

from adapter_bert import adapters
from adapter_bert import backbones
from adapter_bert import checkpoints
from adapter_bert import modeling
from adapter_bert import param_paths
from tests.conftest import init_params

TINY = backbones.TINY_CONFIG


@pytest.fixture(scope='module')
def tiny_hf_tensors(rte_batch):
  """A tiny random BERT saved as HF BertModel tensors (via transformers)."""
  torch = pytest.importorskip('torch')
  transformers = pytest.importorskip('transformers')
  config = transformers.BertConfig(
      vocab_size=TINY.vocab_size, hidden_size=TINY.hidden_size,
      num_hidden_layers=TINY.num_layers, num_attention_heads=TINY.num_heads,
      intermediate_size=TINY.intermediate_size)
  torch.manual_seed(0)
  model = transformers.BertModel(config).eval()
  return model, {k: v.numpy() for k, v in model.state_dict().items()}


def test_hf_tensors_load_and_match_pytorch(tiny_hf_tensors, rte_batch):
  torch = pytest.importorskip('torch')
  reference, tensors = tiny_hf_tensors
  model = modeling.BertModel(TINY)
  params = checkpoints.merge_pretrained(
      init_params(model, rte_batch), checkpoints.convert_hf_weights(tensors),
      prefix='')
  seq, pooled = model.apply({'params': params}, rte_batch['input_ids'],
                            rte_batch['token_type_ids'],
                            rte_batch['attention_mask'])
  with torch.no_grad():
    out = reference(**{k: torch.tensor(v) for k, v in rte_batch.items()})
  np.testing.assert_allclose(pooled, out.pooler_output.numpy(), atol=1e-5)


def test_pytorch_bin_directory_is_read(tiny_hf_tensors, tmp_path):
  torch = pytest.importorskip('torch')
  reference, tensors = tiny_hf_tensors
  torch.save(reference.state_dict(), tmp_path / 'pytorch_model.bin')
  read = checkpoints.read_hf_directory(str(tmp_path))
  assert set(read) == set(tensors)
  np.testing.assert_array_equal(read['pooler.dense.weight'],
                                tensors['pooler.dense.weight'])


def test_adapters_and_head_keep_their_init(minilm, minilm_weights, rte_batch):
  plan = adapters.build_plan(minilm.config.num_layers, 'houlsby', size=8)
  model = modeling.BertClassifier(minilm.config, 3, adapter_plan=plan)
  fresh = init_params(model, rte_batch)
  merged = checkpoints.merge_pretrained(fresh, minilm_weights)
  flat_fresh = param_paths.flatten(fresh)
  flat = param_paths.flatten(merged)
  loaded = 0
  for path, value in flat.items():
    if '/adapter_' in path or path.startswith('classifier/'):
      np.testing.assert_array_equal(value, flat_fresh[path], err_msg=path)
    else:
      np.testing.assert_array_equal(value, minilm_weights[path[5:]][1])
      loaded += 1
  assert loaded == len(minilm_weights)


def test_missing_tensor_is_named(tiny_hf_tensors):
  _, tensors = tiny_hf_tensors
  tensors = dict(tensors)
  del tensors['encoder.layer.1.output.dense.bias']
  with pytest.raises(ValueError, match=r'encoder\.layer\.1\.output\.dense\.bias'):
    checkpoints.convert_hf_weights(tensors)


def test_unexpected_tensor_is_named(tiny_hf_tensors):
  _, tensors = tiny_hf_tensors
  tensors = dict(tensors, **{'encoder.layer.0.attention.self.rotary': np.ones(3)})
  with pytest.raises(ValueError, match='attention.self.rotary'):
    checkpoints.convert_hf_weights(tensors)
  # Pretraining heads are known and skipped by name.
  tensors = dict(tiny_hf_tensors[1], **{'cls.predictions.bias': np.ones(3)})
  assert checkpoints.convert_hf_weights(tensors)


def test_wrong_shape_names_tensor_and_both_shapes(tiny_hf_tensors, rte_batch):
  _, tensors = tiny_hf_tensors
  tensors = dict(tensors)
  tensors['encoder.layer.0.intermediate.dense.weight'] = np.ones((65, 32))
  model = modeling.BertModel(TINY)
  with pytest.raises(ValueError) as error:
    checkpoints.merge_pretrained(init_params(model, rte_batch),
                                 checkpoints.convert_hf_weights(tensors),
                                 prefix='')
  message = str(error.value)
  assert 'encoder.layer.0.intermediate.dense.weight' in message
  assert '(32, 65)' in message and '(32, 64)' in message


def test_model_deeper_than_checkpoint_is_an_error(tiny_hf_tensors, rte_batch):
  _, tensors = tiny_hf_tensors
  deeper = modeling.BertModel(modeling.BertConfig(
      hidden_size=32, num_layers=3, num_heads=2, intermediate_size=64))
  with pytest.raises(ValueError, match='layer_2'):
    checkpoints.merge_pretrained(init_params(deeper, rte_batch),
                                 checkpoints.convert_hf_weights(tensors),
                                 prefix='')


def _hf_to_tf_name(name):
  """Inverse naming, only to write a Google-style checkpoint for the test."""
  name = name.replace('encoder.layer.', 'encoder/layer_').replace('.', '/')
  name = name.replace('LayerNorm/weight', 'LayerNorm/gamma').replace(
      'LayerNorm/bias', 'LayerNorm/beta')
  if name.endswith('_embeddings/weight'):
    return 'bert/' + name[:-len('/weight')]
  return 'bert/' + name.replace('/weight', '/kernel')


def test_original_tf_checkpoint(tiny_hf_tensors, rte_batch, tmp_path):
  tf = pytest.importorskip('tensorflow')
  _, tensors = tiny_hf_tensors
  variables = {}
  for name, value in tensors.items():
    if name == 'embeddings.position_ids':
      continue
    is_kernel = name.endswith('.weight') and value.ndim == 2 and (
        'embeddings' not in name)
    variables[_hf_to_tf_name(name)] = value.T if is_kernel else value
  variables['cls/predictions/output_bias'] = np.zeros(3, np.float32)
  variables['global_step'] = np.array(7, np.int64)
  with tf.Graph().as_default():
    for name, value in variables.items():
      tf.compat.v1.get_variable(name, initializer=value)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      saver.save(session, str(tmp_path / 'bert_model.ckpt'))
  config = dict(vocab_size=TINY.vocab_size, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=64, hidden_act='gelu')
  (tmp_path / 'bert_config.json').write_text(json.dumps(config))
  (tmp_path / 'vocab.txt').write_text('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n')

  backbone = backbones.resolve(str(tmp_path))
  assert backbone.weights_format == 'tf'
  from_tf = backbones.load_weights(backbone)
  from_hf = checkpoints.convert_hf_weights(tensors)
  assert set(from_tf) == set(from_hf)
  for path in from_hf:
    np.testing.assert_array_equal(from_tf[path][1], from_hf[path][1])
  tokenizer = backbones.load_tokenizer(backbone)
  assert tokenizer.convert_tokens_to_ids('hello') == 5


def test_unknown_backbone_lists_known_names():
  with pytest.raises(ValueError) as error:
    backbones.resolve('bert-huge')
  for name in backbones.KNOWN_BACKBONES:
    assert name in str(error.value)
