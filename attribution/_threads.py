"""Threads and BLAS: one BLAS thread per worker, shared safely between threads.

A threaded BLAS call on a busy two-core machine can run fifty times slower than on
one thread (its threads spin while the other core is taken), and when touchline
itself runs work on several threads, BLAS threads only oversubscribe the cores.
:func:`one_blas_thread` limits BLAS to one thread while any caller is inside it,
and restores the original limit when the last one leaves, whichever thread that is
(threadpoolctl's own limits are process-wide and would be restored by the first
thread to leave).
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
_controller: Any = None


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
    global _users, _limiter, _controller
    with _lock:
        if _users == 0:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController()
            _limiter = _controller.limit(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None
