"""group_distances and cluster_networks on sweep distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import replens as rl
from replens.errors import NonFiniteError, ShapeError, UnknownOptionError

torch.set_num_threads(1)


def _population(tmp_path):
    rng = np.random.default_rng(3)
    n = 80
    centres = [rng.standard_normal((n, 6)) for _ in range(2)]
    nets = {f"g{g}_{k}": {"fc": centres[g] + 0.3 * rng.standard_normal((n, 6)),
                          "out": rng.standard_normal((n, 3))}
            for g in range(2) for k in range(3)}
    return nets, rl.sweep(nets, layers="matching", pairs="upper", store=tmp_path / "run").run()


def test_group_distances_match_a_direct_computation(tmp_path):
    nets, res = _population(tmp_path)
    d = res.distances("linear_cka", layer="fc")
    groups = {name: name[:2] for name in nets}
    g = rl.analyses.group_distances(d, groups)
    assert g.groups == ("g0", "g1") and g.sizes == (3, 3) and g.layers == ("fc",)
    names = list(nets)
    within0 = [1 - rl.cka(nets[a]["fc"], nets[b]["fc"]) for a in names[:3] for b in names[:3] if a != b]
    between = [1 - rl.cka(nets[a]["fc"], nets[b]["fc"]) for a in names[:3] for b in names[3:]]
    assert g.within[0, 0] == pytest.approx(np.mean(within0), abs=1e-12)
    assert g.within_std[0, 0] == pytest.approx(np.std(within0), abs=1e-12)
    assert g.between[0, 0, 1] == pytest.approx(np.mean(between), abs=1e-12)
    assert g.between[0, 0, 1] > 2 * g.within[0, 0]
    both = rl.analyses.group_distances({"fc": d, "out": res.distances("linear_cka", layer="out")},
                                       [n[:2] for n in names])
    assert both.layers == ("fc", "out") and both.within.shape == (2, 2)
    np.testing.assert_allclose(both.within[0], g.within[0], atol=0)
    assert len(both.table()) == 2 * 2 * 2


def test_group_distances_bad_input():
    D = np.zeros((3, 3))
    with pytest.raises(ShapeError, match="must be a square"):
        rl.analyses.group_distances(np.zeros((3, 2)), [0, 0, 1])
    with pytest.raises(ShapeError, match="sequence of 3 labels"):
        rl.analyses.group_distances(D, [0, 1])
    with pytest.raises(ShapeError, match="D carries no names"):
        rl.analyses.group_distances(D, {"a": 0})
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        rl.analyses.group_distances(np.full((3, 3), np.nan), [0, 0, 1])
    with pytest.raises(ShapeError, match="one shape"):
        rl.analyses.group_distances({"a": D, "b": np.zeros((2, 2))}, [0, 0, 1])


def test_cluster_networks_recovers_the_groups_and_plots(tmp_path):
    nets, res = _population(tmp_path)
    k = rl.analyses.cluster_networks(res.distances("linear_cka", layer="fc"), 2)
    assert k.names == tuple(nets)
    assert len(set(k.labels[:3])) == 1 and len(set(k.labels[3:])) == 1 and k.labels[0] != k.labels[3]
    assert k.linkage.shape == (5, 4)
    figure = k.plot()
    assert len(figure.axes) == 3


def test_cluster_networks_bad_input():
    D = np.array([[0, .1, .9], [.1, 0, .9], [.9, .9, 0]])
    with pytest.raises(UnknownOptionError, match="n_clusters must be an integer from 1 to the 3 networks"):
        rl.analyses.cluster_networks(D, 4)
    with pytest.raises(ShapeError, match="must be symmetric"):
        rl.analyses.cluster_networks(np.triu(D), 2)
    with pytest.raises(ShapeError, match="zero diagonal"):
        rl.analyses.cluster_networks(D + np.eye(3), 2)
    with pytest.raises(ShapeError, match="negative distances"):
        rl.analyses.cluster_networks(D - 0.5 + 0.5 * np.eye(3), 2)
    with pytest.raises(UnknownOptionError, match="method"):
        rl.analyses.cluster_networks(D, 2, method="ward2")
    with pytest.raises(ShapeError, match="one \\(N, N\\) distance matrix"):
        rl.analyses.cluster_networks({"a": D, "b": D}, 2)
