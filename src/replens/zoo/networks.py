"""The zoo's network families: ``build(kind, *, width=1, depth=1, batchnorm=False, seed=0, **kw)``.

=========== ========================================================================================
kind        network (``w`` = width multiplier, ``d`` = depth multiplier)
=========== ========================================================================================
"mlp"       ``flat`` -> ``layers * d`` x [``fc<k>`` Linear(``units * w``), ``bn<k>``, ``relu<k>``]
            -> ``out`` Linear(n_classes). Defaults ``units=64, layers=4``.
"cnn"       3 stages of ``channels * w`` = (16, 32, 64) x w channels; stage s has
            ``convs_per_stage * d`` x [``conv<k>`` 3x3 pad 1, ``bn<k>``, ``relu<k>``], then
            ``pool<s>`` (2x2 max pool) after stages 1 and 2; ``gap`` (global average pool),
            ``flat``, ``out`` Linear(n_classes). Defaults ``convs_per_stage=2``: 6 conv layers,
            and 12, 24, 48 at depth 2, 4, 8: each layer repeated d times, the depth multipliers
            of Kornblith et al. 2019, sec. 6.2 (Fig. 3).
"resnet"    ``stem`` conv 3x3 (16 w channels), ``stem_bn``, ``stem_relu``; 3 stages ``stage<s>``
            of ``blocks_per_stage * d`` basic blocks ``stage<s>.block<b>`` (16, 32, 64 x w
            channels; the first block of stages 2 and 3 has stride 2 and a 1x1 projection
            ``shortcut``); ``gap``, ``flat``, ``out``. A block is ``conv1, bn1, relu1, conv2,
            bn2``, the shortcut added, then ``relu2``: the block's output is the post-residual
            activation, ``relu1`` the block interior (CKA Fig. 4). Default ``blocks_per_stage=2``.
"lstm"      ``embed`` Embedding(vocab_size, embedding) -> ``layers * d`` stacked single-layer LSTMs
            ``lstm<k>`` of ``hidden * w`` units, each returning its hidden-state sequence
            (n, T, h) -> ``out`` Linear(vocab_size) at every step: logits (n, T, vocab_size).
            Defaults ``vocab_size=97`` (the text dataset's), ``embedding=32, hidden=128,
            layers=2``. Character level; no batch norm.
=========== ========================================================================================

``bn<k>`` modules exist only with ``batchnorm=True`` (then the layer before them has no bias).
Image networks take ``input_shape`` (default ``(1, 14, 14)``, the ``"mnist14"`` images;
``(1, 8, 8)`` for ``"digits"``, ``(1, 28, 28)`` for ``"mnist"``) and ``n_classes`` (default
10); the MLP flattens any input shape. Every hidden representation is the output of a named
module, ready for :func:`replens.extract` and :class:`~replens.zoo.recorder.Recorder`.

Initialisation: He's (``kaiming_normal_``, fan-in, ReLU gain) for every conv and linear weight,
zero biases, batch norm at scale 1 and shift 0; a ResNet without batch norm starts each block's
last conv at zero (each block the identity at first). With PyTorch's default initialisation a
plain 6-layer CNN does not leave chance accuracy in 3 epochs of SGD on mnist14; with He's it
reaches 0.93. The LSTM keeps PyTorch's defaults (uniform in +-1/sqrt(hidden)). ``seed`` fixes
the initialisation (drawn inside :func:`torch.random.fork_rng` after ``torch.manual_seed(seed)``,
so the caller's random state is untouched): the same arguments give the same weights, bit for
bit. torch is imported when a network is built. The arguments are kept on the model as
``model.zoo_build`` (a dict).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .._validate import check_positive_int, check_positive_number
from ..errors import ShapeError, UnknownOptionError
from .text import TEXT_VOCAB

__all__ = ["KINDS", "build"]

KINDS = ("mlp", "cnn", "resnet", "lstm")
"""The network families :func:`build` makes."""

_OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": {"input_shape": (1, 14, 14), "n_classes": 10, "units": 64, "layers": 4},
    "cnn": {"input_shape": (1, 14, 14), "n_classes": 10, "channels": (16, 32, 64), "convs_per_stage": 2},
    "resnet": {"input_shape": (1, 14, 14), "n_classes": 10, "channels": (16, 32, 64), "blocks_per_stage": 2},
    "lstm": {"vocab_size": len(TEXT_VOCAB), "embedding": 32, "hidden": 128, "layers": 2},
}


def build(kind: str, *, width: float = 1, depth: int = 1, batchnorm: bool = False, seed: int = 0,
          **kw: Any) -> Any:
    """Build a freshly initialised network of the zoo (the families in the module's table).

    Parameters
    ----------
    kind : {"mlp", "cnn", "resnet", "lstm"}
    width : float, default 1
        Multiplies every layer's units or channels (rounded, at least 1).
    depth : int, default 1
        Multiplies the number of layers of each stage (each layer repeated `depth` times).
    batchnorm : bool, default False
        Batch normalisation after every linear or conv layer (not for "lstm").
    seed : int, default 0
        Fixes the initial weights; the caller's torch random state is untouched.
    **kw
        Per-kind options: ``input_shape``, ``n_classes``, ``units``, ``layers`` (mlp);
        ``input_shape``, ``n_classes``, ``channels``, ``convs_per_stage`` (cnn);
        ``input_shape``, ``n_classes``, ``channels``, ``blocks_per_stage`` (resnet);
        ``vocab_size``, ``embedding``, ``hidden``, ``layers`` (lstm).

    Returns
    -------
    torch.nn.Module
        In training mode, on the CPU, float32.

    Raises
    ------
    UnknownOptionError
        An unknown `kind` or option (both listing the valid ones), or an invalid value.
    ShapeError
        `input_shape` is not (channels, height, width) for a conv network, or too small for
        its two 2x2 poolings (strided stages).

    Examples
    --------
    >>> from replens.zoo import build
    >>> net = build("cnn", width=0.5, depth=2, batchnorm=True, seed=3)
    >>> sum(1 for name, _ in net.named_children() if name.startswith("conv"))
    12
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise UnknownOptionError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}.")
    unknown = sorted(set(kw) - set(_OPTIONS[kind]))
    if unknown:
        raise UnknownOptionError(
            f"build({kind!r}) got unknown option(s) {', '.join(unknown)}; its options are "
            f"width, depth, batchnorm, seed and {', '.join(_OPTIONS[kind])}.")
    width = check_positive_number("width", width)
    depth = check_positive_int("depth", depth)
    if not isinstance(batchnorm, bool):
        raise UnknownOptionError(f"batchnorm must be True or False; got {batchnorm!r}.")
    if kind == "lstm" and batchnorm:
        raise UnknownOptionError("batchnorm=True applies to 'mlp', 'cnn' and 'resnet', not to 'lstm'. "
                                 "Leave batchnorm out for the LSTM.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    options = {**_OPTIONS[kind], **kw}
    makers = {"mlp": _mlp, "cnn": _cnn, "resnet": _resnet, "lstm": _lstm}
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = makers[kind](width=width, depth=depth, batchnorm=batchnorm, **options)
        if kind != "lstm":
            _he_init(torch, model, zero_residual=(kind == "resnet" and not batchnorm))
    model.zoo_build = {"kind": kind, "width": width, "depth": depth, "batchnorm": batchnorm,
                       "seed": seed, **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}}
    return model


def _he_init(torch: Any, model: Any, *, zero_residual: bool) -> None:
    """He initialisation (He et al. 2015): every conv and linear weight from
    N(0, 2 / fan_in), biases 0. With `zero_residual` (a ResNet without batch norm) each block's
    last conv starts at 0, so that every block starts as the identity and the activations do
    not grow with depth (as in Fixup, Zhang et al. 2019, without its scalar multipliers)."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if zero_residual:
        from ._blocks import BasicBlock

        for module in model.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.conv2.weight)


# ---------------------------------------------------------------------------------------
# Option checks


def _scaled(name: str, base: Any, width: float) -> int:
    units = check_positive_int(name, base)
    return max(1, int(round(units * width)))


def _image_shape(kind: str, input_shape: Any, pools: int) -> tuple[int, int, int]:
    shape = _int_tuple("input_shape", input_shape)
    if len(shape) != 3:
        raise ShapeError(f"input_shape of a {kind!r} network must be (channels, height, width); got "
                         f"{input_shape!r}. For the digits pass (1, 8, 8), for mnist (1, 28, 28).")
    if min(shape[1:]) < 2 ** pools:
        raise ShapeError(f"input_shape {shape} is too small for the {kind!r} network's {pools} "
                         f"downsamplings by 2; height and width must be at least {2 ** pools}.")
    return shape


def _int_tuple(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise UnknownOptionError(f"{name} must be a non-empty sequence of positive integers; got {value!r}.")
    return tuple(check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))


def _channels(value: Any, width: float) -> tuple[int, int, int]:
    base = _int_tuple("channels", value)
    if len(base) != 3:
        raise UnknownOptionError(f"channels must hold 3 positive integers, one per stage; got {value!r}.")
    return tuple(max(1, int(round(c * width))) for c in base)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# The families


def _mlp(*, width: float, depth: int, batchnorm: bool, input_shape: Any, n_classes: Any, units: Any,
         layers: Any) -> Any:
    from torch import nn

    shape = _int_tuple("input_shape", input_shape)
    n_out = check_positive_int("n_classes", n_classes)
    n_hidden = check_positive_int("layers", layers) * depth
    size = _scaled("units", units, width)
    modules: OrderedDict[str, nn.Module] = OrderedDict(flat=nn.Flatten())
    previous = math.prod(shape)
    for k in range(1, n_hidden + 1):
        modules[f"fc{k}"] = nn.Linear(previous, size, bias=not batchnorm)
        if batchnorm:
            modules[f"bn{k}"] = nn.BatchNorm1d(size)
        modules[f"relu{k}"] = nn.ReLU()
        previous = size
    modules["out"] = nn.Linear(previous, n_out)
    return nn.Sequential(modules)


def _cnn(*, width: float, depth: int, batchnorm: bool, input_shape: Any, n_classes: Any, channels: Any,
         convs_per_stage: Any) -> Any:
    from torch import nn

    shape = _image_shape("cnn", input_shape, pools=2)
    n_out = check_positive_int("n_classes", n_classes)
    per_stage = check_positive_int("convs_per_stage", convs_per_stage) * depth
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    previous, k = shape[0], 0
    for stage, size in enumerate(_channels(channels, width), start=1):
        for _ in range(per_stage):
            k += 1
            modules[f"conv{k}"] = nn.Conv2d(previous, size, kernel_size=3, padding=1, bias=not batchnorm)
            if batchnorm:
                modules[f"bn{k}"] = nn.BatchNorm2d(size)
            modules[f"relu{k}"] = nn.ReLU()
            previous = size
        if stage < 3:
            modules[f"pool{stage}"] = nn.MaxPool2d(2)
    modules["gap"] = nn.AdaptiveAvgPool2d(1)
    modules["flat"] = nn.Flatten()
    modules["out"] = nn.Linear(previous, n_out)
    return nn.Sequential(modules)


def _resnet(*, width: float, depth: int, batchnorm: bool, input_shape: Any, n_classes: Any, channels: Any,
            blocks_per_stage: Any) -> Any:
    from torch import nn

    from ._blocks import BasicBlock

    shape = _image_shape("resnet", input_shape, pools=2)
    n_out = check_positive_int("n_classes", n_classes)
    per_stage = check_positive_int("blocks_per_stage", blocks_per_stage) * depth
    sizes = _channels(channels, width)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    modules["stem"] = nn.Conv2d(shape[0], sizes[0], kernel_size=3, padding=1, bias=not batchnorm)
    if batchnorm:
        modules["stem_bn"] = nn.BatchNorm2d(sizes[0])
    modules["stem_relu"] = nn.ReLU()
    previous = sizes[0]
    for stage, size in enumerate(sizes, start=1):
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for b in range(1, per_stage + 1):
            stride = 2 if (stage > 1 and b == 1) else 1
            blocks[f"block{b}"] = BasicBlock(previous, size, stride=stride, batchnorm=batchnorm)
            previous = size
        modules[f"stage{stage}"] = nn.Sequential(blocks)
    modules["gap"] = nn.AdaptiveAvgPool2d(1)
    modules["flat"] = nn.Flatten()
    modules["out"] = nn.Linear(previous, n_out)
    return nn.Sequential(modules)


def _lstm(*, width: float, depth: int, batchnorm: bool, vocab_size: Any, embedding: Any, hidden: Any,
          layers: Any) -> Any:
    from torch import nn

    from ._blocks import LSTMLayer

    vocab = check_positive_int("vocab_size", vocab_size)
    size = _scaled("hidden", hidden, width)
    n_layers = check_positive_int("layers", layers) * depth
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    modules["embed"] = nn.Embedding(vocab, check_positive_int("embedding", embedding))
    previous = modules["embed"].embedding_dim
    for k in range(1, n_layers + 1):
        modules[f"lstm{k}"] = LSTMLayer(previous, size)
        previous = size
    modules["out"] = nn.Linear(previous, vocab)
    return nn.Sequential(modules)
