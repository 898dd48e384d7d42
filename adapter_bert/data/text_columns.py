"""Which input columns hold a trained task's texts (for prediction files)."""

from __future__ import annotations

from typing import Any, Mapping

from adapter_bert import errors
from adapter_bert.data import extra
from adapter_bert.data import glue


def text_columns(config: Mapping[str, Any]) -> list[tuple[str, ...]]:
  """Column-name sets a run's task reads its texts from, preferred first.

  GLUE: the TFDS feature names (sentence1, ...), then the GLUE TSV headers;
  extra datasets: the registry's columns; task=csv: its `text_columns`.
  """
  task = config['task']
  if task == 'csv':
    return [tuple(c.strip() for c in config['csv']['text_columns'].split(',')
                  if c.strip())]
  if task.startswith('extra:'):
    return [extra.get_extra_dataset(task[len('extra:'):]).text_columns]
  try:
    table = glue.get_task(task)
  except ValueError:
    raise errors.UserError(f'Task {task!r} has no text columns known here; '
                           'name them (--text_columns).') from None
  return [tuple(table.tfds_text_features), tuple(table.text_columns)]
