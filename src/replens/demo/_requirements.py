"""Which optional packages a demo needs, checked before any slow work."""

from __future__ import annotations

from collections.abc import Mapping

from .._io import require_packages

TRAINING_PACKAGES = {"torch": "torch", "sklearn": "scikit-learn"}
"""import name -> pip name: what training the zoo's networks on the digits needs."""

DEMO_PACKAGES = {**TRAINING_PACKAGES, "pandas": "pandas", "matplotlib": "matplotlib"}
"""import name -> pip name: the ``demo`` extra, which the sanity check and its outputs need."""


def check_packages(packages: Mapping[str, str], *, extra: str, needed_by: str, why: str = "") -> None:
    """Raise ImportError naming the missing `packages` and the pip `extra` that installs them.

    The message reads "<needed_by> needs <pip names> (<why>), which are not installed; install
    them with: pip install 'replens[<extra>]'" (:func:`replens._io.require_packages`).
    """
    require_packages(packages, extra, needed_by, why=why)
