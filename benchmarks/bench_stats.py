"""Group "stats": speed of permutation tests, jackknife and stats.compare; validity figures.

(a) Permutation test, linear CKA (biased and debiased), n x p vs n x q float64, 1000
    permutations. Floor: one product ``Xc^T Yc`` per permutation (what an exact test cannot
    avoid: the denominators and the centring do not change under permutation). Baseline: a
    loop calling rl.cka on permuted copies (timed on a slice of the permutations and scaled,
    said in its row). Also the null in float32 (``rl.measure(..., dtype="float32")``) and what
    that does to the p-value.
(b) Jackknife of linear CKA at n examples: the one-pass closed form against the loop of
    leave-one-out rl.cka calls (timed on a slice and scaled; exactness checked on it).
(c) stats.compare on 6 x 6 layers with 1000 permutations against 36 separate permutation
    tests (the same permutations: the p-values must be equal).
(d) Validation: type-I rate of the permutation test over independent null datasets (40 x 10)
    for each family, with and without groups; maxT family-wise rate over a 3 x 3 grid; 95 %
    BCa and percentile coverage of debiased linear CKA's population value, and the drift of
    the bootstrap distribution above the estimate with and without our handling of copies.
    Every rate with its Monte-Carlo standard error.
(e) method="moments": Pearson III p-values from the exact permutation moments against Monte
    Carlo p-values, and its time beside a 1000-permutation test.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ._timing import Contender, configure_torch_threads, fmt_ratio, fmt_seconds, race, table
from .bench_measures import Report

FULL = dict(n=2000, p=256, permutations=1000, loop_slice=100, floor_slice=200, jack_n=2000,
            jack_slice=50, grid_layers=6, grid_n=1000, grid_width=128, grid_permutations=1000,
            datasets=1000, coverage_repeats=300, coverage_n=200, coverage_resamples=1000, large_n=400_000,
            moment_datasets=12, moment_permutations=20000, repeats=2, budget_s=60.0, slow_s=60.0, quick=False)
QUICK = dict(n=300, p=32, permutations=100, loop_slice=20, floor_slice=50, jack_n=300,
             jack_slice=20, grid_layers=3, grid_n=200, grid_width=16, grid_permutations=50,
             datasets=60, coverage_repeats=20, coverage_n=80, coverage_resamples=200, large_n=20_000,
             moment_datasets=3, moment_permutations=2000, repeats=1, budget_s=5.0, slow_s=20.0, quick=True)


def _data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p))
    y = np.tanh(x @ rng.standard_normal((p, p)) / np.sqrt(p)) + rng.standard_normal((n, p))
    return x, y


def _rows(timings: dict, per: dict[str, int], base_key: str) -> tuple[list[list[str]], dict[str, float]]:
    per_unit = {key: t.best / per[key] for key, t in timings.items() if t.ok}
    rows = [[t.name, fmt_seconds(t.best), fmt_seconds(per_unit.get(key)),
             fmt_ratio(per_unit[key] / per_unit[base_key]) if key in per_unit else "-", t.note]
            for key, t in timings.items()]
    return rows, per_unit


def bench_permutation(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    n, p, total = cfg["n"], cfg["p"], cfg["permutations"]
    x, y = _data(n, p)
    xc, yc = x - x.mean(0), y - y.mean(0)
    orders = rl.stats.permutations(n, total, seed=0)
    out: dict[str, Any] = {}
    for name in ("linear_cka", "debiased_linear_cka"):
        debiased = name.startswith("debiased")
        loop_orders = orders[: cfg["loop_slice"]]
        contenders = [
            Contender("floor", f"floor: {cfg['floor_slice']} products Xc^T Yc", lambda: [
                xc.T @ yc for _ in range(cfg["floor_slice"])], role="baseline"),
            Contender("ours", f"rl.stats.permutation_test, {total} permutations", lambda: rl.stats.permutation_test(
                x, y, measure=name, n_permutations=total, seed=0), role="ours"),
            Contender("ours_f32", "same, measure dtype='float32'", lambda: rl.stats.permutation_test(
                x, y, measure=rl.measure(name, dtype="float32"), n_permutations=total, seed=0), role="ours"),
            Contender("loop", f"loop over rl.cka on {len(loop_orders)} permuted copies",
                      lambda: np.array([rl.cka(x, y[o], debiased=debiased) for o in loop_orders]),
                      role="baseline", note=f"scaled from {len(loop_orders)} permutations"),
        ]
        timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"],
                       label=name)
        if not _all_ran(timings, report, name):
            continue
        per = {"floor": cfg["floor_slice"], "ours": total, "ours_f32": total, "loop": len(loop_orders)}
        rows, unit = _rows(timings, per, "floor")
        print(f"\n(a) permutation test, {name}, X, Y ({n}, {p}) float64")
        print(table(["contender", "best", "per permutation", "x floor", "note"], rows, "lrrrl"))
        result = timings["ours"].value
        error = float(np.abs(result.null[: len(loop_orders)] - timings["loop"].value).max())
        f32 = timings["ours_f32"].value
        over_floor = unit["ours"] / unit["floor"]
        speedup = unit["loop"] / unit["ours"]
        sized = None if cfg["quick"] else True  # quick sizes are dominated by call overhead: not judged
        report.target(f"{name}: time per permutation <= 1.3x the floor", sized and over_floor <= 1.3,
                      f"{over_floor:.2f}x")
        report.target(f"{name}: >= 2x faster than a loop over rl.cka on permuted copies", sized and speedup >= 2,
                      f"{speedup:.1f}x")
        report.target(f"{name}: null equals the loop over permuted copies to 1e-10", error <= 1e-10, f"{error:.1e}")
        f32_error = float(np.abs(f32.null - result.null).max())
        print(f"float32 null: max |null32 - null64| = {f32_error:.1e}; p-value {f32.pvalue:.4f} vs "
              f"{result.pvalue:.4f} (float64); {unit['ours'] / unit['ours_f32']:.2f}x faster")
        out[name] = {"rows": [t.record() for t in timings.values()], "per_permutation_s": unit,
                     "ratio_over_floor": over_floor, "speedup_vs_loop": speedup, "max_abs_error_vs_loop": error,
                     "float32": {"max_abs_null_difference": f32_error, "pvalue": f32.pvalue,
                                 "pvalue_float64": result.pvalue}}
    return out


def bench_jackknife(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    n = cfg["jack_n"]
    x, y = _data(n, cfg["p"], seed=1)
    slice_ = range(cfg["jack_slice"])
    contenders = [
        Contender("loop", f"loop of rl.cka leave-one-out calls ({len(slice_)} of {n})", lambda: np.array(
            [rl.cka(np.delete(x, i, 0), np.delete(y, i, 0)) for i in slice_]), role="baseline",
            note=f"scaled to {n} calls"),
        Contender("ours", "rl.stats.jackknife (one pass)", lambda: rl.stats.jackknife(x, y), role="ours"),
    ]
    timings = race(contenders, repeats=cfg["repeats"], slow_s=cfg["slow_s"], budget_s=cfg["budget_s"],
                   label="jackknife")
    if not _all_ran(timings, report, "jackknife"):
        return {}
    loop_total = timings["loop"].best * n / len(slice_)
    speedup = loop_total / timings["ours"].best
    error = float(np.abs(timings["ours"].value.values[: len(slice_)] - timings["loop"].value).max())
    print(f"\n(b) jackknife of linear CKA, X, Y ({n}, {cfg['p']})")
    print(table(["contender", "best", "all n values", "note"],
                [[timings["loop"].name, fmt_seconds(timings["loop"].best), fmt_seconds(loop_total), timings["loop"].note],
                 [timings["ours"].name, fmt_seconds(timings["ours"].best), fmt_seconds(timings["ours"].best), ""]], "lrrl"))
    report.target("jackknife of linear CKA >= 50x faster than the leave-one-out loop",
                  None if cfg["quick"] else speedup >= 50, f"{speedup:.0f}x")
    report.target("jackknife equals the leave-one-out loop to 1e-10", error <= 1e-10, f"{error:.1e}")
    return {"rows": [t.record() for t in timings.values()], "loop_all_s": loop_total, "speedup": speedup,
            "max_abs_error_vs_loop": error}


def bench_compare(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    rng = np.random.default_rng(2)
    n, width, count = cfg["grid_n"], cfg["grid_width"], cfg["grid_permutations"]
    h = rng.standard_normal((n, width))
    layers_a, layers_b = {}, {}
    for k in range(cfg["grid_layers"]):
        h = np.tanh(h @ rng.standard_normal((width, width)) / np.sqrt(width)) + 0.3 * rng.standard_normal((n, width))
        layers_a[f"a{k}"] = h
        layers_b[f"b{k}"] = h @ rng.standard_normal((width, width)) + rng.standard_normal((n, width))

    def separate() -> np.ndarray:
        return np.array([[rl.stats.permutation_test(a, b, n_permutations=count, seed=0).pvalue
                          for b in layers_b.values()] for a in layers_a.values()])

    contenders = [
        Contender("separate", f"{len(layers_a) * len(layers_b)} separate permutation tests", separate, role="baseline"),
        Contender("grid", "rl.stats.compare (maxT)", lambda: rl.stats.compare(
            layers_a, layers_b, n_permutations=count, seed=0), role="ours"),
    ]
    timings = race(contenders, repeats=1, slow_s=cfg["slow_s"], budget_s=cfg["budget_s"], label="grid")
    if not _all_ran(timings, report, "stats.compare"):
        return {}
    speedup = timings["separate"].best / timings["grid"].best
    equal = bool(np.array_equal(timings["grid"].value.pvalues[0], timings["separate"].value))
    print(f"\n(c) {len(layers_a)}x{len(layers_b)} linear CKA grid, layers ({n}, {width}), {count} permutations")
    print(table(["contender", "best", "x separate"],
                [[t.name, fmt_seconds(t.best), fmt_ratio(t.best / timings["separate"].best)] for t in timings.values()],
                "lrr"))
    report.target("stats.compare p-values equal the separate tests' exactly", equal, str(equal))
    report.target("stats.compare faster than separate tests", None if cfg["quick"] else speedup > 1,
                  f"{speedup:.2f}x")
    return {"rows": [t.record() for t in timings.values()], "speedup": speedup, "pvalues_equal": equal}


def bench_moments(cfg: dict, report: Report) -> dict[str, Any]:
    """(e) method="moments" (Pearson III from the exact permutation moments) against Monte Carlo."""
    import replens as rl

    rng = np.random.default_rng(13)
    rows, differences = [], []
    for k in range(cfg["moment_datasets"]):
        n = (40, 100, 300)[k % 3]
        x = rng.standard_normal((n, 10))
        y = rng.uniform(0, 0.08) * x @ rng.standard_normal((10, 10)) + rng.standard_normal((n, 10))
        for measure in ("linear_cka", "rbf_cka"):
            mc = rl.stats.permutation_test(x, y, measure=measure, n_permutations=cfg["moment_permutations"], seed=k)
            mo = rl.stats.permutation_test(x, y, measure=measure, method="moments")
            differences.append(mo.pvalue - mc.pvalue)
            rows.append([str(n), measure, f"{mc.pvalue:.4f}", f"{mo.pvalue:.4f}"])
    x, y = _data(cfg["n"], cfg["p"], seed=14)
    started = time.perf_counter()
    rl.stats.permutation_test(x, y, method="moments")
    moments_s = time.perf_counter() - started
    started = time.perf_counter()
    rl.stats.permutation_test(x, y, n_permutations=cfg["permutations"])
    monte_carlo_s = time.perf_counter() - started
    mc_se = 0.5 / np.sqrt(cfg["moment_permutations"])
    largest = float(np.max(np.abs(differences)))
    print(f"\n(e) method='moments' against {cfg['moment_permutations']} Monte Carlo permutations "
          f"(Monte Carlo se <= {mc_se:.4f}); at ({cfg['n']}, {cfg['p']}): moments {fmt_seconds(moments_s)}, "
          f"{cfg['permutations']} permutations {fmt_seconds(monte_carlo_s)}")
    print(table(["n", "measure", "Monte Carlo p", "moments p"], rows, "llrr"))
    report.target("moments p-values agree with Monte Carlo within 0.02", largest <= 0.02, f"max |diff| {largest:.4f}")
    return {"max_abs_pvalue_difference": largest, "moments_s": moments_s, "monte_carlo_s": monte_carlo_s,
            "rows": rows}


def _all_ran(timings: dict, report: Report, section: str) -> bool:
    """Whether every contender produced timings; a FAIL line naming the error otherwise."""
    failed = {t.name: t.error for t in timings.values() if not t.ok}
    for name, error in failed.items():
        report.target(f"{section}: {name} ran", False, error or "no timing")
    return not failed


def _rate(hits: int, total: int) -> str:
    rate = hits / total
    return f"{rate:.4f} +- {np.sqrt(rate * (1 - rate) / total):.4f} ({hits}/{total})"


def bench_validity(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl
    from scipy.stats import binom

    total = cfg["datasets"]
    low, high = binom.interval(0.99, total, 0.05)
    groups = np.repeat(np.arange(10), 4)
    out: dict[str, Any] = {"type_one": {}}
    rows = []
    started = time.perf_counter()
    for measure in ("linear_cka", "debiased_linear_cka", "rbf_cka", "linear_hsic", "cca_mean_rho", "svcca_mean_rho",
                    "pwcca", "linear_regression_r2"):
        for setting in ("none", "between", "within"):
            if setting != "none" and measure in ("linear_hsic", "svcca_mean_rho", "linear_regression_r2"):
                continue
            rng = np.random.default_rng(10)
            hits = 0
            for _ in range(total):
                effect = rng.standard_normal((10, 10))[groups]
                if setting == "none":
                    x, y = rng.standard_normal((40, 10)), rng.standard_normal((40, 10))
                elif setting == "between":
                    x = effect + rng.standard_normal((40, 10))
                    y = rng.standard_normal((10, 10))[groups] + rng.standard_normal((40, 10))
                else:
                    x = effect + rng.standard_normal((40, 10))
                    y = effect @ rng.standard_normal((10, 10)) + rng.standard_normal((40, 10))
                r = rl.stats.permutation_test(x, y, measure=measure, n_permutations=19, seed=rng,
                                              groups=None if setting == "none" else groups,
                                              groups_mode="between" if setting == "none" else setting)
                hits += r.pvalue <= 0.05
            rows.append([measure, setting, _rate(hits, total), "inside" if low <= hits <= high else "OUTSIDE"])
            out["type_one"][f"{measure}/{setting}"] = hits / total
            report.target(f"type-I rate {measure} (groups: {setting}) inside the 99% binomial interval of 0.05",
                          bool(low <= hits <= high), _rate(hits, total))
    print(f"\n(d) type-I rate at 0.05, 19 permutations (exact size 0.05), {total} null datasets 40 x 10; "
          f"99% interval [{low / total:.4f}, {high / total:.4f}]; {time.perf_counter() - started:.1f} s")
    print(table(["measure", "groups", "rate", ""], rows, "llrl"))

    rng = np.random.default_rng(11)
    corrected = uncorrected = 0
    for _ in range(total):
        a = {f"a{k}": rng.standard_normal((40, 5)) for k in range(3)}
        b = {f"b{k}": rng.standard_normal((40, 5)) for k in range(3)}
        s = rl.stats.compare(a, b, n_permutations=19, seed=rng)
        corrected += bool(np.any(s.pvalues_corrected <= 0.05))
        uncorrected += bool(np.any(s.pvalues <= 0.05))
    print(f"maxT family-wise rate over 3 x 3 independent layers: {_rate(corrected, total)}; "
          f"uncorrected: {_rate(uncorrected, total)}")
    report.target("maxT family-wise rate <= 0.05 (99% binomial slack)", corrected <= high, _rate(corrected, total))
    out["fwer"] = {"maxT": corrected / total, "uncorrected": uncorrected / total}
    out["coverage"] = _coverage(cfg, report)
    return out


def _coverage(cfg: dict, report: Report) -> dict[str, Any]:
    import replens as rl

    rng = np.random.default_rng(12)
    p, n = 5, cfg["coverage_n"]
    w = rng.standard_normal((p, p)) / np.sqrt(p)
    truth = float(np.sum(w * w) / (np.sqrt(p) * np.linalg.norm(w.T @ w + np.eye(p))))
    big = cfg["large_n"]
    xb = rng.standard_normal((big, p))
    large_n = rl.cka(xb, xb @ w + rng.standard_normal((big, p)), debiased=True)
    covered = {"bca": 0, "percentile": 0}
    drift_ours = {"debiased_linear_cka": [], "linear_cka": []}
    drift_naive = {"debiased_linear_cka": [], "linear_cka": []}
    repeats = cfg["coverage_repeats"]
    started = time.perf_counter()
    for k in range(repeats):
        x = rng.standard_normal((n, p))
        y = x @ w + rng.standard_normal((n, p))
        bca = rl.stats.bootstrap(x, y, measure="debiased_linear_cka", n_resamples=cfg["coverage_resamples"], seed=k)
        covered["bca"] += bca.low <= truth <= bca.high
        alpha = np.quantile(bca.samples, [0.025, 0.975])
        covered["percentile"] += alpha[0] <= truth <= alpha[1]
        if k < 50:  # drift: our resamples against duplicated rows scored by the pair function
            for name in drift_ours:
                ours = bca if name == "debiased_linear_cka" else rl.stats.bootstrap(
                    x, y, measure=name, n_resamples=200, seed=k, method="percentile")
                local = np.random.default_rng(1000 + k)
                naive = np.array([rl.measure(name)(x[r], y[r]) for r in
                                  (local.integers(0, n, n) for _ in range(200))])
                drift_ours[name].append((ours.samples.mean() - ours.statistic) / ours.se)
                drift_naive[name].append((naive.mean() - ours.statistic) / ours.se)
    print(f"\ncoverage of debiased linear CKA's population value {truth:.4f} (closed form; debiased CKA at "
          f"n = {big:,}: {large_n:.4f}), n = {n}, {cfg['coverage_resamples']} resamples, {repeats} samples, "
          f"{time.perf_counter() - started:.1f} s:")
    for method, hits in covered.items():
        print(f"  95% {method}: {_rate(hits, repeats)}")
    for name in drift_ours:
        ours, naive = np.array(drift_ours[name]), np.array(drift_naive[name])
        print(f"  drift of the bootstrap mean above the estimate, {name}, in bootstrap se: ours "
              f"{ours.mean():+.3f} +- {ours.std(ddof=1) / np.sqrt(ours.size):.3f}; duplicated rows "
              f"{naive.mean():+.3f} +- {naive.std(ddof=1) / np.sqrt(naive.size):.3f}")
    report.target("95% BCa intervals of debiased linear CKA cover the population value in >= 90% of samples",
                  covered["bca"] / repeats >= 0.90, _rate(covered["bca"], repeats))
    ours_drift = float(np.mean(drift_ours["debiased_linear_cka"]))
    report.target("bootstrap of debiased linear CKA does not drift above the estimate (mean within 0.2 se)",
                  abs(ours_drift) <= 0.2, f"{ours_drift:+.3f} se")
    return {"truth": truth, "large_n_value": large_n, "covered": {k: v / repeats for k, v in covered.items()},
            "drift_ours_se": {k: float(np.mean(v)) for k, v in drift_ours.items()},
            "drift_duplicated_rows_se": {k: float(np.mean(v)) for k, v in drift_naive.items()}}


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    if repeats is not None:
        cfg["repeats"] = repeats
    threads = configure_torch_threads()
    report = Report()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sections = {
            "permutation": bench_permutation(cfg, report),
            "jackknife": bench_jackknife(cfg, report),
            "compare": bench_compare(cfg, report),
            "validity": bench_validity(cfg, report),
            "moments": bench_moments(cfg, report),
        }
    return {"config": cfg, "torch_threads": threads, "sections": sections,
            "targets": report.targets, "warnings": report.warnings}
