"""The README's commands and API snippet stay true."""

import os
import re

import numpy as np

from tests.conftest import REPO


def _readme():
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    return f.read()


def test_ci_runs_the_readme_test_command_verbatim():
  commands = re.findall(r'```sh\n(python3 -m venv[^\n]*)\n```', _readme())
  assert len(commands) == 2, 'README must give exactly two set-up commands'
  test_command = commands[1]
  assert 'pytest' in test_command
  with open(os.path.join(REPO, '.ci', 'run')) as f:
    assert test_command in f.read().splitlines()


def test_python_api_snippet_runs(capsys):
  section = _readme().split('## Python API', 1)[1]
  snippet = re.search(r'```python\n(.*?)```', section, re.S).group(1)
  namespace = {}
  exec(compile(snippet, 'README.md', 'exec'), namespace)  # pylint: disable=exec-used
  assert namespace['logits'].shape == (1, 2)
  assert np.isfinite(np.asarray(namespace['logits'])).all()
  assert '(1, 2)' in capsys.readouterr().out


def test_glue_results_table_numbers_are_in_the_committed_report():
  """The README's GLUE table copies the generated report; stale copies fail."""
  from experiments.tables import discussion  # pylint: disable=g-import-not-at-top
  section = _readme().split('### The GLUE study on minilm-l6', 1)[1]
  section = section.split('\n### ', 1)[0]
  ours = [line for line in section.splitlines()
          if line.startswith('| ') and not line.startswith('| *Paper')]
  assert len(ours) >= 6, 'the README lost its GLUE results table'
  with open(os.path.join(REPO, 'experiments', 'results', 'glue_minilm',
                         'report.md'), encoding='utf-8') as f:
    report = f.read()
  stale = discussion.stale_numbers('\n'.join(ours), report)
  assert not stale, f'README GLUE table numbers not in report.md: {stale}'


# A README block whose decimals are copied from a generated report: the report
# is named in the opening comment, which renders as nothing.
_REPORT_BLOCK = re.compile(
    r'<!-- numbers from (\S+) -->\n(.*?)<!-- end numbers -->', re.S)


def test_readme_result_blocks_quote_only_their_committed_reports():
  """Prose that quotes a study's numbers goes stale as runs land; it fails."""
  from experiments.tables import discussion  # pylint: disable=g-import-not-at-top
  blocks = _REPORT_BLOCK.findall(_readme())
  assert {path for path, _ in blocks} >= {
      'experiments/results/extra_minilm/report.md',
      'experiments/results/peft_minilm/report.md',
  }, "a study's results left their checked README block"
  for path, text in blocks:
    assert discussion.numbers(text), f'README block for {path} quotes nothing'
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
      stale = discussion.stale_numbers(text, f.read())
    assert not stale, f'README numbers not in {path}: {stale}'
