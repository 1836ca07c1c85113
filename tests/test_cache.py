"""ActivationCache: create, write batch by batch, resume after a crash, open, read lazily."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import replens as rl
from replens.errors import CorruptFileError, DtypeError, ReplensError, ShapeError, UnknownOptionError
from replens.activations import cache as cache_module
from replens.activations.cache import LOCK, MANIFEST, ActivationCache, hash_inputs

N = 10


def activations(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "layer1.0/conv": rng.normal(size=(n, 2, 3, 3)).astype(np.float32),
        "<b>": rng.normal(size=(n, 4)),
        "alpha": rng.normal(size=(n, 3)).astype(np.float16),
    }


def specs(acts: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {name: (array.shape[1:], array.dtype) for name, array in acts.items()}


def filled(path: Path, acts: dict[str, np.ndarray], batch: int = 4, **options) -> ActivationCache:
    n = next(iter(acts.values())).shape[0]
    cache = ActivationCache.create(path, specs(acts), n_examples=n, **options)
    for start in range(0, n, batch):
        cache.write({name: array[start:start + batch] for name, array in acts.items()}, start)
    return cache


def edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))


def entries(folder: Path) -> list[str]:
    """The folder's files, less the writer lock a cache holds while it is being written."""
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK)


# ---------------------------------------------------------------------------------------
# Create


def test_create_makes_files_and_manifest(tmp_path: Path) -> None:
    acts = activations()
    digest = hash_inputs(np.arange(N))
    cache = ActivationCache.create(tmp_path / "acts", specs(acts), n_examples=N, inputs_hash=digest)
    assert entries(tmp_path) == ["acts"]
    assert entries(tmp_path / "acts") == ["layer_0.npy", "layer_1.npy", "layer_2.npy", MANIFEST]
    assert cache.layers == ("layer1.0/conv", "<b>", "alpha")
    assert list(cache) == list(cache.layers) and len(cache) == 3 and "<b>" in cache and "nope" not in cache
    assert cache.n_examples == N and cache.inputs_hash == digest
    assert cache.layer_specs == {"layer1.0/conv": ((2, 3, 3), np.dtype(np.float32)),
                                 "<b>": ((4,), np.dtype(np.float64)), "alpha": ((3,), np.dtype(np.float16))}
    assert (cache.completed, cache.resume_from, cache.is_complete, cache.written) == (0, 0, False, ())
    manifest = json.loads((tmp_path / "acts" / MANIFEST).read_text())
    assert manifest == cache.manifest
    assert manifest["format"] == "replens.activation_cache" and manifest["format_version"] == 2
    assert manifest["n_examples"] == N and manifest["inputs_hash"] == digest
    assert manifest["layers"][0] == {"name": "layer1.0/conv", "file": "layer_0.npy", "shape": [2, 3, 3],
                                     "dtype": "<f4"}
    assert manifest["versions"]["replens"] == rl.__version__
    assert manifest["versions"]["numpy"] == np.__version__
    assert manifest["created"].endswith("+00:00") and manifest["written"] == []
    rows = np.load(tmp_path / "acts" / "layer_0.npy", mmap_mode="r")
    assert rows.shape == (N, 2, 3, 3) and rows.dtype == np.float32
    assert repr(cache) == f"ActivationCache({str(tmp_path / 'acts')!r}, 3 layers, 0/{N} examples written)"


def test_cache_has_ordinary_permissions(tmp_path: Path) -> None:
    (tmp_path / "reference_folder").mkdir()
    (tmp_path / "reference_file").write_text("x")
    ActivationCache.create(tmp_path / "acts", {"a": (2, "float32")}, n_examples=2)
    assert (tmp_path / "acts").stat().st_mode == (tmp_path / "reference_folder").stat().st_mode
    for file in ("manifest.json", "layer_0.npy"):
        assert (tmp_path / "acts" / file).stat().st_mode == (tmp_path / "reference_file").stat().st_mode


def test_create_accepts_int_shapes_scalars_and_torch_dtypes(tmp_path: Path) -> None:
    cache = ActivationCache.create(tmp_path / "c", {"a": (5, torch.float16), "b": ((), "int64"),
                                                    "c": ([2, 2], torch.bool)}, n_examples=3)
    assert cache.layer_specs == {"a": ((5,), np.dtype(np.float16)), "b": ((), np.dtype(np.int64)),
                                 "c": ((2, 2), np.dtype(bool))}
    cache.write({"a": torch.ones(3, 5), "b": np.arange(3), "c": np.ones((3, 2, 2), bool)}, 0)
    np.testing.assert_array_equal(cache["b"], np.arange(3))


def test_create_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = np.lib.format.open_memmap
    calls = {"n": 0}

    def fail_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "open_memmap", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        ActivationCache.create(tmp_path / "acts", specs(activations()), n_examples=N)
    assert entries(tmp_path) == []


def test_create_existing_path(tmp_path: Path) -> None:
    acts = activations()
    filled(tmp_path / "acts", acts)
    with pytest.raises(ReplensError, match=r"already exists\. Pass resume=True .* overwrite=True .* "
                                           r"ActivationCache\.open\(path\)"):
        ActivationCache.create(tmp_path / "acts", specs(acts), n_examples=N)
    with pytest.raises(UnknownOptionError, match=r"overwrite=True and resume=True contradict"):
        ActivationCache.create(tmp_path / "acts", specs(acts), n_examples=N, overwrite=True, resume=True)


def test_overwrite_replaces_a_cache(tmp_path: Path) -> None:
    filled(tmp_path / "acts", activations())
    cache = ActivationCache.create(tmp_path / "acts", {"new": ((2,), "float64")}, n_examples=3, overwrite=True)
    assert cache.layers == ("new",) and cache.completed == 0
    assert entries(tmp_path) == ["acts"]
    assert entries(tmp_path / "acts") == ["layer_0.npy", MANIFEST]
    assert ActivationCache.open(tmp_path / "acts").layers == ("new",)
    (tmp_path / "empty").mkdir()
    ActivationCache.create(tmp_path / "empty", {"x": (1, "float32")}, n_examples=2, overwrite=True)


def test_failed_overwrite_keeps_the_old_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    acts = activations()
    filled(tmp_path / "acts", acts)

    def failing(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np.lib.format, "open_memmap", failing)
    with pytest.raises(OSError, match="disk full"):
        ActivationCache.create(tmp_path / "acts", {"new": (2, "float64")}, n_examples=3, overwrite=True)
    monkeypatch.undo()
    assert entries(tmp_path) == ["acts"]
    np.testing.assert_array_equal(ActivationCache.open(tmp_path / "acts")["<b>"], acts["<b>"])


def test_overwrite_refuses_what_is_not_a_cache(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ReplensError, match=r"is not a replens folder: it has no manifest\.json\. "
                                           r"overwrite=True only replaces an activation cache or a replens output"):
        ActivationCache.create(tmp_path / "mine", {"x": (1, "float32")}, n_examples=2, overwrite=True)
    (tmp_path / "file.npz").write_text("x")
    with pytest.raises(ReplensError, match=r"is not a replens folder: it is a file, not a folder"):
        ActivationCache.create(tmp_path / "file.npz", {"x": (1, "float32")}, n_examples=2, overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("layers, error, message", [
    ({}, ShapeError, r"layers must be a non-empty mapping name -> \(per_example_shape, dtype\)"),
    ([("a", (1, "float32"))], ShapeError, r"layers must be a non-empty mapping"),
    ({1: (1, "float32")}, ShapeError, r"layer names must be strings; got int 1"),
    ({"a": "float32"}, ShapeError, r"layers\['a'\] must be a pair \(per_example_shape, dtype\)"),
    ({"a": ((0, 2), "float32")}, ShapeError, r"layers\['a'\] shape must be a tuple of positive integers"),
    ({"a": ((2.5,), "float32")}, ShapeError, r"shape must be a tuple of positive integers.*got \(2\.5,\)"),
    ({"a": (-1, "float32")}, ShapeError, r"shape must be a tuple of positive integers"),
    ({"a": ((True,), "float32")}, ShapeError, r"shape must be a tuple of positive integers"),
    ({"a": (2, object)}, DtypeError, r"layers\['a'\] dtype must hold real numbers.*got dtype object"),
    ({"a": (2, "complex64")}, DtypeError, r"got dtype complex64"),
    ({"a": (2, "not-a-dtype")}, DtypeError, r"dtype 'not-a-dtype' is not a dtype; use e\.g\. 'float32'"),
    ({"a": (2, torch.bfloat16)}, DtypeError, r"bfloat16 cannot be memory-mapped by numpy; use float32"),
])
def test_create_rejects_bad_layer_specs(tmp_path: Path, layers, error, message) -> None:
    with pytest.raises(error, match=message):
        ActivationCache.create(tmp_path / "c", layers, n_examples=3)
    assert entries(tmp_path) == []


@pytest.mark.parametrize("options, message", [
    ({"n_examples": 0}, r"n_examples must be a positive integer; got 0"),
    ({"n_examples": 2.0}, r"n_examples must be a positive integer; got 2\.0"),
    ({"n_examples": 2, "inputs_hash": 123}, r"inputs_hash must be a string or None; got int"),
    ({"n_examples": 2, "overwrite": "yes"}, r"overwrite must be True or False; got 'yes'"),
    ({"n_examples": 2, "resume": 1}, r"resume must be True or False; got 1"),
])
def test_create_rejects_bad_options(tmp_path: Path, options, message) -> None:
    with pytest.raises(UnknownOptionError, match=message):
        ActivationCache.create(tmp_path / "c", {"a": (2, "float32")}, **options)


# ---------------------------------------------------------------------------------------
# Write and read


def test_write_in_batches_then_read_lazily(tmp_path: Path) -> None:
    acts = activations()
    cache = filled(tmp_path / "acts", acts, batch=4)
    assert cache.is_complete and cache.completed == N and cache.resume_from == N
    assert cache.written == ((0, N),)
    reopened = ActivationCache.open(tmp_path / "acts")
    assert reopened.layers == tuple(acts) and reopened.is_complete
    for name, array in acts.items():
        rows = reopened[name]
        assert isinstance(rows, np.memmap) and rows.dtype == array.dtype
        assert not rows.flags.writeable
        np.testing.assert_array_equal(rows, array)
    with pytest.raises(ValueError, match="read-only"):
        reopened["<b>"][0, 0] = 1.0
    as_dict = reopened.as_dict()
    assert list(as_dict) == list(acts) and all(isinstance(v, np.memmap) for v in as_dict.values())


def test_as_dict_goes_straight_into_compare(tmp_path: Path) -> None:
    acts = activations(n=60)
    cache = filled(tmp_path / "acts", acts, batch=7)
    from_disk = rl.compare(cache.as_dict(), measures=("linear_cka", "cca_mean_rho"))
    in_memory = rl.compare(acts, measures=("linear_cka", "cca_mean_rho"))
    assert from_disk.layers_a == tuple(acts)
    np.testing.assert_allclose(from_disk.values, in_memory.values, rtol=1e-12, atol=1e-12)


def test_append_torch_tensors_and_casts(tmp_path: Path) -> None:
    cache = ActivationCache.create(tmp_path / "c", {"f": (2, "float32"), "i": (2, "int64")}, n_examples=5)
    cache.append({"f": torch.ones(2, 2, dtype=torch.float64, requires_grad=True) / 3,
                  "i": torch.arange(4, dtype=torch.int32).reshape(2, 2)})
    cache.append({"f": np.arange(6).reshape(3, 2), "i": np.zeros((3, 2), np.uint8)})
    assert cache.is_complete
    np.testing.assert_array_equal(cache["f"][:2], np.full((2, 2), np.float32(1 / 3)))
    np.testing.assert_array_equal(cache["i"][:2], np.arange(4).reshape(2, 2))


def test_writes_in_any_order_and_overlapping_are_merged(tmp_path: Path) -> None:
    acts = activations()
    cache = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N)

    def write(start: int, stop: int) -> None:
        cache.write({name: array[start:stop] for name, array in acts.items()}, start)

    write(6, 8)
    assert (cache.written, cache.resume_from, cache.completed) == (((6, 8),), 0, 2)
    write(2, 4)
    write(0, 3)
    assert (cache.written, cache.resume_from) == (((0, 4), (6, 8)), 4)
    write(3, 10)
    assert cache.written == ((0, N),) and cache.is_complete
    for name, array in acts.items():
        np.testing.assert_array_equal(cache[name], array)


def test_progress_is_on_disk_after_every_write(tmp_path: Path) -> None:
    acts = activations()
    cache = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N)
    cache.write({name: array[:3] for name, array in acts.items()}, 0)
    assert ActivationCache.open(tmp_path / "c").written == ((0, 3),)
    assert entries(tmp_path / "c") == ["layer_0.npy", "layer_1.npy", "layer_2.npy", MANIFEST]


def test_crash_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    acts = activations()
    digest = hash_inputs(*acts.values())
    cache = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N, inputs_hash=digest)
    original = cache_module._write_manifest
    calls = {"n": 0}

    def crash_on_third(folder, manifest):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process dies after the rows, before the manifest
        original(folder, manifest)

    monkeypatch.setattr(cache_module, "_write_manifest", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        for start in range(0, N, 3):
            cache.write({name: array[start:start + 3] for name, array in acts.items()}, start)
    monkeypatch.undo()
    with pytest.raises(ReplensError, match=r"is being written by process \d+ on host .*one writer at a time"):
        ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N, inputs_hash=digest, resume=True)
    cache.close()  # what the crashed process's exit does: the kernel drops its lock

    resumed = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N, inputs_hash=digest, resume=True)
    assert (resumed.completed, resumed.resume_from, resumed.is_complete) == (6, 6, False)
    assert [p.name for p in (tmp_path / "c").iterdir() if p.name.endswith(".tmp")] == []
    for start in range(resumed.resume_from, N, 3):
        resumed.write({name: array[start:start + 3] for name, array in acts.items()}, start)
    assert resumed.is_complete
    for name, array in acts.items():
        np.testing.assert_array_equal(ActivationCache.open(tmp_path / "c")[name], array)


def test_resume_without_a_cache_creates_one(tmp_path: Path) -> None:
    cache = ActivationCache.create(tmp_path / "c", {"a": (2, "float32")}, n_examples=3, resume=True)
    assert cache.completed == 0 and (tmp_path / "c" / MANIFEST).is_file()


@pytest.mark.parametrize("change, message", [
    ({"inputs_hash": "sha256:other"}, r"inputs_hash 'sha256:0+' \(asked for 'sha256:other'\)"),
    ({"n_examples": N + 1}, r"n_examples 10 \(asked for 11\)"),
    ({"layers": {"<b>": ((4,), "float64")}}, r"layers \{.*\} \(asked for \{'<b>': \(\(4,\), '<f8'\)\}\)"),
    ({"layers": {"<b>": ((4,), "float32"), "alpha": ((3,), "float16"), "layer1.0/conv": ((2, 3, 3), "float32")}},
     r"layers \{'layer1\.0/conv': \(\(2, 3, 3\), '<f4'\), '<b>'"),
])
def test_resume_refuses_a_different_cache(tmp_path: Path, change, message) -> None:
    acts = activations()
    ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N, inputs_hash="sha256:" + "0" * 8)
    options = {"layers": specs(acts), "n_examples": N, "inputs_hash": "sha256:" + "0" * 8, **change}
    with pytest.raises(ReplensError, match=rf"cannot resume .*: it was made with .*{message}.*overwrite=True"):
        ActivationCache.create(tmp_path / "c", options.pop("layers"), resume=True, **options)


def test_incomplete_cache_is_refused_unless_allowed(tmp_path: Path) -> None:
    acts = activations()
    cache = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N)
    cache.write({name: array[:4] for name, array in acts.items()}, 0)
    message = (r"is incomplete: 4 of 10 examples written \(first missing row 4\)\. Finish writing it .* "
               r"allow_incomplete=True")
    with pytest.raises(ReplensError, match=message):
        cache["<b>"]
    with pytest.raises(ReplensError, match=message):
        ActivationCache.open(tmp_path / "c").as_dict()
    partial = ActivationCache.open(tmp_path / "c", allow_incomplete=True)["<b>"]
    np.testing.assert_array_equal(partial[:4], acts["<b>"][:4])
    np.testing.assert_array_equal(partial[4:], 0)


def test_unknown_layer(tmp_path: Path) -> None:
    cache = filled(tmp_path / "c", activations())
    with pytest.raises(UnknownOptionError, match=r"layer 'nope' is not in the cache .* it holds 'layer1\.0/conv', "
                                                 r"'<b>', 'alpha'"):
        cache["nope"]


@pytest.mark.parametrize("make_batch, start, error, message", [
    (lambda a: {"<b>": a["<b>"][:2]}, 0, ShapeError,
     r"batch must hold exactly the cache's layers .*; missing \['layer1\.0/conv', 'alpha'\]\. Write every layer"),
    (lambda a: {**a, "extra": a["<b>"]}, 0, ShapeError, r"unknown \['extra'\]"),
    (lambda a: {**a, "<b>": a["<b>"][:, :3]}, 0, ShapeError, r"batch\['<b>'\] must have shape \(b, 4,\) .*got \(10, 3\)"),
    (lambda a: {**a, "<b>": a["<b>"][:5]}, 0, ShapeError, r"same number of rows; got 10 for 'layer1\.0/conv' and 5 for '<b>'"),
    (lambda a: {n: v[:4] for n, v in a.items()}, 8, ShapeError, r"rows \[8, 12\) do not fit: the cache holds 10 examples"),
    (lambda a: {n: v[:0] for n, v in a.items()}, 0, ShapeError, r"batch has 0 rows"),
    (lambda a: {**a, "<b>": np.float64(1.0)}, 0, ShapeError, r"batch\['<b>'\] must have shape \(b, 4,\)"),
    (lambda a: {**a, "<b>": a["<b>"].astype(object)}, 0, DtypeError, r"batch\['<b>'\] must hold real numbers"),
    (lambda a: {**a, "<b>": a["<b>"].astype(complex)}, 0, DtypeError, r"got dtype complex128"),
    (lambda a: [("<b>", a["<b>"])], 0, ShapeError, r"batch must be a mapping layer name -> array; got list"),
    (lambda a: a, -1, UnknownOptionError, r"start must be an integer >= 0 .*got -1"),
    (lambda a: a, True, UnknownOptionError, r"start must be an integer >= 0 .*got True"),
    (lambda a: a, 1.0, UnknownOptionError, r"start must be an integer >= 0 .*got 1\.0"),
])
def test_write_errors(tmp_path: Path, make_batch, start, error, message) -> None:
    acts = activations()
    cache = ActivationCache.create(tmp_path / "c", specs(acts), n_examples=N)
    with pytest.raises(error, match=message):
        cache.write(make_batch(acts), start)
    assert cache.completed == 0 and ActivationCache.open(tmp_path / "c").completed == 0


def test_write_refuses_casts_that_change_values(tmp_path: Path) -> None:
    cache = ActivationCache.create(tmp_path / "c", {"i": (2, "int16"), "b": (2, "bool")}, n_examples=2)
    with pytest.raises(DtypeError, match=r"batch\['i'\] has dtype float64, which the layer's dtype int16 cannot "
                                         r"hold without changing values.*create the cache with dtype float64"):
        cache.write({"i": np.ones((2, 2)), "b": np.ones((2, 2), bool)}, 0)
    with pytest.raises(DtypeError, match=r"batch\['i'\] has dtype int64"):
        cache.write({"i": np.ones((2, 2), np.int64), "b": np.ones((2, 2), bool)}, 0)
    with pytest.raises(DtypeError, match=r"batch\['b'\] has dtype uint8"):
        cache.write({"i": np.ones((2, 2), np.int8), "b": np.ones((2, 2), np.uint8)}, 0)


# ---------------------------------------------------------------------------------------
# Open and manifest validation


def test_open_missing_file_or_not_a_cache(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no activation cache at .*ActivationCache\.create"):
        ActivationCache.open(tmp_path / "nothere")
    (tmp_path / "a.npz").write_bytes(b"x")
    with pytest.raises(ReplensError, match=r"is a file, not an activation cache folder\. .*load_activations"):
        ActivationCache.open(tmp_path / "a.npz")
    with pytest.raises(ReplensError, match=r"has no manifest\.json, so it is not an activation cache"):
        ActivationCache.open(tmp_path)


@pytest.fixture
def cache_folder(tmp_path: Path) -> Path:
    filled(tmp_path / "c", activations())
    return tmp_path / "c"


def _layers_with(folder: Path, index: int, **changes) -> list[dict]:
    layers = json.loads((folder / MANIFEST).read_text())["layers"]
    layers[index] = {**layers[index], **changes}
    return layers


@pytest.mark.parametrize("make_change, message", [
    (lambda f: {"format": "something.else"}, r"its 'format' is not 'replens\.activation_cache'"),
    (lambda f: {"format_version": "1"}, r"format_version must be a positive integer; got '1'"),
    (lambda f: {"n_examples": -3}, r"n_examples must be a positive integer; got -3"),
    (lambda f: {"inputs_hash": 5}, r"inputs_hash must be a string or null; got 5"),
    (lambda f: {"layers": []}, r"layers must be a non-empty list"),
    (lambda f: {"layers": _layers_with(f, 1, name="layer1.0/conv")}, r"the layer name 'layer1\.0/conv' appears twice"),
    (lambda f: {"layers": _layers_with(f, 1, file="layer_0.npy")}, r"two layers share a file"),
    (lambda f: {"layers": _layers_with(f, 0, file="../outside.npy")},
     r"layer 'layer1\.0/conv' has file '\.\./outside\.npy'; expected a \.npy file name inside the cache folder"),
    (lambda f: {"layers": _layers_with(f, 0, file="layer_0.pkl")}, r"expected a \.npy file name"),
    (lambda f: {"layers": _layers_with(f, 0, name=7)}, r"layer name 7 is not a string"),
    (lambda f: {"layers": _layers_with(f, 0, shape=[2, 0, 3])}, r"has shape \[2, 0, 3\]; expected a list of positive"),
    (lambda f: {"layers": _layers_with(f, 0, dtype="O")}, r"has dtype 'O'; expected a numeric dtype"),
    (lambda f: {"layers": _layers_with(f, 0, dtype="nonsense")}, r"has dtype 'nonsense'"),
    (lambda f: {"layers": [{"name": "a"}]}, r"each layer needs name, file, shape and dtype"),
    (lambda f: {"written": [[0, 11]]}, r"written must be a list of \[start, stop\] row ranges within \[0, 10\]"),
    (lambda f: {"written": [[4, 4]]}, r"written must be a list"),
    (lambda f: {"written": None}, r"written must be a list"),
])
def test_open_rejects_a_bad_manifest(cache_folder: Path, make_change, message) -> None:
    edit_manifest(cache_folder, **make_change(cache_folder))
    with pytest.raises(ReplensError, match=rf"manifest of the activation cache .* is invalid: .*{message}.*"
                                           rf"ActivationCache\.create\(path, \.\.\., overwrite=True\)"):
        ActivationCache.open(cache_folder)


def test_open_rejects_a_manifest_that_is_not_json(cache_folder: Path) -> None:
    (cache_folder / MANIFEST).write_text("{ half written")
    with pytest.raises(ReplensError, match=r"is invalid: it is not valid JSON"):
        ActivationCache.open(cache_folder)
    (cache_folder / MANIFEST).write_text("[1, 2]")
    with pytest.raises(ReplensError, match=r"is invalid: its 'format' is not"):
        ActivationCache.open(cache_folder)


def test_open_rejects_a_newer_format(cache_folder: Path) -> None:
    edit_manifest(cache_folder, format_version=3)
    with pytest.raises(ReplensError, match=r"written by a newer replens \(format version 3; this one reads up to 2\)"
                                           r"\. Upgrade replens"):
        ActivationCache.open(cache_folder)


def test_open_checks_layer_files_against_the_manifest(cache_folder: Path) -> None:
    np.save(cache_folder / "layer_1.npy", np.zeros((N, 5)))
    with pytest.raises(CorruptFileError, match=r"layer_1\.npy' \(layer '<b>'\) has shape \(10, 5\) but the manifest says "
                                         r"\(10, 4\)"):
        ActivationCache.open(cache_folder)
    np.save(cache_folder / "layer_1.npy", np.zeros((N, 4), np.float32))
    with pytest.raises(CorruptFileError, match=r"\(layer '<b>'\) has dtype float32 but the manifest says float64"):
        ActivationCache.open(cache_folder)
    np.save(cache_folder / "layer_1.npy", np.array([None] * N, dtype=object), allow_pickle=True)
    with pytest.raises(ReplensError, match=r"could not read .*layer_1\.npy' \(layer '<b>'\)"):
        ActivationCache.open(cache_folder)
    (cache_folder / "layer_1.npy").unlink()
    with pytest.raises(ReplensError, match=r"is missing layer_1\.npy \(layer '<b>'\)\. The cache is damaged"):
        ActivationCache.open(cache_folder)


# ---------------------------------------------------------------------------------------
# hash_inputs


def test_hash_inputs_fingerprints_dtype_shape_and_values() -> None:
    x = np.arange(12.0).reshape(3, 4)
    digest = hash_inputs(x)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    assert hash_inputs(x.copy()) == digest
    assert hash_inputs(np.asfortranarray(x)) == digest
    assert hash_inputs(torch.from_numpy(x)) == digest
    assert hash_inputs(x.astype(">f8")) == digest
    assert hash_inputs(x.reshape(4, 3)) != digest
    assert hash_inputs(x.astype(np.float32)) != digest
    changed = x.copy()
    changed[2, 3] += 1
    assert hash_inputs(changed) != digest
    assert hash_inputs(x, x) != digest
    with pytest.raises(DtypeError, match=r"arrays\[0\] has dtype object"):
        hash_inputs(np.array([None]))
