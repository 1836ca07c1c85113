"""Run experiments and write their files: ``DIR/ID/claims.csv``, figures, tables,
``DIR/ID/settings.json``, and ``DIR/report.html`` gathering every experiment in ``DIR``.

Every experiment runs on one torch thread and one BLAS thread (restored afterwards), so a
run is deterministic and its time is the time on one core. Every file is written
atomically.
"""

from __future__ import annotations

import importlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_path, package_versions
from ..errors import ReplensError
from ..report.html import write_report
from .catalog import EXPERIMENTS, ExperimentInfo, experiment_info
from .claims import CLAIM_COLUMNS, Claim, Outcome

__all__ = ["ExperimentResult", "run", "write_index_report"]

FIGURE_DPI = 150
REPORT_NAME = "report.html"


@dataclass(frozen=True)
class ExperimentResult:
    """What :func:`run` did for one experiment.

    Attributes
    ----------
    info : ExperimentInfo
    claims : tuple of Claim
    settings : dict
        Hyperparameters, seeds, versions, ``quick`` and ``seconds`` (as in settings.json).
    seconds : float
        Wall time of the experiment, training included (``settings["cpu_seconds"]`` holds the
        CPU time, the time on one core when other jobs share the machine).
    directory : pathlib.Path or None
        ``out/ID``, or None when nothing was written (``out=None``).
    files : tuple of pathlib.Path
        Every file written for this experiment.
    outcome : Outcome
        The figures and tables as the experiment returned them.
    """

    info: ExperimentInfo
    claims: tuple[Claim, ...]
    settings: dict[str, Any]
    seconds: float
    directory: Path | None
    files: tuple[Path, ...]
    outcome: Outcome

    def holds(self, claim: str) -> str:
        """The ``holds`` value of one claim, by its name."""
        for entry in self.claims:
            if entry.claim == claim:
                return entry.holds
        raise KeyError(f"no claim {claim!r} in {self.info.id}; its claims are "
                       f"{', '.join(c.claim for c in self.claims)}.")


def _resolve(ids: str | Sequence[str]) -> tuple[ExperimentInfo, ...]:
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, Sequence) or not ids or not all(isinstance(i, str) for i in ids):
        raise ReplensError(f"id must be an experiment id, 'all', or a non-empty list of ids; got "
                           f"{ids!r}. `replens reproduce --list` names them.")
    if "all" in ids:
        return EXPERIMENTS
    return tuple(experiment_info(experiment_id) for experiment_id in dict.fromkeys(ids))


def run(
    id: str | Sequence[str],
    out: str | Path | None = None,
    *,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
) -> ExperimentResult | tuple[ExperimentResult, ...]:
    """Run one experiment, several, or ``"all"``; write their files when `out` is given.

    Parameters
    ----------
    id : str or sequence of str
        An id of :func:`~replens.reproduce.experiments`, ``"all"``, or a list of ids.
    out : str or path, optional
        Folder for ``ID/claims.csv`` (columns ``claim, statement, paper, ours, holds,
        note``), ``ID/<figure>.png``, ``ID/<table>.csv``, ``ID/settings.json`` and
        ``report.html`` (every experiment found in `out`, this run's and earlier ones').
        None writes nothing (the figures stay in the returned outcomes).
    quick : bool, default False
        Smaller models and fewer seeds (at most ~30 s per experiment on one core); the
        claims' directions are still checked.
    log : callable, optional
        Called with one progress line per step; None is silent.

    Returns
    -------
    ExperimentResult for one id; a tuple of them for ``"all"`` or a list.

    Raises
    ------
    UnknownOptionError
        An id is unknown (the message lists the valid ones); checked before anything runs.
    """
    infos = _resolve(id)
    if not isinstance(quick, bool):
        raise ReplensError(f"quick must be True or False; got {quick!r}.")
    log = log or (lambda message: None)
    directory = None if out is None else Path(out)
    results = tuple(_run_one(info, directory, quick=quick, log=log) for info in infos)
    if directory is not None:
        path = write_index_report(directory)
        log(f"wrote {path}")
    return results[0] if isinstance(id, str) and id != "all" else results


def _run_one(info: ExperimentInfo, out: Path | None, *, quick: bool, log: Callable[[str], None]
             ) -> ExperimentResult:
    import torch
    from threadpoolctl import threadpool_limits

    module = importlib.import_module(f"{__package__}.{info.module}")
    log(f"{info.id}: {info.claim} ({'quick' if quick else f'about {info.minutes:g} min'})")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        with threadpool_limits(limits=1):
            outcome = module.run(quick=quick, log=lambda message: log(f"  {message}"))
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - started
    # one thread: CPU time is the time on one core, even when other jobs share the machine
    cpu_seconds = time.process_time() - cpu_started
    settings = {"experiment": info.id, "paper": info.paper, "section": info.section,
                "entry": info.entry, "quick": quick, "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu_seconds, 2),
                "threads": 1, "versions": package_versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **dict(outcome.settings)}
    files: list[Path] = []
    directory = None
    if out is not None:
        directory = out / info.id
        files = _write_experiment(directory, outcome, settings)
    _close_figures(outcome)
    for claim in outcome.claims:
        log(f"  {claim.claim}: holds {claim.holds} (ours {claim.ours}; paper {claim.paper})")
    log(f"{info.id}: done in {seconds:.1f} s ({cpu_seconds:.1f} s of CPU)")
    return ExperimentResult(info=info, claims=tuple(outcome.claims), settings=settings, seconds=seconds,
                            directory=directory, files=tuple(files), outcome=outcome)


def _close_figures(outcome: Outcome) -> None:
    """Release pyplot's hold on the figures (analyses' ``.plot()`` may draw through pyplot)."""
    import matplotlib.pyplot as plt

    for _, _, figure in outcome.figures:
        plt.close(figure)


def figure_png(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes at 150 dpi, white background, no timestamp."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, facecolor="white", bbox_inches="tight",
                   metadata={"Software": None})
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path


def _write_experiment(directory: Path, outcome: Outcome, settings: dict[str, Any]) -> list[Path]:
    import pandas as pd

    directory.mkdir(parents=True, exist_ok=True)
    claims = pd.DataFrame([claim.as_row() for claim in outcome.claims], columns=list(CLAIM_COLUMNS))
    with atomic_path(directory / "claims.csv") as temporary:
        claims.to_csv(temporary, index=False)
    files = [directory / "claims.csv"]
    settings["figures"] = []
    for stem, caption, figure in outcome.figures:
        files.append(_write_bytes(directory / f"{stem}.png", figure_png(figure)))
        settings["figures"].append({"file": f"{stem}.png", "caption": caption})
    settings["tables"] = []
    for stem, caption, frame in outcome.tables:
        with atomic_path(directory / f"{stem}.csv") as temporary:
            frame.to_csv(temporary, index=False)
        files.append(directory / f"{stem}.csv")
        settings["tables"].append({"file": f"{stem}.csv", "caption": caption})
    text = json.dumps(settings, indent=2, default=str)
    files.append(_write_bytes(directory / "settings.json", text.encode("utf-8")))
    return files


def write_index_report(out: str | Path) -> Path:
    """Write ``out/report.html``: every experiment found in `out`, the paper's number beside ours.

    An experiment is found when ``out/ID/claims.csv`` and ``out/ID/settings.json`` exist for
    an id of :func:`~replens.reproduce.experiments`; experiments are shown in catalogue
    order. The page has one table of every claim (experiment, claim, paper, ours, holds),
    then per experiment its claims with notes, its tables and figures, and its settings in
    the manifest. Returns the report's path.
    """
    import pandas as pd

    out = Path(out)
    found = [info for info in EXPERIMENTS
             if (out / info.id / "claims.csv").is_file() and (out / info.id / "settings.json").is_file()]
    if not found:
        raise ReplensError(f"no experiment results in {str(out)!r} (no ID/claims.csv with "
                           f"ID/settings.json); run `replens reproduce ID --out {out}` first.")
    overview, tables, images, manifest, summary = [], [], [], {}, []
    for info in found:
        folder = out / info.id
        claims = pd.read_csv(folder / "claims.csv", dtype=str, keep_default_na=False)
        settings = json.loads((folder / "settings.json").read_text(encoding="utf-8"))
        counts = claims.holds.value_counts()
        mode = "quick" if settings.get("quick") else "full"
        summary.append(f"{info.id} ({info.paper}, {info.section}; {mode}, {settings.get('seconds')} s, "
                       f"{settings.get('cpu_seconds')} s of CPU): "
                       + ", ".join(f"{int(counts.get(h, 0))} {h}" for h in ("yes", "partly", "no")))
        for row in claims.itertuples(index=False):
            overview.append({"experiment": info.id, "claim": row.claim, "paper": row.paper,
                             "ours": row.ours, "holds": row.holds})
        tables.append((f"{info.id}: {info.claim}", claims))
        for entry in settings.get("tables", []):
            if (folder / entry["file"]).is_file():
                tables.append((f"{info.id}: {entry['caption']}", pd.read_csv(folder / entry["file"])))
        for entry in settings.get("figures", []):
            if (folder / entry["file"]).is_file():
                images.append((f"{info.id}: {entry['caption']}", (folder / entry["file"]).read_bytes()))
        manifest[info.id] = settings
    tables.insert(0, ("Every claim: the paper's number beside ours", pd.DataFrame(overview)))
    return write_report(out / REPORT_NAME, title="replens reproduce: the papers' claims in miniature",
                        summary_lines=summary, tables=tables, manifest=manifest, images=images)
