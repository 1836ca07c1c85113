"""The registered measures, read from the registry, for the test modules that check "every measure".

Importable as ``_measures`` because pytest puts the tests folder on ``sys.path``.

``test_errors``, ``test_backends``, ``test_numerics``, ``test_compare`` and ``test_properties``
parametrize over :data:`NAMES` (plus, in each module, a ``VARIANTS`` table of pair-function
options beyond the registry's defaults), so a measure added to the registry is checked by all of
them with no edit. What a test needs to know about a measure (symmetry, invariances, bounds, the
fewest examples) comes from its :class:`replens.MeasureInfo`, here as :data:`INFO`.

Only the built-in measures: the measures users register (``test_contract`` and ``test_registry``
register some) come and go with the fixtures of the modules that register them, and the checks of
these modules (independent references, torch backends, numerical robustness) are of replens's own
implementations. ``test_contract`` checks the user measures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import replens as rl

INFO: dict[str, rl.MeasureInfo] = {info.name: info for info in rl.measures() if info.builtin}
NAMES: tuple[str, ...] = tuple(INFO)
MEASURES: dict[str, rl.Measure] = {name: rl.measure(name) for name in NAMES}


def call(name: str) -> Callable[..., float]:
    """``f(x, y, **options)``: the registered measure `name` configured with `options`, on (x, y)."""

    def f(x: Any, y: Any, **options: Any) -> float:
        return rl.measure(name, **options)(x, y)

    f.__name__ = f.__qualname__ = name
    return f


def pair_function(name: str) -> Callable[..., Any]:
    """The pair function the registry holds for `name`: ``pair(x, y, **options)``, given the
    options exactly as passed (``rl.measure`` normalises them first, e.g. ``np.float32`` to
    ``"float32"``)."""
    return MEASURES[name].definition.pair


PAIR_FUNCTIONS: dict[str, Callable[..., float]] = {name: call(name) for name in NAMES}


def invariant_to(invariance: str) -> list[str]:
    """The registered measures declaring `invariance` (on either input)."""
    return [name for name in NAMES if invariance in INFO[name].invariances]


def with_variants(registered: Mapping[str, Any], variants: Mapping[str, Any]) -> dict[str, Any]:
    """``{**registered, **variants}``, refusing a variant that shadows a registered name."""
    clash = sorted(set(registered) & set(variants))
    assert not clash, f"variants {clash} shadow registered measures; name variants like 'cka.rbf.bw0.5'"
    return {**registered, **variants}


def known(names: Iterable[str], table: Mapping[str, Any]) -> list[str]:
    """`names` as a list, asserting each is in `table` (a named fact about a renamed or removed
    measure fails at collection instead of silently testing nothing)."""
    names = list(names)
    missing = [name for name in names if name not in table]
    assert not missing, f"{missing} are neither registered measures nor variants of this module"
    return names
