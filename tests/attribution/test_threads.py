"""one_blas_thread: one BLAS limit while any thread is inside, lifted after the last."""

import threading

import pytest

from attribution import _threads
from attribution._threads import one_blas_thread

threadpoolctl = pytest.importorskip("threadpoolctl")


class _FakeLimits:
    """Records what one_blas_thread asks of threadpoolctl."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, *, limits: int, user_api: str) -> "_FakeLimits":
        self.calls.append(f"limit {user_api}={limits}")
        return self

    def restore_original_limits(self) -> None:
        self.calls.append("restore")


def test_overlapping_threads_set_once_and_restore_after_the_last(monkeypatch):
    fake = _FakeLimits()
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", fake)
    first_in, second_in, first_out = (threading.Event() for _ in range(3))
    seen: list[list[str]] = []

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
            seen.append(list(fake.calls))  # the first has left: still limited

    threads = [threading.Thread(target=f) for f in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [["limit blas=1"]]
    assert fake.calls == ["limit blas=1", "restore"]
    assert _threads._users == 0


def test_limits_blas_in_the_main_thread_and_restores():
    import numpy as np  # noqa: F401 -- BLAS loaded

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread(), one_blas_thread():  # nested
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before
