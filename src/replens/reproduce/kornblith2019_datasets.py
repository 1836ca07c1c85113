"""K12: networks trained on different datasets share their early layers; untrained networks
are far less similar (Kornblith et al. 2019, sec. 6.3, Fig. 7; App. F.3).

The paper trains 10 models on CIFAR-10 and 10 on CIFAR-100, compares the same layer of
different models with linear CKA on each test set (45 pairs per type), and adds untrained
networks: the models "develop similar representations in their early layers", "these
representations require training; similarity with untrained networks is much lower", and
(sec. 1) "early layers, but not later layers, learn similar representations on different
datasets". Our miniature (claims.md K12): the 14x14 MNIST subset, task A = digits 0-4 and
task B = digits 5-9 (disjoint classes, like CIFAR-10 and CIFAR-100), each relabelled 0-4
(:func:`replens.zoo.subsets.class_subset`); the zoo's CNN (``build("cnn", n_classes=5)``:
3 stages of two 3x3 convs with 16, 32, 64 channels, 2x2 max pools after stages 1 and 2, no
batch norm), 5 trained per task and 5 untrained (He initialisation, never trained), each
from its own seed (A: 0-4, B: 100-104, untrained: 200-204, so that no A and B network share
an initialisation); Adam at 1e-3, batch 64, 10 epochs on the task's training images. Layers:
the six ReLU outputs ``relu1``-``relu6`` and the global average pool ``gap``; conv layers
flattened to (n, c h w), as the CKA paper compares whole feature maps (the spatial
positions are features, not examples); logits are left out (A's and B's read out different
classes). One :func:`~replens.reproduce._population.sweep_population` of linear CKA over
all 15 networks.

Probe set: the test images of all 10 digits (2000; 1000 of each task). The paper computes
one panel on each dataset's test set and finds the same picture in both; the union stands
for both panels in one sweep, and is symmetric in A and B (each network sees its own
classes and the other task's in equal numbers), so that neither task's networks are
favoured by the probe.

Statistics: per layer, the mean and standard deviation over network pairs of CKA within A,
within B, A vs B, trained (A or B) vs untrained, and untrained vs untrained
(:func:`~replens.analyses.group_distances`; the paper's Fig. 7 averages over 45 pairs); and
for one representative triple (A0, B0, untrained U0) the jackknife z-test over probe
examples of CKA(A0, B0) - CKA(A0, U0) (:func:`replens.stats.difference_test`, the CKA
paper's Table 2 test) with its 95 % interval.

Criteria (claims.md K12, fixed before the first full run):

* ``K12.early_similar``: mean CKA(A, B) >= 0.9 at ``relu1`` and ``relu2`` (partly: at one).
* ``K12.falls_with_depth``: the Spearman correlation of mean CKA(A, B) with layer index
  (7 layers) <= -0.8, and CKA(A, B) at the deepest layer (``gap``) at least 0.1 below its
  value at ``relu1`` (partly: one of the two).
* ``K12.untrained_lower``: mean CKA(trained, untrained) < mean CKA(A, B) at every layer,
  and the jackknife 95 % interval of CKA(A0, B0) - CKA(A0, U0) above 0 at every layer
  (partly: the means at most layers).

Settings tried: the full run's only those above (one full run). Quick (2 networks per group,
the first 500 test images as the probe, timing only): first width 0.5, the first 1000
training images of each task, 2 epochs (test accuracy 0.54-0.75, barely trained); then width
0.5, 2000 images, 4 epochs (0.89-0.96, but narrower networks than the full run's); kept:
width 1 (the full run's networks), the first 1500 training images of each task, 3 epochs
(0.86-0.97, about 10 s of CPU with a fresh cache).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..analyses import group_distances
from ..stats import difference_test
from ..zoo import build, class_subset, layer_activations, load, train
from ._population import sweep_population
from .claims import Claim, Outcome, verdict

__all__ = ["run"]

TASKS = {"A": (0, 1, 2, 3, 4), "B": (5, 6, 7, 8, 9)}
LAYERS = ("relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "gap")
MEASURE = "linear_cka"
FULL = {"per_group": 5, "width": 1.0, "epochs": 10, "optimizer": "adam", "lr": 1e-3, "batch_size": 64,
        "train_images": None, "probe": 2000, "seed_offsets": {"A": 0, "B": 100, "untrained": 200}}
QUICK = {**FULL, "per_group": 2, "epochs": 3, "train_images": 1500, "probe": 500}


def _networks(settings: dict, log: Callable[[str], None]) -> tuple[dict, dict, dict, np.ndarray]:
    """Train the task networks and build the untrained ones; their layers on the probe."""
    import torch

    data = load("mnist14", seed=0)
    probe = data[2][: settings["probe"]]
    taps = (torch.nn.ReLU, torch.nn.AdaptiveAvgPool2d)
    acts, groups, accuracy = {}, {}, {}
    for group in ("A", "B", "untrained"):
        task = class_subset(data, TASKS[group]) if group in TASKS else None
        if task is not None and settings["train_images"] is not None:
            task = (task[0][: settings["train_images"]], task[1][: settings["train_images"]], task[2], task[3])
        for k in range(settings["per_group"]):
            seed = settings["seed_offsets"][group] + k
            name = f"{'U' if group == 'untrained' else group}{k}"
            model = build("cnn", width=settings["width"], input_shape=(1, 14, 14), n_classes=len(TASKS["A"]),
                          seed=seed)
            if task is not None:
                trained = train(model, task, epochs=settings["epochs"], optimizer=settings["optimizer"],
                                lr=settings["lr"], batch_size=settings["batch_size"], seed=seed)
                model = trained.model
                accuracy[name] = float(trained.test_accuracy)
                log(f"{name} (task {group}, seed {seed}): test accuracy {accuracy[name]:.4f}")
            model.eval()
            layers = dict(layer_activations(model, probe, layer_types=taps))
            acts[name] = {layer: layers[layer] for layer in LAYERS}
            groups[name] = group
    return acts, groups, accuracy, data[3][: settings["probe"]]


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Train 2 x N task CNNs, build N untrained ones, sweep linear CKA; score K12's claims."""
    import pandas as pd
    from matplotlib.figure import Figure

    settings = dict(QUICK if quick else FULL)
    acts, groups, accuracy, probe_labels = _networks(settings, log)
    population = sweep_population(acts, [MEASURE], layers=LAYERS, conv="flatten", log=log)
    distances = population.distances(MEASURE)
    names = population.result.models
    by_task = group_distances(distances, [groups[n] for n in names])
    by_training = group_distances(distances, ["untrained" if groups[n] == "untrained" else "trained"
                                              for n in names])
    g = {label: i for i, label in enumerate(by_task.groups)}
    t = {label: i for i, label in enumerate(by_training.groups)}
    # CKA = 1 - distance; its spread over pairs is the distance's
    within_a, within_b = 1 - by_task.within[:, g["A"]], 1 - by_task.within[:, g["B"]]
    across, across_std = 1 - by_task.between[:, g["A"], g["B"]], by_task.between_std[:, g["A"], g["B"]]
    untrained = 1 - by_training.between[:, t["trained"], t["untrained"]]
    untrained_std = by_training.between_std[:, t["trained"], t["untrained"]]
    random_pairs = 1 - by_task.within[:, g["untrained"]]

    tests = []
    for layer in LAYERS:
        flat = {n: np.asarray(acts[n][layer], dtype=np.float64).reshape(len(probe_labels), -1)
                for n in ("A0", "B0", "U0")}
        tests.append(difference_test(flat["A0"], flat["B0"], flat["U0"], measure=MEASURE, method="jackknife"))
    table = pd.DataFrame({
        "layer": LAYERS,
        "within_A": within_a, "within_A_std": by_task.within_std[:, g["A"]],
        "within_B": within_b, "within_B_std": by_task.within_std[:, g["B"]],
        "A_vs_B": across, "A_vs_B_std": across_std,
        "trained_vs_untrained": untrained, "trained_vs_untrained_std": untrained_std,
        "untrained_vs_untrained": random_pairs, "untrained_vs_untrained_std": by_task.within_std[:, g["untrained"]],
        "cka_A0_B0": [d.statistic_xy for d in tests], "cka_A0_U0": [d.statistic_xz for d in tests],
        "difference": [d.difference for d in tests], "difference_se": [d.se for d in tests],
        "difference_low": [d.low for d in tests], "difference_high": [d.high for d in tests],
        "z": [d.z for d in tests],
    })
    log(table[["layer", "within_A", "within_B", "A_vs_B", "trained_vs_untrained", "untrained_vs_untrained",
               "difference", "difference_low"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    early = across[:2] >= 0.9
    rank = pd.Series(across).corr(pd.Series(np.arange(len(LAYERS), dtype=float)), method="spearman")
    drop = float(across[0] - across[-1])
    falls = [bool(rank <= -0.8), drop >= 0.1]
    below = untrained < across
    significant = np.array([d.low > 0 for d in tests])
    n = settings["per_group"]
    pairs_note = (f"{n} networks per group: {n * (n - 1) // 2} pairs within a group, {n * n} A-B pairs, "
                  f"{2 * n * n} trained-untrained pairs")
    values = ", ".join(f"{layer} {v:.3f}" for layer, v in zip(LAYERS, across))
    claims = [
        Claim(claim="K12.early_similar",
              statement="models trained on CIFAR-10 and CIFAR-100 'develop similar representations in their early "
                        "layers'",
              paper="figure only (Fig. 7: CKA between CIFAR-10 and CIFAR-100 models high at the first layers)",
              ours=f"mean CKA(A, B) relu1 {across[0]:.3f} +- {across_std[0]:.3f}, relu2 {across[1]:.3f} +- "
                   f"{across_std[1]:.3f} (std over pairs)",
              holds=verdict(int(early.sum()), 2),
              note=f"criterion (claims.md K12): mean linear CKA(A, B) >= 0.9 at relu1 and relu2 (partly: at one); "
                   f"{pairs_note}; probe: {settings['probe']} test images of all 10 digits." + (
                       "" if early.all() else " Likely reason: even the first conv layers of a 5-digit task adapt "
                       "to its strokes more than CIFAR networks' first layers adapt to their classes.")),
        Claim(claim="K12.falls_with_depth",
              statement="'early layers, but not later layers, learn similar representations on different datasets'",
              paper="figure only (Fig. 7: CKA(CIFAR-10, CIFAR-100) falls towards the last layers)",
              ours=f"mean CKA(A, B) by layer: {values}; Spearman with depth {rank:+.2f}; relu1 - gap {drop:+.3f}",
              holds=verdict(sum(falls), 2),
              note="criterion (fixed before the run): Spearman correlation of mean CKA(A, B) with layer index "
                   "<= -0.8 and CKA(A, B) at gap at least 0.1 below relu1 (partly: one of the two)." + (
                       "" if all(falls) else " Likely reason: on two halves of MNIST the later layers stay "
                       "similar, since digit features transfer between the halves far more than CIFAR's classes "
                       "constrain each other.")),
        Claim(claim="K12.untrained_lower",
              statement="'These representations require training; similarity with untrained networks is much lower'",
              paper="figure only (Fig. 7: CKA with untrained networks well below CKA between trained ones)",
              ours="mean CKA(trained, untrained) by layer: "
                   + ", ".join(f"{layer} {v:.3f}" for layer, v in zip(LAYERS, untrained))
                   + f"; below CKA(A, B) at {int(below.sum())} of {len(LAYERS)} layers (CKA(A, B) - "
                   f"CKA(trained, untrained): relu1 {across[0] - untrained[0]:+.3f}, relu2 "
                   f"{across[1] - untrained[1]:+.3f}, gap {across[-1] - untrained[-1]:+.3f}); "
                   f"CKA(A0, B0) - CKA(A0, U0) 95 % jackknife interval above 0 at {int(significant.sum())} of "
                   f"{len(LAYERS)} layers",
              holds="yes" if below.all() and significant.all() else "partly" if below.mean() > 0.5 else "no",
              note="criterion (claims.md K12): mean CKA(trained, untrained) < mean CKA(A, B) at every layer, and "
                   "the paired jackknife z-test over probe examples of CKA(A0, B0) - CKA(A0, U0) significant "
                   "(95 % interval above 0) at every layer (partly: the means at most layers). Risk (claims.md): "
                   f"first-layer CKA with untrained nets may already be high (random 3x3 filters smooth the "
                   f"image): here relu1 CKA(trained, untrained) = {untrained[0]:.3f}, untrained vs untrained "
                   f"{random_pairs[0]:.3f}; untrained vs untrained over all layers "
                   f"{float(np.min(random_pairs)):.3f}-{float(np.max(random_pairs)):.3f}." + (
                       "" if below.all() else " Likely reason: the early layers of a network without training "
                       "are already smoothed copies of the image, like a trained one's (the risk claims.md "
                       "names); training changes these shallow, wide layers little. The one triple's jackknife "
                       "test can disagree with the means over pairs, as it is one triple.")),
    ]

    figure = Figure(figsize=(11.0, 4.0))
    ax = figure.add_subplot(1, 2, 1)
    x = np.arange(len(LAYERS))
    for label, mean, std in (("within A (digits 0-4)", within_a, by_task.within_std[:, g["A"]]),
                             ("within B (digits 5-9)", within_b, by_task.within_std[:, g["B"]]),
                             ("A vs B", across, across_std),
                             ("trained vs untrained", untrained, untrained_std),
                             ("untrained vs untrained", random_pairs, by_task.within_std[:, g["untrained"]])):
        ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_xticks(x, LAYERS)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("layer")
    ax.set_ylabel("linear CKA (mean +- std over pairs)")
    ax.set_title(f"same layer, different networks; probe: {settings['probe']} test images of 0-9", fontsize=9)
    ax.legend(fontsize=8)
    ax = figure.add_subplot(1, 2, 2)
    diff = np.array([d.difference for d in tests])
    ax.errorbar(x, diff, yerr=[diff - table["difference_low"], table["difference_high"] - diff], marker="o",
                capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, LAYERS)
    ax.set_xlabel("layer")
    ax.set_ylabel("CKA(A0, B0) - CKA(A0, U0)")
    ax.set_title("one triple: difference with 95 % jackknife interval over examples", fontsize=9)
    figure.tight_layout()

    settings.update({
        "dataset": "mnist14", "data_seed": 0, "tasks": {k: list(v) for k, v in TASKS.items()},
        "network": f"build('cnn', width={settings['width']}, input_shape=(1, 14, 14), n_classes=5)",
        "layers": list(LAYERS), "conv": "flatten", "measure": MEASURE,
        "probe_source": f"the first {settings['probe']} test images of mnist14 (all 10 digits)",
        "probe_classes": {str(c): int(np.sum(probe_labels == c)) for c in range(10)},
        "seeds": {group: [settings["seed_offsets"][group] + k for k in range(n)] for group in settings["seed_offsets"]},
        "test_accuracy": accuracy, "spearman_depth": float(rank),
        "interval": "mean +- std over pairs (group_distances); jackknife 95 % interval of one triple's difference",
    })
    caption = ("linear CKA between the same layer of networks trained on digits 0-4 (A), digits 5-9 (B) and "
               "untrained networks; right: one triple's paired jackknife difference")
    return Outcome(claims=tuple(claims), figures=(("datasets", caption, figure),),
                   tables=(("datasets", ("per layer: mean and std over pairs of CKA within and between groups; "
                                         "one triple's jackknife difference test"), table),),
                   settings=settings)
