"""Writing files: atomic writes (a reader sees the old file or the complete new one, never a
part), and what manifests record: file hashes and package versions."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` once the block succeeds.

    The temporary file is flushed to disk first (`sync`), so that after a crash `path` holds
    either its old content or the complete new one. On any error it is removed.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, default_mode(0o666))  # mkstemp's 0600 would hide the file from the group
        yield temporary
        if sync:
            with open(temporary, "rb+") as stream:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def default_mode(requested: int) -> int:
    """The permissions open() or mkdir() would give: `requested` less the process umask."""
    umask = os.umask(0)  # the only portable way to read it; restored at once
    os.umask(umask)
    return requested & ~umask


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, or of every file in a folder (sorted, each relative path hashed
    before its bytes, so a renamed file changes the digest). Reads 1 MiB at a time."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        if path.is_dir():
            digest.update(str(item.relative_to(path)).encode())
        with open(item, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Validation


def package_versions() -> dict[str, str]:
    """Versions of Python and of replens, numpy, scipy and torch where installed.

    Read from the installed packages' metadata, so torch is never imported for it.
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("replens", "numpy", "scipy", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
