"""The command line the report-writing entry points share (report, studies)."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags

from adapter_bert import errors


def define_study_flags() -> None:
  """--runs_dir and --out, both required."""
  flags.DEFINE_string('runs_dir', None, 'Directory of the committed runs.')
  flags.DEFINE_string('out', None, 'Output directory.')
  flags.mark_flags_as_required(['runs_dir', 'out'])


def write_and_list(argv: Sequence[str],
                   write: Callable[..., Mapping[str, str]], *args: Any) -> None:
  """`main`'s body: write(*args), the paths; a ValueError ends in one line."""
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  try:
    paths = write(*args)
  except ValueError as e:  # Bad runs or results: the message names them.
    errors.exit_with_message(str(e))
  for name, path in paths.items():
    print(f'{name}: {path}')
