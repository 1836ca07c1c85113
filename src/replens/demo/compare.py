"""Similarity tables between two networks' representations, computed with replens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..engine import compare
from ..measures import cca, cka, hsic, linear_regression_r2, pwcca, svcca

__all__ = [
    "Measure",
    "cka_matrix",
    "pair_measures",
    "format_matrix",
    "format_measures",
]

Layers = Sequence[tuple[str, np.ndarray]]


@dataclass(frozen=True)
class Measure:
    """One number, its label, and the interval it must lie in (None = unbounded)."""

    key: str
    label: str
    value: float
    low: float | None = 0.0
    high: float | None = 1.0

    def in_bounds(self, tol: float = 1e-9) -> bool:
        lo_ok = self.low is None or self.value >= self.low - tol
        hi_ok = self.high is None or self.value <= self.high + tol
        return bool(np.isfinite(self.value) and lo_ok and hi_ok)


def cka_matrix(layers_a: Layers, layers_b: Layers) -> np.ndarray:
    """``M[i, j]`` = linear CKA between layer i of A and layer j of B (via :func:`replens.compare`)."""
    return compare(list(layers_a), list(layers_b), "linear_cka", progress=False)["linear_cka"]


def pair_measures(
    x: np.ndarray,
    y: np.ndarray,
    *,
    name_x: str = "A",
    name_y: str = "B",
    rbf_bandwidth: float = 0.5,
    svcca_threshold: float = 0.99,
) -> list[Measure]:
    """Every replens measure between two representations ``x`` and ``y`` (n, p)."""
    canonical = cca(x, y)
    sv = svcca(x, y, threshold=svcca_threshold)
    pct = f"{100 * svcca_threshold:g}%"
    return [
        Measure("cka_linear", "linear CKA (biased HSIC, Kornblith et al. eq. 6)", cka(x, y)),
        Measure(
            "cka_linear_debiased",
            "linear CKA, debiased (unbiased HSIC, Song et al. 2012)",
            cka(x, y, debiased=True),
            low=None,  # may be slightly negative by design
        ),
        Measure(
            "cka_rbf",
            f"RBF CKA, sigma = {rbf_bandwidth:g} * sqrt(median sq. distance)",
            cka(x, y, kernel="rbf", bandwidth=rbf_bandwidth),
        ),
        Measure(
            "cca_mean_rho",
            f"CCA mean rho ({len(canonical.rho)} canonical correlation{'' if len(canonical.rho) == 1 else 's'})",
            canonical.mean_rho,
        ),
        Measure("cca_r2", "CCA R^2 = mean rho^2 (Kornblith et al. eq. 7)", canonical.r2),
        Measure(
            "svcca_mean_rho",
            f"SVCCA mean rho ({pct} variance: kept {sv.kept[0]} x {sv.kept[1]} directions)",
            sv.mean_rho,
        ),
        Measure(
            "pwcca_xy",
            f"PWCCA, weights from {name_x}: pwcca({name_x}, {name_y})",
            pwcca(x, y),
        ),
        Measure(
            "pwcca_yx",
            f"PWCCA, weights from {name_y}: pwcca({name_y}, {name_x})",
            pwcca(y, x),
        ),
        Measure(
            "lr2_x_from_y",
            f"linear regression R^2, {name_x} predicted from {name_y}",
            linear_regression_r2(x, y),
        ),
        Measure(
            "lr2_y_from_x",
            f"linear regression R^2, {name_y} predicted from {name_x}",
            linear_regression_r2(y, x),
        ),
        Measure(
            "hsic_linear",
            "linear HSIC, biased: tr(KHLH) / (n-1)^2 (unnormalised)",
            hsic(x, y),
            high=None,
        ),
    ]


def format_matrix(
    matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, digits: int = 3
) -> str:
    """Right-aligned text table: one header line, then one line per row."""
    matrix = np.asarray(matrix)
    if matrix.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix shape {matrix.shape} does not match the labels")
    cells = [[f"{v:.{digits}f}" for v in row] for row in matrix]
    row_w = max(len(s) for s in row_labels)
    col_w = max([len(s) for s in col_labels] + [len(c) for row in cells for c in row])
    lines = [" " * row_w + "".join("  " + s.rjust(col_w) for s in col_labels)]
    for label, row in zip(row_labels, cells):
        lines.append(label.ljust(row_w) + "".join("  " + c.rjust(col_w) for c in row))
    return "\n".join(lines)


def format_measures(measures: Sequence[Measure], *, digits: int = 4) -> str:
    """One ``label ... value`` line per measure, values aligned on the decimal point."""
    label_w = max(len(m.label) for m in measures)
    values = [f"{m.value:.{digits}f}" for m in measures]
    value_w = max(len(v) for v in values)
    return "\n".join(f"{m.label.ljust(label_w)}  {v.rjust(value_w)}" for m, v in zip(measures, values))
