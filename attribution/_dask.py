"""The Dask engine: the streaming engine's partition tasks on a Dask cluster.

``attribute(..., engine="dask", client=...)`` and ``touchline attribute --engine dask
[--scheduler ADDRESS]`` run the map and reduce steps of :mod:`attribution._streaming`
on ``dask.distributed``:

* one task per partition for every map step (the channel dictionary, the fit pass,
  the credit pass), each reading its two part files itself by path or URL — any
  location fsspec or pyarrow opens (local disk, ``s3://``, ``gs://``, ``abfs://``);
* a tree reduction (pairs of results combined by further tasks) for the channel
  dictionaries and for the fit statistics (Markov transition counts);
* the credit pass keeps a bounded window of partitions in flight and hands their
  credit rows to the client in partition order, which streams them to
  ``credit.parquet`` — so neither the client nor the workers ever hold the whole log.

The fitted models and run options go to every worker once (``scatter``). Workers
need touchline (and, for remote stores, the fsspec driver such as ``s3fs`` or
``gcsfs``) installed, and a local store path must be readable by every worker.

Dask is the optional extra ``touchline[dask]`` and is imported only here.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .exceptions import TouchlineError

__all__ = ["DaskExecutor", "dask_executor"]


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise TouchlineError(
            f"engine 'dask' needs the optional extra ({exc}); install it with "
            "pip install 'touchline[dask]'") from None
    return distributed


class _Shared:
    """Wraps an argument so ``scatter`` sends it whole (not item by item)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _call(fn: Callable, part: Any, *shared: _Shared) -> Any:
    return fn(part, *(s.value for s in shared))


def _combine(combine: Callable, a: Any, b: Any) -> Any:
    return combine(a, b)


class DaskExecutor:
    """Runs the partition tasks of :mod:`attribution._streaming` on a Dask client.

    Parameters
    ----------
    client : dask.distributed.Client
    progress : tqdm bar, optional
        Advanced once per finished partition task.
    window : int, optional
        Credit-pass partitions in flight at once (default: two per worker).
    """

    def __init__(self, client: Any, progress: Any = None, window: int | None = None
                 ) -> None:
        self.client = client
        self.progress = progress
        self.window = window
        self._run = uuid.uuid4().hex[:8]

    def _scatter(self, args: Sequence[Any]) -> list[Any]:
        return [self.client.scatter(_Shared(a), broadcast=True, hash=False)
                for a in args]

    def _submit(self, fn: Callable, *args: Any, name: str) -> Any:
        return self.client.submit(fn, *args, pure=False,
                                  key=f"touchline-{name}-{self._run}-{uuid.uuid4().hex}")

    def map_reduce(self, fn: Callable, parts: Sequence[Any], combine: Callable,
                   *args: Any) -> Any:
        """One task per part, then a tree reduction of the results with ``combine``."""
        distributed = _import_distributed()
        shared = self._scatter(args)
        mapped = [self._submit(_call, fn, part, *shared, name=fn.__name__)
                  for part in parts]
        level = list(mapped)
        while len(level) > 1:
            nxt = [self._submit(_combine, combine, level[i], level[i + 1],
                                name=f"reduce-{fn.__name__}")
                   for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        for _ in distributed.as_completed(mapped):
            self._tick()
        result = level[0].result()
        del mapped, level, shared
        return result

    def map_ordered(self, fn: Callable, parts: Sequence[Any], *args: Any
                    ) -> Iterator[Any]:
        """Yield ``fn(part, *args)`` in part order, a bounded window in flight."""
        shared = self._scatter(args)
        window = self.window or max(2, 2 * len(self.client.scheduler_info().get(
            "workers", {})))
        todo = iter(parts)
        pending: deque[Any] = deque()

        def submit_next() -> None:
            part = next(todo, None)
            if part is not None:
                pending.append(self._submit(_call, fn, part, *shared, name=fn.__name__))

        for _ in range(window):
            submit_next()
        try:
            while pending:
                future = pending.popleft()
                result = future.result()
                future.release()
                submit_next()
                self._tick()
                yield result
        finally:
            for future in pending:
                future.cancel()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress.update(1)


def dask_executor(client: Any = None, scheduler: str | None = None
                  ) -> tuple[Callable[[Any], DaskExecutor], Callable[[], None]]:
    """Return a :class:`DaskExecutor` factory and a function closing what it opened.

    Parameters
    ----------
    client : dask.distributed.Client, optional
        Used as given (never closed here).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) to connect to. Without
        it and without ``client``, the current default client is used, or else a
        local cluster is started (one single-threaded worker process per core) and
        closed at the end.

    Returns
    -------
    factory : callable
        ``factory(progress)`` gives the executor.
    close : callable
        Closes the client and cluster this function started, if any.

    Raises
    ------
    TouchlineError
        When Dask is not installed, or the scheduler cannot be reached.
    """
    distributed = _import_distributed()
    owned: list[Any] = []
    if client is None and scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise TouchlineError(f"--scheduler {scheduler}: cannot connect to a "
                                 f"Dask scheduler there ({exc}); check the address"
                                 ) from None
        owned.append(client)
    elif client is None:
        try:
            client = distributed.default_client()
        except ValueError:
            cluster = distributed.LocalCluster(
                n_workers=os.cpu_count() or 1, threads_per_worker=1,
                dashboard_address=None)
            client = distributed.Client(cluster)
            owned.extend([client, cluster])

    def close() -> None:
        for thing in owned:
            thing.close()

    return (lambda progress: DaskExecutor(client, progress)), close
