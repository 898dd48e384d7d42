"""What trains (regexes over parameter paths), the optimizer, and the counts.

Parameters are handled as flat dicts keyed by '/'-joined paths
('bert/layer_3/adapter_ffn/up/kernel'). A method names the trainable paths by
regex; the train step differentiates with respect to the trainable dict only,
so frozen weights get no weight-gradient computation and no optimizer state.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

Flat = dict[str, Any]

# The task head is everything outside the backbone (classifier, span head, ...).
HEAD = r'^(?!bert/)'
ADAPTERS = r'/adapter_'
LAYER_NORMS = r'layer_norm/'
# AdapterFusion's query/key/value (adapter_bert/fusion.py).
FUSION = r'/fusion/'
# The parameters adapter_bert/peft.py adds, by the names its sites give them.
LORA = r'/lora_[ab]$'
IA3 = r'/(key|value|intermediate)_scale/'
PREFIX = r'/attention/prefix/'
# BitFit: every bias of the backbone (LayerNorm β included).
BIASES = r'^bert/.*/bias$'
# Parameters a pretrained checkpoint does not hold: each method's additions.
ADDED = '|'.join((ADAPTERS, LORA, IA3, PREFIX))
# What each later parameter-efficient method trains besides the head.
PEFT = {'lora': LORA, 'ia3': IA3, 'prefix': PREFIX, 'bitfit': BIASES}

METHODS = ('adapter', 'full', 'top_k', 'layernorm', 'head', 'fusion', 'lora',
           'ia3', 'prefix', 'bitfit')


def method_patterns(method: str, num_layers: int, top_k: int = 0) -> list[str]:
  """Regexes for the trainable parameters of a method (as each paper trains).

  adapter: adapters, every LayerNorm and the head (the pooler stays frozen).
  full: everything. top_k: the top k layers and the head (variable
  fine-tuning). layernorm: LayerNorms and the head. head: the head only.
  fusion: AdapterFusion's attention and the head (task adapters, LayerNorms
  and backbone frozen; Pfeiffer et al. 2021).
  lora, ia3, prefix: the parameters the method adds (peft.py) and the head;
  LayerNorms stay frozen, as in those papers. bitfit: every backbone bias
  (LayerNorm β and the pooler's included) and the head (Ben Zaken et al.).
  """
  if method == 'adapter':
    return [ADAPTERS, LAYER_NORMS, HEAD]
  if method == 'full':
    return [r'.*']
  if method == 'top_k':
    if not 0 < top_k <= num_layers:
      raise ValueError(f'top_k must be in 1..{num_layers} for method top_k, '
                       f'got {top_k}.')
    layers = '|'.join(str(i) for i in range(num_layers - top_k, num_layers))
    return [rf'^bert/layer_({layers})/', HEAD]
  if method == 'layernorm':
    return [LAYER_NORMS, HEAD]
  if method == 'head':
    return [HEAD]
  if method == 'fusion':
    return [FUSION, HEAD]
  if method in PEFT:
    return [PEFT[method], HEAD]
  raise ValueError(f'Unknown method {method!r}; valid methods: {METHODS}')


def flatten(params: Mapping[str, Any]) -> Flat:
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep='/')


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  return flax.traverse_util.unflatten_dict(dict(flat), sep='/')


def trainable_paths(flat: Mapping[str, Any], patterns: list[str]) -> set[str]:
  """Paths matched by any pattern; a pattern matching nothing is an error."""
  selected = set()
  for pattern in patterns:
    matched = {p for p in flat if re.search(pattern, p)}
    if not matched:
      raise ValueError(f'Trainable pattern {pattern!r} matches no parameter '
                       f'(e.g. no adapters with placement none, or method '
                       f'fusion without fusion_adapters?); paths look like '
                       f'{sorted(flat)[:3]}.')
    selected |= matched
  return selected


def partition(flat: Mapping[str, Any], paths: set[str]) -> tuple[Flat, Flat]:
  """Splits a flat tree into (trainable, frozen) flat dicts."""
  trainable = {p: v for p, v in flat.items() if p in paths}
  frozen = {p: v for p, v in flat.items() if p not in paths}
  return trainable, frozen


SCHEDULES = ('official', 'linear')


def learning_rate_schedule(lr: float, total_steps: int, warmup_frac: float,
                           kind: str = 'official') -> optax.Schedule:
  """The learning rate of update t (t = 0, 1, ...), warmup then linear decay.

  official: BERT's optimizer as the adapter code ran it: lr·t/W during the
    warmup (W = int(warmup_frac·T)), then lr·(1 − t/T), a decay counted from
    step 0, so the rate right after warmup is (1 − W/T)·lr (0.9·lr at 10%).
  linear: Hugging Face's get_linear_schedule_with_warmup: lr·t/W, then a
    decay from lr at t = W to 0 at t = T over the remaining steps.
  """
  if kind not in SCHEDULES:
    raise ValueError(f'Unknown schedule {kind!r}; valid schedules: {SCHEDULES}')
  warmup = int(total_steps * warmup_frac)
  if kind == 'linear':
    return optax.join_schedules([
        optax.linear_schedule(0.0, lr, max(warmup, 1)),
        optax.linear_schedule(lr, 0.0, max(total_steps - warmup, 1)),
    ], [warmup])

  def official(count):
    t = jnp.asarray(count, jnp.float32)
    decayed = lr * jnp.maximum(1.0 - t / max(total_steps, 1), 0.0)
    if warmup <= 0:
      return decayed
    return jnp.where(t < warmup, lr * t / warmup, decayed)

  return official


def _decay_mask(params: Mapping[str, Any]) -> dict[str, Any]:
  """BERT's optimizer: no weight decay on LayerNorm parameters or biases.

  Nor on AdapterFusion's value kernels: their regulariser pulls them to the
  identity (fusion.value_regularizer); decay would pull them to zero. Nor on
  IA3's scales, which start at 1 like a LayerNorm's.
  """
  return unflatten({p: not (re.search(LAYER_NORMS, p) or p.endswith('/bias')
                            or re.search(FUSION + 'value/', p)
                            or re.search(IA3, p))
                    for p in flatten(params)})


def scale_by_adam_uncorrected(b1: float, b2: float,
                              eps: float) -> optax.GradientTransformation:
  """Adam moments without bias correction, as BERT's AdamWeightDecayOptimizer.

  optax's Adam always corrects the bias; the official adapter-bert code (and
  BERT) did not, which matters early in short runs. Offered for exact
  reproduction (config `bias_correction=False`).
  """

  def init_fn(params):
    return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                  mu=jax.tree.map(jnp.zeros_like, params),
                                  nu=jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, updates)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, updates)
    updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
    return updates, optax.ScaleByAdamState(count=state.count + 1, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(trainable: Mapping[str, Any], *, lr: float, total_steps: int,
                   warmup_frac: float = 0.1, weight_decay: float = 0.01,
                   clip_norm: float = 1.0, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-6, bias_correction: bool = True,
                   schedule_kind: str = 'official'
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """AdamW with global-norm clipping over the trainable gradients."""
  schedule = learning_rate_schedule(lr, total_steps, warmup_frac,
                                    schedule_kind)
  adam = (optax.scale_by_adam(b1=b1, b2=b2, eps=eps) if bias_correction else
          scale_by_adam_uncorrected(b1, b2, eps))
  tx = optax.chain(
      optax.clip_by_global_norm(clip_norm),
      adam,
      optax.add_decayed_weights(weight_decay, mask=_decay_mask(trainable)),
      optax.scale_by_learning_rate(schedule),
  )
  return tx, schedule


def count(flat: Mapping[str, Any]) -> int:
  return int(sum(np.prod(np.shape(v)) for v in flat.values()))


def parameter_report(trainable: Mapping[str, Any], frozen: Mapping[str, Any],
                     num_tasks: int = 9) -> dict[str, float]:
  """Trainable share, artifact size and the paper's N-task parameter multiple.

  As in the paper's tables: a method that shares a frozen base costs one model
  plus N trained subsets (1 + N·share; m=64 adapters on BERT-large ~1.2× for 9
  tasks); full fine-tuning shares nothing and costs N models (9.0×).
  """
  trained, fixed = count(trainable), count(frozen)
  total = trained + fixed
  share = trained / total
  return dict(
      trainable_params=trained,
      total_params=total,
      trainable_share=share,
      artifact_bytes=int(sum(np.asarray(v).nbytes for v in trainable.values())),
      num_tasks=num_tasks,
      total_params_multiple=(num_tasks if fixed == 0 else
                             1 + num_tasks * share),
  )
