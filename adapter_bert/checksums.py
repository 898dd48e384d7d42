"""sha256 checksums of files and directory trees, to tell intact from damaged.

A truncated, partly deleted or bit-flipped checkpoint or artifact must be
refused by name, not read as weights (a flipped exponent bit looks like a
diverged run). Writers record the checksums once their files are complete;
readers verify before they decode.
"""

from __future__ import annotations

import hashlib
import json
import os

from adapter_bert import atomic

# The manifest of a directory tree, written inside it.
MANIFEST = 'checksums.json'


def sha256_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _tree_files(directory: str) -> list[str]:
  """Files under `directory` (relative, sorted), the manifest excluded."""
  found = []
  for root, _, files in os.walk(directory):
    for name in files:
      rel = os.path.relpath(os.path.join(root, name), directory)
      if rel != MANIFEST:
        found.append(rel)
  return sorted(found)


def write_manifest(directory: str) -> None:
  """Records size and sha256 of every file under `directory`, atomically."""
  files = {rel: dict(size=os.path.getsize(os.path.join(directory, rel)),
                     sha256=sha256_file(os.path.join(directory, rel)))
           for rel in _tree_files(directory)}
  with atomic.atomic_open(os.path.join(directory, MANIFEST), 'w') as f:
    json.dump(dict(files=files), f, indent=1, sort_keys=True)


def has_manifest(directory: str) -> bool:
  return os.path.exists(os.path.join(directory, MANIFEST))


def verify_manifest(directory: str) -> str | None:
  """None if `directory` matches its manifest, else what is wrong (one line).

  Files added since the manifest are not an error (readers ignore them); a
  missing, resized or changed file is, and so is an unreadable manifest.
  """
  manifest_path = os.path.join(directory, MANIFEST)
  try:
    with open(manifest_path) as f:
      files = json.load(f)['files']
  except (OSError, ValueError, KeyError, TypeError) as e:
    return f'{manifest_path} is unreadable ({type(e).__name__})'
  for rel, expected in sorted(files.items()):
    path = os.path.join(directory, rel)
    if not os.path.exists(path):
      return f'{path} is missing'
    size = os.path.getsize(path)
    if size != expected['size']:
      return f'{path} has {size} bytes, {expected["size"]} when written'
    if sha256_file(path) != expected['sha256']:
      return f'{path} has changed since written (sha256 mismatch)'
  return None
