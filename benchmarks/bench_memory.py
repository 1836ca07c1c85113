"""Group "memory": compare() on an activation cache within memory_budget.

(a) 12 layers of 20,000 x 1024 float32 (940 MiB) are written to an ActivationCache, then
    ``rl.compare(cache.as_dict(), measures="linear_cka", memory_budget=256 MiB)`` runs in a
    child process on the cache's read-only memory maps: the feature-space products are
    accumulated over row blocks, each block cast to float64 on its own (the layers in float64
    would be 1.9 GiB), and each block's pages are released once read.
(b) the same comparison in another child on the layers loaded into memory (float32 arrays)
    with the default budget.
(c), (d) the same two runs for the CCA family and regression (mean CCA, SVCCA, PWCCA, linear
    regression): within the budget their bases are built from row blocks (``Xc^T Xc`` per
    layer, ``q_i^T q_j`` per group of pairs), never from a layer cast whole.

Each child reports its time and its own peak resident memory (``VmHWM`` of /proc/self/status
after exec, :func:`benchmarks._timing.own_peak_rss_mb`; ``ru_maxrss`` would carry the
parent's peak). Targets: the two matrices agree to 1e-10, and the cache run's peak stays
within the budget plus the library's own footprint (measured in a third child that imports
replens, opens the cache's layers, which verifies their checksums, and compares two tiny
layers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._timing import REPO_ROOT, run_child
from .bench_measures import Report

MIB = 2**20
FULL = dict(layers=12, n=20_000, p=1024, budget_mb=256, chunk=2_000)
QUICK = dict(layers=4, n=4_000, p=128, budget_mb=8, chunk=500)

_CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from benchmarks._timing import own_peak_rss_mb
import replens as rl

folder, mode, budget, out = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
measures = tuple(sys.argv[6].split(","))
cache = rl.ActivationCache.open(folder)
result = {}
if mode == "baseline":  # the library's own footprint: opening (and verifying) the layers, a tiny compare
    cache.as_dict()
    tiny = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
    rl.compare({"a": tiny, "b": tiny[:, ::-1].copy()}, measures=measures, memory_budget=budget, progress=False)
else:
    layers = cache.as_dict()
    if mode == "memory":
        layers = {name: np.array(layer) for name, layer in layers.items()}
    started = time.perf_counter()
    matrix = rl.compare(layers, measures=measures, memory_budget=budget, progress=False)
    result["seconds"] = time.perf_counter() - started
    np.save(out, matrix.values)
peak_mb, source = own_peak_rss_mb()
result.update(peak_rss_mb=peak_mb, peak_rss_source=source)
print(json.dumps(result))
"""


def _write_cache(folder: Path, cfg: dict) -> None:
    """Layers of a random residual-style network, written chunk by chunk (never whole in memory)."""
    import replens as rl

    n, p = cfg["n"], cfg["p"]
    names = [f"block{i}" for i in range(cfg["layers"])]
    cache = rl.ActivationCache.create(folder, layers={name: ((p,), "float32") for name in names}, n_examples=n)
    rng = np.random.default_rng(0)
    mixes = [(rng.standard_normal((p, p)) / np.sqrt(p)).astype(np.float32) for _ in names]
    for start in range(0, n, cfg["chunk"]):
        x = rng.standard_normal((min(cfg["chunk"], n - start), p)).astype(np.float32)
        batch = {}
        for name, mix in zip(names, mixes):
            x = x + np.tanh(x @ mix)
            batch[name] = x
        cache.append(batch)


CCA_FAMILY = ("cca_mean_rho", "svcca_mean_rho", "pwcca", "linear_regression_r2")


def _child(folder: Path, mode: str, budget: int, out: Path, measures: tuple[str, ...] = ("linear_cka",)
           ) -> dict[str, Any]:
    return run_child(_CHILD, str(REPO_ROOT), str(folder), mode, str(budget), str(out), ",".join(measures))


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    report = Report()
    budget = cfg["budget_mb"] * MIB
    with tempfile.TemporaryDirectory(prefix="replens-bench-memory-") as tmp:
        folder = Path(tmp) / "cache"
        _write_cache(folder, cfg)
        data_mb = cfg["layers"] * cfg["n"] * cfg["p"] * 4 / MIB
        baseline = _child(folder, "baseline", budget, Path(tmp) / "none.npy", ("linear_cka",) + CCA_FAMILY)
        cached = _child(folder, "cache", budget, Path(tmp) / "cache.npy")
        in_memory = _child(folder, "memory", 4 * 1024 * MIB, Path(tmp) / "memory.npy")
        error = float(np.max(np.abs(np.load(Path(tmp) / "cache.npy") - np.load(Path(tmp) / "memory.npy"))))
        cca_cached = _child(folder, "cache", budget, Path(tmp) / "cca-cache.npy", CCA_FAMILY)
        cca_memory = _child(folder, "memory", 4 * 1024 * MIB, Path(tmp) / "cca-memory.npy", CCA_FAMILY)
        cca_error = float(np.max(np.abs(np.load(Path(tmp) / "cca-cache.npy") - np.load(Path(tmp) / "cca-memory.npy"))))
    shape = f"{cfg['layers']} layers of {cfg['n']:,} x {cfg['p']} float32 ({data_mb:.0f} MiB)"
    print(f"\n(a) {cfg['layers']}x{cfg['layers']} linear CKA matrix, {shape}, from an ActivationCache with "
          f"memory_budget={cfg['budget_mb']} MiB: {cached['seconds']:.1f} s, peak RSS {cached['peak_rss_mb']:.0f} MiB "
          f"(the child's own, {cached['peak_rss_source']})")
    print(f"(b) the same layers loaded into memory, default budget: {in_memory['seconds']:.1f} s, "
          f"peak RSS {in_memory['peak_rss_mb']:.0f} MiB")
    print(f"(c) {', '.join(CCA_FAMILY)} from the cache, memory_budget={cfg['budget_mb']} MiB: "
          f"{cca_cached['seconds']:.1f} s, peak RSS {cca_cached['peak_rss_mb']:.0f} MiB")
    print(f"(d) the same in memory, default budget: {cca_memory['seconds']:.1f} s, "
          f"peak RSS {cca_memory['peak_rss_mb']:.0f} MiB")
    print(f"    interpreter + replens + cache.as_dict() (checksums verified) + a tiny compare: peak RSS {baseline['peak_rss_mb']:.0f} MiB; "
          f"max |cache - in memory| {error:.1e} (linear CKA), {cca_error:.1e} (CCA family)")
    limit = baseline["peak_rss_mb"] + cfg["budget_mb"]
    report.target("cache compare peak RSS within memory_budget + the library's own footprint",
                  cached["peak_rss_mb"] <= limit, f"{cached['peak_rss_mb']:.0f} MiB <= {limit:.0f} MiB")
    report.target("cache compare equals the in-memory compare to 1e-10", error <= 1e-10, f"{error:.1e}")
    report.target("CCA-family cache compare peak RSS within memory_budget + the library's own footprint",
                  cca_cached["peak_rss_mb"] <= limit, f"{cca_cached['peak_rss_mb']:.0f} MiB <= {limit:.0f} MiB")
    report.target("CCA-family cache compare equals the in-memory compare to 1e-10", cca_error <= 1e-10,
                  f"{cca_error:.1e}")
    return {"config": cfg, "sections": {"cache": cached, "in_memory": in_memory, "baseline": baseline,
                                        "cca_cache": cca_cached, "cca_in_memory": cca_memory,
                                        "data_mib": data_mb, "abs_diff": error, "cca_abs_diff": cca_error},
            "targets": report.targets, "warnings": report.warnings}
