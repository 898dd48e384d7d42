"""What trains (regexes over parameter paths), the optimizer, and the counts.

Parameters are handled as flat dicts keyed by '/'-joined paths
('bert/layer_3/adapter_ffn/up/kernel'; names and tree helpers in param_paths).
A method names the trainable paths by regex; the train step differentiates
with respect to the trainable dict only, so frozen weights get no
weight-gradient computation and no optimizer state.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from adapter_bert import param_paths

# What each later parameter-efficient method trains besides the head: the
# parameters peft.py adds (LoRA, IA3, prefix), or BitFit's backbone biases.
PEFT = {'lora': param_paths.LORA_RE, 'ia3': param_paths.IA3_RE,
        'prefix': param_paths.PREFIX_RE, 'bitfit': param_paths.BIASES_RE}

METHODS = ('adapter', 'full', 'top_k', 'layernorm', 'head', 'fusion', 'lora',
           'ia3', 'prefix', 'bitfit')


def method_patterns(method: str, num_layers: int, top_k: int = 0) -> list[str]:
  """Regexes for the trainable parameters of a method (as each paper trains).

  adapter: adapters, every LayerNorm and the head (the pooler stays frozen).
  full: everything. top_k (variable fine-tuning): everything above the
  bottom L-k layers, i.e. the top k layers, the pooler and the head; the
  paper freezes "the remainder" below them. layernorm: LayerNorms and the
  head. head: the head only.
  fusion: AdapterFusion's attention and the head (task adapters, LayerNorms
  and backbone frozen; Pfeiffer et al. 2021).
  lora, ia3, prefix: the parameters the method adds (peft.py) and the head;
  LayerNorms stay frozen, as in those papers. bitfit: every backbone bias
  (LayerNorm β and the pooler's included) and the head (Ben Zaken et al.).
  """
  if method == 'adapter':
    return [param_paths.ADAPTERS_RE, param_paths.LAYER_NORMS_RE,
            param_paths.HEAD_RE]
  if method == 'full':
    return [r'.*']
  if method == 'top_k':
    if not 0 < top_k <= num_layers:
      raise ValueError(f'top_k must be in 1..{num_layers} for method top_k, '
                       f'got {top_k}.')
    return [param_paths.layers_re(range(num_layers - top_k, num_layers)),
            param_paths.POOLER_RE, param_paths.HEAD_RE]
  if method == 'layernorm':
    return [param_paths.LAYER_NORMS_RE, param_paths.HEAD_RE]
  if method == 'head':
    return [param_paths.HEAD_RE]
  if method == 'fusion':
    return [param_paths.FUSION_RE, param_paths.HEAD_RE]
  if method in PEFT:
    return [PEFT[method], param_paths.HEAD_RE]
  raise ValueError(f'Unknown method {method!r}; valid methods: {METHODS}')


def trainable_paths(flat: Mapping[str, Any], patterns: list[str]) -> set[str]:
  """Paths matched by any pattern; a pattern matching nothing is an error."""
  return param_paths.select(flat, patterns, hint=(
      ' (e.g. no adapters with placement none, or method fusion without '
      'fusion_adapters?)'))


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
  fusion_values = param_paths.FUSION_RE + param_paths.VALUE + param_paths.SEP
  return param_paths.unflatten({
      p: not (re.search(param_paths.LAYER_NORMS_RE, p)
              or p.endswith(param_paths.SEP + param_paths.BIAS)
              or re.search(fusion_values, p)
              or re.search(param_paths.IA3_RE, p))
      for p in param_paths.flatten(params)})


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
