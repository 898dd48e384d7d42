"""An exclusive lock on a run's workdir, held for the run's lifetime.

Two processes writing one workdir interleave their logs and break each other's
checkpoints, so the second one must stop before it writes anything. The lock
is `<workdir>/.lock`, held with flock(2) (the kernel drops it when its process
dies, even on kill -9) and naming its holder (pid, host, start time) so the
refusal can say who holds it. A lock file left behind by a dead process on
this host is taken over with a message. One naming another host is refused
while that host may still be running: flock does not reach across every
shared file system, so only the user can tell that the run there is gone.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator

from adapter_bert import errors

LOCK_FILE = '.lock'


class WorkdirLocked(errors.UserError):
  """Another live process holds the workdir."""


def _pid_alive(pid) -> bool:
  if not isinstance(pid, int) or pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, owned by another user.
    return True
  return True


def _read_holder(fd: int) -> dict | None:
  os.lseek(fd, 0, os.SEEK_SET)
  text = os.read(fd, 4096).decode('utf-8', 'replace')
  try:
    holder = json.loads(text)
  except ValueError:
    return None
  return holder if isinstance(holder, dict) else None


def describe(holder: dict | None) -> str:
  """Names a lock holder for a message: pid, host and start time."""
  if not holder:
    return 'an unknown process'
  return (f"pid {holder.get('pid')} on host {holder.get('host')} "
          f"since {holder.get('since')}")


def _try_flock(fd: int, mode: int) -> bool:
  """Whether this process got flock `mode` on `fd` (False: another holds it).

  Any other error closes `fd` and is raised.
  """
  try:
    fcntl.flock(fd, mode | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno not in (errno.EAGAIN, errno.EACCES):
      os.close(fd)
      raise
    return False
  return True


def _open_locked(path: str) -> tuple[int, bool]:
  """(fd of `path`, whether this process got the flock on it).

  Retries when the file was replaced between open and flock (its previous
  holder unlinked it on release), so the lock held is always on the file
  that the path names.
  """
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_flock(fd, fcntl.LOCK_EX):
      return fd, False
    try:
      same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
      same = False
    if same:
      return fd, True
    os.close(fd)


def live_holder(workdir: str) -> dict | None:
  """Who is training in `workdir` now: its lock's holder, or None if free.

  For a sweep shared by several processes, which skips a run another one
  holds. The probe takes a shared flock for an instant: two probes never
  refuse each other, and a hold() it refuses raises WorkdirLocked, which the
  sweep treats as the same news (the prober then trains the run itself).
  """
  try:
    fd = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDONLY)
  except FileNotFoundError:
    return None
  if _try_flock(fd, fcntl.LOCK_SH):
    os.close(fd)  # Releases the shared flock.
    return None
  holder = _read_holder(fd)
  os.close(fd)
  return holder or {}


@contextlib.contextmanager
def hold(workdir: str, *, enabled: bool = True,
         say: Callable[[str], None] = print) -> Iterator[None]:
  """Holds `<workdir>/.lock` for the body; raises WorkdirLocked if taken.

  Args:
    workdir: an existing directory.
    enabled: False makes this a no-op (non-chief processes of a multi-host
      run, which write nothing the chief does not).
    say: where the stale-lock takeover message goes.
  """
  if not enabled:
    yield
    return
  path = os.path.join(workdir, LOCK_FILE)
  fd, locked = _open_locked(path)
  try:
    holder = _read_holder(fd)
    host = socket.gethostname()
    if not locked:
      raise WorkdirLocked(
          f'{workdir} is in use by another run ({describe(holder)}; lock '
          f'file {path}). Wait for it to finish, or use another --workdir.')
    if holder and holder.get('pid') != os.getpid():
      if holder.get('host') != host:
        raise WorkdirLocked(
            f'{workdir} is locked by a run on another host '
            f'({describe(holder)}). If that run is gone, delete {path}.')
      # The flock is free, so its holder is gone (a live pid was reused).
      gone = ('no longer running' if not _pid_alive(holder.get('pid'))
              else 'its pid now belongs to another program')
      say(f'Taking over the stale lock of {workdir} ({describe(holder)}; '
          f'{gone}).')
    mine = dict(pid=os.getpid(), host=host,
                since=datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec='seconds'))
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(mine).encode(), 0)
    os.fsync(fd)
    try:
      yield
    finally:
      # Unlink while still holding the flock: a waiter that opened the old
      # file notices (samestat) and retries on a fresh one.
      with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
  finally:
    os.close(fd)
