"""``replens extract``: run a model over inputs and store chosen layers in an activation cache."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..activations import DEFAULT_BATCH_SIZE, ActivationCache, extract_hf_to_cache, extract_to_cache
from ..activations.cache import check_replaceable
from ..activations.specs import (check_data_for_model, check_device, load_data, load_model, load_tokenizer,
                                 move_model, parse_model_spec)
from ..errors import UnknownOptionError
from ._app import USER_ERRORS, log


@click.command("extract")
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
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULT_BATCH_SIZE,
              show_default=True, help="Examples per forward pass.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Examples per chunk written to the cache: memory is bounded by it, and an interrupted "
                   "run resumes at the first chunk not written.")
@click.option("--device", default="cpu", show_default=True,
              help="Where the model runs: cpu, cuda, cuda:N, mps. Activations are stored on the host.")
@click.option("--graph-nodes", is_flag=True,
              help="Capture torch.fx graph nodes (residual additions, torch.flatten ...) instead of module "
                   "outputs; not for hf: models.")
@click.option("--overwrite", is_flag=True,
              help="Replace a cache made otherwise (or an earlier replens output) instead of failing; a folder "
                   "replens did not write is never replaced.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.pass_context
def extract_command(ctx: click.Context, model_spec: str, data_spec: str, out: Path, layers: Sequence[str],
                    weights: Path | None, pool: str | None, dtype: str, batch_size: int, chunk_size: int,
                    device: str, graph_nodes: bool, overwrite: bool, progress: bool | None) -> None:
    """Run MODEL over DATA and store the chosen layers' activations in the cache folder --out.

    \b
    MODEL: torchvision:NAME (random weights unless --weights), hf:PATH (a local
           transformers folder, read offline) or module.path:factory (factory()
           returns a torch.nn.Module).
    DATA:  FILE.npy, FILE.npz or FILE.npz:KEY (inputs, examples on the first axis),
           FILE.txt (one sentence per line, for hf: models) or module.path:factory
           (an array, a tensor or a map-style dataset).

    Chunks are written as they are computed: interrupt it and run the same command again
    to resume. The cache's manifest records the model's fingerprint (its class and a hash of
    every parameter and buffer, so --weights included), the inputs' hash, --layers, --pool,
    --dtype and --graph-nodes; a cache made with the same is resumed (or left as it is when
    complete), one made otherwise is an error naming what differs, unless --overwrite. One
    writer at a time: a second run on the same --out is refused while the first runs.
    Prints the cache folder on stdout, for `replens compare`.

    The current folder is searched for a module.path:factory's module, after the installed
    packages and only while that module is imported and its factory runs.
    """
    started = time.perf_counter()
    spec = parse_model_spec(model_spec)
    pool = _extract_pool(pool, spec.kind)
    if graph_nodes and spec.kind == "hf":
        raise UnknownOptionError("--graph-nodes traces a module's torch.fx graph; hf: models give hidden states "
                                 "instead. Leave out --graph-nodes, or pass a module.path:factory model.")
    check_device(device)
    if out.exists() and overwrite:
        check_replaceable(out, "--overwrite")  # before any work: never a folder replens did not write
    if weights is not None and not weights.is_file():
        raise FileNotFoundError(2, "no such weights file", str(weights))
    here = os.getcwd()
    data = load_data(data_spec, search_path=here)
    check_data_for_model(data, spec)
    try:
        model = move_model(load_model(spec, weights, search_path=here), device)
        if spec.kind == "torchvision" and weights is None:
            log(f"note: {spec} has random weights; pass --weights FILE for trained ones")
        state = _existing_state(out, overwrite)
        cache = _run_extraction(spec, model, data, out, layers=layers, pool=pool, dtype=dtype,
                                batch_size=batch_size, chunk_size=chunk_size, progress=progress,
                                overwrite=overwrite, graph_nodes=graph_nodes)
    except KeyboardInterrupt:
        log(f"interrupted; {_written_rows(out)} run the same command again to resume.")
        ctx.exit(130)
    if state:
        log(state)
    click.echo(str(out))
    for line in _cache_summary(cache):
        log(line)
    log(f"done in {time.perf_counter() - started:.1f} s")


def _extract_pool(pool: str | None, kind: str) -> str | None:
    if pool is None:
        return "mean" if kind == "hf" else None
    if pool in ("cls", "last") and kind != "hf":
        raise UnknownOptionError(f"--pool {pool} picks a token, so it applies to hf: models only; use --pool "
                                 f"mean (conv maps averaged over space) or none.")
    return None if pool == "none" else pool


def _existing_state(out: Path, overwrite: bool) -> str:
    """What the run will do with the cache already at --out, said once the run succeeded.

    Opening it first gives a one-line error when --out is not a cache; whether it was made
    the same way is checked by the extraction itself, field by field.
    """
    if overwrite or not out.exists():
        return ""
    cache = ActivationCache.open(out, allow_incomplete=True)
    if cache.is_complete:
        return f"{out} is complete already: nothing to extract (same model, inputs and options)"
    return f"resuming {out} at example {cache.resume_from} of {cache.n_examples}"


def _run_extraction(spec: Any, model: Any, data: Any, out: Path, *, layers: Sequence[str], graph_nodes: bool,
                    **options: Any) -> Any:
    if spec.kind != "hf":
        return extract_to_cache(model, data, out, layers=list(layers) or None, graph_nodes=graph_nodes, **options)
    texts = isinstance(data, list) and all(isinstance(item, str) for item in data)
    positions = [int(item) if item.lstrip("-").isdigit() else item for item in layers]
    return extract_hf_to_cache(model, data, out, tokenizer=load_tokenizer(spec) if texts else None,
                               layers=positions or None, **options)


def _written_rows(out: Path) -> str:
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
