"""Which optional packages a demo needs, checked before any slow work."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

TRAINING_PACKAGES = {"torch": "torch", "sklearn": "scikit-learn"}
"""import name -> pip name: what training the zoo's networks on the digits needs."""

DEMO_PACKAGES = {**TRAINING_PACKAGES, "pandas": "pandas", "matplotlib": "matplotlib"}
"""import name -> pip name: the ``demo`` extra, which the sanity check and its outputs need."""


def check_packages(packages: Mapping[str, str], *, extra: str, needed_by: str, why: str = "") -> None:
    """Raise ImportError naming the missing `packages` and the pip `extra` that installs them.

    The message reads "<needed_by> needs <pip names> (<why>); install them with: pip install
    'replens[<extra>]'".
    """
    missing = [pip for module, pip in packages.items() if importlib.util.find_spec(module) is None]
    if missing:
        reason = f" ({why})" if why else ""
        raise ImportError(f"{needed_by} needs {', '.join(missing)}{reason}; install them with: "
                          f"pip install 'replens[{extra}]'")
