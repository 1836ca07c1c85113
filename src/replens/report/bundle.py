"""The output folder of a comparison: matrices, tidy CSV, heatmaps, manifest and report.

Every file is written atomically (a reader sees the old file or the complete new one), so an
interrupted run never leaves a half-written result beside complete ones. matplotlib is
imported when a heatmap is drawn; the CSV is written by the csv module (no pandas).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import CACHE_FORMAT, OUTPUT_FORMAT, atomic_folder, atomic_path, replens_folder_format
from ..errors import ReplensError
from ..results.matrix import UNINFORMATIVE_FLAG, SimilarityMatrix
from .html import _heatmap_png, write_report

__all__ = ["check_output_folder", "heatmap_file_name", "write_outputs", "write_sweep_csv", "write_tidy_csv",
           "OUTPUT_FORMAT_VERSION"]

OUTPUT_FORMAT_VERSION = 1

_HEATMAP_DPI = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def write_outputs(matrix: SimilarityMatrix, out_dir: str | Path, manifest: Mapping[str, Any], *,
                  report: bool, title: str = "replens comparison", summary: Sequence[str] = (),
                  extra_tables: Sequence[tuple[str, Any]] = ()) -> list[Path]:
    """Write a comparison's files into `out_dir` (created if missing); return their paths.

    ``similarities.npz`` (the SimilarityMatrix), ``similarities.csv`` (tidy, see
    :func:`write_tidy_csv`; the measure column holds the matrix's measure labels), one
    ``heatmap_<measure>.png`` per measure (:func:`heatmap_file_name`), ``manifest.json`` and,
    if `report`, a self-contained ``report.html`` (:func:`~replens.report.write_report`) with
    `title`, `summary` lines (default: the layer counts, measures and compare options) and
    `extra_tables` beside the heatmaps. Cost: one matplotlib render per heatmap (0.1-0.3 s).

    The manifest gains ``format: "replens.comparison"`` and ``format_version``. The files are
    written into a temporary folder beside `out_dir`, which then replaces `out_dir` whole: a
    previous output leaves no stale file (an old heatmap) behind, and an interrupted run
    leaves the previous output as it was. Only the files replens writes there (those named
    above, any ``heatmap_*.png``) are replaced; activation caches inside `out_dir` (as the
    pretrained demo keeps them) and any other file are moved into the new folder, never
    deleted. `out_dir` must be missing, empty, an earlier replens output, or hold only
    activation caches (:func:`check_output_folder`).
    """
    final_dir = Path(out_dir)
    check_output_folder(final_dir)
    manifest = {**manifest, "format": OUTPUT_FORMAT, "format_version": OUTPUT_FORMAT_VERSION}
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    with atomic_folder(final_dir, keep=_kept) as out_dir:
        written = _write_files(matrix, out_dir, manifest, report=report, title=title, summary=summary,
                               extra_tables=extra_tables)
    return [final_dir / path.relative_to(out_dir) for path in written]


def check_output_folder(out_dir: str | Path) -> None:
    """Refuse an output folder replens may not replace: a file, a non-empty folder replens did
    not write, or an activation cache (its activations would be deleted).

    A missing or empty folder, an earlier comparison's output (its manifest carries the
    ``replens.comparison`` format tag and a version), or a folder holding only activation
    caches (kept when the output is written) is fine. Cheap: a ``stat`` and a few small JSON
    reads, so callers check before any work.
    """
    out_dir = Path(out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ReplensError(f"the output folder {str(out_dir)!r} is a file; --out (out_dir) takes a folder, "
                           f"new or made by an earlier replens compare. Choose another path.")
    if not any(out_dir.iterdir()):
        return
    tag, foreign = replens_folder_format(out_dir)
    if tag == CACHE_FORMAT:
        raise ReplensError(f"the output folder {str(out_dir)!r} is an activation cache; writing a comparison "
                           f"there would delete its activations. Choose another --out (out_dir).")
    if tag is None and all(_is_cache(entry) for entry in out_dir.iterdir()):
        return
    if tag is None:
        raise ReplensError(f"the output folder {str(out_dir)!r} is not empty and was not written by replens "
                           f"({foreign}); replens writes a comparison only into a new or empty folder or an earlier output. Choose a new "
                           f"or empty folder for --out (out_dir), or remove this one yourself.")


def _is_cache(entry: Path) -> bool:
    return entry.is_dir() and replens_folder_format(entry)[0] == CACHE_FORMAT


# What write_outputs writes (and earlier versions wrote): replaced; anything else is kept.
_OUTPUT_FILE = re.compile(r"similarities\.(npz|csv)|heatmap_.*\.png|manifest\.json|report\.html")


def _kept(entry: Path) -> bool:
    """Whether an entry of an earlier output folder moves into the new one: an activation
    cache, or a file replens does not write there (the user's notes, an input)."""
    return _is_cache(entry) or not (entry.is_file() and _OUTPUT_FILE.fullmatch(entry.name))


def _write_files(matrix: SimilarityMatrix, out_dir: Path, manifest: Mapping[str, Any], *, report: bool,
                 title: str, summary: Sequence[str], extra_tables: Sequence[tuple[str, Any]]) -> list[Path]:
    written = [matrix.save(out_dir / "similarities.npz")]
    csv_path = out_dir / "similarities.csv"
    written.append(write_tidy_csv(matrix, csv_path))
    used: set[str] = set()
    for measure in matrix.measures:
        written.append(write_heatmap(out_dir / heatmap_file_name(measure, used), matrix, measure))
    written.append(write_manifest(out_dir / "manifest.json", manifest))
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
            tables=list(extra_tables), manifest=dict(manifest), value_tables=True))
    return written


def write_heatmap(path: Path, matrix: SimilarityMatrix, measure: str) -> Path:
    """One measure's heatmap as a PNG at `path`, written atomically; returns the path."""
    image, _, _ = _heatmap_png(matrix, measure, dpi=_HEATMAP_DPI)
    with atomic_path(path) as temporary:
        temporary.write_bytes(image)
    return path


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> Path:
    """`manifest` as indented, key-sorted JSON at `path`, written atomically; returns the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    return path


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


# (column, SimilarityMatrix field) of the statistics replens.stats.compare adds.
_STATISTICS_COLUMNS = (("pvalue", "pvalues"), ("pvalue_corrected", "pvalues_corrected"), ("ci_low", "low"),
                       ("ci_high", "high"), ("se", "se"))


def write_tidy_csv(matrix: SimilarityMatrix, path: str | Path) -> Path:
    """Write one row per (measure, layer_a, layer_b) entry to a CSV file atomically; return the path.

    Columns: ``measure, layer_a, layer_b, value``; then ``pvalue, pvalue_corrected, ci_low,
    ci_high, se`` when the matrix carries any statistics (a cell is empty where that one was
    not computed); then ``flag``: :data:`~replens.results.matrix.UNINFORMATIVE_FLAG` for an
    entry Theorem 1 of the CKA paper makes uninformative
    (:meth:`~replens.SimilarityMatrix.uninformative_mask`), empty otherwise. Numbers are
    written as Python's shortest repr, which reads back to the same float64; NaN as ``NaN``.
    Written with the csv module, so a core install needs no pandas. Cost: O(entries).
    """
    path = Path(path)
    statistics = [(column, getattr(matrix, field)) for column, field in _STATISTICS_COLUMNS]
    if all(array is None for _, array in statistics):
        statistics = []
    header = ["measure", "layer_a", "layer_b", "value", *(column for column, _ in statistics), "flag"]
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as stream:
        # RFC 4180 line ends: the csv module quotes a cell only if it holds a character of the
        # line terminator, so with "\n" alone a name holding "\r" would split its row.
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(header)
        for k, measure in enumerate(matrix.measures):
            flagged = matrix.uninformative_mask(measure)
            for i, layer_a in enumerate(matrix.layers_a):
                for j, layer_b in enumerate(matrix.layers_b):
                    writer.writerow([_csv_text(measure), _csv_text(layer_a), _csv_text(layer_b),
                                     _csv_number(matrix.values[k, i, j]),
                                     *(_csv_number(None if array is None else array[k, i, j])
                                       for _, array in statistics),
                                     UNINFORMATIVE_FLAG if flagged[i, j] else ""])
    return path


def _csv_number(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    return "NaN" if math.isnan(value) else repr(value)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    """A text cell (measure label, layer name), neutralised against spreadsheet formulas.

    A cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
    formula by spreadsheet programs (CSV injection); OWASP's guidance is to prefix such a
    cell with a single quote, which the spreadsheet shows as text. Numbers are written by
    :func:`_csv_number`, so a negative value stays a number.
    """
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


SWEEP_CSV_HEADER = ("measure", "model_a", "model_b", "layer_a", "layer_b", "value")


def write_sweep_csv(result: Any, path: str | Path) -> Path:
    """Write a sweep's entries as a tidy CSV atomically; return the path.

    `result` is a :class:`~replens.sweeps.sweep.SweepResult` (any object with ``values`` of
    shape (measures, models, models, layers, layers) and the tuples ``measures``, ``models``
    and ``layers``). Columns: ``measure, model_a, model_b, layer_a, layer_b, value``; one row
    per entry that holds a number, in the order of ``values`` (entries that are NaN, pairs
    not swept or layers a model lacks, are left out). Text cells are neutralised against
    spreadsheet formulas as in :func:`write_tidy_csv`; numbers are Python's shortest repr,
    which reads back to the same float64. Written with the csv module (no pandas), with
    RFC 4180 line ends. Cost: O(entries).
    """
    import numpy as np

    path = Path(path)
    values = np.asarray(result.values)
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(SWEEP_CSV_HEADER)
        for k, i, j, p, q in zip(*np.nonzero(~np.isnan(values))):
            writer.writerow([_csv_text(result.measures[k]), _csv_text(result.models[i]), _csv_text(result.models[j]),
                             _csv_text(result.layers[p]), _csv_text(result.layers[q]),
                             _csv_number(values[k, i, j, p, q])])
    return path
