"""one_blas_thread: BLAS limited while any thread is inside, restored after the last."""

import threading

import pytest

from attribution._threads import one_blas_thread

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


def test_limits_inside_and_restores_after_overlapping_threads():
    before = _blas_threads()
    inside: list[list[int]] = []
    first_in, second_in, first_out = (threading.Event() for _ in range(3))

    def first() -> None:
        with one_blas_thread():
            first_in.set()
            second_in.wait(5)
        first_out.set()  # left while the other thread is still inside

    def second() -> None:
        first_in.wait(5)
        with one_blas_thread():
            second_in.set()
            first_out.wait(5)
            inside.append(_blas_threads())

    threads = [threading.Thread(target=f) for f in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert inside and all(n == 1 for n in inside[0])  # still limited for the second
    assert _blas_threads() == before  # and restored once both have left
