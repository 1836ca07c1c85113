"""``replens measures``: the table of every measure, its facts and its options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ..measures.registry import measures


def _bound(value: float | None, unbounded: str) -> str:
    return unbounded if value is None else f"{value:g}"


def format_options(options: Mapping[str, Any]) -> str:
    """``bandwidth=1.0`` or ``threshold=0.99, rule=variance, keep=None``; ``-`` for none."""
    return ", ".join(f"{name}={default}" for name, default in options.items()) or "-"


@click.command("measures")
def measures_command() -> None:
    """List every measure with its bounds, symmetry, invariances and options (with defaults).

    Set options on the command line as -m NAME:option=value,option=value, e.g.
    `replens compare a.npz b.npz -m rbf_cka:bandwidth=0.5 --out cmp`.
    """
    rows = [("measure", "bounds", "symmetric", "invariant to", "options", "definition")]
    for info in measures():
        bounds = f"[{_bound(info.bounds[0], '-inf')}, {_bound(info.bounds[1], 'inf')}]"
        rows.append((info.name, bounds, "yes" if info.symmetric else "no", ", ".join(info.invariances),
                     format_options(info.options), info.reference))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
