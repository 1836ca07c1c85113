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
