"""What an experiment returns: its claims, figures, tables and settings.

An experiment module composes library functions (:mod:`replens.zoo`,
:mod:`replens.analyses`, :mod:`replens.engine`, ...) and returns an :class:`Outcome`; the
runner (:mod:`replens.reproduce.runner`) writes it to disk. A :class:`Claim` sets one claim
of a paper beside what we measured in miniature and says whether it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownOptionError

__all__ = ["CLAIM_COLUMNS", "HOLDS", "Claim", "Outcome", "verdict"]

CLAIM_COLUMNS = ("claim", "statement", "paper", "ours", "holds", "note")
"""The columns of every ``claims.csv``, in order."""

HOLDS = ("yes", "partly", "no")
"""The values of :attr:`Claim.holds`."""


@dataclass(frozen=True)
class Claim:
    """One claim of a paper beside our miniature's measurement.

    Attributes
    ----------
    claim : str
        A stable short name, ``"<entry>.<what>"``, e.g. ``"S09.bottom_up"`` (the entry is the
        id of ``claims.md``).
    statement : str
        The claim in words, quoted from the paper where possible.
    paper : str
        The paper's number or finding (a quote or "figure only" where it has no number).
    ours : str
        What we measured, with the quantity named.
    holds : {"yes", "partly", "no"}
        Whether the miniature reproduces the claim by the criterion in `note`.
    note : str
        The criterion used, and for ``no`` or ``partly`` the likely reason.
    """

    claim: str
    statement: str
    paper: str
    ours: str
    holds: str
    note: str

    def __post_init__(self) -> None:
        if self.holds not in HOLDS:
            raise UnknownOptionError(f"Claim.holds must be one of {', '.join(HOLDS)}; got "
                                     f"{self.holds!r} for claim {self.claim!r}.")

    def as_row(self) -> dict[str, str]:
        """The claim as a ``claims.csv`` row: column -> text."""
        return {column: str(getattr(self, column)) for column in CLAIM_COLUMNS}


@dataclass(frozen=True)
class Outcome:
    """Everything one experiment produced, before it is written.

    Attributes
    ----------
    claims : tuple of Claim
    figures : tuple of (file stem, caption, matplotlib Figure)
        Written as ``<stem>.png`` at 150 dpi and shown in the report.
    tables : tuple of (file stem, caption, pandas.DataFrame)
        Written as ``<stem>.csv`` and shown in the report.
    settings : dict
        Every hyperparameter and seed the experiment used (JSON-encodable).
    """

    claims: tuple[Claim, ...]
    figures: tuple[tuple[str, str, Any], ...] = ()
    tables: tuple[tuple[str, str, Any], ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


def verdict(passed: int, total: int) -> str:
    """``"yes"`` when all `total` criteria passed, ``"no"`` when none did, else ``"partly"``."""
    if total < 1 or not 0 <= passed <= total:
        raise ValueError(f"verdict needs 0 <= passed <= total and total >= 1; got passed={passed}, "
                         f"total={total}.")
    return "yes" if passed == total else "no" if passed == 0 else "partly"
