"""Whole-file writes for the entry points, each atomic."""

from __future__ import annotations

import json
import shutil
from typing import Any

from adapter_bert import atomic


def write_text(path: str, text: str) -> None:
  with atomic.atomic_open(path, 'w', encoding='utf-8') as f:
    f.write(text)


def write_json(path: str, obj: Any) -> None:
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + '\n')


def copy_file(src: str, dst: str) -> None:
  with atomic.atomic_path(dst) as tmp:
    shutil.copyfile(src, tmp)

