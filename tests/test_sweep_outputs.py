"""A sweep's output folder: tidy CSV, heatmaps, manifest and report, with compare's folder rules."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import replens as rl
from replens.cli import main
from replens.errors import ReplensError
from replens.report import write_sweep_outputs
from replens.report.sweep import SWEEP_OUTPUT_FORMAT

torch.set_num_threads(1)

_PNG = b"\x89PNG\r\n\x1a\n"


def _models(names=("net0", "net1", "net2")):
    rng = np.random.default_rng(3)
    return {name: {"fc1": rng.standard_normal((25, 4)), "fc2": rng.standard_normal((25, 3))} for name in names}


def _rows(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _result(tmp_path, models=None, **options):
    options = {"measures": ("linear_cka", "cca_mean_rho"), "layers": "matching", **options}
    return rl.sweep(models or _models(), store=tmp_path / "store", tile_models=2, **options).run()


def test_outputs_agree_with_the_result(tmp_path):
    res = _result(tmp_path)
    out = tmp_path / "out"
    written = write_sweep_outputs(res, out, {"store": str(tmp_path / "store"), "options": {"layers": "matching"}})
    names = sorted(path.name for path in written)
    assert names == ["heatmap_cca_mean_rho_fc1.png", "heatmap_cca_mean_rho_fc2.png", "heatmap_linear_cka_fc1.png",
                     "heatmap_linear_cka_fc2.png", "manifest.json", "report.html", "values.csv"]
    assert sorted(path.name for path in out.iterdir()) == names
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes().startswith(_PNG)
    data = res.to_xarray()
    rows = _rows(out / "values.csv")
    assert len(rows) == 2 * 3 * 3 * 2  # measures x models x models x matching layers
    for row in rows:
        expected = float(data.sel(measure=row["measure"], model_a=row["model_a"], model_b=row["model_b"],
                                  layer_a=row["layer_a"], layer_b=row["layer_b"]))
        assert float(row["value"]) == expected  # repr reads back to the same float64
    assert int(np.count_nonzero(~np.isnan(data.values))) == len(rows)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == SWEEP_OUTPUT_FORMAT and manifest["format_version"] == 1
    assert manifest["store"] == str(tmp_path / "store")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "3 models: net0, net1, net2" in page and "linear_cka, layer fc2" in page and "in process" in page
    # the report tables each heatmap's values: one entry of net1 vs net2 at fc1
    assert f"{data.sel(measure='linear_cka', model_a='net1', model_b='net2', layer_a='fc1', layer_b='fc1'):.4f}" in page


def test_cross_layer_pairs_get_one_heatmap_per_pair(tmp_path):
    res = _result(tmp_path, measures=("linear_cka",), layers=[("fc1", "fc2")])
    written = write_sweep_outputs(res, tmp_path / "out", {}, report=False)
    assert sorted(path.name for path in written) == ["heatmap_linear_cka_fc1_vs_fc2.png", "manifest.json",
                                                      "values.csv"]


def test_second_run_replaces_the_folder_whole(tmp_path):
    res = _result(tmp_path)
    out = tmp_path / "out"
    write_sweep_outputs(res, out, {"run": 1})
    (out / "heatmap_old_layer.png").write_bytes(_PNG)  # a stale heatmap of an earlier sweep
    (out / "notes.txt").write_text("mine")  # the user's file: kept
    write_sweep_outputs(res, out, {"run": 2}, report=False)
    assert not (out / "heatmap_old_layer.png").exists() and not (out / "report.html").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "manifest.json").read_text())["run"] == 2
    assert not [entry for entry in tmp_path.iterdir() if entry.name.startswith(".out.")]  # no temporary left


def test_foreign_folder_is_refused_before_any_work(tmp_path):
    res = _result(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(ReplensError, match="is not empty and was not written by replens"):
        write_sweep_outputs(res, foreign, {})
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    # the command refuses it before the store is made
    path = str(rl.save_activations(tmp_path / "a.npz", _models()["net0"]))
    out = CliRunner().invoke(main, ["sweep", path, "--store", str(tmp_path / "new_store"), "--out", str(foreign)])
    assert out.exit_code != 0 and "is not empty and was not written by replens" in out.stderr
    assert not (tmp_path / "new_store").exists()


def test_formula_model_name_is_neutralised(tmp_path):
    res = _result(tmp_path, models=_models(("=cmd", "net1")), measures=("linear_cka",))
    write_sweep_outputs(res, tmp_path / "out", {}, report=False)
    rows = _rows(tmp_path / "out" / "values.csv")
    assert {row["model_a"] for row in rows} == {"'=cmd", "net1"}
    assert {row["model_b"] for row in rows} == {"'=cmd", "net1"}


def test_cli_writes_the_report_into_the_store_by_default(tmp_path):
    models = _models()
    paths = [str(rl.save_activations(tmp_path / f"{name}.npz", acts)) for name, acts in models.items()]
    store = tmp_path / "run"
    args = ["sweep", *paths, "--store", str(store), "--layers", "matching", "--tile-models", "2"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == str(store / "values.csv")
    report = store / "report"
    assert _rows(report / "values.csv") == _rows(store / "values.csv")
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["store"] == str(store.resolve())
    assert {entry["model"] for entry in manifest["inputs"].values()} == {"net0", "net1", "net2"}
    assert all(len(entry["sha256"]) == 64 for entry in manifest["inputs"].values())
    assert manifest["options"]["layers"] == "matching" and manifest["tiles"]["total"] == 4
    assert "4 tiles, 4 computed in this run" in (report / "report.html").read_text(encoding="utf-8")
    again = CliRunner().invoke(main, args + ["--no-report"])
    assert again.exit_code == 0, again.output
    assert not (report / "report.html").exists()
    assert json.loads((report / "manifest.json").read_text())["tiles"]["computed_this_run"] == 0
    same = CliRunner().invoke(main, args + ["--out", str(store)])
    assert same.exit_code == 2 and "is the store; the outputs need a folder of their own" in same.stderr
