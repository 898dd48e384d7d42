"""Atomic file writes: a crash or a concurrent reader never sees half a file.

The one way the project writes a file that others read (results, artifacts,
caches, reports, plots): write a temporary file beside the target, then
rename it onto the target, which readers see all at once.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
  """Yields a temporary path beside `path`; moves it onto `path` on success.

  For writers that take a path (matplotlib's savefig, shutil.copyfile). The
  temporary name ends like `path`, so a writer that picks the format from the
  extension picks the same one. Its directory is created if needed.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.tmp-',
                                  suffix=os.path.basename(path))
  os.close(fd)
  try:
    yield tmp_path
    os.chmod(tmp_path, 0o644)  # mkstemp creates 0600; match a normal file.
    os.replace(tmp_path, path)
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


@contextlib.contextmanager
def atomic_open(path: str, mode: str = 'wb', **kwargs) -> Iterator[IO]:
  """Opens a temporary file beside `path`; renames it to `path` on success.

  Args:
    path: final file path; its directory is created if needed.
    mode: 'w' (text) or 'wb' (binary).
    **kwargs: passed to `open` (e.g. encoding, newline).
  """
  if mode not in ('w', 'wb'):
    raise ValueError(f'mode must be "w" or "wb", got {mode!r}.')
  with atomic_path(path) as tmp_path:
    with open(tmp_path, mode, **kwargs) as f:
      yield f
