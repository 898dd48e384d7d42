r"""Adapters against LoRA, IA3, prefix tuning and BitFit at equal budgets.

  python -m experiments.sweep --workdir runs/peft_lr \
      --config configs/peft.py:sweep=lr_grid
  python -m experiments.sweep --workdir runs/peft_seeds \
      --config configs/peft.py:sweep=seeds,lr_adapter=1e-3,lr_lora=1e-3,lr_ia3=3e-3,lr_prefix=3e-4,lr_bitfit=1e-3
  python -m experiments.sweep --workdir runs/peft_0p1 \
      --config configs/peft.py:sweep=budget_0p1,lr_adapter=...,lr_lora=...,lr_prefix=...
  python -m experiments.sweep --workdir runs/peft_checks \
      --config configs/peft.py:sweep=checks,selected=experiments/results/peft_minilm/selected.json

or, instead of the lr_<method> keys, selected=experiments/results/peft_minilm/selected.json
(what python -m experiments.peft_study writes after sweep=lr_grid).

These are CPU grids of our own for minilm-l6 (3 epochs, the official
schedule, batch 32, final-step dev scores), not the grids of any of the
papers: each method gets a 3-point learning-rate grid (LRS; IA3 4 points,
see there) on MRPC with seed 0 (sweep=lr_grid); then 3 seeds at the learning
rate each method selected there (lr_<method>=...) on MRPC, RTE, STS-B and
CoLA (sweep=seeds); and the same at the ~0.1% budget on MRPC
(sweep=budget_0p1). Beside them, never selected from, sweep=checks (seed 0,
MRPC, also reading `selected`): one lr past the grid's end (CHECK_LRS) for
each method selected at an end, and prefix tuning without its MLP at
PREFIX_DIRECT_LR; and sweep=lower_lr (see LOWER_LR_METHODS): seeds at the
grid rate below a method's MRPC-selected one on other tasks.

A budget is a share of the backbone's parameters (minilm-l6: 22,713,216);
a method's size counts what it adds to or unfreezes in the backbone (the task
head, trained by every method, is left out). With d = hidden size, L =
layers, d_ff = FFN width (minilm-l6: d=384, L=6, d_ff=1536), the formulas
`method_params` implements (tests/test_peft.py checks them against the
models' real parameter counts):

  adapter  2L(2md + d + m) + (4L + 2)d   Houlsby placement + every LayerNorm
  lora     4Ldr                          r on query and value (2·r·(d + d))
  ia3      L(2d + d_ff)                  l_k, l_v, l_ff: fixed size
  prefix   2LPd                          P keys and values per layer
  bitfit   L(7d + d_ff) + 2d             every bias, LayerNorm β, pooler

Sizes nearest each budget (`budget_sizes`) on minilm-l6:

  1% (227,132):   adapter m=23: 226,836 (0.999%)   lora r=25: 230,400 (1.014%)
                  prefix P=49: 225,792 (0.994%)
  0.1% (22,713):  adapter m=1: 23,820 (0.105%; 14,592 of it LayerNorms)
                  lora r=2: 18,432 (0.081%)        prefix P=5: 23,040 (0.101%)
  fixed:          ia3 13,824 (0.061%)              bitfit 26,112 (0.115%)

IA3 and BitFit have no size knob: they sit near the 0.1% budget in both
comparisons, and their sweep=seeds runs on MRPC are their 0.1% runs too
(sweep=budget_0p1 holds only the sized methods). Prefix tuning trains through
Li and Liang's reparameterisation MLP (prefix_mlp=True, hidden 512, as their
paper; prefix_mlp=false in the argument turns it off): the budget counts the
prefixes a task stores (the MLP is folded away after training, as their
paper counts), while `trainable_params` in a run's results counts the MLP
too (minilm-l6, P=49: 3,659,520, 16.1%). LoRA keeps α = 8 fixed as r
varies, as the LoRA paper does.

Sweep-only keys: `sweep` (SWEEPS), `tasks` (names joined by '+'; empty = the
sweep's own), `seeds` (0 = the sweep's own: 1 for lr_grid, else 3) and
`methods` (sweep=lower_lr: names joined by '+'),
`lr_<method>` (the selected learning rates; sweep=seeds and budget_0p1) or
`selected` (the selected.json experiments.peft_study writes: the rates of the
methods without an lr_<method>).
"""

from __future__ import annotations

import json
import math

from configs import common
from configs import glue
from configs import sweeps

METHODS = ('adapter', 'lora', 'ia3', 'prefix', 'bitfit')
SWEEPS = ('lr_grid', 'checks', 'seeds', 'budget_0p1', 'lower_lr')
BUDGET = 0.01        # The main comparison: ~1% of the backbone.
SMALL_BUDGET = 0.001  # The second one (MRPC only).
SEED_TASKS = ('mrpc', 'rte', 'stsb', 'cola')
# Per method, 3 points around a rate its paper used, moved up where the paper
# trained for many more than our 3 epochs (LoRA: 4e-4 to 5e-4 over 30-80
# epochs; BitFit: 1e-4 to 1e-3; IA3: T-Few's 3e-3; prefix tuning with the
# MLP: 5e-5 to 8e-5 over 5-10 epochs; adapters: our CPU recipe's 1e-3).
# IA3 has a fourth point, 3e-2: its 3-point grid selected its top, 1e-2
# (MRPC selection score 80.2), and the check one step past it scored 85.1
# (session 12), so the grid had cut IA3 off before its best; it was extended
# before any seed beyond MRPC's and RTE's first ran at 1e-2.
LRS = {
    'adapter': (3e-4, 1e-3, 3e-3),
    'lora': (3e-4, 1e-3, 3e-3),
    'ia3': (1e-3, 3e-3, 1e-2, 3e-2),
    'prefix': (1e-4, 3e-4, 1e-3),
    'bitfit': (3e-4, 1e-3, 3e-3),
}
# One step past each end of LRS (the 1-3-10 ladder): a method selected at an
# end of its grid gets a seed-0 MRPC run there (sweep=checks), to say whether
# the grid cut it off before its best. Never selected from.
CHECK_LRS = {
    'adapter': (1e-4, 1e-2),
    'lora': (1e-4, 1e-2),
    'ia3': (3e-4, 1e-1),
    'prefix': (3e-5, 3e-3),
    'bitfit': (1e-4, 1e-2),
}
# sweep=lower_lr, beside the table and never selected from: a rate chosen on
# MRPC may be too hot for another task. Each method of `methods=` (default
# LOWER_LR_METHODS) at the grid rate just below its selected one, 3 seeds on
# `tasks=` (default LOWER_LR_TASKS): LoRA at its MRPC rate, 3e-3, ended 2 of
# 3 STS-B seeds below 20 Pearson (the third: 77) and 1 of 3 CoLA seeds at the
# constant predictor, where the LoRA paper tunes the rate per task.
LOWER_LR_METHODS = ('lora',)
LOWER_LR_TASKS = ('stsb', 'cola')
# Prefix tuning without the reparameterisation MLP, at the rate P-tuning v2
# (Liu et al. 2022) uses for direct prefixes on small sets: a check of
# whether the MLP, not the method, is what fails here.
PREFIX_DIRECT_LR = 1e-2
# The size knob of each sized method.
SIZE_KEYS = {'adapter': 'm', 'lora': 'lora_rank', 'prefix': 'prefix_length'}
# Backbone shapes the formulas need (configs load no weights; the test checks
# these against adapter_bert.backbones).
SHAPES = {
    'minilm-l6': dict(vocab=30522, hidden=384, layers=6, intermediate=1536,
                      positions=512, types=2),
    'tiny': dict(vocab=30522, hidden=32, layers=2, intermediate=64,
                 positions=512, types=2),
}


def _shape(backbone: str) -> dict[str, int]:
  if backbone not in SHAPES:
    raise ValueError(f'Budget sizes are computed for backbones {sorted(SHAPES)}'
                     f', not {backbone!r}; pass budget=0 and set the sizes.')
  return SHAPES[backbone]


def backbone_params(backbone: str) -> int:
  """BERT with pooler: embeddings, L layers of 4d² + 2d·d_ff + 9d + d_ff."""
  s = _shape(backbone)
  d, layers, ff = s['hidden'], s['layers'], s['intermediate']
  embeddings = (s['vocab'] + s['positions'] + s['types']) * d + 2 * d
  return embeddings + layers * (4 * d * d + 2 * d * ff + 9 * d + ff) + d * d + d


def method_params(method: str, backbone: str, size: int = 0) -> int:
  """What `method` at `size` (m, r or P) trains in the backbone (no head)."""
  s = _shape(backbone)
  d, layers, ff = s['hidden'], s['layers'], s['intermediate']
  if method == 'adapter':
    return 2 * layers * (2 * size * d + d + size) + (4 * layers + 2) * d
  if method == 'lora':
    return 4 * layers * d * size
  if method == 'ia3':
    return layers * (2 * d + ff)
  if method == 'prefix':
    return 2 * layers * size * d
  if method == 'bitfit':
    return layers * (7 * d + ff) + 2 * d
  raise ValueError(f'Unknown method {method!r}; valid: {METHODS}')


def budget_sizes(fraction: float, backbone: str) -> dict[str, dict[str, int]]:
  """Per method, its size keys at the size nearest fraction·backbone (>= 1)."""
  target = fraction * backbone_params(backbone)
  sizes = {}
  for method in METHODS:
    if method not in SIZE_KEYS:
      sizes[method] = {}
      continue
    unit = method_params(method, backbone, 1) - method_params(method, backbone,
                                                              0)
    fixed = method_params(method, backbone, 0)
    near = max(1, round((target - fixed) / unit))
    best = min((n for n in (near - 1, near, near + 1) if n >= 1),
               key=lambda n: abs(method_params(method, backbone, n) - target))
    sizes[method] = {SIZE_KEYS[method]: best}
  return sizes


def benchmark_flags(backbone: str = 'minilm-l6') -> list[str]:
  """experiments.benchmark's flags timing every method at its BUDGET size."""
  sizes = budget_sizes(BUDGET, backbone)
  others = [f'{k}={v}' for method in ('lora', 'prefix')
            for k, v in sizes[method].items()] + ['prefix_mlp=true']
  return [f'--methods={",".join(METHODS)}', f'--m={sizes["adapter"]["m"]}',
          f'--set={",".join(others)}']


def _parse(arg: str | None):
  return common.parse_arg(
      arg, task='mrpc', method='adapter', backbone='minilm-l6', lr=-1.0,
      epochs=glue.CPU_EPOCHS, seed=0, budget=100 * BUDGET, prefix_mlp=True,
      sweep='lr_grid', tasks='', seeds=0, selected='', methods='',
      **{f'lr_{m}': -1.0 for m in METHODS})


def _method_keys(method: str, arg) -> dict[str, object]:
  """The config keys of `method` at the budget of `arg` (percent)."""
  keys = dict(sweeps.method_keys(method))
  if arg.budget > 0:
    keys.update(budget_sizes(arg.budget / 100, arg.backbone)[method])
  if method == 'prefix':
    keys['prefix_mlp'] = arg.prefix_mlp
  return keys


def get_config(arg: str | None = None):
  """One run: `method` at `budget` percent of the backbone (0 = base sizes)."""
  arg = _parse(arg)
  if arg.method not in METHODS:
    raise ValueError(f'configs/peft.py compares {METHODS}, not '
                     f'method={arg.method!r}.')
  config = glue.get_config(f'task={arg.task},method={arg.method},'
                           f'backbone={arg.backbone},lr={arg.lr},'
                           f'epochs={arg.epochs},seed={arg.seed}')
  for key, value in _method_keys(arg.method, arg).items():
    config[key] = value
  return config


def _read_selected_lrs(path: str) -> dict[str, float]:
  """Method -> lr from the `lr` entry of experiments.peft_study's output."""
  try:
    with open(path) as f:
      lrs = json.load(f).get('lr')
  except (OSError, ValueError, AttributeError) as e:
    raise ValueError(f'selected={path}: cannot read the selected learning '
                     f'rates ({e}).') from None
  if not isinstance(lrs, dict):
    raise ValueError(f'selected={path}: no "lr" object of method -> rate '
                     '(python -m experiments.peft_study writes it).')
  return lrs


def _selected_lrs(arg, methods) -> dict[str, float]:
  """lr_<method> where given, else the method's rate in `selected`."""
  lrs = {m: getattr(arg, f'lr_{m}') for m in methods}
  if arg.selected:
    chosen = _read_selected_lrs(arg.selected)
    lrs = {m: lr if lr > 0 else float(chosen.get(m, -1.0))
           for m, lr in lrs.items()}
  missing = [f'lr_{m}' for m, lr in lrs.items() if lr <= 0]
  if missing:
    raise ValueError(f'sweep={arg.sweep} runs each method at the learning rate '
                     f'it selected in sweep=lr_grid; pass {",".join(missing)} '
                     'or selected=<peft_study selected.json> (which leaves a '
                     'method out until its lr grid has finished).')
  return lrs


def _runs(add, arg, tasks, seeds: int, points) -> None:
  for task in tasks:
    for seed in range(arg.seed, arg.seed + seeds):
      for method, lr in points:
        add(task=task, seed=seed, lr=lr, epochs=arg.epochs,
            **_method_keys(method, arg))


def _tasks(arg, default: tuple[str, ...]) -> tuple[str, ...]:
  if not arg.tasks:
    return default
  return tuple(sweeps.resolve_tasks(arg.tasks, '', glue.TASK_GROUPS,
                                    glue.TASKS))


def _lr_grid_runs(add, arg) -> None:
  """Every method at each of its LRS, seed 0, on `task` (MRPC)."""
  points = [(m, lr) for m in METHODS for lr in LRS[m]]
  _runs(add, arg, _tasks(arg, (arg.task,)), arg.seeds or 1, points)


def _seed_runs(add, arg) -> None:
  """Every method at its selected lr, 3 seeds, on SEED_TASKS (1% budget)."""
  points = list(_selected_lrs(arg, METHODS).items())
  _runs(add, arg, _tasks(arg, SEED_TASKS), arg.seeds or 3, points)


def _budget_0p1_runs(add, arg) -> None:
  """The sized methods at the ~0.1% budget, 3 seeds, on MRPC."""
  methods = tuple(SIZE_KEYS)
  points = list(_selected_lrs(arg, methods).items())
  arg.budget = 100 * SMALL_BUDGET
  _runs(add, arg, _tasks(arg, ('mrpc',)), arg.seeds or 3, points)


def lower_grid_lr(method: str, lr: float) -> float | None:
  """The largest rate of the method's grid (LRS) below `lr`, else None."""
  below = [x for x in LRS[method] if x < lr and not math.isclose(x, lr)]
  return max(below) if below else None


def _lower_lr_runs(add, arg) -> None:
  """Seeds at the grid rate below each chosen method's selected one, on
  tasks other than the one the rate was selected on (1% budget)."""
  methods = tuple(arg.methods.split('+')) if arg.methods else LOWER_LR_METHODS
  unknown = [m for m in methods if m not in METHODS]
  if unknown:
    raise ValueError(f'sweep=lower_lr: methods={arg.methods!r} names '
                     f'{unknown}, not among {METHODS} (join with +).')
  points = [(m, lower_grid_lr(m, lr))
            for m, lr in _selected_lrs(arg, methods).items()]
  _runs(add, arg, _tasks(arg, LOWER_LR_TASKS), arg.seeds or 3,
        [(m, lr) for m, lr in points if lr])


def edge_check_lr(method: str, lr: float) -> float | None:
  """The lr one step past the end of LRS where `lr` sits on it, else None."""
  lrs = sorted(LRS[method])
  below, above = CHECK_LRS[method]
  if math.isclose(lr, lrs[-1]):
    return above
  if math.isclose(lr, lrs[0]):
    return below
  return None


def _check_runs(add, arg) -> None:
  """Seed 0 on MRPC (1% budget), beside the grid and never selected from:
  one lr past the grid's end for each method selected at an end, and prefix
  tuning without its MLP at PREFIX_DIRECT_LR."""
  lrs = _selected_lrs(arg, METHODS)
  points = [(m, edge_check_lr(m, lr)) for m, lr in lrs.items()]
  _runs(add, arg, (arg.task,), 1, [(m, lr) for m, lr in points if lr])
  arg.prefix_mlp = False
  _runs(add, arg, (arg.task,), 1, [('prefix', PREFIX_DIRECT_LR)])


_SWEEPS = {'lr_grid': _lr_grid_runs, 'checks': _check_runs,
           'seeds': _seed_runs, 'budget_0p1': _budget_0p1_runs,
           'lower_lr': _lower_lr_runs}


def sweep(add, arg: str | None = None):
  """Calls `add(**overrides)` once per run of the sweep named by `sweep=`."""
  arg = _parse(arg)
  if arg.sweep not in _SWEEPS:
    raise ValueError(f'Unknown sweep {arg.sweep!r}; valid sweeps: {SWEEPS}')
  if arg.seeds < 0:
    raise ValueError(f'seeds={arg.seeds} must be at least 1 (0 = default).')
  _SWEEPS[arg.sweep](add, arg)
