"""The direction analyses (issue 13) on synthetic data with a known answer.

A planted k-dimensional shared subspace (synthetic_shared_pair, rsm_eigen_action,
pc_alignment), a linear network whose compression is exact (compress), a class logit built
from known features (class_sensitivity), a layer whose output lives in k dimensions
(accuracy_vs_directions), and the invariances and endpoints the papers state.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import replens as rl
from replens.errors import DegenerateInputError, ShapeError, UnknownOptionError

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


# ---------------------------------------------------------------- synthetic_shared_pair


def test_synthetic_pair_plants_exactly_d_signal_shared_directions():
    X, Y = rl.analyses.synthetic_shared_pair(2000, 4, 6, noise_var=0.05, seed=1)
    assert X.shape == Y.shape == (2000, 10)
    rho = rl.cca(X, Y).rho
    assert np.all(rho[:4] > 0.999) and np.all(rho[4:] < 0.15)
    X2, Y2 = rl.analyses.synthetic_shared_pair(2000, 4, 6, noise_var=0.05, seed=1)
    assert np.array_equal(X, X2) and np.array_equal(Y, Y2)


def test_synthetic_pair_options_noise_x_and_mixing():
    X, Y = rl.analyses.synthetic_shared_pair(500, 3, 5, d_noise_x=0, mixing="none", seed=0)
    assert X.shape == (500, 3) and Y.shape == (500, 8)
    assert np.array_equal(X, Y[:, :3])  # unmixed: the signal is the first d_signal neurons of both
    assert np.isclose(Y[:, 3:].var(), 0.1, rtol=0.1)
    Xo, _ = rl.analyses.synthetic_shared_pair(500, 3, 5, mixing="orthogonal", seed=0)
    Xn, _ = rl.analyses.synthetic_shared_pair(500, 3, 5, mixing="none", seed=0)
    assert np.isclose(np.sum(Xo**2), np.sum(Xn**2))  # orthogonal mixing keeps the variance


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n": 0}, "n must be a positive integer"),
    ({"d_noise": -1}, "d_noise must be a non-negative integer"),
    ({"noise_var": 0.0}, "noise_var must be a finite number > 0"),
    ({"mixing": "rotate"}, "mixing must be one of 'orthogonal', 'gaussian', 'none'"),
    ({"d_noise_x": 1.5}, "d_noise_x must be a non-negative integer"),
])
def test_synthetic_pair_rejects_bad_options(kwargs, match):
    options = {"n": 100, "d_signal": 2, "d_noise": 3, **kwargs}
    with pytest.raises(UnknownOptionError, match=match):
        rl.analyses.synthetic_shared_pair(**options)


# ---------------------------------------------------------------- rsm_eigen_action


def test_eigen_action_finds_the_planted_shared_dimension():
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((600, 5)) * np.array([5.0, 4.5, 4.0, 3.5, 3.0])
    X = np.c_[shared, rng.standard_normal((600, 20))]
    Y = np.c_[shared @ np.linalg.qr(rng.standard_normal((5, 5)))[0], rng.standard_normal((600, 20))]
    e = rl.analyses.rsm_eigen_action(X, Y)
    assert e.shared_dim() == 5
    assert np.all(e.cosine[:5] > 0.9) and np.all(e.cosine[5:] < 0.7)
    assert np.all(np.diff(e.eigenvalues) <= 1e-9)


def test_eigen_action_against_a_direct_n_by_n_computation():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((40, 6)), rng.standard_normal((40, 9))
    e = rl.analyses.rsm_eigen_action(X, Y, k=4)
    xc, yc = X - X.mean(0), Y - Y.mean(0)
    lam, vec = np.linalg.eigh(xc @ xc.T)
    u = vec[:, ::-1][:, :4]
    action = yc @ yc.T @ u
    assert np.allclose(e.eigenvalues, lam[::-1][:4])
    assert np.allclose(e.scale_by_y, np.linalg.norm(action, axis=0))
    assert np.allclose(e.cosine, np.sum(u * action, 0) / np.linalg.norm(action, axis=0))
    # CKA eq. 14: linear CKA from the eigen action of the full spectrum
    full = rl.analyses.rsm_eigen_action(X, Y)
    cka = np.sum(full.eigenvalues * full.cosine * full.scale_by_y) / (
        np.linalg.norm(xc @ xc.T) * np.linalg.norm(yc @ yc.T))
    assert np.isclose(cka, rl.cka(X, Y), atol=1e-12)


def test_eigen_action_errors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    with pytest.raises(UnknownOptionError, match="k must be at most the rank of centred X, 4"):
        rl.analyses.rsm_eigen_action(X, X, k=5)
    with pytest.raises(DegenerateInputError, match="X has no variance after centring"):
        rl.analyses.rsm_eigen_action(np.ones((30, 4)), X)
    with pytest.raises(UnknownOptionError, match="cos_tol must be"):
        rl.analyses.rsm_eigen_action(X, X).shared_dim(cos_tol=2.0)
    with pytest.raises(ShapeError, match="same number of examples"):
        rl.analyses.rsm_eigen_action(X, X[:20])


# ---------------------------------------------------------------- pc_alignment


def test_pc_alignment_of_shared_large_components_and_unrelated_data():
    rng = np.random.default_rng(0)
    large = rng.standard_normal((500, 3)) * 10
    X = np.c_[large, rng.standard_normal((500, 12))] @ np.linalg.qr(rng.standard_normal((15, 15)))[0]
    Y = np.c_[large @ np.linalg.qr(rng.standard_normal((3, 3)))[0], rng.standard_normal((500, 8))]
    a = rl.analyses.pc_alignment(X, Y, k=3)
    assert a.k == 3 and a.correlation.shape == (3, 3)
    assert np.all(a.cosines > 0.995) and np.all(a.angles < 0.1)
    unrelated = rl.analyses.pc_alignment(rng.standard_normal((500, 15)), Y, k=3)
    assert unrelated.cosines[0] < 0.3
    same = rl.analyses.pc_alignment(X, X @ rng.standard_normal((15, 15)) * 0 + X, k=5)
    assert np.allclose(same.cosines, 1.0)


def test_pc_alignment_k_beyond_rank():
    X = np.random.default_rng(0).standard_normal((50, 4))
    with pytest.raises(UnknownOptionError, match=r"k must be at most the smaller numerical rank .* 4"):
        rl.analyses.pc_alignment(X, X, k=5)


# ---------------------------------------------------------------- invariance_check


def test_invariance_table_rows_match_kornblith_table_1():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    Y = np.tanh(X @ rng.standard_normal((6, 5))) + 0.3 * rng.standard_normal((200, 5))
    cca = rl.analyses.invariance_check("cca_mean_rho", X, Y)
    assert all(cca.invariant(1e-8).values()), cca.deviations
    cka = rl.analyses.invariance_check("linear_cka", X, Y)
    assert cka.invariant(1e-8) == {"permutation": True, "orthogonal": True, "isotropic": True,
                                   "anisotropic": False, "invertible": False, "translation": True}
    assert cka.deviations["invertible"] > 1e-3
    hsic = rl.analyses.invariance_check("linear_hsic", X, Y)
    assert not hsic.invariant()["isotropic"] and hsic.invariant()["orthogonal"]
    lr = rl.analyses.invariance_check("linear_regression_r2", X, Y, side="y", transforms=["invertible"])
    assert lr.invariant() == {"invertible": True} and lr.side == "y"
    lr_x = rl.analyses.invariance_check("linear_regression_r2", X, Y, side="x", transforms=["invertible"])
    assert lr_x.deviations["invertible"] > 1e-3


def test_invariance_check_errors():
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(UnknownOptionError, match="transforms must be one of"):
        rl.analyses.invariance_check("linear_cka", X, X, transforms=["shear"])
    with pytest.raises(UnknownOptionError, match="transforms must be a non-empty sequence"):
        rl.analyses.invariance_check("linear_cka", X, X, transforms="orthogonal")
    with pytest.raises(UnknownOptionError, match="side must be one of"):
        rl.analyses.invariance_check("linear_cka", X, X, side="left")
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative integer"):
        rl.analyses.invariance_check("linear_cka", X, X, seed=-1)


# ---------------------------------------------------------------- canonical_ridge


def test_canonical_ridge_endpoints():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5))
    Y = X @ rng.standard_normal((5, 5)) + 0.7 * rng.standard_normal((150, 5))
    Z = rng.standard_normal((150, 8))
    # both 0: R2_CCA when the ranks agree, sqrt(p_min^2 / (p_x p_y)) R2_CCA otherwise (CKA eq. 11)
    assert np.isclose(rl.analyses.canonical_ridge(X, Y, 0, 0), np.mean(rl.cca(X, Y).rho ** 2), atol=1e-12)
    assert np.isclose(rl.analyses.canonical_ridge(X, Z, 0, 0),
                      np.mean(rl.cca(X, Z).rho ** 2) * 5 / math.sqrt(5 * 8), atol=1e-12)
    # both inf: linear CKA (eq. 6)
    assert np.isclose(rl.analyses.canonical_ridge(X, Z, math.inf, math.inf), rl.cka(X, Z), atol=1e-12)
    # 0 and inf: linear regression R2 of Y on X by eq. 12 (factor sqrt(p_x), claims.md sec. 0)
    yc = Y - Y.mean(0)
    lr = rl.linear_regression_r2(Y, X)
    value = rl.analyses.canonical_ridge(X, Y, 0, math.inf)
    assert np.isclose(value, lr * np.sum(yc**2) / (math.sqrt(5) * np.linalg.norm(yc.T @ yc)), atol=1e-12)
    # large finite kappa approaches the limits
    big = 1e9 * np.sum(X**2)
    assert np.isclose(rl.analyses.canonical_ridge(X, Z, big, big), rl.cka(X, Z), atol=1e-6)
    middle = rl.analyses.canonical_ridge(X, Y, 100.0, 100.0)
    assert isinstance(middle, float) and 0 < middle < 1


def test_canonical_ridge_errors():
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(UnknownOptionError, match="kappa_x must be a number >= 0 or math.inf"):
        rl.analyses.canonical_ridge(X, X, -1.0, 0)
    with pytest.raises(UnknownOptionError, match="kappa_y must be a number >= 0"):
        rl.analyses.canonical_ridge(X, X, 0, "big")
    with pytest.raises(DegenerateInputError, match="Y has no variance after centring"):
        rl.analyses.canonical_ridge(X, np.ones((20, 2)), 0, 0)


# ---------------------------------------------------------------- class_sensitivity


def test_class_sensitivity_finds_the_layer_holding_each_class_feature():
    rng = np.random.default_rng(0)
    n = 800
    features = rng.standard_normal((n, 3))
    early = np.c_[features[:, :1], rng.standard_normal((n, 5))]          # holds class 0's feature only
    late = np.c_[features, rng.standard_normal((n, 3))]                  # holds both
    conv = np.repeat(late[:, :, None, None], 4, axis=2).repeat(4, axis=3) + 0.01 * rng.standard_normal((n, 6, 4, 4))
    logits = np.c_[2 * features[:, 0], features[:, 1] - features[:, 2], rng.standard_normal(n)]
    s = rl.analyses.class_sensitivity({"early": early, "late": late, "conv": conv}, logits, [0, 1, 2])
    assert s.shape == (3, 3)
    assert s[0, 0] > 0.999 and s[0, 1] > 0.999
    assert s[1, 0] < 0.2 and s[1, 1] > 0.999 and s[1, 2] > 0.99
    assert np.all(s[2] < 0.25)
    pooled = rl.analyses.class_sensitivity([conv], logits, [1], conv="mean_pool")
    assert np.isclose(pooled[0, 0], s[1, 2])


def test_class_sensitivity_errors():
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(UnknownOptionError, match="classes must be column indices of logits, 0 to 2"):
        rl.analyses.class_sensitivity([X], X, [3])
    with pytest.raises(UnknownOptionError, match="conv must be one of"):
        rl.analyses.class_sensitivity([X], X, [0], conv="pool")
    with pytest.raises(ShapeError, match="layer 0 has 10 examples but logits has 20"):
        rl.analyses.class_sensitivity([X[:10]], X, [0])
    with pytest.raises(ShapeError, match="logits must be 2-D"):
        rl.analyses.class_sensitivity([X], X[:, 0], [0])
    with pytest.raises(UnknownOptionError, match="layers must be a non-empty mapping"):
        rl.analyses.class_sensitivity([], X, [0])


# ---------------------------------------------------------------- networks


def _low_rank_classifier(seed=0):
    """Linear(8, 3) -> Linear(3, 16) -> ReLU-free 'hidden' (rank 3) -> Linear(16, 4)."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(OrderedDict([
        ("fc1", torch.nn.Linear(8, 3)), ("fc2", torch.nn.Linear(3, 16)), ("hidden", torch.nn.Identity()),
        ("out", torch.nn.Linear(16, 4))]))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    net = net.double()  # float64 so that the hidden layer has numerical rank 3
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((400, 8))
    with torch.no_grad():
        y = net(torch.as_tensor(x)).argmax(1).numpy()
    return net, x, y


def test_replaced_output_replaces_and_removes_the_hook():
    net, x, _ = _low_rank_classifier()
    inputs = torch.as_tensor(x[:5])
    before = net(inputs).detach()
    with rl.analyses.replaced_output(net, "hidden", lambda out: torch.zeros_like(out)) as module:
        assert module is net.hidden
        zeroed = net(inputs).detach()
    assert torch.allclose(zeroed, net.out.bias.detach().expand(5, 4))
    assert torch.equal(net(inputs).detach(), before)
    with pytest.raises(UnknownOptionError, match="the model has no layer 'fc9'; its layers are fc1, fc2"), \
            rl.analyses.replaced_output(net, "fc9", lambda out: out):
        pass
    with pytest.raises(UnknownOptionError, match="fn must be a callable"), rl.analyses.replaced_output(net, "fc1", None):
        pass


def test_accuracy_vs_directions_recovers_full_accuracy_at_the_layer_rank():
    net, x, y = _low_rank_classifier()
    with torch.no_grad():
        hidden = net[:2](torch.as_tensor(x)).double().numpy()
    directions = rl.cca_directions(hidden, hidden @ np.random.default_rng(1).standard_normal((16, 16)))
    assert directions.k == 3
    table = rl.analyses.accuracy_vs_directions(net, "hidden", (x, y), directions, [1, 3], seed=0)
    assert list(table.columns) == ["k", "method", "accuracy"]
    assert table.attrs["full_accuracy"] == 1.0  # labels are the network's own predictions
    by = {(r.k, r.method): r.accuracy for r in table.itertuples()}
    assert by[(16, "full")] == 1.0
    assert by[(3, "svcca")] == 1.0 and by[(3, "pca")] == 1.0  # the layer lives in 3 dimensions
    assert by[(1, "svcca")] < 1.0
    assert set(table.method) == {"full", "svcca", "random_neurons", "max_activation", "pca"}
    split = rl.analyses.accuracy_vs_directions(net, "hidden", (x[:10], y[:10], x, y), directions, [1, 3], seed=0)
    assert split.equals(table)  # a (train, test) 4-tuple is measured on its test split
    zero = rl.analyses.accuracy_vs_directions(net, "hidden", (x, y), directions, [3], baselines=(), fill="zero")
    assert zero.method.tolist() == ["full", "svcca"]
    # fill="zero" also zeroes the mean's removed part: a P_3 != a here, so the output changes
    assert not np.allclose(hidden @ directions.projector(3), hidden)


def test_accuracy_vs_directions_errors():
    net, x, y = _low_rank_classifier()
    with torch.no_grad():
        hidden = net[:2](torch.as_tensor(x)).double().numpy()
    directions = rl.cca_directions(hidden, hidden)
    with pytest.raises(UnknownOptionError, match=r"ks \[4\] exceed the 3 canonical directions kept"):
        rl.analyses.accuracy_vs_directions(net, "hidden", (x, y), directions, [2, 4])
    with pytest.raises(UnknownOptionError, match="the model has no layer 'relu'"):
        rl.analyses.accuracy_vs_directions(net, "relu", (x, y), directions, [2])
    with pytest.raises(UnknownOptionError, match=r"data must be a pair \(x, y\) of inputs and integer class labels"):
        rl.analyses.accuracy_vs_directions(net, "hidden", x, directions, [2])
    with pytest.raises(UnknownOptionError, match="labels must be a 1-D integer array"):
        rl.analyses.accuracy_vs_directions(net, "hidden", (x, y.astype(float)), directions, [2])
    with pytest.raises(ShapeError, match="layer 'fc1' has 3 features per example"):
        rl.analyses.accuracy_vs_directions(net, "fc1", (x, y), directions, [2])
    with pytest.raises(UnknownOptionError, match="baselines must be one of"):
        rl.analyses.accuracy_vs_directions(net, "hidden", (x, y), directions, [2], baselines=("best",))
    with pytest.raises(UnknownOptionError, match="directions must be the result of replens.cca_directions"):
        rl.analyses.accuracy_vs_directions(net, "hidden", (x, y), hidden, [2])


def test_compress_is_exact_for_a_layer_of_low_rank():
    net, x, y = _low_rank_classifier()
    data = (x[:300], y[:300], x[300:], y[300:])
    c = rl.analyses.compress(net, ["hidden"], 3 / 16, data=data)
    with torch.no_grad():
        assert torch.allclose(c.model(torch.as_tensor(x)), net(torch.as_tensor(x)), rtol=1e-6, atol=1e-5)
    row = c.table.iloc[0]
    assert (row.k, row.width, row.cca_directions) == (3, 16, 3)
    assert row.parameters_kept == pytest.approx((3 * 17 + 4 * 4) / (16 * 4 + 4))
    assert row.test_accuracy == c.table.attrs["test_accuracy"] == 1.0
    assert isinstance(net.out, torch.nn.Linear)  # the input model is untouched
    peer, _, _ = _low_rank_classifier(seed=5)
    by_peer = rl.analyses.compress(net, ["hidden"], 3 / 16, reference="peer", peer=peer, data=data)
    with torch.no_grad():
        assert torch.allclose(by_peer.model(torch.as_tensor(x)), net(torch.as_tensor(x)), rtol=1e-6, atol=1e-5)
    small = rl.analyses.compress(net, ["hidden"], 1 / 16, data=data)
    assert small.table.iloc[0].k == 1 and small.table.iloc[0].test_accuracy < 1.0


def test_compress_basis_mixes_canonical_and_residual_directions():
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((300, 10))
    reference = acts[:, :2] + 0.1 * rng.standard_normal((300, 2))
    from replens.analyses.compression import compression_basis
    weights, loadings, mean, n_canonical = compression_basis(acts, reference, 6)
    variates = (acts - mean) @ weights
    assert n_canonical == 2 and weights.shape == (10, 6)
    assert np.allclose(variates.T @ variates, np.eye(6), atol=1e-10)
    assert np.allclose(loadings, variates.T @ (acts - mean), atol=1e-10)


def test_compress_errors():
    net, x, y = _low_rank_classifier()
    data = (x, y, x, y)
    with pytest.raises(UnknownOptionError, match="reference='peer' needs peer="):
        rl.analyses.compress(net, ["hidden"], 0.5, reference="peer", data=data)
    with pytest.raises(UnknownOptionError, match="takes no peer"):
        rl.analyses.compress(net, ["hidden"], 0.5, peer=net, data=data)
    with pytest.raises(UnknownOptionError, match="no torch.nn.Linear follows layer 'out'"):
        rl.analyses.compress(net, ["out"], 0.5, data=data)
    with pytest.raises(UnknownOptionError, match=r"data must be \(x_train, y_train, x_test, y_test\)"):
        rl.analyses.compress(net, ["hidden"], 0.5, data=(x, y))
    with pytest.raises(UnknownOptionError, match="fraction must be"):
        rl.analyses.compress(net, ["hidden"], 1.5, data=data)
    with pytest.raises(UnknownOptionError, match="the model has no layer 'h'"):
        rl.analyses.compress(net, ["h"], 0.5, data=data)


# ---------------------------------------------------------------- check_identities


def test_identities_hold_to_rounding_and_the_printed_eq12_factor_does_not():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    Y = np.c_[X @ rng.standard_normal((4, 3)), rng.standard_normal((120, 6))] + 0.5 * rng.standard_normal((120, 9))
    errors = rl.analyses.check_identities(X, Y)
    assert set(errors) == set(rl.analyses.IDENTITIES)
    for name, error in errors.items():
        if name == "eq12_printed":
            assert error > 1e-2
        else:
            assert error < 1e-10, (name, error)
    with pytest.raises(UnknownOptionError, match="check_identities needs p_1 <= p_2"):
        rl.analyses.check_identities(Y, X)


# ---------------------------------------------------------------- synthetic_pc_partners


def test_pc_partners_share_only_large_or_small_components():
    X, large, small = rl.analyses.synthetic_pc_partners(3000, 12, 4, decay=0.7, seed=2)
    assert X.shape == large.shape == small.shape == (3000, 12)
    assert np.array_equal(large[:, :4], X[:, :4]) and np.array_equal(small[:, -4:], X[:, -4:])
    rho_large, rho_small = rl.cca(X, large).rho, rl.cca(X, small).rho
    assert np.allclose(rho_large[:4], 1) and np.allclose(rho_small[:4], 1)
    assert abs(np.mean(rho_large) - np.mean(rho_small)) < 0.02  # CCA cannot tell them apart
    assert rl.cka(X, large) > 0.9
    assert rl.cka(X, small) < 0.05
    with pytest.raises(UnknownOptionError, match="k must be below p, 12"):
        rl.analyses.synthetic_pc_partners(100, 12, 12)
    with pytest.raises(UnknownOptionError, match=r"decay must be a number in \(0, 1\)"):
        rl.analyses.synthetic_pc_partners(100, 12, 3, decay=1.5)


def test_invariance_check_reads_as_a_mapping():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((50, 4)), rng.standard_normal((50, 3))
    check = rl.analyses.invariance_check("cca_mean_rho", X, Y, transforms=["orthogonal", "isotropic"])
    assert dict(check) == dict(check.deviations) and len(check) == 2
    assert check["orthogonal"] < 1e-10 and check.measure == "cca_mean_rho"
    assert 0 < check.value < 1


def test_neurons_for_directions_and_accuracy_with_few_neurons():
    net, x, y = _low_rank_classifier()
    with torch.no_grad():
        hidden = net[:2](torch.as_tensor(x)).double().numpy()
    directions = rl.cca_directions(hidden, hidden)
    scale = np.ones(16)
    scale[[2, 7]] = 50.0  # two neurons carry most of the variance the directions explain
    loud = rl.cca_directions(hidden * scale, hidden)
    assert set(rl.analyses.neurons_for_directions(loud, 3, 2)) == {2, 7}
    table = rl.analyses.accuracy_vs_neurons(net, "hidden", (x, y), directions, 3, [1, 16])
    assert table.m.tolist() == [1, 16]
    assert table.attrs["directions_accuracy"] == table.attrs["full_accuracy"] == 1.0
    assert table.accuracy.iloc[1] == 1.0 and table.accuracy.iloc[0] < 1.0  # all 16 neurons = the projection
    with pytest.raises(UnknownOptionError, match="m must be at most the layer's 16 neurons"):
        rl.analyses.neurons_for_directions(directions, 3, 17)
    with pytest.raises(UnknownOptionError, match=r"ks \[4\] exceed the 3 canonical directions"):
        rl.analyses.accuracy_vs_neurons(net, "hidden", (x, y), directions, 4, [2])
    with pytest.raises(UnknownOptionError, match="ms must be a non-empty sequence"):
        rl.analyses.accuracy_vs_neurons(net, "hidden", (x, y), directions, 3, [])
