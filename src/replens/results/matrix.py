"""SimilarityMatrix: the layer-by-layer result of :func:`replens.compare`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path, optional_import
from ..errors import ReplensError, UnknownOptionError
from ..measures.registry import measure_bounds

_FORMAT_VERSION = 1
# Optional per-entry statistics (replens.stats.compare), saved when present.
_STATISTICS = ("pvalues", "pvalues_corrected", "low", "high", "se")

UNINFORMATIVE_FLAG = ("uninformative: rank A + rank B > n - 1 forces canonical correlations to 1 "
                      "(Kornblith et al. 2019, Theorem 1)")
"""The reason an entry of ``attrs["uninformative"]`` carries, in the CSV's ``flag`` column."""


@dataclass(frozen=True)
class SimilarityMatrix:
    """Values of one or more measures for every pair (layer of A, layer of B).

    Attributes
    ----------
    values : ndarray of shape (n_measures, n_layers_a, n_layers_b)
        float64; ``values[k, i, j]`` is measure ``k`` between ``layers_a[i]`` (first
        argument, the "row" layer) and ``layers_b[j]``.
    layers_a, layers_b : tuple of str
        Layer names in the caller's order.
    measures : tuple of str
        Measure labels (``"linear_cka"``, ``"rbf_cka(bandwidth=0.5)"``), in the order of the
        first axis.
    attrs : dict
        How the matrix was computed (modes, number of examples, options).
    pvalues, pvalues_corrected, low, high, se : ndarray shaped like values, or None
        Statistics of each entry from :func:`replens.stats.compare` (permutation p-values,
        p-values corrected over each measure's grid, confidence bounds, standard errors);
        None where not computed.
    """

    values: np.ndarray
    layers_a: tuple[str, ...]
    layers_b: tuple[str, ...]
    measures: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    pvalues: np.ndarray | None = None
    pvalues_corrected: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    se: np.ndarray | None = None

    def __post_init__(self) -> None:
        expected = (len(self.measures), len(self.layers_a), len(self.layers_b))
        if self.values.shape != expected:
            raise ReplensError(f"values must have shape {expected} (measures, layers_a, layers_b); "
                               f"got {self.values.shape}.")
        for name in _STATISTICS:
            array = getattr(self, name)
            if array is not None and np.shape(array) != expected:
                raise ReplensError(f"{name} must have the shape of values, {expected}; got "
                                   f"{np.shape(array)}. Pass None where it was not computed.")

    def __getitem__(self, measure: str) -> np.ndarray:
        """The (n_layers_a, n_layers_b) matrix of one measure, by label.

        A bare name (``"rbf_cka"``) also finds the one measure of that name when the matrix
        holds only one (``"rbf_cka(bandwidth=0.5)"``).
        """
        return self.values[self.index(measure)]

    def index(self, measure: Any) -> int:
        """Position of `measure` (a label, a bare name, or a Measure) on the first axis."""
        label = getattr(measure, "label", measure)
        if label in self.measures:
            return self.measures.index(label)
        named = [k for k, held in enumerate(self.measures) if held.split("(", 1)[0] == label]
        if len(named) == 1:
            return named[0]
        detail = (f"it holds several measures named {label!r}; index by label" if named else "")
        raise UnknownOptionError(
            f"measure {label!r} is not in this matrix{'; ' + detail if detail else ''}; it holds "
            f"{', '.join(self.measures)}.")

    def uninformative_mask(self, measure: Any) -> np.ndarray:
        """Boolean (n_layers_a, n_layers_b): the entries of `measure` that Theorem 1 of the CKA
        paper makes uninformative (``attrs["uninformative"]``, recorded by :func:`replens.compare`).

        CCA-family values there are forced towards 1 whatever the data, because
        rank A + rank B > n - 1 (also after SVCCA truncation). All False for other measures
        and for matrices made without the record.
        """
        label = self.measures[self.index(measure)]
        mask = np.zeros((len(self.layers_a), len(self.layers_b)), dtype=bool)
        for i, j in (self.attrs.get("uninformative") or {}).get(label, ()):
            mask[int(i), int(j)] = True
        return mask

    def to_xarray(self) -> Any:
        """An ``xarray.DataArray`` with dims (measure, layer_a, layer_b)."""
        xr = optional_import("xarray", "io", "SimilarityMatrix.to_xarray")

        return xr.DataArray(
            self.values,
            dims=("measure", "layer_a", "layer_b"),
            coords={"measure": list(self.measures), "layer_a": list(self.layers_a),
                    "layer_b": list(self.layers_b)},
            attrs={key: json.dumps(value) for key, value in self.attrs.items()},
            name="similarity",
        )

    def to_dataframe(self) -> Any:
        """A tidy ``pandas.DataFrame`` with columns measure, layer_a, layer_b, value."""
        pd = optional_import("pandas", "io", "SimilarityMatrix.to_dataframe")

        k, i, j = np.meshgrid(np.arange(len(self.measures)), np.arange(len(self.layers_a)),
                              np.arange(len(self.layers_b)), indexing="ij")
        return pd.DataFrame({
            "measure": np.asarray(self.measures, dtype=object)[k.ravel()],
            "layer_a": np.asarray(self.layers_a, dtype=object)[i.ravel()],
            "layer_b": np.asarray(self.layers_b, dtype=object)[j.ravel()],
            "value": self.values.ravel(),
        })

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to an ``.npz`` file atomically (no pickled objects); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise UnknownOptionError(f"SimilarityMatrix.save writes .npz files; got {str(path)!r}. "
                                     f"Use a path ending in .npz.")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, values=self.values, layers_a=np.asarray(self.layers_a, dtype=str),
                     layers_b=np.asarray(self.layers_b, dtype=str),
                     measures=np.asarray(self.measures, dtype=str),
                     meta=np.asarray(json.dumps({"format": _FORMAT_VERSION, "attrs": self.attrs})),
                     **{name: getattr(self, name) for name in _STATISTICS if getattr(self, name) is not None})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "SimilarityMatrix":
        """Read a matrix written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(values=np.asarray(data["values"], dtype=np.float64),
                       layers_a=tuple(str(v) for v in data["layers_a"]),
                       layers_b=tuple(str(v) for v in data["layers_b"]),
                       measures=tuple(str(v) for v in data["measures"]),
                       attrs=meta.get("attrs", {}),
                       **{name: np.asarray(data[name], dtype=np.float64) for name in _STATISTICS
                          if name in data.files})

    def plot(self, measure: str | None = None, ax: Any = None, *, annotate: bool | None = None
             ) -> tuple[Any, Any]:
        """Heatmap of one measure: layers of A on the vertical axis, of B on the horizontal.

        The origin is at the lower left (first layers meet there, as in the CKA paper's
        figures); the colour scale spans the measure's bounds where it has them, and the
        colour bar is labelled with the measure's name. `annotate` writes each value in
        its cell (default: when both sides have at most 12 layers). Returns ``(fig, ax)``.
        """
        plt = optional_import("matplotlib.pyplot", "plot", "SimilarityMatrix.plot")

        measure = self.measures[self.index(measure or self.measures[0])]
        matrix = self[measure]
        low, high = self.attrs.get("bounds", {}).get(measure) or measure_bounds(measure.split("(", 1)[0])
        if ax is None:
            size = 1.5 + 0.35 * max(len(self.layers_a), len(self.layers_b))
            fig, ax = plt.subplots(figsize=(min(size + 1.2, 16), min(size, 14)))
        else:
            fig = ax.figure
        image = ax.imshow(matrix, origin="lower", cmap="magma", aspect="auto",
                          vmin=np.nanmin(matrix) if low is None else low,
                          vmax=np.nanmax(matrix) if high is None else high)
        if annotate if annotate is not None else max(matrix.shape) <= 12:
            middle = 0.5 * sum(image.get_clim())
            for (i, j), value in np.ndenumerate(matrix):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if value > middle else "white")
        # Layer names are text, never matplotlib math: "$" must not be parsed.
        ax.set_xticks(range(len(self.layers_b)), self.layers_b, rotation=60, ha="right", parse_math=False)
        ax.set_yticks(range(len(self.layers_a)), self.layers_a, parse_math=False)
        ax.set_xlabel(self.attrs.get("name_b", "layers of B"))
        ax.set_ylabel(self.attrs.get("name_a", "layers of A"))
        colorbar = fig.colorbar(image, ax=ax)
        colorbar.set_label(measure)
        ax.set_title(measure)
        _mark_uninformative(ax, self.uninformative_mask(measure), measure)
        fig.tight_layout()
        return fig, ax


def _mark_uninformative(ax: Any, mask: np.ndarray, measure: str) -> None:
    """Grey, cross-hatched cells over the entries in `mask`, and a title line saying why."""
    if not mask.any():
        return
    from matplotlib.patches import Rectangle

    for i, j in zip(*np.nonzero(mask)):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=(0.62, 0.62, 0.62, 0.9), hatch="xx",
                               edgecolor="white", linewidth=0, zorder=2))
    ax.set_title(f"{measure}\ngrey, crossed: uninformative (rank A + rank B > n - 1)", fontsize=9)
