"""Never delete what replens did not write (issue 10, item 1).

``overwrite=True`` / ``--overwrite`` replace only a folder whose manifest carries a replens
format tag and version (a cache or a comparison's output); ``compare --out`` replaces an
earlier output whole and refuses anything else that is not empty."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import _trust_models
from replens.activations import ActivationCache, extract_to_cache, save_activations
from replens.cli import main
from replens.errors import ReplensError
from replens.report.bundle import check_output_folder

torch.set_num_threads(1)
SPECS = {"x": ((2,), "float32")}
FOREIGN = {
    "no manifest": ({"thesis.tex": "precious"}, r"it has no manifest\.json"),
    "manifest not JSON": ({"manifest.json": "name: my project"}, r"its manifest\.json is not JSON"),
    "no replens tag": ({"manifest.json": json.dumps({"name": "npm package", "version": 3})},
                       r"its manifest\.json has no replens format tag \(format: None\)"),
    "another tool's tag": ({"manifest.json": json.dumps({"format": "other.cache", "format_version": 1})},
                           r"its manifest\.json has no replens format tag \(format: 'other\.cache'\)"),
    "a tag but no version": ({"manifest.json": json.dumps({"format": "replens.activation_cache"}), "data.bin": "x"},
                             r"its manifest\.json has no format_version \(got None\)"),
}


def make(folder: Path, files: dict[str, str]) -> dict[str, str]:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def unchanged(folder: Path, files: dict[str, str]) -> bool:
    return sorted(p.name for p in folder.iterdir()) == sorted(files) and all(
        (folder / name).read_text() == text for name, text in files.items())


@pytest.mark.parametrize("case", FOREIGN)
def test_overwrite_refuses_a_foreign_folder_naming_what_makes_it_foreign(tmp_path, case):
    files, reason = FOREIGN[case]
    folder = tmp_path / "mine"
    make(folder, files)
    with pytest.raises(ReplensError, match=rf"'.*mine' is not a replens folder: {reason}\. overwrite=True only "
                                           rf"replaces an activation cache or a replens output"):
        ActivationCache.create(folder, SPECS, n_examples=2, overwrite=True)
    with pytest.raises(ReplensError, match=rf"is not a replens folder: {reason}\. overwrite only replaces"):
        extract_to_cache(_trust_models.SlowMLP(), _trust_models.inputs(4), folder, overwrite=True, progress=False)
    assert unchanged(folder, files)


def test_cli_overwrite_refuses_a_foreign_folder_before_any_work(tmp_path, monkeypatch):
    files = make(tmp_path / "mine", {"notes.txt": "keep"})
    np.save(tmp_path / "x.npy", _trust_models.inputs())
    loaded = []
    monkeypatch.setattr("replens.cli.extract.load_model", lambda *a, **k: loaded.append(1))
    result = CliRunner().invoke(main, ["extract", "_trust_models:slow_mlp", str(tmp_path / "x.npy"), "--out",
                                       str(tmp_path / "mine"), "--overwrite"])
    assert result.exit_code == 2
    assert "is not a replens folder: it has no manifest.json. --overwrite only replaces" in result.stderr
    assert loaded == [] and unchanged(tmp_path / "mine", files)


def test_overwrite_replaces_a_cache_an_output_or_an_empty_folder(tmp_path):
    ActivationCache.create(tmp_path / "cache", SPECS, n_examples=2).close()
    rng = np.random.default_rng(0)
    save_activations(tmp_path / "a.npz", {"l": rng.standard_normal((20, 3))})
    assert CliRunner().invoke(main, ["compare", str(tmp_path / "a.npz"), "--out", str(tmp_path / "output"),
                                     "--no-report"]).exit_code == 0
    (tmp_path / "empty").mkdir()
    for name in ("cache", "output", "empty"):
        cache = ActivationCache.create(tmp_path / name, {"new": ((1,), "float64")}, n_examples=3, overwrite=True)
        cache.close()
        assert ActivationCache.open(tmp_path / name).layers == ("new",)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["layer_0.npy", "manifest.json"]


def compare(tmp_path: Path, out: Path, *measures: str):
    rng = np.random.default_rng(0)
    path = save_activations(tmp_path / "a.npz", {"l1": rng.standard_normal((30, 4)), "l2": rng.standard_normal((30, 2))})
    arguments = ["compare", str(path), "--out", str(out), "--no-report"]
    for measure in measures:
        arguments += ["-m", measure]
    return CliRunner().invoke(main, arguments)


def test_compare_out_replaces_an_earlier_output_whole(tmp_path):
    out = tmp_path / "out"
    assert compare(tmp_path, out, "linear_cka", "cca_mean_rho").exit_code == 0
    assert (out / "heatmap_cca_mean_rho.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "replens.comparison" and manifest["format_version"] == 1
    result = compare(tmp_path, out, "linear_cka")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["heatmap_linear_cka.png", "manifest.json", "similarities.csv",
                                                     "similarities.npz"]  # no stale cca heatmap
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))] == []


def test_an_interrupted_compare_leaves_the_earlier_output_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert compare(tmp_path, out, "linear_cka").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("replens.report.bundle._heatmap_png", fail)
    assert compare(tmp_path, out, "linear_cka", "pwcca").exit_code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))] == []


@pytest.mark.parametrize("case", FOREIGN)
def test_compare_out_refuses_a_foreign_non_empty_folder(tmp_path, case):
    files, reason = FOREIGN[case]
    make(tmp_path / "out", files)
    result = compare(tmp_path, tmp_path / "out", "linear_cka")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "is not empty and was not written by replens" in result.stderr
    assert unchanged(tmp_path / "out", files)


def test_compare_out_refuses_a_cache_and_a_file_and_takes_an_empty_folder(tmp_path):
    ActivationCache.create(tmp_path / "cache", SPECS, n_examples=2).close()
    with pytest.raises(ReplensError, match=r"is an activation cache; writing a comparison there would delete"):
        check_output_folder(tmp_path / "cache")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReplensError, match=r"is a file; --out \(out_dir\) takes a folder"):
        check_output_folder(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    assert compare(tmp_path, tmp_path / "empty", "linear_cka").exit_code == 0
    assert compare(tmp_path, tmp_path / "new" / "deeper", "linear_cka").exit_code == 0


def test_caches_inside_an_output_folder_are_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ActivationCache.create(out / "activations", SPECS, n_examples=2).close()  # as the pretrained demo does
    assert compare(tmp_path, out, "linear_cka", "cca_mean_rho").exit_code == 0
    assert compare(tmp_path, out, "linear_cka").exit_code == 0
    assert not (out / "heatmap_cca_mean_rho.png").exists()
    assert ActivationCache.open(out / "activations", allow_incomplete=True).layers == ("x",)


def test_files_replens_did_not_write_survive_in_an_earlier_output(tmp_path):
    out = tmp_path / "out"
    assert compare(tmp_path, out, "linear_cka", "cca_mean_rho").exit_code == 0
    (out / "notes.txt").write_text("my notes")
    (out / "heatmap_from_an_older_run.png").write_bytes(b"stale")
    assert compare(tmp_path, out, "linear_cka").exit_code == 0
    assert (out / "notes.txt").read_text() == "my notes"
    assert not (out / "heatmap_from_an_older_run.png").exists() and not (out / "heatmap_cca_mean_rho.png").exists()


def test_an_output_folder_is_not_an_activation_cache(tmp_path):
    out = tmp_path / "out"
    assert compare(tmp_path, out, "linear_cka").exit_code == 0
    result = CliRunner().invoke(main, ["compare", str(out), "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2 and "is a replens.comparison folder written by replens" in result.stderr


def test_a_manifest_that_is_a_folder_is_foreign(tmp_path):
    (tmp_path / "odd" / "manifest.json").mkdir(parents=True)
    with pytest.raises(ReplensError, match=r"is not a replens folder: its manifest\.json is a folder\."):
        ActivationCache.create(tmp_path / "odd", SPECS, n_examples=2, overwrite=True)
    assert (tmp_path / "odd" / "manifest.json").is_dir()
