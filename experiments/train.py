r"""Trains one run from an ml_collections config.

  python -m experiments.train --config configs/glue.py:task=mrpc \
      --workdir runs/mrpc [--config.lr=3e-4 --config.m=8 ...]

Rerunning with the same workdir resumes from the last checkpoint.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from adapter_bert import train

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, optionally with `:key=value,...`.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  train.enable_compilation_cache()
  results = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  if results.get('status') == 'done':
    print(f"dev {results['dev']} | best {results['best_dev']} at step "
          f"{results['best_step']} | test {results['test']} | trained "
          f"{100 * results['trainable_share']:.2f}% of "
          f"{results['total_params']:,} parameters | "
          f"{results['train_seconds']:.0f} s of training")


if __name__ == '__main__':
  app.run(main)
