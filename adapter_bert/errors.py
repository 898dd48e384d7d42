"""UserError: a mistake in what the user gave (config, data, workdir).

Entry points print such an error as one line and exit 2; any other exception
is a bug and keeps its traceback. It subclasses ValueError, so callers that
catch ValueError for bad input keep working.
"""

import contextlib
import sys
from collections.abc import Iterator


class UserError(ValueError):
  """Bad user input; the message names the key, file or directory to fix."""


# What an entry point reports in one line: the user's input must change.
USER_ERRORS = (UserError, FileNotFoundError)


def exit_with_message(message: str) -> None:
  """Ends an entry point on a user error: one line on stderr, status 2."""
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
  """For entry points: USER_ERRORS end the program in one line, status 2.

  Any other exception propagates with its traceback.
  """
  try:
    yield
  except USER_ERRORS as e:
    exit_with_message(str(e))
