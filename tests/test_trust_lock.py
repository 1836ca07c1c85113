"""One writer at a time (issue 10, item 3): the cache's writer lock, tested with real processes.

A second writer, in this process or another, is refused with a message naming the holder; a
writer killed with SIGKILL leaves no lock that blocks the next one, and its cache resumes to
exactly what one uninterrupted run writes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import _trust_models
from replens.activations import ActivationCache, extract, extract_to_cache
from replens.activations import cache as cache_module
from replens.activations.cache import LOCK, MANIFEST
from replens.errors import ReplensError

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent
SPECS = {"a": ((2,), "float32")}


def child(code: str, **env: str) -> subprocess.Popen:
    """A Python child process running `code`, with the tests folder importable."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env,
                   "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=environment)


def holding(path: Path) -> subprocess.Popen:
    """A child that creates a cache at `path`, says "locked", and keeps writing it (sleeping)."""
    process = child(f"import time; from replens.activations.cache import ActivationCache\n"
                    f"cache = ActivationCache.create({str(path)!r}, {SPECS!r}, n_examples=4)\n"
                    f"print('locked', flush=True); time.sleep(120)")
    line = process.stdout.readline().strip()
    assert line == "locked", process.stderr.read()
    return process


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)


def test_a_second_process_is_refused_naming_the_holder_and_a_killed_one_blocks_nothing(tmp_path):
    path = tmp_path / "acts"
    holder = holding(path)
    try:
        message = (rf"the activation cache .*acts' is being written by process {holder.pid} on host "
                   rf"{socket.gethostname()}, writing since 20\d\d-.*one writer at a time")
        with pytest.raises(ReplensError, match=message):
            ActivationCache.create(path, SPECS, n_examples=4, resume=True)
        with pytest.raises(ReplensError, match=message):  # nor may it be replaced under the writer
            ActivationCache.create(path, SPECS, n_examples=4, overwrite=True)
        opened = ActivationCache.open(path, allow_incomplete=True)  # reading needs no lock
        with pytest.raises(ReplensError, match=message):
            opened.write({"a": np.ones((2, 2))}, 0)
        assert json.loads((path / LOCK).read_text())["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (path / LOCK).exists()  # the dead writer's file is still there, but holds nothing
    cache = ActivationCache.create(path, SPECS, n_examples=4, resume=True)
    assert json.loads((path / LOCK).read_text())["pid"] == os.getpid()
    cache.write({"a": np.arange(8.0).reshape(4, 2)}, 0)
    assert cache.is_complete and not (path / LOCK).exists()  # complete: the lock is released
    np.testing.assert_array_equal(ActivationCache.open(path)["a"], np.arange(8.0).reshape(4, 2))


def test_two_writers_in_one_process(tmp_path):
    path = tmp_path / "acts"
    first = ActivationCache.create(path, SPECS, n_examples=4)
    with pytest.raises(ReplensError, match=rf"is being written by process {os.getpid()} on host"):
        ActivationCache.create(path, SPECS, n_examples=4, resume=True)
    first.write({"a": np.ones((2, 2))}, 0)
    first.close()
    with ActivationCache.create(path, SPECS, n_examples=4, resume=True) as second:
        assert second.resume_from == 2
        with pytest.raises(ReplensError, match="is being written by"):
            first.write({"a": np.ones((2, 2))}, 2)  # the first object would take the lock again
        second.write({"a": np.zeros((2, 2))}, 2)
    assert not (path / LOCK).exists()
    first.write({"a": np.full((1, 2), 5.0)}, 3)  # free again: the first may rewrite a row
    np.testing.assert_array_equal(ActivationCache.open(path)["a"], [[1, 1], [1, 1], [0, 0], [5, 5]])


def test_a_garbage_collected_writer_releases_its_lock(tmp_path):
    path = tmp_path / "acts"
    ActivationCache.create(path, SPECS, n_examples=4)  # dropped at once
    ActivationCache.create(path, SPECS, n_examples=4, resume=True).close()


def test_a_writer_re_reads_the_manifest_when_it_takes_the_lock(tmp_path):
    path = tmp_path / "acts"
    first = ActivationCache.create(path, SPECS, n_examples=4)
    first.close()
    with ActivationCache.create(path, SPECS, n_examples=4, resume=True) as second:
        second.write({"a": np.ones((2, 2))}, 0)
    first.write({"a": np.ones((2, 2))}, 2)  # must not forget rows 0-1 written by the other writer
    assert ActivationCache.open(path).is_complete
    ActivationCache.create(path, {"b": ((3,), "float64")}, n_examples=4, overwrite=True).close()
    with pytest.raises(ReplensError, match="was replaced by another one since this object opened it"):
        first.write({"a": np.ones((2, 2))}, 0)


def test_without_flock_a_lock_file_of_a_dead_process_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fcntl", None)  # as on a system without flock
    path = tmp_path / "acts"
    cache = ActivationCache.create(path, SPECS, n_examples=4)
    with pytest.raises(ReplensError, match=rf"being written by process {os.getpid()}"):
        ActivationCache.create(path, SPECS, n_examples=4, resume=True)
    cache.close()
    dead = child("pass")
    dead.wait(timeout=30)
    host = socket.gethostname()
    (path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": host, "started": "2026-01-01T00:00:00+00:00"}))
    ActivationCache.create(path, SPECS, n_examples=4, resume=True).close()  # dead: taken over
    alive = child("import time; time.sleep(120)")
    try:
        (path / LOCK).write_text(json.dumps({"pid": alive.pid, "host": host, "started": "2026-01-01T00:00:00+00:00"}))
        with pytest.raises(ReplensError, match=rf"being written by process {alive.pid} on host {host}, writing "
                                               rf"since 2026-01-01"):
            ActivationCache.create(path, SPECS, n_examples=4, resume=True)
        (path / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
        with pytest.raises(ReplensError, match=r"process 1 on host elsewhere"):  # cannot tell: refused
            ActivationCache.create(path, SPECS, n_examples=4, resume=True)
    finally:
        stop(alive)


def _manifest_rows(path: Path) -> int:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return 0
    return sum(stop - start for start, stop in manifest["written"])


def _slow_extraction(tmp_path, x, path, *, slow):
    """A child process extracting SlowMLP on `x` into the cache at `path`, `slow` s per batch."""
    np.save(tmp_path / "x.npy", x)
    code = (f"import numpy as np, torch; torch.set_num_threads(1)\n"
            f"import _trust_models\n"
            f"from replens.activations import extract_to_cache\n"
            f"extract_to_cache(_trust_models.SlowMLP(), np.load({str(tmp_path / 'x.npy')!r}), {str(path)!r}, "
            f"chunk_size=10, batch_size=5, progress=False)\n")
    return child(code, REPLENS_TEST_SLOW=slow)


def test_an_extraction_killed_mid_run_resumes_to_exactly_one_run(tmp_path):
    path = tmp_path / "acts"
    x = _trust_models.inputs()
    writer = _slow_extraction(tmp_path, x, path, slow="0.15")
    try:
        deadline = time.monotonic() + 60
        while _manifest_rows(path) < 20 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.02)
        assert _manifest_rows(path) >= 20, writer.stderr.read() if writer.poll() is not None else "too slow"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    partial = ActivationCache.open(path, allow_incomplete=True)
    assert 20 <= partial.resume_from < 60 and not partial.is_complete
    model = _trust_models.SlowMLP()
    cache = extract_to_cache(model, x, path, chunk_size=10, batch_size=5, progress=False)
    assert cache.is_complete and cache.verify() == 2 * len(cache.manifest["chunks"])
    expected = extract(model, x, batch_size=5, progress=False)
    assert list(cache.layers) == list(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(cache[name], array)
    assert not (path / LOCK).exists()


def test_the_extraction_pipeline_releases_the_lock_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "acts"
    calls = {"n": 0}
    original = ActivationCache.write

    def failing_second_write(self, batch, start):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        original(self, batch, start)

    monkeypatch.setattr(ActivationCache, "write", failing_second_write)
    with pytest.raises(OSError, match="No space left"):
        extract_to_cache(_trust_models.SlowMLP(), _trust_models.inputs(), path, chunk_size=20, progress=False)
    monkeypatch.undo()
    assert not (path / LOCK).exists()
    cache = extract_to_cache(_trust_models.SlowMLP(), _trust_models.inputs(), path, chunk_size=20, progress=False)
    assert cache.is_complete
    assert cache_module.LOCK == LOCK


def test_a_second_extraction_is_told_before_it_runs_the_model(tmp_path):
    path = tmp_path / "acts"
    x = _trust_models.inputs()
    writer = _slow_extraction(tmp_path, x, path, slow="0.3")
    try:
        deadline = time.monotonic() + 60
        while _manifest_rows(path) < 10 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.02)
        assert _manifest_rows(path) >= 10

        class Refusing(_trust_models.SlowMLP):  # same weights; would fail if it ever ran
            def forward(self, x):
                raise AssertionError("the model ran although another process writes the cache")

        Refusing.__qualname__ = "SlowMLP"
        Refusing.__module__ = "_trust_models"
        with pytest.raises(ReplensError, match=rf"is being written by process {writer.pid} on host"):
            extract_to_cache(Refusing(), x, path, chunk_size=10, batch_size=5, progress=False)
        with pytest.raises(ReplensError, match=rf"is being written by process {writer.pid} on host"):
            extract_to_cache(Refusing(), x, path, chunk_size=10, overwrite=True, progress=False)
    finally:
        stop(writer)
