"""Built-in demo: train two small MLPs on scikit-learn's digits from different seeds and
compare their hidden representations with replens. Run it with ``python -m replens.demo``.

Needs the ``demo`` extra (torch, scikit-learn). ``import replens`` never imports this
package; importing this package imports neither torch nor scikit-learn. The pieces live in
submodules so other front ends can reuse them:

* :mod:`replens.demo.digits`  -- ``load_digits_split``: standardised, deterministic split
* :mod:`replens.demo.mlp`     -- ``build_mlp``, ``train_mlp``, ``hidden_activations``
* :mod:`replens.demo.compare` -- ``cka_matrix``, ``pair_measures`` and text formatting
* :mod:`replens.demo.cli`     -- ``build_parser``, ``main``
"""

from .cli import build_parser, main

__all__ = ["build_parser", "main"]
