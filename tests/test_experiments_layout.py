"""experiments/ holds thin entry points: none imports another entry point.

What two entry points share lives in a module without `main` (tables/,
method_step, artifact_eval, cli, ...), so each entry point can change alone.
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(REPO, 'experiments')
# Scripts run by the peer venv's python, which has neither of these.
PEER_SCRIPTS = ('peer_step.py', 'peer_glue.py', 'peer_io.py')
PEER_FORBIDDEN = ('absl', 'adapter_bert', 'configs', 'experiments')


def _modules(root: str) -> dict[str, str]:
  """Dotted module name -> path, for every .py under `root` (a package)."""
  base = os.path.dirname(root)
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      if name.endswith('.py') and name != '__init__.py':
        path = os.path.join(folder, name)
        found[os.path.relpath(path, base)[:-3].replace(os.sep, '.')] = path
  return found


def _is_entry_point(tree: ast.Module) -> bool:
  """A module-level `main`, or a call of `app.run` anywhere."""
  if any(isinstance(n, ast.FunctionDef) and n.name == 'main'
         for n in tree.body):
    return True
  return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == 'run' and isinstance(n.func.value, ast.Name)
             and n.func.value.id == 'app' for n in ast.walk(tree))


def _imports(tree: ast.Module, module: str, known: set[str]) -> set[str]:
  """The modules of `known` that `module` imports, at any depth of the file.

  A bare `import x` also resolves to a sibling file: the peer scripts import
  each other that way, as plain files run from their folder.
  """
  package = module.rsplit('.', 1)[0]
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        names |= {alias.name, f'{package}.{alias.name}'}
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names.add(node.module)
      names |= {f'{node.module}.{alias.name}' for alias in node.names}
  return (names & known) - {module}


def violations(root: str) -> list[str]:
  """'a imports b' for every entry point a importing an entry point b."""
  modules = _modules(root)
  trees = {m: ast.parse(open(p, encoding='utf-8').read(), p)
           for m, p in modules.items()}
  entries = {m for m, t in trees.items() if _is_entry_point(t)}
  return sorted(f'{m} imports {other}' for m in sorted(entries)
                for other in _imports(trees[m], m, entries))


def test_no_entry_point_imports_another():
  assert violations(EXPERIMENTS) == []


def test_the_check_sees_entry_points_and_their_imports(tmp_path):
  root = tmp_path / 'experiments'
  (root / 'sub').mkdir(parents=True)
  (root / 'shared.py').write_text('X = 1\n')
  (root / 'one.py').write_text(
      'from absl import app\nfrom experiments import shared\n'
      'def main(argv):\n  del argv\n')
  (root / 'two.py').write_text(
      'from experiments import one\nif __name__ == "__main__":\n'
      '  app.run(lambda argv: None)\n')
  (root / 'sub' / 'script.py').write_text(
      'def main():\n  import helper\n')
  (root / 'sub' / 'helper.py').write_text('def main():\n  pass\n')
  assert violations(str(root)) == [
      'experiments.sub.script imports experiments.sub.helper',
      'experiments.two imports experiments.one']


def test_known_entry_points_are_recognised():
  modules = _modules(EXPERIMENTS)
  entries = {m for m, p in modules.items()
             if _is_entry_point(ast.parse(open(p, encoding='utf-8').read()))}
  assert {'experiments.benchmark', 'experiments.report',
          'experiments.profile_step', 'experiments.glue_study',
          'experiments.adapterhub.peer_glue'} <= entries
  assert not any(m.startswith('experiments.tables.') for m in entries)
  assert 'experiments.method_step' not in entries


@pytest.mark.parametrize('name', PEER_SCRIPTS)
def test_peer_scripts_need_nothing_of_the_project(name):
  path = os.path.join(EXPERIMENTS, 'adapterhub', name)
  tree = ast.parse(open(path, encoding='utf-8').read(), path)
  imported = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      imported |= {a.name.split('.')[0] for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module:
      imported.add(node.module.split('.')[0])
  assert not imported & set(PEER_FORBIDDEN), imported
