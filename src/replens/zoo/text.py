"""A character corpus every machine has: the docstrings of Python's own standard library.

The corpus is the docstrings (module, class and function, in source order, each cleaned by
:func:`inspect.cleandoc` as :func:`ast.get_docstring` does) of the modules in
:data:`TEXT_MODULES`, a fixed sorted list of pure-Python standard-library modules, read from
their source files under ``sysconfig.get_paths()["stdlib"]`` with :mod:`ast`: nothing is
imported or run. Docstrings are joined by a blank line; modules in list order. About one
million characters (992,000 on Python 3.11); the text is fixed for one Python version, since
docstrings change from version to version.

Characters map to indices by :data:`TEXT_VOCAB`: index 0 stands for any character outside
the vocabulary (a few non-ASCII letters and box-drawing characters), 1 is the newline and
2..96 are the printable ASCII characters ``" "`` to ``"~"``.
"""

from __future__ import annotations

import ast
import functools
import sysconfig
from pathlib import Path

import numpy as np

from ..errors import ReplensError

__all__ = ["TEXT_MODULES", "TEXT_VOCAB", "UNKNOWN", "corpus", "decode", "encode", "encoded_corpus"]

UNKNOWN = "\x00"
"""The character standing for every character outside the vocabulary (index 0)."""

TEXT_VOCAB = UNKNOWN + "\n" + "".join(chr(c) for c in range(32, 127))
"""The 97 characters of the text dataset, in index order."""

TEXT_MODULES = tuple(sorted({
    "_pydecimal", "argparse", "ast", "asyncio.base_events", "asyncio.events", "asyncio.streams",
    "asyncio.tasks", "base64", "bisect", "bz2", "calendar", "cmd", "code", "codecs", "codeop",
    "collections", "colorsys", "compileall", "concurrent.futures._base", "configparser",
    "contextlib", "copy", "copyreg", "csv", "dataclasses", "datetime", "dbm", "difflib", "dis",
    "doctest", "email.message", "email.utils", "enum", "filecmp", "fileinput", "fnmatch",
    "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "graphlib", "gzip",
    "hashlib", "heapq", "hmac", "html.parser", "http.client", "http.server", "imaplib",
    "inspect", "ipaddress", "json.decoder", "json.encoder", "linecache", "locale", "logging",
    "lzma", "mailbox", "mimetypes", "modulefinder", "multiprocessing.managers",
    "multiprocessing.pool", "netrc", "ntpath", "numbers", "operator", "optparse", "os",
    "pathlib", "pdb", "pickle", "pkgutil", "platform", "plistlib", "poplib", "posixpath",
    "pprint", "pstats", "pyclbr", "pydoc", "queue", "quopri", "random", "re", "reprlib",
    "runpy", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib",
    "socket", "socketserver", "stat", "statistics", "string", "subprocess", "symtable",
    "sysconfig", "tabnanny", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "tracemalloc", "tty", "turtle", "types", "typing",
    "unittest.case", "unittest.mock", "urllib.parse", "urllib.request", "uuid", "warnings",
    "wave", "weakref", "webbrowser", "xml.dom.minidom", "xml.etree.ElementTree", "zipapp",
    "zipfile", "zipimport", "zoneinfo._zoneinfo",
}))
"""The standard-library modules whose docstrings make the corpus, sorted."""

_INDEX = {char: i for i, char in enumerate(TEXT_VOCAB)}


def module_source(name: str) -> Path:
    """The source file of standard-library module `name` (``"a.b"`` -> ``a/b.py`` or
    ``a/b/__init__.py`` under the stdlib folder)."""
    base = Path(sysconfig.get_paths()["stdlib"]).joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ReplensError(
        f"the text dataset needs the source of the standard-library module {name!r}, but neither "
        f"{str(base.with_suffix('.py'))!r} nor {str(base / '__init__.py')!r} exists. This Python "
        f"was installed without its .py sources; install them (e.g. the distribution's "
        f"python3-full or libpython3-stdlib package) or use another dataset.")


def _docstrings(tree: ast.AST) -> list[str]:
    """Docstrings of a module tree in source order (a definition before the ones inside it)."""
    found = []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    if isinstance(tree, kinds):
        text = ast.get_docstring(tree, clean=True)
        if text:
            found.append(text)
    for child in ast.iter_child_nodes(tree):
        found.extend(_docstrings(child))
    return found


@functools.lru_cache(maxsize=1)
def corpus() -> str:
    """The whole corpus as one string (parsed once per process; about 1 s)."""
    parts = []
    for name in TEXT_MODULES:
        source = module_source(name).read_text(encoding="utf-8")
        parts.extend(_docstrings(ast.parse(source)))
    return "\n\n".join(parts)


def encode(text: str) -> np.ndarray:
    """Indices (uint8, one per character) of `text` in :data:`TEXT_VOCAB`; characters outside
    it become 0 (:data:`UNKNOWN`)."""
    return np.fromiter((_INDEX.get(char, 0) for char in text), dtype=np.uint8, count=len(text))


def decode(indices: np.ndarray) -> str:
    """The characters of `indices` (any integer array of values in 0..96), as one string."""
    values = np.asarray(indices).reshape(-1)
    if values.size and (values.min() < 0 or values.max() >= len(TEXT_VOCAB)):
        raise ReplensError(f"indices must lie in 0..{len(TEXT_VOCAB) - 1} (the text vocabulary); got "
                           f"values from {values.min()} to {values.max()}.")
    return "".join(TEXT_VOCAB[int(i)] for i in values)


@functools.lru_cache(maxsize=1)
def encoded_corpus() -> np.ndarray:
    """:func:`corpus` encoded (uint8, read-only)."""
    encoded = encode(corpus())
    encoded.setflags(write=False)
    return encoded
