"""The facts about each named measure, as data: plots, the CLI table and docs read them here."""

from __future__ import annotations

from dataclasses import dataclass

ORTHOGONAL = "orthogonal"
ISOTROPIC_SCALING = "isotropic_scaling"
INVERTIBLE_LINEAR = "invertible_linear"
TRANSLATION = "translation"


@dataclass(frozen=True)
class MeasureInfo:
    """What a named measure computes and which invariances it has (CKA paper Table 1).

    Attributes
    ----------
    name : str
        The name :func:`replens.compare` accepts.
    summary : str
        One line: what is computed.
    reference : str
        Where it is defined.
    bounds : tuple of float or None
        Range of values (None where unbounded); plots use it for the colour scale.
    symmetric : bool
        Whether ``m(X, Y) == m(Y, X)``.
    invariances : tuple of str
        Transformations of one input's features that leave the value unchanged.
    family : str
        Which per-layer preparation it shares ("linear_kernel", "debiased_linear_kernel",
        "rbf_kernel", "cca", "svcca").
    """

    name: str
    summary: str
    reference: str
    bounds: tuple[float | None, float | None]
    symmetric: bool
    invariances: tuple[str, ...]
    family: str


_ALL_LINEAR = (ORTHOGONAL, ISOTROPIC_SCALING, INVERTIBLE_LINEAR, TRANSLATION)
_SIMILARITY = (ORTHOGONAL, ISOTROPIC_SCALING, TRANSLATION)

MEASURES: dict[str, MeasureInfo] = {
    info.name: info
    for info in (
        MeasureInfo("linear_cka", "CKA with a linear kernel, biased HSIC",
                    "Kornblith et al. 2019 eq. 6", (0.0, 1.0), True, _SIMILARITY, "linear_kernel"),
        MeasureInfo("debiased_linear_cka", "CKA with a linear kernel, unbiased HSIC (Song et al. 2012); may be slightly negative",
                    "Kornblith et al. 2019 eq. 4 with the unbiased estimator", (None, 1.0), True,
                    _SIMILARITY, "debiased_linear_kernel"),
        MeasureInfo("rbf_cka", "CKA with an RBF kernel, sigma = bandwidth x median distance",
                    "Kornblith et al. 2019 sec. 4", (0.0, 1.0), True, _SIMILARITY, "rbf_kernel"),
        MeasureInfo("linear_hsic", "HSIC with a linear kernel, tr(KHLH)/(n-1)^2",
                    "Gretton et al. 2005; Kornblith et al. 2019 eq. 3", (0.0, None), True,
                    (ORTHOGONAL, TRANSLATION), "linear_kernel"),
        MeasureInfo("cca_mean_rho", "mean canonical correlation (rho-bar)",
                    "Raghu et al. 2017 eq. 1", (0.0, 1.0), True, _ALL_LINEAR, "cca"),
        MeasureInfo("cca_r2", "mean squared canonical correlation (R^2_CCA)",
                    "Kornblith et al. 2019 eq. 7", (0.0, 1.0), True, _ALL_LINEAR, "cca"),
        MeasureInfo("svcca_mean_rho", "mean canonical correlation after SVD truncation",
                    "Raghu et al. 2017 sec. 2", (0.0, 1.0), True, _SIMILARITY, "svcca"),
        MeasureInfo("svcca_r2", "mean squared canonical correlation after SVD truncation",
                    "Raghu et al. 2017; Kornblith et al. 2019 Table 1", (0.0, 1.0), True,
                    _SIMILARITY, "svcca"),
        MeasureInfo("pwcca", "projection-weighted mean canonical correlation, weights from the row layer",
                    "Morcos et al. 2018 sec. 2.2", (0.0, 1.0), False,
                    (ISOTROPIC_SCALING, TRANSLATION), "cca"),
        MeasureInfo("linear_regression_r2", "fraction of the row layer's variance explained by the column layer",
                    "Kornblith et al. 2019 eq. 5", (0.0, 1.0), False, _SIMILARITY, "cca"),
    )
}


def measures() -> list[MeasureInfo]:
    """Every measure :func:`replens.compare` accepts, with its bounds, symmetry and invariances.

    Examples
    --------
    >>> import replens as rl
    >>> [m.name for m in rl.measures()][:3]
    ['linear_cka', 'debiased_linear_cka', 'rbf_cka']
    """
    return list(MEASURES.values())
