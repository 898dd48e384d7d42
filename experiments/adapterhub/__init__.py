"""The AdapterHub (PyTorch) peer: its venv, its training step, its GLUE runner.

peer_step.py and peer_glue.py run as plain scripts inside the peer's own venv
(requirements.txt; built by peer_env.py), so they import neither adapter_bert
nor absl; peer_env.py runs in the project's venv and starts them.
"""
