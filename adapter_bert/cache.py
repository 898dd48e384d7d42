"""Where the project keeps what it can rebuild: tokens, compiled programs.

One root for the library and its tools ($ADAPTER_BERT_CACHE, else
~/.cache/adapter_bert), so that clearing it, or pointing it at a shared disk,
takes one setting.
"""

import os


def cache_root() -> str:
  """$ADAPTER_BERT_CACHE, else ~/.cache/adapter_bert."""
  return os.environ.get('ADAPTER_BERT_CACHE',
                        os.path.expanduser('~/.cache/adapter_bert'))
