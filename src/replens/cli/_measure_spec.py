"""``-m`` on the command line: a measure name with options, or a function in a module.

``NAME`` and ``NAME:opt=value,opt=value`` name a registered measure (``replens measures``
lists them and their options) and give ``replens.measure(NAME, opt=value, ...)``; each value
is read as an int, a float, true/false, none, or else a string. ``package.module:function``
imports the module (the current folder is searched after the installed packages, only while it is
imported) and uses the object:
a Measure as it is, anything else through ``as_measure`` (a function decorated with
``@replens.register_measure`` registers at import and gives its registered measure). The
two forms are told apart by whether the text before ``:`` is a registered measure name.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

from ..activations.specs import import_object
from ..errors import ReplensError, UnknownOptionError
from ..measures.registry import Measure, as_measure, measure, measures
from ._app import one_line

__all__ = ["parse_measure_spec", "parse_option_value"]

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_FORMS = ("NAME (see `replens measures`), NAME:option=value,option=value (e.g. rbf_cka:bandwidth=0.5) "
          "or package.module:function for your own")


def parse_measure_spec(spec: str) -> Measure:
    """The Measure a ``-m`` value names (module docstring).

    Raises
    ------
    UnknownOptionError
        Not a measure spec, an unknown measure name, or an option the measure does not have.
    ImportError, ReplensError
        The module of ``package.module:function`` cannot be imported or has no such object.
    """
    name, colon, rest = spec.partition(":")
    names = [info.name for info in measures()]
    if name in names:
        if not colon:
            return measure(name)
        return _configured(spec, name, rest)
    if not colon:
        if _DOTTED.match(spec) and "." not in spec:
            listed = ", ".join(repr(n) for n in names)
            raise UnknownOptionError(f"-m {spec}: measure must be one of {listed}; got {spec!r}. "
                                     f"`replens measures` lists them with their options; use -m "
                                     f"package.module:function for a measure of your own.")
        raise UnknownOptionError(f"-m {spec!r} is not a measure spec; use {_FORMS}.")
    module_name, _, attribute = spec.rpartition(":")
    if "=" in attribute or not (_DOTTED.match(module_name) and _DOTTED.match(attribute)):
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UnknownOptionError(f"-m {spec!r}: {name!r} is not a registered measure name, and "
                                 f"{spec!r} is not package.module:function.{hint} Use {_FORMS}.")
    return _imported(spec, module_name, attribute)


def _configured(spec: str, name: str, text: str) -> Measure:
    options: dict[str, Any] = {}
    for item in text.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key.isidentifier():
            raise UnknownOptionError(f"-m {spec!r}: {item.strip()!r} is not option=value; write "
                                     f"-m {name}:option=value,option=value (e.g. -m rbf_cka:bandwidth=0.5), "
                                     f"or -m {name} for the defaults.")
        if key in options:
            raise UnknownOptionError(f"-m {spec!r} sets {key} twice; give each option once.")
        options[key] = parse_option_value(value)
    try:
        return measure(name, **options)
    except UnknownOptionError as exc:
        raise UnknownOptionError(f"-m {spec}: {one_line(exc)}") from exc


def parse_option_value(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None, else the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _imported(spec: str, module_name: str, attribute: str) -> Measure:
    try:
        found = import_object(spec, "-m", search_path=os.getcwd())
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{one_line(exc)} ({module_name.split('.')[0]!r} is not a measure name "
                                  f"either: `replens measures` lists them.)", name=exc.name) from exc
    if isinstance(found, Measure):
        return found
    if not callable(found):
        raise ReplensError(f"-m {spec}: {attribute!r} is a {type(found).__name__}; it must be a "
                           f"function f(X, Y) -> float or a replens.measure(...).")
    return as_measure(found)
