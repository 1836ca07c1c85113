"""``python -m benchmarks [GROUP ...] [--quick] [--repeats N] [--results-dir DIR] [--strict]``

Runs the benchmark groups (all by default), prints a table per section and PASS/FAIL lines
for the performance targets, and writes ``bench-results/<group>.json`` (``<group>-quick.json``
with ``--quick``) atomically in the repository root.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import THREAD_VARIABLES  # noqa: F401  (importing the package pins the thread counts)
from ._timing import REPO_ROOT, environment, thread_count, write_json_atomic


def _groups():
    from . import bench_compare, bench_extraction, bench_measures, bench_memory, bench_stats, bench_streaming

    return {"measures": bench_measures.run, "compare": bench_compare.run, "streaming": bench_streaming.run,
            "extraction": bench_extraction.run, "stats": bench_stats.run, "memory": bench_memory.run,
            "sweep": _sweep}


def _sweep(**options):
    from . import bench_sweep

    return bench_sweep.run(**options)


def main(argv: list[str] | None = None) -> int:
    groups = _groups()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help=f"groups to run (default: all): {', '.join(groups)}")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats (smoke test, well under 30 s)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per contender after the warm-up call")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench-results",
                        help="where the JSON results go (default: <repo>/bench-results)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target fails")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in groups]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(groups)}")
    selected = args.groups or list(groups)

    env = environment()
    print(f"replens benchmarks: {env['cpu']}, {thread_count()} thread(s) "
          f"(OMP/OPENBLAS/MKL_NUM_THREADS), numpy {env['numpy']}, python {env['python']}"
          + (" [--quick]" if args.quick else ""))
    failed = False
    for name in selected:
        started = time.perf_counter()
        print(f"\n######## group: {name}")
        payload = groups[name](quick=args.quick, repeats=args.repeats)
        elapsed = time.perf_counter() - started
        payload = {"group": name, "quick": args.quick,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "elapsed_s": elapsed, "environment": env, **payload}
        path = args.results_dir / f"{name}{'-quick' if args.quick else ''}.json"
        write_json_atomic(path, payload)
        statuses = [t["status"] for t in payload["targets"]]
        print(f"\n{name}: {statuses.count('PASS')} PASS, {statuses.count('FAIL')} FAIL, "
              f"{statuses.count('SKIP')} SKIP, {len(payload['warnings'])} warning(s); "
              f"{elapsed:.1f} s; results in {path}")
        failed = failed or "FAIL" in statuses
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
