"""The package's architecture, enforced: imports point down the floors, nothing else.

Floors, lowest first (``replens/__init__.py``, the public face, may import any of them)::

    errors, _io, _progress  ->  _backend  ->  _validate  ->  measures | activations
    ->  results | zoo  ->  engine  ->  stats  ->  analyses  ->  sweeps  ->  report
    ->  demo  ->  reproduce  ->  cli

A module may import modules of its own package and of lower floors; siblings on one floor
never import each other; a ``_module`` is private to its package; function-local imports
count. Only ``_backend`` branches on the array library, only ``cli`` parses arguments,
prints or exits, and ``import replens`` loads no heavy library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "replens"
FLOORS = [
    ("errors", "_io", "_progress"),
    ("_backend",),
    ("_validate",),
    ("measures", "activations"),
    ("results", "zoo"),
    ("engine",),
    ("stats",),
    ("analyses",),
    ("sweeps",),
    ("report",),
    ("demo",),
    ("reproduce",),  # kornblith2019-sanity wraps demo.sanity's run_sanity_check
    ("cli",),
]
FLOOR = {unit: level for level, units in enumerate(FLOORS) for unit in units}
# Array-library branches live in _backend only; these units do numerics on arrays.
NUMERIC_UNITS = ("_validate", "measures", "engine", "results", "stats")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def unit_of(module: str) -> str:
    """The floor unit a module belongs to: ``replens.measures.cca`` -> ``measures``."""
    return module.split(".")[1] if module.count(".") else ""


def imports_of(module: str) -> list[tuple[str, int]]:
    """Every replens module `module` imports (function-local ones too), with line numbers."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.append((target, node.lineno))
                break
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_unit_has_a_floor():
    units = {unit_of(m) for m in MODULES if unit_of(m)}
    assert units <= set(FLOOR), f"give these a floor in FLOORS: {sorted(units - set(FLOOR))}"


def test_no_import_circle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target, _ in GRAPH[module]:
            if target.startswith(module + "."):
                continue  # a package importing its own submodules is not a circle
            if state.get(target) == 1:
                circle = stack[stack.index(target):] + [target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module)


def test_imports_point_down_the_floors():
    upward = []
    for module, targets in GRAPH.items():
        unit = unit_of(module)
        if not unit:
            continue  # replens/__init__.py: the public face
        for target, line in targets:
            other = unit_of(target)
            if other == unit:
                continue
            if not other:
                upward.append(f"{module}:{line} imports the package face {target}")
            elif FLOOR[other] >= FLOOR[unit]:
                upward.append(f"{module}:{line} imports {target} ({other}, floor {FLOOR[other]} >= {FLOOR[unit]})")
    assert not upward, "\n".join(upward)


def test_private_modules_stay_in_their_package():
    leaks = []
    for module, targets in GRAPH.items():
        for target, line in targets:
            parts = target.split(".")
            for depth in range(2, len(parts)):
                if parts[depth].startswith("_"):
                    owner = ".".join(parts[:depth])
                    if not (module == owner or module.startswith(owner + ".")):
                        leaks.append(f"{module}:{line} imports private {target}")
                    break
    assert not leaks, "\n".join(leaks)


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


@pytest.mark.parametrize("module", [m for m in MODULES if unit_of(m) in NUMERIC_UNITS])
def test_only_the_backend_branches_on_the_array_library(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: imports {n}" for n in names
                      if n.split(".")[0] in ("torch", "array_api_compat")]
    for call in _calls(tree):
        if isinstance(call.func, ast.Name) and call.func.id == "isinstance" and len(call.args) == 2:
            if "ndarray" in ast.unparse(call.args[1]) or "Tensor" in ast.unparse(call.args[1]):
                found.append(f"line {call.lineno}: {ast.unparse(call)}")
    assert not found, f"{module} branches on the array library; use replens._backend:\n" + "\n".join(found)


@pytest.mark.parametrize("module", [m for m in MODULES if unit_of(m) != "cli"])
def test_only_the_cli_parses_arguments_prints_or_exits(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in ("click", "argparse")]
    for call in _calls(tree):
        text = ast.unparse(call.func)
        if text in ("print", "exit", "sys.exit", "quit", "os._exit"):
            found.append(f"line {call.lineno}: {text}()")
    assert not found, f"{module} does what only replens.cli may:\n" + "\n".join(found)


def test_import_replens_loads_no_heavy_library():
    heavy = ["torch", "transformers", "matplotlib", "pandas", "scipy", "dask", "sklearn", "h5py", "xarray"]
    code = ("import sys, replens; print(' '.join(m for m in %r if m in sys.modules))" % heavy)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"import replens loaded {loaded}; import them inside the functions that need them"
