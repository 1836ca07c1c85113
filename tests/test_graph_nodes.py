"""Graph nodes through torch.fx alone: names, values, order, in-place safety and errors.

A ResNet-18 written out in tests/_resnet.py (torchvision's architecture, random weights)
checks that node names follow torchvision's feature-extraction convention, that a
functional node ("layer1.0.add") holds the residual sum computed by hand, and that module
nodes hold what forward hooks see. torchvision itself is only used, when importable, to
cross-check the names.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from replens.activations import extract, graph_node_names
from replens.errors import ReplensError, ShapeError, UnknownOptionError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _resnet import resnet18  # noqa: E402


@pytest.fixture(scope="module")
def resnet():
    return resnet18(seed=0).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def modes(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


def expected_resnet18_names() -> list[str]:
    """The eval-mode node names of a ResNet-18, in execution order, written out by hand."""
    names = ["x", "conv1", "bn1", "relu", "maxpool"]
    for layer in range(1, 5):
        for block in range(2):
            prefix = f"layer{layer}.{block}."
            names += [prefix + name for name in ("conv1", "bn1", "relu", "conv2", "bn2")]
            if layer > 1 and block == 0:
                names += [prefix + "downsample.0", prefix + "downsample.1"]
            names += [prefix + "add", prefix + "relu_1"]
    return names + ["avgpool", "flatten", "fc"]


# ------------------------------------------------------------------------------ names


def test_resnet18_node_names(resnet):
    names = graph_node_names(resnet)
    for name in ("layer1.0.add", "layer4.1.relu_1", "flatten", "fc", "avgpool",
                 "layer2.0.downsample.0"):
        assert name in names
    assert names == expected_resnet18_names()
    assert len(names) == len(set(names)) == 70


def test_names_number_repeats_within_their_module():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.act(x) + 1) + x

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block()
            self.act = nn.Tanh()

        def forward(self, x):
            h = self.act(self.block(x)) + 1
            return torch.flatten(self.act(h + self.block(h)), 1)

    assert graph_node_names(Net()) == [
        "x", "block.act", "block.add", "block.act_1", "block.add_1", "act", "add",
        "block.act_2", "block.add_2", "block.act_3", "block.add_3", "add_1", "act_1",
        "flatten"]


def test_names_are_eval_mode_names_and_modes_are_restored():
    class TrainOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            if self.training:  # fixed at trace time: eval mode takes the other branch
                x = x * 2
            return self.fc(x)

    model = TrainOnly().train()
    model.fc.eval()
    before = modes(model)
    assert graph_node_names(model) == ["x", "fc"]
    assert modes(model) == before == [True, False]


def test_names_match_torchvision_when_importable():
    try:
        from torchvision.models import resnet18 as torchvision_resnet18
        from torchvision.models.feature_extraction import get_graph_node_names
    except Exception as error:  # installed for another torch: fails with RuntimeError
        pytest.skip(f"torchvision is not importable ({type(error).__name__}: {str(error)[:80]})")
    model = torchvision_resnet18(weights=None)
    assert graph_node_names(model) == get_graph_node_names(model)[1]
    assert graph_node_names(model) == expected_resnet18_names()


# ----------------------------------------------------------------------------- values


def test_residual_add_is_the_branch_plus_identity_before_the_relu(resnet, images):
    acts = extract(resnet, images, layers=["layer1.0.add", "layer1.0.relu_1", "layer2.0.add"],
                   graph_nodes=True, batch_size=4, progress=False)
    with torch.no_grad():
        stem = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(images))))
        block = resnet.layer1[0]
        branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(stem)))))
        added = branch + stem
        after = resnet.layer1[1](block.relu(added.clone()))
        down = resnet.layer2[0]
        branch2 = down.bn2(down.conv2(down.relu(down.bn1(down.conv1(after)))))
        added2 = branch2 + down.downsample(after)
    assert (added < 0).float().mean() > 0.2, "the test needs values that the in-place ReLU overwrites"
    assert acts["layer1.0.add"].shape == (6, 64, 8, 8)
    np.testing.assert_allclose(acts["layer1.0.add"], added.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(acts["layer1.0.relu_1"], added.clamp(min=0).numpy(),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(acts["layer2.0.add"], added2.numpy(), rtol=1e-5, atol=1e-5)
    assert (acts["layer1.0.add"] < 0).any() and (acts["layer1.0.relu_1"] >= 0).all()


def test_module_nodes_equal_forward_hook_outputs(resnet, images):
    graph_layers = ["conv1", "layer1.0.relu", "layer1.0.relu_1", "layer2.0.downsample.0",
                    "layer3.1.bn2", "avgpool", "fc"]
    hook_layers = {"conv1": "conv1", "layer1.0.relu": "layer1.0.relu",
                   "layer1.0.relu_1": "layer1.0.relu:1",  # a module's second call
                   "layer2.0.downsample.0": "layer2.0.downsample.0",
                   "layer3.1.bn2": "layer3.1.bn2", "avgpool": "avgpool", "fc": "fc"}
    nodes = extract(resnet, images, layers=graph_layers, graph_nodes=True, batch_size=4,
                    progress=False)
    hooked = extract(resnet, images, layers=sorted(set(hook_layers.values()) - {"layer1.0.relu:1"}),
                     batch_size=4, progress=False)
    assert list(nodes) == graph_layers
    for node, label in hook_layers.items():
        assert nodes[node].shape == hooked[label].shape
        np.testing.assert_allclose(nodes[node], hooked[label], rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(nodes["fc"], resnet(images).numpy(), rtol=1e-5, atol=1e-5)


def test_pooling_and_dtype_apply_to_nodes(resnet, images):
    full = extract(resnet, images, layers="layer2.1.add", graph_nodes=True, dtype="float64",
                   progress=False)["layer2.1.add"]
    pooled = extract(resnet, images, layers="layer2.1.add", graph_nodes=True, pool="mean",
                     progress=False)["layer2.1.add"]
    assert full.dtype == np.float64 and full.shape == (6, 128, 4, 4)
    assert pooled.dtype == np.float32 and pooled.shape == (6, 128)
    np.testing.assert_allclose(pooled, full.mean(axis=(2, 3)), rtol=1e-5, atol=1e-5)


def test_batches_are_joined_in_data_order(resnet, images):
    whole = extract(resnet, images, layers="flatten", graph_nodes=True, batch_size=6,
                    progress=False)
    loader = [(images[:1], "label"), (images[1:5], "label"), (images[5:], "label")]
    split = extract(resnet, loader, layers="flatten", graph_nodes=True, progress=False)
    assert whole["flatten"].shape == (6, 512)
    # other batch sizes may take other convolution kernels: equal up to float32 rounding
    np.testing.assert_allclose(split["flatten"], whole["flatten"], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------- order, modes


def test_keys_follow_execution_order_not_the_order_asked(resnet, images):
    asked = ["fc", "flatten", "layer4.1.relu_1", "layer1.0.add", "x", "avgpool"]
    acts = extract(resnet, images, layers=asked, graph_nodes=True, progress=False)
    names = graph_node_names(resnet)
    assert list(acts) == sorted(asked, key=names.index)
    assert list(acts) == ["x", "layer1.0.add", "layer4.1.relu_1", "avgpool", "flatten", "fc"]
    np.testing.assert_array_equal(acts["x"], images.numpy())
    globbed = extract(resnet, images[:2], layers=["layer*.?.add"], graph_nodes=True,
                      progress=False)
    assert list(globbed) == [f"layer{i}.{j}.add" for i in range(1, 5) for j in range(2)]


def test_eval_mode_inference_mode_and_restored_flags(images):
    model = resnet18(seed=2).train()
    model.layer2.eval()  # frozen by the user: must stay so
    before = modes(model)
    seen = []

    def select(name, output):
        seen.append((name, torch.is_inference_mode_enabled(), output.requires_grad))
        return output

    acts = extract(model, images, layers=["layer1.1.add", "fc"], graph_nodes=True,
                   select=select, batch_size=3, progress=False)
    assert modes(model) == before
    assert seen == [("layer1.1.add", True, False), ("fc", True, False)] * 2
    with torch.no_grad():
        eval_logits = model.eval()(images)
    np.testing.assert_allclose(acts["fc"], eval_logits.numpy(), rtol=1e-5, atol=1e-5)


def test_nodes_after_the_last_chosen_one_do_not_run(resnet, images):
    calls = []
    handle = resnet.fc.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        acts = extract(resnet, images, layers="layer1.*", graph_nodes=True, progress=False)
        assert not calls and "layer1.1.relu_1" in acts
        extract(resnet, images, layers="fc", graph_nodes=True, progress=False)
        assert calls == [1]
    finally:
        handle.remove()
    assert not resnet.fc._forward_hooks


def test_keyword_inputs_reach_the_graph():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x, scale=None):
            return self.fc(x) * scale

    model, x = Scaled(), torch.randn(5, 3)
    acts = extract(model, {"x": x, "scale": torch.full((5, 1), 3.0)}, layers="mul",
                   graph_nodes=True, batch_size=2, progress=False)
    with torch.no_grad():
        np.testing.assert_allclose(acts["mul"], (model.fc(x) * 3).numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------- errors


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


def test_untraceable_model_says_to_use_hooks():
    model = DataDependent().train()
    with pytest.raises(ReplensError, match=r"tracing DataDependent failed \(TraceError.*"
                                           r"Use graph_nodes=False"):
        extract(model, torch.randn(4, 3), layers="fc", graph_nodes=True, progress=False)
    assert model.training
    with pytest.raises(ReplensError, match="graph_nodes=False"):
        graph_node_names(model)
    acts = extract(model, torch.ones(4, 3), layers="fc", progress=False)  # hooks still work
    assert acts["fc"].shape == (4, 3)


def test_pattern_matching_no_node_lists_the_nodes(resnet, images):
    with pytest.raises(UnknownOptionError,
                       match=r"'layer1\.0\.addd' matches no graph node of the model \(eval mode\)"
                             r"\. Did you mean 'layer1\.0\.add'.*Available: 'x', 'conv1', "
                             r"'bn1'.*\(70 in all\)"):
        extract(resnet, images, layers=["fc", "layer1.0.addd"], graph_nodes=True,
                progress=False)
    with pytest.raises(UnknownOptionError, match=r"'layer9\.\*' matches no graph node"):
        extract(resnet, images, layers="layer9.*", graph_nodes=True, progress=False)


def test_graph_nodes_need_layers(resnet, images):
    with pytest.raises(UnknownOptionError, match=r"graph_nodes=True needs layers.*"
                                                 r"graph_node_names\(model\)"):
        extract(resnet, images, graph_nodes=True, progress=False)


def test_node_without_a_tensor_is_refused():
    class Flat(nn.Module):
        def forward(self, x):
            return x.view(x.size(0), -1)

    assert graph_node_names(Flat()) == ["x", "size", "view"]
    with pytest.raises(ShapeError, match=r"layer 'size': its output \(int\) holds no tensor"):
        extract(Flat(), torch.randn(4, 2, 3), layers=["size", "view"], graph_nodes=True,
                progress=False)
    acts = extract(Flat(), torch.randn(4, 2, 3), layers="view", graph_nodes=True, progress=False)
    assert acts["view"].shape == (4, 6)


def test_graph_node_names_refuses_a_non_module():
    with pytest.raises(ReplensError, match="model must be a torch.nn.Module; got function"):
        graph_node_names(lambda x: x)


def test_constants_made_in_forward_do_not_stick_to_the_model():
    class Shifted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) + torch.tensor([1.0, -1.0])  # torch.fx keeps it as an attribute

    model, x = Shifted(), torch.randn(3, 2)
    attributes = set(vars(model))
    assert graph_node_names(model) == ["x", "fc", "add"]
    acts = extract(model, x, layers="add", graph_nodes=True, progress=False)
    assert set(vars(model)) == attributes
    with torch.no_grad():
        np.testing.assert_allclose(acts["add"], (model.fc(x) + torch.tensor([1.0, -1.0])).numpy(),
                                   rtol=1e-6)
