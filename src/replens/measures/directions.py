"""Canonical directions: the weights, variates and projections behind CCA and SVCCA.

:func:`replens.cca` returns the canonical correlations only; the analyses of the SVCCA and
PWCCA papers need the directions themselves (which neuron combinations correlate, the
variates as signals over the examples, and projections of a layer onto its top directions).
They come from the same exact computation: orthonormal bases ``q_x``, ``q_y`` of the centred
column spaces (optionally truncated to the top singular directions, SVCCA) and the SVD
``q_x^T q_y = A diag(rho) B^T``; no covariance is inverted and no epsilon is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import Array, namespace_of, to_numpy
from .._validate import check_fraction, check_matrix, check_option, check_pair, check_positive_int, check_values
from ..errors import ShapeError, UnknownOptionError
from ._subspace import Basis, Principal, centre_informative, orthonormal_basis, principal_directions
from .cca import SVCCA_RULES, correlate, kept_directions, warn_if_uninformative

__all__ = ["CCADirections", "cca_directions"]

SIDES = ("x", "y")


@dataclass(frozen=True)
class CCADirections:
    """Canonical directions of two layers (result of :func:`cca_directions`), float64.

    Attributes
    ----------
    rho : ndarray of shape (k,)
        Canonical correlations, descending; equal to ``rl.cca(X, Y).rho`` (or
        ``rl.svcca(...).rho`` with truncation) to rounding.
    weights_x : ndarray of shape (p_x, k)
        Neuron weights of the canonical directions of X: ``variates_x = (X - mean_x) @ weights_x``.
        The minimum-norm weights where X's centred neurons are linearly dependent.
    weights_y : ndarray of shape (p_y, k)
        The same for Y.
    mean_x, mean_y : ndarray of shape (p_x,), (p_y,)
        Neuron means over the examples, subtracted before weighting.
    variates_x, variates_y : ndarray of shape (n, k)
        Canonical variates over the examples: orthonormal, centred columns with
        ``variates_x[:, i] @ variates_y[:, j] == rho[i] * (i == j)``, so that the Pearson
        correlation of column i of both is ``rho[i]``.
    loadings_x, loadings_y : ndarray of shape (k, p_x), (k, p_y)
        ``variates_x.T @ (X - mean_x)``: each neuron's regression on the variates, used by
        :meth:`project`.
    kept : tuple of int
        Directions of each side that entered CCA: the numerical ranks, or the singular
        directions SVCCA kept.
    """

    rho: np.ndarray
    weights_x: np.ndarray
    weights_y: np.ndarray
    mean_x: np.ndarray
    mean_y: np.ndarray
    variates_x: np.ndarray
    variates_y: np.ndarray
    loadings_x: np.ndarray
    loadings_y: np.ndarray
    kept: tuple[int, int]

    @property
    def k(self) -> int:
        """Number of canonical pairs, ``min(kept)``."""
        return int(self.rho.shape[0])

    def projector(self, k: int, side: str = "x") -> np.ndarray:
        """The (p, p) oblique projector onto the top-`k` canonical directions of one side.

        ``P_k = W_k (W_k^T S W_k)^{-1} W_k^T S`` with ``S = Xc^T Xc`` and ``W_k`` the first
        `k` columns of the side's weights (section 1 of the claims catalogue; SVCCA paper
        sec. 4.4 uses it for compression). The variates are orthonormal, so
        ``W_k^T S W_k = I`` and ``P_k = W_k L_k`` with the loadings ``L_k = W_k^T S``: no
        inverse is formed. Acting on rows, ``Xc @ P_k = V_k V_k^T Xc`` is every centred
        neuron's least-squares fit from the top-`k` variates; ``P_k @ P_k = P_k``.
        Cost ``O(p^2 k)``.
        """
        weights, loadings, _ = self._side(side)
        k = self._check_k(k)
        return weights[:, :k] @ loadings[:k, :]

    def project(self, acts: Array, k: int, side: str = "x") -> np.ndarray:
        """`acts` projected onto the top-`k` canonical directions, back in neuron space.

        ``mean + (acts - mean) @ P_k`` (see :meth:`projector`), computed as
        ``((acts - mean) @ W_k) @ L_k`` in ``O(m p k)``: each row keeps only what its top-`k`
        canonical variates carry. On the activations the directions were computed from,
        this is the fit of every neuron from those variates; on new inputs (e.g. inside a
        network's forward pass, SVCCA paper sec. 2.1) the same linear map.

        Parameters
        ----------
        acts : array-like of shape (m, p)
            Activations of the side's layer (any examples), p its number of neurons.
        k : int
            Number of top directions kept, ``1 <= k <= self.k``.
        side : {"x", "y"}, default "x"
            Which layer's directions.

        Returns
        -------
        ndarray of shape (m, p), float64.
        """
        weights, loadings, mean = self._side(side)
        k = self._check_k(k)
        xp, (acts,) = namespace_of(acts)
        check_matrix("acts", acts)
        acts = to_numpy(check_values(xp, "acts", acts, xp.float64))
        if acts.shape[1] != mean.shape[0]:
            raise ShapeError(
                f"acts must have the {mean.shape[0]} neurons of side {side!r} (shape (m, {mean.shape[0]})); "
                f"got shape {tuple(acts.shape)}. Pass activations of the layer given as "
                f"{side.upper()} to cca_directions.")
        return mean + ((acts - mean) @ weights[:, :k]) @ loadings[:k, :]

    def _side(self, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        check_option("side", side, SIDES)
        if side == "x":
            return self.weights_x, self.loadings_x, self.mean_x
        return self.weights_y, self.loadings_y, self.mean_y

    def _check_k(self, k: Any) -> int:
        k = check_positive_int("k", k)
        if k > self.k:
            raise UnknownOptionError(
                f"k must be at most the number of canonical directions, {self.k} (min(kept) = "
                f"min{self.kept}); got k={k}. Pass a smaller k.")
        return k


def cca_directions(
    X: Array,
    Y: Array,
    *,
    threshold: float | None = None,
    keep: int | None = None,
    rule: str = "variance",
) -> CCADirections:
    """Canonical correlations with their directions, weights and variates, computed exactly.

    Each input is centred, ``Xc = X - mean_x``, and given an orthonormal basis of its column
    space (numerical rank). With `threshold` or `keep` the basis is first truncated to the
    top singular directions ``U_k`` of ``Xc`` (SVCCA, Raghu et al. 2017 sec. 2, with the
    rule of :func:`replens.svcca`). With ``q_x^T q_y = A diag(rho) B^T`` (Bjorck & Golub
    1973), the canonical variates are ``variates_x = q_x A``, ``variates_y = q_y B`` and the
    weights solve ``Xc weights_x = variates_x`` through the SVD ``Xc = q R diag(s) V^T``
    already taken: ``q_x = q R_k = Xc V_k diag(1/s_k)``, so ``weights_x = V_k diag(1/s_k) A``
    (never a covariance inverse).

    Parameters
    ----------
    X : array-like of shape (n_examples, p_x)
        Activations of the first layer (numpy array or torch tensor).
    Y : array-like of shape (n_examples, p_y)
        Activations of the second layer for the same examples, in the same order.
    threshold : float in (0, 1], optional
        SVCCA truncation: keep the fewest top singular directions of each input reaching
        this fraction of the spectrum (by `rule`). None: no truncation (plain CCA).
    keep : int, optional
        SVCCA truncation to exactly this many top directions per input (capped at the
        rank, with a warning). Give `threshold` or `keep`, not both.
    rule : {"variance", "singular_values"}, default "variance"
        How `threshold` reads the spectrum, as in :func:`replens.svcca`.

    Returns
    -------
    CCADirections
        ``rho``, ``weights_x/y``, ``mean_x/y``, ``variates_x/y``, ``loadings_x/y``,
        ``kept``, with :meth:`~CCADirections.projector` and :meth:`~CCADirections.project`.

    Notes
    -----
    Cost: as :func:`replens.cca` (``O(n p^2)`` per input) plus one small SVD per input and
    ``O(n r k)`` for the variates. The directions of tied (or forced, see
    :class:`~replens.UninformativeWarning`) correlations are determined only up to a
    rotation within the tie, and every direction up to its sign; ``rho`` and the projections
    are unique. Work and results are float64.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 6))
    >>> d = rl.cca_directions(x, x @ rng.standard_normal((6, 4)))
    >>> d.rho.shape, d.weights_x.shape, d.variates_y.shape
    ((4,), (6, 4), (200, 4))
    >>> bool(np.allclose(d.rho, rl.cca(x, x @ rng.standard_normal((6, 4))).rho))
    True
    """
    check_option("rule", rule, SVCCA_RULES)
    if threshold is not None and keep is not None:
        raise UnknownOptionError(
            f"give threshold or keep, not both (threshold={threshold!r}, keep={keep!r}): threshold "
            f"keeps the top directions reaching a fraction of the spectrum, keep a fixed number.")
    if threshold is not None:
        threshold = check_fraction("threshold", threshold)
    if keep is not None:
        keep = check_positive_int("keep", keep)
    xp, x, y = check_pair(X, Y, dtype="float64")
    side_x = _prepared_side(xp, x, "X", threshold, keep, rule)
    side_y = _prepared_side(xp, y, "Y", threshold, keep, rule)
    warn_if_uninformative(x.shape[0], side_x.basis.rank, side_y.basis.rank)
    pair = correlate(xp, side_x.basis, side_y.basis, directions=True)
    k = pair.rho.shape[0]
    left, right = pair.left[:, :k], pair.right[:, :k]
    return CCADirections(
        rho=pair.rho,
        weights_x=to_numpy(side_x.to_neurons @ left),
        weights_y=to_numpy(side_y.to_neurons @ right),
        mean_x=to_numpy(xp.mean(x, axis=0)),
        mean_y=to_numpy(xp.mean(y, axis=0)),
        variates_x=to_numpy(side_x.basis.q @ left),
        variates_y=to_numpy(side_y.basis.q @ right),
        loadings_x=to_numpy(left.T @ side_x.basis.coords),
        loadings_y=to_numpy(right.T @ side_y.basis.coords),
        kept=(side_x.basis.rank, side_y.basis.rank),
    )


@dataclass(frozen=True)
class _Side:
    """One input's kept basis ``q`` and the map ``M`` (p, r) with ``q = Xc M``."""

    basis: Basis
    to_neurons: Array


def _prepared_side(xp: Any, x: Array, name: str, threshold: float | None, keep: int | None,
                   rule: str) -> _Side:
    principal: Principal = principal_directions(xp, orthonormal_basis(xp, centre_informative(xp, x, name)))
    if threshold is None and keep is None:
        kept = principal.s.shape[0]
    else:
        kept = kept_directions(to_numpy(principal.s), 1.0 if threshold is None else threshold, rule, keep, name)
    # Xc = q R diag(s) Vt, so Xc Vt_k^T diag(1/s_k) = q R_k: the kept basis in neuron weights.
    to_neurons = principal.vt[:kept, :].T / principal.s[None, :kept]
    return _Side(principal.top(kept), to_neurons)
