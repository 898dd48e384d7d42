r"""The paper's 17 extra classification tasks (§3.3, Table 2), and any user CSV.

  python -m experiments.train --config configs/extra.py:name=sms_spam --workdir runs/spam
  python -m experiments.sweep \
      --config configs/extra.py:tasks=all,sweep=table2,backbone=bert-base-uncased \
      --workdir runs/extra
  python -m experiments.train --workdir runs/mine --config \
      configs/extra.py:task=csv,csv_path=my.csv,text_columns=title+body,label_column=y
  python -m experiments.train --workdir runs/mine --config \
      configs/extra.py:task=csv,train_path=train.csv,dev_path=dev.csv,test_path=test.csv

`task=extra:<name>` or `name=<name>` picks a dataset of DATASETS; `task=csv`
trains on your own data: one file `csv_path` (split 80/10/10, or by the values
train / dev / test of its `split_column`), or `train_path`, `dev_path` and
optionally `test_path` used as given; CSV, TSV or JSON lines (`format=auto`
goes by the extension). Text columns are joined by '+', since ',' separates
config arguments. Sweep-only keys, ignored by get_config: `sweep` (SWEEPS),
`tasks` (`all` or names joined by '+', bare or `extra:`-prefixed), `seeds`,
`selected` (sweep=table2_seeds: the selected.json to read). The minilm-l6
Table 2 study on CPU (a CPU grid, not the paper's; experiments/extra_study.py),
all of it: `python -m experiments.study_pipeline --study=extra`; its first
stage is
  python -m experiments.sweep --config configs/extra.py:sweep=table2_cpu \
      --workdir runs/extra_minilm --config.packing=True \
      --results_dir experiments/results/extra_minilm/runs
then, after experiments.extra_study has written selected.json, the same with
sweep=table2_seeds.
"""

from __future__ import annotations

import os

from configs import common
from configs import sweeps

# name: (training examples, classes) of the paper's ~80% split (its Table 3).
DATASETS = {
    '20_newsgroups': (15076, 20),
    'crowdflower_airline': (11712, 3),
    'corporate_messaging': (2494, 4),
    'disasters': (8688, 2),
    'economic_news': (6392, 2),
    'emotion': (32000, 13),
    'global_warming': (3380, 2),
    'political_audience': (4000, 2),
    'political_bias': (4000, 2),
    'political_message': (4000, 9),
    'primary_emotions': (2019, 18),
    'progressive_opinion': (927, 3),
    'progressive_stance': (927, 4),
    'us_economic_performance': (3961, 2),
    'customer_complaints': (146667, 157),
    'news_aggregator': (338349, 4),
    'sms_spam': (4459, 2),
}
TASKS = tuple(f'extra:{name}' for name in DATASETS) + ('csv',)
SWEEPS = ('paper', 'finetune', 'top_k', 'table2', 'cpu', 'table2_cpu',
          'table2_seeds', 'table2_budget')

# The paper's grid for these tasks (§3.3), shared by every method.
PAPER_LRS = (1e-5, 3e-5, 1e-4, 3e-3)
PAPER_MS = (2, 4, 8, 16, 32, 64)
PAPER_EPOCH_CHOICES = (20.0, 50.0, 100.0)
# name: (fine-tuning epochs, adapter epochs), the paper's Table 4: it chose
# each from PAPER_EPOCH_CHOICES per dataset and method by hand, from the dev
# learning curves. Variable fine-tuning takes fine-tuning's (Table 4 gives it
# none), the other parameter-efficient methods adapters'.
PAPER_EPOCHS = {
    '20_newsgroups': (50, 50),
    'crowdflower_airline': (50, 20),
    'corporate_messaging': (100, 50),
    'disasters': (50, 50),
    'economic_news': (20, 20),
    'emotion': (20, 20),
    'global_warming': (100, 50),
    'political_audience': (50, 20),
    'political_bias': (50, 50),
    'political_message': (50, 50),
    'primary_emotions': (100, 100),
    'progressive_opinion': (100, 100),
    'progressive_stance': (100, 100),
    'us_economic_performance': (100, 20),
    'customer_complaints': (20, 20),
    'news_aggregator': (20, 20),
    'sms_spam': (50, 20),
}
FINETUNE_METHODS = ('full', 'top_k')  # Table 4's fine-tuning column.
CSV_EPOCHS = 20.0          # A user CSV: the smallest of the paper's choices.
CPU_ADAPTER_MS = (8, 64)
CPU_ADAPTER_LR = 1e-3
CPU_FULL_LR = 5e-5
CPU_EPOCHS = 5.0

# The minilm-l6 Table 2 study on CPU (sweep=table2_cpu): a CPU grid, NOT the
# paper's (its 20-100 epochs on BERT-base need a TPU). The datasets present in
# the shared data, smallest first, with the training examples of our split
# (tests/test_configs.py checks them against the loaded data); they set the
# epochs, the same for every method: 5 below 5k examples, 3 at or above
# (but see TABLE2_CPU_EPOCH_OVERRIDES).
TABLE2_CPU_TRAIN_SIZES = {
    'progressive_stance': 925,
    'progressive_opinion': 926,
    'primary_emotions': 2023,
    'corporate_messaging': 2496,
    'global_warming': 3380,
    'us_economic_performance': 4011,
    'disasters': 8699,
    '20_newsgroups': 10182,
}
TABLE2_CPU_LARGE = 5000
TABLE2_CPU_EPOCHS = {'small': 5.0, 'large': 3.0}
# Except 20 newsgroups: its posts fill the 128-token rows (mean 125.7 tokens
# against 22-67 for the others; experiments/results/extra_minilm/
# token_accounting.json), so 3 epochs would compute 3.9M tokens per run, 2.5x
# the largest other run (us_economic_performance, 5 epochs: 1.57M), and cost
# about 10 CPU hours (the whole study, with this cut, about 18: 15 of training,
# 3 of start-up and evaluation). One epoch (1.30M tokens, 318 steps) keeps it
# within the others' range.
TABLE2_CPU_EPOCH_OVERRIDES = {'20_newsgroups': 1.0}
TABLE2_CPU_FULL_LRS = (2e-5, 5e-5)
TABLE2_CPU_TOP_KS = (1, 3)
TABLE2_CPU_TOP_K_LR = 5e-5
TABLE2_CPU_ADAPTER_MS = (8, 64)
TABLE2_CPU_ADAPTER_LRS = (3e-4, 1e-3)
# sweep=table2_seeds: these seeds at each (dataset, method)'s dev-selected
# seed-0 point, read from the JSON file `selected=` (default below, relative
# to the repository) that experiments/extra_study.py writes.
TABLE2_EXTRA_SEEDS = (1, 2)
TABLE2_SELECTED = 'experiments/results/extra_minilm/selected.json'
TABLE2_METHODS = ('full', 'top_k', 'adapter')
# sweep=table2_budget, beside Table 2 and never selected from: is a gap between
# adapters and full fine-tuning our short CPU budget's doing? Each method's
# dev-selected point again with TABLE2_BUDGET_FACTOR times the epochs (the
# paper trained 20-100 epochs; progressive stance: 100 for both), seeds 0-2, on
# TABLE2_BUDGET_TASKS by default: the largest gap of the first complete rows,
# the row where at 5 epochs no method beats the majority class, and the
# second-largest gap (does the first one's explanation carry over?).
TABLE2_BUDGET_FACTOR = 4
TABLE2_BUDGET_TASKS = ('progressive_stance', 'primary_emotions',
                       'progressive_opinion')
TABLE2_BUDGET_METHODS = ('full', 'adapter')
TABLE2_BUDGET_SEEDS = (0, 1, 2)


def paper_epochs(name: str, method: str) -> float:
  """The paper's epochs (Table 4) of dataset `name` for `method`."""
  finetune, adapters = PAPER_EPOCHS[name]
  return float(finetune if method in FINETUNE_METHODS else adapters)


def _parse(arg: str | None):
  return common.parse_arg(
      arg, task='', name='', method='adapter', m=64, backbone='minilm-l6',
      lr=-1.0, epochs=-1.0, seed=0, top_k=0, placement='houlsby', data_dir='',
      csv_path='', train_path='', dev_path='', test_path='', split_column='',
      format='auto', text_columns='text', label_column='label', delimiter=',',
      encoding='utf-8', sweep='paper', tasks='', seeds=1, epoch_grid='paper',
      selected='')


def _task(arg) -> str:
  """`task` or `name=`, normalised to `extra:<name>` / `csv`."""
  if arg.task and arg.name:
    raise ValueError('Give either task= or name=, not both.')
  task = arg.task or (f'extra:{arg.name}' if arg.name else 'extra:sms_spam')
  if task in DATASETS:
    task = f'extra:{task}'
  if task not in TASKS:
    raise ValueError(f'Unknown extra task {task!r}; valid: {TASKS}')
  return task


def default_epochs(task: str, method: str) -> float:
  if task == 'csv':
    return CSV_EPOCHS
  return paper_epochs(task.split(':', 1)[1], method)


def _check_csv_arg(arg) -> None:
  """One way to give the data: csv_path, or train_path + dev_path."""
  split_files = arg.train_path or arg.dev_path or arg.test_path
  if arg.csv_path and split_files:
    raise ValueError('task=csv: give csv_path (one file) or train_path and '
                     'dev_path (and test_path), not both.')
  if not arg.csv_path and not (arg.train_path and arg.dev_path):
    raise ValueError('task=csv needs csv_path=<file>, or train_path=<file> '
                     'and dev_path=<file> (test_path=<file> optional).')
  if arg.split_column and not arg.csv_path:
    raise ValueError('split_column splits the one file csv_path; with '
                     'train_path/dev_path the files are the split.')


def get_config(arg: str | None = None):
  """Paper recipe for one extra task or a CSV; every key can be set from `arg`."""
  base = common.base_config()
  arg = _parse(arg)
  task = _task(arg)
  common.apply_run_args(base, arg)
  if task == 'csv':
    _check_csv_arg(arg)
  base.task = task
  base.data_dir = arg.data_dir
  base.epochs = (arg.epochs if arg.epochs > 0
                 else default_epochs(task, base.method))
  base.csv.path = arg.csv_path
  base.csv.train_path = arg.train_path
  base.csv.dev_path = arg.dev_path
  base.csv.test_path = arg.test_path
  base.csv.split_column = arg.split_column
  base.csv.format = arg.format
  base.csv.text_columns = arg.text_columns.replace('+', ',')
  base.csv.label_column = arg.label_column
  base.csv.delimiter = arg.delimiter
  base.csv.encoding = arg.encoding
  base.packing = True  # As configs/glue.py: packed batches by default.
  return base


def _epochs(arg, task: str, method: str) -> tuple[float, ...]:
  if arg.epochs > 0:
    return (arg.epochs,)
  if arg.epoch_grid == 'all':
    return PAPER_EPOCH_CHOICES
  if arg.epoch_grid != 'paper':
    raise ValueError(f'epoch_grid={arg.epoch_grid!r}: use paper or all.')
  return (default_epochs(task, method),)


def _paper_grid(arg, task: str) -> list[dict[str, object]]:
  return sweeps.grid('adapter', PAPER_LRS, _epochs(arg, task, 'adapter'),
                     arg.placement, m=PAPER_MS)


def _finetune_grid(arg, task: str) -> list[dict[str, object]]:
  return sweeps.grid('full', PAPER_LRS, _epochs(arg, task, 'full'))


def _top_k_grid(arg, task: str) -> list[dict[str, object]]:
  return sweeps.grid('top_k', PAPER_LRS, _epochs(arg, task, 'top_k'),
                     top_k=sweeps.top_k_grid(arg.backbone))


def _table2_grid(arg, task: str) -> list[dict[str, object]]:
  """Every Table 2 column: full, variable fine-tuning, then adapters."""
  return (_finetune_grid(arg, task) + _top_k_grid(arg, task)
          + _paper_grid(arg, task))


def _cpu_grid(arg, task: str) -> list[dict[str, object]]:
  del task  # One budget for every task.
  ep = arg.epochs if arg.epochs > 0 else CPU_EPOCHS
  return sweeps.cpu_grid(arg.placement, CPU_ADAPTER_MS, CPU_ADAPTER_LR,
                         CPU_FULL_LR, ep)


def _grid_runs(add, arg, grid) -> None:
  """Repeats one task's `grid(arg, task)` over the tasks and seeds."""
  groups = {'all': TASKS[:-1]}
  tasks = arg.tasks
  if tasks and tasks not in groups:  # Accept bare dataset names.
    tasks = '+'.join(t if t in TASKS else f'extra:{t}'
                     for t in tasks.split('+') if t)
  tasks = sweeps.resolve_tasks(tasks, _task(arg), groups, TASKS)
  for task in tasks:
    points = grid(arg, task)
    for seed in sweeps.seed_range(arg):
      for point in points:
        add(task=task, seed=seed, **point)


def sweep(add, arg: str | None = None):
  """Calls `add(**overrides)` once per run of the sweep named by `sweep=`."""
  arg = _parse(arg)
  sweeps.seed_range(arg)  # Checks seeds= before any run is added.
  if arg.sweep in _GRIDS:
    _grid_runs(add, arg, _GRIDS[arg.sweep])
  elif arg.sweep in _TABLE2_SWEEPS:
    _TABLE2_SWEEPS[arg.sweep](add, arg)
  else:
    raise ValueError(f'Unknown sweep {arg.sweep!r}; valid sweeps: {SWEEPS}')


def table2_cpu_epochs(name: str) -> float:
  """The CPU budget of a dataset of TABLE2_CPU_TRAIN_SIZES, by its size."""
  if name in TABLE2_CPU_EPOCH_OVERRIDES:
    return TABLE2_CPU_EPOCH_OVERRIDES[name]
  large = TABLE2_CPU_TRAIN_SIZES[name] >= TABLE2_CPU_LARGE
  return TABLE2_CPU_EPOCHS['large' if large else 'small']


def _table2_tasks(arg) -> list[str]:
  """Dataset names of a table2 sweep, smallest first; default or `all`: every
  dataset of TABLE2_CPU_TRAIN_SIZES."""
  if arg.tasks == 'all' or not (arg.tasks or arg.task or arg.name):
    return list(TABLE2_CPU_TRAIN_SIZES)
  names = [t.split(':', 1)[-1] for t in (
      arg.tasks.split('+') if arg.tasks else [_task(arg)]) if t]
  unknown = [n for n in names if n not in TABLE2_CPU_TRAIN_SIZES]
  if unknown:
    raise ValueError(f'sweep={arg.sweep} covers {tuple(TABLE2_CPU_TRAIN_SIZES)}'
                     f' (their sizes set the epochs); not {unknown}.')
  order = list(TABLE2_CPU_TRAIN_SIZES)
  return sorted(set(names), key=order.index)


def _table2_cpu_grid(arg, name: str) -> list[dict[str, object]]:
  """One dataset's seed-0 grid: full FT, variable FT, then adapters."""
  ep = arg.epochs if arg.epochs > 0 else table2_cpu_epochs(name)
  point = lambda method, size, lr: sweeps.sized_point(method, size, lr, ep,
                                                 arg.placement)
  return ([point('full', 0, lr) for lr in TABLE2_CPU_FULL_LRS]
          + [point('top_k', k, TABLE2_CPU_TOP_K_LR) for k in TABLE2_CPU_TOP_KS]
          + [point('adapter', m, lr) for m in TABLE2_CPU_ADAPTER_MS
             for lr in TABLE2_CPU_ADAPTER_LRS])


def table2_cpu_points(name: str) -> list[dict[str, object]]:
  """One dataset's seed-0 grid of sweep=table2_cpu, with default arguments."""
  return _table2_cpu_grid(_parse(f'name={name}'), name)


def read_selected(path: str) -> list[dict[str, object]]:
  """The `selected` entries of a selected.json: task, method, m, top_k, lr,
  epochs of each (dataset, method)'s dev-selected seed-0 configuration."""
  if not os.path.exists(path):
    raise ValueError(
        f'sweep=table2_seeds needs the dev-selected seed-0 points in {path}, '
        'which does not exist: finish sweep=table2_cpu, run python -m '
        'experiments.extra_study, or pass selected=<file>.')
  entries = common.read_json_field(path, 'selected', 'a selected.json')
  for i, entry in enumerate(entries):
    if not isinstance(entry, dict) or entry.get('method') not in TABLE2_METHODS:
      raise ValueError(f'{path}: selected[{i}] has no method of '
                       f'{TABLE2_METHODS}: {entry}.')
    size_key = {'adapter': ('m',), 'top_k': ('top_k',)}.get(entry['method'], ())
    missing = [k for k in ('task', 'lr', 'epochs') + size_key
               if entry.get(k) is None]
    if missing:
      raise ValueError(f'{path}: selected[{i}] lacks {missing}: {entry}.')
  return entries


def _table2_cpu_runs(add, arg) -> None:
  """The minilm-l6 Table 2 study: sweep=table2_cpu (then table2_seeds).

  table2_cpu is a CPU grid, NOT the paper's (which swept lr {1e-5, 3e-5, 1e-4,
  3e-3} x epochs {20, 50, 100} x m {2..64} on BERT-base): full fine-tuning at
  lr 2e-5 and 5e-5, variable fine-tuning of the top 1 or 3 layers at 5e-5,
  adapters m in {8, 64} x lr in {3e-4, 1e-3}, seed 0, 5 epochs below 5k
  training examples and 3 above (20 newsgroups: 1, TABLE2_CPU_EPOCH_OVERRIDES). table2_seeds adds seeds 1 and 2 at each
  (dataset, method)'s dev-selected seed-0 point, read from `selected=`.
  Both go smallest dataset first, one dataset across all methods before the
  next; experiments.study_pipeline runs each dataset's seeds right after its
  grid, so that finished runs form complete rows. Packed batches (the
  default).
  """
  for name in _table2_tasks(arg):
    for seed in sweeps.seed_range(arg):
      for point in _table2_cpu_grid(arg, name):
        add(task=f'extra:{name}', seed=seed, **point)


def _selected_points(arg, names: list[str], methods: tuple[str, ...]
                     ) -> dict[str, list[dict[str, object]]]:
  """name -> its dev-selected entries of `methods` (TABLE2_METHODS' order),
  read from `selected=` (default TABLE2_SELECTED)."""
  path = arg.selected or os.path.join(
      os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      TABLE2_SELECTED)
  entries = read_selected(path)
  points = {}
  for name in names:
    points[name] = sorted(
        (e for e in entries
         if e['task'] == f'extra:{name}' and e['method'] in methods),
        key=lambda e: TABLE2_METHODS.index(e['method']))
    if not points[name] and len(names) < len(TABLE2_CPU_TRAIN_SIZES):
      raise ValueError(f'{path} has no selected point of extra:{name}.')
  return points


def _selected_runs(add, arg, points, seeds, epochs_factor: float = 1) -> None:
  for name, chosen in points.items():
    for seed in seeds:
      for e in chosen:
        size = e.get('top_k') if e['method'] == 'top_k' else e.get('m')
        add(task=f'extra:{name}', seed=seed,
            **sweeps.sized_point(e['method'], size, float(e['lr']),
                                 epochs_factor * float(e['epochs']),
                                 arg.placement))


def _table2_seed_runs(add, arg) -> None:
  """sweep=table2_seeds: the dev-selected points of table2_cpu, seeds 1, 2."""
  points = _selected_points(arg, _table2_tasks(arg), TABLE2_METHODS)
  _selected_runs(add, arg, points, TABLE2_EXTRA_SEEDS)


def _table2_budget_runs(add, arg) -> None:
  """sweep=table2_budget: full FT's and adapters' selected points with
  TABLE2_BUDGET_FACTOR times the epochs, seeds 0-2 (default datasets:
  TABLE2_BUDGET_TASKS)."""
  names = (_table2_tasks(arg) if arg.tasks or arg.task or arg.name
           else list(TABLE2_BUDGET_TASKS))
  points = _selected_points(arg, names, TABLE2_BUDGET_METHODS)
  _selected_runs(add, arg, points, TABLE2_BUDGET_SEEDS, TABLE2_BUDGET_FACTOR)


# Sweeps that repeat one task's grid over tasks and seeds, by name.
_GRIDS = {'paper': _paper_grid, 'finetune': _finetune_grid,
          'top_k': _top_k_grid, 'table2': _table2_grid, 'cpu': _cpu_grid}
# The Table 2 study's sweeps, which choose their datasets themselves.
_TABLE2_SWEEPS = {'table2_cpu': _table2_cpu_runs,
                  'table2_seeds': _table2_seed_runs,
                  'table2_budget': _table2_budget_runs}
