"""Integrity (issue 10, item 4): every chunk's checksum is verified when it is read and by
``replens verify``; one flipped byte is a CorruptFileError naming the file and the chunk.

Every test damages files it wrote itself, byte by byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from replens.activations import ActivationCache, load_activations, save_activations
from replens.activations.cache import MANIFEST
from replens.activations.files import verify_activations
from replens.cli import main
from replens.errors import CorruptFileError, ReplensError

torch.set_num_threads(1)
N = 12


def layers() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"conv/1": rng.standard_normal((N, 2, 3)).astype(np.float32), "fc": rng.standard_normal((N, 4)),
            "ids": np.arange(N, dtype=np.int16)}


def cache_at(path: Path, chunk: int = 5) -> ActivationCache:
    acts = layers()
    cache = ActivationCache.create(path, {name: (a.shape[1:], a.dtype) for name, a in acts.items()}, n_examples=N)
    for start in range(0, N, chunk):
        cache.write({name: a[start:start + chunk] for name, a in acts.items()}, start)
    return cache


def flip(path: Path, offset: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def test_the_manifest_records_one_checksum_per_layer_and_chunk(tmp_path):
    manifest = cache_at(tmp_path / "c").manifest
    assert [(c["start"], c["stop"]) for c in manifest["chunks"]] == [(0, 5), (5, 10), (10, 12)]
    assert all(len(c["crc32"]) == 3 and all(v.startswith("crc32:") for v in c["crc32"]) for c in manifest["chunks"])
    assert len(manifest["headers"]) == 3 and manifest["manifest_crc32"].startswith("crc32:")


@pytest.mark.parametrize("layer_index, name", [(0, "conv/1"), (1, "fc"), (2, "ids")])
def test_a_flipped_byte_in_any_chunk_names_the_file_the_layer_and_the_chunk(tmp_path, layer_index, name):
    cache_at(tmp_path / "c")
    file = tmp_path / "c" / f"layer_{layer_index}.npy"
    offset = np.load(file, mmap_mode="r").offset
    row_bytes = layers()[name][0].nbytes
    for chunk, row in ((0, 0), (1, 7), (2, 11)):
        target = offset + row * row_bytes + row_bytes // 2
        flip(file, target)
        message = (rf"layer_{layer_index}\.npy' \(layer '{name}'\) of the activation cache .* is corrupt: chunk "
                   rf"{chunk} \(rows .*\) has checksum crc32:[0-9a-f]{{8}} but crc32:[0-9a-f]{{8}} was recorded")
        with pytest.raises(CorruptFileError, match=message):
            ActivationCache.open(tmp_path / "c")[name]  # reading verifies
        with pytest.raises(CorruptFileError, match=message):
            ActivationCache.open(tmp_path / "c").verify()
        other = next(n for n in layers() if n != name)
        ActivationCache.open(tmp_path / "c")[other]  # other layers still read
        flip(file, target)  # repaired
    assert ActivationCache.open(tmp_path / "c").verify() == 9


def test_every_byte_of_a_layer_file_is_covered(tmp_path):
    cache_at(tmp_path / "c")
    file = tmp_path / "c" / "layer_2.npy"
    for offset in range(file.stat().st_size):
        flip(file, offset, 0xFF)
        with pytest.raises(CorruptFileError, match=r"layer_2\.npy"):
            ActivationCache.open(tmp_path / "c").verify()
        flip(file, offset, 0xFF)


def test_every_byte_of_the_manifest_is_covered(tmp_path):
    cache = ActivationCache.create(tmp_path / "c", {"x": ((2,), "float32")}, n_examples=3)
    cache.write({"x": np.ones((3, 2))}, 0)
    manifest = tmp_path / "c" / MANIFEST
    original = manifest.read_bytes()
    for offset in range(len(original)):
        flip(manifest, offset)
        with pytest.raises(ReplensError) as caught:
            ActivationCache.open(tmp_path / "c")
        # a version digit turned into a newer one says so; anything else is damage
        assert isinstance(caught.value, CorruptFileError) or "newer replens" in str(caught.value)
        manifest.write_bytes(original)


def test_rewritten_rows_keep_every_checksum_right(tmp_path):
    cache = cache_at(tmp_path / "c", chunk=4)
    acts = layers()
    cache.write({name: a[2:7] for name, a in acts.items()}, 2)  # overlaps chunks [0, 4) and [4, 8)
    manifest = cache.manifest
    assert [(c["start"], c["stop"]) for c in manifest["chunks"]] == [(0, 2), (2, 7), (7, 8), (8, 12)]
    assert ActivationCache.open(tmp_path / "c").verify() == 12


def test_verification_on_read_happens_once_per_layer(tmp_path, monkeypatch):
    cache = cache_at(tmp_path / "c")
    reopened = ActivationCache.open(tmp_path / "c")
    calls = []
    original = ActivationCache._verify_layer
    monkeypatch.setattr(ActivationCache, "_verify_layer", lambda self, name: calls.append(name) or original(self, name))
    reopened["fc"], reopened["fc"], reopened.as_dict()
    assert calls == ["fc", "conv/1", "ids"]
    del cache


@pytest.mark.parametrize("suffix", [".npz", ".safetensors", ".h5"])
def test_files_a_flipped_byte_in_any_layer_names_the_file_and_the_layer(tmp_path, suffix):
    acts = layers()
    path = save_activations(tmp_path / f"a{suffix}", acts)
    raw = path.read_bytes()
    assert verify_activations(path).checked == 3
    for name, array in acts.items():
        position = raw.find(np.ascontiguousarray(array).tobytes())
        assert position > 0, name
        flip(path, position + array.nbytes // 2)
        with pytest.raises(CorruptFileError, match=rf"{path.name}'.*layer '{name}'|{path.name}'.*'{name}"):
            load_activations(path)
        flip(path, position + array.nbytes // 2)
    assert load_activations(path).keys() == acts.keys()


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_files_no_flipped_byte_anywhere_gives_different_values(tmp_path, suffix):
    acts = layers()
    path = save_activations(tmp_path / f"a{suffix}", acts)
    original = path.read_bytes()
    for offset in range(0, len(original), 5):
        flip(path, offset, 0xFF)
        try:
            loaded = load_activations(path)
        except ReplensError:
            pass  # detected: CorruptFileError, or a refusal that says what is wrong
        else:  # undetected only where the byte does not matter (a zip timestamp, header padding)
            assert list(loaded) == list(acts)
            for name in acts:
                np.testing.assert_array_equal(loaded[name], acts[name])
        path.write_bytes(original)


def test_replens_verify(tmp_path):
    runner = CliRunner()
    cache_at(tmp_path / "c")
    file = save_activations(tmp_path / "a.safetensors", layers())
    np.savez(tmp_path / "plain.npz", x=np.ones((3, 2)))
    result = runner.invoke(main, ["verify", str(tmp_path / "c"), str(file), str(tmp_path / "plain.npz")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{tmp_path / 'c'}: ok (3 layers, 12 examples; 9 checksums verified, CRC-32 per chunk)"
    assert lines[1] == f"{file}: ok (3 layers, 12 examples; 3 checksums verified, CRC-32 per layer)"
    assert lines[2] == f"{tmp_path / 'plain.npz'}: ok (1 layers, 3 examples; 1 checksums verified, zip CRC-32 per entry)"
    np.savez(tmp_path / "legacy.npz", x=np.ones((3, 2)))
    import h5py

    with h5py.File(tmp_path / "foreign.h5", "w") as stored:
        stored["x"] = np.ones((3, 2))
    result = runner.invoke(main, ["verify", str(tmp_path / "foreign.h5")])
    assert result.exit_code == 0 and "readable, but unverified" in result.stdout
    file_1 = tmp_path / "c" / "layer_1.npy"
    flip(file_1, file_1.stat().st_size - 3)
    result = runner.invoke(main, ["verify", str(tmp_path / "c")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "layer_1.npy' (layer 'fc')" in result.stderr and "chunk 2 (rows 10 to 11)" in result.stderr
    result = runner.invoke(main, ["verify", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such activation file or folder" in result.stderr


def test_compare_refuses_a_corrupt_cache(tmp_path):
    cache_at(tmp_path / "c")
    file = tmp_path / "c" / "layer_1.npy"
    flip(file, file.stat().st_size - 3)
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "c"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "is corrupt: chunk 2" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_version_1_cache_still_reads(tmp_path):
    cache_at(tmp_path / "c")
    manifest = json.loads((tmp_path / "c" / MANIFEST).read_text())
    for key in ("chunks", "headers", "manifest_crc32", "provenance"):
        manifest.pop(key)
    manifest["format_version"] = 1
    (tmp_path / "c" / MANIFEST).write_text(json.dumps(manifest))
    reopened = ActivationCache.open(tmp_path / "c")
    assert reopened.verify() == 0
    np.testing.assert_array_equal(reopened["fc"], layers()["fc"])


def test_torch_save_files_have_their_zip_checksums_verified(tmp_path):
    values = torch.arange(100.0)
    torch.save({"x": values}, tmp_path / "t.pt")
    assert verify_activations(tmp_path / "t.pt").checked > 0
    raw = bytearray((tmp_path / "t.pt").read_bytes())
    raw[raw.find(values.numpy().tobytes()) + 10] ^= 0xFF  # torch.load alone would return 7.97 for 2.0
    (tmp_path / "t.pt").write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match=r"t\.pt' as a torch\.save file: BadZipFile: Bad CRC-32 for file "
                                               r"'.*data/0'"):
        load_activations(tmp_path / "t.pt")


def _rewrite(folder: Path, **changes) -> None:
    from replens.activations import cache as cache_module

    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    manifest["manifest_crc32"] = cache_module._manifest_checksum(manifest)  # a consistent, wrong manifest
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("change, message", [
    ({"chunks": [{"start": 0, "stop": 5, "crc32": ["crc32:0"]}]}, r"chunks must be a list of \{start, stop, crc32\} "
                                                                  r"entries with one checksum per layer"),
    ({"chunks": []}, r"its chunks cover rows \[\] but written says \[\[0, 12\]\]"),
    ({"headers": ["crc32:0"]}, r"headers must be a list of one checksum per layer"),
    ({"headers": ["crc32:00000000"] * 3}, r"its \.npy header \(bytes 0 to \d+\) has checksum crc32:[0-9a-f]{8} but "
                                         r"crc32:00000000 was recorded"),
])
def test_a_consistent_but_wrong_manifest_is_refused(tmp_path, change, message):
    cache_at(tmp_path / "c")
    _rewrite(tmp_path / "c", **change)
    with pytest.raises(CorruptFileError, match=message):
        ActivationCache.open(tmp_path / "c")
