"""The experiments ``replens reproduce`` knows: id, paper, section, claim, time, module.

The ids are stable (scripts and the README refer to them). Each experiment lives in its own
module of this package (:attr:`ExperimentInfo.module`), which is imported only when the
experiment runs, so listing them imports neither torch nor matplotlib. The entries of
``claims.md`` (S09, P01, K06, ...) name the protocol, the claims and the criteria each
miniature follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnknownOptionError

__all__ = ["ExperimentInfo", "experiments", "experiment_info"]


@dataclass(frozen=True)
class ExperimentInfo:
    """One experiment of :func:`experiments`.

    Attributes
    ----------
    id : str
        Stable name, ``<first author><year>-<topic>``.
    paper : str
        Short reference, e.g. ``"Raghu et al. 2017 (SVCCA)"``.
    section : str
        Where in the paper, e.g. ``"sec. 4.1, Fig. 4"``.
    entry : str
        The entry of ``claims.md`` it follows (``"S09"``).
    claim : str
        The claim in one line.
    minutes : float
        About how long the full experiment takes (wall time measured on a shared 2-core
        machine, one thread, training included; morcos2018-rnn-timesteps takes 0.2 when
        morcos2018-rnn-dynamics ran before it and left its LSTM in the run cache, and
        kornblith2019-width takes 1.1 after morcos2018-width, whose networks it shares, else
        about 5).
    module : str
        The module of :mod:`replens.reproduce` that runs it.
    """

    id: str
    paper: str
    section: str
    entry: str
    claim: str
    minutes: float
    module: str


SVCCA = "Raghu et al. 2017 (SVCCA)"
PWCCA = "Morcos et al. 2018 (PWCCA)"
CKA = "Kornblith et al. 2019 (CKA)"

EXPERIMENTS: tuple[ExperimentInfo, ...] = (
    ExperimentInfo("raghu2017-learning-dynamics", SVCCA, "sec. 4.1, Fig. 4, Fig. App.3", "S09",
                   "networks converge from the bottom up; batch norm tracks the layer before it; "
                   "a ResNet shows stripes", 1.6, "raghu2017_learning_dynamics"),
    ExperimentInfo("raghu2017-freeze-training", SVCCA, "sec. 4.2, Fig. 5", "S10",
                   "freezing lower layers early saves backward compute without losing accuracy",
                   3.4, "raghu2017_freeze_training"),
    ExperimentInfo("morcos2018-coefficients", PWCCA, "sec. 2.2, Fig. 1a-c", "P01",
                   "CCA coefficients keep changing after accuracy has converged", 0.7,
                   "morcos2018_coefficients"),
    ExperimentInfo("morcos2018-signal-noise", PWCCA, "sec. 2.2, Fig. 1d-f", "P02",
                   "top CCA directions are stable (signal), bottom ones decorrelate (noise)", 0.7,
                   "morcos2018_signal_noise"),
    ExperimentInfo("morcos2018-rnn-dynamics", PWCCA, "sec. 4.1, Fig. 6", "P08",
                   "an LSTM's layers converge from the bottom up, most clearly under PWCCA", 1.3,
                   "morcos2018_rnn_dynamics"),
    ExperimentInfo("morcos2018-rnn-timesteps", PWCCA, "sec. 4, Figs. A2-A4", "P09",
                   "an LSTM's hidden state changes nonlinearly across timesteps; CCA finds more "
                   "similarity than per-neuron correlation", 1.2, "morcos2018_rnn_timesteps"),
    ExperimentInfo("kornblith2019-sanity", CKA, "sec. 6.1, Table 2", "K06",
                   "CKA identifies corresponding layers of networks from different seeds; the CCA "
                   "family does not", 0.5, "kornblith2019_sanity"),
    ExperimentInfo("raghu2017-dft-theorem", SVCCA, "sec. 3, App. C, Fig. App.2", "S06",
                   "with circular padding on translation-invariant data the DFT covariance is block "
                   "diagonal and Fourier CCA equals flattened CCA", 1.4, "raghu2017_dft_theorem"),
    ExperimentInfo("raghu2017-dft-speed", SVCCA, "App. C.5", "S07",
                   "CCA per spatial frequency is much faster than CCA of flattened conv layers, more so "
                   "as h x w grows", 0.3, "raghu2017_dft_speed"),
    ExperimentInfo("kornblith2019-bandwidth", CKA, "sec. 3, Table 2", "K05",
                   "RBF CKA agrees with linear CKA except at small bandwidths (0.2 of the median "
                   "distance)", 0.6, "kornblith2019_bandwidth"),
    ExperimentInfo("kornblith2019-resnet", CKA, "sec. 6.2, Fig. 4", "K09",
                   "in a ResNet post-residual layers resemble each other, block interiors do not, and "
                   "stages form blocks", 0.5, "kornblith2019_resnet"),
    ExperimentInfo("kornblith2019-rank-saturation", CKA, "sec. 2.1, Theorem 1", "K01",
                   "CCA-family indices reach 1 on unrelated data once the width reaches n - 1; CKA does not",
                   0.1, "kornblith2019_rank_saturation"),
    ExperimentInfo("kornblith2019-invariances", CKA, "Table 1, sec. 2.2-2.3", "K03",
                   "the invariances of Table 1, as measured changes under each transform", 0.1,
                   "kornblith2019_invariances"),
    ExperimentInfo("kornblith2019-identities", CKA, "eqs. 1-14", "K04",
                   "the identities relating CCA, linear regression and CKA hold to rounding (eq. 12 with sqrt(p_2))",
                   0.1, "kornblith2019_identities"),
    ExperimentInfo("morcos2018-synthetic-snr", PWCCA, "sec. 2.2, Fig. 2", "P04",
                   "on synthetic signal plus noise, mean CCA is sensitive to the signal fraction, PWCCA robust, "
                   "SVCCA between", 0.2, "morcos2018_synthetic_snr"),
    ExperimentInfo("kornblith2019-debiasing", CKA, "sec. 3", "K14",
                   "biased linear CKA of independent data is far from 0 at small n; the debiased estimator is not",
                   0.1, "kornblith2019_debiasing"),
    ExperimentInfo("kornblith2019-canonical-ridge", CKA, "sec. 5", "K15",
                   "canonical ridge interpolates between R2_CCA, linear regression and linear CKA", 0.1,
                   "kornblith2019_canonical_ridge"),
    ExperimentInfo("raghu2017-svd-before-cca", SVCCA, "App. B.0.1", "S05",
                   "CCA cannot tell shared-plus-noise from shared-plus-useful directions; SVD first can", 0.1,
                   "raghu2017_svd_before_cca"),
    ExperimentInfo("raghu2017-toy-regression", SVCCA, "Fig. 1, Fig. 3", "S01",
                   "on a toy regression, neurons differ across seeds but SVCCA directions match; the output from 30 "
                   "directions is close to the full layer's", 1.0, "raghu2017_toy_regression"),
    ExperimentInfo("raghu2017-intrinsic-dimension", SVCCA, "sec. 2.1, Fig. 2a", "S02",
                   "a few SVCCA directions keep a layer's accuracy; random or max-activation neurons need far more",
                   0.2, "raghu2017_intrinsic_dimension"),
    ExperimentInfo("raghu2017-distributed-directions", SVCCA, "sec. 2.1, Fig. 2b", "S03",
                   "the top SVCCA directions are spread over many neurons: k neurons cannot replace k directions",
                   0.1, "raghu2017_distributed_directions"),
    ExperimentInfo("raghu2017-baselines", SVCCA, "sec. 2.1 baselines; claims.md S13", "S13",
                   "permutation nulls: mean CCA's is large when p/n is large, debiased CKA's is about 0", 0.2,
                   "raghu2017_baselines"),
    ExperimentInfo("raghu2017-compression", SVCCA, "sec. 4.4, Fig. App.5", "S12",
                   "projecting the top layers onto their SVCCA directions compresses them to 0.35 with little loss",
                   0.1, "raghu2017_compression"),
    ExperimentInfo("kornblith2019-shared-subspace", CKA, "sec. 6.4, Fig. 8", "K13",
                   "two networks' GAP layers share a subspace of about the number of classes, far below their width",
                   1.5, "kornblith2019_shared_subspace"),
    ExperimentInfo("kornblith2019-principal-components", CKA, "sec. 2.1, Fig. 1", "K02",
                   "networks from different seeds share their large principal components; CCA cannot tell large-only "
                   "from small-only matches, CKA can", 0.1, "kornblith2019_principal_components"),
    ExperimentInfo("raghu2017-class-sensitivity", SVCCA, "sec. 4.3, Fig. 6", "S11",
                   "correlating each layer with one class's logit shows where class information forms; similar "
                   "classes move together", 0.1, "raghu2017_class_sensitivity"),
    ExperimentInfo("kornblith2019-depth", CKA, "sec. 6.2, Fig. 3", "K08",
                   "in plain CNNs made 8x deeper most layers become near-copies of the last one and "
                   "linear probes plateau early", 0.8, "kornblith2019_depth"),
    ExperimentInfo("kornblith2019-architectures", CKA, "sec. 6.2, Fig. 5", "K10",
                   "CKA's argmax map from a network to its deeper sibling is monotone, with new layers "
                   "inserted between the old; the CCA family's less so", 0.8, "kornblith2019_architectures"),
    ExperimentInfo("raghu2017-conv-fourier", SVCCA, "sec. 4.4, Fig. 7, Fig. App.4", "S08",
                   "Fourier CCA between conv layers: CNN vs ResNet similar low, dissimilar high; two "
                   "seeds alike at both ends", 0.3, "raghu2017_conv_fourier"),
    ExperimentInfo("kornblith2019-transformer", CKA, "sec. 6.1, App. F.1", "K07",
                   "the sanity check on Transformer encoder sublayers: every index above chance, RBF "
                   "CKA among the best", 2.7, "kornblith2019_transformer"),
    ExperimentInfo("morcos2018-memorisation", PWCCA, "sec. 3.1, Fig. 3, Figs. A9-A10", "P05",
                   "networks that generalise converge to more similar representations than networks that "
                   "memorise, most in later layers", 3.4, "morcos2018_memorisation"),
    ExperimentInfo("morcos2018-width", PWCCA, "sec. 3.2, Fig. 4", "P06",
                   "wider networks converge to more similar solutions; within-group distance predicts test "
                   "accuracy", 4.7, "morcos2018_width"),
    ExperimentInfo("morcos2018-lr-clusters", PWCCA, "sec. 3.3, Fig. 5", "P07",
                   "networks trained with different learning rates fall into clusters that follow the "
                   "learning rate", 2.5, "morcos2018_lr_clusters"),
    ExperimentInfo("kornblith2019-width", CKA, "sec. 6.2, Fig. 6", "K11",
                   "wider networks are more similar to each other; CKA to the same width beats CKA to the "
                   "widest", 1.1, "kornblith2019_width"),
    ExperimentInfo("kornblith2019-datasets", CKA, "sec. 6.3, Fig. 7, App. F.3", "K12",
                   "networks trained on different datasets share their early layers; untrained networks are "
                   "far less similar", 3.2, "kornblith2019_datasets"),
)


def experiments() -> tuple[ExperimentInfo, ...]:
    """Every experiment ``replens reproduce`` runs, in the order ``all`` runs them.

    Examples
    --------
    >>> [e.id for e in experiments()][:2]
    ['raghu2017-learning-dynamics', 'raghu2017-freeze-training']
    """
    return EXPERIMENTS


def experiment_info(experiment_id: str) -> ExperimentInfo:
    """The :class:`ExperimentInfo` of `experiment_id`; UnknownOptionError listing the ids if none."""
    for info in EXPERIMENTS:
        if info.id == experiment_id:
            return info
    raise UnknownOptionError(f"unknown experiment {experiment_id!r}; the experiments are "
                             f"{', '.join(info.id for info in EXPERIMENTS)} (or 'all'). "
                             f"`replens reproduce --list` describes them.")
