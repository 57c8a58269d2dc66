"""The journey store: column names, schema, the atomic writer and the reader.

A store is a directory (DESIGN §2) holding ``touches.parquet`` and ``journeys.parquet``
(or the partitioned ``touches/part-NNNNN.parquet`` and ``journeys/part-NNNNN.parquet``),
``rejects.parquet``, optionally ``spend.parquet``, and ``manifest.json``.

:func:`open_store` reads a store directory, or a pair of DataFrames, into a
:class:`Store`. The engine never touches pandas frames on its hot path: it asks the
store for :meth:`Store.columnar`, the dictionary-encoded numpy arrays of the columns it
needs (journey offsets plus per-touch codes), built once and cached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._atomic import atomic_directory
from ._columnar import (
    Columnar,
    build_columnar,
    check_unique_ids,
    concat_columnar,
    fnv1a64,
    is_sorted,
    take_journeys,
)
from ._memory import release_unused_memory
from .exceptions import ParameterError, SchemaError

__all__ = [
    "JOURNEY_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "SPEND_SCHEMA",
    "TOUCH_MEMORY_SCHEMA",
    "TOUCH_SCHEMA",
    "Store",
    "open_store",
    "write_store",
]

SCHEMA_VERSION = 1

_TS = pa.timestamp("us", tz="UTC")

#: ``touches.parquet``: one row per touch, sorted by journey_id, ts, seq.
TOUCH_SCHEMA = pa.schema(
    [
        ("journey_id", pa.string()),
        ("ts", _TS),
        ("seq", pa.int64()),
        ("person_id", pa.string()),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("content", pa.string()),
        ("interaction", pa.string()),
        ("source", pa.string()),
        ("source_ref", pa.string()),
    ]
)

#: ``journeys.parquet``: one row per journey, sorted by journey_id.
JOURNEY_SCHEMA = pa.schema(
    [
        ("journey_id", pa.string()),
        ("account_id", pa.string()),
        ("lead_created_at", _TS),
        ("opportunity_created_at", _TS),
        ("closed_at", _TS),
        ("won", pa.bool_()),
        ("pipeline_amount", pa.float64()),
        ("revenue_amount", pa.float64()),
        ("currency", pa.string()),
        ("weight", pa.int64()),
    ]
)

_COLUMNAR_JOURNEYS = JOURNEY_SCHEMA.names

#: ``rejects.parquet``: every input row that could not be used.
REJECT_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_ref", pa.string()),
        ("raw", pa.string()),
        ("reason", pa.string()),
    ]
)

#: ``spend.parquet``: costs by day, channel and campaign.
SPEND_SCHEMA = pa.schema(
    [
        ("date", pa.date32()),
        ("channel", pa.string()),
        ("campaign", pa.string()),
        ("cost", pa.float64()),
        ("cost_type", pa.string()),
        ("currency", pa.string()),
        ("source", pa.string()),
        ("source_ref", pa.string()),
    ]
)

#: Above this many touches ``write_store`` partitions the store by default ...
AUTO_PARTITION_TOUCHES = 5_000_000
#: ... with about one part per this many touches.
TOUCHES_PER_PARTITION = 2_000_000

_REQUIRED_TOUCH = ("journey_id", "channel")
_REQUIRED_JOURNEY = ("journey_id",)
#: Low-cardinality columns read straight into dictionary arrays (fast encoding).
_DICTIONARY_COLUMNS = ["channel", "campaign", "content", "interaction", "source"]
_STRING_CODES = pa.dictionary(pa.int32(), pa.string())
_COLUMNAR_TOUCHES = [
    "journey_id",
    "ts",
    "seq",
    "channel",
    "campaign",
    "content",
    "interaction",
]

#: Touches in memory, between the connectors and the writer: the low-cardinality
#: columns are dictionary-encoded (a 15M-row touch log then takes ~0.8 GB less);
#: :func:`write_store` writes them as the plain strings of :data:`TOUCH_SCHEMA`.
TOUCH_MEMORY_SCHEMA = pa.schema(
    [
        pa.field(f.name, _STRING_CODES) if f.name in _DICTIONARY_COLUMNS else f
        for f in TOUCH_SCHEMA
    ]
)


# --------------------------------------------------------------------------- writing
def _to_table(
    data: pd.DataFrame | pa.Table | None,
    schema: pa.Schema,
    name: str,
    required: tuple[str, ...] = (),
) -> pa.Table:
    """Conform ``data`` to ``schema``: add missing optional columns as nulls, cast."""
    if data is None:
        return schema.empty_table()
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    missing = [c for c in required if c not in data.column_names]
    if missing:
        raise SchemaError(
            f"{name}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(data.column_names) or 'none'})",
            missing,
        )
    arrays = []
    fields = []
    for field in schema:
        if field.name in data.column_names:
            col = data.column(field.name)
            if (
                pa.types.is_dictionary(col.type)
                and pa.types.is_string(field.type)
                and field.name in _DICTIONARY_COLUMNS
            ):
                field = field.with_type(_STRING_CODES)  # kept encoded until written
            try:
                col = _cast_column(col, field.type)
            except (
                pa.ArrowInvalid,
                pa.ArrowNotImplementedError,
                pa.ArrowTypeError,
            ) as exc:
                raise SchemaError(
                    f"{name}: column {field.name} has type {col.type}, expected "
                    f"{field.type} ({str(exc).splitlines()[0]})"
                ) from None
        elif field.name == "weight":
            col = pa.array(np.ones(data.num_rows, dtype=np.int64))
        elif field.name in ("pipeline_amount", "revenue_amount"):
            col = pa.array(np.zeros(data.num_rows))
        elif field.name == "won":
            col = pa.array(np.zeros(data.num_rows, dtype=bool))
        else:
            col = pa.nulls(data.num_rows, field.type)
        arrays.append(col)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _cast_column(col: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_dictionary(typ):
        return col.cast(typ)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_timestamp(typ):
        if pa.types.is_timestamp(col.type) and col.type.tz is None:
            col = pc.assume_timezone(col, "UTC")
        elif pa.types.is_date(col.type):
            col = pc.assume_timezone(col.cast(pa.timestamp("us")), "UTC")
        elif pa.types.is_null(col.type):
            return pa.chunked_array([pa.nulls(len(col), typ)])
        elif not pa.types.is_timestamp(col.type):
            raise pa.ArrowTypeError(f"cannot read {col.type} as a timestamp")
    if pa.types.is_string(typ) and pa.types.is_large_string(col.type):
        return col.cast(typ)
    if pa.types.is_integer(typ) and pa.types.is_floating(col.type):
        return col.cast(typ, safe=True)
    return col.cast(typ)


def _sort_touches(table: pa.Table) -> pa.Table:
    if is_sorted(table):  # connectors and synth usually hand sorted tables over
        return table
    idx = pc.sort_indices(
        table,
        sort_keys=[
            ("journey_id", "ascending"),
            ("ts", "ascending"),
            ("seq", "ascending"),
        ],
    )
    return table.take(idx)


def _sort_journeys(table: pa.Table) -> pa.Table:
    if is_sorted(table.select(["journey_id"])):
        return table
    return table.take(pc.sort_indices(table, sort_keys=[("journey_id", "ascending")]))


def _write_parquet(
    table: pa.Table, path: Path, schema: pa.Schema | None = None
) -> None:
    if schema is not None and not table.schema.equals(schema):
        table = table.cast(schema)  # dictionary columns back to plain strings
    table = table.replace_schema_metadata(None)
    pq.write_table(
        table, path, compression="zstd", row_group_size=1 << 20, write_statistics=True
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partition_of(keys: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """Return a stable partition number in ``[0, partitions)`` for each key string.

    The hash is FNV-1a over the UTF-8 bytes, so it is the same on every machine and
    Python version (Python's ``hash`` is salted per process).
    """
    h = fnv1a64(keys)
    return (h % np.uint64(partitions)).astype(np.int64)


def write_store(
    out: str | os.PathLike,
    touches: pd.DataFrame | pa.Table,
    journeys: pd.DataFrame | pa.Table,
    *,
    rejects: pd.DataFrame | pa.Table | None = None,
    spend: pd.DataFrame | pa.Table | None = None,
    inputs: list[dict[str, Any]] | None = None,
    channel_mapping: Any = None,
    partitions: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a journey store atomically and return its path.

    Touches are sorted by (``journey_id``, ``ts``, ``seq``) and journeys by
    ``journey_id``; the store is validated before anything is written, so a bad
    input never leaves a half-written store behind.

    Parameters
    ----------
    out : path
        A new path, or an existing touchline store (it holds ``manifest.json``).
    touches, journeys : DataFrame or pyarrow.Table
        In the column names of :data:`TOUCH_SCHEMA` and :data:`JOURNEY_SCHEMA`;
        missing optional columns are filled with nulls (``weight`` with 1).
    rejects, spend : DataFrame or pyarrow.Table, optional
        Rows that could not be used, and costs.
    inputs : list of dict, optional
        One entry per input file for the manifest: ``path``, ``rows_read``,
        ``rows_used``, ``rows_looked_up``, ``rows_duplicate``, ``rows_rejected``
        (size and sha256 are added here).
    channel_mapping : any JSON-serialisable, optional
        The channel mapping that was used.
    partitions : int, optional
        Write the partitioned layout with this many parts, split by a hash of
        ``account_id`` (``journey_id`` when there is none). By default a store of
        more than :data:`AUTO_PARTITION_TOUCHES` touches is partitioned with about
        one part per :data:`TOUCHES_PER_PARTITION` touches (the streaming engine
        then holds one part in memory at a time); smaller stores are one file.

    Returns
    -------
    pathlib.Path
        The store directory.
    """
    if partitions is not None and (
        isinstance(partitions, bool)
        or int(partitions) < 1
        or int(partitions) != partitions
    ):
        raise ParameterError(
            f"partitions must be a whole number >= 1; got {partitions!r}"
        )
    t = _to_table(touches, TOUCH_SCHEMA, "touches", _REQUIRED_TOUCH)
    j = _sort_journeys(
        _to_table(journeys, JOURNEY_SCHEMA, "journeys", _REQUIRED_JOURNEY)
    )
    if partitions is None and t.num_rows > AUTO_PARTITION_TOUCHES:
        partitions = -(-t.num_rows // TOUCHES_PER_PARTITION)
    if partitions:
        # split first, then sort and validate one part at a time (bounded memory)
        part_of_journey, part_of_touch = _split(t, j, int(partitions))
        check_unique_ids(j.column("journey_id"), "journeys")
    else:
        t = _sort_touches(t)
        build_columnar(t, j, touches_name="touches", journeys_name="journeys")
    r = _to_table(rejects, REJECT_SCHEMA, "rejects")
    s = _to_table(spend, SPEND_SCHEMA, "spend") if spend is not None else None
    manifest_inputs = []
    for entry in inputs or []:
        entry = dict(entry)
        p = Path(entry["path"])
        if p.is_file():
            entry.setdefault("size", p.stat().st_size)
            entry.setdefault("sha256", file_sha256(p))
        entry["path"] = str(entry["path"])
        manifest_inputs.append(entry)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "inputs": manifest_inputs,
        "channel_mapping": channel_mapping,
        "counts": {
            "journeys": j.num_rows,
            "touches": t.num_rows,
            "rejects": r.num_rows,
            "spend": s.num_rows if s is not None else 0,
        },
        "layout": "partitioned" if partitions else "single",
        **(dict(extra) if extra else {}),
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    with atomic_directory(out) as tmp:
        if partitions:
            _write_partitioned(
                tmp, t, j, part_of_touch, part_of_journey, int(partitions)
            )
        else:
            _write_parquet(t, tmp / "touches.parquet", TOUCH_SCHEMA)
            _write_parquet(j, tmp / "journeys.parquet")
        _write_parquet(r, tmp / "rejects.parquet")
        if s is not None:
            _write_parquet(s, tmp / "spend.parquet")
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        )
    return Path(out)


def _split(t: pa.Table, j: pa.Table, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """Partition number of every journey and of every touch (by the journey's key)."""
    key = pc.coalesce(j.column("account_id"), j.column("journey_id"))
    part_of_journey = partition_of(key, partitions)
    idx = pc.index_in(t.column("journey_id"), value_set=j.column("journey_id"))
    if idx.null_count:
        unknown = idx.is_null().to_numpy(zero_copy_only=False)
        ids = pc.unique(t.column("journey_id").filter(pa.array(unknown)))
        raise SchemaError(
            f"touches: column journey_id has values with no row in journeys: "
            f"{', '.join(repr(v) for v in ids.slice(0, 3).to_pylist())}",
            ids.slice(0, 20).to_pylist(),
        )
    part_of_touch = part_of_journey[idx.to_numpy(zero_copy_only=False)]
    return part_of_journey, part_of_touch


def _write_partitioned(
    tmp: Path,
    t: pa.Table,
    j: pa.Table,
    part_of_touch: np.ndarray,
    part_of_journey: np.ndarray,
    partitions: int,
) -> None:
    """Write one part at a time: take its rows, sort, validate, write, let go."""
    (tmp / "touches").mkdir()
    (tmp / "journeys").mkdir()
    for p in range(partitions):
        jp = j.filter(pa.array(part_of_journey == p))
        tp = _sort_touches(t.filter(pa.array(part_of_touch == p)))
        build_columnar(tp, jp, touches_name="touches", journeys_name="journeys")
        _write_parquet(jp, tmp / "journeys" / f"part-{p:05d}.parquet")
        _write_parquet(tp, tmp / "touches" / f"part-{p:05d}.parquet", TOUCH_SCHEMA)
        del jp, tp
        release_unused_memory()


# --------------------------------------------------------------------------- reading
class Store:
    """A journey store, read lazily.

    Use :func:`open_store` to make one. ``touches`` and ``journeys`` give pandas
    DataFrames (built on first access); :meth:`columnar` gives the encoded arrays
    the engine works on.
    """

    def __init__(
        self,
        touches: pa.Table | None,
        journeys: pa.Table | None,
        *,
        path: Path | None = None,
    ) -> None:
        self.path = path
        self._touches_table = touches
        self._journeys_table = journeys
        self._columnar: Columnar | None = None

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"Store({where})"

    # -- files
    def _location(self, name: str) -> Path:
        assert self.path is not None
        single = self.path / f"{name}.parquet"
        return single if single.exists() else self.path / name

    @property
    def touches_name(self) -> str:
        """The file the touches come from, for error messages."""
        return str(self._location("touches")) if self.path else "touches"

    @property
    def journeys_name(self) -> str:
        """The file the journeys come from, for error messages."""
        return str(self._location("journeys")) if self.path else "journeys"

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """Read ``touches`` or ``journeys`` (either layout) as a pyarrow Table."""
        cached = {"touches": self._touches_table, "journeys": self._journeys_table}[
            name
        ]
        if cached is not None:
            if columns is None:
                return cached
            return cached.select([c for c in columns if c in cached.column_names])
        loc = self._location(name)
        if not loc.exists():
            raise SchemaError(
                f"{self.path}: not a touchline store (no {name}.parquet "
                f"and no {name}/ directory)"
            )
        files = [loc] if loc.is_file() else sorted(loc.glob("part-*.parquet"))
        if not files:
            raise SchemaError(f"{loc}: holds no part-NNNNN.parquet files")
        return self._read_files(files, columns)

    @staticmethod
    def _read_files(files: list[Path], columns: list[str] | None) -> pa.Table:
        tables = []
        for f in files:
            try:
                names = pq.read_schema(f).names
                pf = pq.ParquetFile(
                    f, read_dictionary=[c for c in _DICTIONARY_COLUMNS if c in names]
                )
                cols = (
                    None
                    if columns is None
                    else [c for c in columns if c in pf.schema_arrow.names]
                )
                tables.append(pf.read(columns=cols))
            except (pa.ArrowInvalid, OSError) as exc:
                raise SchemaError(
                    f"{f}: cannot be read as Parquet ({str(exc).splitlines()[0]})"
                ) from None
        return pa.concat_tables(tables, promote_options="permissive")

    @property
    def touches(self) -> pd.DataFrame:
        """All touches as a DataFrame, in store order (string columns as strings)."""
        table = self.read_table("touches")
        if table.schema.names == TOUCH_SCHEMA.names:
            table = table.cast(TOUCH_SCHEMA)
        return table.to_pandas()

    @property
    def journeys(self) -> pd.DataFrame:
        """All journeys as a DataFrame."""
        return self.read_table("journeys").to_pandas()

    @property
    def manifest(self) -> dict[str, Any]:
        """The store's ``manifest.json`` (empty for in-memory stores)."""
        if self.path is None or not (self.path / "manifest.json").exists():
            return {}
        return json.loads((self.path / "manifest.json").read_text())

    def read_optional(self, name: str) -> pd.DataFrame | None:
        """Read ``rejects`` or ``spend`` as a DataFrame, or None when absent."""
        if self.path is None or not (self.path / f"{name}.parquet").exists():
            return None
        return pq.read_table(self.path / f"{name}.parquet").to_pandas()

    def input_hashes(self) -> dict[str, str]:
        """SHA-256 of every data file of the store, by relative path."""
        if self.path is None:
            return {}
        out = {}
        for f in sorted(self.path.rglob("*.parquet")):
            out[str(f.relative_to(self.path))] = file_sha256(f)
        return out

    def columnar(self) -> Columnar:
        """Return the encoded, sorted arrays of the store (built once, then cached).

        Raises
        ------
        SchemaError
            When the store breaks the contract: missing or mistyped column,
            duplicate ``journey_id``, touches of an unknown journey, bad amounts or
            weights, won journeys with no ``closed_at``, null ``channel``.
        """
        if self._columnar is None:
            if self.is_partitioned:
                self._columnar = self._partitioned_columnar()
            else:
                self._columnar = build_columnar(
                    self.read_table("touches", _COLUMNAR_TOUCHES),
                    self.read_table("journeys", _COLUMNAR_JOURNEYS),
                    touches_name=self.touches_name,
                    journeys_name=self.journeys_name,
                )
            # the arrow tables are gone: hand their memory back to the system
            release_unused_memory()
        return self._columnar

    @property
    def is_loaded(self) -> bool:
        """Whether :meth:`columnar` has been built (and is cached)."""
        return self._columnar is not None

    @property
    def is_partitioned(self) -> bool:
        """Whether the store on disk has the partitioned layout."""
        return self.path is not None and self._touches_table is None and (
            self.path / "touches").is_dir()

    def columnar_where(self, select: Callable[[Columnar], np.ndarray]) -> Columnar:
        """Return the Columnar of the journeys ``select`` keeps, part by part.

        ``select`` gets each part's Columnar and returns a boolean per journey, so
        memory holds the kept journeys only (plus one part while it is read). The
        result is in ``journey_id`` order like :meth:`columnar`. Not cached.

        Examples
        --------
        >>> import pandas as pd
        >>> touches = pd.DataFrame({"journey_id": ["a", "b"], "channel": ["x", "y"]})
        >>> journeys = pd.DataFrame({"journey_id": ["a", "b"]})
        >>> store = open_store((touches, journeys))
        >>> store.columnar_where(lambda c: c.lengths > 0).n_journeys
        2
        """
        if not self.is_partitioned:
            whole = self.columnar()
            return take_journeys(whole, np.flatnonzero(select(whole)))
        return concat_columnar(
            [c for c, _ in self.iter_parts(select)],
            journeys_name=self.journeys_name,
            consume=True,
        )

    def _partitioned_columnar(self) -> Columnar:
        """Encode each part on its own (parts are sorted), then put them together.

        Sorting the concatenated parts again would hold the whole store as arrow
        tables and as arrays at once; part by part, only the arrays add up.
        """
        return concat_columnar(
            [c for c, _ in self._parts()],
            journeys_name=self.journeys_name,
            consume=True,
        )

    def iter_parts(
        self,
        select: Callable[[Columnar], np.ndarray] | None = None,
        *,
        journey_columns: Sequence[str] = (),
    ) -> Iterator[tuple[Columnar, pa.Table]]:
        """Yield the store one part at a time: each part's Columnar and journey columns.

        A partitioned store that is not loaded is read part by part, in part order
        (``part-00000`` first), so memory holds one part, not the store. An
        unpartitioned or already loaded store is one part, :meth:`columnar`. Parts
        hold disjoint journeys, and a journey and its account never straddle two
        parts (the store is split by a hash of ``account_id``, DESIGN §2).

        Parameters
        ----------
        select : callable, optional
            Gets each part's Columnar and returns a boolean per journey; only those
            journeys (with their touches) are yielded.
        journey_columns : sequence of str, default=()
            Columns of ``journeys.parquet`` that the Columnar does not hold (such as
            ``account_id`` or ``currency``), returned as a Table whose row ``k`` is
            the part's journey ``k``; a column the store lacks is null.

        Yields
        ------
        (Columnar, pyarrow.Table)

        Examples
        --------
        >>> import pandas as pd
        >>> touches = pd.DataFrame({"journey_id": ["a", "b"], "channel": ["x", "y"]})
        >>> journeys = pd.DataFrame({"journey_id": ["b", "a"],
        ...                          "account_id": ["B", None]})
        >>> store = open_store((touches, journeys))
        >>> [(c.n_journeys, t.column("account_id").to_pylist())
        ...  for c, t in store.iter_parts(journey_columns=["account_id"])]
        [(2, [None, 'B'])]
        """
        if self.is_loaded or not self.is_partitioned:
            whole = self.columnar()
            journeys = (self.read_table("journeys", ["journey_id", *journey_columns])
                        if journey_columns else pa.table({}))
            parts: Iterator[tuple[Columnar, pa.Table]] = iter([(whole, journeys)])
        else:
            parts = self._parts()
        for c, journeys in parts:
            table = _aligned(c, journeys, journey_columns)
            if select is not None:
                keep = np.flatnonzero(select(c))
                c = take_journeys(c, keep)
                table = table.take(pa.array(keep)) if journey_columns else table
            yield c, table
            del c, table, journeys  # hold one part at a time

    def _parts(self) -> Iterator[tuple[Columnar, pa.Table]]:
        """Validate and encode each part of a partitioned store in turn.

        Yields each part's Columnar with the journeys table it was built from.
        """
        assert self.path is not None
        touch_files = sorted((self.path / "touches").glob("part-*.parquet"))
        journey_dir = self._location("journeys")
        if not touch_files:
            raise SchemaError(
                f"{self.path / 'touches'}: holds no part-NNNNN.parquet files"
            )
        for tf in touch_files:
            jf = journey_dir / tf.name
            if not jf.exists():
                raise SchemaError(
                    f"{jf}: missing; every touches part needs the "
                    "journeys part of the same name"
                )
            journeys = self._read_files([jf], _COLUMNAR_JOURNEYS)
            yield build_columnar(
                self._read_files([tf], _COLUMNAR_TOUCHES),
                journeys,
                touches_name=str(tf),
                journeys_name=str(jf),
            ), journeys
            del journeys
            release_unused_memory()
        extra = sorted(
            {f.name for f in journey_dir.glob("part-*.parquet")}
            - {f.name for f in touch_files}
        )
        for name in extra:  # journeys parts without touches (journeys with none)
            journeys = self._read_files([journey_dir / name], _COLUMNAR_JOURNEYS)
            yield build_columnar(
                TOUCH_SCHEMA.empty_table().select(_COLUMNAR_TOUCHES),
                journeys,
                touches_name=str(self.path / "touches"),
                journeys_name=str(journey_dir / name),
            ), journeys


def _aligned(c: Columnar, journeys: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Columns of ``journeys`` in the order of ``c``'s journeys (null when absent)."""
    if not columns:
        return pa.table({})
    ids = journeys.column("journey_id").combine_chunks().cast(pa.string())
    if not ids.equals(c.journey_ids.cast(pa.string())):
        journeys = journeys.take(pc.index_in(c.journey_ids, value_set=ids))
    return pa.table({
        name: journeys.column(name) if name in journeys.column_names
        else pa.nulls(c.n_journeys, JOURNEY_SCHEMA.field(name).type)
        for name in columns
    })


def open_store(
    source: str | os.PathLike | Store | tuple[pd.DataFrame, pd.DataFrame],
) -> Store:
    """Open a journey store directory, or wrap a ``(touches, journeys)`` pair.

    Parameters
    ----------
    source : path, Store or (DataFrame, DataFrame)
        A store directory in either layout of DESIGN §2, or touches and journeys
        frames in the store's column names.

    Returns
    -------
    Store

    Raises
    ------
    SchemaError
        When the path is not a store.

    Examples
    --------
    >>> import pandas as pd
    >>> touches = pd.DataFrame({"journey_id": ["j1", "j1"],
    ...                         "channel": ["Email", "Paid"], "seq": [0, 1]})
    >>> journeys = pd.DataFrame({"journey_id": ["j1"], "won": [True],
    ...                          "revenue_amount": [100.0]})
    >>> store = open_store((touches, journeys))
    >>> store.columnar().n_touches
    2
    """
    if isinstance(source, Store):
        return source
    if isinstance(source, tuple):
        touches, journeys = source
        return Store(
            _to_table(touches, TOUCH_SCHEMA, "touches", _REQUIRED_TOUCH),
            _to_table(journeys, JOURNEY_SCHEMA, "journeys", _REQUIRED_JOURNEY),
        )
    path = Path(source)
    if not path.is_dir():
        raise SchemaError(
            f"{path}: no such store directory; give the --out of "
            "`touchline ingest` or `touchline synth`"
        )
    store = Store(None, None, path=path)
    store._location("touches")  # existence is checked on first read
    return store
