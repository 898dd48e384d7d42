"""The AdapterHub peer's venv (built once from requirements.txt); running it.

The venv sits under the project's cache ($ADAPTER_BERT_CACHE/peer-venv), so
every entry point that runs the peer (benchmark, packing_e2e) shares it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from adapter_bert import backbones
from adapter_bert import cache
from adapter_bert import modeling
from experiments import fileio

_HERE = os.path.dirname(os.path.abspath(__file__))
PEER_SCRIPT = os.path.join(_HERE, 'peer_step.py')
GLUE_SCRIPT = os.path.join(_HERE, 'peer_glue.py')
PEER_REQUIREMENTS = os.path.join(_HERE, 'requirements.txt')
PEER_METHODS = ('adapter', 'full')
# Our activation names -> HF `hidden_act` (random-weight peer backbones).
_HF_ACTIVATIONS = {'gelu': 'gelu', 'gelu_tanh': 'gelu_new', 'relu': 'relu',
                   'swish': 'silu', 'tanh': 'tanh'}


class PeerUnavailable(RuntimeError):
  """The peer venv could not be built or the peer script failed."""


def peer_venv_dir() -> str:
  """Where the peer venv lives (reused by every later run)."""
  return os.path.join(cache.cache_root(), 'peer-venv')


def ensure_peer_venv(venv: str | None = None,
                     requirements: str = PEER_REQUIREMENTS) -> str:
  """The peer venv's python; creates the venv and installs the pins once.

  A stamp holding the requirements text marks a finished install, so a later
  call costs nothing and an edited requirements file triggers `pip install`.
  """
  venv = venv or peer_venv_dir()
  python = os.path.join(venv, 'bin', 'python')
  stamp = os.path.join(venv, '.adapter_bert_requirements')
  with open(requirements) as f:
    wanted = f.read()
  if os.path.exists(python) and os.path.exists(stamp):
    with open(stamp) as f:
      if f.read() == wanted:
        return python
  print(f'Building the AdapterHub peer venv at {venv} (once) ...', flush=True)
  try:
    if not os.path.exists(python):
      subprocess.run([sys.executable, '-m', 'venv', venv], check=True,
                     capture_output=True, text=True)
    subprocess.run([python, '-m', 'pip', 'install', '-q', '-r', requirements],
                   check=True, capture_output=True, text=True)
  except (OSError, subprocess.CalledProcessError) as e:
    output = getattr(e, 'stderr', None) or getattr(e, 'stdout', None) or str(e)
    tail = output.strip().splitlines()[-5:]
    raise PeerUnavailable(
        f'could not build the peer venv at {venv} (no network?): '
        f'{" | ".join(tail)}') from e
  fileio.write_text(stamp, wanted)
  return python


def hf_config(config: modeling.BertConfig) -> dict[str, Any]:
  """HF BertConfig keys for our architecture (random-weight peer backbone)."""
  return dict(
      vocab_size=config.vocab_size, hidden_size=config.hidden_size,
      num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
      intermediate_size=config.intermediate_size,
      hidden_act=_HF_ACTIVATIONS[config.hidden_act],
      max_position_embeddings=config.max_position_embeddings,
      type_vocab_size=config.type_vocab_size,
      layer_norm_eps=config.layer_norm_eps,
      initializer_range=config.initializer_range)


def run_peer(settings: Any, backbone: backbones.Backbone,
             timeout_s: float = 3600) -> dict[str, Any]:
  """Runs peer_step.py in the peer venv; its JSON results.

  `settings`: the benchmark's (methods, batch_size, seq_len, steps, m, seed).
  """
  methods = [m for m in settings.methods if m in PEER_METHODS]
  if not methods:
    raise PeerUnavailable(f'the peer times only {PEER_METHODS}.')
  python = ensure_peer_venv()
  if backbone.weights_dir is not None and backbone.weights_format == 'hf':
    source = [f'--model_dir={backbone.weights_dir}']
  else:  # Random weights, or a TF checkpoint the peer cannot read: same shapes.
    source = [f'--random_config={json.dumps(hf_config(backbone.config))}']
  env = {k: v for k, v in os.environ.items()
         if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
  env.update(HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1')
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'peer.json')
    command = [python, PEER_SCRIPT, *source,
               f'--batch_size={settings.batch_size}',
               f'--seq_len={settings.seq_len}', f'--steps={settings.steps}',
               f'--methods={",".join(methods)}', f'--m={settings.m}',
               f'--threads={os.cpu_count()}', f'--seed={settings.seed}',
               f'--out={out}']
    try:
      proc = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
      raise PeerUnavailable(f'the peer ran past {timeout_s} s') from e
    if proc.returncode or not os.path.exists(out):
      tail = proc.stderr.strip().splitlines()[-8:]
      raise PeerUnavailable(f'the peer script failed (exit {proc.returncode}): '
                            + ' | '.join(tail))
    with open(out) as f:
      return json.load(f)
