"""``replens sweep``: files or a TOML config, resume on rerun, refusal of a changed sweep."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import replens as rl
from replens.cli import main
from replens.sweeps.store import tile_path

torch.set_num_threads(1)


def _files(folder, count=3):
    rng = np.random.default_rng(5)
    paths = []
    for i in range(count):
        acts = {"fc1": rng.standard_normal((30, 4)), "fc2": rng.standard_normal((30, 3))}
        paths.append(str(rl.save_activations(folder / f"net{i}.npz", acts)))
    return paths


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_sweep_files_writes_values_and_resumes(tmp_path):
    paths = _files(tmp_path)
    store = tmp_path / "run"
    out = CliRunner().invoke(main, ["sweep", *paths, "--store", str(store), "-m", "linear_cka", "-m",
                                    "cca_mean_rho", "--layers", "matching", "--tile-models", "2"])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == str(store / "values.csv")
    rows = _rows(store / "values.csv")
    assert len(rows) == 2 * 9 * 2
    row = next(r for r in rows if r["model_a"] == "net0" and r["model_b"] == "net2" and r["layer_a"] == "fc2"
               and r["measure"] == "linear_cka")
    want = rl.cka(rl.load_activations(paths[0])["fc2"], rl.load_activations(paths[2])["fc2"])
    assert float(row["value"]) == pytest.approx(want, abs=1e-12)
    tile_path(store, 1).unlink()
    again = CliRunner().invoke(main, ["sweep", *paths, "--store", str(store), "-m", "linear_cka", "-m",
                                      "cca_mean_rho", "--layers", "matching", "--tile-models", "2"])
    assert again.exit_code == 0 and "computed 1 of 4 tiles" in again.stderr
    assert _rows(store / "values.csv") == rows
    changed = CliRunner().invoke(main, ["sweep", *paths, "--store", str(store), "--layers", "matching",
                                        "--tile-models", "2"])
    assert changed.exit_code == 2 and "replens: error: store" in changed.stderr and "measures: stored" in changed.stderr


def test_sweep_config_on_local_dask_workers(tmp_path):
    _files(tmp_path, 2)  # net0.npz, net1.npz, named by the config below
    config = tmp_path / "sweep.toml"
    config.write_text('measures = ["linear_cka"]\npairs = "upper"\n[models]\nalpha = "net0.npz"\nbeta = "net1.npz"\n')
    out = CliRunner().invoke(main, ["sweep", "--config", str(config), "--store", str(tmp_path / "run"),
                                    "--workers", "2"])
    assert out.exit_code == 0, out.output
    rows = _rows(tmp_path / "run" / "values.csv")
    assert {(r["model_a"], r["model_b"]) for r in rows} == {("alpha", "alpha"), ("alpha", "beta"), ("beta", "beta")}


def test_sweep_cli_errors(tmp_path):
    paths = _files(tmp_path, 2)
    runner = CliRunner()
    out = runner.invoke(main, ["sweep", *paths])
    assert out.exit_code == 2 and "missing --store DIR" in out.stderr
    out = runner.invoke(main, ["sweep", "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "no models" in out.stderr
    out = runner.invoke(main, ["sweep", *paths, "--store", str(tmp_path / "s"), "--workers", "2", "--scheduler", "x"])
    assert out.exit_code == 2 and "--scheduler or --workers, not both" in out.stderr
    out = runner.invoke(main, ["sweep", paths[0], paths[0], "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "two models are named 'net0'" in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("modles = []\n")
    out = runner.invoke(main, ["sweep", "--config", str(bad), "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "unknown keys ['modles']" in out.stderr
    bad.write_text("models = [\n")
    out = runner.invoke(main, ["sweep", "--config", str(bad), "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "is not valid TOML" in out.stderr
    good = tmp_path / "good.toml"
    good.write_text('models = ["net0.npz"]\n')
    out = runner.invoke(main, ["sweep", paths[1], "--config", str(good), "--store", str(tmp_path / "s")])
    assert out.exit_code == 2 and "either as MODELS or in --config, not both" in out.stderr
    out = runner.invoke(main, ["sweep", *paths, "--store", str(tmp_path / "s"), "--pairs", "some"])
    assert out.exit_code == 2 and "pairs" in out.stderr
