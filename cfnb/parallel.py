"""Running a few NumPy calls at once.

NumPy releases the GIL inside its loops (comparisons, gathers, searches), and those
loops mostly wait on memory: on two cores, two of them take little more than one.
A pool lives only for one call, so nothing outlives the work it did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["in_parallel", "searchsorted"]

_T = TypeVar("_T")

#: Below this many queries a search is not worth splitting.
_SPLIT = 200_000


def in_parallel(calls: Sequence[Callable[[], _T]]) -> list[_T]:
    """Each call's result, in order; the calls run in threads (errors propagate)."""
    workers = min(len(calls), os.cpu_count() or 1)
    if workers <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cfnb") as pool:
        futures = [pool.submit(call) for call in calls[1:]]
        first = calls[0]()  # this thread works too
        return [first, *(f.result() for f in futures)]


def searchsorted(
    values: npt.NDArray[np.integer], queries: npt.NDArray[np.integer], side: str = "left"
) -> npt.NDArray[np.intp]:
    """``np.searchsorted(values, queries, side)``, large query sets split across threads."""
    if queries.size < _SPLIT or (os.cpu_count() or 1) < 2:
        return np.searchsorted(values, queries, side=side)  # type: ignore[call-overload,no-any-return]
    half = queries.size // 2
    parts = in_parallel(
        [
            lambda: np.searchsorted(values, queries[:half], side=side),  # type: ignore[call-overload]
            lambda: np.searchsorted(values, queries[half:], side=side),  # type: ignore[call-overload]
        ]
    )
    return np.concatenate(parts)
