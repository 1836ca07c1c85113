"""K13: the shared subspace of two networks' GAP layers from the eigenvectors of their RSMs
(Kornblith et al. 2019, sec. 6.4, Fig. 8, eq. 14).

For the eigenvectors u_i of X X^T (network A), the paper plots lambda_i, ||Y Y^T u_i|| and
the cosine between u_i and Y Y^T u_i (network B): the actions agree for the large
eigenvectors, and in the GAP layer (64 units) the shared dimension is "approximately 10",
the number of classes. Our miniature (claims.md K13, the pilot's setting, fixed before the
first run): two CNNs of the zoo with channels (32, 64, 64) (a 64-unit GAP layer), seeds 0
and 1, on sklearn's digits, Adam at 1e-3 for 60 epochs (quick: channels (16, 32, 64), 10
epochs), :func:`~replens.analyses.rsm_eigen_action` of the GAP layers on the 599 test
images, cosine tolerance 0.7 (ours; the paper gives none).

Criterion (claims.md K13): the shared dimension is between 5 and 15 (well below 64), and the
mean cosine of eigenvectors 13-30 is below 0.5.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import rsm_eigen_action
from ..zoo import build, load, train
from ..zoo.layers import hidden_activations
from .claims import Claim, Outcome

__all__ = ["run", "trained_cnns"]

FULL = {"channels": [32, 64, 64], "epochs": 60, "optimizer": "adam", "lr": 1e-3, "seeds": [0, 1], "cos_tol": 0.7}
QUICK = {**FULL, "channels": [16, 32, 64], "epochs": 10}


def trained_cnns(settings: dict, log: Callable[[str], None]) -> tuple[list, tuple]:
    """The two digits CNNs of K13 and K02 (cached by the zoo), and the data."""
    data = load("digits", seed=0)
    nets = []
    for seed in settings["seeds"]:
        model = build("cnn", input_shape=(1, 8, 8), channels=tuple(settings["channels"]), seed=seed)
        trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                        seed=seed)
        log(f"seed {seed}: test accuracy {trained.test_accuracy:.4f}")
        nets.append(trained.model)
    return nets, data


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train two CNNs, compare their GAP layers' RSM eigen action; score K13's claims."""
    import pandas as pd
    import torch
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    nets, data = trained_cnns(settings, log)
    gap = [dict(hidden_activations(net, data[2], layer_types=(torch.nn.AdaptiveAvgPool2d,)))["gap"] for net in nets]
    action = rsm_eigen_action(gap[0], gap[1])
    shared = action.shared_dim(settings["cos_tol"])
    width = gap[0].shape[1]
    tail = action.cosine[12:30]
    table = pd.DataFrame({"eigenvector": np.arange(1, action.cosine.size + 1), "eigenvalue": action.eigenvalues,
                          "scale_by_y": action.scale_by_y, "cosine": action.cosine})
    log(table.head(20).to_string(index=False))
    in_range = 5 <= shared <= 15
    claims = [
        Claim(claim="K13.shared_dim", statement="the shared subspace of the GAP layer is approximately 10-dimensional, "
                                                "the number of classes", paper="approximately 10 of 64 (Fig. 8, Tiny-10)",
              ours=f"{shared} of {width} eigenvectors with cosine >= {settings['cos_tol']}; first 14 cosines "
                   + " ".join(f"{c:.2f}" for c in action.cosine[:14]),
              holds="yes" if in_range else "partly" if 0 < shared < width / 2 else "no",
              note=f"criterion (claims.md K13): 5 <= shared_dim <= 15 at cosine tolerance {settings['cos_tol']} "
                   "(ours; the paper gives none)." + ("" if in_range else
                                                      " Fewer shared dimensions: likely under-trained small networks "
                                                      "(claims.md's risk).")),
        Claim(claim="K13.small_not_shared", statement="the shared rank is substantially lower than the dimensionality",
              paper="Fig. 8", ours=f"mean cosine of eigenvectors 13-30: {float(np.mean(tail)):.2f}",
              holds="yes" if float(np.mean(tail)) < 0.5 else "no",
              note="criterion: mean cosine of eigenvectors 13-30 below 0.5."),
    ]
    figure = Figure(figsize=(10.0, 3.4))
    for index, (column, label) in enumerate((("eigenvalue", "lambda_i = ||K_A u_i||"),
                                             ("scale_by_y", "||K_B u_i||"), ("cosine", "cos(u_i, K_B u_i)"))):
        ax = figure.add_subplot(1, 3, index + 1)
        ax.plot(table.eigenvector[:40], table[column][:40], marker=".")
        if column == "cosine":
            ax.axhline(settings["cos_tol"], color="grey", ls="--", lw=0.8)
        else:
            ax.set_yscale("log")
        ax.set_xlabel("eigenvector i of A's RSM")
        ax.set_title(label, fontsize=9)
    figure.tight_layout()
    settings.update({"dataset": "digits", "layer": "gap", "probe": "the 599 test images", "shared_dim": shared})
    return Outcome(claims=tuple(claims), figures=(("eigen_action", "eigen action of B's RSM on A's eigenvectors",
                                                   figure),),
                   tables=(("eigen_action", "eigenvalues, scale and cosine per eigenvector", table),),
                   settings=settings)
