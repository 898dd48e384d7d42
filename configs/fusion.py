r"""AdapterFusion runs (Pfeiffer et al. 2021): fuse trained adapters for a task.

  python -m experiments.train --workdir runs/fusion_rte --config \
      configs/fusion.py:task=rte,adapters=runs/rte/artifact+runs/mrpc/artifact

`adapters` names exported artifacts (`<workdir>/artifact`) of one backbone,
joined by '+'; put the target task's first (its LayerNorms are used, see
adapter_bert/fusion.py). Relative paths are read from the working directory.
Method `fusion` trains the fusion attention and a new head; the task adapters,
LayerNorms and backbone stay frozen.

Sweep (`sweep=lr`): the learning rates below; the sweep-only keys `tasks`
and `seeds` work as in configs/glue.py.
"""

from __future__ import annotations

from configs import common
from configs import glue
from configs import sweeps

# Pfeiffer et al. (2021) trained the fusion layer at lr 5e-5 for up to 10
# epochs; the head is new, so a larger rate is worth a look on small tasks.
LR = 5e-5
EPOCHS = 10.0
SWEEP_LRS = (5e-5, 1e-4, 1e-3)
SWEEPS = ('lr',)


def _parse(arg: str | None):
  return common.parse_arg(
      arg, task='rte', adapters='', backbone='minilm-l6', lr=LR,
      epochs=EPOCHS, seed=0, norms='first', reg=0.01, init_scale=0.02,
      sweep='lr', tasks='', seeds=1)


def get_config(arg: str | None = None):
  """Fusion of `adapters` for GLUE task `task`; any key can be set by `arg`."""
  base = common.base_config()
  arg = _parse(arg)
  if arg.task not in glue.TASKS:
    raise ValueError(f'Unknown GLUE task {arg.task!r}; valid tasks: '
                     f'{glue.TASKS}')
  if not arg.adapters:
    raise ValueError('configs/fusion.py needs adapters=<artifact>+<artifact>, '
                     'the exported artifacts to fuse (target task first).')
  base.task = arg.task
  base.backbone = arg.backbone
  base.method = 'fusion'
  base.placement = 'none'  # The fused artifacts bring their own placements.
  base.fusion_adapters = arg.adapters
  base.fusion_norms = arg.norms
  base.fusion_reg = arg.reg
  base.fusion_init_scale = arg.init_scale
  base.lr = arg.lr
  base.epochs = arg.epochs
  base.seed = arg.seed
  return base


def sweep(add, arg: str | None = None):
  """Calls `add(**overrides)` once per run of the sweep named by `sweep=`."""
  arg = _parse(arg)
  tasks = sweeps.checked_tasks(arg, SWEEPS, glue.TASK_GROUPS, glue.TASKS)
  for task in tasks:
    for seed in sweeps.seed_range(arg):
      for lr in SWEEP_LRS:
        add(task=task, seed=seed, method='fusion', lr=lr, epochs=arg.epochs)
