"""Writing files: atomic writes (a reader sees the old file or the complete new one, never a
part), and what manifests record: file hashes and package versions."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


# ---------------------------------------------------------------------------------------
# Folders replens wrote, and files it may read

MANIFEST_NAME = "manifest.json"
CACHE_FORMAT = "replens.activation_cache"
OUTPUT_FORMAT = "replens.comparison"


def replens_folder_format(path: Path) -> tuple[str | None, str]:
    """(format, "") when `path` is a folder replens wrote, else (None, what makes it foreign).

    A replens folder has a ``manifest.json`` whose ``format`` is a ``"replens.*"`` tag (an
    activation cache, a comparison's output) and whose ``format_version`` is a positive
    integer. The reason is a phrase such as ``"it has no manifest.json"``, for the caller's
    message; the manifest is read only if it is a regular file of at most 64 MiB.
    """
    import json

    manifest = path / MANIFEST_NAME
    if not path.is_dir():
        return None, "it is a file, not a folder"
    if not manifest.exists():
        return None, f"it has no {MANIFEST_NAME}"
    special = "a folder" if manifest.is_dir() else special_file_kind(manifest)
    if special is not None:
        return None, f"its {MANIFEST_NAME} is {special}"
    if manifest.stat().st_size > 1 << 26:
        return None, f"its {MANIFEST_NAME} is larger than any replens manifest"
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None, f"its {MANIFEST_NAME} is not JSON"
    tag = record.get("format") if isinstance(record, dict) else None
    if not (isinstance(tag, str) and tag.startswith("replens.")):
        return None, f"its {MANIFEST_NAME} has no replens format tag (format: {tag!r:.60})"
    version = record.get("format_version")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        return None, f"its {MANIFEST_NAME} has no format_version (got {version!r:.60})"
    return tag, ""


def special_file_kind(path: Path) -> str | None:
    """None for a regular file (or a link to one) or a folder; else what it is ("a FIFO", ...).

    Reading a FIFO blocks until someone writes to it and reading a device never ends, so a
    reader checks this before it opens anything. A missing path gives None (the caller's
    open raises FileNotFoundError as usual).
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def swap_in(building: Path, path: Path) -> Path:
    """Replace the existing folder `path` by `building` (two renames in one folder): the old
    folder is moved aside and returned for the caller to delete; if the second rename fails
    it is moved back and the error re-raised, so `path` always names a whole folder."""
    old = building.with_name(building.name + ".old")
    os.replace(path, old)
    try:
        os.replace(building, path)
    except BaseException:
        os.replace(old, path)
        raise
    return old


@contextmanager
def atomic_folder(path: Path, keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; once the block succeeds it replaces
    `path` whole (the old folder is moved aside, then deleted), so no file of an earlier
    content survives. On any error the temporary folder is removed and `path` is untouched.

    Entries of the old folder for which `keep(entry)` is true (e.g. an activation cache kept
    inside an output folder) are moved into the new one instead of being deleted; if such a
    move fails, the old folder is left beside `path` (``.<name>.*.tmp.old``), never deleted.
    The caller decides whether `path` may be replaced at all (see
    :func:`replens_folder_format`).
    """
    import shutil

    building = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(building, default_mode(0o777))  # mkdtemp's 0700 would hide the folder from the group
        yield building
        if not path.exists():
            os.replace(building, path)
            return
        old = swap_in(building, path)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    for entry in sorted(old.iterdir()) if keep is not None else ():
        if keep(entry) and not (path / entry.name).exists():
            os.replace(entry, path / entry.name)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# Optional packages

# Import names whose pip name differs; the others are installed under their import name.
PIP_NAMES = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


def optional_import(module: str, extra: str, purpose: str, *, hint: str = "") -> Any:
    """Import `module` for a feature that needs an optional package; say how to get it if not.

    Parameters
    ----------
    module : str
        What to import, e.g. ``"matplotlib.figure"``; the package is its first part.
    extra : str
        The pip extra of replens that installs it (``"plot"``, ``"io"``, ``"torch"``, ...).
    purpose : str
        The feature, as the subject of "needs": ``"drawing heatmaps"``, ``"reading
        .safetensors files"``.
    hint : str
        An alternative that needs nothing more, appended to the message ("or use .npz").

    Returns
    -------
    module

    Raises
    ------
    ImportError
        ``"<purpose> needs <package>, which is not installed; install it with: pip install
        'replens[<extra>]'"`` (its ``name`` is the package); a package that is installed but
        fails to import is named with its own error instead. (An ImportError rather than a
        ReplensError: :mod:`replens.errors` is a sibling on this floor.) The CLI shows either
        as one line and exits with status 2.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:  # a package built for another torch fails with RuntimeError, not ImportError
        raise ImportError(_missing_message(module, extra, purpose, hint, exc), name=module.split(".")[0]) from exc


def require_packages(modules: Sequence[str] | Mapping[str, str], extra: str, purpose: str, *, why: str = "",
                     hint: str = "") -> None:
    """Check that every one of `modules` can be imported, without importing any; raise one
    ImportError naming all the missing ones at once (its ``name`` is the first).

    For a command's start: it says everything to install before any work, instead of one
    missing package at a time after the work. `modules` lists import names, or maps import
    name -> pip name; the message reads ``"<purpose> needs <pip names> (<why>), which are not
    installed; install them with: pip install 'replens[<extra>]'"``. Cost: one file-system
    lookup per module.
    """
    import importlib.util

    pip_names = dict(modules) if isinstance(modules, Mapping) else {}
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a broken __spec__
            found = False
        if not found:
            package = module.split(".")[0]
            missing.append(pip_names.get(module) or PIP_NAMES.get(package, package))
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        them = "it" if len(set(missing)) == 1 else "them"
        reason = f" ({why})" if why else ""
        raise ImportError(f"{purpose} needs {names}{reason}, which {'is' if them == 'it' else 'are'} not "
                          f"installed; install {them} with: pip install 'replens[{extra}]'{_hint(hint)}.",
                          name=missing[0])


def _missing_message(module: str, extra: str, purpose: str, hint: str, exc: BaseException) -> str:
    package = module.split(".")[0]
    pip_name = PIP_NAMES.get(package, package)
    absent = isinstance(exc, ModuleNotFoundError) and exc.name is not None and (
        exc.name == module or module.startswith(exc.name + ".") or exc.name == package)
    if absent:
        return (f"{purpose} needs {pip_name}, which is not installed; install it with: "
                f"pip install 'replens[{extra}]'{_hint(hint)}.")
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (f"{purpose} needs {pip_name}, and importing {module} failed ({type(exc).__name__}: "
            f"{first_line}); repair or reinstall {pip_name}{_hint(hint)}.")


def _hint(hint: str) -> str:
    return f", {hint.strip().rstrip('.')}" if hint.strip() else ""
