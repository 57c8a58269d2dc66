"""Merging the results of several readers into one store (internal, for ingest).

- :func:`global_options`: the options every reader may take (``channel_map``,
  ``tz``, ``currency``, ``fx``), given only to the readers that accept them.
- :func:`drop_derived_journeys`: a journey a reader derived from touches alone
  (``derived_journeys``) yields to the same ``journey_id`` from another input.
- :func:`dedupe_touches`: touches that arrive twice (same ``journey_id``,
  ``person_id``, ``ts``, ``channel``, ``campaign``) are kept once, the first in
  input order, and counted as ``rows_duplicate`` of the input row that lost.
- :func:`merge_unmapped`: channel values the grouping could not place, summed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from attribution._columnar import fnv1a64
from attribution._memory import release_unused_memory
from attribution.store import TOUCH_MEMORY_SCHEMA

_DEDUPE_KEYS = ("journey_id", "person_id", "ts", "channel", "campaign")


def global_options(reader: Callable[..., Any], given: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """Return the non-None ``given`` options that ``reader`` takes as keywords."""
    accepted = {p.name for p in inspect.signature(reader).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    return {k: v for k, v in given.items() if v is not None and k in accepted}


def drop_derived_journeys(results: Sequence[Any], journeys: list[pa.Table]
                          ) -> list[pa.Table]:
    """Drop derived journeys whose id another input also gives (that one wins)."""
    out = list(journeys)
    for k, result in enumerate(results):
        derived = getattr(result, "derived_journeys", None)
        if derived is None or not len(derived) or len(out) < 2:
            continue
        others = [j.column("journey_id") for i, j in enumerate(out)
                  if i != k and j.num_rows]
        if not others:
            continue
        elsewhere = pa.chunked_array(
            [c.cast(pa.string()) for c in others], pa.string()).combine_chunks()
        ids = out[k].column("journey_id")
        drop = pc.and_(pc.is_in(ids, value_set=derived),
                       pc.is_in(ids, value_set=elsewhere))
        if pc.any(drop).as_py():
            out[k] = out[k].filter(pc.invert(drop))
    return out


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Integer codes of a column: equal values, equal codes (null is a value)."""
    if pa.types.is_timestamp(col.type):
        return pc.fill_null(col.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    encoded = pc.dictionary_encode(col.cast(pa.string()), null_encoding="encode")
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(
        np.int64)


_MIX = np.uint64(0x9E3779B97F4A7C15)
_HASH_ROWS = 1 << 21
_NULL_HASH = np.uint64(0x5BD1E995)


def _string_hashes(values: pa.Array) -> np.ndarray:
    """FNV-1a of each string's UTF-8 bytes; null is a value of its own.

    It runs on dictionaries (the distinct values of a chunk), so it stays cheap.
    """
    h = fnv1a64(values)
    if values.null_count:
        h[~values.is_valid().to_numpy(zero_copy_only=False)] = _NULL_HASH
    return h


def _column_hashes(col: pa.Array) -> np.ndarray:
    """Hash each row of one column to 64 bits, equal for equal values."""
    if pa.types.is_timestamp(col.type):
        return pc.fill_null(col.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy(
            zero_copy_only=False).view(np.uint64)
    encoded = (col if pa.types.is_dictionary(col.type) else
               pc.dictionary_encode(col.cast(pa.string()), null_encoding="encode"))
    per_value = np.append(_string_hashes(encoded.dictionary), _NULL_HASH)
    h = per_value[pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)]
    if encoded.null_count:  # nulls in the indices (a dictionary array's own nulls)
        h[~encoded.is_valid().to_numpy(zero_copy_only=False)] = _NULL_HASH
    return h


def _row_hashes(touches: pa.Table) -> np.ndarray:
    """Hash each row's dedupe key to 64 bits, a slice of rows at a time."""
    out = np.empty(touches.num_rows, dtype=np.uint64)
    for start in range(0, touches.num_rows, _HASH_ROWS):
        part = touches.slice(start, _HASH_ROWS)
        h = np.zeros(part.num_rows, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for name in _DEDUPE_KEYS:
                col = part.column(name)
                col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
                h = (h ^ _column_hashes(col)) * _MIX
                h ^= h >> np.uint64(29)
        out[start: start + part.num_rows] = h
    return out


def duplicate_mask(touches: pa.Table) -> np.ndarray:
    """Touches equal to an earlier one on (journey, person, ts, channel, campaign).

    Timeless touches (aggregated paths, null ``ts``) are never duplicates: a path
    may name a channel twice. Rows are first compared by a 64-bit hash of their key
    (computed a slice at a time, so memory stays small); rows whose hash repeats
    are then compared exactly, so a hash collision never drops a touch.
    """
    n = touches.num_rows
    if n < 2:
        return np.zeros(n, dtype=bool)
    h = _row_hashes(touches)
    ordered = np.sort(h)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeated):
        return np.zeros(n, dtype=bool)
    timed = touches.column("ts").is_valid()
    timed = (timed.to_numpy(zero_copy_only=False) if isinstance(timed, pa.Array)
             else np.asarray(timed))
    parts = []
    for lo in range(0, n, _HASH_ROWS):  # rows whose hash repeats, a slice at a time
        part = h[lo: lo + _HASH_ROWS]
        at = np.minimum(np.searchsorted(repeated, part), len(repeated) - 1)
        parts.append(lo + np.flatnonzero((repeated[at] == part)
                                         & timed[lo: lo + _HASH_ROWS]))
    del h
    rows = np.concatenate(parts)
    dup = np.zeros(n, dtype=bool)
    if len(rows) < 2:
        return dup
    some = touches.take(pa.array(rows))
    frame = pd.DataFrame({name: _codes(some.column(name)) for name in _DEDUPE_KEYS})
    dup[rows[frame.duplicated(keep="first").to_numpy()]] = True
    return dup


def dedupe_touches(tables: list[pa.Table]) -> tuple[pa.Table, list[dict[str, int]]]:
    """Concatenate touch tables, dropping repeats; count lost rows per input file.

    Returns
    -------
    (pyarrow.Table, list of dict)
        The touches kept, and per table the number of input rows (by the file
        name of ``source_ref``) whose every touch was a repeat.
    """
    sizes = [t.num_rows for t in tables]
    schema = TOUCH_MEMORY_SCHEMA
    touches = pa.concat_tables([t if t.schema.equals(schema) else t.cast(schema)
                                for t in tables]) if tables else schema.empty_table()
    lost: list[dict[str, int]] = [{} for _ in tables]
    dup = duplicate_mask(touches)
    if not dup.any():
        return touches, lost
    refs = touches.column("source_ref")
    starts = np.r_[0, np.cumsum(sizes)]
    for k in range(len(tables)):
        lo, hi = int(starts[k]), int(starts[k + 1])
        if not dup[lo:hi].any():
            continue
        own = refs.slice(lo, hi - lo)  # zero-copy: the rows of input k
        names, counts = pc.value_counts(own.filter(pa.array(dup[lo:hi]))).flatten()
        # every touch of those input rows (one row may give several touches)
        everything = pc.value_counts(own.filter(pc.is_in(own, value_set=names))
                                     ).flatten()
        total = dict(zip(everything[0].to_pylist(), everything[1].to_pylist(),
                         strict=True))
        per_file: dict[str, int] = {}
        for ref, count in zip(names.to_pylist(), counts.to_pylist(), strict=True):
            if ref is not None and total.get(ref) == count:  # the whole row repeated
                file = ref.rsplit(":", 1)[0]
                per_file[file] = per_file.get(file, 0) + 1
        lost[k] = per_file
    out = _without(touches, dup)
    release_unused_memory()  # hand freed temporaries back
    return out, lost


def _without(table: pa.Table, drop: np.ndarray) -> pa.Table:
    """``table`` without the ``drop`` rows: zero-copy slices when they are few."""
    where = np.flatnonzero(drop)
    if len(where) > 1000:
        return table.filter(pa.array(~drop))
    starts = np.r_[0, where + 1]
    stops = np.r_[where, table.num_rows]
    pieces = [table.slice(a, b - a) for a, b in zip(starts, stops, strict=True)
              if b > a]
    return pa.concat_tables(pieces) if pieces else table.slice(0, 0)


def count_duplicates(entries: list[dict[str, Any]], lost: Mapping[str, int]) -> None:
    """Move rows from used (then looked up) to duplicate in a result's entries."""
    for file, count in lost.items():
        matches = [e for e in entries if Path(str(e.get("path", ""))).name == file]
        entry = matches[0] if matches else (entries[0] if len(entries) == 1 else None)
        if entry is None:
            continue
        take = min(count, int(entry.get("rows_used", 0)))
        entry["rows_used"] = int(entry.get("rows_used", 0)) - take
        rest = min(count - take, int(entry.get("rows_looked_up", 0)))
        entry["rows_looked_up"] = int(entry.get("rows_looked_up", 0)) - rest
        entry["rows_duplicate"] = int(entry.get("rows_duplicate", 0)) + take + rest


def merge_unmapped(results: Sequence[Any]) -> dict[str, int]:
    """Sum the ``unmapped`` counts of every result (``"source / medium"`` -> rows)."""
    out: dict[str, int] = {}
    for r in results:
        for key, count in (getattr(r, "unmapped", None) or {}).items():
            out[key] = out.get(key, 0) + int(count)
    return dict(sorted(out.items()))


def spend_origins(spend: pa.Table | None) -> dict[str, str]:
    """Currency -> the first file that names it, for error messages."""
    if spend is None or not spend.num_rows:
        return {}
    table = spend.select(["currency", "source_ref"]).group_by(
        "currency", use_threads=False).aggregate([("source_ref", "min")])
    currencies = table.column("currency").to_pylist()
    refs = table.column("source_ref_min").to_pylist()
    return {c: str(r).rsplit(":", 1)[0] for c, r in zip(currencies, refs, strict=True)
            if c}
