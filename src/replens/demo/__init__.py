"""The built-in demos, as library code; ``replens demo`` runs them and prints what they return.

* :mod:`replens.demo.sanity`     -- the CKA paper's sanity check (sec. 6.1, Table 2) on zoos of
  MLPs and CNNs trained on digits (``replens demo``)
* :mod:`replens.demo.pair`       -- two MLPs from different seeds, compared layer by layer
  (``replens demo pair``)
* :mod:`replens.demo.pretrained` -- layer-by-layer CKA inside pretrained MiniLM-L6 and
  EfficientNet-Lite0 (``replens demo --pretrained``)
* :mod:`replens.demo.compare`    -- ``cka_matrix``, ``pair_measures`` and text tables

The data, models and training come from :mod:`replens.zoo`. Needs the ``demo`` extra (torch,
scikit-learn); ``import replens`` never imports this package, and importing it imports
neither torch nor scikit-learn.
"""

from ._requirements import DEMO_PACKAGES, TRAINING_PACKAGES, check_packages

__all__ = ["DEMO_PACKAGES", "TRAINING_PACKAGES", "check_packages"]
