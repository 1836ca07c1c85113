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
        morcos2018-rnn-dynamics ran before it and left its LSTM in the run cache).
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
