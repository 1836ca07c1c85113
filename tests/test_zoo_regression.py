"""The zoo's regression support: the "toy_regression" dataset, train(loss="mse") with its
R^2 history and cache key, output_fidelity and best_neuron_correlations (SVCCA S01)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from replens.analyses import best_neuron_correlations, output_fidelity
from replens.errors import ReplensError, ShapeError, UnknownOptionError
from replens.measures.directions import cca_directions
from replens.zoo import build, load, train
from replens.zoo.trainer import r2_score

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLENS_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def toy():
    x_train, y_train, x_test, y_test = load("toy_regression", seed=0)
    return x_train[:256], y_train[:256], x_test, y_test


def _net(seed=0, units=32):
    return build("mlp", input_shape=(1,), n_classes=4, units=units, layers=2, seed=seed)


def test_toy_regression_dataset():
    x_train, y_train, x_test, y_test = load("toy_regression", seed=0)
    assert x_train.shape == (2000, 1) and x_test.shape == (500, 1)
    assert y_train.shape == (2000, 4) and y_test.shape == (500, 4)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.float32)}
    assert x_train.min() >= -1 and x_train.max() <= 1 and x_test[0, 0] == -1 and x_test[-1, 0] == 1
    assert np.all(np.diff(x_test[:, 0]) > 0)
    t = x_train[:, 0].astype(np.float64)
    expected = np.stack([np.sin(np.pi * t), np.cos(np.pi * t), t ** 2, np.abs(t)], axis=1)
    np.testing.assert_allclose(y_train, expected, atol=1e-6)
    again = load("toy_regression", seed=0)
    assert np.array_equal(again[0], x_train) and np.array_equal(again[3], y_test)
    other = load("toy_regression", seed=1)
    assert not np.array_equal(other[0], x_train) and np.array_equal(other[2], x_test)


def test_r2_score_known_values():
    target = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 5.0]])
    assert r2_score(target, target) == 1.0
    assert r2_score(np.broadcast_to(target.mean(axis=0), target.shape), target) == pytest.approx(0.0)
    # residual sum 3 * 1 = 3 on column 0 only; total 2 + 8 = 10
    assert r2_score(target + np.array([1.0, 0.0]), target) == pytest.approx(1 - 3 / 10)


def test_mse_training_learns_and_records_r2(toy):
    run = train(_net(), toy, epochs=6, optimizer="adam", lr=3e-3, seed=0, loss="mse")
    h = run.history
    assert len(h.test_r2) == len(h.train_r2) == len(h.test_mse) == 6
    assert h.train_accuracy == () and h.test_accuracy == ()
    assert h.test_r2[-1] > h.test_r2[0] + 1 and run.test_r2 > 0.3
    out = run.model(torch.as_tensor(toy[2])).detach().double().numpy()
    assert h.test_mse[-1] == pytest.approx(np.mean((out - toy[3]) ** 2), rel=1e-6)
    assert run.test_r2 == pytest.approx(r2_score(out, toy[3]), rel=1e-6)
    with pytest.raises(ReplensError, match="loss='mse' and has no accuracy"):
        run.test_accuracy  # noqa: B018


def test_mse_runs_are_deterministic_and_cached(toy):
    first = train(_net(), toy, epochs=2, optimizer="adam", lr=1e-3, seed=0, loss="mse")
    fresh = train(_net(), toy, epochs=2, optimizer="adam", lr=1e-3, seed=0, loss="mse", cache=False)
    for a, b in zip(first.model.state_dict().values(), fresh.model.state_dict().values()):
        assert torch.equal(a, b)
    again = train(_net(), toy, epochs=2, optimizer="adam", lr=1e-3, seed=0, loss="mse")
    assert again.from_cache and again.history == first.history
    assert first.settings["training"]["loss"] == "mse"


def test_default_loss_keeps_the_classification_cache_key():
    x_train, y_train, x_test, y_test = load("digits")
    data = (x_train[:128], y_train[:128], x_test[:64], y_test[:64])
    model = lambda: build("mlp", input_shape=(1, 8, 8), units=16, layers=1, seed=0)
    plain = train(model(), data, epochs=1, lr=0.1, seed=0)
    explicit = train(model(), data, epochs=1, lr=0.1, seed=0, loss="cross_entropy")
    assert "loss" not in plain.settings["training"] and explicit.key == plain.key and explicit.from_cache
    assert plain.history.test_r2 == () and set(plain.history.as_dict()) == {
        "steps", "train_loss", "train_accuracy", "test_accuracy"}
    with pytest.raises(ReplensError, match="has no R\\^2; read its test_accuracy"):
        plain.test_r2  # noqa: B018


def test_mse_errors(toy):
    with pytest.raises(UnknownOptionError, match="loss must be one of"):
        train(_net(), toy, epochs=1, lr=1e-3, seed=0, loss="l1")
    labels = (toy[0], np.zeros(len(toy[0]), dtype=np.int64), toy[2], np.zeros(len(toy[2]), dtype=np.int64))
    with pytest.raises(ShapeError, match="loss='mse' needs float targets y_train"):
        train(_net(), labels, epochs=1, lr=1e-3, seed=0, loss="mse")
    with pytest.raises(ShapeError, match="needs outputs of the targets' shape"):
        train(build("mlp", input_shape=(1,), n_classes=3, units=8, layers=1), toy, epochs=1, lr=1e-3, seed=0,
              loss="mse")
    bad = (toy[0], np.where(np.arange(toy[1].size).reshape(toy[1].shape) == 0, np.nan, toy[1]), toy[2], toy[3])
    with pytest.raises(ShapeError, match="NaN or infinite targets"):
        train(_net(), bad, epochs=1, lr=1e-3, seed=0, loss="mse")
    with pytest.raises(ShapeError, match="data must be"):
        train(_net(), toy[:3], epochs=1, lr=1e-3, seed=0, loss="mse")
    with pytest.raises(ShapeError, match="train and test examples differ"):
        train(_net(), (toy[0], toy[1], toy[2], toy[3][:, :2]), epochs=1, lr=1e-3, seed=0, loss="mse")
    with pytest.raises(ShapeError, match="cannot take x_train"):
        train(_net(), (np.zeros((4, 3), np.float32), np.zeros((4, 4), np.float32), np.zeros((2, 3), np.float32),
                       np.zeros((2, 4), np.float32)), epochs=1, lr=1e-3, seed=0, loss="mse")


# ---------------------------------------------------------------------------------------
# output_fidelity and best_neuron_correlations


class _Linear(torch.nn.Module):
    """x (n, 3) -> hidden = x @ A (n, 5) -> out = hidden @ B (n, 2): a rank-3 hidden layer."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.hidden = torch.nn.Linear(3, 5, bias=False)
        self.out = torch.nn.Linear(5, 2, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.randn(5, 3, generator=g, dtype=torch.float64))
            self.out.weight.copy_(torch.randn(2, 5, generator=g, dtype=torch.float64))
        self.double()

    def forward(self, x):
        return self.out(self.hidden(x))


def test_output_fidelity_is_exact_with_all_shared_directions():
    net = _Linear()
    x = np.random.default_rng(0).normal(size=(200, 3))
    with torch.no_grad():
        acts = net.hidden(torch.as_tensor(x)).numpy()
    # the peer layer is an invertible mix of the same 3 variables: 3 directions with rho = 1
    peer = acts[:, :3] @ np.random.default_rng(1).normal(size=(3, 3))
    directions = cca_directions(acts, peer, keep=3)
    result = output_fidelity(net, "hidden", directions, [1, 2, 3], x)
    assert result.ks == (1, 2, 3) and result.projected.shape == (3, 200, 2) and result.full.shape == (200, 2)
    assert result.r2[2] == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(result.projected[2], result.full, atol=1e-9)
    assert result.r2[0] < result.r2[1] < result.r2[2]
    with torch.no_grad():
        np.testing.assert_allclose(result.full, net(torch.as_tensor(x)).numpy(), atol=1e-12)


def test_output_fidelity_errors():
    net = _Linear()
    x = np.random.default_rng(0).normal(size=(50, 3))
    with torch.no_grad():
        acts = net.hidden(torch.as_tensor(x)).numpy()
    directions = cca_directions(acts, acts[:, :3], keep=3)
    with pytest.raises(UnknownOptionError, match="the model has no layer 'fc9'"):
        output_fidelity(net, "fc9", directions, [1], x)
    with pytest.raises(UnknownOptionError, match="each k in ks must be an integer from 1 to 3"):
        output_fidelity(net, "hidden", directions, [4], x)
    with pytest.raises(UnknownOptionError, match="ks must be a non-empty sequence"):
        output_fidelity(net, "hidden", directions, [], x)
    with pytest.raises(UnknownOptionError, match="directions must be a CCADirections"):
        output_fidelity(net, "hidden", np.eye(3), [1], x)
    with pytest.raises(ShapeError, match="at least 2 examples"):
        output_fidelity(net, "hidden", directions, [1], x[:1])
    with pytest.raises(ShapeError, match="layer 'hidden' has 5 neurons but the directions' side 'y' has 3"):
        output_fidelity(net, "hidden", directions, [1], x, side="y")
    with pytest.raises(ShapeError, match="output is constant"):
        output_fidelity(net, "hidden", directions, [1], np.zeros((4, 3)))


def test_best_neuron_correlations():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 4))
    b = np.column_stack([-2 * a[:, 1] + 1, rng.normal(size=300), np.zeros(300)])
    best = best_neuron_correlations(a, b)
    assert best.shape == (4,) and best[1] == pytest.approx(1.0)
    assert np.all(best[[0, 2, 3]] < 0.3)
    dead = best_neuron_correlations(np.column_stack([a[:, 0], np.ones(300)]), b)
    assert np.isnan(dead[1]) and np.isfinite(dead[0])
    assert np.isnan(best_neuron_correlations(a, np.zeros((300, 2)))).all()
    with pytest.raises(ShapeError, match="same number of examples"):
        best_neuron_correlations(a, b[:10])
    with pytest.raises(ShapeError, match="must be matrices"):
        best_neuron_correlations(a[:, 0], b)
