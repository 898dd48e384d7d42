r"""Writes the examples a run trains and evaluates on, for another library.

  python -m experiments.export_split \
      --config configs/extra.py:name=progressive_stance \
      --out runs/peer_data/progressive_stance

The AdapterHub peer (experiments/adapterhub/peer_glue.py) runs in its own venv
without this package, so it cannot rebuild our splits; it reads them from
here instead: the task the config names, split exactly as a run with that
config splits it (its data_dir, split_seed, csv keys). Writes under --out:
  train.jsonl, validation.jsonl[, test.jsonl]   one example per line:
      {"index": row id, "text_a": ..., "text_b": ... or null,
       "label": class id or null}
  task.json   {"task", "label_names", "splits": {split: rows}, "data": the
      task's data notes (files, split, dropped rows)}.
Classification tasks only (GLUE, extra:<name>, csv).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Sequence

from absl import app
from absl import flags
from ml_collections import config_flags

from adapter_bert import errors
from adapter_bert import tasks as tasks_lib
from experiments import fileio


def define_flags() -> None:
  """Defined by the entry point only: importing claims no flag names."""
  config_flags.DEFINE_config_file(
      'config', None, 'Config file, optionally with `:key=value,...`.',
      lock_config=True)
  flags.DEFINE_string('out', None, 'Output directory.')
  flags.mark_flags_as_required(['config', 'out'])


def _lines(examples) -> str:
  rows = []
  for i, text_a in enumerate(examples.text_a):
    rows.append(json.dumps(dict(
        index=int(examples.index[i]), text_a=text_a,
        text_b=None if examples.text_b is None else examples.text_b[i],
        label=None if examples.labels is None else int(examples.labels[i])),
                           ensure_ascii=False))
  return '\n'.join(rows) + '\n'


def export(config: Any, out_dir: str) -> dict[str, Any]:
  """Writes the splits and task.json under `out_dir`; returns the latter."""
  task = tasks_lib.from_config(config)
  if not isinstance(task, tasks_lib.ClassificationTask) or not task.label_names:
    raise errors.UserError(f'task {config.task!r}: only classification tasks '
                           'can be exported.')
  splits = {}
  for split in ('train',) + tuple(task.eval_splits) + tuple(task.test_splits):
    examples = task.load_split(split)
    fileio.write_text(os.path.join(out_dir, f'{split}.jsonl'),
                      _lines(examples))
    splits[split] = len(examples.text_a)
  meta = dict(task=config.task, label_names=list(task.label_names),
              splits=splits, data=task.describe())
  fileio.write_json(os.path.join(out_dir, 'task.json'), meta)
  return meta


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    meta = export(flags.FLAGS.config, flags.FLAGS.out)
  except (errors.UserError, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(f'{meta["task"]}: {meta["splits"]} -> {flags.FLAGS.out}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
