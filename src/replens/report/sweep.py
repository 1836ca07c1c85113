"""The output folder of a sweep: tidy CSV, one model-by-model heatmap per measure and layer,
manifest and report.

The folder follows the rules of a comparison's output (:func:`~replens.report.write_outputs`):
it is checked by :func:`~replens.report.bundle.check_output_folder` before anything is
written, built in a temporary folder beside it and then put in its place whole, and its
``manifest.json`` carries a ``replens.*`` format tag, so a later run may replace it and no
other replens command mistakes it for a foreign folder. matplotlib is imported when the
first heatmap is drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_folder
from ..results.matrix import SimilarityMatrix
from .bundle import _OUTPUT_FILE, _UNSAFE, _is_cache, check_output_folder, write_heatmap, write_manifest, write_sweep_csv
from .html import write_report

__all__ = ["SWEEP_OUTPUT_FORMAT", "SWEEP_OUTPUT_FORMAT_VERSION", "sweep_heatmaps", "write_sweep_outputs"]

SWEEP_OUTPUT_FORMAT = "replens.sweep_report"
SWEEP_OUTPUT_FORMAT_VERSION = 1

# What write_sweep_outputs writes: replaced by a later run; anything else is kept.
_SWEEP_FILE = re.compile(r"values\.csv|heatmap_.*\.png|manifest\.json|report\.html")


def sweep_heatmaps(result: Any) -> list[tuple[str, str, str, SimilarityMatrix]]:
    """The model-by-model matrices a sweep's report draws: (measure, layer_a, layer_b, matrix).

    One per measure and layer: for every layer pair (layer, layer) that holds a value, the
    (N, N) matrix ``values[k, :, :, p, p]`` of measure k between the N models (rows: model_a,
    columns: model_b; NaN where a pair was not swept). A sweep with no same-layer pair (an
    explicit list of cross-layer pairs) gets one matrix per swept layer pair instead. Each is
    a :class:`~replens.SimilarityMatrix` with the models as its "layers", so it is drawn and
    tabled like a comparison's matrix. Cost: O(measures x layer pairs x N^2).
    """
    values = np.asarray(result.values)
    present = ~np.isnan(values).all(axis=(1, 2))  # (measures, layers, layers)
    models = tuple(result.models)
    entries = []
    for k, measure in enumerate(result.measures):
        pairs = [(p, p) for p in range(len(result.layers)) if present[k, p, p]]
        if not pairs:
            pairs = [(int(p), int(q)) for p, q in zip(*np.nonzero(present[k]))]
        for p, q in pairs:
            layer_a, layer_b = result.layers[p], result.layers[q]
            attrs = {"name_a": f"model_a ({layer_a})", "name_b": f"model_b ({layer_b})"}
            matrix = SimilarityMatrix(values[k, :, :, p, q][None].copy(), models, models, (measure,), attrs=attrs)
            entries.append((measure, layer_a, layer_b, matrix))
    return entries


def write_sweep_outputs(result: Any, out_dir: str | Path, manifest: Mapping[str, Any], *, report: bool = True,
                        title: str = "replens sweep", summary: Sequence[str] = ()) -> list[Path]:
    """Write a sweep's files into `out_dir` (created if missing); return their paths.

    Parameters
    ----------
    result : SweepResult
        ``values`` (measures, models, models, layers, layers) with its names, from
        :meth:`replens.sweeps.sweep.Sweep.run`.
    out_dir : str or Path
        Must be missing, empty, an earlier replens output, or hold only activation caches
        (:func:`~replens.report.bundle.check_output_folder`); checked before anything is drawn.
    manifest : mapping
        How the results were made (inputs' hashes, options, versions, the store); written as
        ``manifest.json`` with ``format: "replens.sweep_report"`` and ``format_version`` added.
    report : bool, default True
        Write ``report.html`` (:func:`~replens.report.write_report`).
    title, summary : str, sequence of str
        The report's title and summary lines (default: models, layers, measures and tiles).

    Returns
    -------
    list of Path
        ``values.csv`` (:func:`~replens.report.bundle.write_sweep_csv`), one
        ``heatmap_<measure>_<layer>.png`` per matrix of :func:`sweep_heatmaps` (layer pairs
        ``<layer_a>_vs_<layer_b>``), ``manifest.json`` and, if `report`, ``report.html`` with
        each heatmap beside its table of values.

    Notes
    -----
    The files are written into a temporary folder beside `out_dir`, which then replaces it
    whole: an earlier output leaves no stale heatmap behind, an interrupted run leaves the
    earlier output as it was. Activation caches and files replens does not write there are
    moved into the new folder, never deleted. Cost: one matplotlib render per heatmap
    (0.1-0.3 s each) dominates; M measures and L matching layers draw M L heatmaps.
    """
    final_dir = Path(out_dir)
    check_output_folder(final_dir)
    manifest = {**manifest, "format": SWEEP_OUTPUT_FORMAT, "format_version": SWEEP_OUTPUT_FORMAT_VERSION}
    entries = sweep_heatmaps(result)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(final_dir, keep=_kept) as building:
        written = [write_sweep_csv(result, building / "values.csv")]
        used: set[str] = set()
        for measure, layer_a, layer_b, matrix in entries:
            written.append(write_heatmap(building / _heatmap_name(measure, layer_a, layer_b, used), matrix, measure))
        written.append(write_manifest(building / "manifest.json", manifest))
        if report:
            lines = list(summary) or _summary(result)
            written.append(write_report(
                building / "report.html", title=title, summary_lines=lines,
                matrices=[(f"{measure}, layer {a}" if a == b else f"{measure}, layers {a} vs {b}", matrix, measure)
                          for measure, a, b, matrix in entries],
                manifest=dict(manifest), value_tables=True))
    return [final_dir / path.relative_to(building) for path in written]


def _summary(result: Any) -> list[str]:
    attrs = getattr(result, "attrs", {}) or {}
    return [f"{len(result.models)} models: {', '.join(result.models)}",
            f"{len(result.layers)} layers: {', '.join(result.layers)}; measures: {', '.join(result.measures)}",
            f"{result.total_tiles} tiles, {result.computed_tiles} computed in this run; "
            f"executor: {attrs.get('executor', 'in process')}",
            f"{attrs.get('n_examples', '?')} examples; conv={attrs.get('conv')}, layout={attrs.get('layout')}, "
            f"sequence={attrs.get('sequence')}; store: {attrs.get('store', '?')}"]


def _heatmap_name(measure: str, layer_a: str, layer_b: str, used: set[str]) -> str:
    layer = layer_a if layer_a == layer_b else f"{layer_a}_vs_{layer_b}"
    stem = "_".join(_UNSAFE.sub("_", part).strip("_") or "x" for part in (measure, layer))
    name, count = f"heatmap_{stem}.png", 1
    while name in used:
        count += 1
        name = f"heatmap_{stem}_{count}.png"
    used.add(name)
    return name


def _kept(entry: Path) -> bool:
    """Whether an entry of an earlier output folder moves into the new one: an activation
    cache, or a file no replens output writes (the user's notes)."""
    return _is_cache(entry) or not (entry.is_file() and (_SWEEP_FILE.fullmatch(entry.name)
                                                         or _OUTPUT_FILE.fullmatch(entry.name)))
