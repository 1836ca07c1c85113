"""The zoo's data and networks: every dataset's shapes, dtypes and ranges, MNIST being real
digits, the text corpus, every network family, deterministic initialisation, and each error."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import replens as rl  # noqa: E402
from replens.errors import ReplensError, ShapeError, UnknownOptionError  # noqa: E402
from replens.zoo import DATASETS, KINDS, TEXT_VOCAB, build, load  # noqa: E402
from replens.zoo.datasets import stratified_split  # noqa: E402
from replens.zoo.text import TEXT_MODULES, corpus, decode, encode, module_source  # noqa: E402

torch.set_num_threads(1)

# ---------------------------------------------------------------- datasets

IMAGES = {"digits": ((1, 8, 8), 1198, 599), "mnist": ((1, 28, 28), 8000, 2000),
          "mnist14": ((1, 14, 14), 8000, 2000)}


def test_zoo_is_a_namespace_of_replens():
    assert rl.zoo.load is load and rl.zoo.build is build
    assert set(DATASETS) == {"digits", "mnist", "mnist14", "text", "toy_regression"}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_datasets_shapes_dtypes_and_ranges(name):
    shape, n_train, n_test = IMAGES[name]
    x_train, y_train, x_test, y_test = load(name)
    assert x_train.shape == (n_train, *shape) and x_test.shape == (n_test, *shape)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train.shape == (n_train,) and y_test.shape == (n_test,)
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y_train)) == set(np.unique(y_test)) == set(range(10))


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_splits_are_stratified_disjoint_and_seeded(name):
    x_train, y_train, x_test, y_test = load(name, seed=0)
    whole = np.bincount(np.concatenate([y_train, y_test]))
    test_share = np.bincount(y_test) / whole
    assert np.all(np.abs(test_share - y_test.size / whole.sum()) < 0.01)
    digest = {hashlib.sha1(img.tobytes()).hexdigest() for img in x_train}
    assert not any(hashlib.sha1(img.tobytes()).hexdigest() in digest for img in x_test)
    again = load(name, seed=0)
    for a, b in zip((x_train, y_train, x_test, y_test), again):
        assert np.array_equal(a, b)
    other = load(name, seed=1)
    assert not np.array_equal(x_test, other[2])
    assert sorted(map(int, y_test)) == sorted(map(int, other[3]))   # same class counts


def test_load_returns_fresh_arrays():
    first = load("mnist14")
    first[0][:] = -1.0
    assert load("mnist14")[0].min() == 0.0


def test_mnist14_is_mnist_mean_pooled():
    big, small = load("mnist", seed=3), load("mnist14", seed=3)
    pooled = big[0].reshape(-1, 1, 14, 2, 14, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(small[0], pooled, rtol=0, atol=1e-6)
    assert np.array_equal(big[1], small[1])


def test_mnist_pixels_are_multiples_of_one_255th():
    x = load("mnist")[0][:200]
    levels = x * 255
    assert np.max(np.abs(levels - np.rint(levels))) < 1e-4


def test_mnist_is_real_digits_a_small_net_learns_them():
    # A quick MLP on real handwritten digits clears 85% test accuracy; on noise or on
    # mislabelled images it would stay near 10%.
    data = load("mnist14")
    run = rl.zoo.train(build("mlp", seed=0), data, epochs=2, lr=0.05, momentum=0.9, seed=0, cache=False)
    assert run.history.test_accuracy[-1] > 0.85


def test_stratified_split_gives_exact_sizes():
    labels = np.repeat(np.arange(3), [7, 11, 13])
    train, test = stratified_split(labels, 0.2, seed=5)
    assert test.size == round(0.2 * labels.size) and train.size + test.size == labels.size
    assert set(train) | set(test) == set(range(labels.size)) and not set(train) & set(test)


def test_text_shapes_targets_and_vocabulary():
    x_train, y_train, x_test, y_test = load("text", seq_len=40)
    assert x_train.shape[1] == y_train.shape[1] == 40 and x_train.dtype == y_train.dtype == np.int64
    assert x_train.shape == y_train.shape and x_test.shape == y_test.shape
    assert 0.09 < x_test.shape[0] / (x_train.shape[0] + x_test.shape[0]) < 0.11
    assert x_train.min() >= 0 and x_train.max() < len(TEXT_VOCAB) == 97
    assert np.array_equal(y_train[:, :-1], x_train[:, 1:])        # next-character targets
    n_runs = x_train.shape[0] + x_test.shape[0]
    assert n_runs * 40 > 500_000                                  # about a million characters
    text = decode(x_train[0])
    assert len(text) == 40 and text.isascii()


def test_text_runs_tile_the_corpus():
    x_train, y_train, x_test, _ = load("text", seq_len=50)
    runs = {decode(row) for row in np.concatenate([x_train, x_test])}
    encoded = decode(encode(corpus()))
    first = encoded[:50]
    assert first in runs and encoded[50:100] in runs


def test_text_is_deterministic_and_seeded():
    a, b = load("text"), load("text")
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[2], load("text", seed=1)[2])
    assert a[0].shape[1] == 50


def test_text_corpus_comes_from_the_sorted_stdlib_modules():
    assert list(TEXT_MODULES) == sorted(TEXT_MODULES)
    text = corpus()
    assert "Return" in text and len(text) > 500_000
    assert module_source("json.decoder").name == "decoder.py"
    assert module_source("unittest.mock").parent.name == "unittest"


def test_encode_decode_round_trip_and_unknown_characters():
    assert decode(encode("def f(x):\n    return x")) == "def f(x):\n    return x"
    assert list(encode("é\t")) == [0, 0]
    with pytest.raises(ReplensError, match=r"indices must lie in 0\.\.96"):
        decode(np.array([5, 97]))


def test_missing_stdlib_source_is_explained():
    with pytest.raises(ReplensError, match="needs the source of the standard-library module 'no_such_mod'"):
        module_source("no_such_mod")


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(UnknownOptionError, match="name must be one of 'digits', 'mnist', 'mnist14', 'text', 'toy_regression'; "
                                                 "got 'cifar10'"):
        load("cifar10")


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_is_refused(seed):
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative integer"):
        load("digits", seed=seed)


def test_seq_len_only_for_text():
    with pytest.raises(UnknownOptionError, match="seq_len applies to the 'text' dataset only"):
        load("mnist", seq_len=20)
    with pytest.raises(UnknownOptionError, match="seq_len must be a positive integer; got 0"):
        load("text", seq_len=0)


# ---------------------------------------------------------------- networks


def _children(model, prefix):
    return [name for name, _ in model.named_children() if re.fullmatch(prefix + r"\d+", name)]


@pytest.mark.parametrize("name, shape", [("digits", (1, 8, 8)), ("mnist14", (1, 14, 14)), ("mnist", (1, 28, 28))])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "resnet"])
def test_image_networks_take_each_dataset(kind, name, shape):
    model = build(kind, input_shape=shape, batchnorm=(kind != "mlp"))
    x = torch.as_tensor(load(name)[2][:5])
    assert model(x).shape == (5, 10)


@pytest.mark.parametrize("depth, convs", [(1, 6), (2, 12), (4, 24), (8, 48)])
def test_cnn_depth_multiplier_repeats_every_layer(depth, convs):
    model = build("cnn", depth=depth, width=0.25)
    assert len(_children(model, "conv")) == len(_children(model, "relu")) == convs
    assert not _children(model, "bn")
    assert [name for name in dict(model.named_children()) if name.startswith("pool")] == ["pool1", "pool2"]


def test_cnn_width_and_batchnorm():
    model = build("cnn", width=2, batchnorm=True)
    widths = [model.get_submodule(f"conv{k}").out_channels for k in range(1, 7)]
    assert widths == [32, 32, 64, 64, 128, 128]
    assert len(_children(model, "bn")) == 6 and model.conv1.bias is None
    assert build("cnn").conv1.bias is not None


def test_mlp_layers_and_units():
    model = build("mlp", width=8, depth=2, input_shape=(1, 8, 8))
    assert len(_children(model, "fc")) == 8 and model.fc1.in_features == 64 and model.fc1.out_features == 512
    assert build("mlp", units=10, layers=1).fc1.out_features == 10


def test_resnet_blocks_shortcuts_and_names():
    model = build("resnet", depth=2, batchnorm=True)
    names = dict(model.named_modules())
    blocks = [n for n in names if re.fullmatch(r"stage\d\.block\d", n)]
    assert len(blocks) == 12
    assert names["stage1.block1"].shortcut is None and names["stage2.block1"].shortcut is not None
    assert {"stage1.block1.relu1", "stage1.block1.relu2", "stem_bn", "gap", "out"} <= set(names)
    plain = build("resnet")
    assert plain.stage1.block1.bn1 is None and float(plain.stage1.block1.conv2.weight.detach().abs().sum()) == 0.0


def test_lstm_is_stacked_and_returns_logits_per_character():
    model = build("lstm", depth=2, width=0.5)
    assert len(_children(model, "lstm")) == 4 and model.lstm1.lstm.hidden_size == 64
    x = torch.as_tensor(load("text")[2][:3])
    assert model(x).shape == (3, 50, len(TEXT_VOCAB))
    assert model.lstm2(torch.zeros(3, 7, 64)).shape == (3, 7, 64)


@pytest.mark.parametrize("kind", KINDS)
def test_build_is_deterministic_and_leaves_the_rng_alone(kind):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = build(kind, seed=4), build(kind, seed=4), build(kind, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))
    assert a.zoo_build["kind"] == kind and a.zoo_build["seed"] == 4


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(UnknownOptionError, match="kind must be one of 'mlp', 'cnn', 'resnet', 'lstm'; got 'vit'"):
        build("vit")


def test_unknown_option_lists_the_kinds_options():
    with pytest.raises(UnknownOptionError, match=r"build\('cnn'\) got unknown option\(s\) hidden; its options are "
                                                 r"width, depth, batchnorm, seed and input_shape, n_classes, "
                                                 r"channels, convs_per_stage"):
        build("cnn", hidden=3)


def test_bad_build_values_are_refused():
    with pytest.raises(UnknownOptionError, match="batchnorm=True applies to 'mlp', 'cnn' and 'resnet', not to 'lstm'"):
        build("lstm", batchnorm=True)
    with pytest.raises(UnknownOptionError, match="width must be a finite number > 0; got 0"):
        build("mlp", width=0)
    with pytest.raises(UnknownOptionError, match="depth must be a positive integer; got 1.5"):
        build("mlp", depth=1.5)
    with pytest.raises(UnknownOptionError, match="batchnorm must be True or False; got 1"):
        build("cnn", batchnorm=1)
    with pytest.raises(UnknownOptionError, match="seed must be a non-negative integer; got -2"):
        build("cnn", seed=-2)
    with pytest.raises(UnknownOptionError, match="channels must hold 3 positive integers, one per stage"):
        build("cnn", channels=(8, 8))


def test_bad_input_shapes_are_refused():
    with pytest.raises(ShapeError, match=r"input_shape of a 'cnn' network must be \(channels, height, width\)"):
        build("cnn", input_shape=(64,))
    with pytest.raises(ShapeError, match="too small for the 'resnet' network's 2 downsamplings by 2"):
        build("resnet", input_shape=(1, 3, 3))
    with pytest.raises(UnknownOptionError, match=r"input_shape\[1\] must be a positive integer; got 0"):
        build("mlp", input_shape=(1, 0))
