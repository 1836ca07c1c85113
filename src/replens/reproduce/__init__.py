"""The papers' experiments in miniature, claim by claim: ``replens reproduce``.

* :func:`experiments` (module ``catalog``): id, paper and section, the claim, minutes.
* :func:`run` (module ``runner``): run one experiment, several or ``"all"``; writes
  ``DIR/ID/claims.csv`` (``claim, statement, paper, ours, holds, note``), figures,
  ``DIR/ID/settings.json`` and ``DIR/report.html``.
* :class:`Claim`, :class:`Outcome` (module ``claims``): what an experiment returns.

One module per experiment (``raghu2017_learning_dynamics``, ``raghu2017_freeze_training``,
``morcos2018_coefficients``, ``morcos2018_signal_noise``, ``morcos2018_rnn_dynamics``,
``morcos2018_rnn_timesteps``, ``kornblith2019_sanity``), each composing :mod:`replens.zoo`,
:mod:`replens.analyses` and the measures; each follows its entry of ``claims.md``. A claim
that does not hold in miniature is reported as ``holds = no`` with the likely reason.
Importing this package imports neither torch nor matplotlib; running an experiment needs
the ``demo`` extra.
"""

from .catalog import ExperimentInfo, experiments
from .claims import CLAIM_COLUMNS, Claim, Outcome
from .runner import ExperimentResult, run, write_index_report

__all__ = ["CLAIM_COLUMNS", "Claim", "ExperimentInfo", "ExperimentResult", "Outcome", "experiments", "run",
           "write_index_report"]
