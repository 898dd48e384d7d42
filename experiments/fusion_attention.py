r"""Where a trained AdapterFusion looks: mean attention per layer and adapter.

  python -m experiments.fusion_attention --artifact runs/fusion_rte/artifact \
      [--out runs/fusion_rte/fusion_attention.json] [--max_examples 0]

Runs the fusion artifact's model on its task's first dev split, collects the
fusion attention (fusion.attention_weights, sown per site) and averages it
over the real tokens of every example: for each site (`layer_3/ffn`), the
share of attention each fused task's adapter gets, as Pfeiffer et al. (2021)
report in their Figure 5. Prints a table and writes JSON.
"""

from __future__ import annotations

import os
from typing import Any

from absl import app
from absl import flags
import numpy as np

from adapter_bert import fusion
from adapter_bert import inference
from experiments import artifact_eval
from experiments import fileio

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defined by `main` only: importing the module claims no flag names."""
  artifact_eval.define_flags('fusion_attention.json', batch_size=64,
                             artifact_help="A fusion run's artifact.")


def mean_attention(artifact: str, max_examples: int = 0, batch_size: int = 64,
                   cache_dir: str | None = None) -> dict[str, Any]:
  """{'sites': {site: {adapter name: mean weight}}, ...} over the dev split."""
  dev = artifact_eval.load_dev(artifact, max_examples=max_examples,
                               cache_dir=cache_dir)
  loaded, config, features = dev.loaded, dev.config, dev.features
  if not config.get('fusion_adapters'):
    raise ValueError(f'{artifact} is not a fusion run.')
  names = fusion.site_names(loaded.model.adapter_plan)
  sums = {site: np.zeros(len(n)) for site, n in names.items()}
  tokens = 0.0

  def weights_and_mask(batch):
    return (fusion.attention_weights(loaded.model, loaded.params, batch),
            batch['attention_mask'])

  for weights, attention_mask in inference.predict(
      weights_and_mask, features.arrays, batch_size):
    mask = np.asarray(attention_mask)[..., None]
    tokens += float(mask.sum())
    for site, w in weights.items():
      sums[site] += (w * mask).sum((0, 1))
  return dict(
      artifact=os.path.abspath(artifact), task=dev.task.name, split=dev.split,
      num_examples=len(features), fused=config.fusion_adapters.split('+'),
      sites={site: dict(zip(names[site], (sums[site] / tokens).tolist()))
             for site in names})


def main(argv):
  del argv
  result = mean_attention(FLAGS.artifact, FLAGS.max_examples, FLAGS.batch_size)
  out = FLAGS.out or artifact_eval.beside(FLAGS.artifact,
                                          'fusion_attention.json')
  fileio.write_json(out, result)
  adapters = list(dict.fromkeys(a for s in result['sites'].values()
                                for a in s))
  print('site'.ljust(14) + ''.join(a.rjust(10) for a in adapters))
  for site, shares in result['sites'].items():
    print(site.ljust(14) + ''.join(
        (f'{shares[a]:.3f}' if a in shares else '-').rjust(10)
        for a in adapters))
  print(f'Wrote {out}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
