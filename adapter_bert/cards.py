"""The adapter card: a README.md in each artifact saying what it is and how it did.

Written at the end of a run (the dev metrics exist only then), beside the
weights, in the spirit of AdapterHub's adapter cards: task, labels, backbone,
method, trained parameters, dev and test metrics, the command, the date, the
software versions, and how to load and predict. Its tables are plain
`| key | value |` rows, so `read_card` (and tests) can parse it back.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from typing import Any, Mapping, Sequence

import jax

from adapter_bert import artifact_files
from adapter_bert import atomic
from adapter_bert import errors
from adapter_bert.data import text_columns

CARD_FILE = 'README.md'
# Distributions whose versions decide a run's numbers.
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy',
            'transformers', 'tokenizers', 'scikit-learn')


def software_versions() -> dict[str, str]:
  """Python, the packages above and this repository's git commit, if known."""
  versions = {'python': platform.python_version()}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      pass
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(
        ['git', 'rev-parse', 'HEAD'], cwd=repo, capture_output=True,
        text=True, timeout=10, check=True).stdout.strip()
    dirty = subprocess.run(
        ['git', 'status', '--porcelain', '--untracked-files=no'], cwd=repo,
        capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    versions['adapter-bert commit'] = commit + (' (modified)' if dirty else '')
  except (OSError, subprocess.SubprocessError):
    pass
  return versions


def command_line(argv: Sequence[str]) -> str:
  """argv as a shell command; `experiments/x.py` shown as `-m experiments.x`."""
  argv = list(argv)
  if not argv:
    return ''
  head = argv[0].replace(os.sep, '/')
  if head.endswith('.py') and 'experiments/' in head:
    module = 'experiments.' + os.path.basename(head)[:-3]
    return shlex.join(['python', '-m', module] + argv[1:])
  return shlex.join(['python'] + argv)


def _cell(value: Any) -> str:
  return str(value).replace('|', '\\|').replace('\n', ' ')


def _metric_rows(results: Mapping[str, Any]) -> list[tuple[str, str, float]]:
  rows = [('dev', k, v) for k, v in results.get('dev', {}).items()]
  for split, metrics in (results.get('test') or {}).items():
    rows += [(f'test:{split}', k, v) for k, v in metrics.items()]
  return rows


def render(results: Mapping[str, Any], meta: Mapping[str, Any],
           artifact_dir: str, argv: Sequence[str], date: str,
           versions: Mapping[str, str]) -> str:
  """The card's Markdown."""
  config = results['config']
  labels = meta.get('label_names')
  shape = meta['backbone']['shape']
  placement = config.get('placement', 'none')
  m = config.get('m_per_layer') or config.get('m')
  fields = {
      'task': results['task'],
      'labels': ('regression (one score)' if labels is None
                 else ', '.join(labels)),
      'backbone': meta['backbone']['name'],
      'backbone shape': (f"{shape['num_layers']} layers, hidden "
                         f"{shape['hidden_size']}, {shape['num_heads']} heads"),
      'method': config['method'],
      'm': m if config['method'] == 'adapter' else '-',
      'placement': placement,
      'trained parameters': results['trainable_params'],
      'total parameters': results['total_params'],
      'trained share': results['trainable_share'],
      'steps': results['steps'],
      'seed': results['seed'],
      'date': date,
      'command': command_line(argv),
  }
  if fusion := config.get('fusion_adapters'):
    fields['fused adapters'] = fusion
  lines = [
      f"# Adapter card: {results['task']} on {meta['backbone']['name']}",
      '',
      f"An artifact of adapter-bert (method {config['method']}): the trained "
      f"{100 * results['trainable_share']:.2f}% of the parameters "
      f"({results['trainable_params']:,} of {results['total_params']:,}), "
      'loaded on top of the frozen pretrained backbone. The full training '
      'config is in artifact.json; the run\'s results.json has every number.',
      '',
      '| field | value |',
      '|---|---|',
  ]
  lines += [f'| {k} | {_cell(v)} |' for k, v in fields.items()]
  lines += ['', '## Metrics', '',
            'Final step (the run\'s score; values as in results.json, 0-1 '
            'scale). A test split appears when it is labelled.', '',
            '| split | metric | value |', '|---|---|---|']
  lines += [f'| {s} | {k} | {v!r} |' for s, k, v in _metric_rows(results)]
  if results.get('data', {}).get('summary'):
    lines += ['', '## Data', '', _cell(results['data']['summary'])]
  columns = inference_columns(config)
  texts = ("['first text'], ['second text']" if len(columns) == 2
           else "['a text'], None")
  predicted = ('logits[:, 0]  # The score.' if labels is None else
               '[loaded.label_names[i] for i in logits.argmax(-1)]')
  column_flag = f' --text_columns {",".join(columns)}' if columns else ''
  lines += [
      '', '## Use', '',
      'Predict a CSV, TSV or JSON-lines file (its text column(s): '
      f'{", ".join(columns) if columns else "see --text_columns"}):', '',
      '```sh',
      f'python -m experiments.predict --artifact {artifact_dir} '
      f'--input new.csv --output predictions.csv{column_flag}',
      '```', '', 'In Python:', '', '```python',
      'from adapter_bert import artifacts, backbones, inference',
      f'loaded = artifacts.load({artifact_dir!r})',
      'tokenizer = backbones.load_tokenizer(loaded.backbone)',
      f"arrays = inference.encode(tokenizer, {texts}, "
      f"{config['max_length']})",
      'logits = inference.classifier_outputs(loaded, arrays, batch_size=32)',
      f'print({predicted})',
      '```', '', '## Software', '', '| package | version |', '|---|---|']
  lines += [f'| {k} | {_cell(v)} |' for k, v in versions.items()]
  return '\n'.join(lines) + '\n'


def inference_columns(config: Mapping[str, Any]) -> tuple[str, ...]:
  try:
    return text_columns.text_columns(config)[0]
  except (errors.UserError, KeyError, ValueError):
    return ()


def write_card(artifact_dir: str, results: Mapping[str, Any],
               argv: Sequence[str] | None = None) -> str | None:
  """Writes `artifact_dir/README.md` from a finished run's results.

  Only the chief process writes, and only a finished run with an exported
  artifact gets a card. Returns the card's path, or None.
  """
  if jax.process_index() != 0 or results.get('status') != 'done':
    return None
  meta_path = os.path.join(artifact_dir, artifact_files.META_FILE)
  if not os.path.exists(meta_path):
    return None
  with open(meta_path) as f:
    meta = json.load(f)
  date = datetime.datetime.now(datetime.timezone.utc).strftime(
      '%Y-%m-%d %H:%M UTC')
  text = render(results, meta, artifact_dir,
                sys.argv if argv is None else argv, date, software_versions())
  path = os.path.join(artifact_dir, CARD_FILE)
  with atomic.atomic_open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return path


def read_card(path: str) -> dict[str, Any]:
  """{'fields': {key: text}, 'metrics': {(split, metric): float}} of a card."""
  fields, metrics = {}, {}
  section = ''
  with open(path, encoding='utf-8') as f:
    for line in f:
      line = line.rstrip('\n')
      if line.startswith('## '):
        section = line[3:]
      if not line.startswith('| ') or line.startswith('|---'):
        continue
      cells = [c.strip().replace('\\|', '|') for c in
               line.strip('|').split(' | ')]
      if section == 'Metrics' and len(cells) == 3 and cells[0] != 'split':
        metrics[(cells[0], cells[1])] = float(cells[2])
      elif section == '' and len(cells) == 2 and cells[0] != 'field':
        fields[cells[0]] = cells[1]
      elif section == 'Software' and len(cells) == 2 and cells[0] != 'package':
        fields.setdefault('software', {})[cells[0]] = cells[1]
  return dict(fields=fields, metrics=metrics)
