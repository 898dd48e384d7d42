"""Parameter-path names and tree helpers, checked against real model trees."""

import ast
import re

import jax
import numpy as np
import pytest

from adapter_bert import adapters
from adapter_bert import backbones
from adapter_bert import heads
from adapter_bert import modeling
from adapter_bert import param_paths as pp
from adapter_bert import peft

TINY = backbones.TINY_CONFIG  # backbone='tiny': 2 layers, hidden 32.


def _tree():
  return {'bert': {'layer_0': {'adapter_ffn': {'up': {'kernel': np.ones(2),
                                                     'bias': np.zeros(2)}},
                               'output_layer_norm': {'scale': np.ones(3)}},
                   'pooler': {'kernel': np.full((2, 2), 5.0)}},
          'classifier': {'bias': np.arange(4.0)}}


def _shapes(model, length=8):
  ids = np.zeros((1, length), np.int32)
  return pp.flatten(jax.eval_shape(model.init, jax.random.key(0),
                                   ids)['params'])


def _adapter_model():
  return modeling.BertClassifier(TINY, 3, adapter_plan=adapters.build_plan(
      TINY.num_layers, 'houlsby', size=4, layer_norm=True))


def test_flatten_unflatten_round_trip():
  tree = _tree()
  flat = pp.flatten(tree)
  assert sorted(flat) == ['bert/layer_0/adapter_ffn/up/bias',
                          'bert/layer_0/adapter_ffn/up/kernel',
                          'bert/layer_0/output_layer_norm/scale',
                          'bert/pooler/kernel', 'classifier/bias']
  back = pp.unflatten(flat)
  assert jax.tree.structure(back) == jax.tree.structure(tree)
  for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(tree)):
    np.testing.assert_array_equal(a, b)


def test_merge_later_trees_win_and_subtree_is_relative():
  frozen = _tree()
  trained = {'classifier': {'bias': np.full(4, 9.0)}}
  merged = pp.flatten(pp.merge(frozen, trained))
  np.testing.assert_array_equal(merged['classifier/bias'], 9.0)
  np.testing.assert_array_equal(merged['bert/pooler/kernel'], 5.0)
  assert len(merged) == 5
  sub = pp.subtree(merged, pp.join('bert', pp.layer(0), pp.adapter('ffn')))
  assert sorted(sub) == ['up/bias', 'up/kernel']


def test_select_and_partition_by_regex():
  flat = pp.flatten(_tree())
  chosen = pp.select(flat, [pp.LAYER_NORMS_RE, pp.HEAD_RE])
  assert chosen == {'bert/layer_0/output_layer_norm/scale', 'classifier/bias'}
  selected, rest = pp.partition(flat, chosen)
  assert set(selected) == chosen
  assert set(rest) == set(flat) - chosen
  assert rest['bert/pooler/kernel'] is flat['bert/pooler/kernel']
  ups = pp.select(flat, [pp.ADAPTER_UP_RE])
  assert ups == {'bert/layer_0/adapter_ffn/up/kernel',
                 'bert/layer_0/adapter_ffn/up/bias'}


def test_a_pattern_matching_nothing_is_an_error_naming_it():
  flat = pp.flatten(_tree())
  with pytest.raises(ValueError, match=r"'/lora_x' matches no parameter, so"):
    pp.select(flat, [pp.HEAD_RE, '/lora_x'], hint=', so')


def test_unknown_adapter_site_is_refused():
  assert pp.adapter('attn') == pp.ADAPTER_ATTN == 'adapter_attn'
  with pytest.raises(ValueError, match='attention'):
    pp.adapter('attention')


def test_built_paths_exist_in_a_real_adapter_model():
  flat = _shapes(_adapter_model())
  layer1 = lambda *names: pp.join(pp.BACKBONE, pp.layer(1), *names)
  for path in [
      layer1(pp.ADAPTER_ATTN, pp.UP, pp.KERNEL),
      layer1(pp.ADAPTER_FFN, pp.DOWN, pp.BIAS),
      layer1(pp.ADAPTER_ATTN, pp.LAYER_NORM, 'scale'),
      layer1(pp.ATTENTION, pp.QUERY, pp.KERNEL),
      layer1(pp.ATTENTION, pp.KEY, pp.BIAS),
      layer1(pp.ATTENTION, pp.VALUE, pp.KERNEL),
      layer1(pp.ATTENTION_OUTPUT, pp.KERNEL),
      layer1(pp.ATTENTION_LAYER_NORM, 'scale'),
      layer1(pp.INTERMEDIATE, pp.KERNEL),
      layer1(pp.OUTPUT, pp.BIAS),
      layer1(pp.OUTPUT_LAYER_NORM, pp.BIAS),
      pp.join(pp.BACKBONE, pp.EMBEDDINGS, pp.WORD_EMBEDDINGS, 'embedding'),
      pp.join(pp.BACKBONE, pp.EMBEDDINGS, pp.POSITION_EMBEDDINGS,
              'embedding'),
      pp.join(pp.BACKBONE, pp.EMBEDDINGS, pp.TOKEN_TYPE_EMBEDDINGS,
              'embedding'),
      pp.join(pp.BACKBONE, pp.EMBEDDINGS, pp.LAYER_NORM, 'scale'),
      pp.join(pp.BACKBONE, pp.POOLER, pp.KERNEL),
      pp.join(pp.CLASSIFIER, pp.KERNEL),
  ]:
    assert path in flat, path
  assert flat[layer1(pp.ADAPTER_ATTN, pp.UP, pp.KERNEL)].shape == (4, 32)


def test_paths_are_those_on_disk():
  """Checkpoints and artifacts store these strings: a rename breaks them."""
  layer = lambda i, *names: pp.join(pp.BACKBONE, pp.layer(i), *names)
  assert layer(3, pp.ADAPTER_FFN, pp.UP, pp.KERNEL) == (
      'bert/layer_3/adapter_ffn/up/kernel')
  assert layer(0, pp.ADAPTER_ATTN, pp.DOWN, pp.BIAS) == (
      'bert/layer_0/adapter_attn/down/bias')
  assert [layer(1, n) for n in (pp.ATTENTION_OUTPUT, pp.ATTENTION_LAYER_NORM,
                                pp.INTERMEDIATE, pp.OUTPUT,
                                pp.OUTPUT_LAYER_NORM)] == [
                                    'bert/layer_1/attention_output',
                                    'bert/layer_1/attention_layer_norm',
                                    'bert/layer_1/intermediate',
                                    'bert/layer_1/output',
                                    'bert/layer_1/output_layer_norm']
  assert layer(2, pp.ATTENTION, pp.QUERY, pp.LORA_A) == (
      'bert/layer_2/attention/query/lora_a')
  assert pp.join(pp.BACKBONE, pp.EMBEDDINGS, pp.LAYER_NORM) == (
      'bert/embeddings/layer_norm')
  assert (pp.POOLER, pp.CLASSIFIER, pp.SPAN_HEAD, pp.FUSION) == (
      'pooler', 'classifier', 'span_head', 'fusion')


def test_every_module_of_the_model_is_a_named_one():
  """The other direction: no module name of the tree is missing here."""
  flat = _shapes(_adapter_model())
  in_layer = {pp.ATTENTION, pp.ATTENTION_OUTPUT, pp.ATTENTION_LAYER_NORM,
              pp.INTERMEDIATE, pp.OUTPUT, pp.OUTPUT_LAYER_NORM,
              pp.ADAPTER_ATTN, pp.ADAPTER_FFN}
  in_backbone = {pp.EMBEDDINGS, pp.POOLER} | {pp.layer(i)
                                              for i in range(TINY.num_layers)}
  seen_top, seen_backbone, seen_layer = set(), set(), set()
  for path in flat:
    parts = path.split(pp.SEP)
    seen_top.add(parts[0])
    if parts[0] == pp.BACKBONE:
      seen_backbone.add(parts[1])
      if re.fullmatch(pp.LAYER_NAME_RE, parts[1]):
        seen_layer.add(parts[2])
  assert seen_top == {pp.BACKBONE, pp.CLASSIFIER}
  assert seen_backbone == in_backbone
  assert seen_layer == in_layer


def test_regexes_select_what_their_names_say_on_a_real_model():
  flat = _shapes(_adapter_model())
  ups = pp.select(flat, [pp.ADAPTER_UP_RE])
  assert len(ups) == TINY.num_layers * 2 * 2  # Layers × sites × (W, b).
  assert {m.group(1, 2) for p in ups
          if (m := re.match(pp.ADAPTER_UP_RE, p))} == {
              ('0', 'attn'), ('0', 'ffn'), ('1', 'attn'), ('1', 'ffn')}
  assert pp.select(flat, [pp.HEAD_RE]) == {'classifier/kernel',
                                           'classifier/bias'}
  norms = pp.select(flat, [pp.LAYER_NORMS_RE])
  # Embeddings' + two per layer + one in each adapter, scale and bias each.
  assert len(norms) == 2 * (1 + 2 * TINY.num_layers + 2 * TINY.num_layers)
  top = pp.select(flat, [pp.layers_re([1])])
  assert top and all(p.startswith('bert/layer_1/') for p in top)
  added = {p for p in flat if re.search(pp.ADDED_RE, '/' + p)}
  assert added == pp.select(flat, [pp.ADAPTERS_RE])
  assert all(p.startswith('bert/') for p in pp.select(flat, [pp.BIASES_RE]))


def test_peft_and_span_head_names_exist_in_their_models():
  plans = {
      'lora': peft.lora_sites(TINY.num_layers),
      'ia3': peft.ia3_sites(TINY.num_layers),
      'prefix': peft.prefix_sites(TINY.num_layers, 3),
  }
  layer0 = lambda *names: pp.join(pp.BACKBONE, pp.layer(0), *names)
  expected = {
      'lora': [layer0(pp.ATTENTION, pp.QUERY, pp.LORA_A),
               layer0(pp.ATTENTION, pp.VALUE, pp.LORA_B)],
      'ia3': [layer0(pp.ATTENTION, pp.KEY_SCALE, 'scale'),
              layer0(pp.ATTENTION, pp.VALUE_SCALE, 'scale'),
              layer0(pp.INTERMEDIATE_SCALE, 'scale')],
      'prefix': [layer0(pp.ATTENTION, pp.PREFIX, pp.KEY),
                 layer0(pp.ATTENTION, pp.PREFIX, pp.VALUE)],
  }
  regex = {'lora': pp.LORA_RE, 'ia3': pp.IA3_RE, 'prefix': pp.PREFIX_RE}
  for method, sites in plans.items():
    model = modeling.BertClassifier(
        TINY, 2, adapter_plan=peft.with_sites((), sites, TINY.num_layers))
    flat = _shapes(model)
    assert set(expected[method]) <= set(flat), method
    chosen = pp.select(flat, [regex[method]])
    assert set(expected[method]) <= chosen
    assert chosen == {p for p in flat if re.search(pp.ADDED_RE, '/' + p)}
  span = _shapes(heads.BertSpanExtractor(TINY))
  assert pp.select(span, [pp.HEAD_RE]) == {
      pp.join(pp.SPAN_HEAD, pp.KERNEL), pp.join(pp.SPAN_HEAD, pp.BIAS)}


def test_param_paths_imports_nothing_of_the_library():
  """Every module may import it, so it must stay below them all."""
  tree = ast.parse(open(pp.__file__, encoding='utf-8').read())
  imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
              for a in n.names}
  imported |= {n.module for n in ast.walk(tree)
               if isinstance(n, ast.ImportFrom) and n.module}
  assert imported and not {m for m in imported
                           if m.split('.')[0] == 'adapter_bert'}
