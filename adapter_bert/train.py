"""train_and_evaluate(config, workdir): the training loop of every experiment.

Data-parallel jit over all devices (a ('data',) mesh; parameters replicated,
batches split), gradients of the trainable subset only, orbax checkpoints that
resume with the same data order and RNG, dev evaluation, test predictions, an
adapter-only artifact and `results.json`, written atomically at the end.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time
from typing import Any, Callable, Mapping

from absl import logging
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
import tqdm

from adapter_bert import artifact_files
from adapter_bert import atomic
from adapter_bert import backbones
from adapter_bert import builder
from adapter_bert import cache
from adapter_bert import cards
from adapter_bert import checksums
from adapter_bert import data
from adapter_bert import errors
from adapter_bert import fusion
from adapter_bert import inference
from adapter_bert import optim
from adapter_bert import param_paths
from adapter_bert import peft
from adapter_bert import run_config
from adapter_bert import tasks as tasks_lib
from adapter_bert import workdir_lock


def enable_compilation_cache(path: str | None = None) -> None:
  """Persists compiled XLA programs, so sweeps and reruns skip recompiling."""
  path = path or os.path.join(cache.cache_root(), 'jax')
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)


def _is_chief() -> bool:
  return jax.process_index() == 0


def _say(message: str) -> None:
  """Progress for the person at the terminal (the chief process only)."""
  logging.info(message)
  if _is_chief():
    tqdm.tqdm.write(message)


def _write_json(path: str, value: Any) -> None:
  if _is_chief():
    with atomic.atomic_open(path, 'w') as f:
      json.dump(value, f, indent=2, default=_json_default)


def _json_default(value):
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f'Cannot serialise {type(value)}')


# --------------------------------------------------------------------------
# Steps.


def make_train_step(model, task: tasks_lib.Task,
                    tx: optax.GradientTransformation,
                    regularizer: Callable[[Any], jax.Array] | None = None
                    ) -> Callable:
  """jit(train_step)(trainable, opt_state, frozen, batch, rng).

  Only `trainable` is differentiated: frozen weights enter as constants, so
  XLA computes no gradient for them, and the optimizer holds state for the
  trainable leaves alone. Parameter and optimizer buffers are donated.
  `regularizer(params)`, if given, is added to the loss (AdapterFusion's
  0.01·Σ‖I − V‖², from fusion.regularizer(config)).
  """

  def loss_fn(trainable, frozen, batch, rng):
    params = param_paths.merge(frozen, trainable)
    outputs = model.apply({'params': params}, batch['input_ids'],
                          batch['token_type_ids'], batch['attention_mask'],
                          deterministic=False, rngs={'dropout': rng},
                          **inference.packed_inputs(batch))
    per_example = task.loss(outputs, batch)
    loss = jnp.sum(per_example * batch['mask']) / jnp.maximum(
        batch['mask'].sum(), 1.0)
    return loss if regularizer is None else loss + regularizer(params)

  def train_step(trainable, opt_state, frozen, batch, rng):
    loss, grads = jax.value_and_grad(loss_fn)(trainable, frozen, batch, rng)
    updates, opt_state = tx.update(grads, opt_state, trainable)
    trainable = optax.apply_updates(trainable, updates)
    return trainable, opt_state, {'loss': loss,
                                  'grad_norm': optax.global_norm(grads)}

  return jax.jit(train_step, donate_argnums=(0, 1))


def split_trainable(config, num_layers: int,
                    flat: Mapping[str, Any]) -> tuple[dict, dict]:
  """(trainable, frozen) nested trees by the config's method patterns."""
  paths = optim.trainable_paths(
      flat, optim.method_patterns(config.method, num_layers, config.top_k))
  trainable, frozen = param_paths.partition(flat, paths)
  return param_paths.unflatten(trainable), param_paths.unflatten(frozen)


def optimizer_for(config, trainable, total_steps: int):
  """(optax transform, lr schedule) with the config's recipe."""
  return optim.make_optimizer(
      trainable, lr=config.lr, total_steps=total_steps,
      warmup_frac=config.warmup_frac, weight_decay=config.weight_decay,
      clip_norm=config.clip_norm, b1=config.adam_b1, b2=config.adam_b2,
      eps=config.adam_eps, bias_correction=config.bias_correction,
      schedule_kind=config.schedule)


# --------------------------------------------------------------------------
# Setting a run up.


@dataclasses.dataclass
class Run:
  """A run ready to step: what training, the benchmark and the profiler share.

  `trainable`, `frozen` and `opt_state` are replicated on every device;
  `train_step` donates the buffers of the first two arguments it is given.
  """
  config: ml_collections.ConfigDict
  task: tasks_lib.Task
  backbone: backbones.Backbone
  model: Any
  trainable: Any
  frozen: Any
  opt_state: Any
  tx: optax.GradientTransformation
  schedule: optax.Schedule
  report: dict[str, Any]
  batch_sharding: jax.sharding.Sharding
  train_step: Callable
  eval_step: Callable

  def to_device(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    return inference.to_device(batch, self.batch_sharding)


def setup(config: ml_collections.ConfigDict, total_steps: int, *,
          task: tasks_lib.Task | None = None,
          backbone: backbones.Backbone | None = None) -> Run:
  """The model, trainable split, optimizer, replicated state and jit steps.

  Reads no data: `total_steps` (for the learning-rate schedule) comes from the
  caller, who may have counted a training split or not. `task` and
  `backbone` default to the config's; pass them when already built (or, for
  the benchmark, a backbone with another shape).
  """
  task = task or tasks_lib.from_config(config)
  backbone = backbone or backbones.resolve(config.backbone)
  model = task.build_model(config, backbone.config)
  flat = param_paths.flatten(builder.initial_params(model, backbone,
                                                    config.seed))
  flat = builder.load_fusion_norms(config, flat)  # A no-op unless fusing.
  trainable, frozen = split_trainable(config, backbone.config.num_layers, flat)
  del flat
  report = optim.parameter_report(param_paths.flatten(trainable),
                                  param_paths.flatten(frozen))
  tx, schedule = optimizer_for(config, trainable, total_steps)
  trainable, frozen = inference.replicate((trainable, frozen))
  opt_state = inference.replicate(tx.init(trainable))
  return Run(config=config, task=task, backbone=backbone, model=model,
             trainable=trainable, frozen=frozen, opt_state=opt_state, tx=tx,
             schedule=schedule, report=report,
             batch_sharding=data.data_sharding(),
             train_step=make_train_step(model, task, tx,
                                        fusion.regularizer(config)),
             eval_step=inference.make_eval_step(model))


# --------------------------------------------------------------------------
# The run.


def _load_split(task: tasks_lib.Task, split: str, tokenizer,
                config: ml_collections.ConfigDict) -> tasks_lib.Features:
  cache_dir = config.cache_dir or os.path.join(cache.cache_root(), 'tokens')
  return task.load_features(split, tokenizer, max_length=config.max_length,
                            cache_dir=cache_dir)


def _check_workdir(config: ml_collections.ConfigDict, workdir: str,
                   checkpoint_dir: str) -> None:
  """Refuses to resume a checkpoint made with another config."""
  path = os.path.join(workdir, 'config.json')
  if not (os.path.exists(path) and os.path.isdir(checkpoint_dir)
          and os.listdir(checkpoint_dir)):
    return
  with open(path) as f:
    previous = json.load(f)
  changed = run_config.changed_keys(previous, json.loads(config.to_json()),
                                    resuming=True)
  if not changed:
    return
  if not config.overwrite:
    details = run_config.describe_changes(changed)
    raise errors.UserError(
        f'{workdir} holds a checkpoint of a different config ({details}). '
        'Use another --workdir, or set --config.overwrite=True to discard it.')
  logging.warning('Discarding checkpoints of a different config in %s',
                  workdir)
  if _is_chief():
    shutil.rmtree(checkpoint_dir)


def _discard_outputs(workdir: str) -> None:
  """Removes a previous run's results, so a killed rerun leaves none."""
  if not _is_chief():
    return
  for name in ('results.json', 'artifact', 'predictions'):
    path = os.path.join(workdir, name)
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


def _validate(config: ml_collections.ConfigDict) -> None:
  """Refuses a config that cannot give a trained model, before any work."""
  fail = errors.UserError
  if config.method not in optim.METHODS:
    raise fail(f'Unknown method {config.method!r}; valid methods: '
               f'{optim.METHODS}')
  if config.method == 'adapter' and config.placement == 'none':
    raise fail("method 'adapter' needs a placement other than 'none'.")
  if config.method != 'adapter' and config.placement != 'none':
    # Otherwise the model would carry randomly initialised adapters that the
    # method either leaves frozen or (full, top_k, bitfit) trains as well.
    raise fail(f'--config.placement={config.placement!r} builds adapters, '
               f'which method {config.method!r} does not use; set '
               '--config.placement=none.')
  if config.method != 'fusion' and config.get('fusion_adapters'):
    raise fail(f'--config.fusion_adapters is set, but method '
               f"{config.method!r} is not 'fusion'.")
  if config.max_steps == 0 or (config.max_steps < 0 and config.epochs <= 0):
    raise fail(f'Nothing to train: max_steps={config.max_steps}, '
               f'epochs={config.epochs}. Set --config.epochs > 0 (or '
               '--config.max_steps > 0, which overrides epochs).')
  for key, least in (('batch_size', 1), ('eval_batch_size', 1),
                     ('log_every', 1), ('eval_every', 0),
                     ('checkpoint_every', 0), ('keep_checkpoints', 1)):
    if config[key] < least:
      raise fail(f'--config.{key}={config[key]} must be >= {least}.')
  if (config.method == 'adapter' and config.m < 1
      and not config.get('m_per_layer')):
    raise fail(f"--config.m={config.m}: method 'adapter' needs a bottleneck "
               'size m >= 1 (or --config.m_per_layer).')
  for key in ('batch_size', 'eval_batch_size'):
    if config[key] % jax.device_count():
      raise fail(f'--config.{key}={config[key]} is not divisible by the '
                 f'{jax.device_count()} devices.')


def _stored_subset(config: ml_collections.ConfigDict, model: Any,
                   trainable: Mapping[str, Any], hidden_size: int
                   ) -> tuple[Mapping[str, Any], dict[str, Any]]:
  """The trained subset as the artifact stores it, and the config to rebuild it.

  Prefix tuning's reparameterisation MLP only helps optimisation: a task
  needs the prefixes it computes (2·L·P·d numbers, as Li and Liang count
  them), so the artifact stores those and a config without the MLP.
  """
  stored_config = json.loads(config.to_json())
  if config.method != 'prefix' or not config.get('prefix_mlp'):
    return trainable, stored_config
  folded, _ = peft.fold_prefix_mlp(jax.tree.map(np.asarray, trainable),
                                   model.adapter_plan, hidden_size)
  return folded, dict(stored_config, prefix_mlp=False)


def _step_dir(checkpoint_dir: str, step: int) -> str:
  return os.path.join(checkpoint_dir, str(step))  # orbax's default naming.


def _restore_newest_intact(manager: ocp.CheckpointManager,
                           checkpoint_dir: str, workdir: str,
                           restore: Callable[[int], Any]) -> tuple[Any, Any]:
  """(step, restored) of the newest intact checkpoint; (None, None) if none.

  A checkpoint is intact when its files match the checksums written after
  its save completed; one killed before that is intact if orbax restores it.
  Damaged newer ones are moved to `workdir/corrupt_checkpoints` (kept for
  inspection, out of orbax's way), with a message. If every checkpoint is
  damaged, nothing is moved and the error names each damaged file.
  """
  steps = set(manager.all_steps())
  if os.path.isdir(checkpoint_dir):  # Step dirs orbax no longer recognises.
    steps |= {int(n) for n in os.listdir(checkpoint_dir) if n.isdigit()}
  damaged = []
  for step in sorted(steps, reverse=True):
    path = _step_dir(checkpoint_dir, step)
    problem, restored = None, None
    if step not in manager.all_steps():
      problem = f'{path} is incomplete (orbax does not list it)'
    elif checksums.has_manifest(path):
      problem = checksums.verify_manifest(path)
    if problem is None:
      try:
        restored = restore(step)
      except Exception as e:  # pylint: disable=broad-except
        if checksums.has_manifest(path):
          raise  # Intact files that do not restore: a bug, not damage.
        first = (str(e).strip().splitlines() or [''])[0][:200]
        problem = f'{path} does not restore ({type(e).__name__}: {first})'
    if problem is None:
      break
    damaged.append((step, path, problem))
  else:
    if damaged:
      raise errors.UserError(
          f'No intact checkpoint to resume in {checkpoint_dir}: '
          + '; '.join(p for _, _, p in damaged)
          + f'. Delete {checkpoint_dir} to train from the start.')
    return None, None
  for bad_step, path, problem in damaged:
    dest = os.path.join(workdir, 'corrupt_checkpoints', str(bad_step))
    while os.path.exists(dest):
      dest += '_'
    if _is_chief():
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      shutil.move(path, dest)
    _say(f'Checkpoint step {bad_step} is damaged: {problem}. Moved it to '
         f'{dest}; resuming from step {step} instead.')
  if damaged:
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices('corrupt checkpoints moved')
    manager.reload()
  return step, restored


def _trim_log(path: str, step: int) -> None:
  """Drops log lines past the restored step (written by the interrupted run)."""
  if not os.path.exists(path) or not _is_chief():
    return
  with open(path) as f:
    kept = [l for l in f if json.loads(l)['step'] <= step]
  with atomic.atomic_open(path, 'w') as f:
    f.writelines(kept)


class _Logger:
  """metrics.jsonl plus TensorBoard event files, on the chief process only."""

  def __init__(self, workdir: str):
    self._path = os.path.join(workdir, 'metrics.jsonl')
    self._tb = None
    if _is_chief():
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, 'tb'))

  def write(self, step: int, split: str, values: Mapping[str, float]) -> None:
    if not _is_chief():
      return
    with open(self._path, 'a') as f:
      f.write(json.dumps(dict(step=step, split=split, **values)) + '\n')
    for key, value in values.items():
      self._tb.add_scalar(f'{split}/{key}', value, step)
    self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       interrupt_after_step: int | None = None
                       ) -> dict[str, Any]:
  """Trains, evaluates and exports one run; resumes if workdir has a checkpoint.

  Args:
    config: see configs/common.py for every key.
    workdir: output directory (checkpoints, logs, artifact, results.json).
    interrupt_after_step: stop (as if preempted) right after this step's
      checkpoint; for resumption tests and drills.

  Returns:
    The results dict also written to `workdir/results.json`.

  Raises:
    errors.UserError: a config that trains nothing, a workdir holding another
      config's checkpoint or locked by another live run, or no intact
      checkpoint to resume from.
  """
  if config.distributed and not jax.distributed.is_initialized():
    jax.distributed.initialize()  # Once per process: a sweep runs many.
  _validate(config)
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  # Held until the run ends: a second run on this workdir stops here.
  with workdir_lock.hold(workdir, enabled=_is_chief(), say=_say):
    return _train_and_evaluate(config, workdir, interrupt_after_step)


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                        interrupt_after_step: int | None) -> dict[str, Any]:
  """train_and_evaluate's body, run while holding the workdir lock."""
  checkpoint_dir = os.path.join(workdir, run_config.CHECKPOINTS_DIR)
  _check_workdir(config, workdir, checkpoint_dir)
  if config.overwrite:
    _discard_outputs(workdir)
  _write_json(os.path.join(workdir, 'config.json'), json.loads(config.to_json()))

  # Task, backbone and data.
  task = tasks_lib.from_config(config)
  if config.packing and not getattr(task, 'supports_packing', False):
    raise errors.UserError(
        f'--config.packing=True: task {config.task!r} keeps padded batches '
        '(packing is for classification and regression tasks); drop it.')
  backbone = backbones.resolve(config.backbone)
  tokenizer = backbones.load_tokenizer(backbone)
  train = _load_split(task, 'train', tokenizer, config)
  evals = {s: _load_split(task, s, tokenizer, config) for s in task.eval_splits}
  data_notes = task.describe()
  if data_notes.get('summary'):
    _say(f"{config.task} data: {data_notes['summary']}")
  steps_per_epoch = data.steps_per_epoch(len(train), config.batch_size)
  total_steps = (config.max_steps if config.max_steps > 0 else
                 int(len(train) * config.epochs / config.batch_size))
  if total_steps < 1:
    raise errors.UserError(
        f'Nothing to train: {len(train)} training examples x epochs='
        f'{config.epochs} / batch_size={config.batch_size} gives '
        f'{total_steps} steps. Raise --config.epochs or set '
        '--config.max_steps.')
  eval_every = config.eval_every or steps_per_epoch
  checkpoint_every = config.checkpoint_every or eval_every

  # Model, trainable subset, optimizer and steps.
  run = setup(config, total_steps, task=task, backbone=backbone)
  trainable, frozen, opt_state = run.trainable, run.frozen, run.opt_state
  report, schedule = run.report, run.schedule
  batch_sharding = run.batch_sharding
  _say(f"{config.task}: {config.method} trains {report['trainable_params']:,}"
       f" of {report['total_params']:,} parameters "
       f"({100 * report['trainable_share']:.2f}%), {total_steps} steps of "
       f'{config.batch_size} on {jax.device_count()} device(s).')

  # Resume, from the newest checkpoint that is intact.
  manager = ocp.CheckpointManager(
      checkpoint_dir, options=ocp.CheckpointManagerOptions(
          max_to_keep=config.keep_checkpoints, create=True))
  progress = dict(step=0, train_seconds=0.0, best_score=-math.inf,
                  best_step=-1, best_dev={}, best_dev_all={}, history=[])

  def restore(step):
    return manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(
            {'trainable': trainable, 'opt_state': opt_state}),
        progress=ocp.args.JsonRestore()))

  step, restored = _restore_newest_intact(manager, checkpoint_dir, workdir,
                                          restore)
  if restored is not None:
    trainable = restored.state['trainable']
    opt_state = restored.state['opt_state']
    progress = dict(restored.progress)
    _say(f'Resumed {workdir} at step {step}.')
  _trim_log(os.path.join(workdir, 'metrics.jsonl'), progress['step'])

  train_step, eval_step = run.train_step, run.eval_step
  log = _Logger(workdir)
  base_rng = jax.random.key(config.seed)

  latest = {}  # split -> (step, outputs) of the last evaluation.

  def evaluate(step):
    results = {}
    for split, s in evals.items():
      outputs = inference.predict(
          lambda b: eval_step(trainable, frozen, b), s.arrays,
          config.eval_batch_size, sharding=batch_sharding,
          packing=config.packing)
      latest[split] = (step, outputs)
      results[split] = task.evaluate(outputs, s)
      log.write(step, split, results[split])
    score = task.score(results[task.eval_splits[0]])
    progress['history'].append(dict(step=step, score=score, **results))
    if score > progress['best_score']:
      progress.update(best_score=score, best_step=step,
                      best_dev=results[task.eval_splits[0]],
                      best_dev_all=results)
    return results

  unsealed = []  # Saved steps whose checksums are not written yet.

  def seal():
    """Checksums every finished save (orbax saves in the background)."""
    manager.wait_until_finished()
    for saved in unsealed:
      path = _step_dir(checkpoint_dir, saved)
      if _is_chief() and os.path.isdir(path):
        checksums.write_manifest(path)
    unsealed.clear()

  def save(step):
    seal()  # orbax's save waits for the previous one anyway.
    progress['step'] = step
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave({'trainable': trainable,
                                     'opt_state': opt_state}),
        progress=ocp.args.JsonSave(progress)))
    unsealed.append(step)

  batches = data.train_batches(train.arrays, train.labels,
                               config.batch_size, config.seed,
                               start_step=progress['step'],
                               group_by_length=config.group_by_length,
                               packing=config.packing,
                               num_groups=len(batch_sharding.device_set))
  step = progress['step']
  bar = tqdm.tqdm(total=total_steps, initial=step, disable=not _is_chief(),
                  desc=f'{config.task} {config.method}', dynamic_ncols=True)
  window_start, window_examples = time.perf_counter(), 0
  interrupted = False
  try:
    while step < total_steps:
      batch = next(batches)
      rng = jax.random.fold_in(base_rng, step)
      trainable, opt_state, metrics = train_step(
          trainable, opt_state, frozen, run.to_device(batch), rng)
      step += 1
      window_examples += config.batch_size
      loss = float(metrics['loss'])
      if not math.isfinite(loss):
        # A result the sweep runner can rank (last) instead of retrying.
        _write_json(os.path.join(workdir, 'results.json'), dict(
            status='diverged', task=config.task, method=config.method,
            m=config.m, lr=config.lr, epochs=config.epochs, seed=config.seed,
            step=step, score=float('nan'), config=json.loads(config.to_json()),
            **report))
        raise FloatingPointError(
            f'Loss became {loss} at step {step}; stopping. The last good '
            f'checkpoint (step {manager.latest_step()}) is kept in '
            f'{checkpoint_dir}. Try a lower learning rate (--config.lr).')
      if step % config.log_every == 0 or step == total_steps:
        elapsed = time.perf_counter() - window_start
        progress['train_seconds'] += elapsed
        values = dict(loss=loss, lr=float(schedule(step - 1)),
                      grad_norm=float(metrics['grad_norm']),
                      examples_per_sec=window_examples / elapsed)
        log.write(step, 'train', values)
        bar.set_postfix(loss=f'{loss:.4f}', lr=f"{values['lr']:.2e}",
                        ex_s=f"{values['examples_per_sec']:.1f}")
        window_start, window_examples = time.perf_counter(), 0
      bar.update(1)
      if step % eval_every == 0 or step == total_steps:
        progress['train_seconds'] += time.perf_counter() - window_start
        evaluate(step)
        window_start = time.perf_counter()
      if step % checkpoint_every == 0 or step == total_steps:
        save(step)
      if interrupt_after_step is not None and step >= interrupt_after_step:
        interrupted = True
        break
  finally:
    bar.close()
    seal()
    log.close()
  if interrupted:
    return dict(status='interrupted', step=step)

  # Export, predict, summarise.
  final = progress['history'][-1] if progress['history'] else {}
  if _is_chief():
    stored, stored_config = _stored_subset(config, run.model, trainable,
                                           backbone.config.hidden_size)
    artifact_files.export(os.path.join(workdir, 'artifact'), stored,
                          config=stored_config, backbone=backbone,
                          label_names=task.label_names, report=report,
                          head=task.head)
  test_metrics, test_predictions = {}, {}
  if config.predict:
    for split in task.test_splits:
      s = (evals[split] if split in evals else
           _load_split(task, split, tokenizer, config))
      if latest.get(split, (None,))[0] == step:  # Evaluated at this step.
        outputs = latest[split][1]
      else:
        outputs = inference.predict(
            lambda b: eval_step(trainable, frozen, b), s.arrays,
            config.eval_batch_size, sharding=batch_sharding,
            packing=config.packing)
      if _is_chief():
        task.save_predictions(split, s, outputs,
                              os.path.join(workdir, 'predictions'))
      metrics = task.evaluate(outputs, s)
      if metrics:
        test_metrics[split] = metrics
        summary = task.prediction_summary(outputs, s)
        if summary:
          test_predictions[split] = summary
  results = dict(
      status='done', task=config.task, method=config.method, m=config.m,
      lr=config.lr, epochs=config.epochs, seed=config.seed,
      backbone=config.backbone, steps=total_steps,
      config=json.loads(config.to_json()),
      dev=final.get(task.eval_splits[0], {}),
      dev_all={k: v for k, v in final.items() if k not in ('step', 'score')},
      best_dev=progress['best_dev'], best_dev_all=progress['best_dev_all'],
      best_step=progress['best_step'], best_score=progress['best_score'],
      # Scored by the final step, as the official code; best_* are diagnostics.
      score=final.get('score', -math.inf), schedule=config.schedule,
      test=test_metrics,
      train_seconds=progress['train_seconds'], **report)
  dev_split = task.eval_splits[0] if task.eval_splits else None
  if latest.get(dev_split, (None,))[0] == step:  # The final step's outputs.
    summary = task.prediction_summary(latest[dev_split][1], evals[dev_split])
    if summary:
      results['dev_predictions'] = summary
  if test_predictions:  # Labelled test splits only (the extra tasks').
    results['test_predictions'] = test_predictions
  if data_notes:
    results['data'] = data_notes
  _write_json(os.path.join(workdir, 'results.json'), results)
  cards.write_card(os.path.join(workdir, 'artifact'), results)
  return results
