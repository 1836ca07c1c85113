"""Trained networks on disk, keyed by a hash of everything that decides their weights.

:func:`replens.zoo.train` looks a run up here before training, and stores it after, so that
a second run of an experiment does not retrain. The key is the SHA-256 of a JSON document
(:func:`run_settings`) holding:

* the network: its module tree (``repr``, and the module and class of every submodule), the
  ``zoo_build`` arguments when :func:`~replens.zoo.networks.build` made it, and a fingerprint
  of its initial parameters and buffers (so the initialisation seed is in the key);
* the data: a fingerprint of the four arrays (dtype, shape and values);
* every training option (epochs, optimizer, lr, seed, batch size, ...);
* the Recorder's settings (layers, probe fingerprint, schedule) and the freeze schedule's
  ``cache_key()``;
* the versions of replens, torch and numpy, and the cache format.

An entry is a folder ``<cache folder>/zoo/runs/<key>/`` with ``run.json`` (settings, history,
timings), ``final.pt`` (the trained state dict), ``checkpoints.pt`` (state dicts at the
epoch ends, when no Recorder was used) and ``recorded/step_<8 digits>/`` (one
ActivationCache per recorded checkpoint). It is built in a temporary folder beside its place
and renamed into place in one step, so a reader sees a complete entry or none; two processes
training the same run both train, and the first to finish keeps its entry.

The cache folder is ``$REPLENS_CACHE`` if set, else ``$XDG_CACHE_HOME/replens``, else
``~/.cache/replens``. Delete it (or one entry) at any time to force retraining.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import default_mode, package_versions
from ..activations import hash_inputs
from ..errors import ReplensError

__all__ = ["CACHE_ENV", "cache_folder", "entry_folder", "find_entry", "run_key", "run_settings",
           "store_entry"]

CACHE_ENV = "REPLENS_CACHE"
"""The environment variable that overrides the cache folder."""

_FORMAT = 1
RUN_FILE = "run.json"
FINAL_FILE = "final.pt"
CHECKPOINTS_FILE = "checkpoints.pt"
RECORDED = "recorded"


def cache_folder() -> Path:
    """The user cache folder: ``$REPLENS_CACHE``, else ``$XDG_CACHE_HOME/replens``, else
    ``~/.cache/replens`` (not created here)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "replens"


def entry_folder(key: str) -> Path:
    """Where the run with `key` is stored."""
    return cache_folder() / "zoo" / "runs" / key


def model_fingerprint(model: Any) -> dict[str, Any]:
    """The network's part of the key: its module tree and a fingerprint of its state."""
    classes = sorted({f"{type(m).__module__}.{type(m).__qualname__}" for m in model.modules()})
    state = model.state_dict()
    return {
        "repr": repr(model),
        "classes": classes,
        "build": getattr(model, "zoo_build", None),
        "state": {name: hash_inputs(tensor) for name, tensor in state.items()},
    }


def run_settings(model: Any, data: tuple[Any, ...], training: Mapping[str, Any], record: Any,
                 freeze_key: str | None) -> dict[str, Any]:
    """Everything that decides a run's outcome, as a JSON-ready dict (the module docstring)."""
    versions = package_versions()
    return {
        "format": _FORMAT,
        "model": model_fingerprint(model),
        "data": hash_inputs(*data),
        "data_shapes": [list(a.shape) for a in data],
        "training": dict(training),
        "record": None if record is None else record.settings(),
        "freeze": freeze_key,
        "versions": {name: versions.get(name) for name in ("replens", "torch", "numpy")},
    }


def run_key(settings: Mapping[str, Any]) -> str:
    """The hex SHA-256 of `settings` as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_entry(key: str) -> dict[str, Any] | None:
    """The stored ``run.json`` of `key`, or None when the run is not cached."""
    path = entry_folder(key) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReplensError(f"the cached run {str(path.parent)!r} is damaged ({exc}). Delete that folder "
                           f"and the run is trained again.") from exc


def store_entry(key: str, run: Mapping[str, Any], write_files: Any) -> Path:
    """Build the entry of `key` in a temporary folder, calling ``write_files(folder)`` for its
    files, write ``run.json`` last, and rename the folder into place (module docstring)."""
    final = entry_folder(key)
    final.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key[:16]}.", suffix=".tmp"))
    try:
        os.chmod(building, default_mode(0o777))
        write_files(building)
        (building / RUN_FILE).write_text(json.dumps(run, indent=1, sort_keys=True, default=str),
                                         encoding="utf-8")
        try:
            os.rename(building, final)
        except OSError:
            if not (final / RUN_FILE).is_file():
                raise
            shutil.rmtree(building, ignore_errors=True)  # another process stored the same run first
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final
