"""S06: Theorem 1 of the SVCCA paper (Raghu et al. 2017, sec. 3, App. C, Fig. App.2).

With (1) conv and pool layers with circular boundaries and (2) a dataset holding every
translation of its images, the covariance of a conv layer's per-channel DFTs is block
diagonal (one c x c block per frequency), and CCA computed per frequency
(:func:`replens.dft_cca`) equals CCA of the flattened layers (Lemma 3: the DFT is unitary).

Miniature (claims.md S06): random (untrained) digits CNNs of the zoo (``build("cnn")``, six
3x3 convs, two 2x2 max-pools) with their convs switched to ``padding_mode="circular"``, on
the full translation orbits of digits (:func:`replens.analyses.translation_orbit`, 64
shifts each); the same digits without augmentation for the approximate case (the
scikit-image photos of claims.md are not installed here, so natural data is the digits
themselves); the zoo's zero-padded nets as the control. Every layer is run in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..activations import extract
from ..analyses import dft_offblock_fraction, translation_orbit
from ..measures.cca import cca
from ..measures.dft import dft_cca
from ..zoo import build, load
from .claims import Claim, Outcome

__all__ = ["OFFBLOCK_TOLERANCE", "RHO_TOLERANCE", "run"]

OFFBLOCK_TOLERANCE = 1e-10
"""claims.md S06: off-block energy below this on orbit data with circular padding."""
RHO_TOLERANCE = 1e-8
"""claims.md S06: DFT-CCA rho equal to flattened-CCA rho to this."""


def _activations(padding: str, seed: int, width: float, images: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    net = build("cnn", input_shape=(1, 8, 8), width=width, seed=seed)
    if padding == "circular":
        for module in net.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.padding_mode = "circular"
    net = net.double().eval()
    taps = [name for name, module in net.named_modules() if isinstance(module, torch.nn.ReLU)]
    return dict(extract(net, torch.from_numpy(images), layers=taps, dtype="float64", progress=False,
                        batch_size=2048))


def _rho_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Largest |sorted DFT-CCA rho - sorted flattened-CCA rho| over the shared coefficients."""
    per_frequency = np.sort(dft_cca(a, b, layout="NCHW").rho.ravel())[::-1]
    full = cca(a.reshape(len(a), -1), b.reshape(len(b), -1)).rho
    k = min(len(per_frequency), len(full))
    return float(np.max(np.abs(per_frequency[:k] - full[:k]))), k


def run(*, quick: bool, log: Callable[[str], None]) -> Outcome:
    """Off-block energy of every conv layer in four conditions, and DFT-CCA vs flattened CCA.

    Full: orbits of 200 digits (12,800 images), nets at width 1 (16-64 channels); quick:
    orbits of 40 digits (2,560 images) at width 0.5 (8-32 channels).
    """
    import pandas as pd
    from matplotlib.figure import Figure

    n_digits, width = (40, 0.5) if quick else (200, 1.0)
    seeds = (0, 1)
    x, _, _, _ = load("digits", seed=0)
    x = x[:n_digits].astype(np.float64)
    orbit = translation_orbit(x)
    natural_images = load("digits", seed=0)[0][: len(orbit)].astype(np.float64)
    log(f"orbit of {n_digits} digits: {orbit.shape[0]} images; natural: {len(natural_images)} digits")
    data = {"orbit": orbit, "natural": natural_images}
    rows = []
    acts: dict[tuple[str, str, int], dict[str, np.ndarray]] = {}
    for padding in ("circular", "zeros"):
        for name, images in data.items():
            for seed in seeds:
                acts[padding, name, seed] = _activations(padding, seed, width, images)
            for layer, a in acts[padding, name, seeds[0]].items():
                rows.append({"padding": padding, "data": name, "layer": layer,
                             "shape": "x".join(map(str, a.shape[1:])),
                             "offblock_dft": dft_offblock_fraction(a, basis="dft"),
                             "offblock_pixel": dft_offblock_fraction(a, basis="pixel")})
        log(f"{padding} padding: off-block energies done")
    table = pd.DataFrame(rows)
    first = next(iter(acts["circular", "orbit", 0]))
    gaps = {}
    for padding in ("circular", "zeros"):
        gaps[padding] = _rho_gap(acts[padding, "orbit", 0][first], acts[padding, "orbit", 1][first])
        log(f"{padding}: max |rho_dft - rho_full| at {first} = {gaps[padding][0]:.2e} over {gaps[padding][1]}")
    exact = table[(table.padding == "circular") & (table.data == "orbit")]
    natural = table[(table.padding == "circular") & (table.data == "natural")]
    control = table[(table.padding == "zeros") & (table.data == "orbit")]
    worst = float(exact.offblock_dft.max())
    claims = [
        Claim(claim="S06.block_diagonal",
              statement="with circular conv/pool layers and every translation in the data, the DFT "
                        "covariance is block diagonal with c x c blocks (Theorem 1)",
              paper="exact (proof); Fig. App.2d 'exactly diagonal'",
              ours=f"largest off-block energy fraction over {len(exact)} ReLU layers: {worst:.1e}",
              holds="yes" if worst < OFFBLOCK_TOLERANCE else "no",
              note=f"criterion: off-block energy < {OFFBLOCK_TOLERANCE:g} at every layer (claims.md). "
                   "Random untrained nets (the theorem needs no training)."),
        Claim(claim="S06.dft_equals_cca",
              statement="CCA per frequency after the DFT equals CCA of the flattened layers (Lemma 3 with "
                        "Theorem 1)",
              paper="exact",
              ours=f"max |rho_dft - rho_full| = {gaps['circular'][0]:.1e} over {gaps['circular'][1]} "
                   f"coefficients ({first}, seeds 0 vs 1)",
              holds="yes" if gaps["circular"][0] < RHO_TOLERANCE else "no",
              note=f"criterion: < {RHO_TOLERANCE:g} (claims.md); full CCA needs n > h w c, here n = "
                   f"{len(orbit)} against {int(np.prod(acts['circular', 'orbit', 0][first].shape[1:]))} units."),
        Claim(claim="S06.natural_approximate",
              statement="without augmentation the DFT covariance is only 'approximately diagonal' (Fig. App.2b), "
                        "still far more so than the pixel basis (Fig. App.2a)",
              paper="figure only",
              ours=f"off-block energy, DFT vs pixel basis, median over layers: "
                   f"{natural.offblock_dft.median():.3f} vs {natural.offblock_pixel.median():.3f}",
              holds="yes" if bool((natural.offblock_dft < natural.offblock_pixel).all()) else
                    "partly" if natural.offblock_dft.median() < natural.offblock_pixel.median() else "no",
              note="criterion: DFT off-block energy below the pixel basis's at every layer (yes), at the "
                   "median (partly). Natural data = un-augmented digits (no photos installed)."),
        Claim(claim="S06.zero_padding_control",
              statement="the theorem needs circular boundaries: zero padding breaks the block structure",
              paper="condition (1) of Theorem 1",
              ours=f"zero padding on the orbit: off-block energy up to {control.offblock_dft.max():.1e}; "
                   f"max |rho_dft - rho_full| = {gaps['zeros'][0]:.1e}",
              holds="yes" if control.offblock_dft.max() > 1e3 * max(worst, 1e-16) else "no",
              note="criterion: the control's off-block energy exceeds the circular nets' by 1000x or more."),
    ]
    figure = Figure(figsize=(7, 3.5))
    ax = figure.subplots()
    labels = list(exact.layer)
    positions = np.arange(len(labels))
    for k, (frame, label) in enumerate(((exact, "circular, orbit"), (control, "zero padding, orbit"),
                                        (natural, "circular, natural"))):
        ax.bar(positions + (k - 1) * 0.27, np.maximum(frame.offblock_dft.to_numpy(), 1e-32), 0.27, label=label)
    ax.set_yscale("log")
    ax.set_xticks(positions, labels)
    ax.set_ylabel("off-block energy fraction (DFT basis)")
    ax.set_title("SVCCA Theorem 1: DFT covariance off the c x c blocks")
    ax.legend(fontsize=8)
    figure.tight_layout()
    settings = {"seeds": list(seeds), "digits_in_orbit": n_digits, "orbit_images": len(orbit),
                "width": width, "net": "zoo build('cnn', input_shape=(1, 8, 8)), random init, float64",
                "natural_data": "un-augmented digits (train split, seed 0)",
                "offblock_tolerance": OFFBLOCK_TOLERANCE, "rho_tolerance": RHO_TOLERANCE,
                "cca_layer": first}
    return Outcome(claims=tuple(claims),
                   figures=(("offblock", "off-block energy of every ReLU layer in three conditions", figure),),
                   tables=(("offblock", "off-block energy fraction per layer, DFT and pixel bases", table),),
                   settings=settings)
