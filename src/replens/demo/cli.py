"""``python -m replens.demo``: train two MLPs on digits from different seeds and compare them.

Results go to stdout; progress and timings go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

__all__ = ["build_parser", "main", "run"]


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 64,64,48,32, got {text!r}")
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"expected one or more positive widths, got {text!r}")
    return widths


def _number(text: str, cast: type, valid, expected: str):
    """`text` parsed by `cast` and accepted by `valid`, else an argparse error naming `expected`."""
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0.0 < v < float("inf"), "a positive number")


def _threshold(text: str) -> float:
    return _number(text, float, lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")


def _fraction(text: str) -> float:
    return _number(text, float, lambda v: 0.0 < v < 1.0, "a number strictly between 0 and 1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m replens.demo",
        description=(
            "Train two MLPs of the same architecture from different seeds on scikit-learn's "
            "bundled digits (no download), then compare their hidden layers on held-out "
            "digits with replens: a layer-by-layer linear CKA table and every measure for "
            "the last hidden layers. Results go to stdout, progress to stderr."
        ),
    )
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of network A; network B uses SEED+1 (default: %(default)s)")
    parser.add_argument("--epochs", type=_positive_int, default=20,
                        help="training epochs of Adam per network (default: %(default)s)")
    parser.add_argument("--hidden-widths", "--hidden-width", dest="hidden_widths", type=_widths,
                        default=(64, 64, 48, 32), metavar="W1,W2,...",
                        help="widths of the hidden ReLU layers, comma-separated "
                             "(default: 64,64,48,32)")
    parser.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--batch-size", type=_positive_int, default=32,
                        help="mini-batch size (default: %(default)s)")
    parser.add_argument("--test-fraction", type=_fraction, default=1 / 3,
                        help="fraction of the 1797 digits held out for accuracy and "
                             "comparison (default: 1/3)")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="seed of the train/held-out split (default: %(default)s)")
    parser.add_argument("--rbf-bandwidth", type=_positive_float, default=0.5,
                        help="RBF CKA bandwidth, as a fraction of sqrt(median squared "
                             "distance) (default: %(default)s)")
    parser.add_argument("--svcca-threshold", type=_threshold, default=0.99,
                        help="fraction of variance SVCCA keeps (default: %(default)s)")
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="torch CPU threads; 1 makes runs reproducible (default: %(default)s)")
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help="also save the linear CKA heatmap to this PNG file (needs matplotlib)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def run(args: argparse.Namespace, out=None, err=None) -> int:
    """Do the work of ``main`` for parsed arguments; write results to ``out``."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=err, flush=True)

    from ..errors import ReplensError

    try:
        import torch

        from .compare import cka_matrix, format_matrix, format_measures, pair_measures
        from .digits import load_digits_split
        from .mlp import hidden_activations, train_mlp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        print(f"replens.demo needs torch and scikit-learn ({exc}); "
              "install them with: pip install 'replens[demo]'", file=err)
        return 2

    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    split = load_digits_split(test_fraction=args.test_fraction, split_seed=args.split_seed)
    n_test = split.x_test.shape[0]
    log(f"digits: {split.x_train.shape[0]} training, {n_test} held-out examples")

    nets = {}
    for tag, seed in (("A", args.seed), ("B", args.seed + 1)):
        t = time.perf_counter()
        nets[tag] = train_mlp(split, seed=seed, hidden_widths=args.hidden_widths, epochs=args.epochs,
                              lr=args.lr, batch_size=args.batch_size)
        log(f"trained net {tag} (seed {seed}) in {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    acts = {tag: hidden_activations(net.model, split.x_test) for tag, net in nets.items()}
    try:
        matrix = cka_matrix(acts["A"], acts["B"])
        x_last, y_last = acts["A"][-1][1], acts["B"][-1][1]
        measures = pair_measures(x_last, y_last, name_x="A", name_y="B",
                                 rbf_bandwidth=args.rbf_bandwidth, svcca_threshold=args.svcca_threshold)
    except ReplensError as exc:  # e.g. every unit of a layer died (constant activations)
        print(f"replens.demo: could not compare the networks: {type(exc).__name__}: {exc}", file=err)
        return 1
    log(f"computed similarities in {time.perf_counter() - t:.2f} s")

    arch = " -> ".join(str(w) for w in (split.n_features, *args.hidden_widths, split.n_classes))
    print(f"Two ReLU MLPs {arch}, {args.epochs} epoch{'' if args.epochs == 1 else 's'} of Adam on sklearn digits; "
          f"compared on {n_test} held-out digits.", file=out)
    print("", file=out)
    print("Held-out accuracy", file=out)
    for tag, net in nets.items():
        print(f"  net {tag} (seed {net.seed}): {net.accuracy:.4f}", file=out)
    print("", file=out)
    print("Linear CKA between hidden layers (rows: net A, columns: net B)", file=out)
    rows = [f"A.{name} ({a.shape[1]})" for name, a in acts["A"]]
    cols = [f"B.{name} ({a.shape[1]})" for name, a in acts["B"]]
    print(format_matrix(matrix, rows, cols), file=out)
    print("", file=out)
    last_a, last_b = acts["A"][-1][0], acts["B"][-1][0]
    print(f"Every measure between the last hidden layers, A = A.{last_a}, B = B.{last_b}", file=out)
    print(format_measures(measures), file=out)
    out.flush()

    if args.plot:
        _save_heatmap(acts, args.plot)
        log(f"saved the heatmap to {args.plot}")

    bad = [m for m in measures if not m.in_bounds()]
    for m in bad:
        log(f"warning: {m.key} = {m.value!r} lies outside [{m.low}, {m.high}]")
    log(f"total {time.perf_counter() - t0:.2f} s")
    return 0


def _save_heatmap(acts: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import replens as rl

    matrix = rl.compare([(f"A.{name}", a) for name, a in acts["A"]],
                        [(f"B.{name}", b) for name, b in acts["B"]], "linear_cka", progress=False)
    fig, _ = matrix.plot("linear_cka")
    fig.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m replens.demo``; returns the process exit status."""
    args = build_parser().parse_args(argv)
    return run(args)
