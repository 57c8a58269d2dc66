"""Threads and BLAS: one BLAS thread per worker, shared safely between threads.

A threaded BLAS call on a busy two-core machine can run fifty times slower than on
one thread (its threads spin while the other core is taken), and when touchline
itself runs work on several threads, BLAS threads only oversubscribe the cores.
:func:`one_blas_thread` limits BLAS to one thread while any caller is inside it,
and restores the original limit when the last one leaves, whichever thread that is
(threadpoolctl's own limits are process-wide and would be restored by the first
thread to leave). Code that runs work on threads takes the limit on the main thread
around them (as :func:`attribution._streaming.fit_samples` does): threadpoolctl is
made for the main thread, and OpenBLAS does not always honour a limit set from
another one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["FIT_THREADS", "one_blas_thread"]

#: Threads that fit independent models at once (numpy, scipy and BLAS release the
#: GIL in the work that matters), at most two so memory stays bounded.
FIT_THREADS = max(1, min(2, os.cpu_count() or 1))

_lock = threading.Lock()
_users = 0
_limiter: Any = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS on one thread (nestable, and safe across threads).

    Examples
    --------
    >>> import numpy as np
    >>> with one_blas_thread():
    ...     float(np.ones((2, 2)) @ np.ones(2) @ np.ones(2))
    4.0
    """
    global _users, _limiter
    with _lock:
        if _users == 0:
            import threadpoolctl  # looks at the loaded libraries (under 1 ms)

            _limiter = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None
