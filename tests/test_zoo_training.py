"""The zoo's training: bit-for-bit determinism, the run cache, the Recorder's schedules and
checkpoints, freeze schedules, sequence training, and every error path."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from replens.activations import ActivationCache, extract  # noqa: E402
from replens.errors import ReplensError, ShapeError, UnknownOptionError  # noqa: E402
from replens.zoo import Recorder, build, cache_folder, load, plan_steps, train  # noqa: E402
from replens.zoo.cache import entry_folder  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("REPLENS_CACHE", str(folder))
    return folder


@pytest.fixture(scope="module")
def small():
    """512 training and 200 test images of mnist14: one epoch is 8 updates of 64."""
    x_train, y_train, x_test, y_test = load("mnist14")
    return x_train[:512], y_train[:512], x_test[:200], y_test[:200]


def _forward_counter(model):
    calls = []
    model.register_forward_hook(lambda *args: calls.append(1))
    return calls


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("kind, options", [("cnn", {"batchnorm": True, "width": 0.5}),
                                           ("resnet", {"width": 0.25}), ("mlp", {})])
def test_training_is_deterministic_bit_for_bit(small, kind, options):
    runs = [train(build(kind, seed=1, **options), small, epochs=2, lr=0.05, momentum=0.9, seed=7, cache=False)
            for _ in range(2)]
    assert _states_equal(runs[0].model.state_dict(), runs[1].model.state_dict())
    assert runs[0].history == runs[1].history
    other = train(build(kind, seed=1, **options), small, epochs=2, lr=0.05, momentum=0.9, seed=8, cache=False)
    assert not _states_equal(runs[0].model.state_dict(), other.model.state_dict())


def test_training_leaves_the_global_rng_alone(small):
    torch.manual_seed(5)
    before = torch.get_rng_state()
    train(build("mlp"), small, epochs=1, lr=0.1, seed=0, cache=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_history_and_state_checkpoints(small):
    model = build("mlp", seed=2)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    run = train(model, small, epochs=3, lr=0.1, seed=0, batch_size=100, cache=False)
    assert run.total_steps == 3 * 6 and run.history.steps == (6, 12, 18)
    assert len(run.history.train_loss) == len(run.history.train_accuracy) == len(run.history.test_accuracy) == 3
    assert all(0.0 <= a <= 1.0 for a in run.history.test_accuracy)
    assert run.history.train_loss[-1] < run.history.train_loss[0]
    assert [step for step, _ in run.checkpoints] == [0, 6, 12, 18]
    assert _states_equal(run.checkpoints[0][1], initial)
    assert _states_equal(run.checkpoints[-1][1], model.state_dict())
    assert not model.training and run.test_accuracy == run.history.test_accuracy[-1]


def test_adam_and_weight_decay_and_clipping_run(small):
    run = train(build("mlp"), small, epochs=2, optimizer="adam", lr=3e-3, weight_decay=1e-4, clip_grad_norm=1.0,
                seed=0, cache=False)
    assert run.settings["training"]["optimizer"] == "adam" and run.history.test_accuracy[-1] > 0.5


def test_lstm_trains_on_next_characters():
    x_train, y_train, x_test, y_test = load("text", seq_len=20)
    data = (x_train[:256], y_train[:256], x_test[:64], y_test[:64])
    model = build("lstm", width=0.25, embedding=8)
    run = train(model, data, epochs=2, optimizer="adam", lr=1e-2, seed=0, clip_grad_norm=1.0, cache=False)
    assert run.history.train_loss[1] < run.history.train_loss[0]
    assert run.history.test_accuracy[-1] > 0.1                  # beyond the 1/97 of guessing


# ---------------------------------------------------------------- the cache


def test_second_run_loads_from_the_cache_without_training(small, private_cache):
    first = train(build("cnn", width=0.25, seed=3), small, epochs=1, lr=0.05, momentum=0.9, seed=0)
    assert not first.from_cache and first.key is not None
    assert entry_folder(first.key).parent.parent.parent == private_cache == cache_folder()
    model = build("cnn", width=0.25, seed=3)
    calls = _forward_counter(model)
    second = train(model, small, epochs=1, lr=0.05, momentum=0.9, seed=0)
    assert second.from_cache and second.key == first.key
    assert len(calls) == 1                          # only the shape check's forward pass: no training
    assert _states_equal(model.state_dict(), first.model.state_dict())
    assert second.history == first.history and second.seconds == first.seconds
    assert [s for s, _ in second.checkpoints] == [s for s, _ in first.checkpoints]
    assert all(_states_equal(a, b) for (_, a), (_, b) in zip(first.checkpoints, second.checkpoints))


def test_cached_weights_equal_fresh_training_bit_for_bit(small):
    fresh = train(build("mlp", seed=4), small, epochs=2, lr=0.1, seed=1, cache=False)
    train(build("mlp", seed=4), small, epochs=2, lr=0.1, seed=1)
    cached = train(build("mlp", seed=4), small, epochs=2, lr=0.1, seed=1)
    assert cached.from_cache and _states_equal(cached.model.state_dict(), fresh.model.state_dict())


@pytest.mark.parametrize("change", [{"lr": 0.2}, {"seed": 2}, {"epochs": 2}, {"batch_size": 32},
                                    {"momentum": 0.5}, {"init_seed": 9}, {"data": "fewer"}])
def test_any_change_of_configuration_misses_the_cache(small, change):
    options = {"epochs": 1, "lr": 0.1, "seed": 1, "batch_size": 64, "momentum": 0.0}
    base = train(build("mlp", seed=0), small, **options)
    data = small if change.get("data") is None else tuple(a[:-64] for a in small[:2]) + small[2:]
    init_seed = change.get("init_seed", 0)
    changed = {**options, **{k: v for k, v in change.items() if k in options}}
    again = train(build("mlp", seed=init_seed), data, **changed)
    assert not again.from_cache and again.key != base.key


def test_cache_entries_are_complete_and_leave_no_temporary_folders(small):
    run = train(build("mlp"), small, epochs=1, lr=0.1, seed=0)
    folder = entry_folder(run.key)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints.pt", "final.pt", "run.json"]
    assert [p.name for p in folder.parent.iterdir()] == [run.key]
    stored = json.loads((folder / "run.json").read_text())
    assert stored["key"] == run.key and stored["history"]["steps"] == [8]
    assert stored["settings"]["model"]["build"]["kind"] == "mlp"


def test_cache_false_stores_nothing(small, private_cache):
    run = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, cache=False)
    assert run.key is None and not private_cache.exists()


def test_damaged_cache_entry_says_what_to_do(small):
    run = train(build("mlp"), small, epochs=1, lr=0.1, seed=0)
    (entry_folder(run.key) / "run.json").write_text("{not json")
    with pytest.raises(ReplensError, match="is damaged .* Delete that folder and the run is trained again"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0)
    (entry_folder(run.key) / "run.json").write_text(json.dumps({"history": {}, "total_steps": 8}))
    (entry_folder(run.key) / "final.pt").unlink()
    with pytest.raises(ReplensError, match="could not be read .* Delete that folder"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0)


def test_cache_folder_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("REPLENS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "replens"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_folder().parts[-2:] == (".cache", "replens")


# ---------------------------------------------------------------- the Recorder


def test_log_schedule_is_log_spaced_and_exact_in_count():
    for total in (39, 40, 100, 1000, 25_000):
        steps = plan_steps("log", 40, total)
        assert len(steps) == 40 and steps[0] == 0 and steps[-1] == total
        assert all(b > a for a, b in zip(steps, steps[1:]))
    steps = np.array(plan_steps("log", 40, 25_000)[1:], dtype=float)
    ratios = steps[10:] / steps[9:-1]
    assert np.allclose(ratios, ratios.mean(), rtol=0.05)         # geometric where rounding does not bite
    assert plan_steps("log", 40, 10) == tuple(range(11))
    assert plan_steps("log", 6, 1000) == (0, 1, 6, 32, 178, 1000)


def test_linear_and_explicit_schedules():
    assert plan_steps("linear", 5, 8) == (0, 2, 4, 6, 8)
    assert len(plan_steps("linear", 40, 1000)) == 40
    assert plan_steps([5, 0, 3], 40, 10) == (0, 3, 5)
    assert plan_steps("log", 1, 10) == (10,)


def test_recorder_records_planned_steps_on_a_fixed_probe(small):
    probe = small[2][:50]
    model = build("cnn", width=0.25, batchnorm=True, seed=0)
    initial = extract(model, probe, layers=["relu1", "bn6"], progress=False)
    recorder = Recorder(["relu1", "bn6"], probe, n_checkpoints=10)
    run = train(model, small, epochs=2, lr=0.05, seed=0, record=recorder)
    assert recorder.steps == plan_steps("log", 10, 16) and run.checkpoints == recorder.checkpoints
    assert [step for step, _ in recorder.checkpoints] == list(recorder.steps)
    step0 = recorder.checkpoints[0][1]
    assert step0["relu1"].shape == (50, 4, 14, 14) and step0["bn6"].shape == (50, 16, 3, 3)
    assert np.array_equal(step0["relu1"], initial["relu1"])      # step 0 is the untrained network
    final = extract(model, probe, layers=["bn6"], progress=False)["bn6"]
    assert np.array_equal(recorder.checkpoints[-1][1]["bn6"], final)
    assert not np.array_equal(recorder.checkpoints[1][1]["bn6"], step0["bn6"])


def test_recording_does_not_change_training(small):
    plain = train(build("cnn", width=0.25, batchnorm=True), small, epochs=1, lr=0.05, seed=0, cache=False)
    recorded = train(build("cnn", width=0.25, batchnorm=True), small, epochs=1, lr=0.05, seed=0, cache=False,
                     record=Recorder("relu3", small[2][:20], steps="linear", n_checkpoints=8))
    assert _states_equal(plain.model.state_dict(), recorded.model.state_dict())


def test_recorder_into_activation_caches_and_back_from_the_run_cache(small, tmp_path):
    recorder = Recorder(["relu2", "out"], small[2][:30], steps=[0, 4, 8], folder=tmp_path / "rec")
    train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=recorder)
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["step_00000000", "step_00000004",
                                                                     "step_00000008"]
    assert [s for s, _ in recorder.caches] == [0, 4, 8]
    reopened = ActivationCache.open(tmp_path / "rec" / "step_00000004")
    assert np.array_equal(reopened["out"], recorder.checkpoints[1][1]["out"])
    in_memory = Recorder(["relu2", "out"], small[2][:30], steps=[0, 4, 8])
    model = build("mlp")
    calls = _forward_counter(model)
    hit = train(model, small, epochs=1, lr=0.1, seed=0, record=in_memory)
    assert hit.from_cache and len(calls) == 1
    for (s1, a), (s2, b) in zip(recorder.checkpoints, in_memory.checkpoints):
        assert s1 == s2 and all(np.array_equal(a[k], b[k]) for k in a)
    again = Recorder(["relu2", "out"], small[2][:30], steps=[0, 4, 8], folder=tmp_path / "copy")
    train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=again)
    assert [s for s, _ in again.caches] == [0, 4, 8] and (tmp_path / "copy" / "step_00000008").is_dir()


def test_recorder_settings_enter_the_cache_key(small):
    a = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=Recorder("relu1", small[2][:20], steps=[0, 8]))
    b = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=Recorder("relu1", small[2][1:21], steps=[0, 8]))
    c = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=Recorder("relu2", small[2][:20], steps=[0, 8]))
    assert len({a.key, b.key, c.key}) == 3 and not (b.from_cache or c.from_cache)


def test_recorder_warns_when_the_run_is_shorter_than_its_checkpoints(small):
    recorder = Recorder("relu1", small[2][:10], n_checkpoints=40)
    with pytest.warns(UserWarning, match="only 8 updates, so the Recorder records 9 checkpoints"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=recorder, cache=False)
    assert [s for s, _ in recorder.checkpoints] == list(range(9))


def test_recorder_errors(small, tmp_path):
    with pytest.raises(UnknownOptionError, match="layers must be a module name or a non-empty sequence"):
        Recorder([], small[2])
    with pytest.raises(UnknownOptionError, match="layers names a module twice"):
        Recorder(["relu1", "relu1"], small[2])
    with pytest.raises(ShapeError, match="probe must be a numeric array of at least 2 inputs"):
        Recorder("relu1", np.zeros((1, 4)))
    with pytest.raises(UnknownOptionError, match="steps must be one of 'log', 'linear'; got 'cosine'"):
        Recorder("relu1", small[2], steps="cosine")
    with pytest.raises(UnknownOptionError, match=r"steps lists \[3\] more than once"):
        Recorder("relu1", small[2], steps=[3, 3])
    with pytest.raises(UnknownOptionError, match="steps must be integers >= 0"):
        Recorder("relu1", small[2], steps=[-1, 2])
    with pytest.raises(UnknownOptionError, match="n_checkpoints must be a positive integer; got 0"):
        Recorder("relu1", small[2], n_checkpoints=0)
    with pytest.raises(UnknownOptionError, match=r"layers \['conv9'\] are not modules of the network; its modules "
                                                 r"are flat, fc1, relu1"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=Recorder("conv9", small[2]))
    with pytest.raises(UnknownOptionError, match=r"steps \[100\] lie beyond the run's last step 8"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=Recorder("relu1", small[2], steps=[0, 100]))
    used = Recorder("relu1", small[2][:10], steps=[0])
    train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=used, cache=False)
    with pytest.raises(ReplensError, match="this Recorder already served a training run"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0, record=used, cache=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ReplensError, match="already exists and is not empty"):
        train(build("mlp"), small, epochs=1, lr=0.1, seed=0,
              record=Recorder("relu1", small[2], folder=tmp_path / "full"))


# ---------------------------------------------------------------- freeze schedules


class _Freeze:
    """Freezes fc1 from step `at` on; records every call."""

    def __init__(self, model, at, key=True):
        self.model, self.at, self.calls = model, at, []
        if key:
            self.cache_key = lambda: f"fc1@{at}"

    def step(self, t):
        self.calls.append(t)
        if t == self.at:
            self.model.fc1.requires_grad_(False)


def test_freeze_is_called_before_every_update(small):
    model = build("mlp")
    freeze = _Freeze(model, at=3, key=False)
    run = train(model, small, epochs=2, lr=0.1, seed=0, freeze=freeze)
    assert freeze.calls == list(range(16)) and run.key is None     # no cache_key: not cached
    frozen_at_start = build("mlp")
    train(frozen_at_start, small, epochs=1, lr=0.1, seed=0, freeze=_Freeze(frozen_at_start, at=0, key=False))
    untrained = build("mlp")
    assert torch.equal(frozen_at_start.fc1.weight, untrained.fc1.weight)   # no update ever reached fc1
    assert not torch.equal(frozen_at_start.fc2.weight, untrained.fc2.weight)


def test_freeze_with_a_cache_key_is_cached(small):
    first = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, freeze=_Freeze(build("mlp"), at=2))
    model = build("mlp")
    freeze = _Freeze(model, at=2)
    second = train(model, small, epochs=1, lr=0.1, seed=0, freeze=freeze)
    assert second.from_cache and second.key == first.key and freeze.calls == []
    other = train(build("mlp"), small, epochs=1, lr=0.1, seed=0, freeze=_Freeze(build("mlp"), at=5))
    assert other.key != first.key


# ---------------------------------------------------------------- errors


def test_bad_training_options(small):
    model = build("mlp")
    with pytest.raises(UnknownOptionError, match="optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"):
        train(model, small, epochs=1, optimizer="rmsprop", lr=0.1, seed=0)
    with pytest.raises(UnknownOptionError, match="momentum applies to optimizer='sgd' only"):
        train(model, small, epochs=1, optimizer="adam", momentum=0.9, lr=0.1, seed=0)
    with pytest.raises(UnknownOptionError, match="epochs must be a positive integer; got 0"):
        train(model, small, epochs=0, lr=0.1, seed=0)
    with pytest.raises(UnknownOptionError, match="lr must be a finite number > 0; got -1"):
        train(model, small, epochs=1, lr=-1, seed=0)
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative integer; got None"):
        train(model, small, epochs=1, lr=0.1, seed=None)
    with pytest.raises(UnknownOptionError, match="momentum must be a number >= 0; got -0.5"):
        train(model, small, epochs=1, lr=0.1, seed=0, momentum=-0.5)
    with pytest.raises(UnknownOptionError, match="record must be a replens.zoo.Recorder or None; got list"):
        train(model, small, epochs=1, lr=0.1, seed=0, record=["relu1"])
    with pytest.raises(UnknownOptionError, match="freeze must have a step"):
        train(model, small, epochs=1, lr=0.1, seed=0, freeze=object())
    with pytest.raises(UnknownOptionError, match="cache must be True or False; got 'yes'"):
        train(model, small, epochs=1, lr=0.1, seed=0, cache="yes")
    with pytest.raises(ReplensError, match="model must be a torch.nn.Module"):
        train("cnn", small, epochs=1, lr=0.1, seed=0)


def test_bad_data(small):
    model = build("mlp")
    with pytest.raises(ShapeError, match=r"data must be \(x_train, y_train, x_test, y_test\).*of 2 items"):
        train(model, small[:2], epochs=1, lr=0.1, seed=0)
    with pytest.raises(ShapeError, match="x_train has 512 examples but y_train has 511"):
        train(model, (small[0], small[1][:-1], small[2], small[3]), epochs=1, lr=0.1, seed=0)
    with pytest.raises(ShapeError, match="y_test must hold integer class labels"):
        train(model, (*small[:3], small[3].astype(float)), epochs=1, lr=0.1, seed=0)
    with pytest.raises(ShapeError, match="y_train holds negative labels"):
        train(model, (small[0], small[1] - 1, *small[2:]), epochs=1, lr=0.1, seed=0)
    with pytest.raises(ShapeError, match="train and test examples differ in shape"):
        train(model, (small[0], small[1], small[2][:, :, :7], small[3]), epochs=1, lr=0.1, seed=0)


def test_network_that_does_not_fit_the_data_is_refused_before_training():
    digits = load("digits")
    mlp = build("mlp")                                            # built for 14x14 inputs
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    with pytest.raises(ShapeError, match=r"the network cannot take x_train's examples of shape \(1, 8, 8\) "
                                         r"\(the network was built for input_shape=\(1, 14, 14\)\)"):
        train(mlp, digits, epochs=1, lr=0.1, seed=0)
    assert _states_equal(mlp.state_dict(), before)
    with pytest.raises(ShapeError, match="the network has 5 outputs but the labels go up to 9; build it with "
                                         "n_classes=10"):
        train(build("mlp", input_shape=(1, 8, 8), n_classes=5), digits, epochs=1, lr=0.1, seed=0)
    text = load("text", seq_len=10)
    with pytest.raises(ShapeError, match=r"need logits \(n, T=10, vocab\)"):
        train(build("mlp", input_shape=(10,)), (text[0].astype(np.float32), text[1], text[2].astype(np.float32),
                                                text[3]), epochs=1, lr=0.1, seed=0)


def test_no_warning_in_plain_training(small):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(build("resnet", width=0.25, batchnorm=True), small, epochs=1, lr=0.05, seed=0, cache=False)
