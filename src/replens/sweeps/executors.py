"""Where a sweep's tiles run: in this process, or on a dask.distributed cluster.

Dask is optional (``pip install 'replens[dask]'``) and imported only inside
:func:`run_on_dask`, so ``import replens`` never imports it. Tiles go to the cluster in
batches (at most ``window`` in flight), never as one graph of every tile, so a sweep of a
million tiles keeps the scheduler's memory flat. Each task is ``run_tile(store, index,
pairs)``: a path and a few integers. A task lost with its worker is rerun by the scheduler
elsewhere; one that raises is retried ``retries`` times; a tile written twice is written
with identical bytes, atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._io import optional_import
from .tiles import Tile, run_tile


def run_in_process(store: str, tiles: Sequence[Tile], advance: Callable[[int], None]) -> int:
    """Compute `tiles` one after another here; return how many were computed."""
    for tile in tiles:
        run_tile(store, tile.index, tile.pairs)
        advance(1)
    return len(tiles)


def dask_client(executor: Any, *, n_workers: int | None = None) -> tuple[Any, bool]:
    """A dask.distributed Client for `executor` and whether this sweep owns (and closes) it.

    ``"dask"`` starts a LocalCluster of `n_workers` single-threaded worker processes (default:
    one per core); a Client is used as it is.
    """
    distributed = optional_import("dask.distributed", "dask", "executor='dask' (running sweeps on Dask)",
                                  hint="or pass executor=None to run in this process")
    if isinstance(executor, distributed.Client):
        return executor, False
    import os

    workers = n_workers or max(1, os.cpu_count() or 1)
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    return distributed.Client(cluster), True


def run_on_dask(client: Any, store: str, tiles: Sequence[Tile], advance: Callable[[int], None], *,
                window: int | None = None, retries: int = 3) -> int:
    """Compute `tiles` on `client`'s cluster, keeping at most `window` tasks in flight.

    Returns how many tiles were computed. A tile whose task fails after its retries raises
    its error here; the tiles finished before stay in the store.
    """
    distributed = optional_import("dask.distributed", "dask", "executor='dask' (running sweeps on Dask)")
    if window is None:
        workers = len(client.scheduler_info().get("workers", {})) or 1
        window = 4 * workers
    pending = iter(sorted(tiles, key=lambda tile: -len(tile.pairs)))  # largest first: the last batch balances
    futures = distributed.as_completed()
    in_flight = 0

    def submit_next() -> bool:
        tile = next(pending, None)
        if tile is None:
            return False
        futures.add(client.submit(run_tile, store, tile.index, tile.pairs, key=f"replens-tile-{tile.index}-"
                                  f"{id(tiles):x}", pure=False, retries=retries))
        return True

    while in_flight < window and submit_next():
        in_flight += 1
    done = 0
    for future in futures:
        future.result()  # re-raises a task's own error (after its retries) with its own type
        future.release()
        done += 1
        advance(1)
        submit_next()
    return done
