"""``replens verify``: check an activation file or cache against the checksums written with it."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("verify")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path))
def verify_command(paths: tuple[Path, ...]) -> None:
    """Check activation files and caches against the checksums written with them.

    Reads every layer of each PATH (an .npz, .safetensors, .h5 or .pt file, or a cache
    folder) and verifies:

    \b
    caches:             the manifest's own checksum, every layer file's header,
                        and every chunk's CRC-32;
    .npz, .pt:          the zip CRC-32 of every entry (record);
    .safetensors, .h5:  the CRC-32 of every layer in the replens metadata.

    Files that record no checksum (written by other tools) are read whole, which checks
    their structure, and said to be unverified.

    Prints one line per PATH; the first damaged one is an error naming the file and the
    layer (and chunk), with exit status 2.
    """
    from ..activations.files import verify_activations

    for path in paths:
        if not path.exists():
            raise FileNotFoundError(2, "no such activation file or folder", str(path))
        result = verify_activations(path)
        what = f"{result.layers} layers, {result.n_examples} examples"
        if result.checked:
            click.echo(f"{path}: ok ({what}; {result.checked} checksums verified, {result.method})")
        else:
            click.echo(f"{path}: readable, but unverified ({what}; the file records no checksums: written by "
                       f"another tool or an older replens)")
