"""The CKA paper's sanity check (replens.demo.sanity): the accuracy function on synthetic
matrices, toy zoos whose answer is known, and the quick end-to-end run on digits."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

import replens as rl
from replens.demo.sanity import (
    CSV_COLUMNS,
    PAPER_TABLE2,
    format_sanity_table,
    identification_accuracy,
    run_sanity_check,
    symmetrise,
    write_sanity_csv,
    zoo_accuracy,
)
from replens.zoo import build_cnn, layer_activations

torch.set_num_threads(1)

MEASURES = [info.name for info in rl.measures() if info.builtin]


@pytest.fixture(scope="module")
def quick_result():
    return run_sanity_check(quick=True)


# ---------------------------------------------------------------- the accuracy function


def test_identity_is_always_right_and_a_shift_never():
    assert identification_accuracy([np.eye(4), 2 * np.eye(4) + 0.5]) == 1.0
    shifted = np.roll(np.eye(4), 1, axis=1)
    assert identification_accuracy(shifted) == 0.0


def test_accuracy_counts_rows_over_all_pairs():
    one_wrong = np.array([[0.2, 0.9, 0.1], [0.1, 0.8, 0.3], [0.0, 0.1, 0.7]])
    assert identification_accuracy([one_wrong]) == pytest.approx(2 / 3)
    assert identification_accuracy([one_wrong, np.eye(3)]) == pytest.approx(5 / 6)


def test_ties_share_the_credit():
    assert identification_accuracy(np.ones((3, 3))) == pytest.approx(1 / 3)
    half = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert identification_accuracy(half) == pytest.approx(0.75)


def test_nan_never_wins_and_warns():
    matrix = np.array([[np.nan, 0.5], [0.1, 0.9]])
    with pytest.warns(RuntimeWarning, match="1 similarity values are NaN"):
        assert identification_accuracy(matrix) == 0.5


@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.ones(3), np.ones((0, 0))])
def test_accuracy_rejects_non_square(bad):
    with pytest.raises(ValueError, match="must be a non-empty square"):
        identification_accuracy([bad])


def test_accuracy_rejects_empty():
    with pytest.raises(ValueError, match="similarities is empty"):
        identification_accuracy([])


def test_symmetrise_is_s_plus_s_transpose():
    rng = np.random.default_rng(0)
    s = rng.random((4, 4))
    np.testing.assert_array_equal(symmetrise(s, s), s + s.T)


def test_symmetrise_fixes_an_asymmetric_measure():
    # forward[a, b] = s(a of i, b of j): layer 0 of i prefers layer 1 of j ...
    forward = np.array([[0.5, 0.6], [0.1, 0.9]])
    # ... but backward[b, a] = s(b of j, a of i) says strongly that 0 matches 0.
    backward = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert identification_accuracy(forward) == 0.5
    both = symmetrise(forward, backward)
    np.testing.assert_allclose(both, [[1.4, 0.8], [0.2, 1.7]])
    assert identification_accuracy(both) == 1.0


def test_symmetrise_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="transposed shape"):
        symmetrise(np.ones((2, 3)), np.ones((2, 3)))


# ---------------------------------------------------------------- toy zoos


def _base_layers(rng, n=300):
    """Five distinct layers: independent data of different widths, one of them 4-D (NCHW)."""
    widths = (12, 8, 16, 6, 10)
    layers = [(f"l{k}", rng.standard_normal((n, p)) * np.linspace(1.0, 3.0, p))
              for k, p in enumerate(widths)]
    conv = rng.standard_normal((n, 2, 3, 3))
    return layers[:2] + [("conv", conv)] + layers[2:]


def _rotated(layers, rng, scale=1.0):
    """Each layer times a random orthogonal matrix (4-D layers in flattened space)."""
    out = []
    for name, array in layers:
        flat = array.reshape(array.shape[0], -1)
        q, _ = np.linalg.qr(rng.standard_normal((flat.shape[1], flat.shape[1])))
        out.append((name, (scale * flat @ q).reshape(array.shape)))
    return out


def test_toy_zoo_of_copies_and_rotations_is_identified_perfectly():
    rng = np.random.default_rng(1)
    base = _base_layers(rng)
    zoo = [base, [(name, array.copy()) for name, array in base], _rotated(base, rng),
           _rotated(base, rng, scale=2.5)]
    accuracy = zoo_accuracy(zoo)
    assert set(accuracy) == set(MEASURES)
    for measure in ("linear_cka", "cca_mean_rho", "rbf_cka", "cca_r2", "pwcca",
                    "linear_regression_r2", "svcca_mean_rho"):
        assert accuracy[measure] == 1.0, measure


def test_toy_zoo_with_layers_out_of_order_fails():
    rng = np.random.default_rng(2)
    base = _base_layers(rng)
    shuffled = [(name, array) for name, array in base[1:] + base[:1]]
    accuracy = zoo_accuracy([base, shuffled], ("linear_cka", "cca_mean_rho"))
    assert accuracy == {"linear_cka": 0.0, "cca_mean_rho": 0.0}


def test_zoo_accuracy_needs_equal_architectures():
    rng = np.random.default_rng(3)
    base = _base_layers(rng)
    with pytest.raises(ValueError, match="at least 2 networks"):
        zoo_accuracy([base])
    with pytest.raises(ValueError, match="same number of layers"):
        zoo_accuracy([base, base[:-1]])


# ---------------------------------------------------------------- the zoo's layers


def test_cnn_layers_are_nchw_in_layer_order():
    torch.manual_seed(0)
    model = build_cnn((4, 6), 10, strides=(2, 1))
    layers = layer_activations(model, np.zeros((5, 64), dtype=np.float32))
    assert [name for name, _ in layers] == ["relu1", "relu2"]
    assert [a.shape for _, a in layers] == [(5, 4, 4, 4), (5, 6, 4, 4)]


# ---------------------------------------------------------------- the quick run on digits


def test_quick_run_has_every_measure_for_both_architectures(quick_result):
    table = quick_result.table
    assert set(table.architecture) == {"mlp", "cnn"}
    for architecture in ("mlp", "cnn"):
        rows = table[table.architecture == architecture]
        assert list(rows.measure) == MEASURES
        assert rows.accuracy.between(0.0, 1.0).all()
        assert rows.near_accuracy.ge(rows.accuracy).all()
    networks = quick_result.networks
    assert (networks.groupby("architecture").size() >= 2).all()
    assert networks.test_accuracy.gt(0.5).all()


def test_quick_run_sets_the_paper_numbers_beside_ours(quick_result):
    table = quick_result.table.set_index(["architecture", "measure"])
    assert table.loc[("cnn", "linear_cka"), "paper_accuracy"] == pytest.approx(0.993)
    assert table.loc[("cnn", "cca_mean_rho"), "paper_accuracy"] == pytest.approx(0.014)
    assert table.loc[("mlp", "rbf_cka"), "paper_row"] == "CKA (RBF 0.8)"
    paper = table.loc[("cnn", "debiased_linear_cka"), "paper_accuracy"]
    assert paper is None or math.isnan(paper)
    assert set(PAPER_TABLE2) == set(MEASURES)


def test_quick_run_keeps_mean_matrices_and_notes(quick_result):
    for architecture, n_layers in (("mlp", 8), ("cnn", 6)):
        matrix = quick_result.mean_matrices[architecture]
        assert isinstance(matrix, rl.SimilarityMatrix)
        assert matrix.values.shape == (len(MEASURES), n_layers, n_layers)
        assert np.isfinite(matrix.values).all()
    assert "mlp:" in quick_result.notes and "cnn:" in quick_result.notes
    assert "CCA" in quick_result.notes


def test_quick_run_is_deterministic(quick_result):
    again = run_sanity_check(quick=True)
    pd.testing.assert_frame_equal(quick_result.table, again.table)
    pd.testing.assert_frame_equal(quick_result.networks, again.networks)
    for architecture, matrix in quick_result.mean_matrices.items():
        np.testing.assert_array_equal(matrix.values, again.mean_matrices[architecture].values)


def test_csv_has_the_right_columns_and_the_cnn_rows(quick_result, tmp_path):
    path = write_sanity_csv(quick_result, tmp_path / "out")
    assert path == tmp_path / "out" / "sanity_check.csv"
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert tuple(rows[0]) == CSV_COLUMNS == ("measure", "accuracy", "paper_accuracy", "architecture")
    assert len(rows) == 2 * len(MEASURES)
    cnn = [row for row in rows if row["architecture"] == "cnn"]
    assert [row["measure"] for row in cnn] == MEASURES
    assert all(0.0 <= float(row["accuracy"]) <= 1.0 for row in rows)
    debiased = next(row for row in cnn if row["measure"] == "debiased_linear_cka")
    assert debiased["paper_accuracy"] == ""
    assert [p.name for p in path.parent.iterdir()] == ["sanity_check.csv"]  # no temporary left


def test_csv_to_an_explicit_file_name(quick_result, tmp_path):
    path = write_sanity_csv(quick_result, tmp_path / "table.csv")
    assert path == tmp_path / "table.csv" and path.exists()


def test_format_table_shows_ours_and_the_papers(quick_result):
    text = format_sanity_table(quick_result)
    assert text.startswith("mlp:") and "\ncnn:" in text
    assert all(measure in text for measure in MEASURES)
    assert "0.993" in text and "CKA (Linear)" in text and "(not in the paper)" in text


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": 1}, "seeds must be an int >= 2"),
    ({"conv": "dft"}, "conv must be 'flatten' or 'mean_pool'"),
    ({"architectures": ("resnet",)}, "architectures must be"),
])
def test_bad_options_raise_before_training(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_sanity_check(**kwargs)
