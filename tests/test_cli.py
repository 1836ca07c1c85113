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
    table = pd.read_csv(out / "similarities.csv", keep_default_na=False)
    assert list(table.columns) == ["measure", "layer_a", "layer_b", "value", "flag"]  # flag: Theorem 1 (item 13)
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


# ---------------------------------------------------------------- measures with options, and your own

MY_MEASURES = '''
import numpy as np
import replens as rl


def mean_corr(x, y):
    """Squared correlation of the two layers' mean activations."""
    return float(np.corrcoef(x.mean(axis=1), y.mean(axis=1))[0, 1] ** 2)


@rl.register_measure("cli_test_overlap", bounds=(0.0, 1.0), symmetric=True)
def overlap(x, y):
    return 0.25


narrow_rbf = rl.measure("rbf_cka", bandwidth=0.25)
CONSTANT = 3
'''


@pytest.fixture()
def my_measures(tmp_path, monkeypatch):
    """A module my_measures.py in the current folder, forgotten (and unregistered) afterwards."""
    import sys

    (tmp_path / "my_measures.py").write_text(MY_MEASURES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    yield
    sys.modules.pop("my_measures", None)
    if "cli_test_overlap" in {info.name for info in rl.measures()}:
        rl.unregister_measure("cli_test_overlap")


def test_option_values_are_parsed_as_numbers_bools_none_or_text():
    from replens.cli._measure_spec import parse_option_value

    assert [parse_option_value(v) for v in ("3", "-2", "0.5", "1e-3", "true", "False", "none", "None",
                                            "singular_values")] == [3, -2, 0.5, 1e-3, True, False, None,
                                                                    None, "singular_values"]
    assert type(parse_option_value("3")) is int and type(parse_option_value("3.0")) is float


def test_measure_specs_give_configured_measures():
    from replens.cli._measure_spec import parse_measure_spec

    assert parse_measure_spec("linear_cka") == rl.measure("linear_cka")
    rbf = parse_measure_spec("rbf_cka:bandwidth=0.5")
    assert rbf == rl.measure("rbf_cka", bandwidth=0.5) and rbf.label == "rbf_cka(bandwidth=0.5)"
    svcca = parse_measure_spec("svcca_mean_rho:threshold=0.95, rule=singular_values")
    assert svcca.options["threshold"] == 0.95 and svcca.options["rule"] == "singular_values"
    assert parse_measure_spec("svcca_r2:keep=3").options["keep"] == 3


def test_compare_with_measure_options_writes_labels_and_options(runner, two_networks, tmp_path):
    path_a, path_b, nets = two_networks
    out = tmp_path / "out"
    result = runner.invoke(main, ["compare", str(path_a), str(path_b), "-m", "rbf_cka:bandwidth=0.5",
                                  "-m", "svcca_mean_rho:threshold=0.95,rule=singular_values", "-m", "linear_cka",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "similarities.csv")
    labels = ["rbf_cka(bandwidth=0.5)", "svcca_mean_rho(threshold=0.95, rule=singular_values)", "linear_cka"]
    assert list(dict.fromkeys(table.measure)) == labels
    row = table[(table.measure == labels[0]) & (table.layer_a == "layer1") & (table.layer_b == "<b>layer2</b>")]
    expected = rl.cka(nets[0]["layer1"], nets[1]["<b>layer2</b>"], kernel="rbf", bandwidth=0.5)
    assert row.value.item() == pytest.approx(expected, abs=1e-10)
    assert row.value.item() != pytest.approx(rl.cka(nets[0]["layer1"], nets[1]["<b>layer2</b>"], kernel="rbf"),
                                              abs=1e-6)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(m["name"], m["label"]) for m in manifest["measures"]] == list(zip(
        ["rbf_cka", "svcca_mean_rho", "linear_cka"], labels))
    assert manifest["measures"][0]["options"]["bandwidth"] == 0.5
    assert manifest["measures"][1]["options"] == {**rl.measure("svcca_mean_rho").options, "threshold": 0.95,
                                                  "rule": "singular_values"}
    assert manifest["options"]["measures"] == labels
    assert (out / "heatmap_rbf_cka_bandwidth=0.5.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "heatmap_svcca_mean_rho_threshold=0.95_rule=singular_values.png").is_file()
    html = (out / "report.html").read_text()
    assert "rbf_cka(bandwidth=0.5)" in html


def test_compare_with_a_function_from_a_module(runner, two_networks, tmp_path, my_measures):
    path_a, path_b, nets = two_networks
    out = tmp_path / "out"
    result = runner.invoke(main, ["compare", str(path_a), str(path_b), "-m", "my_measures:mean_corr",
                                  "-m", "my_measures:overlap", "-m", "my_measures:narrow_rbf", "--out", str(out),
                                  "--no-report"])
    assert result.exit_code == 0, result.output
    import my_measures

    table = pd.read_csv(out / "similarities.csv")
    assert list(dict.fromkeys(table.measure)) == ["my_measures:mean_corr", "cli_test_overlap",
                                                  "rbf_cka(bandwidth=0.25)"]
    row = table[(table.measure == "my_measures:mean_corr") & (table.layer_a == "<b>layer2</b>")
                & (table.layer_b == "layer1")]
    assert row.value.item() == pytest.approx(my_measures.mean_corr(nets[0]["<b>layer2</b>"], nets[1]["layer1"]),
                                             abs=1e-12)
    assert (table[table.measure == "cli_test_overlap"].value == 0.25).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["measures"][0] == {"name": "my_measures:mean_corr", "label": "my_measures:mean_corr",
                                       "options": {}}
    assert (out / "heatmap_my_measures_mean_corr.png").is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rbf_cka:bandwidth", r"-m 'rbf_cka:bandwidth': 'bandwidth' is not option=value; write "
                              r"-m rbf_cka:option=value"),
        ("rbf_cka:", r"'' is not option=value.*or -m rbf_cka for the defaults"),
        ("rbf_cka:width=2", r"-m rbf_cka:width=2: measure 'rbf_cka' has no option 'width'; its options are: "
                            r"bandwidth \(default 1\.0\)"),
        ("rbf_cka:bandwidth=-1", r"-m rbf_cka:bandwidth=-1: bandwidth must be"),
        ("rbf_cka:bandwidth=0.5,bandwidth=0.4", r"sets bandwidth twice; give each option once"),
        ("rbf_ckaa:bandwidth=0.5", r"'rbf_ckaa' is not a registered measure name.*Did you mean rbf_cka\?"),
        ("cosine", r"measure must be one of .*'linear_cka'.*package\.module:function"),
        ("a b", r"-m 'a b' is not a measure spec; use NAME"),
        ("nope_module:score", r"-m nope_module:score: cannot import module 'nope_module': check the spelling"
                              r".*'nope_module' is not a measure name either"),
        ("my_measures:missing", r"-m my_measures:missing: module 'my_measures' has no 'missing'"),
        ("my_measures:CONSTANT", r"'CONSTANT' is a int; it must be a function f\(X, Y\) -> float"),
    ],
)
def test_bad_measure_specs_print_one_line_and_exit_2(runner, two_networks, tmp_path, my_measures, spec,
                                                     message):
    path_a, _, _ = two_networks
    result = runner.invoke(main, ["compare", str(path_a), "-m", spec, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("replens: error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists()


def test_measures_lists_the_options_with_defaults(runner):
    lines = runner.invoke(main, ["measures"]).output.splitlines()
    assert "options" in lines[0].split()
    rbf = next(line for line in lines if line.startswith("rbf_cka"))
    svcca = next(line for line in lines if line.startswith("svcca_mean_rho"))
    assert "bandwidth=1.0" in rbf
    assert "threshold=0.99, rule=variance, keep=None" in svcca


def test_usage_errors_are_one_line(runner, two_networks):
    path_a, _, _ = two_networks
    result = runner.invoke(main, ["compare", str(path_a)], prog_name="replens")
    assert result.exit_code == 2
    assert result.output.strip() == ("replens: error: Missing option '--out'. See 'replens compare --help'.")
    result = runner.invoke(main, ["--no-such-flag"], prog_name="replens")
    assert result.exit_code == 2
    assert result.output.strip() == "replens: error: No such option '--no-such-flag'. See 'replens --help'."


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["demo", "--seeds", "3", "pair"], r"--seeds applies to `replens demo` itself, not to `replens demo pair`"),
        (["demo", "--pretrained", "--conv", "mean_pool"], r"--conv applies to the sanity check, not to --pretrained"),
        (["demo", "--no-progress"], r"--progress applies to --pretrained only"),
        (["demo", "--quick", "--seeds", "3", "pair"], r"--quick and --seeds apply to `replens demo` itself"),
    ],
)
def test_demo_refuses_options_that_would_do_nothing(runner, tmp_path, arguments, message):
    result = runner.invoke(main, arguments if arguments[-1] == "pair"
                           else [*arguments, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert not (tmp_path / "o").exists()


def test_extract_batch_size_default_is_the_librarys():
    from replens.activations import DEFAULT_BATCH_SIZE
    from replens.cli.extract import extract_command

    option = next(param for param in extract_command.params if param.name == "batch_size")
    assert option.default == DEFAULT_BATCH_SIZE


def test_importing_the_zoo_imports_neither_torch_nor_sklearn():
    import subprocess
    import sys

    code = "import sys, replens.zoo; print(any(m.startswith(('torch', 'sklearn')) for m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
