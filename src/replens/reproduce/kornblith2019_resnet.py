"""K09: the ResNet grid of the CKA paper (Kornblith et al. 2019, sec. 6.2, Fig. 4).

Linear CKA between the layers of a ResNet shows "no pathology"; "post-residual activations
are similar to other post-residual activations, but activations within blocks are not";
and layers of one block group (stage) are more alike than layers of different stages.
Miniature (claims.md K09): the zoo's batch-norm ResNet (``build("resnet")``, 3 stages of
16, 32 and 64 channels) trained on digits; post-residual layers are each block's output
ReLU (``relu2``), interior layers its first ReLU (``relu1``);
:func:`replens.analyses.block_contrast` measures both contrasts and
:func:`replens.analyses.fraction_similar_to_last` the pathology.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import block_contrast, fraction_similar_to_last
from ..engine.compare import compare
from ..zoo import build, layer_activations, load, train
from .claims import Claim, Outcome

__all__ = ["FULL", "QUICK", "TAU", "run"]

FULL = {"blocks_per_stage": 4, "epochs": 30, "optimizer": "adam", "lr": 1e-3, "seed": 0}
QUICK = {"blocks_per_stage": 2, "epochs": 6, "optimizer": "adam", "lr": 1e-3, "seed": 0}
TAU = 0.8
"""CKA to the last layer above which a layer counts as a near-copy (claims.md K08)."""


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train the ResNet, compare all its ReLU layers with linear CKA, and score K09's claims.

    Full: 4 blocks per stage (25 ReLU layers), 30 epochs of Adam; quick: 2 blocks per stage,
    6 epochs.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    data = load("digits", seed=0)
    model = build("resnet", batchnorm=True, input_shape=(1, 8, 8), channels=(16, 32, 64),
                  blocks_per_stage=settings["blocks_per_stage"], seed=settings["seed"])
    trained = train(model, data, epochs=settings["epochs"], optimizer=settings["optimizer"], lr=settings["lr"],
                    seed=settings["seed"])
    accuracy = float(trained.history.test_accuracy[-1])
    log(f"resnet: trained {settings['epochs']} epochs, test accuracy {accuracy:.3f}")
    trained.model.eval()
    layers = [(name, a) for name, a in layer_activations(trained.model, data[2]) if name != "stem_relu"]
    names = [name for name, _ in layers]
    post = [name for name in names if name.endswith("relu2")]
    interior = [name for name in names if name.endswith("relu1")]
    matrix = compare(layers, measures="linear_cka", conv="flatten", progress=False)
    kinds = block_contrast(matrix, {"post-residual": post, "interior": interior})
    stages = block_contrast(matrix, [name.split(".")[0] for name in names])
    post_matrix = compare([(n, a) for n, a in layers if n in post], measures="linear_cka", conv="flatten",
                          progress=False)
    near_copies = fraction_similar_to_last(post_matrix, tau=TAU)
    post_mean, interior_mean = kinds.within_by_group["post-residual"], kinds.within_by_group["interior"]
    claims = [
        Claim(claim="K09.post_residual_alike",
              statement="'post-residual activations are similar to other post-residual activations, but "
                        "activations within blocks are not'",
              paper="figure only (Fig. 4)",
              ours=f"mean CKA among post-residual layers {post_mean:.3f} vs among interior layers "
                   f"{interior_mean:.3f}; post vs interior {kinds.between:.3f}",
              holds="yes" if post_mean > interior_mean else "no",
              note="criterion: post-residual pairs have higher mean linear CKA than interior pairs (claims.md)."),
        Claim(claim="K09.stages",
              statement="layers in the same block group are more similar than layers in different groups",
              paper="figure only (Fig. 4)",
              ours=f"within-stage mean CKA {stages.within:.3f} vs between-stage {stages.between:.3f} "
                   f"(by stage: " + ", ".join(f"{k} {v:.3f}" for k, v in stages.within_by_group.items()) + ")",
              holds="yes" if stages.contrast > 0 else "no",
              note="criterion: within-stage > between-stage mean linear CKA over all ReLU layers (claims.md)."),
        Claim(claim="K09.no_pathology",
              statement="the ResNet shows 'no pathology': few layers are near-copies of the last one",
              paper="figure only (Fig. 4)",
              ours=f"fraction of post-residual layers with CKA to the last >= {TAU}: {near_copies:.2f} "
                   f"(of {len(post)})",
              holds="yes" if near_copies < 0.5 else "no",
              note="criterion: under half of the post-residual layers have CKA >= 0.8 to the last one (the "
                   "opposite of K08's 8x plain-CNN criterion)."),
    ]
    figure = Figure(figsize=(12, 4.4))
    for k, (title, chosen) in enumerate((("all ReLU layers", names), ("post-residual", post),
                                         ("block interior", interior))):
        ax = figure.add_subplot(1, 3, k + 1)
        index = [names.index(n) for n in chosen]
        ax.imshow(matrix["linear_cka"][np.ix_(index, index)], vmin=0, vmax=1, cmap="magma", origin="lower")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylabel("layer")
    figure.suptitle(f"K09: linear CKA in a digits ResNet ({settings['blocks_per_stage']} blocks per stage)")
    figure.tight_layout()
    table = matrix.to_dataframe()
    summary = pd.DataFrame([
        {"pairs": "post-residual / post-residual", "mean_cka": post_mean},
        {"pairs": "interior / interior", "mean_cka": interior_mean},
        {"pairs": "post-residual / interior", "mean_cka": kinds.between},
        {"pairs": "same stage", "mean_cka": stages.within},
        {"pairs": "different stages", "mean_cka": stages.between},
    ])
    return Outcome(claims=tuple(claims),
                   figures=(("resnet_cka", "linear CKA between the ReLU layers, split as in Fig. 4", figure),),
                   tables=(("contrast", "mean linear CKA by kind of pair", summary),
                           ("cka", "linear CKA between every pair of ReLU layers", table)),
                   settings={"seeds": [settings["seed"]], **settings, "batchnorm": True,
                             "channels": [16, 32, 64], "conv": "flatten", "tau": TAU,
                             "test_accuracy": round(accuracy, 4), "probe": "digits test split (599)"})
