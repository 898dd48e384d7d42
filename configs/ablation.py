r"""Ablations that retrain: the init-scale study and the adapter variants.

  python -m experiments.sweep --workdir runs/init_scale \
      --config configs/ablation.py:task=cola,sweep=init_scale
  python -m experiments.sweep --workdir runs/variants_rte \
      --config configs/ablation.py:task=rte,sweep=variants

sweep=init_scale: the paper's §3.6 study (Figure 6, right; MNLI and CoLA
there): adapters trained with the init stddev σ from 1e-7 to 1, everything
else the CPU recipe of configs/glue.py (m=64, lr 1e-3, 3 epochs). The paper
finds σ <= 1e-2 robust and larger ones harmful, worst on CoLA.
sweep=variants: the follow-up variants at the same recipe (see
adapter_bert/adapters.py): parallel (He et al. 2021, also at scale 4),
LayerNorm on the adapter input, a two-layer bottleneck, other activations and
adapters in only half of the layers.

The ablation without retraining (adapters removed from spans of layers at
evaluation) is experiments/ablate.py. Sweep-only keys as in configs/glue.py:
`sweep`, `tasks`, `seeds`.
"""

from __future__ import annotations

from configs import backbones
from configs import common
from configs import glue
from configs import sweeps

INIT_SCALES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SWEEPS = ('init_scale', 'variants')


def _parse(arg: str | None):
  return common.parse_arg(
      arg, task='cola', m=64, backbone='minilm-l6', lr=glue.CPU_ADAPTER_LR,
      epochs=glue.CPU_EPOCHS, seed=0, init_scale=1e-3, placement='houlsby',
      sweep='init_scale', tasks='', seeds=1)


def get_config(arg: str | None = None):
  """One adapter run of the study; every key can be set from `arg`."""
  arg = _parse(arg)
  base = glue.get_config(f'task={arg.task},method=adapter,m={arg.m},'
                         f'backbone={arg.backbone},lr={arg.lr},'
                         f'epochs={arg.epochs},seed={arg.seed},'
                         f'placement={arg.placement}')
  base.init_scale = arg.init_scale
  return base


def _variants(m: int, num_layers: int) -> list[dict[str, object]]:
  half = num_layers // 2
  per_layer = lambda sizes: ','.join(str(s) for s in sizes)
  return [
      dict(),                                     # The paper's adapter.
      dict(adapter_parallel=True),
      dict(adapter_parallel=True, adapter_scale=4.0),
      dict(adapter_ln=True),
      dict(adapter_depth=2),
      dict(adapter_act='relu'),
      dict(adapter_act='tanh'),
      dict(adapter_act='swish'),
      dict(m_per_layer=per_layer([0] * half + [m] * (num_layers - half))),
      dict(m_per_layer=per_layer([m] * half + [0] * (num_layers - half))),
  ]


def sweep(add, arg: str | None = None):
  """Calls `add(**overrides)` once per run of the sweep named by `sweep=`."""
  arg = _parse(arg)
  tasks = sweeps.checked_tasks(arg, SWEEPS, glue.TASK_GROUPS, glue.TASKS)
  if arg.sweep == 'init_scale':
    grid = [dict(init_scale=s) for s in INIT_SCALES]
  else:
    grid = _variants(arg.m, backbones.num_layers(arg.backbone))
  for task in tasks:
    for seed in sweeps.seed_range(arg):
      for point in grid:
        add(task=task, seed=seed, method='adapter', m=arg.m, lr=arg.lr,
            epochs=arg.epochs, **point)
