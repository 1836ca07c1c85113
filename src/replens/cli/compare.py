"""``replens compare``: every layer of one activation file against every layer of another."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .._io import file_sha256, package_versions, require_packages, special_file_kind
from ..errors import ReplensError
from ._app import log
from ._measure_spec import parse_measure_spec


@click.command("compare")
@click.argument("activations_a", type=click.Path(path_type=Path))
@click.argument("activations_b", type=click.Path(path_type=Path), required=False)
@click.option("--measure", "-m", "measure_specs", multiple=True, default=("linear_cka",), show_default=True,
              metavar="SPEC",
              help="Measure to compute (repeatable): NAME, NAME:option=value,... (e.g. "
                   "rbf_cka:bandwidth=0.5; values are ints, floats, true/false, none or text) or "
                   "package.module:function (a function f(X, Y) -> float or a replens.measure). "
                   "`replens measures` lists the names and their options.")
@click.option("--conv", default="flatten", show_default=True,
              help="4-D layers: flatten, spatial_as_examples, mean_pool or dft.")
@click.option("--layout", default="NCHW", show_default=True, help="Axis order of 4-D layers: NCHW or NHWC.")
@click.option("--sequence", default="flatten", show_default=True,
              help="3-D layers: flatten, time_as_examples, mean or last.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the matrices, CSV, heatmaps, manifest and report.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.option("--permutations", "n_permutations", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Permutation test of every entry with N permutations; p-values corrected over each "
                   "measure's grid (--correction).")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Bootstrap confidence intervals and standard errors from N resamples (BCa).")
@click.option("--jackknife", is_flag=True, help="Jackknife standard errors (and intervals without --bootstrap).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the permutations and resamples.")
@click.option("--groups", "groups_path", type=click.Path(path_type=Path), default=None, metavar="FILE.npy",
              help="One integer label per example (e.g. the image of each augmented copy): whole groups are "
                   "permuted, resampled and left out.")
@click.option("--groups-mode", type=click.Choice(["between", "within"]), default="between", show_default=True,
              help="With --groups: exchange whole groups, or shuffle examples only within groups.")
@click.option("--correction", type=click.Choice(["maxT", "holm", "none"]), default="maxT", show_default=True,
              help="Family-wise correction of the p-values over each measure's grid.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True, help="Level of the intervals.")
def compare_command(activations_a: Path, activations_b: Path | None, measure_specs: Sequence[str], conv: str,
                    layout: str, sequence: str, out_dir: Path, report: bool, progress: bool | None,
                    n_permutations: int, n_resamples: int, jackknife: bool, seed: int, groups_path: Path | None,
                    groups_mode: str, correction: str, confidence: float) -> None:
    """Compare every layer of ACTIVATIONS_A with every layer of ACTIVATIONS_B (or with itself).

    Inputs are activation files (.npz, .safetensors, .h5) or activation-cache folders.
    The CSV's measure column, the heatmaps and the report name each measure by its label,
    e.g. rbf_cka(bandwidth=0.5); manifest.json records each one's name, label and options.
    With --permutations, --bootstrap or --jackknife the CSV gains the columns pvalue,
    pvalue_corrected, ci_low, ci_high and se, heatmaps hatch the entries that are not
    significant after correction, and the report says which null and correction were used.
    """
    from ..activations.files import load_activations
    from ..engine.compare import check_compare_options, compare
    from ..report import write_outputs
    from ..report.bundle import check_output_folder
    from ..stats import compare as stats_compare

    check_output_folder(out_dir)  # before any work: a file, a foreign folder or a cache is refused

    measures = check_compare_options([parse_measure_spec(spec) for spec in measure_specs], conv, layout,
                                     sequence)
    # The heatmaps and report come last: a missing matplotlib is said now, before any work.
    require_packages(["matplotlib"], "plot", "replens compare (its heatmaps and report.html)")
    with_statistics = bool(n_permutations or n_resamples or jackknife)
    if n_resamples == 1:
        raise click.BadParameter("must be 0 (no bootstrap) or at least 2 resamples; got 1.", param_hint="'--bootstrap'")
    started = time.perf_counter()
    inputs = [activations_a] + ([activations_b] if activations_b is not None else [])
    for path in inputs + ([groups_path] if groups_path is not None else []):
        if not path.exists():
            raise FileNotFoundError(2, "no such activation file or folder" if path != groups_path
                                    else "no such groups file", str(path))
    groups = None if groups_path is None else _load_groups(groups_path)
    layers = [load_activations(path) for path in inputs]
    log(f"loaded {', '.join(f'{p} ({len(l)} layers)' for p, l in zip(inputs, layers))}")
    other = layers[1] if activations_b is not None else None
    if with_statistics:
        matrix = stats_compare(layers[0], other, measures, n_permutations=n_permutations, n_resamples=n_resamples,
                               jackknife=jackknife, seed=seed, groups=groups, groups_mode=groups_mode,
                               correction=None if correction == "none" else correction, confidence=confidence,
                               conv=conv, layout=layout, sequence=sequence)
    else:
        matrix = compare(layers[0], other, measures, conv=conv, layout=layout, sequence=sequence, progress=progress)
    matrix = dataclasses.replace(matrix, attrs={**matrix.attrs, "name_a": activations_a.name,
                                                "name_b": (activations_b or activations_a).name})
    options = {"measures": list(matrix.measures), "conv": conv, "layout": layout, "sequence": sequence}
    summary: list[str] = []
    if with_statistics:
        statistics = matrix.attrs["statistics"]
        options["statistics"] = {**statistics, "groups_file": None if groups_path is None else str(groups_path)}
        summary = [f"{len(matrix.layers_a)} x {len(matrix.layers_b)} layers, measures: {', '.join(matrix.measures)}; "
                   f"{matrix.attrs.get('n_examples', '?')} examples; conv={conv}, layout={layout}, "
                   f"sequence={sequence}", *_statistics_lines(statistics)]
    manifest = {
        "inputs": {str(p): {"sha256": file_sha256(p)} for p in inputs + ([groups_path] if groups_path else [])},
        "measures": [{"name": m.name, "label": m.label, "options": m.options} for m in measures],
        "options": options,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for path in write_outputs(matrix, out_dir, manifest, report=report, summary=summary):
        click.echo(str(path))
    log(f"done in {time.perf_counter() - started:.1f} s")


def _statistics_lines(statistics: dict) -> list[str]:
    """What the report says about the null, the correction and the intervals."""
    lines = []
    if statistics["n_permutations"]:
        correction = {"maxT": "Westfall-Young maxT over each measure's grid (family-wise error rate)",
                      "holm": "Holm's step-down over each measure's grid (family-wise error rate)",
                      None: "none"}[statistics["correction"]]
        lines.append(f"null: {statistics['null']}, seed {statistics['seed']}; p = (1 + #{{null >= value}}) / "
                     f"(1 + N); correction: {correction}; heatmaps hatch entries with "
                     f"{'corrected ' if statistics['correction'] else ''}p > 0.05")
    if statistics["interval"]:
        lines.append(f"intervals: {statistics['interval']} at {statistics['confidence']:g}"
                     + (f" from {statistics['n_resamples']} resamples" if statistics["n_resamples"] else "")
                     + ("; standard errors: jackknife" if statistics["jackknife"] else
                        "; standard errors: bootstrap" if statistics["n_resamples"] else ""))
    if statistics["groups"]:
        lines.append(f"groups: {statistics['groups']} (whole groups left out and resampled)")
    lines.append("a p-value says whether similarity exceeds chance, not whether two networks compute the same thing")
    return lines


def _load_groups(path: Path) -> Any:
    """The --groups labels: a regular .npy file (a FIFO or device would block the run)."""
    import numpy as np

    special = special_file_kind(path)
    if special is not None:
        raise ReplensError(f"--groups {str(path)!r} is {special}, not a regular file; reading it would block "
                           f"or never end. Pass a .npy file of one integer label per example.")
    return np.load(path, allow_pickle=False)
