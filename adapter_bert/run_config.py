"""Which config keys define a run's result, how two run configs differ, and
where a run keeps its checkpoints.

A resumed run and a sweep deciding whether a finished run is still the run it
asks for compare configs the same way: every key counts except those that only
change how a run is carried out (logging, evaluation batch size, caches).
Pure Python, so that the sweep runner can answer without importing JAX.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

# Keys that may differ between a checkpoint and its resumption, or between a
# finished run and a request for it (EXTRA_OUTPUT_KEYS aside).
RESUMABLE_KEYS = frozenset({
    'overwrite', 'log_every', 'predict', 'distributed', 'eval_batch_size',
    'cache_dir', 'keep_checkpoints'})
# Keys that ask a run for outputs beyond its result: a finished run that wrote
# them serves a request that does not ask for them, not the reverse (a run
# made without test predictions has no test accuracy to report).
EXTRA_OUTPUT_KEYS = frozenset({'predict'})
# What a run made before a key existed did, where that differs from today's
# default: the official schedule became the default after runs with HF's.
PREDATING_VALUES = {'schedule': 'linear'}

_MISSING = '<absent>'
# A run's checkpoints, under its workdir: what a resumption needs and a
# finished run does not (its artifact and results stay).
CHECKPOINTS_DIR = 'checkpoints'


def flatten(config: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'csv': {'path': p}} -> {'csv.path': p}, values normalised through JSON."""
  flat = {}
  for key, value in config.items():
    if isinstance(value, Mapping):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[prefix + key] = json.loads(json.dumps(value))
  return flat


def changed_keys(recorded: Mapping[str, Any], current: Mapping[str, Any],
                 defaults: Mapping[str, Any] | None = None,
                 resuming: bool = False) -> dict[str, tuple[Any, Any]]:
  """key -> (recorded value, current value) for every key that differs.

  A key the recorded config lacks was added to the code after the run; the
  run then did what PREDATING_VALUES says, else had its default, compared as
  `defaults[key]` (when defaults are not given, such keys are not compared).
  `resuming` compares a checkpoint's config with its resumption's, where every
  RESUMABLE_KEYS key may change; otherwise a finished run is being reused,
  and EXTRA_OUTPUT_KEYS count where the run lacks what is asked for.
  """
  old, new = flatten(recorded), flatten(current)
  base = flatten(defaults) if defaults is not None else {}
  changed = {}
  for key in sorted(set(old) | set(new)):
    top = key.split('.')[0]
    if key in old:
      before = old[key]
    elif key in PREDATING_VALUES:
      before = PREDATING_VALUES[key]
    elif key in base:
      before = base[key]
    else:
      continue
    after = new.get(key, _MISSING)
    if top in EXTRA_OUTPUT_KEYS and not resuming:
      if after is True and before is not True:
        changed[key] = (before, after)
      continue
    if top in RESUMABLE_KEYS:
      continue
    if before != after:
      changed[key] = (before, after)
  return changed


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
  return ', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in changes.items())
