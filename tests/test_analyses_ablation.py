"""Known answers for cumulative ablation and the cluster-agreement numbers (PWCCA sec. 3.3, Fig. 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from replens.analyses.ablation import cumulative_ablation
from replens.analyses.cluster_agreement import adjusted_rand, silhouette
from replens.errors import ReplensError, ShapeError, UnknownOptionError

torch.set_num_threads(1)


def _counting_net(p: int = 4):
    """x -> identity (layer "h", p units) -> logits (0.5, sum of units): class 1 iff a unit is on."""
    net = torch.nn.Sequential()
    net.add_module("lin", torch.nn.Linear(p, p))
    net.add_module("h", torch.nn.ReLU())
    net.add_module("out", torch.nn.Linear(p, 2))
    with torch.no_grad():
        net.lin.weight.copy_(torch.eye(p))
        net.lin.bias.zero_()
        net.out.weight.copy_(torch.stack([torch.zeros(p), torch.ones(p)]))
        net.out.bias.copy_(torch.tensor([0.5, 0.0]))
    return net


def test_one_unit_per_example_gives_one_minus_fraction():
    # example i is right iff unit i survives, so every order gives accuracy 1 - k/p
    net = _counting_net(4)
    x, y = np.eye(4), np.ones(4, dtype=np.int64)
    fractions = np.linspace(0, 1, 5)
    res = cumulative_ablation(net, "h", x, y, fractions, n_orders=3, seed=1)
    np.testing.assert_allclose(res.accuracy, [1.0, 0.75, 0.5, 0.25, 0.0])
    assert res.accuracy_per_order.shape == (3, 5)
    np.testing.assert_allclose(res.accuracy_per_order, np.tile(res.accuracy, (3, 1)))
    assert res.n_ablated.tolist() == [0, 1, 2, 3, 4] and res.n_units == 4
    assert res.auc == pytest.approx(0.5, abs=1e-12)


def test_activation_orders_zero_the_strongest_or_weakest_units_first():
    # mean activations: unit 3 = 2, unit 0 = 0.5, units 1 and 2 = 0
    net = _counting_net(4)
    x = np.array([[0.0, 0, 0, 4], [1.0, 0, 0, 0]])
    y = np.ones(2, dtype=np.int64)
    fractions = [0.0, 0.25, 0.5, 1.0]
    strongest = cumulative_ablation(net, "h", x, y, fractions, order="max_activation")
    weakest = cumulative_ablation(net, "h", x, y, fractions, order="min_activation")
    np.testing.assert_allclose(strongest.accuracy, [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(weakest.accuracy, [1.0, 1.0, 1.0, 0.0])
    assert strongest.accuracy_per_order.shape == (1, 4)
    # trapezoid: 0.25 * (1 + 0.5) / 2 + 0.25 * 0.5 / 2 = 0.25
    assert strongest.auc == pytest.approx(0.25, abs=1e-12)
    assert weakest.auc == pytest.approx(0.5 + 0.5 * 0.5, abs=1e-12)


def test_random_orders_are_seeded_and_averaged():
    # unit 0 alone decides every example, so an order's curve drops when unit 0 goes
    net = _counting_net(8)
    x = np.zeros((10, 8))
    x[:, 0] = 1.0
    y = np.ones(10, dtype=np.int64)
    fractions = np.linspace(0, 1, 9)
    a = cumulative_ablation(net, "h", x, y, fractions, n_orders=6, seed=3)
    b = cumulative_ablation(net, "h", x, y, fractions, n_orders=6, seed=3)
    c = cumulative_ablation(net, "h", x, y, fractions, n_orders=6, seed=4)
    np.testing.assert_array_equal(a.accuracy_per_order, b.accuracy_per_order)
    assert not np.array_equal(a.accuracy_per_order, c.accuracy_per_order)
    np.testing.assert_allclose(a.accuracy, a.accuracy_per_order.mean(axis=0))
    # each row is 1 until unit 0's position in its permutation, then 0 (cumulative: never back)
    rng = np.random.default_rng(3)
    for row in a.accuracy_per_order:
        position = int(np.flatnonzero(rng.permutation(8) == 0)[0])
        np.testing.assert_array_equal(row, (np.arange(9) <= position).astype(float))


def test_hook_is_removed_and_conv_channels_are_units():
    net = torch.nn.Sequential()
    net.add_module("conv", torch.nn.Conv2d(1, 3, 1))
    net.add_module("relu", torch.nn.ReLU())
    net.add_module("pool", torch.nn.AdaptiveAvgPool2d(1))
    net.add_module("flat", torch.nn.Flatten())
    net.add_module("out", torch.nn.Linear(3, 2))
    with torch.no_grad():
        net.conv.weight.fill_(1.0)
        net.conv.bias.zero_()
        net.out.weight.copy_(torch.tensor([[0.0, 0, 0], [1.0, 1, 1]]))
        net.out.bias.copy_(torch.tensor([0.1, 0.0]))
    x = np.ones((4, 1, 2, 2))
    y = np.ones(4, dtype=np.int64)
    before = net(torch.as_tensor(x, dtype=torch.float32)).detach().clone()
    res = cumulative_ablation(net, "relu", x, y, [0.0, 2 / 3, 1.0], n_orders=2)
    assert res.n_units == 3 and res.n_ablated.tolist() == [0, 2, 3]
    np.testing.assert_allclose(res.accuracy, [1.0, 1.0, 0.0])
    after = net(torch.as_tensor(x, dtype=torch.float32))
    assert torch.equal(before, after)


@pytest.mark.parametrize("fractions", [[0.5], [0.0, 0.5, 0.5], [0.2, 0.1], [-0.1, 0.5], [0.0, 1.5], [[0, 1]]])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(UnknownOptionError, match="fractions"):
        cumulative_ablation(_counting_net(), "h", np.eye(4), np.ones(4, dtype=np.int64), fractions)


def test_bad_options_are_refused():
    net, x, y = _counting_net(), np.eye(4), np.ones(4, dtype=np.int64)
    with pytest.raises(UnknownOptionError, match="order"):
        cumulative_ablation(net, "h", x, y, [0, 1], order="selectivity")
    with pytest.raises(UnknownOptionError, match="no layer 'nope'"):
        cumulative_ablation(net, "nope", x, y, [0, 1])
    with pytest.raises(UnknownOptionError, match="n_orders"):
        cumulative_ablation(net, "h", x, y, [0, 1], n_orders=0)
    with pytest.raises(ShapeError, match="same number of examples"):
        cumulative_ablation(net, "h", x, y[:3], [0, 1])
    with pytest.raises(UnknownOptionError, match="integer"):
        cumulative_ablation(net, "h", x, y.astype(float), [0, 1])


def test_adjusted_rand_known_values():
    assert adjusted_rand([1, 1, 2, 2, 3], ["b", "b", "a", "a", "c"]) == pytest.approx(1.0)
    # contingency n_ij = (2, 1, 1): sum C(n_ij, 2) = 1; rows give 2, columns 1, C(4, 2) = 6;
    # ARI = (1 - 2/6) / ((2 + 1)/2 - 2/6) = 4/7
    assert adjusted_rand([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7, abs=1e-12)
    assert adjusted_rand([0.003, 0.003, 0.3, 0.3], [5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ShapeError, match="same items"):
        adjusted_rand([0, 1], [0, 1, 1])


def test_silhouette_known_value_and_standardisation():
    points = np.array([[0.0, 0], [0, 1], [10, 0], [10, 1]])
    # a_i = 1, b_i = (10 + sqrt(101)) / 2 for every point
    b = (10 + math.sqrt(101)) / 2
    assert silhouette(points, [0, 0, 1, 1], standardize=False) == pytest.approx((b - 1) / b, abs=1e-12)
    # after z-scoring, rescaling a column changes nothing
    scaled = points * np.array([1e-3, 50.0])
    assert silhouette(scaled, ["x", "x", "y", "y"]) == pytest.approx(silhouette(points, ["x", "x", "y", "y"]))
    # groups that cut across the clusters score below 0
    assert silhouette(points, [0, 1, 0, 1], standardize=False) < 0
    with pytest.raises(ShapeError, match="between 2 and N - 1"):
        silhouette(points, [0, 0, 0, 0])
    with pytest.raises(ReplensError, match="NaN"):
        silhouette([[0.0, np.nan], [1, 1], [2, 2]], [0, 0, 1])


def test_doctests():
    import doctest

    from replens.analyses import ablation, cluster_agreement

    for module in (ablation, cluster_agreement):
        assert doctest.testmod(module).failed == 0, module.__name__
