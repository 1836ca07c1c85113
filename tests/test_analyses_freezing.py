"""rl.analyses.FreezeSchedule on a tiny batch-norm MLP: freezes at i/L of training, no gradient
or update afterwards (even with momentum), batch-norm statistics fixed through model.train(),
and the backward fraction saved by hand."""

from __future__ import annotations

import pytest
import torch

import replens as rl

torch.set_num_threads(1)


def _block(a, b):
    return torch.nn.Sequential(torch.nn.Linear(a, b), torch.nn.BatchNorm1d(b), torch.nn.ReLU())


def _net():
    """Units "0": Linear+BN (56 parameters), "1": Linear+BN (88), "2": the head (18)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(_block(4, 8), _block(8, 8), torch.nn.Linear(8, 2))


def _train(model, schedule, steps, record):
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    generator = torch.Generator().manual_seed(0)
    for t in range(steps):
        model.train()
        schedule.step(t)
        x = torch.randn(16, 4, generator=generator) * 2 + 1
        loss = model(x).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        record(t, model)
        optimiser.step()


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_layers_freeze_at_their_fraction_and_stop_changing():
    model = _net()
    fs = rl.analyses.FreezeSchedule(model, ["0", "1", "2"], total_steps=9)
    assert fs.freeze_steps == {"0": 3, "1": 6, "2": 9} and fs.layers == ("0", "1", "2")
    states: dict[int, dict] = {}
    frozen_at: dict[int, tuple] = {}

    def record(t, net):
        states[t] = {name: _snapshot(net[int(name)]) for name in ("0", "1", "2")}
        frozen_at[t] = fs.frozen
        for name in fs.frozen:
            assert all(p.grad is None and not p.requires_grad for p in net[int(name)].parameters())

    _train(model, fs, 9, record)
    assert frozen_at[2] == () and frozen_at[3] == ("0",) and frozen_at[6] == ("0", "1") and frozen_at[8] == ("0", "1")
    final = {name: _snapshot(model[int(name)]) for name in ("0", "1", "2")}
    # Frozen from step 3: weights, biases and batch-norm running statistics never move again.
    for key, value in states[3]["0"].items():
        assert torch.equal(final["0"][key], value), key
    for key, value in states[6]["1"].items():
        assert torch.equal(final["1"][key], value), key
    # Before freezing they did move (so the test could fail).
    assert not torch.equal(states[1]["0"]["0.weight"], states[3]["0"]["0.weight"])
    assert not torch.equal(states[1]["0"]["1.running_mean"], states[3]["0"]["1.running_mean"])
    assert not torch.equal(states[4]["1"]["1.running_mean"], states[6]["1"]["1.running_mean"])
    assert not torch.equal(states[6]["2"]["weight"], final["2"]["weight"])
    # model.train() was called every step, yet the frozen batch norms run in eval mode.
    model.train()
    model(torch.randn(4, 4))
    assert not model[0][1].training and not model[1][1].training and model[0][0].training
    assert torch.equal(model[0][1].running_mean, final["0"]["1.running_mean"])


def test_backward_fraction_saved_matches_a_hand_count():
    model = _net()
    fs = rl.analyses.FreezeSchedule(model, ["0", "1", "2"], total_steps=9)
    p0, p1, p2 = 4 * 8 + 8 + 16, 8 * 8 + 8 + 16, 8 * 2 + 2
    assert sum(p.numel() for p in model.parameters()) == p0 + p1 + p2
    expected = (p0 * (9 - 3) + p1 * (9 - 6) + p2 * 0) / ((p0 + p1 + p2) * 9)
    assert fs.backward_fraction_saved() == pytest.approx(expected, rel=1e-15)
    # Units given as modules; the head left out always trains and still counts in the total.
    fs2 = rl.analyses.FreezeSchedule(model, [model[0], model[1]], total_steps=10)
    assert fs2.layers == ("0", "1") and fs2.freeze_steps == {"0": 5, "1": 10}
    assert fs2.backward_fraction_saved() == pytest.approx(p0 * 5 / ((p0 + p1 + p2) * 10), rel=1e-15)


def test_regime_none_never_freezes():
    model = _net()
    fs = rl.analyses.FreezeSchedule(model, ["0", "1", "2"], total_steps=6, regime="none")
    assert fs.step(6) == () and fs.frozen == ()
    assert all(p.requires_grad for p in model.parameters())
    assert fs.backward_fraction_saved() == 0.0


def test_step_returns_the_newly_frozen_and_remove_hooks():
    model = _net()
    fs = rl.analyses.FreezeSchedule(model, ["0", "1", "2"], total_steps=3)
    assert fs.step(0) == () and fs.step(2) == ("0", "1") and fs.step(2) == () and fs.step(100) == ("2",)
    assert "frozen=['0', '1', '2']" in repr(fs)
    fs.remove_hooks()
    model.train()
    assert model[0][1].training                  # without the hook, train() reaches it again


def test_freeze_schedule_errors():
    model = _net()
    with pytest.raises(rl.UnknownOptionError, match="model must be a torch.nn.Module; got list"):
        rl.analyses.FreezeSchedule([], ["0"], 10)
    with pytest.raises(rl.UnknownOptionError, match="regime must be one of 'linear', 'none'"):
        rl.analyses.FreezeSchedule(model, ["0"], 10, regime="cosine")
    with pytest.raises(rl.UnknownOptionError, match="total_steps must be a positive integer"):
        rl.analyses.FreezeSchedule(model, ["0"], 0)
    with pytest.raises(rl.UnknownOptionError, match="layers holds 'fc9', which is not a module name of model"):
        rl.analyses.FreezeSchedule(model, ["0", "fc9"], 10)
    with pytest.raises(rl.UnknownOptionError, match="layers must be a non-empty list"):
        rl.analyses.FreezeSchedule(model, "0", 10)
    with pytest.raises(rl.UnknownOptionError, match="layers lists '0' twice"):
        rl.analyses.FreezeSchedule(model, ["0", "0"], 10)
    with pytest.raises(rl.UnknownOptionError, match="layers '0' and '0.1' overlap"):
        rl.analyses.FreezeSchedule(model, ["0", "0.1"], 10)
    with pytest.raises(rl.UnknownOptionError, match="not a module of model"):
        rl.analyses.FreezeSchedule(model, [torch.nn.Linear(2, 2)], 10)
    fs = rl.analyses.FreezeSchedule(model, ["0", "1"], 10)
    fs.step(5)
    with pytest.raises(rl.UnknownOptionError, match=r"steps must not go back: step\(4\) after step\(5\)"):
        fs.step(4)
    with pytest.raises(rl.UnknownOptionError, match="t must be a step, an integer >= 0"):
        fs.step(-1)
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(rl.ReplensError, match="no trainable parameters"):
        rl.analyses.FreezeSchedule(torch.nn.Sequential(frozen), ["0"], 4).backward_fraction_saved()


def test_freezing_between_backward_and_update_drops_the_pending_gradient():
    model = _net()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    fs = rl.analyses.FreezeSchedule(model, ["0", "1", "2"], total_steps=3)
    for t in range(2):
        model(torch.randn(8, 4)).pow(2).mean().backward()
        before = model[0][0].weight.detach().clone()
        fs.step(t)                      # at t=1 block "0" freezes after its gradient was computed
        optimiser.step()
        optimiser.zero_grad()
    assert fs.frozen == ("0",)
    assert torch.equal(model[0][0].weight, before)


def test_doctests():
    import doctest

    from replens.analyses import freezing, timesteps

    for module in (freezing, timesteps):
        assert doctest.testmod(module).failed == 0, module.__name__
