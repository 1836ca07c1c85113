"""Timing harness: warm-up, round-robin repeats, ratios, tables and atomic JSON output.

Fairness rules, applied to every race:

* all contenders of a race run in the same process, on the same data objects;
* each is called once to warm up (lazy imports, allocator, BLAS initialisation); that call
  also records its value;
* then repeats run round-robin, with the starting contender rotated each round, so that
  background load on a shared machine falls on every contender alike;
* a contender whose warm-up call took longer than ``slow_s`` is timed once only (that
  call), and one whose repeats would exceed ``budget_s`` gets fewer repeats (at least one);
* the figure of merit is the minimum over repeats (the least-disturbed run); the median is
  reported as well.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def thread_count() -> int:
    """The thread count the environment asks for (OMP_NUM_THREADS, default 1)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def configure_torch_threads() -> dict[str, Any]:
    """Give torch the same thread count as numpy's BLAS; return what was set."""
    info: dict[str, Any] = {}
    try:
        import torch
    except ImportError:
        return {"torch": None}
    threads = thread_count()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass
    info["torch"] = torch.__version__
    info["torch_num_threads"] = torch.get_num_threads()
    info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    return info


def environment() -> dict[str, Any]:
    """Versions, thread settings and machine description for the JSON record."""
    import numpy as np

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "thread_env": {k: os.environ.get(k) for k in (
            "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "git": _git_state(),
    }
    try:
        import scipy

        env["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        env["blas_pools"] = [
            {k: pool.get(k) for k in ("internal_api", "num_threads", "version", "architecture")}
            for pool in threadpool_info()
        ]
    except ImportError:
        pass
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"),
                "src_dirty": bool(git("status", "--porcelain", "--", "src"))}
    except (OSError, subprocess.SubprocessError):
        return {}


def own_peak_rss_mb() -> tuple[float, str]:
    """This process's own peak resident memory in MiB, and the source it was read from.

    Linux's ``VmHWM`` (/proc/self/status) is the high-water mark of this process's own
    address space, which exec replaces: a child started by a parent holding 5 GB reports its
    own peak. ``getrusage``'s ``ru_maxrss`` is not: the kernel carries the larger of the
    parent's and the child's peaks across fork and exec, so a child of a big parent reports
    the parent's peak. It is used only where /proc is missing (not Linux), and says so.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "VmHWM"  # kB
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
    return mib, "ru_maxrss (may include the parent's peak)"


@dataclass
class Contender:
    """One timed callable. `fn` takes no argument and returns the contender's value."""

    key: str
    name: str
    fn: Callable[[], Any]
    role: str = "contender"  # "baseline", "ours", "peer"
    note: str = ""


@dataclass
class Timing:
    key: str
    name: str
    role: str
    note: str = ""
    times: list[float] = field(default_factory=list)
    warmup_s: float | None = None
    value: Any = None
    error: str | None = None
    planned: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "name": self.name, "role": self.role}
        if self.note:
            out["note"] = self.note
        if self.error is not None:
            out["error"] = self.error
        if self.times:
            out.update(min_s=self.best, median_s=self.median, runs=len(self.times),
                       times_s=self.times)
        out["warmup_s"] = self.warmup_s
        return out


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``python -c code args...`` in a fresh process; its last stdout line is a JSON record.

    A fresh process gives each measurement its own memory high-water mark (read with
    :func:`own_peak_rss_mb` inside the child).
    """
    completed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                               env=os.environ.copy(), timeout=3600)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _call(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def race(
    contenders: Sequence[Contender],
    *,
    repeats: int,
    slow_s: float = 120.0,
    budget_s: float = 90.0,
    label: str = "",
) -> dict[str, Timing]:
    """Warm up every contender, then time them round-robin; see the module docstring."""
    results: dict[str, Timing] = {}
    for c in contenders:
        t = Timing(c.key, c.name, c.role, c.note)
        results[c.key] = t
        try:
            t.warmup_s, t.value = _call(c.fn)
        except Exception as exc:  # a peer failing (memory, API) is reported, not fatal
            t.error = f"{type(exc).__name__}: {exc}".strip()[:300]
            _log(f"  [{label}] {c.name}: FAILED ({t.error})")
            continue
        if t.warmup_s > slow_s:
            t.times = [t.warmup_s]
            t.planned = 0
            t.note = _join(t.note, f"timed once: first call took > {slow_s:.0f} s")
        else:
            t.planned = repeats if t.warmup_s * repeats <= budget_s else max(1, int(budget_s // t.warmup_s))
            if t.planned < repeats:
                t.note = _join(t.note, f"{t.planned} repeat(s) to fit a {budget_s:.0f} s budget")
        _log(f"  [{label}] warm-up {c.name}: {t.warmup_s:.3f} s")

    active = [c for c in contenders if results[c.key].error is None and results[c.key].planned > 0]
    rounds = max((results[c.key].planned for c in active), default=0)
    for r in range(rounds):
        shift = r % len(active)
        order = active[shift:] + active[:shift]
        for c in order:
            t = results[c.key]
            if t.planned <= r:
                continue
            elapsed, _ = _call(c.fn)
            t.times.append(elapsed)
        _log(f"  [{label}] round {r + 1}/{rounds} done")
    return results


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def ratio(t: Timing, base: Timing | None) -> float | None:
    if base is None or not t.ok or not base.ok:
        return None
    return t.best / base.best


def fmt_seconds(value: float | None) -> str:
    """Seconds with a unit: "4.67 ms", "1.234 s", "123.4 s"."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.3f} s"
    return f"{value * 1000:.2f} ms"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def fmt_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.10f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], aligns: str | None = None) -> str:
    """Plain-text table; `aligns` holds one of "l"/"r" per column (default: first left)."""
    aligns = aligns or "l" + "r" * (len(headers) - 1)
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if a == "l" else str(c).rjust(w)
                 for c, w, a in zip(cells, widths, aligns)]
        return "  ".join(parts).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file in the same folder, then os.replace it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False, default=_jsonable)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give it ordinary permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _jsonable(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    except ImportError:
        pass
    return str(value)
