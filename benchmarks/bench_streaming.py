"""Group "streaming": exact linear CKA over more examples than fit in memory.

(a) n = 1,000,000 examples x 1024 features per layer, generated batch by batch and fed to
    rl.streaming.LinearCKA in a child process: examples per second and the child's own peak
    resident memory (target < 500 MB; the data itself would be 16 GB in float64), read from
    the child's VmHWM after its work (:func:`benchmarks._timing.own_peak_rss_mb`):
    ``ru_maxrss`` survives fork and exec, so inside ``make bench`` it reported the parent's
    5.4 GB high-water mark instead of the child's 250 MB.
(b) equality with the in-memory rl.cka at n = 100,000 (same generator, same batches).
"""

from __future__ import annotations

from typing import Any

from ._timing import REPO_ROOT, run_child
from .bench_measures import Report

FULL = dict(n=1_000_000, p=1024, batch=2_500, check_n=100_000)
QUICK = dict(n=20_000, p=64, batch=2_000, check_n=10_000)

_CHILD = r"""
import json, sys, time
import numpy as np
import replens as rl

n, p, batch, seed = (int(v) for v in sys.argv[1:5])
sys.path.insert(0, sys.argv[5])
from benchmarks._timing import own_peak_rss_mb

def batches():
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((p, p)) / np.sqrt(p)
    for start in range(0, n, batch):
        x = rng.standard_normal((min(batch, n - start), p)).astype(np.float32)
        yield x, np.tanh(x @ mix.astype(np.float32)) + 0.5 * rng.standard_normal(x.shape).astype(np.float32)

est = rl.streaming.LinearCKA()
started = time.perf_counter()
for x, y in batches():
    est.update(x, y)
value = est.compute()
elapsed = time.perf_counter() - started
peak_mb, peak_source = own_peak_rss_mb()
result = {"value": value, "seconds": elapsed, "examples_per_s": n / elapsed, "peak_rss_mb": peak_mb,
          "peak_rss_source": peak_source}
if len(sys.argv) > 6:
    xs, ys = zip(*batches())
    result["in_memory"] = rl.cka(np.concatenate(xs), np.concatenate(ys))
print(json.dumps(result))
"""


def _child(n: int, p: int, batch: int, *, check: bool) -> dict[str, Any]:
    return run_child(_CHILD, str(n), str(p), str(batch), "0", str(REPO_ROOT), *(["check"] if check else []))


def run(*, quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    report = Report()
    big = _child(cfg["n"], cfg["p"], cfg["batch"], check=False)
    print(f"\n(a) streamed linear CKA, n={cfg['n']:,} x {cfg['p']} per layer, batches of {cfg['batch']:,}: "
          f"{big['seconds']:.1f} s, {big['examples_per_s']:,.0f} examples/s, peak RSS {big['peak_rss_mb']:.0f} MB "
          f"(the child's own, {big['peak_rss_source']}), "
          f"value {big['value']:.10f}")
    # ru_maxrss (no /proc) bounds the child's own peak from above: below 500 MB passes, above says nothing.
    own = big["peak_rss_source"] == "VmHWM"
    report.target("peak resident memory < 500 MB", True if big["peak_rss_mb"] < 500 else (False if own else None),
                  f"{big['peak_rss_mb']:.0f} MB ({big['peak_rss_source']})")
    small = _child(cfg["check_n"], cfg["p"], cfg["batch"], check=True)
    error = abs(small["value"] - small["in_memory"])
    print(f"(b) n={cfg['check_n']:,}: streamed {small['value']:.15f}, in memory {small['in_memory']:.15f}, "
          f"|diff| {error:.1e}")
    report.target("streamed equals in-memory to 1e-10", error <= 1e-10, f"{error:.1e}")
    return {"config": cfg, "sections": {"streamed": big, "check": {**small, "abs_diff": error}},
            "targets": report.targets, "warnings": report.warnings}
