"""Sweeps: a measure between the layers of many networks, tiled, resumable, on Dask if asked.

* :func:`sweep` (module ``sweep``) plans a sweep bound to its store; ``.run()`` computes the
  missing tiles and returns a :class:`SweepResult` (``to_xarray``, ``distances``).
* ``store``: the folder that is the sweep's source of truth (manifest, one file per tile).
* ``tiles``: the coarse tasks and the function a worker runs for one.
* ``executors``: in this process, or on a dask.distributed cluster (``replens[dask]``).

Importing this package imports no dask.
"""

from .store import StoreMismatchError
from .sweep import Distances, Sweep, SweepResult, sweep

__all__ = ["sweep", "Sweep", "SweepResult", "Distances", "StoreMismatchError"]
