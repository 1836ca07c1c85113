"""The reproduce framework: catalogue, claims, the files a run writes, the report, the CLI.

Every experiment itself runs (quick) in tests/test_reproduce_experiments.py; here the
framework is tested with the fastest one (kornblith2019-sanity, a few seconds) and with
hand-made outcomes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

import replens as rl  # noqa: E402
from replens.cli import main  # noqa: E402
from replens.errors import ReplensError, UnknownOptionError  # noqa: E402
from replens.report.html import write_report  # noqa: E402
from replens.reproduce import CLAIM_COLUMNS, Claim, experiments, run, write_index_report  # noqa: E402
from replens.reproduce.catalog import experiment_info  # noqa: E402
from replens.reproduce.claims import verdict  # noqa: E402

torch.set_num_threads(1)

IDS = ("raghu2017-learning-dynamics", "raghu2017-freeze-training", "morcos2018-coefficients",
       "morcos2018-signal-noise", "morcos2018-rnn-dynamics", "morcos2018-rnn-timesteps",
       "kornblith2019-sanity")


@pytest.fixture(scope="module")
def sanity_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    lines = []
    result = run("kornblith2019-sanity", out, quick=True, log=lines.append)
    return out, result, lines


@pytest.fixture(autouse=True)
def _zoo_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REPLENS_CACHE", str(tmp_path_factory.getbasetemp() / "zoo-cache"))


# ---------------------------------------------------------------- the catalogue


def test_catalogue_lists_the_issue_experiments_with_stable_ids():
    infos = experiments()
    ids = [info.id for info in infos]
    assert tuple(ids[: len(IDS)]) == IDS  # the first experiments keep their ids and order
    assert len(set(ids)) == len(ids)
    assert {info.entry for info in infos[: len(IDS)]} == {"S09", "S10", "P01", "P02", "P08", "P09", "K06"}
    for info in infos:
        assert 0 < info.minutes <= 5, info
        assert info.paper and info.section and info.claim
    assert rl.reproduce.experiments() == infos


def test_every_catalogue_module_exists_and_has_run():
    import importlib

    for info in experiments():
        module = importlib.import_module(f"replens.reproduce.{info.module}")
        assert callable(module.run)


def test_import_replens_reproduce_loads_no_torch():
    code = ("import sys, replens; replens.reproduce.experiments(); "
            "print('torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unknown_id_is_refused_naming_the_valid_ones(tmp_path):
    with pytest.raises(UnknownOptionError, match=r"unknown experiment 'nope'.*kornblith2019-sanity"):
        run("nope", tmp_path)
    with pytest.raises(UnknownOptionError, match="unknown experiment 'nope'"):
        run(["kornblith2019-sanity", "nope"], tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything ran
    with pytest.raises(UnknownOptionError, match="unknown experiment"):
        experiment_info("raghu2017")


def test_bad_id_and_quick_types_are_refused(tmp_path):
    with pytest.raises(ReplensError, match="id must be an experiment id, 'all', or a non-empty list"):
        run([], tmp_path)
    with pytest.raises(ReplensError, match="id must be an experiment id"):
        run(3, tmp_path)
    with pytest.raises(ReplensError, match="quick must be True or False; got 'yes'"):
        run("kornblith2019-sanity", tmp_path, quick="yes")


# ---------------------------------------------------------------- claims


def test_claim_refuses_an_unknown_verdict():
    with pytest.raises(UnknownOptionError, match="Claim.holds must be one of yes, partly, no; got 'maybe'"):
        Claim("X.y", "s", "p", "o", "maybe", "n")
    assert Claim("X.y", "s", "p", "o", "partly", "n").as_row()["holds"] == "partly"


def test_verdict():
    assert verdict(2, 2) == "yes" and verdict(0, 3) == "no" and verdict(1, 3) == "partly"
    with pytest.raises(ValueError, match="verdict needs 0 <= passed <= total"):
        verdict(3, 2)


# ---------------------------------------------------------------- files of one run


def test_run_writes_claims_settings_figures_and_report(sanity_run):
    out, result, _ = sanity_run
    folder = out / "kornblith2019-sanity"
    assert result.directory == folder
    claims = pd.read_csv(folder / "claims.csv", dtype=str, keep_default_na=False)
    assert tuple(claims.columns) == CLAIM_COLUMNS
    assert len(claims) == len(result.claims) >= 1
    assert set(claims.holds) <= {"yes", "partly", "no"}
    assert all(claims.note.str.len() > 0) and all(claims.ours.str.len() > 0)
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["quick"] is True and settings["experiment"] == "kornblith2019-sanity"
    assert 0 < settings["cpu_seconds"] < 30 and settings["seconds"] > 0
    assert {"numpy", "python", "replens"} <= set(settings["versions"])
    assert settings["figures"] and settings["seeds"]
    for entry in settings["figures"]:
        assert (folder / entry["file"]).read_bytes().startswith(b"\x89PNG")
    for entry in settings["tables"]:
        assert len(pd.read_csv(folder / entry["file"])) > 0
    assert set(result.files) == {folder / name for name in
                                 ["claims.csv", "settings.json"]
                                 + [e["file"] for e in settings["figures"] + settings["tables"]]}
    page = (out / "report.html").read_text()
    assert "kornblith2019-sanity" in page and "99.3 %" in page and "data:image/png;base64," in page


def test_run_logs_each_claim(sanity_run):
    _, result, lines = sanity_run
    assert any(line.startswith("kornblith2019-sanity: done in") for line in lines)
    assert any("K06.linear_cka: holds" in line for line in lines)
    assert result.holds("K06.linear_cka") in ("yes", "partly", "no")
    with pytest.raises(KeyError, match="no claim 'K06.x'"):
        result.holds("K06.x")


def test_sanity_cka_leads_the_cca_family_in_quick_mode(sanity_run):
    # robust: on the digits CNNs every CCA-family index scores near 0 (README, demo), CKA > 0.5
    _, result, _ = sanity_run
    assert result.holds("K06.linear_cka") == "yes"


def test_out_none_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("kornblith2019-sanity", None, quick=True)
    assert result.directory is None and result.files == () and not any(tmp_path.iterdir())
    assert result.outcome.figures


def test_index_report_gathers_every_experiment_in_the_folder(sanity_run, tmp_path):
    out, _, _ = sanity_run
    path = write_index_report(out)
    assert path == out / "report.html"
    with pytest.raises(ReplensError, match="no experiment results in"):
        write_index_report(tmp_path)


# ---------------------------------------------------------------- report images (html.py addition)


def test_write_report_embeds_images_and_refuses_non_png(tmp_path, sanity_run):
    out, _, _ = sanity_run
    png = next((out / "kornblith2019-sanity").glob("*.png")).read_bytes()
    path = write_report(tmp_path / "r.html", title="t", images=[("a curve", png)])
    page = path.read_text()
    assert 'id="figures"' in page and "a curve" in page
    with pytest.raises(ReplensError, match=r"images\[0\]\[1\] must be the bytes of a PNG file"):
        write_report(tmp_path / "s.html", title="t", images=[("x", b"GIF89a")])
    with pytest.raises(ReplensError, match=r"images must be a sequence of \(caption, PNG bytes\)"):
        write_report(tmp_path / "s.html", title="t", images="x.png")
    with pytest.raises(ReplensError, match=r"images\[0\] must be a \(caption, PNG bytes\) pair"):
        write_report(tmp_path / "s.html", title="t", images=[("x",)])


# ---------------------------------------------------------------- the command line


def test_cli_list():
    result = CliRunner().invoke(main, ["reproduce", "--list"])
    assert result.exit_code == 0
    for experiment_id in IDS:
        assert experiment_id in result.stdout
    assert "Raghu et al. 2017" in result.stdout and "[S09]" in result.stdout


def test_cli_runs_an_experiment(tmp_path):
    result = CliRunner().invoke(main, ["reproduce", "kornblith2019-sanity", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "K06.linear_cka" in result.stdout and str(tmp_path / "report.html") in result.stdout
    assert "reproduce done in" in result.stderr
    assert (tmp_path / "kornblith2019-sanity" / "claims.csv").is_file()


@pytest.mark.parametrize("argv, message", [
    (["reproduce"], "name one or more experiments, or all"),
    (["reproduce", "--list", "kornblith2019-sanity"], "--list takes no experiment ids"),
    (["reproduce", "nope", "--quick"], "unknown experiment 'nope'"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path):
    result = CliRunner().invoke(main, [*argv, "--out", str(tmp_path)] if "--list" not in argv else argv)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
