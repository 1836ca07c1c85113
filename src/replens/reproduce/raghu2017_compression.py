"""S12: compressing a network by SVCCA projection of its top layers (Raghu et al. 2017, sec. 4.4,
Fig. App.5).

``W x`` becomes ``(W P^T)(P x)``, P a k x p projection onto the top SVCCA directions, for
the top layers one after another (:func:`~replens.analyses.compress`). Our miniature
(claims.md S12, fixed before the first run): the digits MLPs of S02 (64-256-256-256-10,
seeds 0 and 1, Adam 1e-3, 30 epochs; quick: width 128, 15 epochs), all three hidden layers
compressed in order at fractions 0.35, 0.2 and 0.1, directions against the network's logits
or against the second network's same layer, fit on the training images. CCA against 10
logits gives at most 10 directions; the rest are the top principal directions of what those
leave unexplained (the paper does not say; our rule).

Criterion (claims.md S12): at 0.35 train and test accuracy fall by <= 1 point with both
references; at 0.1 the logits reference is >= the peer reference (test accuracy).
"""

from __future__ import annotations

from collections.abc import Callable

from ..analyses import compress
from .claims import Claim, Outcome
from .raghu2017_intrinsic_dimension import FULL as S02_FULL
from .raghu2017_intrinsic_dimension import QUICK as S02_QUICK
from .raghu2017_intrinsic_dimension import trained_pair

__all__ = ["run"]

LAYERS = ["relu1", "relu2", "relu3"]
FRACTIONS = [0.35, 0.2, 0.1]


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Compress the two MLPs' top layers; score S12's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = {key: value for key, value in (S02_QUICK if quick else S02_FULL).items()
                if key in ("units", "epochs", "optimizer", "lr", "seeds")}
    (net, peer), data = trained_pair(settings, log)
    tables = []
    for fraction in FRACTIONS:
        for reference in ("logits", "peer"):
            result = compress(net, LAYERS, fraction, reference=reference, data=data,
                              peer=peer if reference == "peer" else None)
            tables.append(result.table.assign(reference=reference))
            original = result.table.attrs
    table = pd.concat(tables, ignore_index=True)
    log(table.to_string(index=False))
    last = table[table.layer == LAYERS[-1]].set_index(["fraction", "reference"])
    drops = {(f, r): (original["train_accuracy"] - last.loc[(f, r), "train_accuracy"],
                      original["test_accuracy"] - last.loc[(f, r), "test_accuracy"])
             for f in FRACTIONS for r in ("logits", "peer")}
    small_loss = all(max(drops[(0.35, r)]) <= 0.01 for r in ("logits", "peer"))
    logits_better = last.loc[(0.1, "logits"), "test_accuracy"] >= last.loc[(0.1, "peer"), "test_accuracy"]
    claims = [
        Claim(claim="S12.compress_035", statement="pool1, fc1, bn3, fc2 and bn4 all being compressed to 0.35 of their "
                                                  "original size ... hardly affect[s] performance",
              paper="0.35 (Fig. App.5, CIFAR-10 convnet)",
              ours=f"original train/test {original['train_accuracy']:.3f}/{original['test_accuracy']:.3f}; all three "
                   "layers at " + "; ".join(
                       f"{f:g} ({r}): {last.loc[(f, r), 'train_accuracy']:.3f}/{last.loc[(f, r), 'test_accuracy']:.3f}"
                       for f in FRACTIONS for r in ("logits", "peer")),
              holds="yes" if small_loss else "no",
              note="criterion (claims.md S12): at 0.35 train and test accuracy fall by <= 1 point with both references "
                   "(all three hidden layers compressed in order)."),
        Claim(claim="S12.logits_better", statement="using the logits provides better results",
              paper="Fig. App.5",
              ours=f"at 0.1: test accuracy logits {last.loc[(0.1, 'logits'), 'test_accuracy']:.3f}, peer "
                   f"{last.loc[(0.1, 'peer'), 'test_accuracy']:.3f}",
              holds="yes" if logits_better else "no",
              note="criterion: logits reference >= peer reference at fraction 0.1. With 10 classes the logits give "
                   "only 10 canonical directions; the rest are residual principal directions (our rule)."),
    ]
    figure = Figure(figsize=(6.0, 4.0))
    ax = figure.add_subplot(1, 1, 1)
    for reference, marker in (("logits", "o"), ("peer", "s")):
        part = table[(table.layer == LAYERS[-1]) & (table.reference == reference)]
        ax.plot(part.fraction, part.test_accuracy, marker=marker, label=f"test, {reference}")
        ax.plot(part.fraction, part.train_accuracy, marker=marker, ls=":", label=f"train, {reference}")
    ax.axhline(original["test_accuracy"], color="grey", lw=0.8)
    ax.axhline(original["train_accuracy"], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("fraction of each layer's width kept")
    ax.set_ylabel("accuracy after compressing relu1-relu3")
    ax.legend(fontsize=7)
    figure.tight_layout()
    settings.update({"dataset": "digits", "layers": LAYERS, "fractions": FRACTIONS,
                     "rest_of_directions": "residual principal directions after the canonical ones",
                     "original": dict(original)})
    return Outcome(claims=tuple(claims), figures=(("compression", "accuracy after compressing the three hidden layers",
                                                   figure),),
                   tables=(("compression", "per layer, fraction and reference", table),), settings=settings)
