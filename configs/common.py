"""Shared config pieces: the base training config, the `key=value` argument
parser and the reader of the JSON files later sweeps take their points from."""

from __future__ import annotations

import json
from typing import Any

import ml_collections

# The library's trainable-set methods (adapter_bert/optim.py METHODS; a test
# keeps the two equal). Configs import no library module.
METHODS = ('adapter', 'full', 'top_k', 'layernorm', 'head', 'fusion', 'lora',
           'ia3', 'prefix', 'bitfit')
# Methods that train few new parameters and so take adapters' large default lr.
SMALL_SET_METHODS = ('adapter', 'lora', 'ia3', 'prefix', 'bitfit')


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses big_vision-style `k1=v1,k2=v2` strings, typed by the defaults."""
  parsed = ml_collections.ConfigDict(defaults)
  if not arg:
    return parsed
  for item in arg.split(','):
    if not item:
      continue
    if '=' not in item:
      raise ValueError(f'Config argument {item!r} is not of the form key=value; '
                       f'known keys: {sorted(defaults)}')
    key, value = item.split('=', 1)
    if key not in defaults:
      raise ValueError(f'Unknown config argument {key!r}; known keys: '
                       f'{sorted(defaults)}')
    default = defaults[key]
    if isinstance(default, bool):
      if value.lower() not in ('true', 'false', '1', '0'):
        raise ValueError(f'Config argument {key}={value!r} is not a boolean.')
      parsed[key] = value.lower() in ('true', '1')
    elif isinstance(default, int):
      parsed[key] = int(value)
    elif isinstance(default, float):
      parsed[key] = float(value)
    else:
      parsed[key] = value
  return parsed


def read_json_field(path: str, field: str, what: str) -> Any:
  """`field` of the JSON object in `path`, which a sweep reads; an error
  naming the file and `what` it should be where it cannot."""
  try:
    with open(path) as f:
      return json.load(f)[field]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f'{path}: not {what} with a {field!r} entry '
                     f'({type(e).__name__}: {e}).') from None


def base_config() -> ml_collections.ConfigDict:
  """Every key a training run reads, with the paper's recipe as defaults."""
  c = ml_collections.ConfigDict()
  # What to train.
  c.task = 'mrpc'           # GLUE task name, or `extra:<name>` / `csv` for the others.
  c.data_dir = ''           # '' = vendored data/glue (GLUE) or the default extra dir.
  c.data_source = 'tsv'     # GLUE from a GLUE directory (tsv) or TFDS (tfds).
  c.split_seed = 0          # Seed of the 80/10/10 split of unsplit tables.
  c.cache_dir = ''          # Token cache; '' = $ADAPTER_BERT_CACHE/tokens.
  c.backbone = 'minilm-l6'
  # task='csv': a user's own classification data. Either `path`, one file
  # split 80/10/10 (stratified, split_seed) or by the values of its
  # `split_column` (train / dev / test), or `train_path` and `dev_path` (and
  # optionally `test_path`, which may lack labels) used as given. CSV, TSV or
  # JSON lines (`format` auto: by extension); one or two `text_columns`
  # (comma-separated); dev/test labels must occur in train.
  c.csv = ml_collections.ConfigDict(dict(
      path='', train_path='', dev_path='', test_path='', split_column='',
      text_columns='text', label_column='label', delimiter=',',
      encoding='utf-8', format='auto'))
  c.method = 'adapter'      # One of METHODS.
  c.top_k = 0               # Layers trained by method top_k (variable fine-tuning).
  # Adapters (the paper's defaults).
  c.m = 64                  # Bottleneck size.
  c.placement = 'houlsby'   # houlsby | pfeiffer | attention | none.
  c.init_scale = 1e-3       # Official code 1e-3; the paper's text says 1e-2.
  c.adapter_act = 'gelu_tanh'  # The official code's GELU (tanh approximation).
  c.pooling = 'pooler'      # pooler (paper: frozen pretrained pooler) | mean.
  c.dropout = 0.1           # Hidden and attention dropout, and the head's dropout.
  # Adapter variants (adapters.BottleneckAdapter) and AdapterFusion (fusion.py).
  c.m_per_layer = ''        # One m per layer, e.g. '64,64,0,0,8,8' (0 = none); '' = m.
  c.adapter_parallel = False  # He et al. 2021: the adapter reads the sub-layer input.
  c.adapter_ln = False      # LayerNorm on the adapter's input.
  c.adapter_depth = 1       # 1: d→m→d (paper); 2: d→m→m→d.
  c.adapter_scale = 1.0     # Factor on the adapter's contribution (He et al.: 4).
  c.fusion_adapters = ''    # Artifact dirs joined by '+', target task first: fuse them.
  c.fusion_norms = 'first'  # LayerNorms under fusion: first | pretrained (fusion.py).
  c.fusion_init_scale = 0.02  # Stddev of the fusion query/key init (value = I).
  c.fusion_reg = 0.01       # λ of the loss term λ·Σ‖I − V‖² (Pfeiffer et al.).
  # Later parameter-efficient methods (adapter_bert/peft.py), read by method=
  # lora | ia3 | prefix; ia3 and bitfit (every backbone bias) have no size knob.
  c.lora_rank = 8           # r of W + (α/r)·B·A; adds r·(d_in + d_out) per kernel.
  c.lora_alpha = 8.0        # α: fixed while r varies (LoRA paper: 8 on RoBERTa-base).
  c.lora_targets = r'attention/(query|value)$'  # re.search on 'layer_3/attention/query'.
  c.lora_init = 'kaiming_uniform'  # A's init: kaiming_uniform (LoRA code) | gaussian.
  c.prefix_length = 10      # P key/value positions per layer: 2·P·d parameters each.
  c.prefix_mlp = False      # Train through Li & Liang's MLP (exported folded; peft.py).
  c.prefix_mlp_hidden = 512  # That MLP's width (Li & Liang: 512).
  # Optimisation (the official BERT recipe unless said).
  c.lr = 1e-3
  c.epochs = 3.0
  c.batch_size = 32
  c.max_length = 128
  c.group_by_length = False  # Batch similar lengths (less padding; batching.py).
  # Pack each batch's examples end to end into shared rows (same examples per
  # step, no padding; data/packing.py). Classification and regression tasks only:
  # glue.py and extra.py turn it on, span tasks (squad.py) cannot.
  c.packing = False
  c.warmup_frac = 0.1
  # official: BERT's lr·t/W warmup, then lr·(1 − t/T) (the official code's);
  # linear: warmup, then decay from lr to 0 over the rest (Hugging Face's).
  c.schedule = 'official'
  c.weight_decay = 0.01
  c.clip_norm = 1.0
  c.adam_b1 = 0.9
  c.adam_b2 = 0.999
  c.adam_eps = 1e-6
  c.bias_correction = True  # False = BERT's AdamWeightDecayOptimizer (official code).
  c.seed = 0
  c.max_steps = -1          # > 0 overrides the step count derived from epochs.
  # Loop.
  c.eval_every = 0          # Steps between dev evaluations; 0 = once per epoch.
  c.eval_batch_size = 128
  c.log_every = 10
  c.checkpoint_every = 0    # Steps between checkpoints; 0 = at every evaluation.
  c.keep_checkpoints = 2    # 2: a damaged newest checkpoint falls back.
  c.predict = True          # Write test-set predictions (GLUE submission format).
  c.dtype = 'float32'       # Compute dtype: float32 | bfloat16. Params stay float32.
  c.distributed = False     # Call jax.distributed.initialize() (multi-host).
  c.overwrite = False       # Allow a workdir holding a run of another config.
  return c


def apply_run_args(config: ml_collections.ConfigDict,
                   arg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Sets the per-run keys every task family's argument carries.

  Adapters (and LoRA, IA3, prefixes, BitFit) take a large learning rate,
  fine-tuning the whole network a small one: lr <= 0 in `arg` picks 1e-3 or
  5e-5 by method.
  """
  if arg.method not in METHODS:
    raise ValueError(f'Unknown method {arg.method!r}; valid methods: {METHODS}')
  config.method = arg.method
  config.m = arg.m
  config.backbone = arg.backbone
  config.epochs = arg.epochs
  config.seed = arg.seed
  config.top_k = arg.top_k
  config.placement = arg.placement if arg.method == 'adapter' else 'none'
  default_lr = 1e-3 if arg.method in SMALL_SET_METHODS else 5e-5
  config.lr = arg.lr if arg.lr > 0 else default_lr
  return config
