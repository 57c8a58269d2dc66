"""The ``touches`` connector: a flat touch log, with an optional journeys file.

A touch log is one row per touch, as CSV (or any delimited text), Parquet or JSON
lines, in the store's column names (DESIGN §2) or in the user's, mapped with
``column_map`` (``--map ts=event_time --map journey_id=opportunity_id`` on the
command line)::

    journey_id,ts,person_id,channel,campaign,content,interaction
    OPP-1,2026-01-05T09:12:00Z,C-17,Paid Search,Brand,,ad_click

Only ``journey_id`` is required, and a channel: either a ``channel`` column or
``source``/``medium``/``campaign``/``campaign_type`` columns from which the channel
grouping (:mod:`connectors.channels`) assigns one (``utm_source``, ``utm_medium``,
``utm_campaign`` and ``utm_content`` are read as ``source``, ``medium``,
``campaign`` and ``content``). Without a ``ts`` column the touches are timeless and
ordered by ``seq`` (the row number unless a ``seq`` column is given).

The journeys file (optional) has one row per journey in the columns of
``journeys.parquet`` (``journey_id``, ``account_id``, ``lead_created_at``,
``opportunity_created_at``, ``closed_at``, ``won``, ``pipeline_amount``,
``revenue_amount``, ``currency``, ``weight``), mapped the same way. Touches whose
``journey_id`` has no row there, and every touch when there is no journeys file,
get a *derived* journey: non-converting, amounts 0, ``account_id`` the smallest of
its touches' ``account_id`` values when the log has that column. Their number is
in the manifest (``journeys_derived``). When the same ``journey_id`` also comes
from another input of the same ``ingest`` (a Salesforce opportunity, say), that
journey wins over the derived one.

Large logs are read in batches (pyarrow's streaming CSV reader, Parquet row
groups), so memory grows with the store being built, not with the text of the file.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from attribution._memory import release_unused_memory
from attribution.exceptions import SchemaError
from attribution.store import JOURNEY_SCHEMA, TOUCH_MEMORY_SCHEMA

from ._stream import (
    Batch,
    Input,
    NeedSerial,
    NotUtf8,
    iter_batches,
    open_input,
    wrong_delimiter_hint,
)
from ._values import Rejects, canonical, parse_amounts, parse_bools, parse_timestamps
from .channels import ChannelMapping, assign_channels, load_channel_mapping

__all__ = ["TOUCH_INPUT_COLUMNS", "TouchesResult", "read_touches"]

SOURCE = "touches"

#: Columns a touch log may have (store names), and what ``column_map`` may map.
TOUCH_INPUT_COLUMNS = ("journey_id", "ts", "seq", "person_id", "channel", "campaign",
                       "content", "interaction", "source", "medium", "campaign_type",
                       "account_id")
_JOURNEY_COLUMNS = tuple(f.name for f in JOURNEY_SCHEMA)
_TIMES = ("lead_created_at", "opportunity_created_at", "closed_at")
_AMOUNTS = ("pipeline_amount", "revenue_amount")
#: Other names read when the store's name is absent.
_ALIASES = {"source": ("utm_source",), "medium": ("utm_medium",),
            "campaign": ("utm_campaign",), "content": ("utm_content",)}
_GROUPING = ("source", "medium", "campaign", "campaign_type")
_TS_HINT = "(expected ISO 8601, MM/DD/YYYY or an Excel serial day number)"
_WHOLE = r"^[+-]?\d+$"


@dataclass(frozen=True)
class TouchesResult:
    """What :func:`read_touches` returns.

    Attributes
    ----------
    touches, journeys, rejects : pyarrow.Table
        In :data:`attribution.store.TOUCH_MEMORY_SCHEMA`, :data:`JOURNEY_SCHEMA` and
        :data:`REJECT_SCHEMA`. Touches are in file order (the store sorts them).
    inputs : list of dict
        One manifest entry per file read (the touch log, then the journeys file):
        ``path``, ``source``, ``role``, ``rows_read``, ``rows_used``,
        ``rows_looked_up``, ``rows_duplicate``, ``rows_rejected`` and how the file
        was read.
    unmapped : dict of str to int
        Touches whose channel the grouping could not place (``"Unassigned"``), by
        ``"source / medium"``.
    derived_journeys : pyarrow.Array
        The ids of the journeys derived from touches (not from a journeys file).
    """

    touches: pa.Table
    journeys: pa.Table
    rejects: pa.Table
    inputs: list[dict[str, Any]]
    unmapped: dict[str, int] = field(default_factory=dict)
    derived_journeys: pa.Array = field(
        default_factory=lambda: pa.array([], pa.string()))


def read_touches(
    path: str | os.PathLike[str],
    *,
    journeys: str | os.PathLike[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    channel_map: ChannelMapping | str | os.PathLike[str] | None = None,
    tz: str | None = None,
    delimiter: str | None = None,
) -> TouchesResult:
    r"""Read a flat touch log (and optionally a journeys file) into store tables.

    Every row is used or rejected with a reason: an empty ``journey_id``; an empty
    or unreadable ``ts`` (when the log has a ``ts`` column); a ``seq`` that is not
    a whole number; a touch of a journey whose row in the journeys file was
    rejected; a row with the wrong number of fields. Blank rows are skipped and not
    counted. Touches that arrive twice are removed by :func:`connectors.ingest`
    (counted as ``rows_duplicate``), not here.

    Timestamps: ISO 8601 with a zone (``Z``, ``+02:00``) are converted to UTC;
    values without a zone (ISO, ``MM/DD/YYYY [h:mm[:ss] [AM|PM]]`` and Excel serial
    day numbers) are local time in ``tz``, UTC when ``tz`` is None. Day-first dates
    (``31/01/2026``) are rejected, never guessed. ``source_ref`` is
    ``"{file name}:{row}"``: the record number (the header is row 1 in a plain
    CSV; Parquet and JSON-lines rows count from 1).

    Parameters
    ----------
    path : str or os.PathLike
        The touch log: delimited text (UTF-8 with or without BOM, UTF-16 with BOM,
        or Latin-1; delimiter detected among ``,`` ``;`` tab ``|``), Parquet
        (``.parquet``) or JSON lines (``.jsonl``, ``.ndjson``, ``.json``).
    journeys : str or os.PathLike, optional
        A journeys file in the same formats (see the module docstring).
    column_map : mapping of str to str, optional
        Store column -> the file's column, for the touch log and the journeys file,
        e.g. ``{"ts": "event_time", "journey_id": "opportunity_id"}``. Names are
        compared ignoring case, spaces and underscores.
    channel_map : ChannelMapping or path, optional
        The analyst's channel rules (see :func:`connectors.load_channel_mapping`).
    tz : str, optional
        IANA time zone of timestamps written without one (default UTC).
    delimiter : str, optional
        Forces the delimiter of text files.

    Returns
    -------
    TouchesResult

    Raises
    ------
    SchemaError
        When a file is missing, empty, unreadable (binary, not UTF-8/UTF-16/Latin-1
        text, not Parquet or JSON lines), lacks ``journey_id`` or a channel source
        (the message lists the columns found), or when ``column_map`` names a
        column the file does not have or a store column that does not exist.

    See Also
    --------
    connectors.ingest : Merge inputs into a journey store.
    connectors.assign_channels : The channel grouping.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "touches.csv"
    >>> _ = f.write_text("opp,when,source,medium\n"
    ...                  "O1,2026-01-05 09:00,google,cpc\n"
    ...                  "O1,2026-01-06 10:30,(direct),(none)\n")
    >>> result = read_touches(f, column_map={"journey_id": "opp", "ts": "when"})
    >>> result.touches.column("channel").to_pylist()
    ['Paid Search', 'Direct']
    >>> result.journeys.column("journey_id").to_pylist()
    ['O1']
    """
    path = Path(path)
    tz = _check_tz(tz)
    mapping = load_channel_mapping(channel_map) if channel_map is not None else None
    column_map = _check_map(column_map)

    journey_part = (_read_journeys(Path(journeys), column_map, tz, delimiter)
                    if journeys is not None else None)
    reader = _TouchReader(path, column_map, mapping, tz, delimiter, journey_part)
    touches, rejects, entry = reader.read()

    if "account_id" in column_map and "account_id" not in reader.names and not (
            journey_part and "account_id" in journey_part.entry["columns"]):
        raise SchemaError(f"{path}: missing column {column_map['account_id']} (mapped "
                          "to account_id) in the touch log and the journeys file")
    known = journey_part.table.column("journey_id") if journey_part else None
    derived, derived_ids = _derive_journeys(touches, reader.accounts, known)
    entry["journeys_derived"] = derived.num_rows
    journey_tables = [journey_part.table] if journey_part else []
    journey_tables.append(derived)
    journeys_table = pa.concat_tables(journey_tables)
    inputs = [entry] + ([journey_part.entry] if journey_part else [])
    reject_tables = [rejects] + ([journey_part.rejects] if journey_part else [])
    release_unused_memory()  # batches are gone: return their memory
    return TouchesResult(
        touches=touches, journeys=journeys_table,
        rejects=pa.concat_tables(reject_tables), inputs=inputs,
        unmapped=dict(sorted(reader.unmapped.items())), derived_journeys=derived_ids)


# ----------------------------------------------------------------------------- checks
def _check_tz(tz: str | None) -> str | None:
    if tz is None or tz == "UTC":
        return None
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SchemaError(f"tz: unknown time zone {tz!r}; give an IANA name such as "
                          "Europe/Berlin or America/New_York") from None
    return tz


def _check_map(column_map: Mapping[str, str] | None) -> dict[str, str]:
    column_map = dict(column_map or {})
    allowed = set(TOUCH_INPUT_COLUMNS) | set(_JOURNEY_COLUMNS)
    unknown = sorted(k for k in column_map if k not in allowed)
    if unknown:
        raise SchemaError(f"column map: {', '.join(unknown)} is not a store column; "
                          f"map one of {', '.join(sorted(allowed))}")
    empty = sorted(k for k, v in column_map.items() if not str(v).strip())
    if empty:
        raise SchemaError(f"column map: {', '.join(empty)} is mapped to an empty name")
    return {k: str(v).strip() for k, v in column_map.items()}


def resolve_columns(inp: Input, wanted: tuple[str, ...], column_map: Mapping[str, str],
                    what: str) -> dict[str, str]:
    """Store column -> header name, for the ``wanted`` columns the file has.

    Mapped names must exist (``account_id``, which both files may hold, excepted);
    unmapped store names are looked up in the header (ignoring case, spaces and
    underscores), then their aliases.
    """
    columns = inp.columns()
    out: dict[str, str] = {}
    for name in wanted:
        if name in column_map:
            found = columns.get(canonical(column_map[name]))
            if found is None and name == "account_id":
                continue
            if found is None:
                raise SchemaError(
                    f"{inp.path}: missing column {column_map[name]} (mapped to "
                    f"{name}; found: {', '.join(inp.header) or 'none'})"
                    f"{wrong_delimiter_hint(inp)}",
                    [column_map[name]])
            out[name] = found
            continue
        mapped_elsewhere = {canonical(v) for v in column_map.values()}
        for candidate in (name, *_ALIASES.get(name, ())):
            key = canonical(candidate)
            if key in columns and key not in mapped_elsewhere:
                out[name] = columns[key]
                break
    if "journey_id" not in out:
        raise SchemaError(
            f"{inp.path}: missing column journey_id (found: "
            f"{', '.join(inp.header) or 'none'}){wrong_delimiter_hint(inp)}; name it "
            f"in the {what} or map yours with --map journey_id=COLUMN", ["journey_id"])
    return out


def _open(path: Path, column_map: Mapping[str, str], delimiter: str | None) -> Input:
    target = canonical(column_map.get("journey_id", "journey_id"))
    return open_input(path, accept=lambda names: target in names, delimiter=delimiter)


# ----------------------------------------------------------------------------- values
def _text(col: pa.ChunkedArray | pa.Array | None, n: int) -> pa.Array:
    """Trimmed text, empty as null (all null when the column is absent)."""
    if col is None:
        return pa.nulls(n, pa.string())
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    s = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)


def parse_ts(col: pa.ChunkedArray | pa.Array, tz: str | None
             ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Timestamps in UTC, with masks of empty and unreadable values.

    A fast path casts whole columns (ISO with zones, or ISO without, taken in
    ``tz``); anything else goes through :func:`connectors._values.parse_timestamps`
    value by value (vectorised), which also reads ``MM/DD/YYYY`` and Excel serials
    and rejects times that do not exist or are ambiguous in ``tz``.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    utc = pa.timestamp("us", tz="UTC")
    n = len(col)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        if pa.types.is_date(col.type) or col.type.tz is None:
            naive = col.cast(pa.timestamp("us"))
            col = pc.cast(naive.cast(pa.string()), pa.string())  # through the text path
        else:
            empty = ~col.is_valid().to_numpy(zero_copy_only=False)
            return col.cast(utc), empty, np.zeros(n, bool)
    elif not pa.types.is_string(col.type):
        raise SchemaError(f"holds {col.type} values, not date-times {_TS_HINT}")
    text = _text(col, n)
    empty = text.is_null().to_numpy(zero_copy_only=False)
    try:
        return pc.cast(text, utc), empty, np.zeros(n, bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        naive = pc.cast(text, pa.timestamp("us"))
        if tz is None:
            return naive.cast(utc), empty, np.zeros(n, bool)
        return (pc.assume_timezone(naive, timezone=tz, ambiguous="raise",
                                   nonexistent="raise").cast(utc),
                empty, np.zeros(n, bool))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parsed = parse_timestamps(text, tz=tz)
    return parsed.to_arrow(), parsed.empty, parsed.bad


def _whole(col: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole numbers: values (0 where not ok), ok, empty."""
    if pa.types.is_integer(col.type):
        ok = col.is_valid().to_numpy(zero_copy_only=False)
        return pc.fill_null(col, 0).to_numpy().astype(np.int64), ok, ~ok
    text = _text(col, len(col))
    empty = text.is_null().to_numpy(zero_copy_only=False)
    good = pc.fill_null(pc.match_substring_regex(text, _WHOLE), False)
    values = pc.cast(pc.if_else(good, text, "0"), pa.int64()).to_numpy(
        zero_copy_only=False)
    return values, good.to_numpy(zero_copy_only=False), empty


def _reasons(n: int, checks: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray,
                                                                     np.ndarray]:
    """Return the rows failing any check and, for them, the joined reasons."""
    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    out = np.full(n, "", dtype=object)
    if bad.any():
        for mask, message in checks:
            if mask.any():
                out[mask] = np.where(out[mask] != "", out[mask] + "; " + message,
                                     message)
    return bad, out


def _codes(values: pa.Array | None, n: int = 0) -> pa.Array:
    """Dictionary-encode a low-cardinality string column (all null when absent)."""
    if values is None:
        return pa.nulls(n, TOUCH_MEMORY_SCHEMA.field("channel").type)
    return pc.dictionary_encode(values)


def _refs(name: str, rows: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(name, pc.cast(pa.array(rows), pa.string()), ":")


# ----------------------------------------------------------------------------- touches
class _TouchReader:
    """Stream a touch log into store rows, rejects and counts."""

    def __init__(self, path: Path, column_map: dict[str, str],
                 mapping: ChannelMapping | None, tz: str | None,
                 delimiter: str | None, journeys: _JourneyPart | None) -> None:
        self.path = path
        self.column_map = column_map
        self.mapping = mapping
        self.tz = tz
        self.delimiter = delimiter
        self.journeys = journeys
        self.unmapped: dict[str, int] = {}
        self.accounts: list[pa.Table] = []

    def read(self) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        """Read on several threads; again on one when a row is bad, or as Latin-1."""
        encoding = None
        threads = True
        while True:
            inp = _open(self.path, self.column_map, self.delimiter)
            if encoding:
                inp.encoding = encoding
            self.unmapped.clear()
            self.accounts.clear()
            try:
                return self._read(inp, threads)
            except NotUtf8:
                encoding = "latin-1"
            except NeedSerial:
                threads = False

    def _read(self, inp: Input, threads: bool
              ) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
        names = resolve_columns(inp, TOUCH_INPUT_COLUMNS, self.column_map,
                                "touch log")
        if "channel" not in names and not any(c in names for c in _GROUPING):
            raise SchemaError(
                f"{inp.path}: missing column channel, and no source, medium, campaign "
                f"or campaign_type column to derive it from (found: "
                f"{', '.join(inp.header)}); map yours with --map channel=COLUMN",
                ["channel"])
        self.names = names
        rejects = Rejects(SOURCE, inp.name)
        parts: list[pa.Table] = []
        read = 0
        for batch in iter_batches(inp, text_columns=[
                v for k, v in names.items() if k != "ts"] + (
                [names["ts"]] if inp.format == "jsonl" and "ts" in names else []),
                threads=threads):
            read += batch.table.num_rows
            out = self._batch(inp, batch, rejects)
            if out is not None and out.num_rows:
                parts.append(out)
        rejects.add_invalid(inp.invalid, len(inp.header))
        read += len(inp.invalid)
        used = sum(p.num_rows for p in parts)
        if read and not used and len(inp.invalid) == read and inp.format == "csv":
            raise SchemaError(
                f"{inp.path}: no row has the header's {len(inp.header)} fields (row "
                f"{inp.invalid[0][0]} has {inp.invalid[0][2]}); is the delimiter "
                f"{inp.delimiter!r} right?")
        touches = (pa.concat_tables(parts) if parts else
                   TOUCH_MEMORY_SCHEMA.empty_table())
        entry: dict[str, Any] = {
            "path": str(inp.path), "source": SOURCE, "role": "touches",
            "rows_read": read, "rows_used": used, "rows_looked_up": 0,
            "rows_duplicate": 0, "rows_rejected": len(rejects),
            **inp.describe(),
            "columns": dict(sorted(names.items())),
            "timestamps_without_zone": self.tz or "UTC",
        }
        return touches, rejects.table(), entry

    def _batch(self, inp: Input, batch: Batch, rejects: Rejects) -> pa.Table | None:
        table, rows, names = batch.table, batch.rows, self.names
        n = table.num_rows

        def col(name: str) -> pa.ChunkedArray | None:
            return table.column(names[name]) if name in names else None

        jid = _text(col("journey_id"), n)
        checks: list[tuple[np.ndarray, str]] = [
            (jid.is_null().to_numpy(zero_copy_only=False), "journey_id is empty")]
        if "ts" in names:
            try:
                ts, empty, bad = parse_ts(col("ts"), self.tz)
            except SchemaError as exc:
                raise SchemaError(f"{inp.path}: column {names['ts']} (ts) {exc}"
                                  ) from None
            label = "ts" if canonical(names["ts"]) == "ts" else f"ts ({names['ts']})"
            checks.append((empty, f"{label} is empty"))
            checks.append((bad, f"{label} is not a date-time {_TS_HINT}" + (
                "" if self.tz is None else
                ", or a local time that a clock change skips or repeats in "
                f"{self.tz}")))
        else:
            ts = pa.nulls(n, pa.timestamp("us", tz="UTC"))
        if "seq" in names:
            seq_values, seq_ok, seq_empty = _whole(col("seq").combine_chunks())
            checks.append((~seq_ok & ~seq_empty, "seq is not a whole number"))
            seq = np.where(seq_ok, seq_values, rows)
        else:
            seq = rows
        if self.journeys is not None and self.journeys.rejected_ids is not None:
            lost = pc.fill_null(pc.is_in(jid, value_set=self.journeys.rejected_ids),
                                False).to_numpy(zero_copy_only=False)
            checks.append((lost, f"its journey was rejected in "
                                 f"{self.journeys.name} (see that file's rejects)"))
        bad, reasons = _reasons(n, checks)
        if bad.any():
            rejects.add_rows(table, rows, bad, reasons)
            keep = pa.array(~bad)
            table = table.filter(keep)
            rows, seq = rows[~bad], seq[~bad]
            jid, ts = jid.filter(keep), ts.filter(keep)
            n = table.num_rows
            if not n:
                return None
        grouping = {c: _text(col(c), n) for c in
                    ("channel", "source", "medium", "campaign", "campaign_type",
                     "content", "interaction") if c in names}
        channel = assign_channels(grouping, self.mapping, unmapped=self.unmapped)
        if "account_id" in names:
            self.accounts.append(pa.table({"journey_id": jid,
                                           "account_id": _text(col("account_id"), n)}))
        return pa.Table.from_arrays(
            [jid, ts, pa.array(seq, pa.int64()), _text(col("person_id"), n),
             _codes(channel), _codes(grouping.get("campaign"), n),
             _codes(grouping.get("content"), n),
             _codes(grouping.get("interaction"), n),
             pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)),
                                            pa.array([SOURCE])),
             _refs(inp.name, rows)],
            schema=TOUCH_MEMORY_SCHEMA)


# ----------------------------------------------------------------------------- journeys
@dataclass
class _JourneyPart:
    name: str
    table: pa.Table
    rejects: pa.Table
    entry: dict[str, Any]
    rejected_ids: pa.Array | None


def _read_journeys(path: Path, column_map: dict[str, str], tz: str | None,
                   delimiter: str | None) -> _JourneyPart:
    inp = _open(path, column_map, delimiter)
    try:
        return _read_journeys_from(inp, column_map, tz)
    except NotUtf8:
        inp = _open(path, column_map, delimiter)
        inp.encoding = "latin-1"
        return _read_journeys_from(inp, column_map, tz)


def _read_journeys_from(inp: Input, column_map: dict[str, str], tz: str | None
                        ) -> _JourneyPart:
    names = resolve_columns(inp, _JOURNEY_COLUMNS, column_map, "journeys file")
    rejects = Rejects(SOURCE, inp.name)
    parts: list[pa.Table] = []
    rejected_parts: list[pa.Array] = []
    read = 0
    text_columns = [v for k, v in names.items()
                    if k not in _TIMES or inp.format == "jsonl"]
    for batch in iter_batches(inp, text_columns=text_columns):
        read += batch.table.num_rows
        table, rows = batch.table, batch.rows
        n = table.num_rows

        def col(name: str, table: pa.Table = table) -> pa.ChunkedArray | None:
            return table.column(names[name]) if name in names else None

        jid = _text(col("journey_id"), n)
        checks = [(jid.is_null().to_numpy(zero_copy_only=False), "journey_id is empty")]
        values: dict[str, Any] = {"journey_id": jid,
                                  "account_id": _text(col("account_id"), n)}
        for name in _TIMES:
            if name in names:
                try:
                    ts, _, bad = parse_ts(col(name), tz)
                except SchemaError as exc:
                    raise SchemaError(f"{inp.path}: column {names[name]} ({name}) "
                                      f"{exc}") from None
                checks.append((bad, f"{name} is not a date-time {_TS_HINT}"))
                values[name] = ts
            else:
                values[name] = pa.nulls(n, pa.timestamp("us", tz="UTC"))
        if "won" in names:
            won = parse_bools(_text(col("won"), n))
            checks.append((won.bad, "won is not true/false"))
            values["won"] = pa.array(won.values & won.ok)  # noqa: PD011
        else:
            values["won"] = pa.array(np.zeros(n, bool))
        for name in _AMOUNTS:
            if name in names:
                amount = parse_amounts(_text(col(name), n))
                checks.append((amount.bad, f"{name} is not an amount"))
                checks.append((amount.ok & (amount.values < 0), f"{name} is negative"))  # noqa: PD011
                values[name] = pa.array(np.where(amount.ok, amount.values, 0.0))
            else:
                values[name] = pa.array(np.zeros(n))
        currency = _text(col("currency"), n)
        values["currency"] = pc.utf8_upper(currency)
        if "weight" in names:
            w, ok, empty = _whole(_text(col("weight"), n))
            checks.append((~empty & (~ok | (w < 1)),
                           "weight is not a whole number >= 1"))
            values["weight"] = pa.array(np.where(ok & (w >= 1), w, 1), pa.int64())
        else:
            values["weight"] = pa.array(np.ones(n, np.int64))
        won_np = values["won"].to_numpy(zero_copy_only=False)
        no_close = values["closed_at"].is_null().to_numpy(zero_copy_only=False)
        checks.append((won_np & no_close, "won journey has no closed_at (a won deal "
                                          "needs its close date)"))
        bad, reasons = _reasons(n, checks)
        out = pa.Table.from_arrays([values[f.name] for f in JOURNEY_SCHEMA],
                                   schema=JOURNEY_SCHEMA)
        out = out.append_column("_row", pa.array(rows, pa.int64()))
        if bad.any():
            rejects.add_rows(table, rows, bad, reasons)
            rejected_parts.append(jid.filter(pa.array(bad)))
            out = out.filter(pa.array(~bad))
        parts.append(out)
    rejects.add_invalid(inp.invalid, len(inp.header))
    read += len(inp.invalid)
    journeys = (pa.concat_tables(parts) if parts else
                JOURNEY_SCHEMA.empty_table().append_column(
                    "_row", pa.array([], pa.int64())))
    journeys, duplicates = _dedupe_journeys(journeys, inp, rejects)
    rejected = pa.chunked_array(rejected_parts, pa.string())
    rejected_ids = pc.unique(pc.drop_null(rejected))
    if len(rejected_ids):
        rejected_ids = rejected_ids.filter(pc.invert(pc.is_in(
            rejected_ids, value_set=journeys.column("journey_id"))))
    entry = {
        "path": str(inp.path), "source": SOURCE, "role": "journeys",
        "rows_read": read, "rows_used": journeys.num_rows, "rows_looked_up": 0,
        "rows_duplicate": duplicates, "rows_rejected": len(rejects),
        **inp.describe(), "columns": dict(sorted(names.items())),
        "timestamps_without_zone": tz or "UTC",
    }
    rejected_ids = rejected_ids.combine_chunks() if isinstance(
        rejected_ids, pa.ChunkedArray) else rejected_ids
    return _JourneyPart(name=inp.name, table=journeys.drop_columns(["_row"]),
                        rejects=rejects.table(), entry=entry,
                        rejected_ids=rejected_ids if len(rejected_ids) else None)


def _dedupe_journeys(journeys: pa.Table, inp: Input, rejects: Rejects
                     ) -> tuple[pa.Table, int]:
    """Drop exact repeats (duplicates) and reject conflicting repeats of an id."""
    if journeys.num_rows < 2:
        return journeys, 0
    ids = journeys.column("journey_id")
    if len(pc.unique(ids)) == journeys.num_rows:
        return journeys, 0
    frame = journeys.drop_columns(["_row"]).to_pandas()
    exact = frame.duplicated(keep="first").to_numpy()
    repeated = frame["journey_id"].duplicated(keep="first").to_numpy() & ~exact
    if repeated.any():
        first_row = pd.Series(journeys.column("_row").to_numpy(),
                              index=frame.index).groupby(frame["journey_id"]).transform(
                                  "first").to_numpy()
        rows = journeys.column("_row").to_numpy()
        reasons = np.full(len(frame), "", dtype=object)
        reasons[repeated] = [f"journey_id is also on row {r} with other values "
                             "(the first row is kept)" for r in first_row[repeated]]
        rejects.add_rows(journeys.drop_columns(["_row"]), rows, repeated, reasons)
    keep = ~(exact | repeated)
    return journeys.filter(pa.array(keep)), int(exact.sum())


def _derive_journeys(touches: pa.Table, accounts: list[pa.Table],
                     known: pa.ChunkedArray | None) -> tuple[pa.Table, pa.Array]:
    """Non-converting journeys for touch journey ids with no journeys-file row."""
    ids = pc.unique(touches.column("journey_id"))
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if known is not None and len(ids):
        ids = ids.filter(pc.invert(pc.is_in(ids, value_set=known)))
    ids = ids.take(pc.sort_indices(ids))
    n = len(ids)
    account = pa.nulls(n, pa.string())
    if accounts and n:
        acc = pa.concat_tables(accounts).group_by("journey_id").aggregate(
            [("account_id", "min")])
        where = pc.index_in(ids, value_set=acc.column("journey_id"))
        account = acc.column("account_id_min").combine_chunks().take(where)
    ts_null = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    table = pa.Table.from_arrays(
        [ids, account, ts_null, ts_null, ts_null, pa.array(np.zeros(n, bool)),
         pa.array(np.zeros(n)), pa.array(np.zeros(n)), pa.nulls(n, pa.string()),
         pa.array(np.ones(n, np.int64))], schema=JOURNEY_SCHEMA)
    return table, ids
