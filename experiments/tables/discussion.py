"""A hand-written discussion, kept honest against the generated report.

Why a claim fails here is argued by a person from the runs, but the numbers
such prose quotes go stale as runs land. So every decimal number in the
discussion must appear somewhere in the generated report; the ones that no
longer do are listed above the text as stale instead of passing as current.
"""

from __future__ import annotations

import os
import re

# Decimals such as 86.9, -1.2 or +0.4 (signs ignored: "−1.2" is "1.2").
_NUMBER = re.compile(r'(?<![\w.])[-+−]?(\d+\.\d+)(?![\w.]*\d)')
HEADING = '## Why the claims that fail here fail (written by hand)'


def numbers(text: str) -> list[str]:
  """The unsigned decimals of `text`, in order of first appearance."""
  return list(dict.fromkeys(_NUMBER.findall(text)))


def stale_numbers(discussion: str, report: str) -> list[str]:
  """The discussion's decimals that the report no longer contains."""
  current = set(numbers(report))
  return [n for n in numbers(discussion) if n not in current]


def section(path: str, report: str) -> list[str]:
  """Report lines for the discussion at `path` ([] if there is none)."""
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    text = f.read().strip()
  lines = [HEADING, '',
           f'From `{os.path.basename(path)}` beside this report. Every number '
           'in it is checked against the tables above when the report is '
           'generated.', '']
  stale = stale_numbers(text, report)
  if stale:
    lines += [f'**Stale:** {", ".join(stale)} no longer appear in the tables '
              'above; the text below predates the runs that changed them.', '']
  return lines + [text, '']
