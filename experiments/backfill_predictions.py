r"""Adds `dev_predictions` to committed runs that predate it, from their artifacts.

  python -m experiments.backfill_predictions \
      --runs_dir experiments/results/glue_minilm/runs --workdir runs/glue_minilm

Training records, in results.json, what the final step's dev predictions look
like (`dev_predictions`: counts per class, or the spread of a regression's
predictions; `Task.prediction_summary`). Runs finished before that field
existed lack it. For each such run whose artifact is still on this machine
(<workdir>/<run>/artifact), this evaluates the artifact on the run's dev split
as training did (same batching) and adds the field, but only if the
recomputed dev metrics equal the recorded ones (to 1e-6): the counts are then
those of the run's own final-step predictions. The field notes its source.
A run whose metrics do not match is left unchanged and reported, and the
command exits non-zero.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

from absl import app
from absl import flags

from adapter_bert import inference
from experiments import artifact_eval
from experiments import fileio

FLAGS = flags.FLAGS

SOURCE = ('experiments.backfill_predictions: the artifact re-evaluated; its '
          'dev metrics equal the recorded ones')


def define_flags() -> None:
  flags.DEFINE_string('runs_dir', None, 'Committed runs (<run>/results.json).')
  flags.DEFINE_string('workdir', None, 'Where the runs trained '
                      '(<workdir>/<run>/artifact).')
  flags.DEFINE_string('cache_dir', None, 'Token cache directory.')
  flags.mark_flags_as_required(['runs_dir', 'workdir'])


def metrics_match(recorded: dict[str, float], recomputed: dict[str, float],
                  tolerance: float = 1e-6) -> bool:
  return (set(recorded) == set(recomputed) and all(
      math.isclose(recorded[k], recomputed[k], abs_tol=tolerance)
      for k in recorded))


def backfill(results_path: str, artifact: str,
             cache_dir: str | None = None) -> str:
  """Adds the field to one results.json; returns what happened, in words."""
  with open(results_path) as f:
    results = json.load(f)
  if results.get('status') != 'done':
    return 'skipped (not done)'
  if 'dev_predictions' in results:
    return 'skipped (has dev_predictions)'
  if not os.path.isdir(artifact):
    return f'skipped (no artifact at {artifact})'
  dev = artifact_eval.load_dev(artifact, cache_dir=cache_dir)
  eval_step = inference.make_eval_step(dev.loaded.model)
  outputs = inference.predict(
      lambda b: eval_step(dev.loaded.params, {}, b), dev.features.arrays,
      int(dev.config.eval_batch_size), packing=bool(dev.config.packing))
  recomputed = dev.task.evaluate(outputs, dev.features)
  if not metrics_match(results.get('dev', {}), recomputed):
    raise ValueError(f'{results_path}: recomputed dev metrics {recomputed} '
                     f'differ from the recorded {results.get("dev")}; left '
                     'unchanged.')
  summary = dev.task.prediction_summary(outputs, dev.features)
  if not summary:
    return 'skipped (the task has no prediction summary)'
  results['dev_predictions'] = dict(summary, source=SOURCE)
  fileio.write_text(results_path, json.dumps(results, indent=2) + '\n')
  return f'added {summary}'


def run(runs_dir: str, workdir: str, cache_dir: str | None = None
        ) -> list[str]:
  """Backfills every run under `runs_dir`; returns the runs that failed."""
  failed = []
  for name in sorted(os.listdir(runs_dir)):
    path = os.path.join(runs_dir, name, 'results.json')
    if not os.path.isfile(path):
      continue
    try:
      outcome = backfill(path, os.path.join(workdir, name, 'artifact'),
                         cache_dir)
    except (ValueError, OSError) as e:
      failed.append(name)
      outcome = f'FAILED: {e}'
    print(f'{name}: {outcome}', flush=True)
  return failed


def main(argv: Sequence[str]) -> Any:
  del argv
  failed = run(FLAGS.runs_dir, FLAGS.workdir, FLAGS.cache_dir)
  if failed:
    raise SystemExit(f'{len(failed)} run(s) not backfilled: '
                     f'{", ".join(failed)}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
