"""One progress bar for every long loop: tqdm on stderr, or a stand-in that does nothing.

``progress=None`` shows the bar only when stderr is a terminal, so logs and CI output stay
clean; ``True`` forces it, ``False`` hides it. tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any


class _Silent:
    """The bar's interface, doing nothing: callers never branch on whether a bar is shown."""

    n = 0

    def update(self, count: int = 1) -> None:
        self.n += count

    def close(self) -> None:
        pass

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def enabled(progress: bool | None) -> bool:
    """Whether a bar is shown for this `progress` setting."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def bar(progress: bool | None, *, total: int | None, desc: str, unit: str, initial: int = 0) -> Any:
    """A progress bar with ``update(k)`` and ``close()`` (also a context manager)."""
    if not enabled(progress):
        silent = _Silent()
        silent.n = initial
        return silent
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr)


def wrap(items: Iterable[Any], progress: bool | None, *, total: int | None, desc: str, unit: str
         ) -> Iterator[Any]:
    """`items`, advancing a bar by one per item when `progress` asks for one."""
    with bar(progress, total=total, desc=desc, unit=unit) as shown:
        for item in items:
            yield item
            shown.update(1)
