"""Measures as objects: one registry that compare, statistics, sweeps and the CLI all read.

A *definition* holds everything replens knows about one named measure: its facts (bounds,
symmetry, invariances, where it is defined), its options and their defaults, the pair
function, and the split into a per-layer ``prepare`` and a per-pair ``score`` that lets
:func:`replens.compare` prepare each layer once. :func:`measure` turns a name and options
into a configured :class:`Measure`; :func:`register_measure` adds a user's own.

Built-in measures register themselves in their family's module (``cka.py``, ``cca.py``,
``regression.py``), so adding a measure is one module plus its reference test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._backend import Array, namespace_of, real_scalar, resolve_dtype, to_numpy
from .._validate import check_matrix, check_option, check_pair, check_values
from ..errors import ReplensError, ShapeError, TooFewExamplesError, UnknownOptionError

ORTHOGONAL = "orthogonal"
ISOTROPIC_SCALING = "isotropic_scaling"
INVERTIBLE_LINEAR = "invertible_linear"
TRANSLATION = "translation"
INVARIANCES = (ORTHOGONAL, ISOTROPIC_SCALING, INVERTIBLE_LINEAR, TRANSLATION)

# A user's measure may return its bound plus rounding (a cosine of 1 + 1e-16); more is an error.
_BOUND_ROUNDING = 1e-12


@dataclass(frozen=True)
class MeasureInfo:
    """What a named measure computes and which invariances it has (CKA paper Table 1).

    Attributes
    ----------
    name : str
        The name :func:`replens.measure` and :func:`replens.compare` accept.
    summary : str
        One line: what is computed.
    reference : str
        Where it is defined.
    bounds : tuple of float or None
        Range of values (None where unbounded); plots use it for the colour scale.
    symmetric : bool
        Whether ``m(X, Y) == m(Y, X)``.
    invariances : tuple of str
        Transformations of one input's features that leave the value unchanged, from
        ``orthogonal``, ``isotropic_scaling``, ``invertible_linear``, ``translation``.
    options : mapping str -> default
        The options :func:`replens.measure` accepts for it, with their defaults.
    min_examples : int
        The fewest examples it is defined for.
    builtin : bool
        Whether replens defines it (False for measures registered by the user).
    """

    name: str
    summary: str
    reference: str
    bounds: tuple[float | None, float | None]
    symmetric: bool
    invariances: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)
    min_examples: int = 2
    builtin: bool = True


@dataclass(frozen=True)
class Option:
    """One option of a measure: its default and a check that returns the normalised value."""

    name: str
    default: Any
    check: Callable[[Any], Any]


@dataclass(frozen=True)
class Plan:
    """What the engine decided for a whole comparison, that a preparation may depend on.

    ``space`` is "features" or "gram" for linear kernels (None: each layer decides).
    """

    space: str | None = None


# prepare(xp, x, options, name, plan) -> prepared; x is validated, cast and 2-D.
Prepare = Callable[[Any, Array, Mapping[str, Any], str, Plan], Any]
# score(xp, a, b, options, memo) -> float; memo is shared by every measure scoring one pair.
Score = Callable[[Any, Any, Any, Mapping[str, Any], dict], float]


@dataclass(frozen=True)
class Definition:
    """Everything the registry holds about one measure.

    Attributes
    ----------
    info : MeasureInfo
        The facts.
    options : tuple of Option
        Accepted options, in the order labels list them.
    pair : callable
        ``pair(x, y, **options) -> float``: the pair function, with its own input checks.
    prepare, score : callable
        The per-layer and per-pair halves; ``score(prepare(x), prepare(y))`` equals
        ``pair(x, y)`` to rounding.
    preparation : callable
        ``preparation(options) -> key``: measures whose keys are equal share one
        preparation per layer in :func:`replens.compare` (CCA, PWCCA and regression share
        the basis; linear CKA and HSIC the centred features).
    score_both : callable or None
        ``score_both(xp, a, b, options, memo) -> (m(a, b), m(b, a))`` for asymmetric measures
        whose two directions share work (PWCCA's one SVD).
    from_gram : callable or None
        ``from_gram(terms, options) -> float`` for linear-kernel measures that
        :func:`replens.compare` can score from blocked Gram inner products.
    from_dft : callable or None
        ``from_dft(result, options) -> float`` for measures Fourier CCA computes
        (``conv="dft"``).
    uninformative : callable or None
        ``uninformative(a, b, n) -> bool``: True when Theorem 1 of the CKA paper forces the
        value (rank a + rank b > n - 1).
    from_basis : callable or None
        ``from_basis(xp, basis, options, name) -> prepared`` for measures whose preparation
        is a function of the layer's orthonormal basis (the CCA family and regression):
        :func:`replens.compare` then builds the bases from row blocks when whole layers do
        not fit its memory budget (:mod:`replens.measures.blocks`).
    numpy_inputs : bool
        Whether prepare and pair receive numpy float64 arrays (users' measures) instead of
        arrays of the inputs' own namespace and device.
    """

    info: MeasureInfo
    options: tuple[Option, ...]
    pair: Callable[..., float]
    prepare: Prepare
    score: Score
    preparation: Callable[[Mapping[str, Any]], Hashable]
    score_both: Callable[..., tuple[float, float]] | None = None
    from_gram: Callable[[Any, Mapping[str, Any]], float] | None = None
    from_dft: Callable[[Any, Mapping[str, Any]], float] | None = None
    uninformative: Callable[[Any, Any, int], bool] | None = None
    from_basis: Callable[[Any, Any, Mapping[str, Any], str], Any] | None = None
    numpy_inputs: bool = False


@dataclass(frozen=True)
class Prepared:
    """One layer prepared by :meth:`Measure.prepare`; pass two of them to :meth:`Measure.score`."""

    label: str
    key: Hashable
    n: int
    value: Any
    xp: Any = field(repr=False)


_REGISTRY: dict[str, Definition] = {}


def _check_dtype_option(value: Any) -> Any:
    if value is None:
        return None
    name = getattr(value, "__name__", None) or str(value)
    name = name.replace("torch.", "").replace("numpy.", "")
    check_option("dtype", name, ("float64", "float32"))
    return name


DTYPE = Option("dtype", None, _check_dtype_option)


class Measure:
    """A measure with its options chosen: call it on a pair, or prepare layers and score pairs.

    Make one with :func:`replens.measure`. Attributes ``name``, ``options`` (every option,
    defaults filled in), ``label`` (the name, plus the options that differ from their
    defaults: ``"rbf_cka(bandwidth=0.5)"``) and ``info`` (:class:`MeasureInfo`).

    Examples
    --------
    >>> import numpy as np, replens as rl
    >>> x = np.random.default_rng(0).standard_normal((100, 6))
    >>> m = rl.measure("rbf_cka", bandwidth=0.5)
    >>> m.label
    'rbf_cka(bandwidth=0.5)'
    >>> abs(m(x, 2 * x) - 1.0) < 1e-12
    True
    """

    def __init__(self, definition: Definition, options: Mapping[str, Any]) -> None:
        self._definition = definition
        self._options = dict(options)

    @property
    def name(self) -> str:
        return self._definition.info.name

    @property
    def options(self) -> dict[str, Any]:
        return dict(self._options)

    @property
    def info(self) -> MeasureInfo:
        return self._definition.info

    @property
    def definition(self) -> Definition:
        return self._definition

    @property
    def label(self) -> str:
        changed = [f"{option.name}={_format_value(self._options[option.name])}"
                   for option in self._definition.options
                   if not _same(self._options[option.name], option.default)]
        return f"{self.name}({', '.join(changed)})" if changed else self.name

    @property
    def preparation_key(self) -> Hashable:
        """Measures with equal keys share one preparation of a layer."""
        return self._definition.preparation(self._options)

    def __repr__(self) -> str:
        return f"Measure({self.label!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Measure) and other._definition is self._definition
                and other.label == self.label)

    def __hash__(self) -> int:
        return hash((self.name, self.label))

    def __call__(self, x: Array, y: Array) -> float:
        """The measure of the pair (x, y): ``x``, ``y`` of shape (n_examples, n_features)."""
        definition = self._definition
        if definition.numpy_inputs:
            xp, x, y = _checked_pair(x, y, definition.info, self._options.get("dtype"))
            x, y = to_numpy(x), to_numpy(y)
        value = definition.pair(x, y, **self._options)
        return checked_value(self, value, "X", "Y")

    def prepare(self, x: Array, *, name: str = "X") -> Prepared:
        """The per-layer work for `x` of shape (n_examples, n_features), done once."""
        xp, x = _checked_layer(x, name, self.info, self._options.get("dtype"))
        return self.prepare_checked(xp, x, name, Plan())

    def prepare_checked(self, xp: Any, x: Array, name: str, plan: Plan) -> Prepared:
        """:meth:`prepare` for a layer already validated and cast (the engine's entry)."""
        definition = self._definition
        if definition.numpy_inputs:
            x = to_numpy(x)
        value = definition.prepare(xp, x, self._options, name, plan)
        return Prepared(self.label, self.preparation_key, int(x.shape[0]), value, xp)

    def prepare_from_basis(self, xp: Any, basis: Any, n: int, name: str) -> Prepared:
        """The preparation from a layer's orthonormal basis (measures with a ``from_basis``
        hook; the engine's entry when it builds bases from row blocks)."""
        value = self._definition.from_basis(xp, basis, self._options, name)
        return Prepared(self.label, self.preparation_key, n, value, xp)

    def score(self, a: Prepared, b: Prepared, memo: dict | None = None, *,
              names: tuple[str, str] = ("a", "b")) -> float:
        """The per-pair work: the measure between two layers prepared by :meth:`prepare`.

        `memo` (a dict per pair) lets measures scoring the same pair share its work; `names`
        name the pair in error messages.
        """
        self._check_prepared(a, b)
        value = self._definition.score(a.xp, a.value, b.value, self._options, {} if memo is None else memo)
        return checked_value(self, value, *names)

    def score_both(self, a: Prepared, b: Prepared, memo: dict | None = None, *,
                   names: tuple[str, str] = ("a", "b")) -> tuple[float, float]:
        """``(score(a, b), score(b, a))``, sharing their work where the measure can."""
        self._check_prepared(a, b)
        memo = {} if memo is None else memo
        both = self._definition.score_both
        if both is None:
            return self.score(a, b, memo, names=names), self.score(b, a, names=names[::-1])
        forward, backward = both(a.xp, a.value, b.value, self._options, memo)
        return checked_value(self, forward, *names), checked_value(self, backward, *names[::-1])

    def _check_prepared(self, a: Prepared, b: Prepared) -> None:
        key = self.preparation_key
        for side, prepared in (("a", a), ("b", b)):
            if not isinstance(prepared, Prepared) or prepared.key != key:
                made = prepared.label if isinstance(prepared, Prepared) else type(prepared).__name__
                raise UnknownOptionError(
                    f"{self.label}.score needs layers prepared by {self.label}.prepare (or a measure "
                    f"sharing its preparation); argument {side} was prepared by {made}.")
        if a.n != b.n:
            raise ShapeError(f"the two prepared layers have different numbers of examples ({a.n} "
                             f"and {b.n}); prepare layers computed on the same inputs.")


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default or (value is None and default is None)


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def checked_value(measure: Measure, value: Any, side_a: str, side_b: str) -> float:
    """`value` as a float; a ReplensError for NaN, non-numbers, or (users' measures) out of bounds.

    `side_a`, `side_b` name the pair in the message (layer names in :func:`replens.compare`).
    """
    number = real_scalar(value)
    if number is None:
        raise ReplensError(
            f"measure {measure.label!r} returned {type(value).__name__} {value!r:.60} for the pair "
            f"({side_a}, {side_b}); a measure must return one real number (a float).")
    if not math.isfinite(number):
        raise ReplensError(
            f"measure {measure.label!r} returned {number} for the pair ({side_a}, {side_b}); a "
            f"similarity must be a finite number. Check the measure's inputs and its function.")
    if not measure.info.builtin:
        low, high = measure.info.bounds
        if (low is not None and number < low - _BOUND_ROUNDING) or (
                high is not None and number > high + _BOUND_ROUNDING):
            raise ReplensError(
                f"measure {measure.label!r} returned {number!r} for the pair ({side_a}, {side_b}), "
                f"outside its declared bounds {measure.info.bounds}. Fix the function or the "
                f"bounds given to register_measure.")
    return number


def _checked_layer(x: Array, name: str, info: MeasureInfo, dtype: Any) -> tuple[Any, Array]:
    xp, (x,) = namespace_of(x)
    check_matrix(name, x)
    if x.shape[0] < info.min_examples:
        raise TooFewExamplesError(
            f"{info.name} needs at least {info.min_examples} examples (rows); got {x.shape[0]} "
            f"in {name} {tuple(x.shape)}. Pass more examples.")
    return xp, check_values(xp, name, x, resolve_dtype(xp, dtype))


def _checked_pair(x: Array, y: Array, info: MeasureInfo, dtype: Any) -> tuple[Any, Array, Array]:
    return check_pair(x, y, min_examples=info.min_examples, dtype=dtype)


def add(definition: Definition, *, replace: bool = False) -> Definition:
    """Put `definition` in the registry under its name (built-ins call this at import)."""
    name = definition.info.name
    if not isinstance(name, str) or not name.isidentifier():
        raise UnknownOptionError(
            f"a measure name must be a Python identifier (letters, digits, underscores), so that "
            f"labels and the CLI can parse it; got {name!r}.")
    if name in _REGISTRY and not replace:
        raise UnknownOptionError(
            f"a measure named {name!r} is already registered; pass replace=True to replace it, "
            f"or choose another name.")
    _REGISTRY[name] = definition
    return definition


def measure(name: str | Measure, **options: Any) -> Measure:
    """A configured measure: ``rl.measure("rbf_cka", bandwidth=0.5)``.

    Parameters
    ----------
    name : str or Measure
        A name from :func:`replens.measures` (built-in or registered). A Measure is
        reconfigured with `options` on top of its own.
    **options
        The measure's options (``rl.measures()`` lists them with their defaults); every
        option not given takes its default.

    Raises
    ------
    UnknownOptionError
        For an unknown name (listing the valid ones), an option the measure does not have
        (listing its options), or an invalid option value.
    """
    if isinstance(name, Measure):
        return measure(name.name, **{**name.options, **options})
    if not isinstance(name, str) or name not in _REGISTRY:
        listed = ", ".join(repr(known) for known in _REGISTRY)
        raise UnknownOptionError(f"measure must be one of {listed}; got {name!r}. Register your own "
                                 f"with replens.register_measure.")
    definition = _REGISTRY[name]
    valid = {option.name: option for option in definition.options}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        accepted = ", ".join(f"{o.name} (default {o.default!r})" for o in definition.options) or "none"
        raise UnknownOptionError(f"measure {name!r} has no option {', '.join(map(repr, unknown))}; "
                                 f"its options are: {accepted}.")
    chosen = {option.name: option.check(options[option.name]) if option.name in options
              else option.default for option in definition.options}
    return Measure(definition, chosen)


def as_measure(obj: str | Measure | Callable[..., Any]) -> Measure:
    """A Measure from a registered name, a Measure, or any callable ``f(X, Y) -> float``.

    A callable that was registered with :func:`register_measure` gives that measure; any
    other callable becomes an unregistered measure named after its module and qualified
    name, unbounded, not assumed symmetric, with no invariances declared. It receives numpy
    float64 arrays (examples, features).
    """
    if isinstance(obj, Measure):
        return obj
    if isinstance(obj, str):
        return measure(obj)
    if callable(obj):
        for definition in _REGISTRY.values():
            if definition.pair is obj:
                return measure(definition.info.name)
        label = f"{getattr(obj, '__module__', None) or 'callable'}:{getattr(obj, '__qualname__', type(obj).__name__)}"
        info = MeasureInfo(label, "a user's function f(X, Y) -> float", "user-defined", (None, None),
                           False, (), MappingProxyType({}), 2, False)
        return Measure(_plain_definition(info, obj, (), None, None), {})
    raise UnknownOptionError(f"a measure must be a registered name, a replens.measure(...) or a "
                             f"callable f(X, Y) -> float; got {type(obj).__name__} {obj!r:.60}.")


def _plain_definition(info: MeasureInfo, function: Callable[..., Any] | None, options: tuple[Option, ...],
                      prepare: Callable[..., Any] | None, score: Callable[..., Any] | None) -> Definition:
    """The definition of a user's measure: numpy inputs, prepare/score or the pair function."""
    if prepare is not None:
        def user_prepare(xp: Any, x: Array, opts: Mapping[str, Any], name: str, plan: Plan) -> Any:
            return prepare(x, **opts)

        def user_score(xp: Any, a: Any, b: Any, opts: Mapping[str, Any], memo: dict) -> Any:
            return score(a, b, **opts)
    else:
        def user_prepare(xp: Any, x: Array, opts: Mapping[str, Any], name: str, plan: Plan) -> Any:
            return x

        def user_score(xp: Any, a: Any, b: Any, opts: Mapping[str, Any], memo: dict) -> Any:
            return function(a, b, **opts)

    def user_pair(x: Array, y: Array, **opts: Any) -> Any:
        if function is not None:
            return function(x, y, **opts)
        return score(prepare(x, **opts), prepare(y, **opts), **opts)

    name = info.name
    return Definition(info=info, options=options, pair=function if function is not None else user_pair,
                      prepare=user_prepare, score=user_score, preparation=lambda opts: (name, tuple(opts.items())),
                      numpy_inputs=True)


def register_measure(
    name: str,
    *,
    bounds: tuple[float | None, float | None] = (None, None),
    symmetric: bool = False,
    invariances: Sequence[str] = (),
    summary: str = "",
    reference: str = "user-defined",
    options: Mapping[str, Any] | None = None,
    min_examples: int = 2,
    prepare: Callable[..., Any] | None = None,
    score: Callable[..., Any] | None = None,
    replace: bool = False,
) -> Any:
    """Register a measure of your own, so that :func:`measure`, :func:`replens.compare`, the
    statistics and the CLI accept its name.

    Used as a decorator on a plain ``f(X, Y) -> float``::

        @rl.register_measure("mean_abs_corr", bounds=(0.0, 1.0), symmetric=True,
                             invariances=("isotropic_scaling", "translation"))
        def mean_abs_corr(X, Y): ...

    or called with ``prepare=`` (``prepare(X) -> anything``, per layer) and ``score=``
    (``score(a, b) -> float``, per pair) to share per-layer work, in which case it
    registers at once and returns the configured :class:`Measure`. Functions receive numpy
    float64 arrays of shape (examples, features), validated (2-D, finite, same examples)
    and flattened from conv or sequence layouts by compare; ``options`` (name -> default)
    are passed to them as keyword arguments.

    Parameters
    ----------
    name : str
        A Python identifier not yet registered (``replace=True`` replaces a registered one).
    bounds : (low, high)
        Range of values, None where unbounded. A value outside it (beyond 1e-12 rounding),
        a NaN or a non-number raises a ReplensError naming the measure and the pair.
    symmetric : bool
        Whether ``f(X, Y) == f(Y, X)``; compare then scores each pair of a self-comparison once.
    invariances : sequence of str
        From ``orthogonal``, ``isotropic_scaling``, ``invertible_linear``, ``translation``;
        the contract tests check every declared one.
    summary, reference : str
        One line on what it computes, and where it is defined.
    options : mapping str -> default, optional
        Keyword options of the function(s) and their defaults.
    min_examples : int, default 2
        The fewest examples it is defined for.
    """
    for invariance in invariances:
        check_option("invariance", invariance, INVARIANCES)
    if (prepare is None) != (score is None):
        raise UnknownOptionError("register_measure needs both prepare= and score=, or neither "
                                 "(then decorate a function f(X, Y) -> float).")
    defaults = dict(options or {})
    for option_name in defaults:
        if not isinstance(option_name, str) or not option_name.isidentifier():
            raise UnknownOptionError(f"option names must be identifiers; got {option_name!r}.")
    info = MeasureInfo(name, summary or "a user-registered measure", reference, tuple(bounds), bool(symmetric),
                       tuple(invariances), MappingProxyType(defaults), int(min_examples), False)
    option_list = tuple(Option(key, value, lambda given: given) for key, value in defaults.items())
    if prepare is not None:
        add(_plain_definition(info, None, option_list, prepare, score), replace=replace)
        return measure(name)
    if name in _REGISTRY and not replace:
        raise UnknownOptionError(
            f"a measure named {name!r} is already registered; pass replace=True to replace it, "
            f"or choose another name.")

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        add(_plain_definition(info, function, option_list, None, None), replace=replace)
        return function

    return decorate


def unregister_measure(name: str) -> None:
    """Remove a measure registered with :func:`register_measure` (built-ins stay)."""
    if name not in _REGISTRY:
        raise UnknownOptionError(f"no measure named {name!r} is registered; registered: "
                                 f"{', '.join(_REGISTRY)}.")
    if _REGISTRY[name].info.builtin:
        raise UnknownOptionError(f"{name!r} is a built-in measure and cannot be unregistered.")
    del _REGISTRY[name]


def definition_of(name: str) -> Definition:
    """The registered definition of `name` (raises UnknownOptionError like :func:`measure`)."""
    return measure(name).definition


def measure_bounds(name: str) -> tuple[float | None, float | None]:
    """The declared bounds of a registered measure, (None, None) for any other name."""
    definition = _REGISTRY.get(name)
    return (None, None) if definition is None else definition.info.bounds


def measures() -> list[MeasureInfo]:
    """Every measure :func:`replens.measure` and :func:`replens.compare` accept: built-ins first,
    then registered ones, with bounds, symmetry, invariances and options.

    Examples
    --------
    >>> import replens as rl
    >>> [m.name for m in rl.measures()][:3]
    ['linear_cka', 'debiased_linear_cka', 'rbf_cka']
    """
    return [definition.info for definition in _REGISTRY.values()]


def builtin(
    name: str, summary: str, reference: str, bounds: tuple[float | None, float | None], symmetric: bool,
    invariances: tuple[str, ...], *, options: tuple[Option, ...] = (DTYPE,), min_examples: int = 2,
    **parts: Any,
) -> Definition:
    """Register a built-in measure (called by the family modules at import)."""
    info = MeasureInfo(name, summary, reference, bounds, symmetric, invariances,
                       MappingProxyType({o.name: o.default for o in options}), min_examples, True)
    return add(Definition(info=info, options=options, **parts))
