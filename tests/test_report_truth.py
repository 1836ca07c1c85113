"""The report tells the truth (issue 10, item 13).

Entries that Theorem 1 of the CKA paper makes uninformative (CCA family, rank A + rank B >
n - 1, also after SVCCA truncation) are recorded by compare, greyed and crossed in the
heatmaps, named in the CSV's flag column, marked in the report's values tables and explained
there; layer names are escaped text in those tables. Ranks are computed here independently
(numpy's matrix_rank of the centred layers, or of the SVCCA-kept directions).
"""

from __future__ import annotations

import csv
import html
import re
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import replens as rl
from replens.cli import main
from replens.report import write_outputs, write_report
from replens.report.html import UNINFORMATIVE_NOTE
from replens.results.matrix import UNINFORMATIVE_FLAG

CCA_FAMILY = ("cca_mean_rho", "cca_r2", "svcca_mean_rho", "svcca_r2", "pwcca")
XSS_NAME = "<script>alert(1)</script>"


def _quiet_compare(*args, **kwargs) -> rl.SimilarityMatrix:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        return rl.compare(*args, progress=False, **kwargs)


def _rank(x: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(x - x.mean(axis=0)))


def _layers(n: int, widths: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((n, width)) for name, width in widths.items()}


def _expected_mask(layers_a: dict, layers_b: dict, n: int) -> np.ndarray:
    return np.array([[_rank(a) + _rank(b) > n - 1 for b in layers_b.values()] for a in layers_a.values()])


# ---------------------------------------------------------------------------------------
# What compare records


@pytest.mark.parametrize("symmetric", [True, False])
def test_compare_flags_exactly_the_entries_theorem_1_forces(symmetric):
    n = 40
    layers_a = _layers(n, {"narrow": 6, "half": 20, "wide": 30}, seed=1)
    layers_b = layers_a if symmetric else _layers(n, {"b_narrow": 4, "b_wide": 36, "b_mid": 19}, seed=2)
    matrix = _quiet_compare(layers_a, None if symmetric else layers_b,
                            measures=("linear_cka", "cca_mean_rho", "cca_r2", "pwcca", "linear_regression_r2"))
    expected = _expected_mask(layers_a, layers_b, n)
    assert expected.any() and not expected.all()
    for label in ("cca_mean_rho", "cca_r2", "pwcca"):
        assert np.array_equal(matrix.uninformative_mask(label), expected), label
    for label in ("linear_cka", "linear_regression_r2"):  # not a CCA-family measure: never flagged here
        assert not matrix.uninformative_mask(label).any()
    assert set(matrix.attrs["uninformative"]) == {"cca_mean_rho", "cca_r2", "pwcca"}


def test_svcca_flags_use_the_ranks_after_truncation():
    n = 50
    rng = np.random.default_rng(3)
    latent = rng.standard_normal((n, 4))

    def layer(width: int) -> np.ndarray:  # 4 strong directions, the rest 1e-4 noise: rank width, 99 % in 4
        return latent @ rng.standard_normal((4, width)) + 1e-4 * rng.standard_normal((n, width))

    layers = {"a": layer(30), "b": layer(30)}
    matrix = _quiet_compare(layers, measures=("cca_mean_rho", "svcca_mean_rho",
                                              rl.measure("svcca_r2", keep=28)))
    assert _rank(layers["a"]) + _rank(layers["b"]) > n - 1
    assert matrix.uninformative_mask("cca_mean_rho").all()  # raw ranks 30 + 30 > 49
    assert not matrix.uninformative_mask("svcca_mean_rho").any()  # 99 % variance keeps 4 + 4 directions
    assert matrix.uninformative_mask("svcca_r2(keep=28)").all()  # 28 + 28 kept > 49: still forced


def test_dft_compare_flags_pairs_forced_at_some_frequency():
    rng = np.random.default_rng(4)
    wide = rng.standard_normal((20, 4, 4, 12))   # 12 + 12 channels > 19 at every frequency
    narrow = rng.standard_normal((20, 4, 4, 3))
    matrix = _quiet_compare({"wide": wide, "narrow": narrow}, measures=("cca_mean_rho",), conv="dft",
                            layout="NHWC")
    assert matrix.uninformative_mask("cca_mean_rho").tolist() == [[True, False], [False, False]]


def test_flags_survive_save_and_load(tmp_path):
    layers = _layers(30, {"x": 25, "y": 3}, seed=5)
    matrix = _quiet_compare(layers, measures=("pwcca",))
    loaded = rl.SimilarityMatrix.load(matrix.save(tmp_path / "m.npz"))
    assert np.array_equal(loaded.uninformative_mask("pwcca"), matrix.uninformative_mask("pwcca"))
    assert loaded.uninformative_mask("pwcca").tolist() == [[True, False], [False, False]]


def test_a_matrix_without_the_record_has_no_flags():
    matrix = rl.SimilarityMatrix(np.ones((1, 2, 2)), ("a", "b"), ("c", "d"), ("pwcca",))
    assert matrix.uninformative_mask("pwcca").tolist() == [[False, False], [False, False]]


# ---------------------------------------------------------------------------------------
# Heatmaps


def _crossed_cells(ax) -> set[tuple[int, int]]:
    return {(round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in ax.patches if p.get_hatch() == "xx"}


def test_heatmap_greys_and_crosses_the_flagged_cells_and_says_why():
    from matplotlib.figure import Figure

    layers = _layers(40, {"narrow": 6, "wide": 30, "wider": 35}, seed=6)
    matrix = _quiet_compare(layers, measures=("linear_cka", "pwcca"))
    mask = matrix.uninformative_mask("pwcca")
    ax = Figure().add_subplot()
    matrix.plot("pwcca", ax=ax)
    assert _crossed_cells(ax) == {tuple(int(v) for v in ij) for ij in np.argwhere(mask)}
    assert all(p.get_facecolor()[:3] == pytest.approx((0.62, 0.62, 0.62)) for p in ax.patches)
    assert "uninformative (rank A + rank B > n - 1)" in ax.get_title()
    ax = Figure().add_subplot()
    matrix.plot("linear_cka", ax=ax)
    assert not ax.patches and "uninformative" not in ax.get_title()


def test_heatmap_png_shows_grey_where_flagged(tmp_path):
    from PIL import Image

    layers = _layers(30, {"x": 25, "y": 2}, seed=7)
    matrix = _quiet_compare(layers, measures=("pwcca",))
    write_outputs(matrix, tmp_path, {}, report=False)
    flagged = np.asarray(Image.open(tmp_path / "heatmap_pwcca.png").convert("RGB"), dtype=int)
    plain = rl.SimilarityMatrix(matrix.values, matrix.layers_a, matrix.layers_b, matrix.measures,
                                {**matrix.attrs, "uninformative": {}})
    write_outputs(plain, tmp_path / "plain", {}, report=False)
    unflagged = np.asarray(Image.open(tmp_path / "plain" / "heatmap_pwcca.png").convert("RGB"), dtype=int)
    grey = lambda image: int(np.sum((np.ptp(image, axis=2) < 8) & (image[..., 0] > 120) & (image[..., 0] < 200)))
    assert grey(flagged) > grey(unflagged) + 500  # the crossed cell adds hundreds of grey pixels


# ---------------------------------------------------------------------------------------
# CSV and report from the command line: PWCCA on 300 sentences x 384 features


@pytest.fixture(scope="module")
def sentence_run(tmp_path_factory):
    """Like MiniLM's 384-wide hidden states on 300 sentences: PWCCA is 1.00 everywhere."""
    folder = tmp_path_factory.mktemp("truth")
    rng = np.random.default_rng(8)
    hidden = {f"layer{i}": rng.standard_normal((300, 384)).astype(np.float32) for i in range(3)}
    hidden[XSS_NAME] = rng.standard_normal((300, 16)).astype(np.float32)
    rl.save_activations(folder / "minilm.npz", hidden)
    result = CliRunner().invoke(main, ["compare", str(folder / "minilm.npz"), "-m", "pwcca", "-m", "linear_cka",
                                       "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return folder / "out", list(hidden)


def test_csv_flag_column_names_why_for_every_flagged_entry_and_only_those(sentence_run):
    out, names = sentence_run
    with open(out / "similarities.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["measure", "layer_a", "layer_b", "value", "flag"]
    assert len(rows) == 2 * len(names) ** 2
    for row in rows:
        # centred ranks: 384 features -> 299 (n - 1), 16 -> 16; only 16 + 16 <= n - 1
        forced = row["measure"] == "pwcca" and not (row["layer_a"] == row["layer_b"] == XSS_NAME)
        assert row["flag"] == (UNINFORMATIVE_FLAG if forced else ""), row
    assert "Theorem 1" in UNINFORMATIVE_FLAG and "rank A + rank B > n - 1" in UNINFORMATIVE_FLAG


def _values_tables(text: str) -> list[str]:
    return re.findall(r'<figure class="values">.*?</figure>', text, flags=re.S)


def test_report_explains_the_mark_and_shows_values_tables_beside_the_images(sentence_run):
    out, names = sentence_run
    text = (out / "report.html").read_text(encoding="utf-8")
    assert html.escape(UNINFORMATIVE_NOTE) in text
    entries = re.findall(r'<div class="matrix-entry"><figure class="heatmap"><img [^>]*>.*?</figure>'
                         r'<figure class="values">', text, flags=re.S)
    assert len(entries) == 2  # each heatmap with its table beside it
    pwcca, cka = _values_tables(text)
    assert pwcca.count('class="num uninformative"') == len(names) ** 2 - 1
    assert pwcca.count("\N{DAGGER}</td>") == len(names) ** 2 - 1
    assert "15 of 16 entries uninformative" in pwcca
    assert "uninformative" not in cka


def test_values_tables_hold_every_value_and_escape_the_layer_names(sentence_run):
    out, names = sentence_run
    text = (out / "report.html").read_text(encoding="utf-8")
    matrix = rl.SimilarityMatrix.load(out / "similarities.npz")
    assert re.search(r"<script", text, re.IGNORECASE) is None
    for table, measure in zip(_values_tables(text), matrix.measures):
        headers = re.findall(r'<th scope="col" class="num">(.*?)</th>', table)
        rows = re.findall(r'<th scope="row">(.*?)</th>', table)
        assert headers == rows == [html.escape(name) for name in names]
        cells = [float(c.rstrip("\N{DAGGER}")) for c in re.findall(r'<td class="num[^"]*"[^>]*>(.*?)</td>', table)]
        assert np.allclose(cells, matrix[measure].ravel(), atol=5e-5, rtol=0)


def test_write_report_without_value_tables_keeps_its_layout(tmp_path):
    layers = _layers(30, {"x": 25, "y": 2}, seed=9)
    matrix = _quiet_compare(layers, measures=("pwcca",))
    path = write_report(tmp_path / "r.html", title="t", matrices=[("pwcca", matrix, "pwcca")])
    text = path.read_text(encoding="utf-8")
    assert not _values_tables(text) and "matrix-entry" not in text and "uninformative-note" not in text
    with pytest.raises(rl.ReplensError, match=r"value_tables must be True or False; got str \('yes'\)"):
        write_report(tmp_path / "s.html", title="t", matrices=[("pwcca", matrix, "pwcca")], value_tables="yes")
    assert not (tmp_path / "s.html").exists()
