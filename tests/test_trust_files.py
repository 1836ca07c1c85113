"""Files hold what was written (issue 10, item 5): names, hostile headers, links, special files,
and spreadsheet-safe CSV cells. Every hostile file is built here."""

from __future__ import annotations

import os
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from replens.activations import ActivationCache, load_activations, save_activations
from replens.activations.specs import load_data
from replens.cli import main
from replens.errors import CorruptFileError, DtypeError, ReplensError, UnknownOptionError

torch.set_num_threads(1)
SUFFIXES = (".npz", ".safetensors", ".h5")
HOSTILE_NAMES = ["", " ", "a/b", "/abs", "../up", "a\\b", "a.npy", "layer_0", "replens", "__replens__x",
                 "__metadata__x", "é", "名前", "emoji🙂", "tab\there", "new\nline", "x" * 5000, ".", "..",
                 "a//b/", "=cmd", "'quoted'", '"double"', "{json}", "\u202eRTL", "\ufeffbom"]
REFUSED_EVERYWHERE = ["nul\x00byte", "lone\udc80surrogate"]
REFUSED_BY = {".npz": ["__replens__", "y" * 70000], ".safetensors": ["__metadata__"], ".h5": []}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_accepted_name_loads_back_identically(tmp_path, suffix):
    rng = np.random.default_rng(0)
    acts = {name: rng.standard_normal((3, 2)) for name in HOSTILE_NAMES}
    loaded = load_activations(save_activations(tmp_path / f"a{suffix}", acts))
    assert list(loaded) == list(acts)
    for name in acts:
        np.testing.assert_array_equal(loaded[name], acts[name])


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_name_the_format_cannot_hold_is_refused_before_writing(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    save_activations(path, {"old": np.ones((2, 1))})
    before = path.read_bytes()
    for name in REFUSED_EVERYWHERE + REFUSED_BY[suffix]:
        with pytest.raises(ReplensError, match=r"Nothing was written") as refused:
            save_activations(path, {"fine": np.zeros((2, 1)), name: np.zeros((2, 1))})
        assert not isinstance(refused.value, UnknownOptionError)
        assert path.read_bytes() == before and leftovers(tmp_path) == []
    assert list(load_activations(path)) == ["old"]
    if suffix != ".npz":  # what .npz refuses, the others hold
        for name in REFUSED_BY[".npz"]:
            assert list(load_activations(save_activations(path, {name: np.ones((2, 1))}))) == [name]


@settings(max_examples=25, deadline=None)
@given(names=st.lists(st.text(max_size=12), min_size=1, max_size=4, unique=True))
def test_property_names_round_trip_or_are_refused(tmp_path_factory, names):
    folder = tmp_path_factory.mktemp("names")
    for suffix in SUFFIXES:
        acts = {name: np.full((2, 1), index, np.float32) for index, name in enumerate(names)}
        try:
            path = save_activations(folder / f"a{suffix}", acts)
        except ReplensError as exc:
            assert "Nothing was written" in str(exc) and not (folder / f"a{suffix}").exists()
            continue
        loaded = load_activations(path)
        assert list(loaded) == names
        assert all(np.array_equal(loaded[name], acts[name]) for name in names)


# ---------------------------------------------------------------------------------------
# Declared sizes the file cannot hold


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_npz_lying_header_is_refused_before_allocating(tmp_path):
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_header((10**12, 1000)) + b"\x00" * 64)  # claims 8 PB
    with pytest.raises(CorruptFileError, match=r"layer 'x'.*declares shape \(1000000000000, 1000\) of float64 "
                                               r"\(8000000000000000 bytes\) but holds 64 bytes"):
        load_activations(path)


def test_npz_decompression_bomb_is_refused_before_reading(tmp_path):
    path = tmp_path / "bomb.npz"
    payload = npy_header((1000,)) + np.zeros(1000).tobytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", payload)
    data = bytearray(path.read_bytes())
    directory = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, directory + 24, 4_000_000_000)  # uncompressed size: 4 GB
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"declares 4000000000 bytes from \d+ compressed, more than "
                                               r"deflate can produce"):
        load_activations(path)


def test_npz_a_deflated_honest_entry_reads(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez_compressed(path, x=np.zeros((100000, 2)))
    np.testing.assert_array_equal(load_activations(path)["x"], 0)


def test_safetensors_lying_header_is_refused(tmp_path):
    import json

    header = json.dumps({"x": {"dtype": "F64", "shape": [10**9, 1000], "data_offsets": [0, 16]}}).encode()
    path = tmp_path / "lie.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 16)
    with pytest.raises(CorruptFileError, match=r"could not read .*lie\.safetensors' as \.safetensors"):
        load_activations(path)
    path.write_bytes(struct.pack("<Q", 10**15) + b"{}")  # a header longer than the file
    with pytest.raises(CorruptFileError):
        load_activations(path)


def test_h5_dataset_without_storage_is_refused_before_allocating(tmp_path):
    import h5py

    path = tmp_path / "lie.h5"
    with h5py.File(path, "w") as stored:
        stored.create_dataset("x", shape=(10**7, 10**5), dtype="f8", chunks=(1, 1000))  # 8 TB, none stored
    with pytest.raises(CorruptFileError, match=r"layer 'x' declares shape \(10000000, 100000\) of float64 "
                                               r"\(8000000000000 bytes\) but stores 0 bytes"):
        load_activations(path)
    with h5py.File(path, "w") as stored:
        stored.create_dataset("x", data=np.zeros((20000, 10)), chunks=(1000, 10), compression="gzip")
    np.testing.assert_array_equal(load_activations(path)["x"], 0)  # compressed but honest: fine


# ---------------------------------------------------------------------------------------
# HDF5 files that read other files


def test_h5_external_links_soft_links_virtual_and_external_storage_are_refused(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as stored:
        stored["secret"] = np.ones((4, 2))
    cases = {
        "external link": (lambda f: f.__setitem__("x", h5py.ExternalLink(str(other), "/secret")),
                          r"external link 'g/x' -> .*other\.h5:/secret; replens never follows links into other"),
        "soft link": (lambda f: (f.__setitem__("real", np.ones((4, 2))), f.__setitem__("x", h5py.SoftLink("/real"))),
                      r"soft link 'x' -> /real"),
        "virtual": (lambda f: f.create_virtual_dataset("x", _layout(h5py, other)),
                    r"'x' of .* is an HDF5 virtual dataset, which reads other files"),
        "external storage": (lambda f: f.create_dataset("x", shape=(4, 2), dtype="f8",
                                                         external=[(str(tmp_path / "raw.bin"), 0, 64)]),
                             r"'x' of .* keeps its data in external files"),
    }
    (tmp_path / "raw.bin").write_bytes(b"\x00" * 64)
    for what, (build, message) in cases.items():
        path = tmp_path / f"{what.replace(' ', '_')}.h5"
        with h5py.File(path, "w") as stored:
            group = stored.create_group("g") if what == "external link" else stored
            build(group)
        with pytest.raises(ReplensError, match=message):
            load_activations(path)


def _layout(h5py, other):
    layout = h5py.VirtualLayout(shape=(4, 2), dtype="f8")
    layout[:] = h5py.VirtualSource(str(other), "secret", shape=(4, 2))
    return layout


# ---------------------------------------------------------------------------------------
# FIFOs and devices


def finishes(function, *args, seconds: float = 10.0):
    """Run `function(*args)` in a thread; its exception or result, or fail if it blocks."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__} blocked on a special file"
    return outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifos_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "acts.npz"
    os.mkfifo(fifo)
    device = tmp_path / "zero.h5"
    device.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a FIFO (named pipe)"), (device, "a character device")):
        error = finishes(load_activations, path)["error"]
        assert isinstance(error, ReplensError) and f"is {kind}, not an activation file" in str(error)
    data = tmp_path / "x.npy"
    os.mkfifo(data)
    error = finishes(load_data, str(data))["error"]
    assert isinstance(error, ReplensError) and "is a FIFO" in str(error)
    cache = ActivationCache.create(tmp_path / "c", {"a": ((2,), "float32")}, n_examples=2)
    cache.write({"a": np.ones((2, 2))}, 0)
    (tmp_path / "c" / "layer_0.npy").unlink()
    os.mkfifo(tmp_path / "c" / "layer_0.npy")
    error = finishes(ActivationCache.open, tmp_path / "c")["error"]
    assert isinstance(error, CorruptFileError) and "is a FIFO (named pipe), not a file" in str(error)
    result = finishes(CliRunner().invoke, main, ["compare", str(fifo), "--out", str(tmp_path / "o")])["value"]
    assert result.exit_code == 2 and "is a FIFO" in result.stderr


# ---------------------------------------------------------------------------------------
# CSV cells


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    import csv

    names = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tTAB", "\rCR", "plain", "a=b", "mid\rdle"]
    rng = np.random.default_rng(0)
    acts = {name: rng.standard_normal((30, 3)) for name in names}
    save_activations(tmp_path / "a.npz", acts)
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "a.npz"), "-m", "linear_cka", "-m", "cca_mean_rho",
                                       "--out", str(tmp_path / "out"), "--no-report"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "similarities.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    cells = {row["layer_a"] for row in rows}
    assert cells == {"'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)", "'\tTAB", "'\rCR", "plain", "a=b",
                     "mid\rdle"}
    assert len(rows) == 2 * len(names) ** 2  # a CR inside a name does not split its row
    assert all(not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
               for row in rows for column in ("measure", "layer_a", "layer_b"))
    assert all(float(row["value"]) == float(row["value"]) for row in rows)  # numbers stay numbers


# ---------------------------------------------------------------------------------------
# Damaged structures, each message


def test_npz_damaged_structures_each_say_what(tmp_path):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(CorruptFileError, match=r"its entry 'notes\.txt' is not a \.npy array"):
        load_activations(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_header((2,)) + b"\x00" * 16)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("x.npy", npy_header((2,)) + b"\x00" * 16)
    with pytest.raises(CorruptFileError, match=r"two entries have the same name"):
        load_activations(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x09\x00" + b"\x00" * 30)
    with pytest.raises(CorruptFileError, match=r"layer 'x'.*has \.npy format version \(9, 0\), which replens does not read"):
        load_activations(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_header((2,)) + b"\x00" * 24)
    with pytest.raises(CorruptFileError, match=r"declares shape \(2,\) of float64 \(16 bytes\) but holds 24 bytes"):
        load_activations(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_header((2,), "|O") + b"\x00" * 16)
    with pytest.raises(DtypeError, match=r"is an object array, which could only be read by unpickling"):
        load_activations(path)


def test_h5_and_safetensors_metadata_that_disagrees_with_the_data(tmp_path):
    import json

    import h5py

    path = save_activations(tmp_path / "a.h5", {"x": np.ones((2, 1)), "y": np.zeros((2, 1))})
    with h5py.File(path, "a") as stored:
        del stored["layer_1"]
    with pytest.raises(CorruptFileError, match=r"its metadata lists 2 layers but it holds datasets \['layer_0'\]"):
        load_activations(path)
    path = save_activations(tmp_path / "b.h5", {"x": np.ones((2, 1))})
    with h5py.File(path, "a") as stored:
        meta = json.loads(stored.attrs["replens"])
        stored.attrs["replens"] = json.dumps({**meta, "crc32": ["crc32:00000000", "crc32:00000000"]})
    with pytest.raises(CorruptFileError, match=r"its metadata holds .* as checksums for 1 layers"):
        load_activations(path)
    from safetensors.numpy import save_file

    save_file({"x": np.ones((2, 1))}, str(tmp_path / "c.safetensors"),
              metadata={"replens": json.dumps({"format_version": 1, "layers": ["x"], "crc32": ["crc32:00000000"]})})
    with pytest.raises(CorruptFileError, match=r"c\.safetensors' is corrupt: layer 'x' has checksum crc32:[0-9a-f]{8} but "
                                               r"'crc32:00000000' was recorded"):
        load_activations(tmp_path / "c.safetensors")
