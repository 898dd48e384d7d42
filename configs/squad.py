r"""SQuAD v1.1 runs: `get_config('method=adapter,m=64,...')` and the paper's sweeps.

  # The paper's protocol: train on SQuAD train, evaluate on dev (TFDS, or the
  # official JSON files via train_file=...,eval_file=...).
  python -m experiments.train --config configs/squad.py:method=adapter,m=64 \
      --workdir runs/squad_adapter
  # Offline (only the dev set here): train on its first 40 articles, evaluate
  # on its last 8. NOT the paper's protocol; numbers are not comparable.
  python -m experiments.train --config configs/squad.py:method=adapter,m=64,\
train_file=../shared/data/squad/dev-v1.1.json,holdout=8 --workdir runs/sq
  python -m experiments.sweep --config configs/squad.py:sweep=cpu,\
train_file=../shared/data/squad/dev-v1.1.json,holdout=8 --workdir runs/sw

Argument keys: method, m, backbone, lr (-1 = the method's default), epochs,
seed, top_k, placement; data: `source` ('json' | 'tfds'; '' = json when
train_file is set, else tfds), `train_file`, `eval_file` (official-layout
JSON), `holdout` (K > 0: evaluate on the last K articles of train_file, train
on the others; the held-out titles are listed in results.json under `data`).
Sweep-only keys: `sweep` (one of SWEEPS) and `seeds`.
"""

from __future__ import annotations

import ml_collections

from configs import common
from configs import sweeps

SWEEPS = ('paper', 'fixed_m', 'finetune', 'cpu')

# The paper's SQuAD v1.1 grids: adapters lr x epochs, with m
# in {2, 8, 64, 256} (sweep paper; fixed_m keeps m=64); full fine-tuning
# lr x epochs (sweep finetune).
PAPER_LRS = (3e-5, 1e-4, 3e-4, 1e-3)
PAPER_EPOCHS = (3.0, 10.0, 20.0)
PAPER_MS = (2, 8, 64, 256)
FINETUNE_LRS = (3e-5, 5e-5, 1e-4)
FINETUNE_EPOCHS = (2.0, 3.0, 5.0)
# CPU sweep: one point of each grid, the GLUE CPU recipe's learning rates.
CPU_ADAPTER_MS = (64,)
CPU_ADAPTER_LR = 1e-3
CPU_FULL_LR = 5e-5
CPU_EPOCHS = 3.0


def _parse(arg: str | None):
  return common.parse_arg(
      arg, method='adapter', m=64, backbone='minilm-l6', lr=-1.0, epochs=3.0,
      seed=0, top_k=0, placement='houlsby', source='', train_file='',
      eval_file='', holdout=0, sweep='paper', seeds=1)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The GLUE recipe with BERT's SQuAD settings (length 384, windows)."""
  arg = _parse(arg)
  source = arg.source or ('json' if arg.train_file else 'tfds')
  if source not in ('json', 'tfds'):
    raise ValueError(f"source={source!r}: use 'json' or 'tfds'.")
  c = common.base_config()
  c.task = 'squad'
  c.data_source = source    # json: squad.train_file / eval_file; tfds: squad/v1.1.
  common.apply_run_args(c, arg)
  c.max_length = 384        # BERT's SQuAD window (run_squad.py).
  c.eval_batch_size = 64
  c.squad = ml_collections.ConfigDict(dict(
      train_file=arg.train_file,  # Official-layout JSON (train-v1.1.json).
      eval_file=arg.eval_file,    # Official-layout JSON (dev-v1.1.json).
      # K > 0: train on train_file's articles but its last K, evaluate on
      # those K (eval_file empty). NOT the paper's protocol (train on SQuAD
      # train, ~88k questions): such numbers are not comparable with it.
      holdout_articles=arg.holdout,
      doc_stride=128,         # Context tokens shared by consecutive windows.
      max_query_length=64,    # Questions are cut to this many tokens.
      max_answer_length=30,   # Longest predicted answer, in tokens.
      n_best=20,              # Start / end candidates per window.
  ))
  return c


_GRIDS = {
    **sweeps.paper_grids(PAPER_MS, PAPER_LRS, PAPER_EPOCHS, FINETUNE_LRS,
                         FINETUNE_EPOCHS),
    'cpu': lambda arg: sweeps.cpu_grid(arg.placement, CPU_ADAPTER_MS,
                                       CPU_ADAPTER_LR, CPU_FULL_LR,
                                       CPU_EPOCHS),
}


def sweep(add, arg: str | None = None):
  """Calls `add(**overrides)` once per run of the sweep named by `sweep=`."""
  arg = _parse(arg)
  if arg.sweep not in _GRIDS:
    raise ValueError(f'Unknown sweep {arg.sweep!r}; valid sweeps: {SWEEPS}')
  grid = _GRIDS[arg.sweep](arg)
  for seed in sweeps.seed_range(arg):
    for point in grid:
      add(task='squad', seed=seed, **point)
