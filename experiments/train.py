r"""Trains one run from an ml_collections config.

  python -m experiments.train --config configs/glue.py:task=mrpc \
      --workdir runs/mrpc [--config.lr=3e-4 --config.m=8 ...]

Rerunning with the same workdir resumes from the last checkpoint.
A mistake in the input (config key or value, data, workdir) prints one line
and exits with status 2; any other error is a bug and keeps its traceback.
"""

import importlib.util

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from adapter_bert import errors
from adapter_bert import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with `:key=value,...`.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
flags.mark_flags_as_required(['config', 'workdir'])

def _config_keys(config, prefix=''):
  keys = []
  for key, value in config.items():
    if hasattr(value, 'items'):
      keys += _config_keys(value, f'{prefix}{key}.')
    else:
      keys.append(prefix + key)
  return keys


def _config_without_overrides(argv):
  """The config that `--config` names, overrides left out (None if absent)."""
  specs = [a[len('--config='):] for a in argv[1:] if a.startswith('--config=')]
  specs += [after for before, after in zip(argv[1:], argv[2:])
            if before == '--config']
  if not specs:
    return None
  path, _, arg = specs[-1].partition(':')
  module_spec = importlib.util.spec_from_file_location('_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _unknown_override(argv, config):
  """The first `--config.<key>` of argv that `config` lacks, or None."""
  valid = set(_config_keys(config))
  for arg in argv[1:]:
    if arg.startswith('--config.'):
      key = arg[len('--config.'):].split('=', 1)[0]
      if key not in valid:
        return key
  return None


def _parse_flags(argv):
  """absl's flag parsing, with input mistakes reported in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    last = lines[-1] if lines else str(e)
    if 'Traceback' in str(e) and not last.startswith(
        ('ValueError', 'FileNotFoundError', 'KeyError')):
      raise  # A bug in the config file, not a bad argument.
    errors.exit_with_message(last)
  except (AttributeError, KeyError):
    config = _config_without_overrides(argv)
    unknown = None if config is None else _unknown_override(argv, config)
    if unknown is None:
      raise
    errors.exit_with_message(
        f'Unknown config key {unknown!r} (--config.{unknown}); valid keys: '
        f'{", ".join(sorted(_config_keys(config)))}')


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  train.enable_compilation_cache()
  with errors.exit_on_user_error():
    results = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  if results.get('status') == 'done':
    print(f"dev (final step) {results['dev']} | best evaluated step "
          f"{results['best_step']}: {results['best_dev']} | "
          f"test {results['test']} | trained "
          f"{100 * results['trainable_share']:.2f}% of "
          f"{results['total_params']:,} parameters | "
          f"{results['train_seconds']:.0f} s of training")


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
