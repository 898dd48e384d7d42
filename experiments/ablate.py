r"""Dev score with the trained adapters of each span of layers removed (Fig. 6).

  python -m experiments.ablate --artifact runs/mrpc/artifact \
      --out runs/mrpc/ablation [--max_examples 0] [--batch_size 128]

No retraining (paper §3.6): the artifact's model is evaluated on its task's
first dev split with the adapters of layers first..last removed, for every
0 <= first <= last < L (L(L+1)/2 spans), and once with nothing removed.

Removing an adapter = zeroing its up-projection kernel AND bias: the adapter
then returns its input h exactly (h + 0), which is the computation of a model
built with that plan entry set to None (tests/test_ablate.py checks it), while
one compiled eval function serves every span. Zeroing the kernel alone would
leave the bias b_up added. Both sites of a layer go together, as in the paper.
For a fusion artifact every fused adapter's up-projection is zeroed, so the
site returns h too. The trained LayerNorms and head stay.

Writes, under --out: ablation.json (every span's metrics and score),
ablation.csv and ablation.png: rows first ablated layer, columns last ablated
layer, colour the change of the dev score (x100) against no ablation, as the
paper's heatmap.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
from typing import Any, Mapping, Sequence

from absl import app
from absl import flags
from absl import logging
import jax
import numpy as np

from adapter_bert import inference
from adapter_bert import param_paths
from experiments import artifact_eval
from experiments import fileio
from experiments import plots

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  artifact_eval.define_flags('ablation', batch_size=128)
  flags.DEFINE_string('data_dir', None, "Override the run's data_dir.")
  flags.DEFINE_string('cache_dir', None, 'Token cache directory.')


# Up-projections of a layer's adapters (fused task adapters' too).
_UP = re.compile(param_paths.ADAPTER_UP_RE)


def remove_adapters(params: Mapping[str, Any],
                    layers: Sequence[int]) -> dict[str, Any]:
  """Params (nested) with the adapters of `layers` made exactly the identity."""
  layers = set(layers)
  flat = param_paths.flatten(params)
  hit = {int(m.group(1)) for p in flat if (m := _UP.match(p))}
  missing = layers - hit
  if missing:
    raise ValueError(f'No adapters to remove in layers {sorted(missing)}.')
  return param_paths.unflatten({
      p: (np.zeros_like(v) if (m := _UP.match(p)) and int(m.group(1)) in layers
          else v) for p, v in flat.items()})


def adapter_layers(params: Mapping[str, Any]) -> list[int]:
  return sorted({int(m.group(1)) for p in param_paths.flatten(params)
                 if (m := _UP.match(p))})


def spans(num_layers: int) -> list[tuple[int, int]]:
  """Every contiguous (first, last) span of layers, inclusive."""
  return [(a, b) for a in range(num_layers) for b in range(a, num_layers)]


def evaluate(model, task, features, params, batch_size: int,
             apply_fn=None) -> dict[str, float]:
  """The task's metrics of `model` at `params` on a split's features."""
  apply_fn = apply_fn or jax.jit(_apply(model))
  outputs = inference.predict(functools.partial(apply_fn, params),
                              features.arrays, batch_size)
  return task.evaluate(outputs, features)


def _apply(model):
  def apply(params, batch):
    return model.apply({'params': params}, batch['input_ids'],
                       batch['token_type_ids'], batch['attention_mask'])
  return apply


def run(artifact: str, out_dir: str, *, max_examples: int = 0,
        batch_size: int = 128, data_dir: str | None = None,
        cache_dir: str | None = None) -> dict[str, Any]:
  """Evaluates every span ablation and writes the JSON, CSV and heatmap."""
  dev = artifact_eval.load_dev(artifact, max_examples=max_examples,
                               cache_dir=cache_dir, data_dir=data_dir)
  loaded, task, split, features = dev.loaded, dev.task, dev.split, dev.features
  layers = adapter_layers(loaded.params)
  if not layers:
    raise ValueError(f'{artifact} has no adapters to remove.')
  apply_fn = jax.jit(_apply(loaded.model))
  params = jax.device_put(loaded.params)

  def score_of(p):
    metrics = evaluate(loaded.model, task, features, p, batch_size, apply_fn)
    return metrics, float(task.score(metrics))

  base_metrics, base = score_of(params)
  logging.info('No ablation: %s', base_metrics)
  rows = []
  num_layers = loaded.model.config.num_layers
  for first, last in spans(num_layers):
    removed = [i for i in range(first, last + 1) if i in layers]
    if not removed:
      continue  # No adapters there (per-layer sizes with zeros).
    metrics, score = score_of(remove_adapters(loaded.params, removed))
    rows.append(dict(first=first, last=last, score=score,
                     delta=100 * (score - base), metrics=metrics))
    print(f'layers {first}-{last} removed: score {100 * score:.2f} '
          f'({100 * (score - base):+.2f})', flush=True)
  result = dict(artifact=os.path.abspath(artifact), task=task.name,
                split=split, num_examples=len(features),
                num_layers=num_layers, adapter_layers=layers,
                baseline=dict(score=base, metrics=base_metrics), spans=rows,
                removal='up-projection kernel and bias zeroed (exact identity)')
  os.makedirs(out_dir, exist_ok=True)
  fileio.write_json(os.path.join(out_dir, 'ablation.json'), result)
  fileio.write_text(os.path.join(out_dir, 'ablation.csv'), to_csv(result))
  plots.span_heatmap(result, os.path.join(out_dir, 'ablation.png'))
  return result


def to_csv(result: Mapping[str, Any]) -> str:
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  names = sorted(result['baseline']['metrics'])
  writer.writerow(['first', 'last', 'score', 'delta_points'] + names)
  writer.writerow(['', '', f"{result['baseline']['score']:.6f}", '0.00']
                  + [f"{result['baseline']['metrics'][n]:.6f}" for n in names])
  for r in result['spans']:
    writer.writerow([r['first'], r['last'], f"{r['score']:.6f}",
                     f"{r['delta']:.2f}"] + [f"{r['metrics'][n]:.6f}"
                                             for n in names])
  return out.getvalue()


def main(argv):
  del argv
  out = FLAGS.out or artifact_eval.beside(FLAGS.artifact, 'ablation')
  run(FLAGS.artifact, out, max_examples=FLAGS.max_examples,
      batch_size=FLAGS.batch_size, data_dir=FLAGS.data_dir,
      cache_dir=FLAGS.cache_dir)
  print(f'Wrote {out}/ablation.json, ablation.csv and ablation.png')


if __name__ == '__main__':
  define_flags()
  app.run(main)
