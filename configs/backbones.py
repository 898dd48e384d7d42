"""Layer counts of the named backbones, so sweeps can size depth grids.

The library resolves backbone names to weights (adapter_bert.backbones); a
config only needs the depth, and must not download or load anything to get it.
"""

from __future__ import annotations

import json
import os

NUM_LAYERS = {
    'tiny': 2,
    'minilm-l6': 6,
    'bert-base-uncased': 12,
    'bert-base-cased': 12,
    'bert-large-uncased': 24,
    'bert-large-cased': 24,
}


def num_layers(backbone: str) -> int:
  """Depth of a named backbone, or of an HF / TF BERT directory's config."""
  if backbone in NUM_LAYERS:
    return NUM_LAYERS[backbone]
  for name, key in (('config.json', 'num_hidden_layers'),
                    ('bert_config.json', 'num_hidden_layers')):
    path = os.path.join(backbone, name)
    if os.path.exists(path):
      with open(path) as f:
        return int(json.load(f)[key])
  raise ValueError(f'Unknown backbone {backbone!r}: not one of '
                   f'{sorted(NUM_LAYERS)} and not a directory with config.json '
                   'or bert_config.json.')
