"""Fourier-domain CCA of convolutional layers (SVCCA paper, Raghu et al. 2017, sec. 3.1, app. C).

Each channel of a conv layer is Fourier transformed over its spatial axes, and one CCA is
run per spatial frequency between the two layers' (n, c) complex data at that frequency.
For a translation-invariant dataset (every circular shift of every image) and layers that
commute with circular shifts, the covariance of the DFT-ed, flattened layers is block
diagonal with one c x c block per frequency (Theorem 1), so the per-frequency canonical
correlations are, as a multiset, exactly those of CCA on the flattened layers, at a
fraction of the cost. On ordinary data they are the natural per-frequency summary.

All frequencies are processed at once, as stacked (F, n, c) arrays, with batched linear
algebra; there is no Python loop over frequencies.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import (
    Array,
    complex_from_parts,
    device_of,
    machine_epsilon,
    namespace_of,
    real_fft,
    real_view,
    resolve_dtype,
    to_device_like,
    to_numpy,
)
from .._validate import check_option, check_values, unit_bounded
from ..errors import DegenerateInputError, ShapeError, TooFewExamplesError, UninformativeWarning
from ._subspace import TWO_PASS_LIMIT, UNIT_ROUNDING, centre, one_pass_limit
from .cca import CanonicalCorrelations

__all__ = ["dft_cca", "DFTCCAResult", "DFT_LAYOUTS"]

DFT_LAYOUTS = ("NHWC", "NCHW")

# Inputs whose largest magnitude lies outside this range are rescaled (exactly) first.
_SAFE_PEAK = (2.0**-30, 2.0**30)


@dataclass(frozen=True)
class DFTCCAResult(CanonicalCorrelations):
    """Result of :func:`dft_cca`.

    Attributes
    ----------
    rho : ndarray of shape (h', w', k)
        Canonical correlations at every kept spatial frequency, descending along the last
        axis; float64. ``k = min(c_x, c_y)``. At a frequency where the data of either
        layer have rank ``r < k``, the entries past ``min(r_x, r_y)`` are 0 (see
        :func:`dft_cca`, "Rank").
    frequencies : ndarray of shape (h', w', 2), int
        The signed spatial frequency ``(k_h, k_w)`` (cycles per map, numpy ``fftfreq``
        order: ``0, 1, ..., -2, -1``) of every location; ``rho[0, 0]`` is the zero
        frequency (the spatial mean).
    rank : ndarray of shape (h', w', 2), int
        Numerical ranks of the centred X and Y data at every frequency.
    mean_rho : float
        Mean of ``rho`` over all frequencies and coefficients (google/svcca's
        ``fourier_ccas`` "mean of all coefficients").
    r2 : float
        Mean of ``rho**2`` over the same entries.
    """

    frequencies: np.ndarray
    rank: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(h', w', k)``: kept frequencies along each axis and coefficients per frequency."""
        return tuple(int(s) for s in self.rho.shape)  # type: ignore[return-value]


def dft_cca(x: Array, y: Array, *, layout: str = "NHWC", dtype: Any = None) -> DFTCCAResult:
    """CCA of two conv layers at every spatial frequency (Raghu et al. 2017, sec. 3.1).

    Each channel is transformed with the 2-D DFT over the spatial axes; then, at every
    spatial frequency ``(k_h, k_w)``, the complex data ``X_hat[:, k_h, k_w, :]`` (n x c_x)
    and ``Y_hat[:, k_h, k_w, :]`` (n x c_y) are compared by exact complex CCA: each column
    is centred over the n examples (complex mean), orthonormal bases ``q_x``, ``q_y`` of the
    column spaces are taken (Hermitian inner product), and the canonical correlations are
    the singular values of ``q_x^H q_y``.

    Parameters
    ----------
    x : array-like of shape (n, h, w, c_x), or (n, c_x, h, w) with ``layout="NCHW"``
        Activations of the first conv layer: numpy array or torch tensor (any device).
    y : array-like of shape (n, h2, w2, c_y), or (n, c_y, h2, w2)
        Activations of the second layer for the same n inputs, in the same order.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        Axis order of both inputs. PyTorch stores conv activations as "NCHW".
    dtype : {None, "float64", "float32"}, default None
        Working precision: None means float64 (complex128 transforms).

    Returns
    -------
    DFTCCAResult
        ``rho`` (h', w', k), ``frequencies``, ``rank``, ``mean_rho`` and ``r2``.

    Raises
    ------
    ShapeError
        An input is not 4-D (or has an empty axis), the numbers of examples differ, or the
        spatial sizes differ and a map is not square.
    TooFewExamplesError
        Fewer than 2 examples.
    DtypeError, NonFiniteError
        Non-real dtype; NaN or infinite values.
    UnknownOptionError
        Unknown `layout` or `dtype`.
    DegenerateInputError
        A layer is the same for every example.

    Notes
    -----
    **Exactness (Theorem 1).** If the dataset holds every circular shift of each image
    and both layers are built from circular convolutions, pooling with circular boundary
    conditions and pointwise nonlinearities, the DFT makes the covariance of the flattened
    layers block diagonal, one c x c block per frequency. The ``h*w*min(c_x, c_y)``
    values of ``rho`` are then, as a multiset, exactly the canonical correlations of
    ``cca(x.reshape(n, -1), y.reshape(n, -1))`` (which the DFT leaves unchanged, being a
    unitary map of each layer's features). Real inputs make the spectrum Hermitian, so the
    CCA at ``(k_h, k_w)`` equals the one at ``(-k_h, -k_w)``; it is computed once. The
    zero frequency is ``h*w`` times the spatial mean, so ``rho[0, 0]`` equals
    ``cca(x.mean((1, 2)), y.mean((1, 2))).rho`` (for inputs of full rank).

    **Different spatial sizes.** As google/svcca's ``dft_ccas.fourier_ccas``: both maps
    must be square, and both keep only the frequencies of the smaller map, size
    ``s = min(h, h2)``: the signed frequencies ``k`` with ``-s/2 <= k < s/2`` on each axis
    (for a map of size h, the indices ``i`` with ``-s/2 <= fftfreq(h, 1/h)[i] < s/2``, in
    index order), so the output has the smaller map's ``fftfreq`` order. E.g. 8x8 against
    4x4 keeps indices (0, 1, 6, 7), frequencies (0, 1, -2, -1), of the 8x8 map on each axis.
    The frequency -s/2 of the larger map has no conjugate partner among the kept ones, so
    the symmetry ``rho(k) = rho(-k)`` does not hold on that row and column.
    An alternative is to average-pool the larger layer to the smaller size first, e.g.
    ``x.reshape(n, s, h // s, s, h // s, c).mean((2, 4))``, and compare equal sizes.
    Pooling multiplies each kept frequency by a non-zero factor (which CCA ignores) but also
    folds (aliases) the larger map's frequencies outside the band into the kept ones;
    cropping compares the shared band without aliasing.

    **Rank.** At each frequency, directions of a layer's centred data whose singular value
    is at most ``max(n, c) * eps * s_max`` are dropped, where ``s_max`` is the largest
    singular value of that layer over *all* frequencies (the largest singular value of the
    unitarily transformed, flattened layer, so the rule matches :func:`replens.cca` on the
    flattened data). A per-frequency reference would promote the FFT's rounding residue,
    e.g. at the non-zero frequencies of a spatially constant map, to spurious directions.
    Each frequency still reports ``k = min(c_x, c_y)`` values: past ``min(r_x, r_y)``
    they are 0, as google's pseudo-inverse gives them and as the singular values of the
    block-diagonal flattened cross product are.

    **Numerics.** For each frequency the basis comes from the eigendecomposition of the
    Hermitian Gram matrix when ``eps * cond^2`` is small, with a second pass when needed
    (Cholesky-QR2 argument), otherwise from the SVD of the centred data (as
    :func:`replens.cca` does), all batched over frequencies. Cost: two real FFTs, then
    about ``F n (c_x^2 + c_y^2 + c_x c_y)`` complex multiply-adds for ``F ~ h w / 2``
    distinct frequencies. google/svcca casts to complex64 and runs an epsilon-0
    covariance-inverse CCA per location in a Python loop; its coefficients agree with
    these to about 1e-7.

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((200, 6, 6, 4))
    >>> r = rl.dft_cca(x, 2 * x[..., ::-1] + 1)
    >>> r.rho.shape, bool(np.allclose(r.rho, 1))
    ((6, 6, 4), True)
    """
    check_option("layout", layout, DFT_LAYOUTS)
    xp, x, y, compute = _check_conv_pair(x, y, layout=layout, dtype=dtype)
    plan = frequency_plan(x.shape[1:3], y.shape[1:3])
    eps = machine_epsilon(xp, compute)
    return score_dft(xp, prepare_dft(xp, x, plan, "x", eps, "X"),
                     prepare_dft(xp, y, plan, "y", eps, "Y"), plan)


def prepare_dft(xp: Any, x: Array, plan: FrequencyPlan, side: str, eps: float, name: str) -> DFTLayer:
    """The per-layer half of :func:`dft_cca`: spectra at the plan's reads and their bases.

    `x` is a validated (n, h, w, c) NHWC array in the working dtype; `side` ("x" or "y")
    picks the plan's reads for this layer. The result depends only on the layer and on the
    other layer's spatial size (through the plan), so it can be reused across pairs.
    """
    rows, cols = (plan.rows_x, plan.cols_x) if side == "x" else (plan.rows_y, plan.cols_y)
    data = _spectra(xp, x, rows, cols)
    return DFTLayer(_bases(xp, data, eps, name), int(x.shape[0]), int(x.shape[3]), eps)


def score_dft(xp: Any, a: DFTLayer, b: DFTLayer, plan: FrequencyPlan) -> DFTCCAResult:
    """The per-pair half of :func:`dft_cca`: canonical correlations at every frequency.

    ``q_x^H q_y = t_x^H (z_x^H z_y) t_y``: the n-sized product once per frequency, then
    its singular values.
    """
    bx, by = a.bases, b.bases
    cross = _hermitian_t(xp, bx.t) @ hermitian_product(xp, bx.z, by.z) @ by.t
    rho = to_numpy(xp.linalg.svdvals(cross))
    k = min(a.channels, b.channels)
    if rho.shape[1] < k:  # more channels than examples: pad to the fixed k
        rho = np.concatenate([rho, np.zeros((rho.shape[0], k - rho.shape[1]))], axis=1)
    rho = rho[:, :k]
    rank_x, rank_y = to_numpy(bx.rank).astype(np.int64), to_numpy(by.rank).astype(np.int64)
    rho[np.arange(k)[None, :] >= np.minimum(rank_x, rank_y)[:, None]] = 0.0
    rho = unit_bounded(rho, max(UNIT_ROUNDING, 1e3 * max(a.eps, b.eps)), "canonical correlation")

    _warn_if_uninformative(a.n, rank_x, rank_y)
    h_out, w_out = len(plan.freq_h), len(plan.freq_w)
    frequencies = np.stack(np.meshgrid(plan.freq_h, plan.freq_w, indexing="ij"), axis=-1)
    ranks = np.stack([rank_x, rank_y], axis=-1)[plan.inverse].reshape(h_out, w_out, 2)
    return DFTCCAResult(rho=rho[plan.inverse].reshape(h_out, w_out, k), frequencies=frequencies,
                        rank=ranks)


# ------------------------------------------------------------------------------- validation


def _check_conv_pair(
    x: Array, y: Array, *, layout: str, dtype: Any
) -> tuple[Any, Array, Array, Any]:
    """Validate two conv layers; return ``(xp, x, y, compute_dtype)`` with x, y in NHWC."""
    xp, (x, y) = namespace_of(x, y)
    order = "(n, h, w, c)" if layout == "NHWC" else "(n, c, h, w)"
    for name, a in (("X", x), ("Y", y)):
        shape = tuple(int(s) for s in a.shape)
        if len(shape) != 4:
            fix = ("for dense (examples, features) layers use replens.cca" if len(shape) == 2 else
                   f"add the missing axes, e.g. {name}.reshape(n, 1, 1, c) for one position")
            raise ShapeError(
                f"{name} must be 4-D conv activations {order} (layout={layout!r}); got "
                f"{len(shape)}-D shape {shape}. To fix: {fix}.")
        if min(shape[1:]) < 1:
            raise ShapeError(
                f"{name} must have at least one position and one channel; got shape {shape} "
                f"(layout={layout!r}, axes {order}). Pass non-empty activations.")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"X and Y must have the same number of examples (axis 0); got X {tuple(x.shape)} "
            f"and Y {tuple(y.shape)}. Rows must be the same inputs, in the same order, passed "
            f"through both networks.")
    if x.shape[0] < 2:
        raise TooFewExamplesError(
            f"need at least 2 examples (axis 0) to centre the data; got {x.shape[0]} in X "
            f"{tuple(x.shape)}. Pass more examples.")
    compute = resolve_dtype(xp, dtype)
    x, y = (check_values(xp, name, a, compute) for name, a in (("X", x), ("Y", y)))
    if layout == "NCHW":
        x, y = (xp.permute_dims(a, (0, 2, 3, 1)) for a in (x, y))
    size_x, size_y = tuple(x.shape[1:3]), tuple(y.shape[1:3])
    if size_x != size_y:
        for name, size in (("X", size_x), ("Y", size_y)):
            if size[0] != size[1]:
                raise ShapeError(
                    f"X and Y have different spatial sizes, {size_x[0]}x{size_x[1]} and "
                    f"{size_y[0]}x{size_y[1]} (h x w; layout={layout!r}); then both maps must "
                    f"be square (as in google/svcca's fourier_ccas), but {name} is "
                    f"{size[0]}x{size[1]}. To fix: crop or pool both layers to the same "
                    f"spatial size, or to square maps.")
    return xp, x, y, compute


# ------------------------------------------------------------------------------ frequencies


def _signed(size: int) -> np.ndarray:
    """numpy ``fftfreq(size, 1/size)`` as integers: 0, 1, ..., -2, -1."""
    return np.fft.fftfreq(size, d=1.0 / size).round().astype(np.int64)


@dataclass(frozen=True)
class FrequencyPlan:
    """Which half-spectrum entries of each layer to read, and where each result goes.

    ``rows_*``, ``cols_*``: indices of the distinct reads in each layer's real-input
    spectrum; ``inverse``: the read of every output location (row-major over
    ``freq_h x freq_w``); ``freq_h``, ``freq_w``: the signed frequencies of the output.
    """

    rows_x: np.ndarray
    cols_x: np.ndarray
    rows_y: np.ndarray
    cols_y: np.ndarray
    inverse: np.ndarray
    freq_h: np.ndarray
    freq_w: np.ndarray


def frequency_plan(size_x: tuple[int, int], size_y: tuple[int, int]) -> FrequencyPlan:

    """Which half-spectrum entries to read, once per distinct CCA.

    The output grid holds the signed frequencies ``fftfreq(s)`` per axis, ``s`` the
    smaller size (google's crop, see :func:`dft_cca`). A signed frequency ``(a, b)`` of a
    map of size (H, W) is entry ``(a mod H, b mod W)`` of its full spectrum; a real-input
    FFT stores only the columns ``0..W//2``, and the others are conjugates:
    ``F[a, b] = conj(F[-a, -b])``. Conjugating the data of both layers leaves the CCA
    unchanged, so a location is read either at ``(a, b)`` in both layers or at
    ``(-a, -b)`` in both, whichever is stored (one always is), taking the smaller index
    tuple when both are. Locations with equal tuples (a frequency and its mirror) share one
    CCA.

    Returns the :class:`FrequencyPlan`: index arrays of the distinct reads, the map from
    every output location (row-major) to its read, and the signed frequencies of the
    output rows and columns.
    """
    (hx, wx), (hy, wy) = size_x, size_y
    freq_h, freq_w = _signed(min(hx, hy)), _signed(min(wx, wy))
    a, b = (g.ravel() for g in np.meshgrid(freq_h, freq_w, indexing="ij"))

    def read(sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.stack([sa % hx, sb % wx, sa % hy, sb % wy], axis=1)
        stored = (index[:, 1] <= wx // 2) & (index[:, 3] <= wy // 2)
        return index, stored

    direct, direct_ok = read(a, b)
    mirror, mirror_ok = read(-a, -b)
    # Always true for the kept band |k| <= s/2 <= W/2 (see above); a guard, not a check.
    assert bool(np.all(direct_ok | mirror_ok))
    take_mirror = mirror_ok & (~direct_ok | _lex_less(mirror, direct))
    chosen = np.where(take_mirror[:, None], mirror, direct)
    reads, inverse = np.unique(chosen, axis=0, return_inverse=True)
    return FrequencyPlan(*reads.T, inverse.ravel(), freq_h, freq_w)


def _lex_less(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise lexicographic ``p < q`` for integer arrays of shape (m, d)."""
    differs = p != q
    first = np.argmax(differs, axis=1)
    rows = np.arange(p.shape[0])
    return differs.any(axis=1) & (p[rows, first] < q[rows, first])


def _spectra(xp: Any, x: Array, rows: np.ndarray, cols: np.ndarray) -> Array:
    """Centred complex data at the chosen frequencies, stacked as a contiguous (F, n, c).

    The layer is centred over the examples before the transform (the DFT is linear, so this
    centres every frequency's columns, and costs half as much as centring complex data),
    with constant positions made exactly zero as :func:`replens.measures._subspace.centre`
    does. A frequency column that is constant over the examples although its positions are
    not then holds rounding residue of relative size eps, which the rank rule of
    :func:`_bases` (relative to the layer's largest singular value) drops. The spatial axes
    are moved in front of the examples first, so that each frequency's (n, c) data is one
    contiguous block of the transform.
    """
    # CCA ignores scale; a power of two rescales exactly, so that the Gram matrices
    # (squares of sums over n and h*w) neither overflow nor underflow.
    peak = max(float(xp.max(x)), -float(xp.min(x)))
    if peak > 0 and not (_SAFE_PEAK[0] <= peak <= _SAFE_PEAK[1]):
        x = x * 2.0 ** -math.floor(math.log2(peak))
    spatial_first = xp.permute_dims(centre(xp, x), (1, 2, 0, 3))  # (h, w, n, c)
    half = real_fft(xp, spatial_first, axes=(0, 1))
    rows, cols = (to_device_like(half, i) for i in (rows, cols))
    return half[rows, cols]  # gathered into a new (F, n, c)


# ------------------------------------------------------------------------------ the bases


def _hermitian_t(xp: Any, a: Array) -> Array:
    return xp.conj(xp.matrix_transpose(a))


def hermitian_product(xp: Any, a: Array, b: Array) -> Array:
    """Batched ``a^H b`` for complex (F, n, p) and (F, n, q), as one real matrix product.

    With ``a = A + iB`` and ``b = C + iD``, ``a^H b = (A^T C + B^T D) + i (A^T D - B^T C)``:
    the four real blocks come from one product of the real views (columns re, im
    interleaved), with no conjugated copy of either input; for ``a is b`` the product is
    symmetric. Same multiply-adds as a complex product, at real-BLAS speed.
    """
    ra, rb = real_view(a), (None if b is a else real_view(b))
    r = xp.matrix_transpose(ra) @ (ra if rb is None else rb)
    real = r[..., 0::2, 0::2] + r[..., 1::2, 1::2]
    imag = r[..., 0::2, 1::2] - r[..., 1::2, 0::2]
    return complex_from_parts(real, imag)


def _whiten(xp: Any, gram: Array) -> tuple[Array, Array]:
    """Batched ``T`` with ``T^H gram T = I`` where the eigenvalues are positive, and them."""
    values, vectors = xp.linalg.eigh(gram)
    positive = values > 0
    safe = xp.where(positive, values, xp.ones_like(values))
    return vectors / xp.astype(xp.sqrt(safe), vectors.dtype)[..., None, :], values


@dataclass(frozen=True)
class DFTLayer:
    """One conv layer prepared for Fourier CCA against layers of a given spatial size.

    ``bases``: per-frequency orthonormal bases; ``n`` examples, ``channels`` c, and the
    working precision's ``eps``.
    """

    bases: "_Bases"
    n: int
    channels: int
    eps: float


@dataclass(frozen=True)
class _Bases:
    """Per-frequency orthonormal bases ``q[f] = z[f] @ t[f]`` of one layer.

    ``z`` (F, n, m) and ``t`` (F, m, m) are batched; ``q[f]`` has orthonormal columns
    spanning frequency f's centred column space plus zero columns for dropped directions,
    ``rank`` (F,) counts the others.
    """

    z: Array
    t: Array
    rank: Array


def _bases(xp: Any, data: Array, eps: float, name: str) -> _Bases:
    """Per-frequency bases of the centred (F, n, p) data, as ``orthonormal_basis`` per matrix.

    Per frequency (as :func:`replens.measures._subspace.orthonormal_basis`): one Gram pass
    (``z`` = the data) when ``eps * cond^2 <= one_pass_limit(eps)``; two passes (``z`` = the once-whitened
    data) when it is at most 1e-4; else the thin SVD of the data, whose singular values at
    most ``max(n, p) * eps * s_max`` are dropped (``s_max``: the layer's largest singular
    value over all frequencies). A Gram-path frequency must also have all its singular
    values above that tolerance.
    """
    f_count, n, p = data.shape
    if p <= n:
        whiten, values = _whiten(xp, hermitian_product(xp, data, data))
        largest, smallest = values[:, -1], values[:, 0]
        s_max = float(xp.sqrt(xp.max(largest))) if f_count else 0.0
    else:
        s_max = float(xp.max(xp.linalg.svdvals(data)))
    if s_max == 0.0:
        raise DegenerateInputError(
            f"every channel of {name} is the same for every example (at every spatial "
            f"position), so it carries no information to compare. Check that {name} holds "
            f"the layer's activations for different inputs.")
    tolerance = max(n, p) * eps * s_max
    if p > n:
        u, t, rank = _svd_bases(xp, data, tolerance)
        return _Bases(u, t, rank)

    usable = (smallest > tolerance**2) & (eps * largest <= TWO_PASS_LIMIT * smallest)
    one_pass = usable & (eps * largest <= one_pass_limit(eps) * smallest)
    two_pass = usable & ~one_pass
    rank = xp.where(usable, xp.full_like(largest, p, dtype=xp.int64),
                    xp.zeros_like(largest, dtype=xp.int64))
    z, t = data, whiten
    if bool(xp.any(two_pass)):
        first = data[two_pass] @ whiten[two_pass]
        second, _ = _whiten(xp, hermitian_product(xp, first, first))
        z, t = (_replace(xp, full, two_pass, part) for full, part in ((z, first), (t, second)))
    if not bool(xp.all(usable)):
        rest = ~usable
        u, t_svd, rank_svd = _svd_bases(xp, data[rest], tolerance)
        z, t, rank = (_replace(xp, full, rest, part) for full, part in
                      ((z, u), (t, t_svd), (rank, rank_svd)))
    return _Bases(z, t, rank)


def _svd_bases(xp: Any, data: Array, tolerance: float) -> tuple[Array, Array, Array]:
    """Batched thin-SVD bases: ``Z = U``, ``T`` = identity with the dropped columns zeroed."""
    u, s, _ = xp.linalg.svd(data, full_matrices=False)
    keep = s > tolerance
    identity = xp.eye(s.shape[1], dtype=u.dtype, device=device_of(u))
    t = xp.astype(keep, u.dtype)[:, None, :] * identity
    return u, t, xp.sum(xp.astype(keep, xp.int64), axis=1)


def _replace(xp: Any, full: Array, mask: Array, part: Array) -> Array:
    """``full`` with the rows selected by the boolean ``mask`` replaced by ``part``."""
    out = xp.asarray(full, copy=True)
    out[mask] = part
    return out


def _warn_if_uninformative(n: int, rank_x: np.ndarray, rank_y: np.ndarray) -> None:
    forced = int(np.max(rank_x + rank_y)) - (n - 1) if rank_x.size else 0
    if forced > 0:
        warnings.warn(
            f"canonical correlations are uninformative at some spatial frequencies: there "
            f"the centred data have ranks summing to {forced + n - 1} but only {n} examples, "
            f"so at least {forced} canonical correlations equal 1 whatever the data "
            f"(Kornblith et al. 2019, Theorem 1). Use more examples than channels, or CKA.",
            UninformativeWarning,
            stacklevel=3,
        )
