"""rl.sweep on a real dask.distributed LocalCluster: equality, a killed worker, a killed driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

import replens as rl
from replens.sweeps.store import finished_tiles

from dask import distributed  # the dask extra, in the test extra
torch.set_num_threads(1)
MEASURES = ("linear_cka", "cca_mean_rho")


def _model_files(folder, count=10, n=300, width=48):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((n, width))
    paths = {}
    for i in range(count):
        acts = {f"l{k}": np.tanh(base @ rng.standard_normal((width, width))) for k in range(3)}
        paths[f"m{i}"] = str(rl.save_activations(folder / f"m{i}.npz", acts))
    return paths


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local, distributed.Client(local) as client:
        yield client


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def test_dask_equals_in_process(tmp_path, cluster):
    paths = _model_files(tmp_path, count=4, n=60, width=6)
    ref = rl.sweep(paths, measures=MEASURES, store=tmp_path / "ref", tile_models=3).run()
    res = rl.sweep(paths, measures=MEASURES, store=tmp_path / "dask", tile_models=1, executor=cluster).run()
    assert res.computed_tiles == 16
    np.testing.assert_allclose(res.values, ref.values, rtol=0, atol=1e-12)
    m = rl.compare(rl.load_activations(paths["m1"]), rl.load_activations(paths["m3"]), MEASURES)
    np.testing.assert_allclose(res.values[:, 1, 3], m.values, rtol=0, atol=1e-12)


def test_a_worker_killed_mid_run_the_sweep_finishes_identical(tmp_path, cluster):
    paths = _model_files(tmp_path)
    ref = rl.sweep(paths, measures=MEASURES, store=tmp_path / "ref", tile_models=5).run()
    store = tmp_path / "run"
    sw = rl.sweep(paths, measures=MEASURES, store=store, tile_models=1, executor=cluster)
    pids = sorted(cluster.run(os.getpid).values())
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("res", sw.run()))
    runner.start()
    _wait_for(lambda: len(finished_tiles(store)) >= 3)
    os.kill(pids[0], signal.SIGKILL)
    done_at_kill = len(finished_tiles(store))
    runner.join(120)
    assert done_at_kill < len(sw.tiles), "the sweep finished before the worker was killed"
    res = outcome["res"]
    assert res.computed_tiles == len(sw.tiles) == 100
    np.testing.assert_allclose(res.values, ref.values, rtol=0, atol=1e-12)
    assert pids[0] not in cluster.run(os.getpid).values()


DRIVER = textwrap.dedent("""
    import json, sys
    import replens as rl
    if __name__ == "__main__":
        paths = json.loads(sys.argv[2])
        rl.sweep(paths, measures=("linear_cka", "cca_mean_rho"), store=sys.argv[1], tile_models=1,
                 executor="dask", n_workers=2).run()
""")


def test_the_driver_killed_mid_run_a_rerun_computes_only_missing_tiles(tmp_path):
    import json

    paths = _model_files(tmp_path)
    ref = rl.sweep(paths, measures=MEASURES, store=tmp_path / "ref", tile_models=5).run()
    store = tmp_path / "run"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    driver = subprocess.Popen([sys.executable, str(script), str(store), json.dumps(paths)], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(finished_tiles(store)) >= 5, timeout=60)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the cluster it started
        driver.wait(10)
    time.sleep(0.2)
    done = finished_tiles(store)
    assert 5 <= len(done) < 100, "the driver finished before it was killed"
    sw = rl.sweep(paths, measures=MEASURES, store=store, tile_models=1)
    missing = sw.missing()
    assert len(missing) == 100 - len(done) and not {t.index for t in missing} & done
    res = sw.run()
    assert res.computed_tiles == len(missing)
    np.testing.assert_allclose(res.values, ref.values, rtol=0, atol=1e-12)
    assert rl.sweep(paths, measures=MEASURES, store=store, tile_models=1).run().computed_tiles == 0
