"""``replens compare``: every layer of one activation file against every layer of another."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path

import click

from .._io import file_sha256, package_versions
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
def compare_command(activations_a: Path, activations_b: Path | None, measure_specs: Sequence[str], conv: str,
                    layout: str, sequence: str, out_dir: Path, report: bool, progress: bool | None) -> None:
    """Compare every layer of ACTIVATIONS_A with every layer of ACTIVATIONS_B (or with itself).

    Inputs are activation files (.npz, .safetensors, .h5) or activation-cache folders.
    The CSV's measure column, the heatmaps and the report name each measure by its label,
    e.g. rbf_cka(bandwidth=0.5); manifest.json records each one's name, label and options.
    """
    from ..activations.files import load_activations
    from ..engine.compare import check_compare_options, compare
    from ..report import write_outputs

    measures = check_compare_options([parse_measure_spec(spec) for spec in measure_specs], conv, layout,
                                     sequence)
    started = time.perf_counter()
    inputs = [activations_a] + ([activations_b] if activations_b is not None else [])
    for path in inputs:
        if not path.exists():
            raise FileNotFoundError(2, "no such activation file or folder", str(path))
    layers = [load_activations(path) for path in inputs]
    log(f"loaded {', '.join(f'{p} ({len(l)} layers)' for p, l in zip(inputs, layers))}")
    matrix = compare(layers[0], layers[1] if activations_b is not None else None, measures,
                     conv=conv, layout=layout, sequence=sequence, progress=progress)
    matrix = dataclasses.replace(matrix, attrs={**matrix.attrs, "name_a": activations_a.name,
                                                "name_b": (activations_b or activations_a).name})
    manifest = {
        "inputs": {str(p): {"sha256": file_sha256(p)} for p in inputs},
        "measures": [{"name": m.name, "label": m.label, "options": m.options} for m in measures],
        "options": {"measures": list(matrix.measures), "conv": conv, "layout": layout, "sequence": sequence},
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for path in write_outputs(matrix, out_dir, manifest, report=report):
        click.echo(str(path))
    log(f"done in {time.perf_counter() - started:.1f} s")
