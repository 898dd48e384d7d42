"""Pieces the sweep declarations of configs/glue.py and configs/extra.py share."""

from __future__ import annotations

from typing import Any, Sequence

from configs import backbones

# Variable fine-tuning (paper §3.3): train the top n layers, the pooler above
# them and the head.
VARIABLE_FT_LAYERS = (1, 2, 3, 5, 7, 9, 11, 12)


def top_k_grid(backbone: str) -> tuple[int, ...]:
  """The paper's n values that the backbone has layers for (minilm-l6: 1-5)."""
  depth = backbones.num_layers(backbone)
  return tuple(n for n in VARIABLE_FT_LAYERS if n <= depth)


def method_keys(method: str, placement: str = 'houlsby') -> dict[str, object]:
  """Keys one method needs; non-adapter methods carry no adapters, as get_config."""
  return dict(method=method,
              placement=placement if method == 'adapter' else 'none')


def grid(method: str, lrs: Sequence[float], epochs: Sequence[float],
         placement: str = 'houlsby', **sizes: Sequence[int]
         ) -> list[dict[str, object]]:
  """Every point of `method` over its sizes x lrs x epochs, in that order.

  `sizes` names at most one size key and its values (m=(8, 64, 256) or
  top_k=(1, 3)); without it the method has one size.
  """
  if len(sizes) > 1:
    raise ValueError(f'One size key per grid, not {sorted(sizes)}.')
  key, values = next(iter(sizes.items()), (None, (None,)))
  base = method_keys(method, placement)
  return [dict(base, **({key: v} if key else {}), lr=lr, epochs=ep)
          for v in values for lr in lrs for ep in epochs]


def paper_grids(adapter_ms: Sequence[int], lrs: Sequence[float],
                epochs: Sequence[float], finetune_lrs: Sequence[float],
                finetune_epochs: Sequence[float]) -> dict[str, Any]:
  """The grids every task family declares alike, by sweep name.

  'paper': adapters over m x lr x epochs; 'fixed_m': the same at m=64;
  'finetune': full fine-tuning over its own lrs x epochs. Each value maps the
  parsed argument (for its placement) to the grid's points.
  """
  return {
      'paper': lambda arg: grid('adapter', lrs, epochs, arg.placement,
                                m=adapter_ms),
      'fixed_m': lambda arg: grid('adapter', lrs, epochs, arg.placement,
                                  m=(64,)),
      'finetune': lambda arg: grid('full', finetune_lrs, finetune_epochs),
  }


def cpu_grid(placement: str, adapter_ms: Sequence[int], adapter_lr: float,
             full_lr: float, epochs: float) -> list[dict[str, object]]:
  """The CPU grids: adapters at each m, then full fine-tuning, one lr each."""
  return (grid('adapter', (adapter_lr,), (epochs,), placement, m=adapter_ms)
          + grid('full', (full_lr,), (epochs,)))


def sized_point(method: str, size: int | None, lr: float, epochs: float,
                placement: str = 'houlsby') -> dict[str, object]:
  """The keys of one grid point; size is m (adapter) or k (top_k)."""
  point = dict(method_keys(method, placement), lr=lr, epochs=epochs)
  if method == 'adapter':
    point['m'] = size
  elif method == 'top_k':
    point['top_k'] = size
  return point


def resolve_tasks(tasks: str, task: str, groups: dict[str, Sequence[str]],
                  valid: Sequence[str]) -> tuple[str, ...]:
  """`tasks` = '' (just `task`), a group name, or names joined by '+'."""
  if not tasks:
    names = (task,)
  elif tasks in groups:
    names = tuple(groups[tasks])
  else:
    names = tuple(t for t in tasks.split('+') if t)
  unknown = [t for t in names if t not in valid]
  if unknown or not names:
    raise ValueError(f'Unknown task(s) {unknown} in tasks={tasks!r}; use a group '
                     f'{sorted(groups)} or names from {tuple(valid)} joined by +.')
  if len(set(names)) != len(names):
    raise ValueError(f'tasks={tasks!r} names a task twice.')
  return names


def seed_range(arg) -> range:
  """The seeds a sweep runs at each point: `seeds` of them from `seed` up."""
  if arg.seeds < 1:
    raise ValueError(f'seeds={arg.seeds} must be at least 1.')
  return range(arg.seed, arg.seed + arg.seeds)


def checked_tasks(arg, valid_sweeps: Sequence[str],
                  groups: dict[str, Sequence[str]],
                  names: Sequence[str]) -> list[str]:
  """Validates `sweep=` and `seeds=` of a sweep argument; returns its tasks."""
  if arg.sweep not in valid_sweeps:
    raise ValueError(f'Unknown sweep {arg.sweep!r}; valid sweeps: '
                     f'{tuple(valid_sweeps)}')
  seed_range(arg)
  return list(resolve_tasks(arg.tasks, arg.task, groups, names))
