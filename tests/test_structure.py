"""The package's shape, checked by walking its source (nothing is imported):

* no module over ``MAX_LINES`` lines, except those named with a reason in ``LONG_OK``;
* no import cycle between subpackages (lazy, function-level imports count too);
* nothing under ``tests/`` imports another test file (shared helpers live in
  ``mmdet3d_pointdistiller.testing``);
* every ``tools/*.py`` is a thin command line (at most ``MAX_TOOL_LINES`` lines), and no test
  loads a file by path;
* imports are at module top: an import inside a function (package modules and tools) carries a
  ``# lazy: <reason>`` comment on its line or on the line directly above, naming why it cannot
  be at the top (an optional dependency, an import cycle, a measured import cost, an import
  that must come after some other step).
"""
from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path
from typing import Dict, List, Optional, Set

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / 'mmdet3d_pointdistiller'
TESTS = REPO / 'tests'
MAX_LINES = 500
# a tool's length, docstring with its commands included (issue 23: about 100 lines)
MAX_TOOL_LINES = 125
# the comment that gives a function-level import its reason
LAZY = '# lazy:'
# Allowed to be longer, with the reason (none at present).
LONG_OK: Dict[str, str] = {}


def modules() -> List[Path]:
    return sorted(p for p in PKG.rglob('*.py') if '__pycache__' not in p.parts)


def node_of(module: str) -> str:
    """``mmdet3d_pointdistiller.a.b.c`` -> ``a`` (top-level modules are their own node)."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else '<package>'


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def imported(path: Path) -> Set[str]:
    """Absolute names of the package modules that ``path`` imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path)
    package = here if path.name == '__init__.py' else here.rsplit('.', 1)[0]
    out: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                prefix = '.'.join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ''
            out.add(prefix)
            # `from . import x` / `from .a import b`: b may be a submodule
            out.update(f'{prefix}.{a.name}' for a in node.names)
    return {m for m in out if m == 'mmdet3d_pointdistiller'
            or m.startswith('mmdet3d_pointdistiller.')}


def lazy_imports_without_reason(source: str, name: str) -> List[str]:
    """``name:line`` of every import statement inside a function body of ``source`` that has no
    ``# lazy: <reason>`` comment on its own line(s) or on the line directly above."""
    lines = source.splitlines()
    comments: Dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string

    def has_reason(text: str) -> bool:
        return text.startswith(LAZY) and bool(text[len(LAZY):].strip())

    out: List[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function:
                own = any(has_reason(comments.get(n, ''))
                          for n in range(child.lineno, child.end_lineno + 1))
                above = (child.lineno > 1 and lines[child.lineno - 2].lstrip().startswith('#')
                         and has_reason(comments.get(child.lineno - 1, '')))
                if not (own or above):
                    out.append(f'{name}:{child.lineno}')
            visit(child, in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source, name), False)
    return out


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(n: str) -> Optional[List[str]]:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                cycle = visit(m)
                if cycle:
                    return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            cycle = visit(n)
            if cycle:
                return cycle
    return None


def test_no_long_modules():
    long = {}
    for path in modules():
        rel = path.relative_to(PKG).as_posix()
        n = len(path.read_text().splitlines())
        if n > MAX_LINES and rel not in LONG_OK:
            long[rel] = n
    assert not long, f'modules over {MAX_LINES} lines (split them or justify in LONG_OK): {long}'
    for rel in LONG_OK:
        assert (PKG / rel).is_file(), f'LONG_OK names a missing module {rel}'


def test_no_import_cycle_between_subpackages():
    graph: Dict[str, Set[str]] = {}
    edges: Dict[tuple, str] = {}
    for path in modules():
        src = node_of(module_name(path))
        if src == '<package>':
            continue  # the package __init__ imports its subpackages to register them
        for target in imported(path):
            dst = node_of(target)
            if dst in (src, '<package>'):
                continue
            graph.setdefault(src, set()).add(dst)
            edges.setdefault((src, dst), path.relative_to(REPO).as_posix())
    cycle = find_cycle(graph)
    assert cycle is None, 'import cycle between subpackages: ' + ' -> '.join(cycle) + '\n' + \
        '\n'.join(f'  {a} -> {b}: {edges[(a, b)]}' for a, b in zip(cycle, cycle[1:]))


def test_no_subpackage_imports_the_package_root():
    """``import mmdet3d_pointdistiller`` inside the package would hide a cycle through the root
    ``__init__`` (which imports every registering subpackage)."""
    offenders = sorted(path.relative_to(REPO).as_posix() for path in modules()
                       if path.parent != PKG and 'mmdet3d_pointdistiller' in imported(path))
    assert not offenders, offenders


def test_function_level_imports_state_why_they_are_lazy():
    """Imports belong at module top (issue 23): one inside a function of the package or of a
    tool must say why on its line or the line above (``# lazy: optional dependency (onnx)``)."""
    offenders = []
    for path in modules() + sorted((REPO / 'tools').glob('*.py')):
        offenders += lazy_imports_without_reason(path.read_text(),
                                                 path.relative_to(REPO).as_posix())
    assert not offenders, ('imports inside functions without a "# lazy: <reason>" comment on '
                           'their line or the line above (move them to the module top, or '
                           'state the reason):\n  ' + '\n  '.join(offenders))


def test_tests_do_not_import_each_other():
    names = {p.stem for p in TESTS.glob('*.py')}
    offenders = {}
    for path in TESTS.rglob('*.py'):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or '']
            bad = [m for m in mods if m.split('.')[0] in names or m.split('.')[0] == 'tests']
            if bad:
                offenders.setdefault(path.name, []).extend(bad)
    assert not offenders, offenders


def test_tools_are_thin_command_lines():
    """A tool is an argument parser over a package module: at most ``MAX_TOOL_LINES`` lines
    (docstring with the commands included); the work lives in the package."""
    long = {p.name: n for p in sorted((REPO / 'tools').glob('*.py'))
            for n in [len(p.read_text().splitlines())] if n > MAX_TOOL_LINES}
    assert not long, f'tools over {MAX_TOOL_LINES} lines (move the work into the package): {long}'


FILE_LOADERS = ('spec_from_file_location', 'run_path', 'SourceFileLoader', 'load_source')


def test_tests_never_load_a_file_by_path():
    """Tests import package modules by name, or run a tool as a command; loading a file by
    path (``spec_from_file_location``, ``runpy.run_path`` ...) couples a test to a script's
    internals and bypasses the package. (Code inside a string that a test hands to a
    subprocess is not a call in the test.)"""
    offenders = []
    for path in sorted(TESTS.glob('*.py')):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, 'attr', getattr(node.func, 'id', ''))
                if name in FILE_LOADERS:
                    offenders.append(f'{path.name}:{node.lineno} {name}')
    assert not offenders, offenders


def test_walker_sees_real_edges():
    """The walker itself: a known edge and a known cycle are found."""
    shim = imported(PKG / 'compat' / 'point_ops_cpu.py')
    assert 'mmdet3d_pointdistiller.ops' in shim  # relative `from ..ops import ...`
    pool = imported(PKG / 'ops' / 'roipoint_pool3d.py')
    assert 'mmdet3d_pointdistiller.ops.points_in_boxes' in pool  # `from .points_in_boxes ...`
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None
    assert node_of('mmdet3d_pointdistiller.models.losses.graph_ops') == 'models'
    assert module_name(PKG / 'models' / '__init__.py') == 'mmdet3d_pointdistiller.models'
    lazy = '''\
import os
def f():
    import json
    import onnx  # lazy: optional dependency (onnx)
    # lazy: optional dependency (onnxruntime)
    import onnxruntime
    x = "# lazy: in a string"; import pickle
    # lazy:
    import shutil
    class C:
        from typing import List
    g = lambda: None
class D:
    import re
'''
    # json: no comment; pickle: a string is no comment; shutil: no reason; List: a class in a
    # function is still in the function (re, in a class at module level, is not)
    assert lazy_imports_without_reason(lazy, 'm.py') == [
        'm.py:3', 'm.py:7', 'm.py:9', 'm.py:11']
