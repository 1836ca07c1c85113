"""Model and data specs: the strings that name, on the command line, what to extract from.

A model spec is one of

``torchvision:NAME``
    ``torchvision.models.get_model(NAME)``, with random weights unless a weights file is
    given (torchvision is imported only here);
``hf:PATH``
    a transformers model saved in the local folder PATH (``AutoModel``, read offline, with
    the tokenizer saved beside it);
``module.path:factory``
    ``factory()`` from an importable module, which must return a ``torch.nn.Module``.

A weights file (``torch.save(model.state_dict(), FILE)``, read with ``weights_only=True``,
or a ``.safetensors`` file) may be loaded into a torchvision or factory model.

A data spec is ``FILE.npy`` (memory-mapped: read one chunk at a time), ``FILE.npz`` holding
one array (or ``FILE.npz:KEY`` to pick one), ``FILE.txt`` (one sentence per line, for
``hf:`` models) or ``module.path:factory`` whose ``factory()`` returns an array, a tensor, a
mapping of them, a sequence of sentences or a map-style dataset. Nothing is ever unpickled
from a data file.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import optional_import
from .._io import special_file_kind
from ..errors import CorruptFileError, DtypeError, ReplensError, ShapeError, TooFewExamplesError, UnknownOptionError
from ._arrays import read_npy_from_zip

__all__ = ["ModelSpec", "parse_model_spec", "load_model", "load_tokenizer", "load_weights", "load_data",
           "call_factory", "check_data_for_model", "user_import_path"]

MODEL_SPECS = "torchvision:NAME, hf:PATH or module.path:factory"
DATA_SPECS = "FILE.npy, FILE.npz, FILE.npz:KEY, FILE.txt or module.path:factory"
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MESSAGE_LIMIT = 400


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec.

    Attributes
    ----------
    kind : {"torchvision", "hf", "factory"}
    target : str
        The torchvision model name, the folder, or ``"module.path:factory"``.
    """

    kind: str
    target: str

    def __str__(self) -> str:
        return self.target if self.kind == "factory" else f"{self.kind}:{self.target}"


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse ``torchvision:NAME``, ``hf:PATH`` or ``module.path:factory``.

    Raises
    ------
    UnknownOptionError
        `spec` is none of these forms.
    """
    if not isinstance(spec, str):
        raise UnknownOptionError(f"a model spec must be a string ({MODEL_SPECS}); got {type(spec).__name__}.")
    kind, colon, target = spec.partition(":")
    if colon and kind == "torchvision":
        if _DOTTED.match(target) and "." not in target:
            return ModelSpec("torchvision", target)
    elif colon and kind == "hf":
        if target:
            return ModelSpec("hf", target)
    elif _is_factory_spec(spec):
        return ModelSpec("factory", spec)
    raise UnknownOptionError(
        f"MODEL {spec!r} is not a model spec; use torchvision:NAME (e.g. torchvision:resnet18), "
        f"hf:PATH (a local transformers model folder) or module.path:factory (a function "
        f"returning a torch.nn.Module, e.g. mymodels:build_net).")


def load_model(spec: str | ModelSpec, weights: str | Path | None = None, *,
               search_path: str | os.PathLike[str] | None = None) -> Any:
    """The torch module a model spec names, with `weights` loaded into it if given.

    Parameters
    ----------
    spec : str or ModelSpec
        ``torchvision:NAME``, ``hf:PATH`` or ``module.path:factory``.
    weights : str or path-like, optional
        A state dict file for a torchvision or factory model: ``torch.save(state_dict)``
        output (read with ``weights_only=True``) or ``.safetensors``.
    search_path : str or path-like, optional
        A folder searched for a factory's module, after the installed packages and only while
        that module is imported (:func:`user_import_path`); the command line passes the
        current folder.

    Raises
    ------
    ImportError
        torchvision or transformers is needed and cannot be imported, or the factory's
        module cannot be found.
    FileNotFoundError
        The hf: folder or the weights file does not exist.
    ReplensError
        The factory is missing, fails or returns something other than a torch module; the
        weights cannot be read or do not fit the model; an unknown torchvision name.
    """
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    if parsed.kind == "hf":
        if weights is not None:
            raise UnknownOptionError(f"weights apply to torchvision: and module:factory models; the "
                                     f"folder of {parsed} holds its own weights. Leave out --weights.")
        return _hf_model(parsed.target)
    model = (_torchvision_model(parsed.target) if parsed.kind == "torchvision"
             else _factory_model(parsed.target, search_path))
    if weights is not None:
        load_weights(model, weights)
    return model


def check_device(device: str) -> Any:
    """The torch.device that `device` ("cpu", "cuda", "cuda:1", "mps", ...) names, if usable here.

    Raises UnknownOptionError for a device string torch does not know, and ReplensError when
    the device is not available here (no GPU, a CPU-only torch build).
    """
    import torch

    try:
        target = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise UnknownOptionError(f"--device {device!r} is not a device torch knows ({_first_line(exc)}); "
                                 f"use cpu, cuda, cuda:N or mps.") from exc
    if target.type == "cuda" and not torch.cuda.is_available():
        raise ReplensError(f"--device {device}: this torch ({torch.__version__}) sees no CUDA device; "
                           f"use --device cpu, or a CUDA build of torch on a GPU machine.")
    if target.type == "cuda" and target.index is not None and target.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ReplensError(f"--device {device}: only {count} CUDA device(s) here; use cuda:0 to "
                           f"cuda:{count - 1}.")
    if target.type == "mps" and not torch.backends.mps.is_available():
        raise ReplensError(f"--device {device}: this machine has no usable MPS device; use --device cpu.")
    return target


def move_model(model: Any, device: str) -> Any:
    """`model` moved to `device`, checked with :func:`check_device` first."""
    target = check_device(device)
    try:
        return model.to(target)
    except (RuntimeError, AssertionError) as exc:
        raise ReplensError(f"cannot move the model to {device}: {_first_line(exc)}. Free memory on that "
                           f"device or choose another --device.") from exc


def load_tokenizer(spec: str | ModelSpec) -> Any:
    """The tokenizer saved in the folder of an ``hf:PATH`` model, read offline."""
    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    if parsed.kind != "hf":
        raise UnknownOptionError(f"only hf:PATH models have a tokenizer; got {parsed}.")
    transformers = _import_transformers(parsed)
    return _from_folder(transformers.AutoTokenizer, parsed.target, "tokenizer")


def load_weights(model: Any, weights: str | Path) -> None:
    """Load a state dict file into `model` (strictly: every key must match).

    Raises
    ------
    FileNotFoundError
        No file at `weights`.
    ReplensError
        The file is not a state dict readable without unpickling code, or its tensors do
        not fit the model's.
    """
    import torch

    path = _existing(Path(weights), "weights")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise
    except Exception as exc:
        raise ReplensError(f"could not read the weights file {str(path)!r}: {_first_line(exc)}. --weights takes "
                           f"a state dict saved with torch.save(model.state_dict(), FILE) (tensors only, "
                           f"no pickled objects) or a .safetensors file.") from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ReplensError(f"the weights file {str(path)!r} holds a {type(state).__name__}, not a state dict "
                           f"(a mapping parameter name -> tensor); save model.state_dict().")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ReplensError(f"the weights in {str(path)!r} do not fit the model: "
                           f"{_shortened(' '.join(str(exc).split()))}") from exc


# ---------------------------------------------------------------------------------------
# Models


def _torchvision_model(name: str) -> Any:
    try:
        import torchvision.models as models
    except Exception as exc:  # a torchvision built for another torch fails with RuntimeError
        raise ImportError(
            f"MODEL torchvision:{name} needs torchvision, and importing it failed ({type(exc).__name__}: "
            f"{_first_line(exc)}). Install the torchvision release built for your torch (pip install "
            f"torchvision), or pass module.path:factory, a function that builds the model.") from exc
    try:
        return models.get_model(name, weights=None)
    except (ValueError, KeyError) as exc:
        available = sorted(models.list_models())
        close = difflib.get_close_matches(name, available, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownOptionError(f"torchvision has no model {name!r}.{hint} It has {len(available)}, e.g. "
                                 f"{', '.join(available[:6])}.") from exc


def _factory_model(target: str, search_path: str | os.PathLike[str] | None) -> Any:
    import torch

    model = call_factory(target, "MODEL", search_path=search_path)
    if not isinstance(model, torch.nn.Module):
        raise ReplensError(f"MODEL {target}() returned a {type(model).__name__}, not a torch.nn.Module; "
                           f"the factory must build and return the network.")
    return model


def _hf_model(folder: str) -> Any:
    transformers = _import_transformers(ModelSpec("hf", folder))
    return _from_folder(transformers.AutoModel, folder, "model")


def _from_folder(auto: Any, folder: str, what: str) -> Any:
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(2, f"no such transformers {what} folder (hf: models are read offline "
                                   f"from a local folder)", str(path))
    try:
        with warnings.catch_warnings(), _quiet_transformers():
            warnings.simplefilter("ignore")
            return auto.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ReplensError(f"could not load a transformers {what} from {str(path)!r}: {_first_line(exc)}. "
                           f"hf:PATH must be a folder made by save_pretrained (config.json and "
                           f"weights).") from exc


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" progress bar from transformers for the block (its setting restored)."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def _import_transformers(spec: ModelSpec) -> Any:
    return optional_import("transformers", "hf", f"MODEL {spec}")


# ---------------------------------------------------------------------------------------
# Factories


def _is_factory_spec(spec: str) -> bool:
    module, colon, attribute = spec.rpartition(":")
    return bool(colon and _DOTTED.match(module) and _DOTTED.match(attribute))


@contextmanager
def user_import_path(folder: str | os.PathLike[str] | None) -> Iterator[None]:
    """`folder` searched for modules during the block, after every installed package.

    It is appended to ``sys.path`` (unless already there) and removed afterwards, so a folder
    in it named like a package (``torchvision/``, ``numpy/``) never shadows the installed one,
    and nothing replens imports later can come from it. None: nothing changes.
    """
    entry = None if folder is None else os.fspath(folder)
    added = entry is not None and entry not in sys.path and not (entry == os.getcwd() and "" in sys.path)
    if added:
        sys.path.append(entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def import_object(target: str, role: str, *, search_path: str | os.PathLike[str] | None = None) -> Any:
    """The object ``attribute`` of ``module.path`` for ``"module.path:attribute"``.

    `role` ("MODEL", "DATA", "-m") starts the error messages; `search_path` is searched for
    the module after the installed packages, only while it is imported (:func:`user_import_path`).
    """
    module_name, _, attribute = target.rpartition(":")
    try:
        with user_import_path(search_path):
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        own = module_name == missing or module_name.startswith(f"{missing}.")
        where = ("check the spelling, and that its folder is the current directory or on PYTHONPATH"
                 if own else f"it imports {missing!r}, which is not installed")
        raise ModuleNotFoundError(f"{role} {target}: cannot import module {module_name!r}: {where}.",
                                  name=missing) from exc
    except Exception as exc:
        raise ReplensError(f"{role} {target}: importing {module_name!r} failed: {type(exc).__name__}: "
                           f"{_first_line(exc)}") from exc
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            names = [name for name in dir(module) if not name.startswith("_")]
            close = difflib.get_close_matches(attribute, names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ReplensError(f"{role} {target}: module {module_name!r} has no {attribute!r}.{hint}")
        found = getattr(found, part)
    return found


def call_factory(target: str, role: str, *, search_path: str | os.PathLike[str] | None = None) -> Any:
    """Import ``module.path`` and return ``factory()`` for ``"module.path:factory"``.

    `role` ("MODEL" or "DATA") starts the error messages; `search_path` as for
    :func:`import_object`, and also searched while the factory runs (it may import its own
    helper modules).
    """
    factory = import_object(target, role, search_path=search_path)
    attribute = target.rpartition(":")[2]
    if not callable(factory):
        raise ReplensError(f"{role} {target}: {attribute!r} is a {type(factory).__name__}, not a function "
                           f"to call.")
    try:
        with user_import_path(search_path):
            return factory()
    except Exception as exc:
        raise ReplensError(f"{role} {target}: calling {attribute}() failed: {type(exc).__name__}: "
                           f"{_first_line(exc)}") from exc


# ---------------------------------------------------------------------------------------
# Data


def load_data(spec: str, *, search_path: str | os.PathLike[str] | None = None) -> Any:
    """The inputs a data spec names (see the module docstring).

    Returns a read-only memory-mapped array (``.npy``), an array (``.npz``), a list of
    sentences (``.txt``) or whatever the factory returns.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ReplensError
        Unknown spec form, unreadable file, an .npz with several arrays and no key (or an
        unknown key), an empty .txt, a failing factory.
    """
    if not isinstance(spec, str) or not spec:
        raise UnknownOptionError(f"a data spec must be a non-empty string ({DATA_SPECS}); got {spec!r}.")
    file, colon, key = spec.rpartition(":")
    if colon and file.lower().endswith(".npz"):
        return _load_npz(Path(file), key)
    suffix = Path(spec).suffix.lower()
    if suffix == ".npy":
        return _load_npy(Path(spec))
    if suffix == ".npz":
        return _load_npz(Path(spec), None)
    if suffix == ".txt":
        return _load_sentences(Path(spec))
    if _is_factory_spec(spec):
        return call_factory(spec, "DATA", search_path=search_path)
    raise UnknownOptionError(f"DATA {spec!r} is not a data spec; use {DATA_SPECS}.")


def _existing(path: Path, what: str = "data") -> Path:
    special = special_file_kind(path)
    if special is not None:
        raise ReplensError(f"the {what} file {str(path)!r} is {special}, not a regular file; reading it would "
                           f"block or never end. Pass a file.")
    if not path.exists():
        raise FileNotFoundError(2, f"no such {what} file", str(path))
    if path.is_dir():
        raise IsADirectoryError(21, f"{what} is a folder, not a file", str(path))
    return path


def _load_npy(path: Path) -> np.ndarray:
    _existing(path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise _unreadable(path, exc) from exc


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    """One array of an .npz, its header checked against the entry's size before any memory is
    allocated (see :func:`~replens.activations._arrays.read_npy_from_zip`)."""
    with open(_existing(path), "rb") as stream:
        head = stream.read(6)
    if head == b"\x93NUMPY":  # .npy content under an .npz name
        loaded = _load_npy(path)
        return loaded if key is None else loaded[_npz_key(path, [], key)]
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, struct.error...: not a readable zip
        raise _unreadable(path, exc) from exc
    with archive:
        names = [info.filename[:-4] for info in archive.infolist() if info.filename.endswith(".npy")]
        chosen = _npz_key(path, names, key)
        return read_npy_from_zip(archive, archive.getinfo(chosen + ".npy"), f"DATA {path}:{chosen}",
                                 lambda detail: CorruptFileError(f"could not read {str(path)!r} as .npz: {detail}. "
                                                                 f"The file is damaged; save the inputs again."))


def _npz_key(path: Path, names: list[str], key: str | None) -> str:
    if key is None:
        if len(names) != 1:
            raise ReplensError(
                f"{str(path)!r} holds {len(names)} arrays ({', '.join(names[:8])}); name the one to "
                f"use as {path}:KEY, e.g. {path}:{names[0] if names else 'x'}.")
        return names[0]
    if key not in names:
        raise ReplensError(f"{str(path)!r} has no array {key!r}; it holds {', '.join(names[:8]) or 'none'}.")
    return key


def _unreadable(path: Path, exc: Exception) -> ReplensError:
    with open(path, "rb") as stream:
        head = stream.read(6)
    objects = "allow_pickle" in str(exc) or "Python objects" in str(exc)
    if objects and (head.startswith(b"PK") or head == b"\x93NUMPY"):
        return DtypeError(f"{str(path)!r} holds Python objects, which are never unpickled; save a numeric "
                          f"array (np.save(path, array.astype('float32'))).")
    return ReplensError(f"could not read {str(path)!r} as a numpy {path.suffix} file: {_first_line(exc)}")


def _load_sentences(path: Path) -> list[str]:
    try:
        text = _existing(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ReplensError(f"{str(path)!r} is not UTF-8 text: {exc}") from exc
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise TooFewExamplesError(f"{str(path)!r} holds no sentence; write one sentence per line.")
    return sentences


def check_data_for_model(data: Any, spec: ModelSpec) -> None:
    """Refuse sentences for a model without a tokenizer, and arrays of text."""
    if spec.kind != "hf" and isinstance(data, list) and data and all(isinstance(s, str) for s in data):
        raise ReplensError(f"DATA holds sentences, but MODEL {spec} has no tokenizer; sentences need an "
                           f"hf:PATH model. Pass an .npy/.npz array of inputs instead.")
    if isinstance(data, np.ndarray) and data.dtype.kind not in "biuf":
        raise DtypeError(f"DATA has dtype {data.dtype}; models take numeric inputs (float32 images or "
                         f"features, integer token ids).")
    if isinstance(data, np.ndarray) and data.ndim == 0:
        raise ShapeError("DATA is a single number; save inputs with the examples on the first axis.")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return _shortened(lines[0]) if lines else type(exc).__name__


def _shortened(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT - 3] + "..."
