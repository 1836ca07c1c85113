"""The replens command: every command and every user-error path, through Click's runner."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import replens as rl
from replens.cli import main
from replens.activations.files import save_activations


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def two_networks(tmp_path):
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((80, 6))
    nets = []
    for seed in (1, 2):
        w = np.random.default_rng(seed)
        h1 = np.maximum(inputs @ w.standard_normal((6, 8)), 0)
        h2 = np.maximum(h1 @ w.standard_normal((8, 5)), 0)
        nets.append({"layer1": h1, "<b>layer2</b>": h2})
    return save_activations(tmp_path / "a.npz", nets[0]), save_activations(tmp_path / "b.h5", nets[1]), nets


def test_help_lists_the_commands(runner):
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("compare", "measures", "demo", "extract"):
        assert command in result.output


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from replens.cli import main; print('torch' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_measures_prints_one_row_per_measure(runner):
    result = runner.invoke(main, ["measures"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 + len(rl.measures())
    assert any(line.startswith("pwcca") and " no " in line for line in lines)
    assert any(line.startswith("debiased_linear_cka") and "[-inf, 1]" in line for line in lines)


def test_compare_writes_every_output(runner, two_networks, tmp_path):
    path_a, path_b, nets = two_networks
    out = tmp_path / "out"
    result = runner.invoke(main, ["compare", str(path_a), str(path_b), "-m", "linear_cka", "-m", "pwcca",
                                  "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["heatmap_linear_cka.png", "heatmap_pwcca.png", "manifest.json",
                     "similarities.csv", "similarities.npz"]
    table = pd.read_csv(out / "similarities.csv")
    assert list(table.columns) == ["measure", "layer_a", "layer_b", "value"]
    row = table[(table.measure == "pwcca") & (table.layer_a == "<b>layer2</b>") & (table.layer_b == "layer1")]
    assert row.value.item() == pytest.approx(rl.pwcca(nets[0]["<b>layer2</b>"], nets[1]["layer1"]), abs=1e-12)
    matrix = rl.SimilarityMatrix.load(out / "similarities.npz")
    assert matrix.layers_a == ("layer1", "<b>layer2</b>")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["inputs"]) == {str(path_a), str(path_b)}
    assert all(len(v["sha256"]) == 64 for v in manifest["inputs"].values())
    assert manifest["options"]["measures"] == ["linear_cka", "pwcca"]
    assert (out / "heatmap_pwcca.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_one_file_with_itself(runner, two_networks, tmp_path):
    path_a, _, nets = two_networks
    result = runner.invoke(main, ["compare", str(path_a), "--out", str(tmp_path / "self"), "--no-report"])
    assert result.exit_code == 0, result.output
    matrix = rl.SimilarityMatrix.load(tmp_path / "self" / "similarities.npz")
    assert np.allclose(np.diag(matrix["linear_cka"]), 1.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["compare", "missing.npz", "--out", "o"], r"no such activation file or folder: missing\.npz"),
        (["compare", "{a}", "-m", "cosine", "--out", "o"], r"measure must be one of .*'linear_cka'"),
        (["compare", "{a}", "--conv", "pool", "--out", "o"], r"conv must be one of"),
        (["compare", "{bad}", "--out", "o"], r"(suffix|format)"),
        (["compare", "{a}", "{short}", "--out", "o"], r"same number of examples"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(runner, two_networks, tmp_path, monkeypatch, arguments, message):
    path_a, _, _ = two_networks
    bad = tmp_path / "acts.txt"
    bad.write_text("not activations")
    short = save_activations(tmp_path / "short.npz", {"x": np.random.rand(10, 3)})
    filled = [a.format(a=path_a, bad=bad, short=short) for a in arguments]
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, filled)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("replens: error: ")]
    assert len(errors) == 1 and result.output.strip().splitlines()[-1] == errors[0], result.output
    assert re.search(message, errors[0]), errors[0]
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(runner, tmp_path):
    result = runner.invoke(main, ["--debug", "compare", str(tmp_path / "missing.npz"), "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, FileNotFoundError)


def test_demo_quick_writes_the_sanity_check_and_report(runner, tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    result = runner.invoke(main, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "sanity_check.csv")
    assert {"measure", "accuracy", "paper_accuracy", "architecture"} <= set(table.columns)
    assert set(table.architecture) == {"mlp", "cnn"}
    assert set(table.measure) == {m.name for m in rl.measures()}
    assert table.accuracy.between(0, 1).all()
    assert "linear_cka" in result.output and "paper" in result.output.lower()
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 6 and "<script" not in html
