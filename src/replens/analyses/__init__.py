"""The papers' analyses as functions on the user's own networks and checkpoints.

* :func:`learning_dynamics` (module ``dynamics``): every layer over training against the
  reference step; convergence steps and a bottom-up score (SVCCA sec. 4.1, PWCCA sec. 4.1).
* :class:`FreezeSchedule` (``freezing``): freeze training's linear regime (SVCCA sec. 4.2).
* :func:`coefficients_over_training` (``coefficients``): sorted canonical correlations of a
  layer against its final state at every step (PWCCA sec. 2.2, Fig 1a-c).
* :func:`direction_stability` (``stability``): signal and noise directions (PWCCA Fig 1d-f).
* :func:`timestep_similarity` (``timesteps``): a measure between the timesteps of a
  recurrent network's hidden state (PWCCA sec. 4, App. A).
* :func:`linear_probe`, :func:`probe_plateau` (``probes``): l2 logistic-regression accuracy
  per layer and where it stops improving (CKA Fig. 3).
* :func:`layer_correspondence` (``correspondence``): argmax layer of B for each layer of A,
  its monotonicity and the identity check (CKA sec. 6.1-6.2, Fig. 5).
* :func:`fraction_similar_to_last` (``pathology``): layers that are near-copies of the last
  one (CKA Fig. 3).
* :func:`block_contrast` (``layer_blocks``): within- vs between-group similarity (CKA Fig. 4).
* :func:`group_distances` (``network_groups``): within / between group distances per layer (PWCCA
  Figs. 3-4); :func:`cluster_networks` (``clustering``): clusters of networks (PWCCA Fig. 5);
  :func:`adjusted_rand`, :func:`silhouette` (``cluster_agreement``): how well clusters match
  labels and separate; :func:`cumulative_ablation` (``ablation``): accuracy as a growing
  fraction of a layer's units is zeroed (PWCCA Fig. 5b, after Morcos et al. 2018b);
  :func:`subsample_units`, :func:`distance_accuracy_correlation`, :func:`mean_jackknife`,
  :func:`gram_factor` (``populations``): populations of networks of several widths (PWCCA
  Fig. 4, CKA Fig. 6).
* :func:`translation_orbit`, :func:`dft_offblock_fraction` (``fourier``): SVCCA's Theorem 1,
  block-diagonal DFT covariance on translation-invariant data.
* :func:`time_dft_vs_full` (``dft_timing``): DFT-CCA against flattened CCA as h x w grows
  (SVCCA App. C.5).

What the directions say (SVCCA secs. 2.1, 4.3, 4.4; PWCCA Fig. 2; CKA secs. 2, 5, 6.4):

* :func:`accuracy_vs_directions` (``intrinsic``) and :func:`replaced_output` (``replace``):
  accuracy with a layer reduced to its top-k SVCCA directions, against neuron and PCA baselines;
  :func:`accuracy_vs_neurons`, :func:`neurons_for_directions`: how many neurons they need.
* :func:`compress` (``compression``): W x -> (W P^T)(P x) on consecutive top layers.
* :func:`class_sensitivity` (``class_sensitivity``): each layer against one class's logit.
* :func:`synthetic_shared_pair`, :func:`synthetic_pc_partners` (``synthetic``): a planted shared
  subspace plus noise; partners sharing only the large or only the small PCs.
* :func:`rsm_eigen_action` (``eigen_action``), :func:`pc_alignment` (``alignment``),
  :func:`invariance_check` (``invariance``), :func:`canonical_ridge` (``ridge``),
  :func:`check_identities` (``identities``): CKA eqs. 1-14 as measured errors.

Checkpoints are ``(step, {layer: array})`` pairs or activation caches
(:class:`replens.ActivationCache`); every analysis checks them (same layers, same probe
examples, increasing steps) before any work. Importing this package imports neither torch
nor scipy nor matplotlib.
"""

from .ablation import ABLATION_ORDERS, AblationCurve, cumulative_ablation
from .alignment import PCAlignment, pc_alignment
from .class_sensitivity import class_sensitivity
from .coefficients import coefficients_over_training
from .compression import Compression, compress
from .eigen_action import EigenAction, rsm_eigen_action
from .identities import IDENTITIES, check_identities
from .intrinsic import accuracy_vs_directions, accuracy_vs_neurons, neurons_for_directions
from .invariance import InvarianceCheck, invariance_check
from .replace import replaced_output
from .ridge import canonical_ridge
from .synthetic import synthetic_pc_partners, synthetic_shared_pair
from .correspondence import LayerCorrespondence, layer_correspondence
from .dft_timing import DFTTiming, time_dft_vs_full
from .dynamics import LearningDynamics, learning_dynamics
from .fourier import dft_offblock_fraction, translation_orbit
from .freezing import FreezeSchedule
from .layer_blocks import BlockContrast, block_contrast
from .network_groups import GroupDistances, group_distances
from .clustering import NetworkClusters, cluster_networks
from .cluster_agreement import adjusted_rand, silhouette
from .pathology import fraction_similar_to_last
from .populations import DistanceAccuracy, distance_accuracy_correlation, gram_factor, mean_jackknife, subsample_units
from .probes import linear_probe, probe_plateau
from .stability import DirectionStability, direction_stability
from .timesteps import timestep_similarity
from .fidelity import OutputFidelity, output_fidelity
from .neuron_matching import best_neuron_correlations

__all__ = [
    "learning_dynamics",
    "LearningDynamics",
    "FreezeSchedule",
    "coefficients_over_training",
    "direction_stability",
    "DirectionStability",
    "timestep_similarity",
    "linear_probe",
    "probe_plateau",
    "layer_correspondence",
    "LayerCorrespondence",
    "fraction_similar_to_last",
    "block_contrast",
    "BlockContrast",
    "translation_orbit",
    "dft_offblock_fraction",
    "time_dft_vs_full",
    "DFTTiming",
    "group_distances",
    "GroupDistances",
    "cluster_networks",
    "NetworkClusters",
    "adjusted_rand",
    "silhouette",
    "subsample_units",
    "distance_accuracy_correlation",
    "DistanceAccuracy",
    "gram_factor",
    "mean_jackknife",
    "cumulative_ablation",
    "AblationCurve",
    "ABLATION_ORDERS",
    "accuracy_vs_directions",
    "accuracy_vs_neurons",
    "neurons_for_directions",
    "replaced_output",
    "compress",
    "Compression",
    "class_sensitivity",
    "synthetic_shared_pair",
    "synthetic_pc_partners",
    "rsm_eigen_action",
    "EigenAction",
    "pc_alignment",
    "PCAlignment",
    "invariance_check",
    "InvarianceCheck",
    "canonical_ridge",
    "check_identities",
    "IDENTITIES",
    "output_fidelity",
    "OutputFidelity",
    "best_neuron_correlations",
]
