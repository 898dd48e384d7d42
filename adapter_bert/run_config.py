"""Which config keys define a run's result, and how two run configs differ.

A resumed run and a sweep deciding whether a finished run is still the run it
asks for compare configs the same way: every key counts except those that only
change how a run is carried out (logging, evaluation batch size, caches).
Pure Python, so that the sweep runner can answer without importing JAX.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

# Keys that may differ between a run and its resumption or re-use.
RESUMABLE_KEYS = frozenset({
    'overwrite', 'log_every', 'predict', 'distributed', 'eval_batch_size',
    'cache_dir', 'keep_checkpoints'})

_MISSING = '<absent>'


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
                 defaults: Mapping[str, Any] | None = None
                 ) -> dict[str, tuple[Any, Any]]:
  """key -> (recorded value, current value) for every key that differs.

  A key the recorded config lacks was added to the code after the run; the
  run then had its default, so it is compared as `defaults[key]` (when
  defaults are not given, such keys are not compared).
  """
  old, new = flatten(recorded), flatten(current)
  base = flatten(defaults) if defaults is not None else None
  changed = {}
  for key in sorted(set(old) | set(new)):
    if key.split('.')[0] in RESUMABLE_KEYS:
      continue
    if key in old:
      before = old[key]
    elif base is not None and key in base:
      before = base[key]
    else:
      continue
    after = new.get(key, _MISSING)
    if before != after:
      changed[key] = (before, after)
  return changed


def describe_changes(changes: Mapping[str, tuple[Any, Any]]) -> str:
  return ', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in changes.items())
