"""Per-layer linear algebra shared by the CCA family: centring and orthonormal bases.

Every CCA-type measure needs, for each layer, an orthonormal basis of the column space of
its centred activations (and SVCCA the singular directions too). This module computes it
once per layer (the "prepare" half of a measure); the per-pair work is then one product
``q_x^T q_y`` of n x r_x by n x r_y matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._backend import Array, machine_epsilon
from ..errors import DegenerateInputError

# The Gram path whitens with the eigenvectors of G = Xc^T Xc. One pass leaves the basis
# orthonormal only up to about eps * cond(Xc)^2; a second pass on the result removes that
# (the Cholesky-QR2 argument) as long as eps * cond^2 stays well below one. Past that bound
# the SVD of Xc itself is taken, which also resolves rank deficiency.
TWO_PASS_LIMIT = 1e-4

# Cosines between unit vectors (canonical correlations, a biased CKA) are at most 1; rounding
# can give 1 + a few eps, which is reported as 1. A larger excess would be a bug.
UNIT_ROUNDING = 1e-8


def rank_tolerance(largest: float, shape: tuple[int, ...], eps: float) -> float:
    """numpy's ``matrix_rank`` tolerance ``s_max * max(shape) * eps``: singular values (or
    eigenvalues of a co-moment, for streaming CCA) at or below it count as zero."""
    return largest * max(shape) * eps


def one_pass_limit(eps: float) -> float:
    """Largest ``eps * cond^2`` for which one Gram pass is accurate enough.

    1e-11 in float64 keeps canonical correlations well within 1e-10 of exact (measured
    errors are far below the bound); in float32, which a caller picks for speed, 100 eps.
    """
    return max(1e-11, 100.0 * eps)


class CrossTable:
    """``q_i^T q_j`` of layers' full bases, filled by a pass over row blocks
    (:func:`replens.measures.blocks.cross_moments`) for the pairs being scored."""

    def __init__(self) -> None:
        self.products: dict[tuple[Any, Any], Array] = {}

    def get(self, key_x: Any, key_y: Any) -> Array:
        if (key_x, key_y) in self.products:
            return self.products[(key_x, key_y)]
        if (key_y, key_x) in self.products:
            return self.products[(key_y, key_x)].T
        raise KeyError(f"the cross product of {key_x!r} and {key_y!r} was not computed (a bug in replens)")


@dataclass(frozen=True)
class Blocked:
    """Where a basis built from row blocks finds its cross products: the layer's `key` in
    `table` (products of full bases) and the `rotation` (r_full x r) of this basis within the
    layer's full one (None: the full basis itself)."""

    table: CrossTable
    key: Any
    rotation: Array | None = None


@dataclass(frozen=True)
class Basis:
    """Orthonormal basis ``q`` (n x r) of a centred layer's column space.

    ``q`` is stored either explicitly or, when one Gram pass was accurate enough, as
    ``q = centred @ transform``, so that cross products ``q_x^T q_y`` can be formed as
    ``T_x^T (Xc^T Yc) T_y`` without materialising either basis. A basis built from row
    blocks (``blocked``, :mod:`replens.measures.blocks`) holds neither ``centred`` nor
    ``q``: its cross products with other blocked bases come from a :class:`CrossTable`.

    Attributes
    ----------
    centred : array of shape (n, p) or None
        The centred activations ``Xc`` (None when built from row blocks).
    coords : array of shape (r, p)
        ``q^T Xc``, the neurons expressed in the basis.
    transform : array of shape (p, r) or None
        ``T`` with ``q = Xc T``, when the basis is implicit.
    explicit_q : array of shape (n, r) or None
        ``q`` itself, when it is stored.
    blocked : Blocked or None
        Where the cross products are, for a basis the engine built from row blocks.
    """

    centred: Array | None
    coords: Array
    transform: Array | None = None
    explicit_q: Array | None = None
    blocked: Blocked | None = None

    @property
    def rank(self) -> int:
        return int(self.coords.shape[0])

    @property
    def q(self) -> Array:
        return self.explicit_q if self.explicit_q is not None else self.centred @ self.transform

    def rows(self, start: int, stop: int) -> Array:
        """Rows ``start:stop`` of ``q`` (an in-memory basis)."""
        if self.explicit_q is not None:
            return self.explicit_q[start:stop]
        return self.centred[start:stop] @ self.transform

    def with_table(self, table: CrossTable, key: Any) -> Basis:
        """This basis, its cross products looked up in `table` under `key`."""
        return Basis(self.centred, self.coords, self.transform, self.explicit_q, Blocked(table, key))


def project(basis: Basis, matrix: Array) -> Array:
    """``q^T matrix`` for an (n, m) matrix, without forming an implicit ``q``."""
    if basis.transform is not None:
        return basis.transform.T @ (basis.centred.T @ matrix)
    return basis.explicit_q.T @ matrix


def cross_product(basis_x: Basis, basis_y: Basis) -> Array:
    """``q_x^T q_y`` (r_x x r_y), without forming implicit bases.

    With both bases implicit the product is ``T_x^T (Xc^T Yc) T_y``: one n x p_x x p_y
    product and small ones. Its rounding error, about ``eps cond(Xc) cond(Yc)``, is within
    the one-pass bound that made the bases implicit. Bases built from row blocks take the
    product of their layers' full bases from their table, rotated to their own directions.
    """
    if basis_x.blocked is not None and basis_y.blocked is not None:
        product = basis_x.blocked.table.get(basis_x.blocked.key, basis_y.blocked.key)
        if basis_x.blocked.rotation is not None:
            product = basis_x.blocked.rotation.T @ product
        if basis_y.blocked.rotation is not None:
            product = product @ basis_y.blocked.rotation
        return product
    if basis_y.transform is not None:
        return project(basis_x, basis_y.centred) @ basis_y.transform
    return project(basis_x, basis_y.explicit_q)


@dataclass(frozen=True)
class Principal:
    """Thin SVD of a centred layer, ``Xc = (q rotation) diag(s) vt``, from its basis.

    SVCCA's input: the singular values decide how many directions to keep, and
    :meth:`top` returns the basis of the kept ones.
    """

    basis: Basis
    rotation: Array
    s: Array
    vt: Array

    def top(self, k: int) -> Basis:
        """Basis of the `k` leading singular directions, ``q rotation[:, :k]``."""
        rotation = self.rotation[:, :k]
        coords = self.s[:k, None] * self.vt[:k, :]
        blocked = self.basis.blocked
        if blocked is not None:
            inner = rotation if blocked.rotation is None else blocked.rotation @ rotation
            return Basis(None, coords, blocked=Blocked(blocked.table, blocked.key, inner))
        if self.basis.transform is not None:
            return Basis(self.basis.centred, coords, transform=self.basis.transform @ rotation)
        return Basis(self.basis.centred, coords, explicit_q=self.basis.q @ rotation)


def centre(xp: Any, x: Array) -> Array:
    """Subtract each column's mean (of the differences from the first example, so that a
    large offset leaves no residue); constant columns become exactly zero.

    Exact zeros matter: a constant column with a large offset would otherwise leave
    rounding residue of size eps * offset that a rank test could mistake for a direction.
    """
    return _centre(xp, x)[0]


def _centre(xp: Any, x: Array) -> tuple[Array, Array]:
    # Differences from the first example first: the mean of a column with a large offset
    # (1e15 on a spread of 1e3) would be off by about eps * offset, and that error would stay
    # in every centred value; the differences are exact (Sterbenz) and their mean is off by
    # eps * spread only. A constant column gives exact zeros, whose mean is exactly 0.
    centred = x - x[0:1, :]
    constant = xp.all(centred == 0, axis=0)
    centred -= xp.mean(centred, axis=0, keepdims=True)
    return centred, constant


def centre_informative(xp: Any, x: Array, name: str) -> Array:
    """:func:`centre`, raising DegenerateInputError when every column of `x` is constant."""
    centred, constant = _centre(xp, x)
    if bool(xp.all(constant)):
        raise constant_columns_error(name)
    return centred


def constant_columns_error(name: str) -> DegenerateInputError:
    """The error for a layer whose every column is constant over the examples."""
    return DegenerateInputError(
        f"every column of {name} is constant over the examples, so it carries no "
        f"information to compare. Check that {name} holds the layer's activations for "
        f"different inputs (shape (examples, features)).")


def orthonormal_basis(xp: Any, centred: Array) -> Basis:
    """Orthonormal basis of the column space of a centred matrix.

    The rank is the number of singular values ``s_i > s_1 * max(n, p) * eps`` (numpy's
    ``matrix_rank`` rule). Two algorithms, chosen by the condition number, give the same
    subspace to rounding:

    * tall and well conditioned (``eps * cond(Xc)^2 <= 1e-4``, so full rank): the
      eigendecomposition ``Xc^T Xc = V diag(s^2) V^T`` and ``q = Xc V diag(1/s)``, repeated
      once on ``q`` when ``eps * cond^2 > 1e-11`` (float64; see :func:`one_pass_limit`) so
      that ``q^T q = I`` to working precision (as in Cholesky-QR2). Cost ``2 n p^2`` to
      ``4 n p^2`` flops, all matrix products.
    * otherwise (wide, ill-conditioned or rank-deficient): the thin SVD of ``Xc``, about
      ``4 n p min(n, p)`` flops of slower LAPACK work.

    Parameters
    ----------
    centred : array of shape (n, p)
        Column-centred activations with at least one non-zero column.
    """
    n, p = centred.shape
    eps = machine_epsilon(xp, centred.dtype)
    if p <= n:
        gram_basis = _gram_basis(xp, centred, eps)
        if gram_basis is not None:
            return gram_basis
    return _svd_basis(xp, centred, eps)


def principal_directions(xp: Any, basis: Basis) -> Principal:
    """The thin SVD of ``Xc = q coords`` from its basis: one small SVD of ``coords``."""
    rotation, s, vt = xp.linalg.svd(basis.coords, full_matrices=False)
    return Principal(basis, rotation, s, vt)


def _descending_eigh(xp: Any, symmetric: Array) -> tuple[Array, Array]:
    values, vectors = xp.linalg.eigh(symmetric)
    return xp.flip(values, axis=0), xp.flip(vectors, axis=1)


def _whitening(xp: Any, gram: Array) -> tuple[Array, float] | None:
    """``T`` with ``T^T gram T = I`` and eps-free cond^2 of `gram`, or None if singular."""
    values, vectors = _descending_eigh(xp, gram)
    largest, smallest = float(values[0]), float(values[-1])
    if largest <= 0 or smallest <= 0:
        return None
    return vectors / xp.sqrt(values)[None, :], largest / smallest


def basis_from_moments(xp: Any, gram: Array, eps: float, second_moments: Any) -> tuple[Array | None, Array] | None:
    """The whitening of :func:`orthonormal_basis`'s Gram route from the co-moment alone.

    `gram` is ``Xc^T Xc`` (p x p, float64, accumulated over row blocks) and
    ``second_moments(T)`` returns ``(Xc T)^T (Xc T)`` from another pass over the rows, for
    the second whitening that the Cholesky-QR2 argument needs when ``eps cond^2 > 1e-11``.
    Returns ``(T, coords)`` with ``q = Xc T`` orthonormal and ``coords = q^T Xc``; after one
    whitening ``T = V diag(1/s)`` and ``coords = diag(s) V^T`` (``gram = V diag(s^2) V^T``),
    and T is returned as None because :func:`implicit_transform` recovers it from `coords`
    exactly (so that only one p x p matrix is held). None when the layer is rank-deficient or
    too ill-conditioned (``eps cond^2 > 1e-4``) for this route: the SVD of the whole layer is
    then needed.
    """
    first = _whitening(xp, gram)
    if first is None or eps * first[1] > TWO_PASS_LIMIT:
        return None
    transform, cond2 = first
    if eps * cond2 <= one_pass_limit(eps):
        return None, 1.0 / (transform * transform).sum(axis=0)[:, None] * transform.T
    second = _whitening(xp, second_moments(transform))
    if second is None:
        return None
    transform = transform @ second[0]
    return transform, transform.T @ gram


def implicit_transform(coords: Array) -> Array:
    """``T = V diag(1/s)`` from ``coords = diag(s) V^T`` (rows of norm s, V orthogonal)."""
    return coords.T / (coords * coords).sum(axis=1)[None, :]


def _gram_basis(xp: Any, centred: Array, eps: float) -> Basis | None:
    gram = centred.T @ centred
    first = _whitening(xp, gram)
    if first is None or eps * first[1] > TWO_PASS_LIMIT:
        return None
    transform, cond2 = first
    if eps * cond2 <= one_pass_limit(eps):
        return Basis(centred, transform.T @ gram, transform=transform)
    q = centred @ transform
    second = _whitening(xp, q.T @ q)
    if second is None:
        return None
    # q^T Xc = T^T G: the coordinates need only relative accuracy, so G can be reused.
    transform = transform @ second[0]
    return Basis(centred, transform.T @ gram, explicit_q=q @ second[0])


def _svd_basis(xp: Any, centred: Array, eps: float) -> Basis:
    n, p = centred.shape
    u, s, vt = xp.linalg.svd(centred, full_matrices=False)
    tolerance = rank_tolerance(float(s[0]), (n, p), eps)
    rank = int(xp.sum(xp.astype(s > tolerance, xp.int64)))
    return Basis(centred, s[:rank, None] * vt[:rank, :], explicit_q=u[:, :rank])
