"""Measured invariances of a similarity index (CKA paper Table 1, sec. 2.2-2.3; SVCCA App. B).

Each transform of Table 1 is applied to the features of one or both representations with
a seeded random draw, and the index is computed again; the result is the absolute change.
An invariance holds to rounding (|change| ~ 1e-12); a missing one changes the value by far
more. Reported as measurements, not as the facts a measure declares about itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .._validate import check_option
from ..errors import UnknownOptionError
from ..measures.registry import as_measure
from ._arrays import checked_pair

__all__ = ["TRANSFORMS", "InvarianceCheck", "invariance_check"]

TRANSFORMS = ("permutation", "orthogonal", "isotropic", "anisotropic", "invertible", "translation")
SIDES = ("x", "y", "both")


@dataclass(frozen=True)
class InvarianceCheck(Mapping):
    """Result of :func:`invariance_check`; also a read-only mapping transform -> |change|.

    Attributes
    ----------
    measure : str
        The measure's label.
    value : float
        The index on the untransformed pair.
    deviations : mapping of str to float
        Transform name -> ``|s(T X, T Y) - s(X, Y)|`` (T applied to the sides in `side`).
    side : {"x", "y", "both"}
    """

    measure: str
    value: float
    deviations: Mapping[str, float]
    side: str

    def __getitem__(self, transform: str) -> float:
        return self.deviations[transform]

    def __iter__(self) -> Iterator[str]:
        return iter(self.deviations)

    def __len__(self) -> int:
        return len(self.deviations)

    def invariant(self, tolerance: float = 1e-8) -> dict[str, bool]:
        """Transform -> whether the measured change is below `tolerance`."""
        return {name: bool(change < tolerance) for name, change in self.deviations.items()}


def invariance_check(
    measure: Any,
    X: Any,
    Y: Any,
    *,
    transforms: Sequence[str] = TRANSFORMS,
    side: str = "both",
    seed: int = 0,
) -> InvarianceCheck:
    """The change of `measure` under each transform of the CKA paper's Table 1.

    Transforms act on the feature axis (rows stay the examples): ``permutation`` (a random
    reordering of the neurons), ``orthogonal`` (a Haar-random orthogonal matrix),
    ``isotropic`` (times 3.7), ``anisotropic`` (each neuron times a factor log-uniform in
    [0.2, 5]), ``invertible`` (a Gaussian matrix, condition number checked below 1e4) and
    ``translation`` (a Gaussian offset per neuron, of the features' scale).

    Parameters
    ----------
    measure : str or Measure
        A registered measure name (``"linear_cka"``, ``"cca_mean_rho"``, ...) or a
        :class:`~replens.Measure` / callable ``(X, Y) -> float``.
    X, Y : array-like of shape (n, p_x), (n, p_y)
    transforms : sequence of str, default all of :data:`TRANSFORMS`
    side : {"x", "y", "both"}, default "both"
        Which representation(s) are transformed; with ``"both"`` each gets its own draw.
        (Linear regression R^2 of X on Y is invariant to invertible maps of Y only.)
    seed : int, default 0

    Returns
    -------
    InvarianceCheck

    Notes
    -----
    Cost: ``len(transforms) + 1`` evaluations of the measure plus ``O(n p^2)`` per
    transform.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5)); Y = X @ rng.standard_normal((5, 4))
    >>> c = rl.analyses.invariance_check("linear_cka", X, Y)
    >>> c.invariant()["orthogonal"], c.invariant()["invertible"]
    (True, False)
    """
    check_option("side", side, SIDES)
    if isinstance(transforms, str) or not isinstance(transforms, Sequence) or not transforms:
        raise UnknownOptionError(f"transforms must be a non-empty sequence of names from {', '.join(TRANSFORMS)}; "
                                 f"got {transforms!r}.")
    for name in transforms:
        check_option("transforms", name, TRANSFORMS)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UnknownOptionError(f"seed must be a non-negative integer; got {seed!r}.")
    m = as_measure(measure)
    x, y = checked_pair(X, Y)
    base = float(m(x, y))
    rng = np.random.default_rng(seed)
    deviations = {}
    for name in transforms:
        tx = _transform(name, x, rng) if side in ("x", "both") else x
        ty = _transform(name, y, rng) if side in ("y", "both") else y
        deviations[name] = abs(float(m(tx, ty)) - base)
    return InvarianceCheck(measure=m.label, value=base, deviations=MappingProxyType(deviations), side=side)


def _transform(name: str, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = a.shape[1]
    if name == "permutation":
        return a[:, rng.permutation(p)]
    if name == "orthogonal":
        q, r = np.linalg.qr(rng.standard_normal((p, p)))
        return a @ (q * np.sign(np.diag(r)))
    if name == "isotropic":
        return 3.7 * a
    if name == "anisotropic":
        return a * np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=p))
    if name == "invertible":
        while True:
            matrix = rng.standard_normal((p, p))
            if np.linalg.cond(matrix) < 1e4:
                return a @ matrix
    return a + a.std() * rng.standard_normal(p)
