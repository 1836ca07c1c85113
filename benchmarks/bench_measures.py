"""Group "measures": linear CKA against numpy and PyPI peers, the CCA family against the
google/svcca algorithm, and the import time of replens.

(a) linear CKA, X (n, 2048) vs Y (n, 512) float32, n = 10000. Baselines: plain numpy
    feature-space CKA in float32 and in float64. Peers: pytorch-cka (``cka_from_features``),
    ckatorch (``cka_base``), torch-cka (``CKA.compare``: models and dataloaders only, so the
    features go through identity modules and one full-size batch).
(b) CCA, SVCCA (99% of variance) and PWCCA at X, Y (5000, 256) float64, each against the
    google/svcca covariance algorithm, with exactness checked against an independent
    SVD-based float64 CCA.
(c) wall-clock and ``-X importtime`` cost of ``import replens``; torch must stay unimported.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import warnings
from typing import Any

import numpy as np

from ._timing import (
    Contender,
    Timing,
    configure_torch_threads,
    fmt_ratio,
    fmt_seconds,
    race,
    ratio,
    table,
)

FULL = dict(cka_n=10000, cka_px=2048, cka_py=512, cca_n=5000, cca_p=256,
            repeats=5, budget_s=90.0, slow_s=120.0, import_runs=10, torch_import_runs=3)
QUICK = dict(cka_n=1000, cka_px=256, cka_py=64, cca_n=800, cca_p=64,
             repeats=3, budget_s=5.0, slow_s=20.0, import_runs=3, torch_import_runs=1)

VALUE_TOLERANCE = 1e-3  # peers' CKA against ours (same estimator)
EXACT_TOLERANCE = 1e-10  # replens' CCA family against the independent SVD reference
SVCCA_THRESHOLD = 0.99
GOOGLE_EPSILON = 1e-10


class Report:
    """Collects printed sections, target lines and warnings for stdout and the JSON."""

    def __init__(self) -> None:
        self.targets: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    def target(self, name: str, passed: bool | None, detail: str) -> None:
        status = "SKIP" if passed is None else ("PASS" if passed else "FAIL")
        self.targets.append({"target": name, "status": status, "detail": detail})
        print(f"{status}  {name}: {detail}")

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"WARNING  {message}")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------------------
# (a) linear CKA
# --------------------------------------------------------------------------------------

def cka_data(n: int, px: int, py: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 activations with shared low-rank structure; Y is a noisy ReLU layer on X."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 64), dtype=np.float32)
    mixing = rng.standard_normal((64, px), dtype=np.float32) / np.float32(8.0)
    x = latent @ mixing + rng.standard_normal((n, px), dtype=np.float32)
    weights = rng.standard_normal((px, py), dtype=np.float32) / np.float32(np.sqrt(px))
    y = np.maximum(x @ weights, np.float32(0)) + np.float32(0.5) * rng.standard_normal(
        (n, py), dtype=np.float32)
    return np.ascontiguousarray(x), np.ascontiguousarray(y)


def numpy_linear_cka(x: np.ndarray, y: np.ndarray, dtype: Any) -> float:
    """Feature-space linear CKA (Kornblith et al. eq. 6) in plain numpy, in `dtype`."""
    x = x.astype(dtype, copy=False)
    y = y.astype(dtype, copy=False)
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    cross = y.T @ x
    return float(np.sum(cross * cross) / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def numpy_debiased_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA (Song et al. unbiased HSIC), float64, from the *uncentred*
    features in feature space: an independent check of the debiased value."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    n = x.shape[0]

    def pieces(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        norms = np.einsum("ij,ij->i", a, a)  # diag(K)
        row_sums = a @ a.sum(axis=0) - norms  # K~ 1
        return norms, row_sums, float(row_sums.sum())  # 1^T K~ 1

    def hsic(a: np.ndarray, b: np.ndarray, pa: tuple, pb: tuple) -> float:
        cross = b.T @ a
        trace = float(np.sum(cross * cross)) - float(pa[0] @ pb[0])  # tr(K~ L~)
        value = trace + pa[2] * pb[2] / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(pa[1] @ pb[1])
        return value / (n * (n - 3))

    px, py = pieces(x), pieces(y)
    return hsic(x, y, px, py) / np.sqrt(hsic(x, x, px, px) * hsic(y, y, py, py))


def peer_contenders(x32: np.ndarray, y32: np.ndarray) -> tuple[list[Contender], dict[str, dict], list[str]]:
    """Contenders for the installed peers, with their estimator; missing peers listed."""
    import torch

    xt, yt = torch.from_numpy(x32), torch.from_numpy(y32)  # shares memory: no copy
    n = x32.shape[0]
    contenders: list[Contender] = []
    meta: dict[str, dict] = {}
    missing: list[str] = []

    try:
        import cka as pytorch_cka  # the pytorch-cka distribution installs the module "cka"

        if _version("pytorch-cka") is None:
            raise ImportError("module 'cka' is not pytorch-cka")

        def run_pytorch_cka() -> float:
            with torch.inference_mode():
                return float(pytorch_cka.cka_from_features(xt, yt).reshape(-1)[0].item())

        contenders.append(Contender(
            "pytorch_cka", f"pytorch-cka {_version('pytorch-cka')} cka_from_features", run_pytorch_cka,
            role="peer", note="n x n Grams in float32; unbiased HSIC; clamped to [0, 1]"))
        meta["pytorch_cka"] = {"estimator": "debiased", "dtype": "float32"}
    except ImportError:
        missing.append("pytorch-cka")

    try:
        from ckatorch import cka_base

        def run_ckatorch() -> float:
            with torch.inference_mode():
                return float(cka_base(xt, yt, kernel="linear", unbiased=False, method="fro_norm").item())

        contenders.append(Contender(
            "ckatorch", f"ckatorch {_version('ckatorch')} cka_base", run_ckatorch, role="peer",
            note="casts to float64; n x n Grams (800 MB each at n=10000)"))
        meta["ckatorch"] = {"estimator": "biased", "dtype": "float64"}
    except ImportError:
        missing.append("ckatorch")

    try:
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset
        from torch_cka import CKA as TorchCKA

        class Features(nn.Module):
            """Identity model: its one layer's output is the pre-computed features."""

            def __init__(self) -> None:
                super().__init__()
                self.features = nn.Identity()

            def forward(self, inputs: torch.Tensor) -> torch.Tensor:
                return self.features(inputs)

        def run_torch_cka() -> float:
            loader_x = DataLoader(TensorDataset(xt), batch_size=n, shuffle=False)
            loader_y = DataLoader(TensorDataset(yt), batch_size=n, shuffle=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comparer = TorchCKA(Features(), Features(), model1_name="X", model2_name="Y",
                                    model1_layers=["features"], model2_layers=["features"],
                                    device="cpu")
                with torch.no_grad():
                    comparer.compare(loader_x, loader_y)
            return float(comparer.export()["CKA"][0, 0])

        contenders.append(Contender(
            "torch_cka", f"torch-cka {_version('torch-cka')} CKA.compare", run_torch_cka, role="peer",
            note="models+dataloaders only: identity modules, one batch of all n rows; "
                 "float32; unbiased HSIC via n^3 products tr(K L)"))
        meta["torch_cka"] = {"estimator": "debiased", "dtype": "float32"}
    except ImportError:
        missing.append("torch-cka")

    return contenders, meta, missing


def bench_linear_cka(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    n, px, py = cfg["cka_n"], cfg["cka_px"], cfg["cka_py"]
    title = f"(a) linear CKA: X {n}x{px} vs Y {n}x{py}, float32 data"
    print(f"\n== {title}")
    x, y = cka_data(n, px, py)
    gram_mb = n * n * 8 / 1e6

    contenders = [
        Contender("numpy_f32", "numpy feature-space CKA, float32 (baseline)",
                  lambda: numpy_linear_cka(x, y, np.float32), role="baseline"),
        Contender("numpy_f64", "numpy feature-space CKA, float64 (baseline)",
                  lambda: numpy_linear_cka(x, y, np.float64), role="baseline",
                  note="includes the float32->float64 cast"),
        Contender("rl_f64", "replens rl.cka(X, Y)  [float64]", lambda: rl.cka(x, y), role="ours"),
        Contender("rl_f32", "replens rl.cka(X, Y, dtype='float32')",
                  lambda: rl.cka(x, y, dtype="float32"), role="ours"),
        Contender("rl_deb", "replens rl.cka(X, Y, debiased=True)  [float64]",
                  lambda: rl.cka(x, y, debiased=True), role="ours",
                  note="same estimator as pytorch-cka / torch-cka"),
    ]
    peers, peer_meta, missing = peer_contenders(x, y)
    for name in missing:
        report.warn(f"peer {name} is not installed; `make bench` installs it (extra 'bench')")
    results = race(contenders + peers, repeats=cfg["repeats"], slow_s=cfg["slow_s"],
                   budget_s=cfg["budget_s"], label="cka")

    estimator = {"numpy_f32": "biased", "numpy_f64": "biased", "rl_f64": "biased",
                 "rl_f32": "biased", "rl_deb": "debiased"}
    estimator.update({k: v["estimator"] for k, v in peer_meta.items()})
    reference_debiased = numpy_debiased_linear_cka(x, y)
    # What each value is checked against: replens float64 of the same estimator, and the
    # replens rows themselves against independent float64 numpy computations.
    references: dict[str, tuple[str, float | None]] = {}
    ours = {"biased": results["rl_f64"], "debiased": results["rl_deb"]}
    numpy_refs = {"biased": ("numpy f64", results["numpy_f64"].value),
                  "debiased": ("numpy f64 (uncentred, feature space)", reference_debiased)}
    for key, t in results.items():
        est = estimator[key]
        if key in ("rl_f64", "rl_deb"):
            references[key] = numpy_refs[est]
        else:
            references[key] = (f"replens f64 {est}", ours[est].value if ours[est].ok else None)

    base32, base64 = results["numpy_f32"], results["numpy_f64"]
    rows, records = [], []
    for key, t in results.items():
        ref_name, ref_value = references[key]
        delta = abs(t.value - ref_value) if (t.ok and ref_value is not None) else None
        rows.append([
            t.name, fmt_seconds(t.best if t.ok else None), fmt_seconds(t.median if t.ok else None),
            str(len(t.times)), fmt_ratio(ratio(t, base32)), fmt_ratio(ratio(t, base64)),
            estimator[key], "-" if t.value is None else f"{t.value:.8f}",
            "-" if delta is None else f"{delta:.1e}", ref_name,
            t.error if t.error else t.note,
        ])
        record = t.record()
        record.update(estimator=estimator[key], value=t.value, reference=ref_name,
                      reference_value=ref_value, abs_diff=delta,
                      ratio_vs_numpy_f32=ratio(t, base32), ratio_vs_numpy_f64=ratio(t, base64))
        records.append(record)
    print(table(["contender", "min", "median", "runs", "x np-f32", "x np-f64", "estimator",
                 "value", "|diff|", "checked against", "note"], rows, aligns="lrrrrrlrrll"))
    print("times: min/median over round-robin repeats after one warm-up call; "
          "x np-*: min time / baseline min time (lower is faster). "
          f"biased vs debiased CKA differ by {abs(ours['biased'].value - ours['debiased'].value):.2e} "
          "here: different estimators, not an error.")

    for key, t in results.items():
        record = next(r for r in records if r["key"] == key)
        if record["abs_diff"] is not None and record["abs_diff"] > VALUE_TOLERANCE:
            report.warn(f"{t.name}: CKA {t.value:.8f} differs from {references[key][0]} "
                        f"{references[key][1]:.8f} by {record['abs_diff']:.2e} > {VALUE_TOLERANCE:g}")
        if t.error:
            report.warn(f"{t.name} could not run at n={n} ({t.error}); one n x n float64 "
                        f"Gram matrix is {gram_mb:.0f} MB")

    mine = results["rl_f64"]
    for p in peers:
        t = results[p.key]
        if not (t.ok and mine.ok):
            report.target(f"rl.cka faster than {p.name}", None, f"{p.name} did not run")
            continue
        report.target(f"rl.cka faster than {p.name}", mine.best < t.best,
                      f"{fmt_seconds(mine.best)} vs {fmt_seconds(t.best)} "
                      f"({t.best / mine.best:.1f}x faster)" if mine.best < t.best else
                      f"{fmt_seconds(mine.best)} vs {fmt_seconds(t.best)} "
                      f"({mine.best / t.best:.2f}x slower)")
    return {"title": title, "n": n, "px": px, "py": py, "data_dtype": "float32",
            "reference_debiased_cka": reference_debiased, "rows": records,
            "missing_peers": missing}


# --------------------------------------------------------------------------------------
# (b) CCA, SVCCA, PWCCA
# --------------------------------------------------------------------------------------

def cca_data(n: int, p: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """X with a decaying spectrum and non-zero neuron means; Y = X A + noise."""
    rng = np.random.default_rng(seed)
    scales = 1.0 / (1.0 + np.arange(p) / 8.0)
    rotation, _ = np.linalg.qr(rng.standard_normal((p, p)))
    x = (rng.standard_normal((n, p)) * scales) @ rotation + 3.0 * rng.standard_normal(p)
    mixing = rng.standard_normal((p, p)) / np.sqrt(p)
    y = x @ mixing + 0.05 * rng.standard_normal((n, p))
    return x, y


def _positivedef_matrix_sqrt(array: np.ndarray) -> np.ndarray:
    """google/svcca cca_core.positivedef_matrix_sqrt."""
    w, v = np.linalg.eigh(array)
    wsqrt = np.sqrt(w)
    return np.dot(v, np.dot(np.diag(wsqrt), np.conj(v).T))


def google_cov_cca(acts1: np.ndarray, acts2: np.ndarray, epsilon: float = GOOGLE_EPSILON):
    """The algorithm of google/svcca cca_core.get_cca_similarity / compute_ccas.

    acts are (neurons, datapoints). Returns (rho, u, invsqrt_xx, x_idxs).
    """
    numx = acts1.shape[0]
    covariance = np.cov(np.concatenate((acts1, acts2), axis=0))
    sigmaxx = covariance[:numx, :numx]
    sigmaxy = covariance[:numx, numx:]
    sigmayy = covariance[numx:, numx:]
    xmax, ymax = np.max(np.abs(sigmaxx)), np.max(np.abs(sigmayy))
    sigmaxx /= xmax
    sigmayy /= ymax
    sigmaxy /= np.sqrt(xmax * ymax)
    # remove_small: neurons whose variance is below epsilon
    x_idxs = np.abs(np.diagonal(sigmaxx)) >= epsilon
    y_idxs = np.abs(np.diagonal(sigmayy)) >= epsilon
    sigma_xx = sigmaxx[x_idxs][:, x_idxs]
    sigma_xy = sigmaxy[x_idxs][:, y_idxs]
    sigma_yy = sigmayy[y_idxs][:, y_idxs]
    sigma_xx += epsilon * np.eye(sigma_xx.shape[0])
    sigma_yy += epsilon * np.eye(sigma_yy.shape[0])
    inv_xx = np.linalg.pinv(sigma_xx)
    inv_yy = np.linalg.pinv(sigma_yy)
    invsqrt_xx = _positivedef_matrix_sqrt(inv_xx)
    invsqrt_yy = _positivedef_matrix_sqrt(inv_yy)
    arr = np.dot(invsqrt_xx, np.dot(sigma_xy, invsqrt_yy))
    u, s, _ = np.linalg.svd(arr)
    return s, u, invsqrt_xx, x_idxs


def _kept(s: np.ndarray, threshold: float) -> int:
    fraction = np.cumsum(s**2) / np.sum(s**2)
    fraction[-1] = 1.0
    return int(np.argmax(fraction >= threshold)) + 1


def google_cca(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return google_cov_cca(x.T, y.T)[0]


def google_svcca(x: np.ndarray, y: np.ndarray, threshold: float = SVCCA_THRESHOLD):
    """google/svcca tutorial: SVD of each centred layer, keep 99% of the variance, then
    the covariance CCA on ``s[:k] * V[:k]``."""
    def reduce(acts: np.ndarray) -> tuple[np.ndarray, int]:
        cacts = acts - np.mean(acts, axis=1, keepdims=True)
        _, s, v = np.linalg.svd(cacts, full_matrices=False)
        k = _kept(s, threshold)
        return np.dot(s[:k] * np.eye(k), v[:k]), k

    svacts1, kx = reduce(x.T)
    svacts2, ky = reduce(y.T)
    return google_cov_cca(svacts1, svacts2)[0], (kx, ky)


def google_pwcca(x: np.ndarray, y: np.ndarray) -> float:
    """google/svcca pwcca.compute_pwcca's pipeline (covariance CCA, QR of the canonical
    variates, projection weights), with the variates whitened and the neurons centred so
    that it computes the paper's value, as replens does."""
    acts1 = x.T
    s, u, invsqrt_xx, x_idxs = google_cov_cca(acts1, y.T)
    k = s.shape[0]
    centred = acts1[x_idxs] - np.mean(acts1[x_idxs], axis=1, keepdims=True)
    dirns = np.dot(np.dot(invsqrt_xx, u[:, :k]).T, centred)
    p, _ = np.linalg.qr(dirns.T)
    weights = np.sum(np.abs(np.dot(p.T, centred.T)), axis=1)
    weights = weights / np.sum(weights)
    return float(np.sum(weights * s))


def svd_reference(x: np.ndarray, y: np.ndarray, threshold: float = SVCCA_THRESHOLD) -> dict[str, Any]:
    """Independent float64 reference: orthonormal bases from the SVD of each centred layer."""
    def basis(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = a - a.mean(axis=0)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        rank = int(np.sum(s > s[0] * max(a.shape) * np.finfo(np.float64).eps))
        return centred, u[:, :rank], s[:rank]

    xc, ux, sx = basis(x)
    _, uy, sy = basis(y)
    a, rho, _ = np.linalg.svd(ux.T @ uy)
    kx, ky = _kept(sx, threshold), _kept(sy, threshold)
    sv_rho = np.linalg.svd(ux[:, :kx].T @ uy[:, :ky], compute_uv=False)
    k = rho.shape[0]
    projections = (ux @ a[:, :k]).T @ xc
    alpha = np.sum(np.abs(projections), axis=1)
    return {"cca": rho, "svcca": sv_rho, "kept": (kx, ky),
            "pwcca": float(np.sum(alpha * rho) / np.sum(alpha))}


def bench_cca_family(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    n, p = cfg["cca_n"], cfg["cca_p"]
    title = f"(b) CCA family: X {n}x{p} vs Y {n}x{p} float64, Y = X A + noise"
    print(f"\n== {title}")
    x, y = cca_data(n, p)
    contenders = [
        Contender("rl_cca", "replens rl.cca", lambda: rl.cca(x, y).rho, role="ours"),
        Contender("google_cca", "google/svcca covariance CCA (baseline)", lambda: google_cca(x, y),
                  role="baseline"),
        Contender("rl_svcca", "replens rl.svcca(threshold=0.99)",
                  lambda: (lambda r: (r.rho, r.kept))(rl.svcca(x, y, threshold=SVCCA_THRESHOLD)),
                  role="ours"),
        Contender("google_svcca", "google/svcca tutorial SVCCA, 99% (baseline)",
                  lambda: google_svcca(x, y), role="baseline"),
        Contender("rl_pwcca", "replens rl.pwcca", lambda: rl.pwcca(x, y), role="ours"),
        Contender("google_pwcca", "google/svcca PWCCA pipeline (baseline)",
                  lambda: google_pwcca(x, y), role="baseline",
                  note="whitened variates, centred neurons: the paper's value"),
    ]
    results = race(contenders, repeats=max(cfg["repeats"], 7), slow_s=cfg["slow_s"],
                   budget_s=cfg["budget_s"], label="cca")
    reference = svd_reference(x, y)

    def error(measure: str, t: Timing) -> tuple[float | None, str]:
        if t.value is None:
            return None, ""
        if measure == "pwcca":
            return abs(t.value - reference["pwcca"]), ""
        rho, extra = (t.value if measure == "cca" else t.value[0]), ""
        ref = reference[measure]
        if measure == "svcca" and tuple(t.value[1]) != tuple(reference["kept"]):
            extra = f"kept {tuple(t.value[1])} != reference {reference['kept']}"
            return None, extra
        if rho.shape != ref.shape:
            return None, f"{rho.shape[0]} correlations, reference has {ref.shape[0]}"
        return float(np.max(np.abs(rho - ref))), extra

    rows, records = [], []
    pairs = [("cca", "rl_cca", "google_cca"), ("svcca", "rl_svcca", "google_svcca"),
             ("pwcca", "rl_pwcca", "google_pwcca")]
    for measure, ours_key, base_key in pairs:
        base = results[base_key]
        for key in (ours_key, base_key):
            t = results[key]
            err, extra = error(measure, t)
            summary = _summary(measure, t.value)
            rows.append([t.name, fmt_seconds(t.best if t.ok else None),
                         fmt_seconds(t.median if t.ok else None), str(len(t.times)),
                         fmt_ratio(ratio(t, base)), summary,
                         "-" if err is None else f"{err:.1e}", t.error or extra or t.note])
            record = t.record()
            record.update(measure=measure, ratio_vs_baseline=ratio(t, base), summary=summary,
                          max_abs_error_vs_svd_reference=err)
            if extra:
                record["check"] = extra
            records.append(record)
    print(table(["contender", "min", "median", "runs", "x baseline", "value",
                 "max|err| vs SVD ref", "note"], rows, aligns="lrrrrrrl"))
    print("value: mean rho (cca, svcca, with kept dims) or the PWCCA value; error: max abs "
          "difference of the correlations (or value) from an independent float64 SVD-based CCA.")

    for measure, ours_key, base_key in pairs:
        mine, base = results[ours_key], results[base_key]
        if mine.ok and base.ok:
            faster = mine.best <= base.best
            report.target(f"rl.{measure} time <= baseline", faster,
                          f"{fmt_seconds(mine.best)} vs {fmt_seconds(base.best)} "
                          f"(ratio {mine.best / base.best:.3f})")
        else:
            report.target(f"rl.{measure} time <= baseline", False, mine.error or base.error or "")
        err = next(r for r in records if r["key"] == ours_key)["max_abs_error_vs_svd_reference"]
        base_err = next(r for r in records if r["key"] == base_key)["max_abs_error_vs_svd_reference"]
        report.target(f"rl.{measure} exact (max abs error <= {EXACT_TOLERANCE:g})",
                      err is not None and err <= EXACT_TOLERANCE,
                      (f"replens {err:.2e}" if err is not None else "replens not comparable")
                      + (f"; google baseline {base_err:.2e}" if base_err is not None else ""))
    return {"title": title, "n": n, "p": p, "dtype": "float64",
            "svcca_threshold": SVCCA_THRESHOLD, "google_epsilon": GOOGLE_EPSILON,
            "reference": {"kept": reference["kept"], "cca_mean_rho": float(np.mean(reference["cca"])),
                          "svcca_mean_rho": float(np.mean(reference["svcca"])),
                          "pwcca": reference["pwcca"]},
            "rows": records}


def _summary(measure: str, value: Any) -> str:
    if value is None:
        return "-"
    if measure == "cca":
        return f"{float(np.mean(value)):.10f}"
    if measure == "svcca":
        return f"{float(np.mean(value[0])):.10f} kept={tuple(int(k) for k in value[1])}"
    return f"{value:.10f}"


# --------------------------------------------------------------------------------------
# (c) import time
# --------------------------------------------------------------------------------------

def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TQDM_DISABLE", None)
    return env


def _wall(code: str) -> float:
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=_child_env(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _importtime(module: str) -> dict[str, float]:
    """Cumulative microseconds per module name from ``python -X importtime``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          env=_child_env(), check=True, capture_output=True, text=True)
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cum, name = line[len("import time:"):].split("|")
            cumulative.setdefault(name.strip(), float(cum))
        except ValueError:  # header line
            continue
    return cumulative


def bench_import(cfg: dict, report: Report) -> dict[str, Any]:
    title = "(c) import time (fresh interpreter, wall clock minus `python -c pass`)"
    print(f"\n== {title}")
    snippets = {"startup": "pass", "numpy": "import numpy", "replens": "import replens"}
    for code in list(snippets.values()) + ["import torch"]:
        _wall(code)  # warm the file cache and byte-code
    samples: dict[str, list[float]] = {k: [] for k in snippets}
    runs = cfg["import_runs"]
    for r in range(runs):
        keys = list(snippets)
        keys = keys[r % len(keys):] + keys[: r % len(keys)]
        for key in keys:
            samples[key].append(_wall(snippets[key]))
    samples["torch"] = [_wall("import torch") for _ in range(cfg["torch_import_runs"])]
    startup = min(samples["startup"])
    cost = {k: max(0.0, min(v) - startup) for k, v in samples.items() if k != "startup"}

    profiles = [_importtime("replens") for _ in range(max(3, runs // 2))]
    replens_us = min(p.get("replens", float("nan")) for p in profiles)
    parts = {}
    for dep in ("numpy", "scipy", "array_api_compat", "tqdm"):
        values = [p[dep] for p in profiles if dep in p]
        if values:
            parts[dep] = min(values) / 1000.0

    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, replens; print(' '.join(sorted(m for m in ('torch', 'scipy', 'pandas', "
         "'matplotlib', 'sklearn', 'tqdm', 'xarray') if m in sys.modules)))"],
        env=_child_env(), check=True, capture_output=True, text=True)
    heavy = probe.stdout.split()

    rows = [
        ["python -c pass (startup)", f"{startup * 1000:.1f}", "-", str(runs), "-"],
        ["import numpy", f"{cost['numpy'] * 1000:.1f}", f"{min(samples['numpy']) * 1000:.1f}", str(runs),
         "1.000x"],
        ["import replens", f"{cost['replens'] * 1000:.1f}", f"{min(samples['replens']) * 1000:.1f}",
         str(runs), fmt_ratio(cost["replens"] / cost["numpy"] if cost["numpy"] else None)],
        ["import torch (context)", f"{cost['torch'] * 1000:.1f}", f"{min(samples['torch']) * 1000:.1f}",
         str(len(samples["torch"])), fmt_ratio(cost["torch"] / cost["numpy"] if cost["numpy"] else None)],
    ]
    print(table(["what", "import ms", "process ms", "runs", "x numpy"], rows, aligns="lrrrr"))
    detail = ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items())
    print(f"-X importtime (min of {len(profiles)}): replens cumulative {replens_us / 1000:.1f} ms, "
          f"of which {detail}")
    print(f"modules loaded by `import replens` among torch/scipy/pandas/matplotlib/sklearn/"
          f"tqdm/xarray: {', '.join(heavy) if heavy else 'none'}")
    report.target("import replens does not import torch", "torch" not in heavy,
                  "torch absent from sys.modules" if "torch" not in heavy else "torch imported")
    return {"title": title, "runs": runs, "startup_ms": startup * 1000,
            "import_ms": {k: v * 1000 for k, v in cost.items()},
            "ratio_vs_numpy": {k: (v / cost["numpy"] if cost["numpy"] else None) for k, v in cost.items()},
            "importtime_replens_cumulative_ms": replens_us / 1000, "importtime_parts_ms": parts,
            "heavy_modules_loaded": heavy, "samples_s": samples}


# --------------------------------------------------------------------------------------

def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    if repeats is not None:
        cfg["repeats"] = repeats
    threads = configure_torch_threads()
    report = Report()
    sections = {
        "linear_cka": bench_linear_cka(cfg, report),
        "cca_family": bench_cca_family(cfg, report),
        "import_time": bench_import(cfg, report),
    }
    return {"config": cfg, "torch_threads": threads, "sections": sections,
            "targets": report.targets, "warnings": report.warnings,
            "peers": {d: _version(d) for d in ("pytorch-cka", "ckatorch", "torch-cka")},
            "replens": _version("replens")}
