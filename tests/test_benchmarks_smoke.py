"""The benchmark suite runs end to end at small sizes (``python -m benchmarks --quick``).

Speed is measured by ``make bench``, not here: this only keeps the benchmark code working,
checks that every contender produced a value and that replens' values stayed exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_run_and_write_results(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--repeats", "1", "--results-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    for group in ("measures", "compare", "streaming", "extraction"):
        payload = json.loads((tmp_path / f"{group}-quick.json").read_text())
        assert payload["targets"], group
        exactness = [t for t in payload["targets"] if "exact" in t["target"] or "equals" in t["target"]]
        assert exactness and all(t["status"] == "PASS" for t in exactness), exactness
    assert not list(tmp_path.glob("*.tmp"))


# ---------------------------------------------------------------------------------------
# Benchmarks measure what they say (issue 10, item 15)

_BIG_PARENT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
held = np.ones(400 * 2**20 // 8)  # 400 MiB resident in the parent, as after earlier groups of make bench
from benchmarks.bench_streaming import _child
child = _child(2_000, 16, 500, check=False)
print(json.dumps({"child": child, "parent_first": float(held[0])}))
"""

_RU_MAXRSS_CHILD = """
import resource, subprocess, sys
import numpy as np
held = np.ones(400 * 2**20 // 8)
code = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip(), held[0])
"""


def test_streaming_child_reports_its_own_peak_not_its_parents(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _BIG_PARENT, str(REPO)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])["child"]
    assert child["peak_rss_source"] == "VmHWM"
    assert 10 < child["peak_rss_mb"] < 250, child  # numpy + replens + the batches: well under the parent's 400
    # The old reading would have failed: ru_maxrss in a child of the same parent carries the parent's peak.
    inherited = subprocess.run([sys.executable, "-c", _RU_MAXRSS_CHILD], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
    assert float(inherited.stdout.split()[0]) > 400, inherited.stdout


def test_own_peak_rss_reads_this_process_high_water_mark():
    from benchmarks._timing import own_peak_rss_mb

    before, source = own_peak_rss_mb()
    status = Path("/proc/self/status").read_text()
    resident = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024
    # The mark only rises once resident memory passes it: allocate past it by 64 MB (earlier
    # tests in this process may have left it well above what is resident now).
    block = bytearray(int(before - resident + 64) * 2**20)
    block[:: 4096] = b"x" * len(block[:: 4096])  # touch every page
    after, _ = own_peak_rss_mb()
    assert source == "VmHWM" and after >= before + 60, (before, after)


def test_fourier_floor_does_the_same_work_as_dft_cca():
    import numpy as np

    import replens as rl
    from benchmarks.bench_compare import conv_pair, fourier_floor

    x, y = conv_pair((60, 6, 6, 4), seed=0)
    floor = fourier_floor(x, y)  # (h * (w // 2 + 1), k) stored frequencies
    rho = rl.dft_cca(x, y).rho  # (h, w, k) every frequency
    assert floor.shape == (6 * 4, 4)
    assert np.allclose(floor.reshape(6, 4, 4), rho[:, :4], atol=1e-10, rtol=0)


def test_fourier_target_is_our_time_over_the_floor_not_10x_a_loop(capsys):
    from benchmarks.bench_compare import QUICK, bench_dft
    from benchmarks.bench_measures import Report

    report = Report()
    section = bench_dft({**QUICK, "repeats": 1}, report)
    names = [t["target"] for t in report.targets]
    assert not any("10x" in name or "faster than a per-frequency loop" in name for name in names), names
    floor_targets = [t for t in report.targets if "floor of its unavoidable work" in t["target"]]
    assert len(floor_targets) == 1
    assert floor_targets[0]["detail"] == f"{section['time_over_floor']:.2f}x" and section["time_over_floor"] > 0
    assert {row["key"] for row in section["rows"]} == {"floor", "loop", "dft", "dft_f32"}
    assert "shown for scale, not a target" in capsys.readouterr().out
