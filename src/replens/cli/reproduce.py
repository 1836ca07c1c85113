"""``replens reproduce``: the papers' experiments in miniature, claim by claim.

``--list`` prints the experiments; ``replens reproduce ID [ID ...]`` (or ``all``) runs them,
prints each claim with the paper's number beside ours, and writes ``OUT/ID/claims.csv``,
figures, ``OUT/ID/settings.json`` and ``OUT/report.html``. The work lives in
:mod:`replens.reproduce`; this module prints what it returns.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from ._app import log


def format_list() -> str:
    """The table of experiments: id, paper and section, minutes, claim."""
    from ..reproduce import experiments

    rows = [("id", "paper and section", "min", "claim")]
    rows += [(e.id, f"{e.paper}, {e.section} [{e.entry}]", f"{e.minutes:g}", e.claim) for e in experiments()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row[:3], widths)), row[3]])
                     for row in rows)


def format_claims(result) -> str:
    """One experiment's claims: holds, claim, ours, paper."""
    lines = [f"{result.info.id} ({result.info.paper}, {result.info.section}; {result.seconds:.1f} s)"]
    for claim in result.claims:
        lines.append(f"  [{claim.holds:>6}] {claim.claim}: ours {claim.ours}; paper {claim.paper}")
    return "\n".join(lines)


@click.command("reproduce", short_help="The papers' experiments in miniature, our numbers beside theirs.")
@click.argument("ids", nargs=-1, metavar="ID [ID ...] | all")
@click.option("--list", "list_only", is_flag=True, help="List the experiments and exit.")
@click.option("--quick", is_flag=True, help="Smaller models and fewer seeds (under 30 s per experiment).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reproduce-out"),
              show_default=True, help="Folder for ID/claims.csv, figures, ID/settings.json and report.html.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def reproduce_command(ids: tuple[str, ...], list_only: bool, quick: bool, out_dir: Path, quiet: bool) -> None:
    """Run experiments of the SVCCA, PWCCA and CKA papers in miniature, offline.

    Each experiment trains small networks on local data, runs the paper's analysis with
    replens, and sets every claim of the paper beside our measurement with a verdict (holds:
    yes, partly or no, and why). `replens reproduce --list` names the experiments;
    `replens reproduce all --out DIR` runs every one.
    """
    if list_only:
        if ids:
            raise click.UsageError("--list takes no experiment ids.")
        click.echo(format_list())
        return
    if not ids:
        raise click.UsageError("name one or more experiments, or all; `replens reproduce --list` shows them.")
    from ..reproduce import run
    from ..reproduce.catalog import experiment_info

    for experiment_id in ids:  # every id checked before anything runs
        if experiment_id != "all":
            experiment_info(experiment_id)
    started = time.perf_counter()
    results = run(list(ids), out_dir, quick=quick, log=None if quiet else log)
    for result in results:
        click.echo(format_claims(result))
    click.echo(str(out_dir / "report.html"))
    if not quiet:
        log(f"reproduce done in {time.perf_counter() - started:.1f} s")
