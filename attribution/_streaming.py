"""Streaming partitions: attribute a partitioned store one partition at a time.

A partitioned store (DESIGN §2) keeps ``touches/part-NNNNN.parquet`` and
``journeys/part-NNNNN.parquet``, and a journey never straddles two parts. Every model
is a per-journey computation plus an associative reduction (DESIGN §6), so the engine
never needs the whole log in memory:

1. *Channels.* The distinct channel values of every part (the channel column only)
   make one global, sorted channel dictionary; each partition's codes are re-encoded
   against it, so channel codes, Markov state codes and per-channel sums agree
   across parts and with the in-memory engine.
2. *Fit pass* (only when a global or sampled model such as ``markov`` or
   ``incremental`` is run). Each partition gives the associative statistics of
   every global model — for Markov the
   aggregated transition counts (``Markov.count``) and the per-channel denominators
   Σ a·w of touch-level credit — which are summed (``+``) and solved once.
3. *Credit pass.* Each partition's eligible touches are credited by every model —
   per-journey models directly, global models from their fitted state — and the
   credit rows go out per partition: to a ``pyarrow.parquet.ParquetWriter`` for
   :func:`attribute_to_dir` (what ``touchline attribute`` calls), or into the
   :class:`~attribution.engine.AttributionResult` for :func:`attribute_partitioned`.
   Channel totals are the sums of the partitions' channel totals.

Peak memory is bounded by the largest partition plus the credit rows of one
partition, not by the whole log. Results equal the in-memory engine's to float
rounding (1e-9 relative); ``credit.parquet`` holds the same rows, grouped by
partition (within a partition by quarter, target, ``journey_id`` and touch).

How each model is run
---------------------
* A per-journey model that learns nothing in ``fit`` (it does not override
  :meth:`Model.fit`: the rule-based models and ``shapley``) is run on each partition
  alone.
* ``markov`` (and subclasses that keep its ``fit`` and ``_credit``) uses the two
  passes above.
* A model that implements the :class:`PartitionedModel` protocol
  (``partition_stats``, ``fit_partitions``, ``partition_credit``,
  ``channel_totals``) uses the two passes with its own statistics.
* A per-journey model with a ``fit_sample`` (``incremental``) is *sampled*: the fit
  pass collects the ``fit_sample`` journeys whose ids hash lowest
  (:class:`JourneySample`, the same sample its ``fit`` takes of a whole store in
  memory), the model is fitted once on them per quarter and target, and the credit
  pass credits every journey of every partition with it. Memory is that of the fit
  on the sample (about 1.5 GB at the default million journeys) plus one partition.
* Any other model (a global or fitted model without partition support) **falls back
  to loading every partition at once** for that model only: it is fitted and
  credited on the whole store in memory before the passes, and its credit column is
  filled in as the partitions stream by. Memory is then that of the in-memory
  engine; give such a model partition support to stream it.

Bootstrap intervals (``intervals=``) resample the whole store and run on the
in-memory engine only (``engine="auto"`` picks it for them). ``run.json`` records
the ``engine``, the number of ``partitions`` and the ``whole_store_models``.

The same map and reduce steps run on Dask (:mod:`attribution._dask`): the functions
:func:`fit_partition` and :func:`credit_partition` are the per-partition tasks and
:func:`combine_stats` the reduction.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ._atomic import atomic_directory, check_output_dir
from ._columnar import Columnar, build_columnar, concat_columnar, fnv1a64, take_journeys
from ._memory import release_unused_memory
from ._threads import FIT_THREADS, one_blas_thread
from .engine import (
    AttributionResult,
    _channel_rows,
    _concat_effects,
    _credit_rows,
    _effect_rows,
    _leave_out_timed,
    _progress,
    _resolve_run,
    _to_arrow,
    _version,
    _write,
)
from .exceptions import SchemaError, TouchlineError
from .models.base import Model
from .models.markov import Markov, MarkovCounts
from .problem import Problem, build_problem
from .quarters import parse_quarter
from .store import _COLUMNAR_TOUCHES, JOURNEY_SCHEMA, Store, open_store

__all__ = [
    "ENGINES",
    "Part",
    "PartitionedModel",
    "attribute_partitioned",
    "attribute_to_dir",
    "combine_stats",
    "credit_partition",
    "fit_partition",
    "list_parts",
    "pick_engine",
]

#: Engines ``attribute`` accepts: ``auto`` streams partitioned stores, keeps the rest
#: in memory; ``dask`` runs the partitions on a Dask cluster.
ENGINES: tuple[str, ...] = ("auto", "memory", "streaming", "dask")

_PART = re.compile(r"^part-\d+\.parquet$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DICTIONARY_COLUMNS = ("channel", "campaign", "content", "interaction", "source")
#: Touch columns of the credit pass (what ``credit.parquet`` needs).
_CREDIT_COLUMNS = tuple(_COLUMNAR_TOUCHES)
#: Touch columns of the fit pass: eligibility and channel paths only.
_FIT_COLUMNS = ("journey_id", "ts", "seq", "channel")
_JOURNEY_COLUMNS = tuple(f.name for f in JOURNEY_SCHEMA)
_OPTIONS = (
    "lookback_days",
    "quarters",
    "reporting_tz",
    "fiscal_year_start",
    "exclude_channels",
    "progress",
)


# ============================================================================ parts
@dataclass(frozen=True)
class Part:
    """One partition of a store: where its two files are (or its tables).

    ``root`` is the store directory or URL; ``touches`` and ``journeys`` are paths
    relative to it. An in-memory store is one part holding its ``tables``.
    """

    index: int
    root: str
    touches: str = ""
    journeys: str = ""
    tables: tuple[pa.Table, pa.Table] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """A readable name for messages: the touches file."""
        return f"{self.root.rstrip('/')}/{self.touches}" if self.touches else "touches"

    @property
    def journeys_name(self) -> str:
        """The journeys file, for messages."""
        return (
            f"{self.root.rstrip('/')}/{self.journeys}" if self.journeys else "journeys"
        )


def _is_url(root: str) -> bool:
    return bool(_URL.match(root)) and not root.startswith("file://")


@functools.lru_cache(maxsize=16)
def filesystem(root: str) -> tuple[pafs.FileSystem, str]:
    """Return a pyarrow filesystem and the path in it for a store directory or URL.

    Local paths (and ``file://``) use pyarrow's local filesystem; URLs (``s3://``,
    ``gs://``, ``abfs://``, ...) go through fsspec when it is installed (the
    ``touchline[dask]`` extra) and through pyarrow's own filesystems otherwise.

    Parameters
    ----------
    root : str
        A store directory or URL.

    Returns
    -------
    tuple of (pyarrow.fs.FileSystem, str)
    """
    if root.startswith("file://"):
        root = root.removeprefix("file://")
    if not _is_url(root):
        return pafs.LocalFileSystem(), Path(root).absolute().as_posix()
    try:
        import fsspec
    except ImportError:
        try:
            return pafs.FileSystem.from_uri(root)
        except (pa.ArrowInvalid, OSError) as exc:
            raise TouchlineError(
                f"{root}: cannot open this URL without fsspec "
                f"({str(exc).splitlines()[0]}); install "
                "'touchline[dask]' and the fsspec driver"
            ) from None
    try:
        fs, path = fsspec.core.url_to_fs(root)
    except (ImportError, ValueError) as exc:
        raise TouchlineError(
            f"{root}: fsspec cannot open this URL ({exc}); install "
            "its driver, e.g. s3fs or gcsfs"
        ) from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path.rstrip("/")


def _listdir(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))


def list_parts(store: str | os.PathLike | Store) -> list[Part]:
    """List the partitions of a store, in part-number order.

    A single-file store (``touches.parquet``) and an in-memory store are one part.

    Parameters
    ----------
    store : path, URL or Store

    Returns
    -------
    list of Part

    Raises
    ------
    SchemaError
        When the location holds no store, or the touches and journeys parts differ.
    """
    if isinstance(store, Store):
        if store.path is None:
            return [
                Part(
                    0,
                    "",
                    tables=(store.read_table("touches"), store.read_table("journeys")),
                )
            ]
        store = store.path
    root = str(store)
    fs, base = filesystem(root)
    kind = {
        name: fs.get_file_info(f"{base}/{name}").type
        for name in ("touches.parquet", "touches", "journeys.parquet", "journeys")
    }
    if kind["touches.parquet"] == pafs.FileType.File:
        return [Part(0, root, "touches.parquet", "journeys.parquet")]
    if kind["touches"] != pafs.FileType.Directory:
        raise SchemaError(
            f"{root}: not a touchline store (no touches.parquet and no "
            "touches/ directory); give the --out of `touchline ingest` "
            "or `touchline synth`"
        )
    names = {}
    for sub in ("touches", "journeys"):
        names[sub] = sorted(
            i.base_name
            for i in _listdir(fs, f"{base}/{sub}")
            if i.type == pafs.FileType.File and _PART.match(i.base_name)
        )
    if not names["touches"]:
        raise SchemaError(f"{root}/touches: holds no part-NNNNN.parquet files")
    if names["touches"] != names["journeys"]:
        odd = sorted(set(names["touches"]) ^ set(names["journeys"]))
        raise SchemaError(
            f"{root}: touches/ and journeys/ hold different parts "
            f"({', '.join(odd[:3])} on one side only); a partitioned "
            "store pairs every touches part with its journeys part"
        )
    return [
        Part(i, root, f"touches/{n}", f"journeys/{n}")
        for i, n in enumerate(names["touches"])
    ]


def is_partitioned(store: Any) -> bool:
    """Whether ``store`` is a partitioned store on disk or at a URL."""
    if isinstance(store, Store):
        if store.path is None or store._touches_table is not None:
            return False
        store = store.path
    if not isinstance(store, (str, os.PathLike)):
        return False
    try:
        fs, base = filesystem(str(store))
        return fs.get_file_info(f"{base}/touches").type == pafs.FileType.Directory
    except (OSError, TouchlineError, pa.ArrowException):
        return False


def pick_engine(store: Any, engine: str = "auto", client: Any = None) -> str:
    """Resolve ``engine`` to ``memory``, ``streaming`` or ``dask`` for ``store``.

    ``auto`` picks ``dask`` when a client or scheduler is given, ``streaming`` for a
    partitioned store (on disk or at a URL) and ``memory`` otherwise.

    Raises
    ------
    TouchlineError
        On an unknown engine name.
    """
    if engine not in ENGINES:
        raise TouchlineError(
            f"engine: {engine!r} is not an engine; choose from {', '.join(ENGINES)}"
        )
    if engine != "auto":
        return engine
    if client is not None:
        return "dask"
    if is_partitioned(store) or (isinstance(store, str) and _is_url(store)):
        return "streaming"
    return "memory"


def _read(part: Part, which: str, columns: Sequence[str]) -> pa.Table:
    if part.tables is not None:
        table = part.tables[0 if which == "touches" else 1]
        return table.select([c for c in columns if c in table.column_names])
    rel = part.touches if which == "touches" else part.journeys
    fs, base = filesystem(part.root)
    path = f"{base}/{rel}"
    try:
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            names = pf.schema_arrow.names
            pf = pq.ParquetFile(
                fh, read_dictionary=[c for c in _DICTIONARY_COLUMNS if c in names]
            )
            return pf.read(columns=[c for c in columns if c in names])
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(
            f"{part.root.rstrip('/')}/{rel}: cannot be read as Parquet "
            f"({str(exc).splitlines()[0]})"
        ) from None


def part_channels(part: Part) -> tuple[np.ndarray, bool]:
    """Return one part's distinct channel values and whether it has timeless paths.

    Only the ``channel`` and ``ts`` columns are read. The values come back sorted;
    timeless paths are aggregated paths (``ts`` null).
    """
    table = _read(part, "touches", ["channel", "ts"])
    timeless = "ts" not in table.column_names or table.column("ts").null_count > 0
    timeless = timeless and table.num_rows > 0
    col = table.column("channel")
    values: list[np.ndarray] = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary
        values.append(
            np.asarray(
                pc.unique(chunk.cast(pa.string())).drop_null().to_pylist(), dtype=object
            )
        )
    if not values:
        return np.array([], dtype=object), timeless
    return np.unique(np.concatenate(values).astype(str)).astype(object), timeless


def union_channels(
    a: tuple[np.ndarray, bool], b: tuple[np.ndarray, bool]
) -> tuple[np.ndarray, bool]:
    """Sorted union of two channel dictionaries (the reduce step of the channels)."""
    return np.union1d(a[0].astype(str), b[0].astype(str)).astype(object), a[1] or b[1]


def read_partition(
    part: Part, channels: np.ndarray, columns: Sequence[str] = _CREDIT_COLUMNS
) -> Columnar:
    """Read and validate one part, channel codes re-encoded against ``channels``.

    Parameters
    ----------
    part : Part
    channels : ndarray of str
        The global, sorted channel dictionary of the store.
    columns : sequence of str
        Touch columns to read.

    Returns
    -------
    Columnar
    """
    col = build_columnar(
        _read(part, "touches", columns),
        _read(part, "journeys", _JOURNEY_COLUMNS),
        touches_name=part.name,
        journeys_name=part.journeys_name,
    )
    where = np.searchsorted(channels, col.channels).astype(np.int32)
    where = np.minimum(where, max(len(channels) - 1, 0))
    if len(col.channels) and not np.array_equal(channels[where], col.channels):
        raise SchemaError(
            f"{part.name}: channel values changed while reading the "
            "store (it was rewritten during the run); run again"
        )
    codes = where[col.channel] if len(col.channel) else col.channel
    return replace(col, channel=codes.astype(np.int32), channels=channels)


# ============================================================================ models
@runtime_checkable
class PartitionedModel(Protocol):
    """What a global model implements to run on partitions (two passes).

    ``partition_stats`` is the map of the fit pass: associative statistics of one
    partition's :class:`~attribution.problem.Problem` that add up with ``+``.
    ``fit_partitions`` solves the model from the summed statistics and returns the
    fitted model; it is then shipped to every partition, where ``partition_credit``
    returns the credit of each touch of ``problem.conv`` (money, weight included).
    ``channel_totals`` gives the fitted channel totals (indexed like ``channels``)
    and the amount the model could not place on any channel, optionally followed by
    a dict of pseudo-channel rows (as ``ModelCredit.extra``).
    """

    def partition_stats(self, problem: Problem) -> Any:
        """Associative statistics of one partition."""

    def fit_partitions(
        self, stats: Any, channels: np.ndarray, target: str
    ) -> PartitionedModel:
        """Fit from the summed statistics; return the fitted model."""

    def partition_credit(self, problem: Problem) -> np.ndarray:
        """Touch credit of one partition's converting touches."""

    def channel_totals(self) -> tuple[np.ndarray, float]:
        """Channel totals and the extra unattributed amount."""


def _compact(counts: MarkovCounts) -> MarkovCounts:
    """Sum duplicate transitions, so reduced counts stay small."""
    return MarkovCounts.aggregate(*counts._fields())


@dataclass(eq=False)
class MarkovStats:
    """Associative statistics of a Markov chain and of its touch-level credit.

    ``counts`` are the chain's transition counts; ``total`` and ``unattributed``
    the problem's amounts; ``denom`` and ``wdenom`` per channel Σ a·w and Σ w over
    the eligible touches of converting journeys (the denominators of touch credit).
    """

    counts: MarkovCounts
    total: float
    unattributed: float
    denom: np.ndarray
    wdenom: np.ndarray

    def __add__(self, other: MarkovStats) -> MarkovStats:
        return MarkovStats(
            _compact(self.counts + other.counts),
            self.total + other.total,
            self.unattributed + other.unattributed,
            self.denom + other.denom,
            self.wdenom + other.wdenom,
        )


class MarkovPartitions:
    """:class:`PartitionedModel` for :class:`~attribution.models.markov.Markov`.

    Fit pass: ``Markov.count`` per partition plus the credit denominators; the
    chain is solved once by ``Markov.fit_counts``. Credit pass: the touch-level rule
    of ``Markov._credit`` (a·w / Σ(a·w) of the channel's total) with the global
    denominators.

    Parameters
    ----------
    model : Markov
        An unfitted Markov model (its parameters are used).
    """

    def __init__(self, model: Markov) -> None:
        self.model = model

    def partition_stats(self, problem: Problem) -> MarkovStats:
        """Transition counts and touch-credit denominators of one partition."""
        ch = problem.conv_channel
        value = problem.conv_value[problem.conv.row]
        w = problem.weight[problem.conv_rows][problem.conv.row].astype(np.float64)
        n = problem.n_channels
        return MarkovStats(
            _compact(self.model.count(problem)),
            problem.total,
            problem.unattributed,
            np.bincount(ch, weights=value, minlength=n),
            np.bincount(ch, weights=w, minlength=n),
        )

    def fit_partitions(
        self, stats: MarkovStats, channels: np.ndarray, target: str
    ) -> MarkovPartitions:
        """Solve the chain from the summed counts; fix the channel totals."""
        model = self.model.clone().fit_counts(stats.counts, channels, target)
        fitted = MarkovPartitions(model)
        attributable = stats.total - stats.unattributed
        effects = np.zeros(len(channels))
        by_name = {str(k): v for k, v in model.removal_effects_.items()}
        for i, name in enumerate(channels):  # a loop over channels, not touches
            effects[i] = by_name.get(str(name), 0.0)
        total_effect = effects.sum()
        fitted._active = bool(total_effect > 0 and attributable > 0)
        if fitted._active:
            fitted._by_channel = attributable * effects / total_effect
            fitted._unattributed = 0.0
        else:
            fitted._by_channel = np.zeros(len(channels))
            fitted._unattributed = max(attributable, 0.0)
        fitted._denom, fitted._wdenom = stats.denom, stats.wdenom
        return fitted

    def partition_credit(self, problem: Problem) -> np.ndarray:
        """Each converting touch's share a·w / Σ(a·w) of its channel's total."""
        if not self._active:
            return np.zeros(len(problem.conv.touch))
        ch = problem.conv_channel
        value = problem.conv_value[problem.conv.row]
        w = problem.weight[problem.conv_rows][problem.conv.row].astype(np.float64)
        denom, wdenom = self._denom[ch], self._wdenom[ch]
        use_value = denom > 0
        share = np.where(
            use_value,
            value / np.where(use_value, denom, 1.0),
            w / np.where(wdenom > 0, wdenom, 1.0),
        )
        return share * self._by_channel[ch]

    def channel_totals(self) -> tuple[np.ndarray, float]:
        """Channel totals in proportion to removal effects, and the unattributed."""
        return self._by_channel, self._unattributed


class _Direct:
    """A model that implements :class:`PartitionedModel` itself."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def partition_stats(self, problem: Problem) -> Any:
        return self.model.partition_stats(problem)

    def fit_partitions(self, stats: Any, channels: np.ndarray, target: str) -> _Direct:
        return _Direct(self.model.clone().fit_partitions(stats, channels, target))

    def partition_credit(self, problem: Problem) -> np.ndarray:
        return self.model.partition_credit(problem)

    def channel_totals(self) -> tuple[np.ndarray, float]:
        return self.model.channel_totals()


@dataclass(eq=False)
class JourneySample:
    """The journeys of some partitions whose ids hash lowest (a model's fit sample).

    ``+`` keeps the lowest ``k`` hashes of both sides (with ties, which the model's
    own ``fit`` narrows), so the reduce is associative and its result does not
    depend on how the store is split (see
    :func:`attribution._columnar.smallest_hashes`). Pieces stay apart until
    :attr:`columnar` puts them together, so the reduce copies only the pieces it
    trims, never the whole sample.
    """

    k: int
    pieces: list[Columnar]
    hashes: list[np.ndarray]
    seen: int  # journeys of all the partitions summed

    @classmethod
    def of(cls, columnar: Columnar, k: int) -> JourneySample:
        """Take the lowest-hashing ``k`` journeys of one partition (ties kept)."""
        return cls(
            k, [columnar], [fnv1a64(columnar.journey_ids)], columnar.n_journeys
        )._keep_lowest()

    def _keep_lowest(self) -> JourneySample:
        n = sum(len(h) for h in self.hashes)
        if n <= self.k:
            return self
        cut = np.partition(np.concatenate(self.hashes), self.k - 1)[self.k - 1]
        pieces, hashes = [], []
        for piece, h in zip(self.pieces, self.hashes, strict=True):
            keep = h <= cut
            if keep.all():
                pieces.append(piece)
                hashes.append(h)
            elif keep.any():
                pieces.append(take_journeys(piece, np.flatnonzero(keep)))
                hashes.append(h[keep])
        return JourneySample(self.k, pieces, hashes, self.seen)

    def __add__(self, other: JourneySample) -> JourneySample:
        if not self.hashes or not other.hashes:
            raise TouchlineError(
                "JourneySample: a sample that has been read cannot be added to"
            )
        last = JourneySample._last_sum
        if last is not None and last[0] is self and last[1] is other:
            return last[2]  # the same pair for every (quarter, target): add once
        JourneySample._last_sum = None
        out = JourneySample(
            self.k,
            self.pieces + other.pieces,
            self.hashes + other.hashes,
            self.seen + other.seen,
        )._keep_lowest()
        JourneySample._last_sum = (self, other, out)
        return out

    _last_sum = None  # (a, b, a + b) of the latest sum
    _last_built = None  # (weak references to the pieces, their union) of the last read

    @property
    def columnar(self) -> Columnar:
        """The sample as one Columnar, in journey_id order.

        Built once; the pieces are let go then, so a sample that has been read
        can no longer be added to.
        """
        if len(self.pieces) != 1:
            # samples of several (quarter, target) may hold the same pieces: build
            # their union once, and leave the pieces whole for the others
            built = JourneySample._last_built
            mine = {id(p): p for p in self.pieces}
            if built is None or len(built[0]) != len(mine) or any(
                    (q := r()) is None or mine.get(id(q)) is not q for r in built[0]):
                built = ([weakref.ref(p) for p in self.pieces],
                         concat_columnar(self.pieces))
                JourneySample._last_built = built
            self.pieces = [built[1]]
            self.hashes = []
        return self.pieces[0]


def _fit_sample(model: Model) -> int | None:
    k = getattr(model, "fit_sample", None)
    return int(k) if isinstance(k, (int, np.integer)) and k > 0 else None


def model_plan(model: Model) -> str:
    """Say how a model runs on partitions.

    ``journey``, ``partitioned``, ``sampled`` or ``whole``: see the module docstring.
    """
    cls = type(model)
    if model.per_journey and _fit_sample(model) is not None:
        return "sampled"
    if all(
        callable(getattr(model, m, None))
        for m in (
            "partition_stats",
            "fit_partitions",
            "partition_credit",
            "channel_totals",
        )
    ):
        return "partitioned"
    if (
        isinstance(model, Markov)
        and cls.fit is Markov.fit
        and cls._credit is Markov._credit
    ):
        return "partitioned"
    if model.per_journey and cls.fit is Model.fit:
        return "journey"
    return "whole"


def _adapter(model: Model) -> Any:
    if isinstance(model, Markov) and not callable(
        getattr(model, "partition_stats", None)
    ):
        return MarkovPartitions(model)
    return _Direct(model)


# ============================================================================ stats
@dataclass(eq=False)
class SliceStats:
    """What one partition contributes to one (quarter, target): associative sums."""

    total: float = 0.0
    unattributed: float = 0.0
    journeys: int = 0
    converting: int = 0
    present: np.ndarray | None = None
    by_channel: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    pseudo: dict[tuple[str, str], float] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Problem) -> SliceStats:
        """Take the totals of one partition's problem."""
        return cls(
            total=problem.total,
            unattributed=problem.unattributed,
            journeys=len(problem.journey),
            converting=int(problem.converting.sum()),
            present=problem.channels_present.copy(),
        )

    def __add__(self, other: SliceStats) -> SliceStats:
        def merge(a: dict, b: dict) -> dict:
            out = dict(a)
            for k, v in b.items():
                out[k] = out[k] + v if k in out else v
            return out

        present = (
            other.present
            if self.present is None
            else self.present
            if other.present is None
            else self.present | other.present
        )
        return SliceStats(
            self.total + other.total,
            self.unattributed + other.unattributed,
            self.journeys + other.journeys,
            self.converting + other.converting,
            present,
            merge(self.by_channel, other.by_channel),
            merge(self.extra, other.extra),
            merge(self.pseudo, other.pseudo),
            merge(self.fit, other.fit),
        )


PartStats = dict[tuple[int, str], SliceStats]


def combine_stats(a: PartStats, b: PartStats) -> PartStats:
    """Add the statistics of two disjoint sets of partitions (associative)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k] + v if k in out else v
    return out


@dataclass(eq=False)
class RunSpec:
    """Everything a partition task needs: options, models and the channels."""

    models: list[Model]
    plans: dict[str, str]
    targets: list[str]
    quarters: list[str | None]
    channels: np.ndarray
    lookback_days: float
    reporting_tz: str
    fiscal_year_start: int
    exclude_channels: tuple[str, ...]

    def problems(self, columnar: Columnar) -> Iterator[tuple[int, str, Problem]]:
        """Every (quarter index, target, problem) of one partition, in run order."""
        for qi, quarter in enumerate(self.quarters):
            for target in self.targets:
                yield (
                    qi,
                    target,
                    build_problem(
                        columnar,
                        target,
                        lookback_days=self.lookback_days,
                        quarter=quarter,
                        reporting_tz=self.reporting_tz,
                        fiscal_year_start=self.fiscal_year_start,
                        exclude_channels=self.exclude_channels,
                    ),
                )

    def global_models(self) -> list[Model]:
        """Return the models fitted from summed statistics."""
        return [m for m in self.models if self.plans[m.name] == "partitioned"]


# ============================================================================ tasks
def fit_partition(part: Part, spec: RunSpec) -> PartStats:
    """Map step of the fit pass: global models' statistics of one partition."""
    columnar = read_partition(part, spec.channels, _FIT_COLUMNS)
    out: PartStats = {}
    models = spec.global_models()
    samples = {
        k: JourneySample.of(columnar, k)
        for k in {
            _fit_sample(m) for m in spec.models if spec.plans[m.name] == "sampled"
        }
    }
    for qi, target, problem in spec.problems(columnar):
        s = SliceStats()
        for model in models:
            s.fit[model.name] = _adapter(model).partition_stats(problem)
        for model in spec.models:
            if spec.plans[model.name] == "sampled":
                s.fit[model.name] = samples[_fit_sample(model)]
        out[(qi, target)] = s
    return out


def fit_sampled(
    model: Model, sample: JourneySample, spec: RunSpec, qi: int, target: str
) -> Model:
    """Fit a ``sampled`` model on its sample, as the in-memory engine would.

    The model's ``fit`` narrows the sample to its lowest ``k`` journeys exactly as
    it samples a whole store, so both engines fit on the same journeys.
    """
    quarter = spec.quarters[qi]
    problem = build_problem(
        sample.columnar,
        target,
        lookback_days=spec.lookback_days,
        quarter=quarter,
        reporting_tz=spec.reporting_tz,
        fiscal_year_start=spec.fiscal_year_start,
        exclude_channels=spec.exclude_channels,
    )
    fitted = model.clone().fit(problem)
    if sample.seen > sample.k and hasattr(fitted, "_diagnostics"):
        fitted.sampled_ = {
            "journeys": min(sample.k, problem.columnar.n_journeys),
            "of": sample.seen,
        }
        fitted._diagnostics["fit_sample"] = dict(fitted.sampled_)
    release = getattr(fitted, "release_fit_data", None)
    return release() if callable(release) else fitted


def fit_samples(
    samples: list[tuple[Model, JourneySample, int, str]], spec: RunSpec
) -> dict[tuple[int, str, str], Model]:
    """Fit every ``(model, sample, quarter, target)`` with :func:`fit_sampled`.

    The fits are independent, so they run on :data:`FIT_THREADS` threads (numpy,
    scipy and BLAS release the GIL in their heavy work; BLAS keeps one thread per
    fit). Each sample is put together first, on this thread, because samples of
    several targets share their pieces. Results are keyed
    ``(quarter index, target, model name)`` in the order given.
    """
    for _, sample, _, _ in samples:
        sample.columnar  # noqa: B018 -- build the union here, once per set of pieces
    if len(samples) <= 1 or FIT_THREADS == 1:
        return {(qi, t, m.name): fit_sampled(m, sample, spec, qi, t)
                for m, sample, qi, t in samples}
    with one_blas_thread(), ThreadPoolExecutor(
        max_workers=FIT_THREADS, thread_name_prefix="touchline-fit"
    ) as pool:
        futures = {(qi, t, m.name): pool.submit(fit_sampled, m, sample, spec, qi, t)
                   for m, sample, qi, t in samples}
        return {key: f.result() for key, f in futures.items()}


def credit_partition(
    part: Part, spec: RunSpec, fitted: dict[tuple[int, str, str], Any]
) -> tuple[list[tuple[int, str, pa.Table]], PartStats]:
    """Map step of the credit pass: credit rows and channel sums of one partition.

    Parameters
    ----------
    part : Part
    spec : RunSpec
    fitted : dict
        Fitted :class:`PartitionedModel` per (quarter index, target, model name).

    Returns
    -------
    tables : list of (quarter index, target, pyarrow.Table)
        Wide credit rows, one table per quarter and target. Columns of models that
        fall back to the whole store hold zeros here and are filled in later.
    stats : dict
        Totals and per-journey models' channel sums per (quarter index, target).
    """
    columnar = read_partition(part, spec.channels, _CREDIT_COLUMNS)
    tables, stats = [], {}
    for qi, target, problem in spec.problems(columnar):
        s = SliceStats.of(problem)
        columns: dict[str, np.ndarray] = {}
        for spec_model in spec.models:
            name = spec_model.name
            plan = spec.plans[name]
            if plan in ("journey", "sampled"):
                mc = (
                    spec_model.clone().fit(problem)
                    if plan == "journey"
                    else fitted[(qi, target, name)]
                ).credit(problem)
                columns[name] = mc.touch
                s.by_channel[name] = np.asarray(mc.by_channel, dtype=np.float64)
                s.extra[name] = float(mc.unattributed)
                for label, value in getattr(mc, "extra", {}).items():
                    s.pseudo[(name, label)] = float(value)
            elif plan == "partitioned":
                columns[name] = fitted[(qi, target, name)].partition_credit(problem)
            else:
                columns[name] = np.zeros(len(problem.conv.touch))
        tables.append((qi, target, _credit_rows(problem, columns)))
        stats[(qi, target)] = s
    return tables, stats


# ============================================================================ executors
class LocalExecutor:
    """Runs the partition tasks one after another in this process."""

    def __init__(self, progress: Any = None) -> None:
        self.progress = progress

    def map_reduce(
        self, fn: Callable, parts: Sequence[Part], combine: Callable, *args: Any
    ) -> Any:
        """``combine`` the results of ``fn(part, *args)`` over all parts."""
        out = None
        for part in parts:
            r = fn(part, *args)
            out = r if out is None else combine(out, r)
            self._tick()
        return out

    def map_ordered(
        self, fn: Callable, parts: Sequence[Part], *args: Any
    ) -> Iterator[Any]:
        """Yield ``fn(part, *args)`` part by part, in part order."""
        for part in parts:
            yield fn(part, *args)
            self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress.update(1)


# ============================================================================ sinks
class _TableSink:
    """Keeps credit tables in memory (for the Python API)."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.tables.append(table)

    def table(self) -> pa.Table:
        if not self.tables:
            return pa.table({})
        return pa.concat_tables(self.tables, promote_options="permissive")


class _ParquetSink:
    """Streams credit tables into one Parquet file.

    Writing runs on one background thread (Parquet encoding releases the GIL), so the
    next partition is credited while this one is compressed; at most one table waits
    to be written, which keeps memory bounded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.empty: pa.Table | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="touchline-writer"
        )
        self._pending: Future | None = None

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # re-raises a failed write here

    def write(self, table: pa.Table) -> None:
        table = table.replace_schema_metadata(None)
        if table.num_rows == 0:
            if self.empty is None:
                self.empty = table
            return
        self._wait()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._pending = self._pool.submit(self.writer.write_table, table)

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown()
            if self.writer is not None:
                self.writer.close()
        if self.writer is None:
            pq.write_table(
                self.empty if self.empty is not None else pa.table({}),
                self.path,
                compression="zstd",
            )


# ======================================================================= whole store
@dataclass(eq=False)
class _WholeStore:
    """Models that fall back to the whole store: their results, keyed for filling."""

    journey_ids: pa.Array
    offsets: np.ndarray
    dense: dict[tuple[int, str, str], np.ndarray]
    channel_rows: dict[tuple[int, str, str], pd.DataFrame]
    effect_rows: dict[tuple[int, str, str], pd.DataFrame]
    models: dict[tuple[int, str, str], Model]

    def fill(
        self, qi: int, target: str, table: pa.Table, names: Iterable[str]
    ) -> pa.Table:
        """Put the whole-store credit of ``names`` into a partition's credit rows."""
        names = list(names)
        if not names or table.num_rows == 0:
            return table
        jid = table.column("journey_id").combine_chunks()
        where = pc.index_in(jid.dictionary, value_set=self.journey_ids)
        where = where.to_numpy(zero_copy_only=False).astype(np.int64)
        rows = where[jid.indices.to_numpy(zero_copy_only=False)]
        touch = self.offsets[rows] + table.column("touch_index").to_numpy()
        for name in names:
            i = table.schema.get_field_index(name)
            table = table.set_column(
                i, name, pa.array(self.dense[(qi, target, name)][touch])
            )
        return table


def _whole_store(
    parts: Sequence[Part], spec: RunSpec, models: list[Model]
) -> _WholeStore:
    touches = pa.concat_tables(
        [_read(p, "touches", _CREDIT_COLUMNS) for p in parts],
        promote_options="permissive",
    )
    journeys = pa.concat_tables(
        [_read(p, "journeys", _JOURNEY_COLUMNS) for p in parts],
        promote_options="permissive",
    )
    columnar = Store(touches, journeys).columnar()
    del touches, journeys
    out = _WholeStore(columnar.journey_ids, columnar.offsets, {}, {}, {}, {})
    for qi, target, problem in spec.problems(columnar):
        for spec_model in models:
            model = spec_model.clone().fit(problem)
            mc = model.credit(problem)
            key = (qi, target, model.name)
            dense = np.zeros(columnar.n_touches)
            dense[problem.conv.touch] = mc.touch
            out.dense[key] = dense
            out.channel_rows[key] = _channel_rows(
                problem,
                model.name,
                mc.by_channel,
                mc.unattributed,
                getattr(mc, "extra", {}),
            )
            if isinstance(model, Markov):
                out.effect_rows[key] = _effect_rows(problem, model)
            out.models[key] = model
    return out


# ============================================================================ the run
@dataclass(eq=False)
class _Summary:
    """The slice of a Problem that ``engine._channel_rows`` reads, from sums."""

    channels: np.ndarray
    channels_present: np.ndarray
    total: float
    unattributed: float
    target: str
    quarter: str


def _input_hashes(store: Any, parts: Sequence[Part]) -> dict[str, str]:
    if isinstance(store, Store):
        return store.input_hashes()
    if not parts or parts[0].tables is not None:
        return {}
    root = parts[0].root
    if not _is_url(root):
        return open_store(root).input_hashes()
    fs, base = filesystem(root)
    out = {}
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    for info in sorted(infos, key=lambda i: i.path):
        if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
            digest = hashlib.sha256()
            with fs.open_input_stream(info.path) as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            out[info.path[len(base) :].lstrip("/")] = digest.hexdigest()
    return out


def _run(
    store: Any,
    models: Any,
    targets: str | Sequence[str],
    *,
    sink: Any,
    engine: str,
    executor_factory: Callable[[Any], Any],
    lookback_days: float,
    quarters: str | Sequence[str] | None,
    reporting_tz: str,
    fiscal_year_start: int,
    exclude_channels: Iterable[str],
    progress: bool,
    warn_level: int = 4,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict, list[dict]]:
    model_specs, implicit, targets, quarter_list = _resolve_run(
        models, targets, quarters
    )
    if isinstance(store, tuple) or (
        isinstance(store, (str, os.PathLike)) and not _is_url(str(store))
    ):
        store = open_store(store)
    parts = list_parts(store)
    plans = {m.name: model_plan(m) for m in model_specs}
    two_pass = any(p in ("partitioned", "sampled") for p in plans.values())
    bar = _progress(len(parts) * (2 + two_pass), progress)
    try:
        executor = executor_factory(bar)
        bar.set_description("channels")
        channels, timeless = executor.map_reduce(part_channels, parts, union_channels)
        model_specs = _leave_out_timed(
            model_specs, implicit, timeless, stacklevel=warn_level
        )
        spec = RunSpec(
            models=model_specs,
            plans=plans,
            targets=targets,
            quarters=quarter_list,
            channels=channels,
            lookback_days=lookback_days,
            reporting_tz=reporting_tz,
            fiscal_year_start=fiscal_year_start,
            exclude_channels=tuple(exclude_channels),
        )
        whole_models = [m for m in model_specs if plans[m.name] == "whole"]
        whole = _whole_store(parts, spec, whole_models) if whole_models else None
        fitted: dict[tuple[int, str, str], Any] = {}
        if two_pass:
            bar.set_description("fit")
            stats = executor.map_reduce(fit_partition, parts, combine_stats, spec)
            JourneySample._last_sum = None
            samples = []
            for (qi, target), s in stats.items():
                for m in spec.global_models():
                    fitted[(qi, target, m.name)] = _adapter(m).fit_partitions(
                        s.fit[m.name], channels, target
                    )
                for m in spec.models:
                    if plans[m.name] == "sampled":
                        samples.append((m, s.fit.pop(m.name), qi, target))
            del stats
            release_unused_memory()  # what the fit pass freed
            fitted.update(fit_samples(samples, spec))
            del samples
            JourneySample._last_built = None
            release_unused_memory()  # the samples and their fits
        bar.set_description("credit")
        totals_stats: PartStats = {}
        whole_names = [m.name for m in whole_models]
        for tables, part_stats in executor.map_ordered(
            credit_partition, parts, spec, fitted
        ):
            for qi, target, table in tables:
                if whole is not None:
                    table = whole.fill(qi, target, table, whole_names)
                sink.write(table)
            totals_stats = combine_stats(totals_stats, part_stats)
            tables = table = None  # free this part's rows before the next is read
    finally:
        bar.close()

    channel_parts, effect_parts, totals = [], [], []
    diagnostics: list[dict[str, Any]] = []
    fitted_models: dict[tuple[str, str, str], Model] = {}
    for qi, quarter in enumerate(quarter_list):
        label = parse_quarter(quarter) if quarter is not None else "all"
        for target in targets:
            s = totals_stats[(qi, target)]
            if quarter is not None and not s.journeys and timeless:
                raise TouchlineError(
                    f"--quarter {quarter}: this store holds timeless aggregated "
                    "paths, which have no dates and so no quarter; run without "
                    "--quarter"
                )
            summary = _Summary(
                channels=channels,
                channels_present=(
                    s.present
                    if s.present is not None
                    else np.zeros(len(channels), bool)
                ),
                total=s.total,
                unattributed=s.unattributed,
                target=target,
                quarter=label,
            )
            for spec_model in model_specs:
                name = spec_model.name
                key = (qi, target, name)
                if plans[name] == "whole":
                    assert whole is not None
                    channel_parts.append(whole.channel_rows[key])
                    if key in whole.effect_rows:
                        effect_parts.append(whole.effect_rows[key])
                    fitted_models[(name, target, label)] = whole.models[key]
                    continue
                if plans[name] in ("journey", "sampled"):
                    model = (
                        fitted[key] if plans[name] == "sampled" else spec_model.clone()
                    )
                    model.fitted_target_ = target
                    by_channel = s.by_channel.get(name, np.zeros(len(channels)))
                    extra = s.extra.get(name, 0.0)
                    pseudo = {row: v for (n, row), v in s.pseudo.items() if n == name}
                else:
                    adapter = fitted[key]
                    model = adapter.model
                    by_channel, extra, *more = adapter.channel_totals()
                    pseudo = more[0] if more else {}
                channel_parts.append(
                    _channel_rows(summary, name, by_channel, extra, pseudo)
                )
                if isinstance(model, Markov):
                    effect_parts.append(_effect_rows(summary, model))
                fitted_models[(name, target, label)] = model
            for name in [m.name for m in model_specs]:
                model = fitted_models[(name, target, label)]
                if plans[name] != "journey" and hasattr(model, "diagnostics"):
                    diagnostics.append(
                        {
                            "model": name,
                            "target": target,
                            "quarter": label,
                            **model.diagnostics(),
                        }
                    )
            totals.append(
                {
                    "target": target,
                    "quarter": label,
                    "total": s.total,
                    "unattributed": s.unattributed,
                    "journeys": s.journeys,
                    "converting": s.converting,
                }
            )
    channel_credit = pd.concat(channel_parts, ignore_index=True)
    removal_effects = _concat_effects(effect_parts)
    where = (
        str(store.path)
        if isinstance(store, Store) and store.path
        else None
        if isinstance(store, Store)
        else str(store)
    )
    run = {
        "touchline_version": _version(),
        "models": [m.describe() for m in model_specs],
        "model_columns": [m.name for m in model_specs],
        "targets": targets,
        "quarters": [q or "all" for q in quarter_list],
        "lookback_days": lookback_days,
        "reporting_tz": reporting_tz,
        "fiscal_year_start": fiscal_year_start,
        "exclude_channels": list(spec.exclude_channels),
        "store": where,
        "inputs": _input_hashes(store, parts),
        "totals": totals,
        "engine": engine,
        "partitions": len(parts),
        "whole_store_models": [m.name for m in whole_models],
    }
    if diagnostics:
        run["diagnostics"] = diagnostics
    return channel_credit, removal_effects, fitted_models, run, totals


def _executor_factory(
    engine: str, client: Any, scheduler: str | None
) -> tuple[Callable[[Any], Any], Callable[[], None]]:
    if engine == "dask":
        from ._dask import dask_executor

        return dask_executor(client=client, scheduler=scheduler)
    return LocalExecutor, lambda: None


def _check_options(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TouchlineError(
            f"{', '.join(unknown)}: not supported by the streaming "
            "and dask engines yet; use engine='memory'"
        )


def attribute_partitioned(
    store: Any,
    models: Any = "all",
    targets: str | Sequence[str] = ("pipeline", "revenue"),
    *,
    engine: str = "streaming",
    client: Any = None,
    scheduler: str | None = None,
    **options: Any,
) -> Any:
    """Attribute a store partition by partition; the API twin of :func:`attribute`.

    ``attribution.attribute`` calls this for partitioned stores (or with
    ``engine="streaming"`` / ``"dask"``). The channel tables, removal effects and
    fitted models are those of the in-memory engine; the credit rows are gathered
    into ``credit_table``, so memory grows with the credit rows — use
    :func:`attribute_to_dir` to stream them to disk instead.

    Parameters
    ----------
    store : path, URL or Store
        A store in either layout; a single-file or in-memory store is one partition.
    models, targets
        As for :func:`attribution.attribute`.
    engine : {"streaming", "dask"}, default="streaming"
        Run the partitions here, one at a time, or on Dask.
    client : dask.distributed.Client, optional
        The Dask client (``engine="dask"``); see :mod:`attribution._dask`.
    scheduler : str, optional
        Address of a Dask scheduler to connect to, when no ``client`` is given.
    **options
        ``lookback_days``, ``quarters``, ``reporting_tz``, ``fiscal_year_start``,
        ``exclude_channels``, ``progress`` as for :func:`attribution.attribute`.

    Returns
    -------
    AttributionResult
    """
    _check_options(options)
    engine = "streaming" if engine in ("auto", "memory") else engine
    factory, close = _executor_factory(engine, client, scheduler)
    sink = _TableSink()
    try:
        channel_credit, effects, fitted, run, totals = _run(
            store,
            models,
            targets,
            sink=sink,
            engine=engine,
            executor_factory=factory,
            **_defaults(options),
        )
    finally:
        close()
    return AttributionResult(
        credit_table=sink.table(),
        channel_credit=channel_credit,
        removal_effects=effects,
        models=fitted,
        run=run,
        totals=pd.DataFrame(totals),
    )


def _defaults(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "lookback_days": 365,
        "quarters": None,
        "reporting_tz": "UTC",
        "fiscal_year_start": 1,
        "exclude_channels": (),
        "progress": False,
        **options,
    }


def attribute_to_dir(
    store: Any,
    out: str | os.PathLike,
    models: Any = "all",
    targets: str | Sequence[str] = ("pipeline", "revenue"),
    *,
    engine: str = "auto",
    client: Any = None,
    scheduler: str | None = None,
    **options: Any,
) -> Path:
    """Attribute a store and write the outputs to ``out``, streaming the credit rows.

    Writes ``credit.parquet``, ``channel_credit.parquet``, ``removal_effects.parquet``
    and ``run.json`` atomically (what ``touchline attribute --out`` writes). With the
    streaming and Dask engines ``credit.parquet`` is written partition by partition
    with a ``pyarrow.parquet.ParquetWriter``, so memory stays bounded by the largest
    partition; with the in-memory engine this is ``attribute(...).to_dir(out)``.

    Parameters
    ----------
    store : path, URL or Store
        The journey store.
    out : path
        A new directory, or one touchline wrote before.
    models, targets
        As for :func:`attribution.attribute`.
    engine : {"auto", "memory", "streaming", "dask"}, default="auto"
        ``auto`` streams partitioned stores and uses Dask when ``client`` or
        ``scheduler`` is given.
    client : dask.distributed.Client, optional
        A Dask client (``engine="dask"``).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); without it and
        without ``client`` the Dask engine starts a local cluster.
    **options
        Further keyword arguments of :func:`attribution.attribute`.

    Returns
    -------
    pathlib.Path
        ``out``.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> touches = pd.DataFrame({"journey_id": ["a", "a"], "seq": [0, 1],
    ...                         "channel": ["Email", "Search"]})
    >>> journeys = pd.DataFrame({"journey_id": ["a"], "won": [True],
    ...                          "closed_at": [pd.Timestamp("2026-01-01", tz="UTC")],
    ...                          "revenue_amount": [100.0]})
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "credit"
    >>> path = attribute_to_dir((touches, journeys), out, "linear", "revenue",
    ...                         engine="streaming")
    >>> sorted(p.name for p in path.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['channel_credit.parquet', 'credit.parquet', 'removal_effects.parquet',
     'run.json']
    """
    import json

    from .engine import attribute

    if (
        options.get("intervals")
        and engine == "auto"
        and client is None
        and scheduler is None
    ):
        engine = "memory"  # bootstrap intervals resample the whole store in memory
    chosen = pick_engine(store, engine, client if client is not None else scheduler)
    if chosen == "memory":
        return attribute(store, models, targets, engine="memory", **options).to_dir(out)
    _check_options(options)
    check_output_dir(out)
    if isinstance(store, tuple):
        store = open_store(store)
    factory, close = _executor_factory(chosen, client, scheduler)
    try:
        with atomic_directory(out) as tmp:
            sink = _ParquetSink(tmp / "credit.parquet")
            try:
                channel_credit, effects, _, run, _ = _run(
                    store,
                    models,
                    targets,
                    sink=sink,
                    engine=chosen,
                    executor_factory=factory,
                    warn_level=3,
                    **_defaults(options),
                )
            finally:
                sink.close()
            _write(_to_arrow(channel_credit), tmp / "channel_credit.parquet")
            _write(_to_arrow(effects), tmp / "removal_effects.parquet")
            (tmp / "run.json").write_text(
                json.dumps(run, indent=2, sort_keys=True) + "\n"
            )
    finally:
        close()
    return Path(out)
