"""``replens compare`` with statistics: CSV columns, hatched heatmaps, the report's null and correction."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import replens as rl
from replens.activations.files import save_activations
from replens.cli import main


@pytest.fixture()
def networks(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    a = {"first": x, "noise": rng.standard_normal((40, 4))}
    b = {"copy": x @ rng.standard_normal((5, 5)) + 0.3 * rng.standard_normal((40, 5))}
    return save_activations(tmp_path / "a.npz", a), save_activations(tmp_path / "b.npz", b), a, b


def test_compare_with_statistics_writes_columns_marks_and_report(networks, tmp_path):
    path_a, path_b, a, b = networks
    groups = tmp_path / "labels.npy"
    np.save(groups, np.repeat(np.arange(20), 2))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(path_a), str(path_b), "--permutations", "49", "--bootstrap",
                                       "30", "--jackknife", "--seed", "3", "--groups", str(groups), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "similarities.csv")
    assert list(table.columns)[:9] == ["measure", "layer_a", "layer_b", "value", "pvalue", "pvalue_corrected",
                                       "ci_low", "ci_high", "se"]
    expected = rl.stats.compare(a, b, n_permutations=49, n_resamples=30, jackknife=True, seed=3,
                                groups=np.repeat(np.arange(20), 2))
    np.testing.assert_allclose(table["pvalue_corrected"], expected.pvalues_corrected.ravel())
    np.testing.assert_allclose(table["se"], expected.se.ravel())
    first, noise = table.set_index("layer_a").loc["first"], table.set_index("layer_a").loc["noise"]
    assert first["pvalue_corrected"] == 0.02 and noise["pvalue_corrected"] > 0.05
    html = (out / "report.html").read_text()
    assert "49 permutations of the examples of B, whole groups exchanged" in html
    assert "Westfall-Young maxT" in html and "not whether two networks compute the same thing" in html
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["statistics"]["n_permutations"] == 49
    loaded = rl.SimilarityMatrix.load(out / "similarities.npz")
    np.testing.assert_array_equal(loaded.pvalues, expected.pvalues)


def test_heatmaps_hatch_entries_that_are_not_significant(networks):
    _, _, a, b = networks
    s = rl.stats.compare(a, b, n_permutations=49)
    fig, ax = s.plot()
    hatched = [patch for patch in ax.patches if patch.get_hatch() == "///"]
    assert len(hatched) == int(np.sum(s.pvalues_corrected > 0.05)) == 1
    assert "hatched: corrected p > 0.05 (maxT)" in ax.get_title()
    plain_fig, plain_ax = rl.stats.compare(a, b, jackknife=True).plot()
    assert not [patch for patch in plain_ax.patches if patch.get_hatch() == "///"]
    assert ax.get_title().startswith("linear_cka\n")


def test_compare_without_statistics_keeps_the_plain_csv(networks, tmp_path):
    path_a, path_b, _, _ = networks
    result = CliRunner().invoke(main, ["compare", str(path_a), str(path_b), "--out", str(tmp_path / "o"), "--no-report"])
    assert result.exit_code == 0, result.output
    columns = list(pd.read_csv(tmp_path / "o" / "similarities.csv").columns)
    assert columns[:4] == ["measure", "layer_a", "layer_b", "value"] and "pvalue" not in columns


@pytest.mark.parametrize("extra, message", [
    (["--permutations", "-1"], "Invalid value for '--permutations': -1 is not in the range x>=0"),
    (["--bootstrap", "1"], "Invalid value for '--bootstrap': must be 0 (no bootstrap) or at least 2"),
    (["--jackknife", "--confidence", "95"], "Invalid value for '--confidence'"),
    (["--permutations", "10", "--groups", "missing.npy"], "no such groups file: missing.npy"),
    (["--jackknife", "--groups", "{short}"], "one integer label per example"),
    (["--permutations", "10", "--correction", "bonf"], "Invalid value for '--correction'"),
])
def test_statistics_errors_are_one_line(networks, tmp_path, extra, message):
    path_a, _, _, _ = networks
    short = tmp_path / "short.npy"
    np.save(short, np.arange(3))
    args = ["compare", str(path_a), "--out", str(tmp_path / "o")] + [e.replace("{short}", str(short)) for e in extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("replens: error:")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_a_fifo_as_groups_is_refused_without_blocking(networks, tmp_path):
    path_a, _, _, _ = networks
    fifo = tmp_path / "labels.npy"
    os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["compare", str(path_a), "--out", str(tmp_path / "o"), "--permutations", "10",
                                       "--groups", str(fifo)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("replens: error:")]
    assert len(errors) == 1 and "is a FIFO (named pipe), not a regular file" in errors[0], result.output
