"""Code runs only where the user asked, failures are one line, errors say what happened
(issue 10, items 10, 12 and 14, and item 6's float16 overflow at extraction)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import _trust_models
import replens as rl
from replens.activations import ActivationCache, extract, extract_to_cache, save_activations
from replens.cli import main
from replens.cli._app import one_line_warnings
from replens.errors import DtypeError, ExtractionError

torch.set_num_threads(1)
REPLENS = Path(sys.executable).with_name("replens")


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def acts_file(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return save_activations(tmp_path / "a.npz", {"l1": rng.standard_normal((40, 5)), "l2": rng.standard_normal((40, 3))})


def one_line_error(result, status: int = 2) -> str:
    assert result.exit_code == status, (result.exit_code, result.output)
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("replens: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


# ---------------------------------------------------------------------------------------
# Item 10: the current folder only for the user's module, after the installed packages


def test_a_folder_named_like_a_package_in_the_working_directory_never_runs(tmp_path, acts_file):
    assert REPLENS.exists()
    fake = tmp_path / "torchvision"
    fake.mkdir()
    marker = tmp_path / "ran.txt"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('shadowed')\n"
                                      f"from . import models\n")
    (fake / "models.py").write_text("def get_model(name, weights=None):\n    raise SystemExit('fake')\n")
    np.save(tmp_path / "x.npy", _trust_models.inputs(8))
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("PYTHONPATH", None)
    completed = subprocess.run([str(REPLENS), "extract", "torchvision:resnet18", "x.npy", "--out", "acts"],
                               cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120)
    assert not marker.exists(), "a torchvision/ folder in the working directory was imported"
    try:
        import torchvision  # noqa: F401
    except ImportError:  # not installed here: the one-line error says so
        assert completed.returncode == 2 and "needs torchvision" in completed.stderr, completed.stderr
    (tmp_path / "mymodels.py").write_text("import _helper\ndef net():\n    return _helper.build()\n")
    (tmp_path / "_helper.py").write_text("import torch\ndef build():\n    torch.manual_seed(0)\n"
                                         "    return torch.nn.Linear(6, 2)\n")
    completed = subprocess.run([str(REPLENS), "extract", "mymodels:net", "x.npy", "--out", "acts"],
                               cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120)
    assert completed.returncode == 0, completed.stderr  # the user's own module (and its helper) still import
    assert not marker.exists()


def test_the_working_directory_is_searched_last_and_only_during_the_import(tmp_path, monkeypatch, runner):
    monkeypatch.chdir(tmp_path)
    here = os.getcwd()
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", here)])
    record = tmp_path / "path.json"
    (tmp_path / "where_am_i.py").write_text(
        "import json, sys, torch\n"
        f"json.dump(sys.path, open({str(record)!r}, 'w'))\n"
        "def net():\n    torch.manual_seed(0)\n    return torch.nn.Linear(6, 2)\n")
    np.save(tmp_path / "x.npy", _trust_models.inputs(8))
    result = runner.invoke(main, ["extract", "where_am_i:net", "x.npy", "--out", "acts"])
    assert result.exit_code == 0, result.output
    during = json.loads(record.read_text())
    assert during[-1] == here and here not in during[:-1]  # after every installed package
    assert here not in sys.path  # and gone once the module is imported


# ---------------------------------------------------------------------------------------
# Item 12: every failure is one line; 2 for the user or the system, 1 for a bug


def test_disk_full_while_writing_the_outputs(tmp_path, runner, acts_file, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rl.SimilarityMatrix, "save", full)
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "out")]))
    assert line == "replens: error: [Errno 28] No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]  # nothing half-written


def test_disk_full_while_extracting(tmp_path, runner, monkeypatch):
    np.save(tmp_path / "x.npy", _trust_models.inputs())

    def full(self, batch, start):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ActivationCache, "write", full)
    line = one_line_error(runner.invoke(main, ["extract", "_trust_models:slow_mlp", str(tmp_path / "x.npy"),
                                               "--out", str(tmp_path / "acts")]))
    assert "No space left on device" in line


def test_a_read_only_folder(tmp_path, runner, acts_file, monkeypatch):
    import tempfile

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "out")]))
    assert line == f"replens: error: Read-only file system: {tmp_path}"


def test_out_is_a_file_and_a_name_too_long(tmp_path, runner, acts_file):
    (tmp_path / "file").write_text("x")
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "file")]))
    assert "is a file; --out (out_dir) takes a folder" in line
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / ("n" * 300))]))
    assert "File name too long" in line
    np.save(tmp_path / "x.npy", _trust_models.inputs())
    line = one_line_error(runner.invoke(main, ["extract", "_trust_models:slow_mlp", str(tmp_path / "x.npy"),
                                               "--out", str(tmp_path / ("n" * 300))]))
    assert "File name too long" in line
    line = one_line_error(runner.invoke(main, ["extract", "_trust_models:slow_mlp", str(tmp_path / "x.npy"),
                                               "--out", str(tmp_path / "file")]))
    assert "is a file, not an activation cache folder" in line


def test_not_enough_memory(tmp_path, runner, acts_file, monkeypatch):
    engine = sys.modules["replens.engine.compare"]

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (1000000, 1000000)")

    monkeypatch.setattr(engine, "compare", exhausted)
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "out")]))
    assert line.startswith("replens: error: not enough memory (Unable to allocate 7.28 TiB")
    assert "--chunk-size" in line


def test_a_device_out_of_memory(tmp_path, runner, acts_file, monkeypatch):
    engine = sys.modules["replens.engine.compare"]

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(engine, "compare", exhausted)
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "out")]))
    assert line.startswith("replens: error: not enough memory (CUDA out of memory. Tried to allocate 20.00 GiB)")


def test_an_unsupported_dtype(tmp_path, runner):
    from safetensors.torch import save_file

    save_file({"fp8": torch.zeros(4, 3).to(torch.float8_e4m3fn)}, str(tmp_path / "a.safetensors"))
    line = one_line_error(runner.invoke(main, ["compare", str(tmp_path / "a.safetensors"), "--out", str(tmp_path / "o")]))
    assert "float8_e4m3fn" in line and "numpy cannot hold" in line


def test_a_bug_exits_1_in_one_line_and_debug_shows_it(tmp_path, runner, acts_file, monkeypatch):
    engine = sys.modules["replens.engine.compare"]

    def buggy(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'")

    monkeypatch.setattr(engine, "compare", buggy)
    line = one_line_error(runner.invoke(main, ["compare", str(acts_file), "--out", str(tmp_path / "out")]), status=1)
    assert line.startswith("replens: internal error: TypeError: unsupported operand") and "a bug in replens" in line
    result = runner.invoke(main, ["--debug", "compare", str(acts_file), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, TypeError)


def test_warnings_are_one_line_without_a_source_line(tmp_path, runner):
    rng = np.random.default_rng(0)
    wide = save_activations(tmp_path / "wide.npz", {"a": rng.standard_normal((10, 8)), "b": rng.standard_normal((10, 8))})
    result = runner.invoke(main, ["compare", str(wide), "-m", "cca_mean_rho", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert warning_lines and all(line.startswith("replens: warning: ") for line in warning_lines), result.stderr
    assert "warnings.warn" not in result.stderr and ".py:" not in result.stderr
    assert warnings.showwarning.__module__ == "warnings"  # restored after the command


def test_other_libraries_warnings_are_one_line_too(capsys):
    with one_line_warnings(), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("from elsewhere\nsecond line", DeprecationWarning, stacklevel=1)
        warnings.warn(rl.AccuracyWarning("cond(S) = 1e12: about 4 digits"), stacklevel=1)
    captured = capsys.readouterr().err.splitlines()
    assert "warning: DeprecationWarning: from elsewhere second line" in captured
    assert "replens: warning: cond(S) = 1e12: about 4 digits" in captured


# ---------------------------------------------------------------------------------------
# Item 14: the error classes


def test_error_classes():
    assert issubclass(rl.CorruptFileError, rl.ReplensError) and issubclass(rl.ExtractionError, rl.ReplensError)
    assert issubclass(rl.AccuracyWarning, Warning) and not issubclass(rl.AccuracyWarning, rl.ReplensError)
    for name in ("CorruptFileError", "ExtractionError", "AccuracyWarning"):
        assert name in rl.__all__


# ---------------------------------------------------------------------------------------
# Item 6 (extraction part): float16 overflow is an error at extraction time, naming the layer


def test_float16_overflow_is_an_extraction_error_naming_the_layer(tmp_path, runner):
    model, x = _trust_models.loud(), _trust_models.inputs(20)
    with pytest.raises(ExtractionError, match=r"layer 'loud' overflows float16 in batch 0: it holds values up to "
                                              r"[\d.e+]+ in magnitude, beyond float16's largest 65504.*dtype='float32'"):
        extract(model, x, dtype="float16", progress=False)
    wide = extract(model, x, dtype="float32", progress=False)
    assert np.abs(wide["loud"]).max() > 65504
    small = extract(model, x, layers="small", dtype="float16", progress=False)  # that layer fits
    assert small["small"].dtype == np.float16 and np.isfinite(small["small"]).all()
    with pytest.raises(ExtractionError, match="layer 'loud' overflows float16"):
        extract_to_cache(model, x, tmp_path / "acts", dtype="float16", progress=False)
    np.save(tmp_path / "x.npy", x)
    line = one_line_error(runner.invoke(main, ["extract", "_trust_models:loud", str(tmp_path / "x.npy"),
                                               "--out", str(tmp_path / "cli"), "--dtype", "float16"]))
    assert "layer 'loud' overflows float16" in line


def test_infinities_the_model_computes_are_not_called_an_overflow():
    class Infinite(torch.nn.Module):
        def forward(self, x):
            return torch.where(x > 0, torch.inf, x)

    out = extract(torch.nn.Sequential(Infinite()), torch.randn(6, 3), dtype="float16", progress=False)
    assert np.isinf(out["0"]).any()


def test_a_cache_refuses_values_its_float16_layer_cannot_hold(tmp_path):
    cache = ActivationCache.create(tmp_path / "c", {"h": ((2,), "float16")}, n_examples=2)
    with pytest.raises(DtypeError, match=r"batch\['h'\] holds values up to 100000 in magnitude, beyond float16's "
                                         r"largest 65504"):
        cache.write({"h": np.array([[1.0, 1e5], [0.0, 0.0]], np.float32)}, 0)
    cache.write({"h": np.array([[1.0, 65504.0], [-np.inf, 0.0]], np.float32)}, 0)
    assert cache.is_complete


@pytest.mark.cuda
def test_float16_overflow_on_a_gpu_and_the_fingerprint_wherever_the_model_lives():
    from replens.activations.pipeline import model_fingerprint

    model = _trust_models.loud()
    on_host = model_fingerprint(model)
    model = model.to("cuda")
    assert model_fingerprint(model) == on_host
    with pytest.raises(ExtractionError, match="layer 'loud' overflows float16"):
        extract(model, _trust_models.inputs(20), dtype="float16", progress=False)
