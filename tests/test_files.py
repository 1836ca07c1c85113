"""save_activations / load_activations: round trips, atomic writes, no unpickling, errors."""

from __future__ import annotations

import json
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from replens.errors import DtypeError, ReplensError, ShapeError, UnknownOptionError
from replens.activations.cache import ActivationCache
from replens.activations.files import load_activations, save_activations

h5py = pytest.importorskip("h5py")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

SUFFIXES = [".npz", ".safetensors", ".h5", ".hdf5"]


def odd_layers() -> dict[str, np.ndarray]:
    """Names that trip up formats (dots, slashes, markup, reserved-looking words), in an
    order that is neither sorted nor reverse-sorted, with every storable kind of dtype."""
    rng = np.random.default_rng(0)
    n = 5
    return {
        "zeta": rng.normal(size=(n, 3)),
        "layer1.0/conv": rng.normal(size=(n, 2, 3, 3)).astype(np.float32),
        "<b>": rng.normal(size=(n, 4)).astype(np.float16),
        "alpha": rng.integers(-50, 50, size=(n, 2)),
        "file": rng.integers(0, 255, size=(n, 3), dtype=np.uint8),
        "a/b/c": rng.random(n) > 0.5,
        "..": rng.normal(size=(n, 1)),
        "über layer.npy": np.arange(n, dtype=np.int32),
    }


def leftovers(folder: Path, *expected: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


# ---------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_keeps_values_dtypes_names_and_order(tmp_path: Path, suffix: str) -> None:
    acts = odd_layers()
    path = save_activations(tmp_path / f"acts{suffix}", acts)
    assert path == tmp_path / f"acts{suffix}"
    loaded = load_activations(path)
    assert list(loaded) == list(acts)
    for name, array in acts.items():
        assert isinstance(loaded[name], np.ndarray)
        assert loaded[name].dtype == array.dtype, name
        np.testing.assert_array_equal(loaded[name], array)
    assert leftovers(tmp_path, path.name) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_torch_tensors_and_pairs_are_saved_as_numpy(tmp_path: Path, suffix: str) -> None:
    x = torch.randn(4, 3, requires_grad=True)
    half = torch.randn(4, 2).to(torch.bfloat16)
    pairs = [("b", x * 2), ("a", half), ("idx", torch.arange(4))]
    loaded = load_activations(save_activations(tmp_path / f"t{suffix}", pairs))
    assert list(loaded) == ["b", "a", "idx"]
    np.testing.assert_array_equal(loaded["b"], (x * 2).detach().numpy())
    assert loaded["a"].dtype == np.float32  # bfloat16 widened exactly
    np.testing.assert_array_equal(loaded["a"], half.float().numpy())
    assert loaded["idx"].dtype == np.int64


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_non_native_byte_order_keeps_values(tmp_path: Path, suffix: str) -> None:
    array = np.arange(6, dtype=">f8").reshape(3, 2)
    loaded = load_activations(save_activations(tmp_path / f"be{suffix}", {"x": array}))
    np.testing.assert_array_equal(loaded["x"], array)
    assert loaded["x"].dtype == np.float64


def test_save_replaces_an_existing_file_and_makes_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "acts.npz"
    save_activations(path, {"a": np.zeros((2, 2))})
    save_activations(path, {"b": np.ones((3, 1))})
    loaded = load_activations(str(path))
    assert list(loaded) == ["b"]
    assert leftovers(path.parent, "acts.npz") == []


def test_saved_file_has_ordinary_permissions(tmp_path: Path) -> None:
    (tmp_path / "reference").write_text("x")
    path = save_activations(tmp_path / "a.npz", {"x": np.ones(2)})
    assert path.stat().st_mode == (tmp_path / "reference").stat().st_mode


def test_file_written_elsewhere_loads_in_its_own_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    z, a = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    np.savez(tmp_path / "plain.npz", z=z, a=a)
    assert list(load_activations(tmp_path / "plain.npz")) == ["z", "a"]  # zip order
    safetensors_numpy.save_file({"z": z, "a": a}, str(tmp_path / "plain.safetensors"))
    assert list(load_activations(tmp_path / "plain.safetensors")) == ["a", "z"]  # name order
    with h5py.File(tmp_path / "plain.h5", "w") as stored:
        stored["z"] = z
        stored.create_group("block")["a"] = a
    loaded = load_activations(tmp_path / "plain.h5")
    assert list(loaded) == ["block/a", "z"]  # h5py visits names in order
    np.testing.assert_array_equal(loaded["block/a"], a)


def test_bfloat16_safetensors_from_torch_loads_as_float32(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    half = torch.randn(3, 4).to(torch.bfloat16)
    save_file({"h": half, "f": torch.ones(3)}, str(tmp_path / "bf16.safetensors"))
    loaded = load_activations(tmp_path / "bf16.safetensors")
    assert loaded["h"].dtype == np.float32
    np.testing.assert_array_equal(loaded["h"], half.float().numpy())


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_torch_checkpoint_of_tensors_loads(tmp_path: Path, suffix: str) -> None:
    tensors = {"second": torch.randn(3, 2), "first": torch.randn(3, 5).to(torch.bfloat16)}
    torch.save(tensors, tmp_path / f"acts{suffix}")
    loaded = load_activations(tmp_path / f"acts{suffix}")
    assert list(loaded) == ["second", "first"]
    np.testing.assert_array_equal(loaded["second"], tensors["second"].numpy())
    assert loaded["first"].dtype == np.float32


def test_cache_folder_loads_as_memory_maps(tmp_path: Path) -> None:
    acts = {"b.1": np.arange(12.0).reshape(4, 3), "a/0": np.ones((4, 2), np.float32)}
    cache = ActivationCache.create(tmp_path / "cache", {k: (v.shape[1:], v.dtype) for k, v in acts.items()},
                                   n_examples=4)
    cache.write(acts, 0)
    loaded = load_activations(tmp_path / "cache")
    assert list(loaded) == ["b.1", "a/0"]
    for name, array in acts.items():
        assert isinstance(loaded[name], np.memmap)
        np.testing.assert_array_equal(loaded[name], array)


def test_incomplete_cache_folder_is_refused(tmp_path: Path) -> None:
    cache = ActivationCache.create(tmp_path / "cache", {"a": ((2,), "float32")}, n_examples=4)
    cache.write({"a": np.ones((2, 2))}, 0)
    with pytest.raises(ReplensError, match=r"incomplete: 2 of 4 examples"):
        load_activations(tmp_path / "cache")


# ---------------------------------------------------------------------------------------
# Atomic writes


def _write_then_fail(calls_before_failure: int, original):
    calls = {"n": 0}

    def patched(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > calls_before_failure:
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)

    return patched


def _patch_mid_write(monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    if suffix == ".npz":
        monkeypatch.setattr(np.lib.format, "write_array", _write_then_fail(1, np.lib.format.write_array))
    elif suffix == ".safetensors":
        def partial_save(tensors, filename, metadata=None):
            Path(filename).write_bytes(b"\x10\x00\x00\x00partial")
            raise OSError("disk full (simulated)")

        monkeypatch.setattr(safetensors_numpy, "save_file", partial_save)
    else:
        monkeypatch.setattr(h5py.Group, "create_dataset", _write_then_fail(1, h5py.Group.create_dataset))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    _patch_mid_write(monkeypatch, suffix)
    with pytest.raises(OSError, match="disk full"):
        save_activations(tmp_path / f"acts{suffix}", odd_layers())
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_failure_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = save_activations(tmp_path / f"acts{suffix}", {"old": np.arange(3.0)})
    before = path.read_bytes()
    _patch_mid_write(monkeypatch, suffix)
    with pytest.raises(OSError, match="disk full"):
        save_activations(path, odd_layers())
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


def test_failure_to_move_into_place_and_interrupts_leave_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def no_replace(source, target):
        raise PermissionError("read-only folder (simulated)")

    monkeypatch.setattr("os.replace", no_replace)
    with pytest.raises(PermissionError, match="simulated"):
        save_activations(tmp_path / "a.npz", {"x": np.ones((2, 2))})
    assert leftovers(tmp_path) == []
    monkeypatch.undo()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_activations(tmp_path / "a.npz", {"x": np.ones((2, 2))})
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------
# Nothing is ever pickled or unpickled


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_object_arrays_are_refused_on_save(tmp_path: Path, suffix: str) -> None:
    objects = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(DtypeError, match=r"acts\['x'\] must hold real numbers.*got dtype object.*never unpickles"):
        save_activations(tmp_path / f"o{suffix}", {"x": objects})
    with pytest.raises(DtypeError, match=r"got dtype <U1"):
        save_activations(tmp_path / f"o{suffix}", {"x": ["a", "b"]})
    assert leftovers(tmp_path) == []


def test_npz_with_a_pickled_object_fails_without_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez(tmp_path / "evil.npz", fine=np.ones((2, 2)), evil=np.array([{"a": 1}, None], dtype=object))

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle was called")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    with pytest.raises(DtypeError, match=r"entry 'evil' .* is an object array.*replens never unpickles"):
        load_activations(tmp_path / "evil.npz")


def test_a_pickle_named_npz_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pickled.npz").write_bytes(pickle.dumps({"a": np.ones(3)}))
    with pytest.raises(DtypeError, match=r"pickled\.npz' holds pickled Python objects.*replens never unpickles"):
        load_activations(tmp_path / "pickled.npz")


class _NotATensor:
    pass


def test_torch_checkpoint_with_objects_is_refused(tmp_path: Path) -> None:
    torch.save({"a": torch.ones(2), "obj": _NotATensor()}, tmp_path / "evil.pt")
    with pytest.raises(ReplensError, match=r"torch\.load\(weights_only=True\).*never unpickles other objects"):
        load_activations(tmp_path / "evil.pt")


def test_torch_checkpoint_that_is_not_a_dict_of_tensors_is_refused(tmp_path: Path) -> None:
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(ReplensError, match=r"must hold a dict name -> tensor; got a list"):
        load_activations(tmp_path / "list.pt")
    torch.save({"state": {"a": torch.ones(2)}}, tmp_path / "nested.pt")
    with pytest.raises(ReplensError, match=r"got a dict with values of type \['dict'\]"):
        load_activations(tmp_path / "nested.pt")


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("name", ["acts.txt", "acts", "acts.pt", "acts.NPY"])
def test_unknown_suffix_on_save(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnknownOptionError, match=r"save_activations reads the format .*\.npz, \.safetensors, \.h5, "
                                                 r"\.hdf5; got .* Use one of those suffixes"):
        save_activations(tmp_path / name, {"x": np.ones((2, 2))})
    assert leftovers(tmp_path) == []


def test_unknown_suffix_on_load(tmp_path: Path) -> None:
    (tmp_path / "acts.csv").write_text("1,2\n")
    with pytest.raises(UnknownOptionError, match=r"load_activations .* \.pt, \.pth; got suffix '\.csv'"):
        load_activations(tmp_path / "acts.csv")


def test_upper_case_suffix_is_accepted(tmp_path: Path) -> None:
    loaded = load_activations(save_activations(tmp_path / "acts.NPZ", {"x": np.ones((2, 2))}))
    assert list(loaded) == ["x"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no activation file at .*nothere\.npz.*save_activations"):
        load_activations(tmp_path / "nothere.npz")


def test_folder_that_is_not_a_cache(tmp_path: Path) -> None:
    with pytest.raises(ReplensError, match=r"folder without a manifest\.json, so it is not an ActivationCache"):
        load_activations(tmp_path)


@pytest.mark.parametrize("acts", [{}, []])
def test_empty_mapping(tmp_path: Path, acts) -> None:
    with pytest.raises(ShapeError, match=r"acts holds no layers; expected at least one"):
        save_activations(tmp_path / "a.npz", acts)


def test_different_numbers_of_examples(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match=r"same number of examples n .*got 'a' \(3, 2\) and 'b' \(4, 2\)"):
        save_activations(tmp_path / "a.npz", {"a": np.ones((3, 2)), "b": np.ones((4, 2))})


def test_zero_dimensional_array(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match=r"acts\['a'\] must have shape \(n, \.\.\.\).*0-D"):
        save_activations(tmp_path / "a.npz", {"a": np.float64(1.0)})


def test_complex_dtype(tmp_path: Path) -> None:
    with pytest.raises(DtypeError, match=r"got dtype complex128"):
        save_activations(tmp_path / "a.npz", {"a": np.ones((2, 2), complex)})


def test_duplicate_and_non_string_names(tmp_path: Path) -> None:
    with pytest.raises(ShapeError, match=r"duplicate layer names \['a'\]; names must be unique"):
        save_activations(tmp_path / "a.npz", [("a", np.ones(2)), ("b", np.ones(2)), ("a", np.ones(2))])
    with pytest.raises(ShapeError, match=r"layer names in acts must be strings; got int 3"):
        save_activations(tmp_path / "a.npz", {3: np.ones(2)})


@pytest.mark.parametrize("acts", [np.ones((2, 2)), "abc", [np.ones(2)], 5])
def test_acts_that_are_not_a_mapping(tmp_path: Path, acts) -> None:
    with pytest.raises(ShapeError, match=r"acts must be a mapping name -> array or a sequence of \(name, array\) pairs"):
        save_activations(tmp_path / "a.npz", acts)


def test_reserved_names(tmp_path: Path) -> None:
    with pytest.raises(ReplensError, match=r"'__replens__' is reserved in \.npz files") as refused:
        save_activations(tmp_path / "a.npz", {"__replens__": np.ones(2)})
    assert not isinstance(refused.value, UnknownOptionError)  # a name is not an option
    with pytest.raises(ReplensError, match=r"'__metadata__' is reserved in \.safetensors files"):
        save_activations(tmp_path / "a.safetensors", {"__metadata__": np.ones(2)})
    assert leftovers(tmp_path) == []
    loaded = load_activations(save_activations(tmp_path / "a.h5", {"__replens__": np.ones(2)}))
    assert list(loaded) == ["__replens__"]


@pytest.mark.parametrize("suffix, kind", [(".npz", r"\.npz"), (".safetensors", r"\.safetensors"),
                                          (".h5", "HDF5")])
def test_damaged_files(tmp_path: Path, suffix: str, kind: str) -> None:
    (tmp_path / f"bad{suffix}").write_bytes(b"this is not an activation file at all" * 10)
    with pytest.raises(ReplensError, match=rf"could not read .* as {kind}: .*write it again"):
        load_activations(tmp_path / f"bad{suffix}")


def test_truncated_npz(tmp_path: Path) -> None:
    path = save_activations(tmp_path / "a.npz", {"a": np.ones((50, 50))})
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ReplensError, match=r"could not read .* as \.npz"):
        load_activations(path)


def test_single_npy_named_npz(tmp_path: Path) -> None:
    with open(tmp_path / "one.npz", "wb") as stream:
        np.save(stream, np.ones(3))
    with pytest.raises(ReplensError, match=r"single \.npy array, not a zip of named arrays"):
        load_activations(tmp_path / "one.npz")


def _rewrite_npz_meta(path: Path, meta: str) -> None:
    arrays = dict(np.load(path))
    arrays["__replens__"] = np.asarray(meta)
    np.savez(path, **arrays)


def test_metadata_from_a_newer_replens_or_not_matching(tmp_path: Path) -> None:
    path = save_activations(tmp_path / "a.npz", {"a": np.ones(2), "b": np.ones(2)})
    _rewrite_npz_meta(path, json.dumps({"format_version": 99, "layers": ["a", "b"]}))
    with pytest.raises(ReplensError, match=r"written by a newer replens \(format version 99.*Upgrade replens"):
        load_activations(path)
    _rewrite_npz_meta(path, json.dumps({"format_version": 1, "layers": ["a", "c"]}))
    with pytest.raises(ReplensError, match=r"metadata lists layers \['a', 'c'\] but it holds \['a', 'b'\]"):
        load_activations(path)
    _rewrite_npz_meta(path, "{not json")
    with pytest.raises(ReplensError, match=r"replens metadata is unreadable"):
        load_activations(path)


def test_safetensors_metadata_not_matching(tmp_path: Path) -> None:
    safetensors_numpy.save_file({"a": np.ones(2)}, str(tmp_path / "a.safetensors"),
                                metadata={"replens": json.dumps({"format_version": 1, "layers": ["b"]})})
    with pytest.raises(ReplensError, match=r"metadata lists layers \['b'\] but it holds \['a'\]"):
        load_activations(tmp_path / "a.safetensors")


def test_foreign_h5_with_strings_or_mismatched_rows(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "s.h5", "w") as stored:
        stored["names"] = np.array([b"a", b"b"])
    with pytest.raises(DtypeError, match=r"entry 'names' of .* got dtype \|S1"):
        load_activations(tmp_path / "s.h5")
    with h5py.File(tmp_path / "n.h5", "w") as stored:
        stored["a"] = np.ones((2, 3))
        stored["b"] = np.ones((3, 3))
    with pytest.raises(ShapeError, match=r"every layer in the file .* same number of examples"):
        load_activations(tmp_path / "n.h5")


def test_empty_npz(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(ShapeError, match=r"the file .*empty\.npz' holds no layers"):
        load_activations(tmp_path / "empty.npz")


@pytest.mark.parametrize("suffix, package", [(".safetensors", "safetensors"), (".h5", "h5py")])
def test_missing_optional_package_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      suffix: str, package: str) -> None:
    path = save_activations(tmp_path / f"a{suffix}", {"x": np.ones(2)})
    for module in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"files needs {package}, which is not installed; install it with: "
                                          rf"pip install 'replens\[io\]', or use \.npz"):
        save_activations(tmp_path / f"b{suffix}", {"x": np.ones(2)})
    with pytest.raises(ImportError, match=rf"files needs {package}, which is not installed"):
        load_activations(path)
    assert leftovers(tmp_path, path.name) == []


def test_errors_are_value_errors() -> None:
    assert issubclass(ReplensError, ValueError)
