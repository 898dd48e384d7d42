"""Atomic file writes: a crash or a concurrent reader never sees half a file."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb', **kwargs) -> Iterator[IO]:
  """Opens a temporary file beside `path`; renames it to `path` on success.

  Args:
    path: final file path; its directory is created if needed.
    mode: 'w' (text) or 'wb' (binary).
    **kwargs: passed to `os.fdopen` (e.g. encoding, newline).
  """
  if mode not in ('w', 'wb'):
    raise ValueError(f'mode must be "w" or "wb", got {mode!r}.')
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.tmp-',
                                  suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, mode, **kwargs) as f:
      yield f
    os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; match a normal file.
    os.replace(tmp_path, path)
  except BaseException:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)
    raise
