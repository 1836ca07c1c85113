"""Group "compare": whole layer-by-layer matrices and Fourier CCA.

(a) 12 layers of 4096 x 768 float32 (a random ReLU network), full 12 x 12 linear CKA:
    rl.compare against a loop over rl.cka (our own pair function) and pytorch-cka's
    multi-layer ``cka_from_features`` (lists of layers).
(b) 12 x 12 SVCCA and PWCCA matrices at 4096 x 256: rl.compare against loops over
    rl.svcca and rl.pwcca.
(c) Fourier CCA on (500, 16, 16, 32) vs (500, 16, 16, 32) float32: rl.dft_cca against the
    floor of its unavoidable work (the FFTs, the per-frequency Gram and cross products and
    their decompositions, as bare batched numpy calls: :func:`fourier_floor`), timed in the
    same run; a per-frequency Python loop of an exact complex CCA (the reference's structure:
    one CCA per frequency) is shown for scale and checks the values; and brute-force CCA of
    the flattened layers, timed at a size where it still fits (Theorem 1 of the SVCCA paper
    says they agree). The loop is no target: the floor itself is ~4x faster than the loop,
    so "10x the loop" asked for less than the FFTs and decompositions cost.
(d) 6 x 6 Fourier CCA matrix over (500, 16, 16, 32) layers: rl.compare(conv="dft"), which
    transforms each layer and builds its per-frequency bases once, against a loop over
    rl.dft_cca.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._timing import Contender, configure_torch_threads, fmt_ratio, fmt_seconds, race, ratio, table
from .bench_measures import Report, _version

FULL = dict(layers=12, n=4096, width=768, cca_width=256, dft_shape=(500, 16, 16, 32),
            brute_shape=(2500, 8, 8, 8), dft_layers=6, repeats=3, budget_s=120.0, slow_s=60.0)
QUICK = dict(layers=4, n=300, width=48, cca_width=24, dft_shape=(60, 6, 6, 4),
             brute_shape=(400, 4, 4, 4), dft_layers=3, repeats=2, budget_s=5.0, slow_s=20.0)


def network_layers(layers: int, n: int, width: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Activations of a random ReLU MLP (unit-variance layers), float32."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, width)).astype(np.float32)
    out = []
    for i in range(layers):
        w = rng.standard_normal((width, width)).astype(np.float32) / np.sqrt(width / 2)
        h = np.maximum(h @ w, 0) + 0.1 * rng.standard_normal((n, width)).astype(np.float32)
        h /= h.std()
        out.append((f"layer{i + 1}", h))
    return out


def _loop(layers: list[tuple[str, np.ndarray]], fn) -> np.ndarray:
    return np.array([[fn(a, b) for _, b in layers] for _, a in layers])


def _print_race(title: str, timings: dict, base_key: str) -> list[dict[str, Any]]:
    base = timings[base_key]
    rows, records = [], []
    for t in timings.values():
        r = ratio(t, base)
        rows.append([t.name, fmt_seconds(t.best if t.ok else None), fmt_ratio(r), t.note or t.error or ""])
        records.append({**t.record(), f"ratio_vs_{base_key}": r})
    print(f"\n{title}")
    print(table(["contender", "best", f"x {base.name}", "note"], rows, "lrrl"))
    return records


def bench_linear_cka_matrix(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    layers = network_layers(cfg["layers"], cfg["n"], cfg["width"])
    contenders = [
        Contender("loop", "loop over rl.cka (float64)", lambda: _loop(layers, rl.cka), role="baseline"),
        Contender("compare", "rl.compare (float64)",
                  lambda: rl.compare(layers, measures="linear_cka", progress=False)["linear_cka"], role="ours"),
        Contender("compare_f32", "rl.compare (dtype='float32')",
                  lambda: rl.compare(layers, measures="linear_cka", progress=False, dtype="float32")["linear_cka"],
                  role="ours"),
    ]
    try:
        import torch
        from cka import cka_from_features

        tensors = [torch.from_numpy(a) for _, a in layers]

        def pytorch_cka() -> np.ndarray:
            with torch.inference_mode():
                return cka_from_features(tensors, tensors).numpy()

        contenders.append(Contender("pytorch_cka", f"pytorch-cka {_version('pytorch-cka')} cka_from_features(list, list)",
                                    pytorch_cka, role="peer", note="float32, unbiased HSIC, clamped"))
    except ImportError:
        report.warn("pytorch-cka is not installed: peer skipped")
    timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"],
                   label="linear CKA matrix")
    records = _print_race(f"(a) {cfg['layers']}x{cfg['layers']} linear CKA, layers {cfg['n']}x{cfg['width']} float32",
                          timings, "loop")
    error = float(np.abs(timings["compare"].value - timings["loop"].value).max())
    print(f"max |compare - loop| = {error:.1e}")
    loop_ratio = timings["loop"].best / timings["compare"].best
    report.target(">= 2x faster than a loop over rl.cka", loop_ratio >= 2, f"{loop_ratio:.1f}x")
    if "pytorch_cka" in timings and timings["pytorch_cka"].ok:
        peer = timings["pytorch_cka"].best
        for key in ("compare", "compare_f32"):
            speedup = peer / timings[key].best
            report.target(f">= 5x faster than pytorch-cka's multi-layer API ({timings[key].name})",
                          speedup >= 5, f"{speedup:.1f}x")
    report.target("compare equals the pair loop to 1e-10", error <= 1e-10, f"{error:.1e}")
    return {"rows": records, "max_abs_error_vs_loop": error}


def bench_cca_matrices(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    layers = [(name, a.astype(np.float64)) for name, a in
              network_layers(cfg["layers"], cfg["n"], cfg["cca_width"], seed=1)]
    out: dict[str, Any] = {}
    for measure, pair in (("svcca_mean_rho", lambda a, b: rl.svcca(a, b).mean_rho), ("pwcca", rl.pwcca)):
        contenders = [
            Contender("loop", f"loop over rl.{measure.split('_')[0]}", lambda: _loop(layers, pair), role="baseline"),
            Contender("compare", f"rl.compare({measure!r})",
                      lambda: rl.compare(layers, measures=measure, progress=False)[measure], role="ours"),
        ]
        timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"],
                       label=measure)
        records = _print_race(f"(b) {cfg['layers']}x{cfg['layers']} {measure}, layers {cfg['n']}x{cfg['cca_width']}",
                              timings, "loop")
        error = float(np.abs(timings["compare"].value - timings["loop"].value).max())
        speedup = timings["loop"].best / timings["compare"].best
        report.target(f"{measure} matrix >= 3x faster than the pair loop", speedup >= 3, f"{speedup:.1f}x")
        report.target(f"{measure} matrix equals the pair loop to 1e-10", error <= 1e-10, f"{error:.1e}")
        out[measure] = {"rows": records, "max_abs_error_vs_loop": error}
    return out


def per_frequency_loop(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One exact complex CCA per spatial frequency, in a Python loop (the reference's structure)."""
    eps = np.finfo(np.float64).eps
    fx = np.fft.fft2(x.astype(np.float64), axes=(1, 2))
    fy = np.fft.fft2(y.astype(np.float64), axes=(1, 2))
    _, h, w, _ = fx.shape
    k = min(x.shape[3], y.shape[3])
    out = np.zeros((h, w, k))
    for i in range(h):
        for j in range(w):
            bases = []
            for f in (fx, fy):
                a = f[:, i, j, :] - f[:, i, j, :].mean(axis=0)
                u, s, _ = np.linalg.svd(a, full_matrices=False)
                bases.append(u[:, s > max(a.shape) * eps * s[0]])
            rho = np.linalg.svd(bases[0].conj().T @ bases[1], compute_uv=False)[:k]
            out[i, j, : rho.size] = rho
    return out


def fourier_floor(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The work no Fourier CCA can skip, as bare batched numpy calls: its time is the floor.

    Centre and real-FFT both layers (float64, half spectrum), then per frequency: the Gram
    matrices ``z^H z`` and the cross product ``z_x^H z_y`` (as real products of the
    interleaved views, real-BLAS speed), the eigendecompositions that whiten them, and the
    singular values of the whitened c x c cross product. No rank rule, no checks, no
    symmetric-frequency dedup: a lower bound on rl.dft_cca's time, not a replacement.
    Returns (F, k) canonical correlations for the F = h (w // 2 + 1) stored frequencies.
    """
    def product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = np.swapaxes(a.view(np.float64), 1, 2) @ b.view(np.float64)
        return (r[:, 0::2, 0::2] + r[:, 1::2, 1::2]) + 1j * (r[:, 0::2, 1::2] - r[:, 1::2, 0::2])

    spectra = []
    for layer in (x, y):
        centred = layer.astype(np.float64)
        centred -= centred.mean(axis=0)
        half = np.fft.rfft2(np.moveaxis(centred, 0, 2), axes=(0, 1))  # (h, w // 2 + 1, n, c)
        spectra.append(np.ascontiguousarray(half.reshape(-1, *half.shape[2:])))
    whitened = []
    for z in spectra:
        values, vectors = np.linalg.eigh(product(z, z))
        whitened.append(vectors / np.sqrt(np.maximum(values, np.finfo(np.float64).tiny))[:, None, :])
    cross = np.conj(np.swapaxes(whitened[0], 1, 2)) @ product(spectra[0], spectra[1]) @ whitened[1]
    return np.linalg.svd(cross, compute_uv=False)


FOURIER_FLOOR_LIMIT = 1.5
"""Target: rl.dft_cca's time over :func:`fourier_floor`'s, same data, same run."""


def conv_pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    c = shape[3]
    y = np.tanh(x @ rng.standard_normal((c, c)).astype(np.float32) / 4) + 0.5 * rng.standard_normal(shape).astype(np.float32)
    return x, y


def bench_dft(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    x, y = conv_pair(cfg["dft_shape"], seed=2)
    contenders = [
        Contender("floor", "floor (FFTs, products, decompositions)", lambda: fourier_floor(x, y),
                  role="baseline"),
        Contender("loop", "per-frequency loop of exact complex CCA", lambda: per_frequency_loop(x, y), role="peer"),
        Contender("dft", "rl.dft_cca (float64)", lambda: rl.dft_cca(x, y).rho, role="ours"),
        Contender("dft_f32", "rl.dft_cca (dtype='float32')", lambda: rl.dft_cca(x, y, dtype="float32").rho, role="ours"),
    ]
    timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"], label="dft")
    records = _print_race(f"(c) Fourier CCA {cfg['dft_shape']} vs {cfg['dft_shape']} float32", timings, "floor")
    error = float(np.abs(timings["dft"].value - timings["loop"].value).max())
    over_floor = timings["dft"].best / timings["floor"].best
    speedup = timings["loop"].best / timings["dft"].best
    print(f"rl.dft_cca is {speedup:.1f}x faster than the per-frequency loop (shown for scale, not a target)")
    report.target(f"dft_cca within {FOURIER_FLOOR_LIMIT:g}x of the floor of its unavoidable work (same run)",
                  over_floor <= FOURIER_FLOOR_LIMIT, f"{over_floor:.2f}x")
    report.target("dft_cca equals the per-frequency loop to 1e-10", error <= 1e-10, f"{error:.1e}")

    xb, yb = conv_pair(cfg["brute_shape"], seed=3)
    n = xb.shape[0]

    def brute() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return rl.cca(xb.reshape(n, -1), yb.reshape(n, -1)).mean_rho

    brute_timings = race([Contender("brute", "rl.cca of the flattened layers", brute, role="baseline"),
                          Contender("dft", "rl.dft_cca", lambda: rl.dft_cca(xb, yb).mean_rho, role="ours")],
                         repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"], label="brute")
    brute_records = _print_race(f"(c') Theorem 1 saving at {cfg['brute_shape']} (brute force still fits)",
                                brute_timings, "brute")
    return {"rows": records, "max_abs_error_vs_loop": error, "time_over_floor": over_floor,
            "speedup_vs_loop": speedup, "brute_force": brute_records}


def bench_dft_matrix(cfg: dict, report: Report) -> dict[str, Any]:
    """(d) compare(conv="dft") over conv layers: spectra and bases once per layer, not per pair."""
    import replens as rl

    rng = np.random.default_rng(4)
    layers = [(f"conv{i + 1}", rng.standard_normal(cfg["dft_shape"]).astype(np.float32))
              for i in range(cfg["dft_layers"])]

    def loop() -> np.ndarray:
        return np.array([[rl.dft_cca(a, b).mean_rho for _, b in layers] for _, a in layers])

    contenders = [
        Contender("loop", "loop over rl.dft_cca", loop, role="baseline"),
        Contender("compare", "rl.compare(conv='dft')", lambda: rl.compare(
            layers, measures="cca_mean_rho", conv="dft", layout="NHWC", progress=False)["cca_mean_rho"],
            role="ours"),
    ]
    timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"],
                   label="dft matrix")
    records = _print_race(f"(d) {cfg['dft_layers']}x{cfg['dft_layers']} Fourier CCA matrix, layers "
                          f"{cfg['dft_shape']}", timings, "loop")
    error = float(np.abs(timings["compare"].value - timings["loop"].value).max())
    report.target("compare(conv='dft') equals the dft_cca loop to 1e-10", error <= 1e-10, f"{error:.1e}")
    return {"rows": records, "max_abs_error_vs_loop": error}


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    if repeats is not None:
        cfg["repeats"] = repeats
    threads = configure_torch_threads()
    report = Report()
    sections = {
        "linear_cka_matrix": bench_linear_cka_matrix(cfg, report),
        "cca_matrices": bench_cca_matrices(cfg, report),
        "dft": bench_dft(cfg, report),
        "dft_matrix": bench_dft_matrix(cfg, report),
    }
    return {"config": cfg, "torch_threads": threads, "sections": sections,
            "targets": report.targets, "warnings": report.warnings}
