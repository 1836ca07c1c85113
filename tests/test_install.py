"""A fresh install works (issue 10, item 11): the core dependencies give a complete
``replens compare``, every optional import names the extra that installs it, and the README's
install lines and CI's core-install step say what is true.

The core install itself (a fresh venv, ``pip install .``, ``replens compare`` on a file) runs
in ``.ci/run``; here a child process hides the optional packages from the import system, so
the same code paths run as on a core install, in about a second each.
"""

from __future__ import annotations

import ast
import csv
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

import replens as rl
from replens._io import PIP_NAMES, optional_import, require_packages

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
OPTIONAL = ("pandas", "xarray", "h5py", "safetensors", "torch", "torchvision", "sklearn", "transformers")

def _replens_hiding(hidden: tuple[str, ...], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    script = textwrap.dedent("""
        import sys
        hidden = {name for name in sys.argv[1].split(",") if name}

        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in hidden:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, Hide())
        from replens.cli import main
        try:
            main(sys.argv[2:], prog_name="replens")
        finally:
            optional = ("pandas", "xarray", "h5py", "safetensors", "torch", "sklearn", "transformers")
            loaded = sorted(name for name in optional if name in sys.modules)
            print("optional modules loaded:", ",".join(loaded) or "none", file=sys.stderr)
    """)
    return subprocess.run([sys.executable, "-c", script, ",".join(hidden), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                       "MPLBACKEND": "Agg", "HOME": str(cwd)})


def _layers_file(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8))
    path = folder / "layers.npz"
    np.savez(path, first=x, second=np.tanh(x @ rng.standard_normal((8, 6))))
    return path


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


# ---------------------------------------------------------------------------------------
# The core install


def test_core_dependencies_include_matplotlib_and_no_optional_package():
    core = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "matplotlib" in core  # compare's heatmaps and report work on a plain install
    assert core.isdisjoint({"pandas", "xarray", "h5py", "safetensors", "torch", "scikit-learn", "transformers"})


def test_compare_on_a_core_install_writes_csv_heatmaps_and_report_without_pandas(tmp_path):
    path = _layers_file(tmp_path)
    done = _replens_hiding(OPTIONAL, ["compare", str(path), "-m", "linear_cka", "-m", "cca_mean_rho",
                                      "--out", "out"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "optional modules loaded: none" in done.stderr
    out = tmp_path / "out"
    for name in ("similarities.csv", "similarities.npz", "heatmap_linear_cka.png", "heatmap_cca_mean_rho.png",
                 "manifest.json", "report.html"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "similarities.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["measure", "layer_a", "layer_b", "value", "flag"]
    matrix = rl.SimilarityMatrix.load(out / "similarities.npz")
    for row in rows:  # every value as saved, to the last bit
        k, i, j = (matrix.measures.index(row["measure"]), matrix.layers_a.index(row["layer_a"]),
                   matrix.layers_b.index(row["layer_b"]))
        assert float(row["value"]) == matrix.values[k, i, j]
    assert len(rows) == matrix.values.size == 8


def test_compare_without_matplotlib_says_which_extra_before_any_work(tmp_path):
    path = _layers_file(tmp_path)
    done = _replens_hiding(("matplotlib",), ["compare", str(path), "--out", "out"], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("optional modules loaded")]
    assert lines == ["replens: error: replens compare (its heatmaps and report.html) needs matplotlib, which is "
                     "not installed; install it with: pip install 'replens[plot]'."]
    assert "loaded" not in done.stdout + lines[0]  # the inputs were not even read
    assert not (tmp_path / "out").exists()


def test_dataframe_view_without_pandas_names_the_io_extra(monkeypatch):
    matrix = rl.SimilarityMatrix(np.eye(2)[None], ("a1", "a2"), ("b1", "b2"), ("linear_cka",))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"^SimilarityMatrix\.to_dataframe needs pandas, which is not installed; "
                                          r"install it with: pip install 'replens\[io\]'\.$"):
        matrix.to_dataframe()
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"to_xarray needs xarray, .*pip install 'replens\[io\]'"):
        matrix.to_xarray()


# ---------------------------------------------------------------------------------------
# The helper


def test_optional_import_returns_the_module_or_names_the_extra():
    assert optional_import("json.decoder", "io", "x").JSONDecoder is not None
    with pytest.raises(ImportError, match=r"^drawing things needs no_such_package_xyz, which is not installed; "
                                          r"install it with: pip install 'replens\[plot\]', or use \.npz\.$") as caught:
        optional_import("no_such_package_xyz.sub", "plot", "drawing things", hint="or use .npz")
    assert caught.value.name == "no_such_package_xyz"


def test_optional_import_of_a_broken_package_says_it_failed_not_that_it_is_missing(tmp_path, monkeypatch):
    (tmp_path / "broken_pkg_xyz.py").write_text("raise RuntimeError('built for another torch')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"^reading files needs broken_pkg_xyz, and importing broken_pkg_xyz "
                                          r"failed \(RuntimeError: built for another torch\); repair or "
                                          r"reinstall broken_pkg_xyz\.$"):
        optional_import("broken_pkg_xyz", "io", "reading files")


def test_require_packages_names_every_missing_package_at_once():
    require_packages(["json", "numpy"], "io", "nothing")  # all present: no error
    with pytest.raises(ImportError, match=r"^the demo needs scikit-learn, missing-b \(to train\), which are not "
                                          r"installed; install them with: pip install 'replens\[demo\]'\.$"):
        require_packages({"no_such_sklearn_xyz": "scikit-learn", "json": "json", "no_such_b": "missing-b"},
                         "demo", "the demo", why="to train")


def _literal_calls(function: str, extra: str | None = None) -> list[tuple[Path, int, list[str], str]]:
    """(file, line, modules, extra) of every `function(modules, "extra", ...)` call with literal arguments
    (`extra` given: for a wrapper whose extra is fixed inside it)."""
    fixed = extra
    found = []
    for path in sorted((REPO / "src" / "replens").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == function
                    and len(node.args) >= (1 if fixed else 2)):
                continue
            modules, extra = node.args[0], (ast.Constant(fixed) if fixed else node.args[1])
            if isinstance(modules, (ast.List, ast.Tuple)):
                names = [e.value for e in modules.elts if isinstance(e, ast.Constant)]
            elif isinstance(modules, ast.Constant):
                names = [modules.value]
            else:
                continue
            assert isinstance(extra, ast.Constant), f"{path}:{node.lineno}: the extra must be a literal"
            found.append((path, node.lineno, names, extra.value))
    return found


def test_every_optional_import_names_an_extra_that_installs_its_package():
    files = (REPO / "src" / "replens" / "activations" / "files.py").read_text(encoding="utf-8")
    assert 'return optional_import(module, "io", ' in files  # files.py's _optional wrapper: the io extra
    calls = _literal_calls("optional_import") + _literal_calls("require_packages") + _literal_calls("_optional", "io")
    assert len(calls) >= 10  # matplotlib, pandas, xarray, safetensors, h5py, torch, transformers, sklearn
    core = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for path, line, modules, extra in calls:
        assert extra in EXTRAS, f"{path.name}:{line} names the extra {extra!r}, which pyproject.toml lacks"
        installed = {_requirement_name(r) for r in EXTRAS[extra]}
        for module in modules:
            package = module.split(".")[0]
            pip_name = PIP_NAMES.get(package, package)
            assert pip_name in installed or pip_name in core, (
                f"{path.name}:{line}: 'replens[{extra}]' does not install {pip_name}")
    packages = {module.split(".")[0] for _, _, modules, _ in calls for module in modules}
    assert {"matplotlib", "pandas", "xarray", "safetensors", "h5py", "torch", "transformers", "sklearn"} <= packages


def test_the_demos_name_extras_that_install_their_packages():
    from replens.demo import DEMO_PACKAGES
    from replens.demo.pretrained import EXTRA, PACKAGES

    for packages, extra in ((DEMO_PACKAGES, "demo"), (PACKAGES, EXTRA)):
        installed = {_requirement_name(r) for r in EXTRAS[extra]}
        assert set(packages.values()) <= installed, (extra, set(packages.values()) - installed)


# ---------------------------------------------------------------------------------------
# What the README and CI say


def _install_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Install\n(.*?)^## ", readme, flags=re.M | re.S)
    assert match, "README.md has no '## Install' section"
    return match.group(1)


def test_readme_install_lines_need_only_the_repository_url():
    section = _install_section()
    lines = [line.split("#")[0].strip() for line in section.splitlines() if "pip install" in line]
    assert 'pip install "replens @ git+<repository-url>"' in lines
    assert any(line.startswith("git clone <repository-url>") and "pip install ./replens" in line for line in lines)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    # No line claims a PyPI release: a bare `pip install replens` needs one. (`pip install
    # 'replens[x]'` adds an extra to an installed replens, which the section says.)
    assert re.search(r"pip install\s+['\"]?replens['\"]?(?![\w\[@.-]|\s+@)", readme) is None
    assert "pip finds the\ninstalled replens and installs only the extra's packages" in readme
    for extras in re.findall(r"replens\[([a-z,]+)\]", section):
        for extra in extras.split(","):
            assert extra in EXTRAS, extra
    for named in re.findall(r"`([a-z]+)` \(", section):
        assert named in EXTRAS, named


def test_ci_installs_the_core_package_alone_and_ends_with_make_test():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test"  # the closing pytest line is the last test output
    assert any(re.fullmatch(r'python3 -m venv "\$core_venv"', c) for c in commands)
    assert any(re.fullmatch(r'"\$core_venv/bin/python" -m pip install --quiet \.', c) for c in commands)  # no extras
    assert any(c.startswith('"$core_venv/bin/replens" compare ') for c in commands)
    assert commands.index("make test") > max(i for i, c in enumerate(commands) if "core_venv" in c)
