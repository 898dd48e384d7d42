"""What both peer scripts write with, importable in the peer venv as a sibling.

The peer venv has no adapter_bert, so this is the peer's own atomic write.
"""

import json
import os


def write_json(path, value):
  """Atomic JSON write: a temporary file beside `path`, then a rename.

  Creates `path`'s folder: the pipeline's peer stage writes the first result
  of a study into a folder nothing has made yet.
  """
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)
