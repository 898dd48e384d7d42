"""UserError: a mistake in what the user gave (config, data, workdir).

Entry points print such an error as one line and exit 2; any other exception
is a bug and keeps its traceback. It subclasses ValueError, so callers that
catch ValueError for bad input keep working.
"""


class UserError(ValueError):
  """Bad user input; the message names the key, file or directory to fix."""
