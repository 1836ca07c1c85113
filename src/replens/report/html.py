"""One self-contained HTML page: summary, heatmaps, tables and the run's manifest.

The page is built by plain string assembly from escaped text: every string a caller passes
(title, summary lines, captions, table labels and cells, manifest keys and values) goes
through :func:`html.escape`; heatmaps are PNGs inside ``data:`` URIs; the style sheet is
inline. The file opens from disk in any browser, offline, with JavaScript off.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._io import atomic_path, optional_import, package_versions
from ..errors import ReplensError, UnknownOptionError
from ..results.matrix import SimilarityMatrix
from ._template import PAGE, STYLE

__all__ = ["write_report"]

_SUFFIXES = (".html", ".htm")
# PNGs are drawn at 150 dpi and shown at CSS's 96 px per inch: sharp on 1.5x screens, and a
# heatmap keeps the physical size SimilarityMatrix.plot gives it.
_PNG_DPI = 150
_CSS_PX_PER_INCH = 96

MatrixEntry = tuple[str, SimilarityMatrix, str]
TableEntry = tuple[str, Any]
ImageEntry = tuple[str, bytes]


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    summary_lines: Sequence[str] = (),
    matrices: Sequence[MatrixEntry] = (),
    tables: Sequence[TableEntry] = (),
    manifest: Mapping[str, Any] | None = None,
    images: Sequence[ImageEntry] = (),
    value_tables: bool = False,
) -> Path:
    """Write a self-contained HTML report to `path` atomically; return the path.

    Parameters
    ----------
    path : str or path-like
        Where to write; must end in ``.html`` or ``.htm``. Missing parent folders are
        created. A reader sees the old file or the complete new one, never a part.
    title : str
        Page title and heading.
    summary_lines : sequence of str
        Shown as a list at the top, one item per string.
    matrices : sequence of (caption, SimilarityMatrix, measure name)
        One heatmap each, drawn by :meth:`SimilarityMatrix.plot` on a matplotlib figure that
        is never shown (no pyplot state, any backend), embedded as a base64 PNG.
    tables : sequence of (caption, pandas.DataFrame)
        One HTML table each, every row kept. Numbers are right-aligned with one format per
        column (4 decimals, or 3 significant digits in scientific notation when the column
        spans very large or very small magnitudes); NaN is written ``NaN``. The index is
        shown unless it is the default 0..n-1 range.
    manifest : mapping or None
        How the results were made (inputs' hashes, versions, options): one definition-list
        entry per key, nested values as indented JSON, and the whole as JSON. Values JSON
        cannot encode are shown by ``str()``.
    images : sequence of (caption, PNG bytes)
        Figures already drawn (e.g. curves over training), embedded as base64 PNGs in a
        "Figures" section after the heatmaps; shown at 96/150 of their pixel size, the
        scale of a figure saved at 150 dpi.
    value_tables : bool, default False
        Show each matrix's values as an HTML table beside its heatmap (rows: layers of A,
        columns: layers of B, names as escaped text). Entries that Theorem 1 of the CKA
        paper makes uninformative (:meth:`SimilarityMatrix.uninformative_mask`) are greyed
        and marked in the table as in the heatmap, and the section explains the mark.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ReplensError
        An argument has the wrong type or shape (checked before anything is drawn).
    UnknownOptionError
        `path` does not end in .html/.htm, or a measure is not in its matrix.

    Notes
    -----
    Cost: one matplotlib render per matrix (about 0.1-0.3 s each) dominates; the file
    grows by roughly 30-100 kB per heatmap.

    Examples
    --------
    >>> import numpy as np, pandas as pd, replens as rl
    >>> from replens.report import write_report
    >>> m = rl.SimilarityMatrix(np.eye(2)[None], ("a1", "a2"), ("b1", "b2"), ("linear_cka",))
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(out, title="demo", summary_lines=["2 x 2 layers"],
    ...              matrices=[("linear CKA", m, "linear_cka")],
    ...              tables=[("values", m.to_dataframe())], manifest={"seed": 0}) == out
    True
    """
    path = Path(path)
    _check_arguments(path, title, summary_lines, matrices, tables, manifest)
    _check_images(images)
    if not isinstance(value_tables, bool):
        raise ReplensError(f"value_tables must be True or False; got {type(value_tables).__name__} "
                           f"({value_tables!r:.60}).")
    page = _render_page(title, summary_lines, matrices, tables, manifest, images=images,
                        value_tables=value_tables)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_bytes(page.encode("utf-8"))
    return path


# ---------------------------------------------------------------------------------------
# Validation: every check runs before the first figure is drawn.

def _check_arguments(path: Path, title: Any, summary_lines: Any, matrices: Any, tables: Any,
                     manifest: Any) -> None:
    if path.suffix.lower() not in _SUFFIXES:
        raise UnknownOptionError(f"write_report writes .html files; got path={str(path)!r}. "
                                 f"Use a path ending in .html.")
    _check_text(title, "title")
    _check_sequence(summary_lines, "summary_lines", "a sequence of str, one per line")
    for index, line in enumerate(summary_lines):
        _check_text(line, f"summary_lines[{index}]")
    _check_sequence(matrices, "matrices", "a sequence of (caption, SimilarityMatrix, measure name)")
    for index, entry in enumerate(matrices):
        _check_matrix_entry(entry, index)
    _check_sequence(tables, "tables", "a sequence of (caption, pandas.DataFrame)")
    for index, entry in enumerate(tables):
        _check_table_entry(entry, index)
    if manifest is not None and not isinstance(manifest, Mapping):
        raise ReplensError(f"manifest must be a dict (or None); got {type(manifest).__name__}. "
                           f"Pass e.g. manifest={{'inputs': ..., 'versions': ..., 'options': ...}}.")


def _check_images(images: Any) -> None:
    _check_sequence(images, "images", "a sequence of (caption, PNG bytes)")
    for index, entry in enumerate(images):
        argument = f"images[{index}]"
        caption, png = _unpack(entry, argument, 2, "a (caption, PNG bytes) pair")
        _check_text(caption, f"{argument}[0] (the caption)")
        if not isinstance(png, bytes) or not png.startswith(_PNG_SIGNATURE):
            raise ReplensError(f"{argument}[1] must be the bytes of a PNG file; got "
                               f"{type(png).__name__} ({png!r:.40}). Save the figure with "
                               f"fig.savefig(buffer, format='png') and pass buffer.getvalue().")


def _check_text(value: Any, argument: str) -> None:
    if not isinstance(value, str):
        raise ReplensError(f"{argument} must be a str; got {type(value).__name__} ({value!r:.60}). "
                           f"Convert it with str() first.")


def _check_sequence(value: Any, argument: str, expected: str) -> None:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ReplensError(f"{argument} must be {expected}; got {type(value).__name__} ({value!r:.60}). "
                           f"Wrap a single item in a list: {argument}=[...].")


def _unpack(entry: Any, argument: str, length: int, expected: str) -> Sequence[Any]:
    """`entry` if it is a tuple or list of `length` items, else a ReplensError naming `expected`."""
    if not isinstance(entry, Sequence) or isinstance(entry, str) or len(entry) != length:
        raise ReplensError(f"{argument} must be {expected}; got {type(entry).__name__} ({entry!r:.60}).")
    return entry


def _check_matrix_entry(entry: Any, index: int) -> None:
    argument = f"matrices[{index}]"
    caption, matrix, measure = _unpack(entry, argument, 3, "a (caption, SimilarityMatrix, measure name) triple")
    _check_text(caption, f"{argument}[0] (the caption)")
    if not isinstance(matrix, SimilarityMatrix):
        raise ReplensError(f"{argument}[1] must be a SimilarityMatrix (from replens.compare); "
                           f"got {type(matrix).__name__}.")
    _check_text(measure, f"{argument}[2] (the measure name)")
    if measure not in matrix.measures:
        raise UnknownOptionError(f"{argument}[2]: measure {measure!r} is not in this matrix; it holds "
                                 f"{', '.join(matrix.measures)}.")


def _check_table_entry(entry: Any, index: int) -> None:
    argument = f"tables[{index}]"
    caption, frame = _unpack(entry, argument, 2, "a (caption, pandas.DataFrame) pair")
    _check_text(caption, f"{argument}[0] (the caption)")
    pd = optional_import("pandas", "io", "a table in the report")

    if not isinstance(frame, pd.DataFrame):
        hint = " Convert a Series with .to_frame()." if isinstance(frame, pd.Series) else ""
        raise ReplensError(f"{argument}[1] must be a pandas.DataFrame; got {type(frame).__name__}.{hint}")


# ---------------------------------------------------------------------------------------
# Page assembly

def _render_page(title: str, summary_lines: Sequence[str], matrices: Sequence[MatrixEntry],
                 tables: Sequence[TableEntry], manifest: Mapping[str, Any] | None, *,
                 images: Sequence[ImageEntry] = (), value_tables: bool = False) -> str:
    sections: list[tuple[str, str, str]] = []  # (anchor, heading, body markup)
    if summary_lines:
        items = "".join(f"<li>{_text(line)}</li>" for line in summary_lines)
        sections.append(("summary", "Summary", f'<ul class="summary">{items}</ul>'))
    if matrices and value_tables:
        sections.append(("matrices", "Similarity matrices", _matrices_with_values(matrices)))
    elif matrices:
        figures = "\n".join(_heatmap_figure(caption, matrix, measure) for caption, matrix, measure in matrices)
        sections.append(("matrices", "Similarity matrices", f'<div class="figures">\n{figures}\n</div>'))
    if images:
        figures = "\n".join(_image_figure(caption, png) for caption, png in images)
        sections.append(("figures", "Figures", f'<div class="figures">\n{figures}\n</div>'))
    if tables:
        body = "\n".join(_table_figure(caption, frame) for caption, frame in tables)
        sections.append(("tables", "Tables", body))
    if manifest is not None:
        sections.append(("manifest", "Manifest", _manifest_block(manifest)))

    contents = ""
    if len(sections) > 1:
        links = "".join(f'<a href="#{anchor}">{heading}</a>' for anchor, heading, _ in sections)
        contents = f'<nav class="contents" aria-label="Sections">{links}</nav>'
    markup = "\n".join(f'<section class="card" id="{anchor}">\n<h2>{heading}</h2>\n{body}\n</section>'
                       for anchor, heading, body in sections)
    if not sections:
        markup = '<section class="card"><p class="empty">This report is empty.</p></section>'
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = package_versions().get("replens", "unknown")
    return PAGE.substitute(title=_text(title), version=_text(version), generated=generated,
                           style=STYLE + (_VALUES_STYLE if value_tables else ""), contents=contents,
                           sections=markup)


def _text(value: Any) -> str:
    """Any value as escaped HTML text (quotes too: the same helper fills attributes)."""
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------------------------------
# Heatmaps

def _heatmap_figure(caption: str, matrix: SimilarityMatrix, measure: str) -> str:
    png, width, height = _heatmap_png(matrix, measure)
    data = base64.b64encode(png).decode("ascii")
    alt = _text(f"Heatmap of {measure}: {caption}")
    return (f'<figure class="heatmap">'
            f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" alt="{alt}">'
            f'<figcaption>{_text(caption)}</figcaption></figure>')


def _heatmap_png(matrix: SimilarityMatrix, measure: str, *, dpi: int = _PNG_DPI) -> tuple[bytes, int, int]:
    """PNG bytes of ``matrix.plot(measure)`` at `dpi` and its display size in CSS pixels.

    The figure is a bare ``matplotlib.figure.Figure``: it never touches pyplot's list of
    open figures or the configured backend, so nothing leaks and no window opens.
    """
    Figure = optional_import("matplotlib.figure", "plot", "drawing heatmaps").Figure

    size = _heatmap_size(matrix)
    figure = Figure(figsize=size)
    matrix.plot(measure, ax=figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    width, height = (round(inches * _CSS_PX_PER_INCH) for inches in size)
    return buffer.getvalue(), width, height


def _heatmap_size(matrix: SimilarityMatrix) -> tuple[float, float]:
    """Figure size in inches: 0.35 in per cell at least, plus room for the tick labels.

    SimilarityMatrix.plot sizes its own figure by the number of layers only; long layer
    names then squeeze the cells to slivers, so here the labels' length counts too
    (10 pt ticks are about 0.083 in per character; B's labels are turned 60 degrees).
    """
    longest_a = max((len(name) for name in matrix.layers_a), default=0)
    longest_b = max((len(name) for name in matrix.layers_b), default=0)
    width = 0.8 + 0.083 * longest_a + max(0.35 * len(matrix.layers_b), 2.0) + 1.1
    height = 0.9 + 0.072 * longest_b + max(0.35 * len(matrix.layers_a), 1.6)
    return min(width, 16.0), min(height, 14.0)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image_figure(caption: str, png: bytes) -> str:
    """A drawn PNG as a figure; its display size from the pixel size in the PNG header."""
    width_px, height_px = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    width, height = (round(pixels * _CSS_PX_PER_INCH / _PNG_DPI) for pixels in (width_px, height_px))
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="heatmap">'
            f'<img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{_text(caption)}"><figcaption>{_text(caption)}</figcaption></figure>')


# ---------------------------------------------------------------------------------------
# Tables

def _table_figure(caption: str, frame: Any) -> str:
    import pandas as pd

    show_index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
                      and frame.index.step == 1 and frame.index.name is None)
    index_names = [name if name is not None else "" for name in frame.index.names] if show_index else []
    header = "".join(f'<th scope="col">{_text(name)}</th>' for name in index_names)
    formatters = [_column_formatter(frame.iloc[:, position]) for position in range(frame.shape[1])]
    header += "".join(f'<th scope="col"{_numeric_class(frame.iloc[:, position])}>{_text(_label(label))}</th>'
                      for position, label in enumerate(frame.columns))

    rows = []
    for label, values in zip(frame.index, frame.itertuples(index=False, name=None)):
        labels = (label if isinstance(label, tuple) else (label,)) if show_index else ()
        cells = "".join(f'<th scope="row">{_text(part)}</th>' for part in labels)
        for format_cell, value in zip(formatters, values):
            text, css = format_cell(value)
            cells += f'<td class="{css}">{_text(text)}</td>' if css else f"<td>{_text(text)}</td>"
        rows.append(f"<tr>{cells}</tr>")
    if not header:
        return (f'<figure class="table"><figcaption>{_text(caption)}</figcaption>'
                f'<p class="empty">This table is empty.</p></figure>')
    count = f"{len(frame)} row{'s' if len(frame) != 1 else ''} &times; {frame.shape[1]} column{'s' if frame.shape[1] != 1 else ''}"
    return (f'<figure class="table"><figcaption>{_text(caption)}</figcaption>'
            f'<div class="scroll"><table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + f'\n</tbody>\n</table></div><p class="rows">{count}</p></figure>')


def _label(label: Any) -> str:
    """A column label; MultiIndex tuples read 'outer / inner'."""
    return " / ".join(str(part) for part in label) if isinstance(label, tuple) else str(label)


def _numeric_class(column: Any) -> str:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
    return ' class="num"' if numeric else ""


def _column_formatter(column: Any) -> Callable[[Any], tuple[str, str]]:
    """One format for a whole column, so that its numbers line up: value -> (text, css class)."""
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return lambda value: _missing("") if _is_missing(value) else (str(bool(value)), "")
    if pd.api.types.is_integer_dtype(dtype):
        return lambda value: _missing("num") if _is_missing(value) else (f"{int(value):d}", "num")
    if pd.api.types.is_float_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        spec = _float_spec(values[np.isfinite(values)])
        return lambda value: _float_cell(value, spec)
    if pd.api.types.is_numeric_dtype(dtype):  # complex
        return lambda value: _missing("num") if _is_missing(value) else (str(value), "num")
    return _object_cell


def _float_spec(finite: Any) -> str:
    """The format spec for a float column, from the magnitudes of its finite values."""
    import numpy as np

    if finite.size == 0:
        return ".4f"
    magnitudes = np.abs(finite)
    largest = float(magnitudes.max())
    nonzero = magnitudes[magnitudes > 0]
    smallest = float(nonzero.min()) if nonzero.size else 0.0
    if largest < 1e15 and bool(np.all(finite == np.round(finite))):
        return ".0f"  # counts stored as float (e.g. because of a NaN) read as integers
    if largest >= 1e6 or 0 < smallest < 1e-3:
        return ".3e"
    return ".4f" if largest < 1e3 else ".2f"


def _float_cell(value: Any, spec: str) -> tuple[str, str]:
    if _is_missing(value):
        return _missing("num")
    value = float(value)
    if math.isnan(value):
        return "NaN", "num missing"
    if math.isinf(value):
        return ("inf" if value > 0 else "-inf"), "num"
    text = format(value, spec)
    return ("0" if spec == ".0f" and text == "-0" else text), "num"


def _object_cell(value: Any) -> tuple[str, str]:
    """A cell of a mixed or text column: floats in 4 significant digits, the rest as str()."""
    if _is_missing(value):
        return _missing("")
    if isinstance(value, bool):
        return str(value), ""
    if isinstance(value, numbers.Integral):
        return f"{int(value):d}", "num"
    if isinstance(value, numbers.Real):
        return _float_cell(value, ".4g")
    return str(value), ""


def _is_missing(value: Any) -> bool:
    if isinstance(value, float):
        return False  # NaN is a value of a float column, written "NaN" by _float_cell
    import pandas as pd

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other containers: not a scalar, not missing
        return False


def _missing(css: str) -> tuple[str, str]:
    """None, pd.NA, NaT: a dash (float NaN, a value, is written NaN instead)."""
    return "\N{EM DASH}", f"{css} missing".strip()


# ---------------------------------------------------------------------------------------
# Manifest

def _manifest_block(manifest: Mapping[str, Any]) -> str:
    if not manifest:
        return '<p class="empty">The manifest is empty.</p>'
    entries = "".join(f"<dt>{_text(key)}</dt><dd>{_manifest_value(value)}</dd>" for key, value in manifest.items())
    full = _json(manifest)
    return (f'<dl class="manifest">{entries}</dl>'
            f"<details><summary>The whole manifest as JSON</summary><pre>{_text(full)}</pre></details>")


def _manifest_value(value: Any) -> str:
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, (bool, numbers.Number)):
        return f"<code>{_text(_json(value))}</code>"
    return f"<pre>{_text(_json(value))}</pre>"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------
# Values beside the heatmaps

UNINFORMATIVE_NOTE = (
    "Grey, crossed cells in a heatmap and grey cells marked \N{DAGGER} in its table are "
    "uninformative: there rank A + rank B > n - 1 (after any SVCCA truncation), so at least "
    "rank A + rank B - (n - 1) canonical correlations equal 1 whatever the data (Kornblith et al. "
    "2019, Theorem 1), and a CCA-family value near 1 says nothing about the networks. The "
    "CSV's flag column names these entries. Use more examples than features, or CKA.")

_VALUES_STYLE = """
.matrix-entry { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; max-width: 100%; }
figure.values { flex: 1 1 320px; min-width: 0; max-width: 100%; }
figure.values figcaption { margin: 0 0 6px; }
figure.values table { min-width: 0; font-size: 12.5px; }
figure.values th, figure.values td { padding: 3px 8px; }
td.uninformative { background: #d6d6d6; color: #4a4a4a; }
p.note { margin: 0 0 14px; padding: 8px 12px; border-left: 3px solid #9e9e9e; background: var(--zebra); }
"""


def _matrices_with_values(matrices: Sequence[MatrixEntry]) -> str:
    """Each heatmap with its values table beside it; a note first when any entry is flagged."""
    flagged = any(matrix.uninformative_mask(measure).any() for _, matrix, measure in matrices)
    note = f'<p class="note uninformative-note">{_text(UNINFORMATIVE_NOTE)}</p>\n' if flagged else ""
    entries = "\n".join(f'<div class="matrix-entry">{_heatmap_figure(caption, matrix, measure)}'
                        f"{_values_table(caption, matrix, measure)}</div>"
                        for caption, matrix, measure in matrices)
    return f'{note}<div class="figures">\n{entries}\n</div>'


def _values_table(caption: str, matrix: SimilarityMatrix, measure: str) -> str:
    """One measure's matrix as a table: a row per layer of A, a column per layer of B.

    Every name is escaped text; one number format for the whole matrix (as in the tables
    section); flagged entries carry the class ``uninformative``, a dagger and a title.
    """
    import numpy as np

    values = matrix[measure]
    mask = matrix.uninformative_mask(measure)
    spec = _float_spec(values[np.isfinite(values)])
    corner = f"{matrix.attrs.get('name_a', 'A')} \\ {matrix.attrs.get('name_b', 'B')}"
    header = f'<th scope="col">{_text(corner)}</th>' + "".join(
        f'<th scope="col" class="num">{_text(name)}</th>' for name in matrix.layers_b)
    rows = []
    for i, name in enumerate(matrix.layers_a):
        cells = f'<th scope="row">{_text(name)}</th>'
        for j in range(len(matrix.layers_b)):
            text, css = _float_cell(values[i, j], spec)
            if mask[i, j]:
                cells += (f'<td class="{css} uninformative" title="uninformative (Theorem 1)">'
                          f"{_text(text)}\N{DAGGER}</td>")
            else:
                cells += f'<td class="{css}">{_text(text)}</td>'
        rows.append(f"<tr>{cells}</tr>")
    flagged = int(mask.sum())
    count = (f'<p class="rows">{flagged} of {mask.size} entries uninformative (\N{DAGGER})</p>'
             if flagged else "")
    return (f'<figure class="values"><figcaption>Values: {_text(caption)}</figcaption>'
            f'<div class="scroll"><table>\n<thead><tr>{header}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + f"\n</tbody>\n</table></div>{count}</figure>")
