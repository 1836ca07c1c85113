"""``replens extract``: run a model over inputs and store chosen layers in an activation cache."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .._io import file_sha256
from ..activations import DEFAULT_BATCH_SIZE, ActivationCache, extract_hf_to_cache, extract_to_cache
from ..activations.pipeline import fingerprint
from ..activations.specs import (check_data_for_model, check_device, load_data, load_model, load_tokenizer,
                                 move_model, parse_model_spec)
from ..errors import ReplensError, UnknownOptionError
from ._app import USER_ERRORS, log, search_current_directory


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
    started = time.perf_counter()
    spec = parse_model_spec(model_spec)
    pool = _extract_pool(pool, spec.kind)
    check_device(device)
    search_current_directory()
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
                log(f"note: {spec} has random weights; pass --weights FILE for trained ones")
            cache = _run_extraction(spec, model, data, out, layers=layers, pool=pool, dtype=dtype,
                                    batch_size=batch_size, chunk_size=chunk_size, progress=progress,
                                    inputs_hash=inputs_hash, overwrite=overwrite)
    except KeyboardInterrupt:
        log(f"interrupted; {_written_rows(out)} run the same command again to resume.")
        ctx.exit(130)
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


def _extract_fingerprint(data: Any, model: str, weights: Path | None, options: dict[str, Any]) -> str:
    """One fingerprint of everything that decides a cache's content: data, model, weights, options."""
    record = {"data": fingerprint(data), "model": model,
              "weights": file_sha256(weights) if weights is not None else None, **options}
    return "sha256:" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _check_existing_cache(out: Path, inputs_hash: str, overwrite: bool) -> Any:
    """The cache at --out if it is complete; None if there is work to do (said on stderr).

    A cache made with other inputs or options is refused unless `overwrite`.
    """
    if overwrite or not out.exists():
        return None
    cache = ActivationCache.open(out, allow_incomplete=True)  # not a cache: a one-line error
    if cache.inputs_hash != inputs_hash:
        raise ReplensError(f"--out {out} holds a cache made with another MODEL, --weights, DATA, --layers, "
                           f"--pool or --dtype; pass --overwrite to replace it, or choose another --out.")
    if cache.is_complete:
        log(f"{out} is complete already: nothing to extract")
        return ActivationCache.open(out)
    log(f"resuming {out} at example {cache.resume_from} of {cache.n_examples}")
    return None


def _run_extraction(spec: Any, model: Any, data: Any, out: Path, *, layers: Sequence[str], **options: Any) -> Any:
    if spec.kind != "hf":
        return extract_to_cache(model, data, out, layers=list(layers) or None, **options)
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
