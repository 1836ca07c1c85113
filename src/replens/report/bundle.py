"""The output folder of a comparison: matrices, tidy CSV, heatmaps, manifest and report.

Every file is written atomically (a reader sees the old file or the complete new one), so an
interrupted run never leaves a half-written result beside complete ones. matplotlib and
pandas are imported when a folder is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_path
from ..results.matrix import SimilarityMatrix
from .html import _heatmap_png, write_report

__all__ = ["heatmap_file_name", "write_outputs"]

_HEATMAP_DPI = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def write_outputs(matrix: SimilarityMatrix, out_dir: str | Path, manifest: Mapping[str, Any], *,
                  report: bool, title: str = "replens comparison", summary: Sequence[str] = (),
                  extra_tables: Sequence[tuple[str, Any]] = ()) -> list[Path]:
    """Write a comparison's files into `out_dir` (created if missing); return their paths.

    ``similarities.npz`` (the SimilarityMatrix), ``similarities.csv`` (tidy: measure,
    layer_a, layer_b, value; the measure column holds the matrix's measure labels), one
    ``heatmap_<measure>.png`` per measure (:func:`heatmap_file_name`), ``manifest.json`` and,
    if `report`, a self-contained ``report.html`` (:func:`~replens.report.write_report`) with
    `title`, `summary` lines (default: the layer counts, measures and compare options) and
    `extra_tables` beside the heatmaps. Cost: one matplotlib render per heatmap (0.1-0.3 s).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [matrix.save(out_dir / "similarities.npz")]
    csv_path = out_dir / "similarities.csv"
    with atomic_path(csv_path) as temporary:
        matrix.to_dataframe().to_csv(temporary, index=False)
    written.append(csv_path)
    used: set[str] = set()
    for measure in matrix.measures:
        png = out_dir / heatmap_file_name(measure, used)
        image, _, _ = _heatmap_png(matrix, measure, dpi=_HEATMAP_DPI)
        with atomic_path(png) as temporary:
            temporary.write_bytes(image)
        written.append(png)
    manifest_path = out_dir / "manifest.json"
    with atomic_path(manifest_path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    written.append(manifest_path)
    if report:
        attrs = matrix.attrs
        written.append(write_report(
            out_dir / "report.html", title=title,
            summary_lines=list(summary) or [
                f"{len(matrix.layers_a)} x {len(matrix.layers_b)} layers, measures: {', '.join(matrix.measures)}",
                f"{attrs.get('n_examples', '?')} examples; conv={attrs.get('conv')}, "
                f"layout={attrs.get('layout')}, sequence={attrs.get('sequence')}"],
            matrices=[(f"{m} ({attrs.get('name_a', 'A')} vs {attrs.get('name_b', 'B')})", matrix, m)
                      for m in matrix.measures],
            tables=list(extra_tables), manifest=dict(manifest)))
    return written


def heatmap_file_name(measure: str, used: set[str] | None = None) -> str:
    """``heatmap_<measure>.png`` with the characters a file name should not hold made ``_``.

    ``rbf_cka(bandwidth=0.5)`` gives ``heatmap_rbf_cka_bandwidth=0.5.png`` and
    ``mymodule:score`` gives ``heatmap_mymodule_score.png``. Names already in `used` get a
    ``_2``, ``_3``, ... suffix; the name returned is added to `used`.
    """
    stem = f"heatmap_{_UNSAFE.sub('_', measure).strip('_') or 'measure'}"
    used = set() if used is None else used
    name, count = f"{stem}.png", 1
    while name in used:
        count += 1
        name = f"{stem}_{count}.png"
    used.add(name)
    return name
