"""The papers' analyses as functions on the user's own networks and checkpoints.

* :func:`learning_dynamics` (module ``dynamics``): every layer over training against the
  reference step; convergence steps and a bottom-up score (SVCCA sec. 4.1, PWCCA sec. 4.1).
* :class:`FreezeSchedule` (``freezing``): freeze training's linear regime (SVCCA sec. 4.2).
* :func:`coefficients_over_training` (``coefficients``): sorted canonical correlations of a
  layer against its final state at every step (PWCCA sec. 2.2, Fig 1a-c).
* :func:`direction_stability` (``stability``): signal and noise directions (PWCCA Fig 1d-f).
* :func:`timestep_similarity` (``timesteps``): a measure between the timesteps of a
  recurrent network's hidden state (PWCCA sec. 4, App. A).

Checkpoints are ``(step, {layer: array})`` pairs or activation caches
(:class:`replens.ActivationCache`); every analysis checks them (same layers, same probe
examples, increasing steps) before any work. Importing this package imports neither torch
nor scipy nor matplotlib.
"""

from .coefficients import coefficients_over_training
from .dynamics import LearningDynamics, learning_dynamics
from .freezing import FreezeSchedule
from .stability import DirectionStability, direction_stability
from .timesteps import timestep_similarity

__all__ = [
    "learning_dynamics",
    "LearningDynamics",
    "FreezeSchedule",
    "coefficients_over_training",
    "direction_stability",
    "DirectionStability",
    "timestep_similarity",
]
