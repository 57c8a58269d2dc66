"""The columnar core: sorted, dictionary-encoded numpy arrays of a store.

Touches of journey ``k`` are ``offsets[k]:offsets[k + 1]``, in (``journey_id``, ``ts``,
``seq``) order. Timestamps are int64 microseconds since the epoch (UTC) with
:data:`NAT` for null. String columns are int32 codes into a sorted dictionary, ``-1``
for null, so codes never depend on row order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .exceptions import SchemaError

NAT = np.iinfo(np.int64).min

_TOUCH_TYPES = {
    "journey_id": pa.types.is_string,
    "channel": pa.types.is_string,
    "ts": pa.types.is_timestamp,
    "seq": pa.types.is_integer,
}
_JOURNEY_AMOUNTS = ("pipeline_amount", "revenue_amount")
_JOURNEY_TIMES = ("lead_created_at", "opportunity_created_at", "closed_at")


@dataclass(eq=False)
class Columnar:
    """Encoded arrays of a store; see the module docstring for the layout."""

    journey_ids: pa.Array
    offsets: np.ndarray
    channel: np.ndarray
    channels: np.ndarray
    ts: np.ndarray
    seq: np.ndarray
    campaign: np.ndarray
    campaigns: np.ndarray
    content: np.ndarray
    contents: np.ndarray
    interaction: np.ndarray
    interactions: np.ndarray
    lead_created_at: np.ndarray
    opportunity_created_at: np.ndarray
    closed_at: np.ndarray
    won: np.ndarray
    pipeline_amount: np.ndarray
    revenue_amount: np.ndarray
    weight: np.ndarray
    timeless: np.ndarray = field(repr=False)
    _journey_of_touch: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_journeys(self) -> int:
        """Number of journeys."""
        return len(self.offsets) - 1

    @property
    def n_touches(self) -> int:
        """Number of touches."""
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """Touches per journey."""
        return np.diff(self.offsets)

    def journey_of_touch(self) -> np.ndarray:
        """Return the journey number of every touch (int32, computed once)."""
        if self._journey_of_touch is None:
            self._journey_of_touch = np.repeat(
                np.arange(self.n_journeys, dtype=np.int32), self.lengths
            )
        return self._journey_of_touch


def _first_values(
    values: pa.Array | pa.ChunkedArray, mask: np.ndarray, k: int = 3
) -> str:
    picked = values.filter(pa.array(mask)).slice(0, k).to_pylist()
    return ", ".join(repr(v) for v in picked)


def _require(
    table: pa.Table, name: str, checks: dict, required: tuple[str, ...]
) -> None:
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise SchemaError(
            f"{name}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(table.column_names)})",
            missing,
        )
    for col, ok in checks.items():
        if col in table.column_names:
            typ = table.schema.field(col).type
            base = typ.value_type if pa.types.is_dictionary(typ) else typ
            if not (
                ok(base)
                or pa.types.is_null(base)
                or (ok is pa.types.is_string and pa.types.is_large_string(base))
            ):
                raise SchemaError(
                    f"{name}: column {col} has type {typ}, which is not "
                    f"a {ok.__name__.removeprefix('is_')} column"
                )


def _encode(
    col: pa.ChunkedArray | pa.Array | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary-encode a string column: sorted values and int32 codes (-1 = null)."""
    if col is None:  # a column not read: every code -1, held in no memory
        return _no_codes(n), np.array([], dtype=object)
    if isinstance(col, pa.ChunkedArray):
        if pa.types.is_dictionary(col.type):
            col = col.unify_dictionaries()
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    dictionary = col.dictionary.cast(pa.string())
    values = np.asarray(dictionary.to_pylist(), dtype=object)
    if not len(values):
        return _no_codes(n), np.array([], dtype=object)
    # sorted, deduplicated dictionary so codes do not depend on row order
    uniq, rank = np.unique(values.astype(str), return_inverse=True)
    # the code of every dictionary index, and -1 after them for null
    lookup = np.append(rank.astype(np.int32), np.int32(-1))
    indices = pc.fill_null(col.indices, len(values)).to_numpy(zero_copy_only=False)
    return lookup.take(indices), uniq.astype(object)


def _no_codes(n: int) -> np.ndarray:
    """``n`` codes of -1 (no value) as a read-only view of one int32."""
    return np.broadcast_to(np.int32(-1), (n,))


def _timestamps(col: pa.ChunkedArray | None, n: int) -> np.ndarray:
    if col is None:
        return np.full(n, NAT, np.int64)
    if pa.types.is_null(col.type):
        return np.full(n, NAT, np.int64)
    col = col.cast(pa.timestamp("us", tz=getattr(col.type, "tz", None)))
    return pc.fill_null(col.cast(pa.int64()), NAT).to_numpy()


def is_sorted(table: pa.Table) -> bool:
    """Whether a table is sorted by journey_id (then ts, seq where present)."""
    ids = table.column("journey_id")
    if table.num_rows < 2:
        return True
    a, b = ids.slice(0, table.num_rows - 1), ids.slice(1)
    if pc.any(pc.less(b, a)).as_py():
        return False
    same = pc.equal(a, b)
    if "ts" in table.column_names:
        ts = table.column("ts")
        t0, t1 = ts.slice(0, table.num_rows - 1), ts.slice(1)
        # a journey is all-null (timeless) or all-timed; nulls sort last
        bad = pc.and_kleene(
            same,
            pc.or_kleene(pc.less(t1, t0), pc.and_(pc.is_null(t0), pc.is_valid(t1))),
        )
        if pc.any(pc.fill_null(bad, False)).as_py():
            return False
        ts_equal = pc.fill_null(pc.equal(t0, t1), False)
        both_null = pc.and_(pc.is_null(t0), pc.is_null(t1))
        same = pc.and_(same, pc.or_(ts_equal, both_null))
    if "seq" in table.column_names:
        s = table.column("seq")
        bad = pc.and_(
            same,
            pc.fill_null(pc.less(s.slice(1), s.slice(0, table.num_rows - 1)), False),
        )
        if pc.any(bad).as_py():
            return False
    return True


def check_unique_ids(jids: pa.ChunkedArray | pa.Array, journeys_name: str) -> pa.Array:
    """Check sorted journey ids: no null, no repeat. Return them as one string array.

    Raises
    ------
    SchemaError
        Naming the file and the first repeated ids.
    """
    if jids.null_count:
        raise SchemaError(
            f"{journeys_name}: column journey_id has {jids.null_count} "
            "null value(s); every journey needs an id"
        )
    jids = (
        jids.combine_chunks().cast(pa.string())
        if isinstance(jids, pa.ChunkedArray)
        else jids.cast(pa.string())
    )
    n_j = len(jids)
    if n_j > 1:
        dup = pc.equal(jids.slice(1), jids.slice(0, n_j - 1)).to_numpy(
            zero_copy_only=False
        )
        if dup.any():
            raise SchemaError(
                f"{journeys_name}: column journey_id has duplicate values: "
                f"{_first_values(jids.slice(1), dup)}",
                jids.slice(1).filter(pa.array(dup)).to_pylist()[:20],
            )
    return jids


def build_columnar(
    touches: pa.Table, journeys: pa.Table, *, touches_name: str, journeys_name: str
) -> Columnar:
    """Validate a touches/journeys pair and encode it as a :class:`Columnar`.

    Raises
    ------
    SchemaError
        On the first broken rule of DESIGN §2, naming the file, column and values.
    """
    _require(touches, touches_name, _TOUCH_TYPES, ("journey_id", "channel"))
    amount_checks = {c: is_number for c in _JOURNEY_AMOUNTS}
    time_checks = {c: pa.types.is_timestamp for c in _JOURNEY_TIMES}
    _require(
        journeys,
        journeys_name,
        {
            "journey_id": pa.types.is_string,
            "won": pa.types.is_boolean,
            "weight": pa.types.is_integer,
            **amount_checks,
            **time_checks,
        },
        ("journey_id",),
    )

    # ---- journeys: sorted, unique ids
    if not is_sorted(journeys.select(["journey_id"])):
        journeys = journeys.take(
            pc.sort_indices(journeys, [("journey_id", "ascending")])
        )
    jids = check_unique_ids(journeys.column("journey_id"), journeys_name)
    n_j = len(jids)

    # ---- touches: sorted by journey_id, ts, seq
    tj = touches.column("journey_id")
    if tj.null_count:
        raise SchemaError(
            f"{touches_name}: column journey_id has {tj.null_count} null "
            "value(s); every touch needs a journey"
        )
    ch = touches.column("channel")
    if ch.null_count:
        mask = ch.is_null().to_numpy(zero_copy_only=False)
        raise SchemaError(
            f"{touches_name}: column channel is null in {ch.null_count} "
            f"row(s), for journey_id {_first_values(tj, mask)}; map every "
            "touch to a channel"
        )
    if not is_sorted(touches):
        keys = [("journey_id", "ascending")] + [
            (c, "ascending") for c in ("ts", "seq") if c in touches.column_names
        ]
        touches = touches.take(pc.sort_indices(touches, keys))
    n_t = touches.num_rows
    tj = touches.column("journey_id")
    tj = tj.combine_chunks() if isinstance(tj, pa.ChunkedArray) else tj
    if pa.types.is_dictionary(tj.type):
        tj = tj.cast(pa.string())
    tj = tj.cast(pa.string())
    if n_t:
        change = pc.not_equal(tj.slice(1), tj.slice(0, n_t - 1)).to_numpy(
            zero_copy_only=False
        )
        starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    else:
        starts = np.zeros(0, np.int64)
    run_ids = tj.take(pa.array(starts))
    where = pc.index_in(run_ids, value_set=jids)
    if where.null_count:
        unknown = where.is_null().to_numpy(zero_copy_only=False)
        raise SchemaError(
            f"{touches_name}: column journey_id has values with no row in "
            f"{journeys_name}: {_first_values(run_ids, unknown)}",
            run_ids.filter(pa.array(unknown)).to_pylist()[:20],
        )
    where = where.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.zeros(n_j, np.int64)
    counts[where] = np.diff(np.append(starts, n_t))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    ts = _timestamps(
        touches.column("ts") if "ts" in touches.column_names else None, n_t
    )
    seq = (
        pc.fill_null(touches.column("seq"), 0).to_numpy().astype(np.int64)
        if "seq" in touches.column_names
        else np.zeros(n_t, np.int64)
    )
    has_ts = ts != NAT
    lengths = counts
    if n_t:
        timed = np.add.reduceat(has_ts.astype(np.int64), offsets[:-1][lengths > 0])
        mixed = (timed > 0) & (timed < lengths[lengths > 0])
        if mixed.any():
            bad = np.flatnonzero(lengths > 0)[mixed]
            raise SchemaError(
                f"{touches_name}: column ts is null for some but not all "
                f"touches of journey_id {_first_values(jids, _mask(n_j, bad))};"
                " ts may be null only for aggregated paths (all touches)"
            )
    timeless = np.zeros(n_j, bool)
    if n_t:
        timeless[lengths > 0] = ~has_ts[offsets[:-1][lengths > 0]]

    def col(name: str) -> pa.ChunkedArray | None:
        return touches.column(name) if name in touches.column_names else None

    channel, channels = _encode(touches.column("channel"), n_t)
    campaign, campaigns = _encode(col("campaign"), n_t)
    content, contents = _encode(col("content"), n_t)
    interaction, interactions = _encode(col("interaction"), n_t)

    # ---- journey values
    def jcol(name: str) -> pa.ChunkedArray | None:
        return journeys.column(name) if name in journeys.column_names else None

    amounts = {}
    for name in _JOURNEY_AMOUNTS:
        c = jcol(name)
        if c is None or pa.types.is_null(c.type):
            amounts[name] = np.zeros(n_j)
            continue
        a = pc.fill_null(c.cast(pa.float64()), np.nan).to_numpy()
        bad = ~np.isfinite(a) | (a < 0)
        if bad.any():
            raise SchemaError(
                f"{journeys_name}: column {name} must be a finite amount >= 0 (0 where "
                f"there is none); found "
                f"{', '.join(repr(float(v)) for v in a[bad][:3])} for journey_id "
                f"{_first_values(jids, bad)}",
                a[bad][:20].tolist(),
            )
        amounts[name] = a
    won_col = jcol("won")
    won = (
        pc.fill_null(won_col, False).to_numpy(zero_copy_only=False).astype(bool)
        if won_col is not None and not pa.types.is_null(won_col.type)
        else np.zeros(n_j, bool)
    )
    w_col = jcol("weight")
    if w_col is None or pa.types.is_null(w_col.type):
        weight = np.ones(n_j, np.int64)
    else:
        weight = pc.fill_null(w_col, 1).to_numpy().astype(np.int64)
        bad = weight < 1
        if bad.any():
            raise SchemaError(
                f"{journeys_name}: column weight must be a whole number "
                f">= 1; found {weight[bad][:3].tolist()} for journey_id "
                f"{_first_values(jids, bad)}"
            )
    times = {name: _timestamps(jcol(name), n_j) for name in _JOURNEY_TIMES}
    bad = won & (times["closed_at"] == NAT) & ~timeless
    if bad.any():
        raise SchemaError(
            f"{journeys_name}: column closed_at is null for won journey_id "
            f"{_first_values(jids, bad)}; a won deal needs its close date"
        )
    return Columnar(
        journey_ids=jids,
        offsets=offsets,
        channel=channel,
        channels=channels,
        ts=ts,
        seq=seq,
        campaign=campaign,
        campaigns=campaigns,
        content=content,
        contents=contents,
        interaction=interaction,
        interactions=interactions,
        lead_created_at=times["lead_created_at"],
        opportunity_created_at=times["opportunity_created_at"],
        closed_at=times["closed_at"],
        won=won,
        pipeline_amount=amounts["pipeline_amount"],
        revenue_amount=amounts["revenue_amount"],
        weight=weight,
        timeless=timeless,
    )


def is_number(t: pa.DataType) -> bool:
    """Whether an arrow type holds numbers (float, integer or decimal)."""
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    m = np.zeros(n, bool)
    m[idx] = True
    return m


# --------------------------------------------------------------------------- hashing
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def fnv1a64(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit FNV-1a hash of each string's UTF-8 bytes (null hashes like "").

    The same on every machine and Python version (Python's ``hash`` is salted per
    process). Vectorised over the strings, looping over character positions.

    Examples
    --------
    >>> hex(int(fnv1a64(pa.array(["a"]))[0]))
    '0xaf63dc4c8601ec8c'
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    n = len(values)
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[
        values.offset : values.offset + n + 1
    ]
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    if values.null_count:
        lengths = np.where(values.is_valid().to_numpy(zero_copy_only=False), lengths, 0)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(int(lengths.max()) if n else 0):
            live = lengths > i
            h[live] = (
                h[live] ^ data[offsets[:-1][live] + i].astype(np.uint64)
            ) * _FNV_PRIME
    return h


# --------------------------------------------------------------------------- reshaping
def take_journeys(col: Columnar, rows: np.ndarray) -> Columnar:
    """Take the journeys ``rows`` of ``col`` (in that order) with their touches.

    Dictionaries are kept as they are, so codes keep their meaning.
    """
    rows = np.asarray(rows, dtype=np.int64)
    lengths = col.lengths[rows]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    shift = np.repeat(col.offsets[:-1][rows] - offsets[:-1], lengths)
    touch = np.arange(int(offsets[-1]), dtype=np.int64) + shift
    del shift
    return Columnar(
        journey_ids=col.journey_ids.take(pa.array(rows)),
        offsets=offsets,
        channel=col.channel[touch],
        channels=col.channels,
        ts=col.ts[touch],
        seq=col.seq[touch],
        campaign=col.campaign[touch],
        campaigns=col.campaigns,
        content=col.content[touch],
        contents=col.contents,
        interaction=col.interaction[touch],
        interactions=col.interactions,
        lead_created_at=col.lead_created_at[rows],
        opportunity_created_at=col.opportunity_created_at[rows],
        closed_at=col.closed_at[rows],
        won=col.won[rows],
        pipeline_amount=col.pipeline_amount[rows],
        revenue_amount=col.revenue_amount[rows],
        weight=col.weight[rows],
        timeless=col.timeless[rows],
    )


def _unify(
    codes: list[np.ndarray], dictionaries: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """One sorted dictionary for several coded columns; the codes recoded to it."""
    first = dictionaries[0] if dictionaries else None
    if first is not None and all(
        d is first or np.array_equal(d, first) for d in dictionaries[1:]
    ):  # already one dictionary (parts coded against the store's): no recoding
        return np.concatenate(codes).astype(np.int32, copy=False), first
    merged = (
        np.unique(np.concatenate([np.asarray(d, dtype=str) for d in dictionaries]))
        if any(len(d) for d in dictionaries)
        else np.array([], str)
    )
    out = []
    for c, d in zip(codes, dictionaries, strict=True):
        to = np.searchsorted(merged, np.asarray(d, dtype=str)).astype(np.int32)
        out.append(np.where(c >= 0, np.append(to, -1)[c], -1).astype(np.int32))
    return np.concatenate(out) if out else np.zeros(0, np.int32), merged.astype(object)


_TOUCH_ARRAYS = ("channel", "ts", "seq", "campaign", "content", "interaction")
_JOURNEY_ARRAYS = ("lead_created_at", "opportunity_created_at", "closed_at", "won",
                   "pipeline_amount", "revenue_amount", "weight", "timeless")
_DICTIONARIES = {"channel": "channels", "campaign": "campaigns", "content": "contents",
                 "interaction": "interactions"}


def concat_columnar(
    parts: list[Columnar], *, journeys_name: str = "journeys", consume: bool = False
) -> Columnar:
    """Put the Columnars of disjoint sets of journeys together, sorted by journey_id.

    The result is the Columnar of the union as :func:`build_columnar` would make it
    (same order, same codes), without re-sorting the touches: journeys are
    ordered by id, then each journey's touches are gathered as one block, one
    column at a time.

    Parameters
    ----------
    parts : list of Columnar
    journeys_name : str
        The file named in errors.
    consume : bool, default=False
        Let go of each column of ``parts`` as soon as it is gathered (the parts are
        unusable afterwards), so memory holds the parts and the result about once,
        not twice.

    Raises
    ------
    SchemaError
        When a journey_id appears in more than one part.
    """
    if len(parts) == 1:
        return parts[0]
    ids = pa.concat_arrays([p.journey_ids for p in parts])
    order = pc.sort_indices(ids).to_numpy()
    in_order = bool((order[1:] > order[:-1]).all())
    ids = ids if in_order else ids.take(pa.array(order))
    check_unique_ids(ids, journeys_name)
    old_lengths = np.concatenate([p.lengths for p in parts])
    old_offsets = np.concatenate([[0], np.cumsum(old_lengths)]).astype(np.int64)
    lengths = old_lengths if in_order else old_lengths[order]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    touch = None
    if not in_order:  # where each new touch comes from
        touch = np.arange(int(offsets[-1]), dtype=np.int64) + np.repeat(
            old_offsets[:-1][order] - offsets[:-1], lengths)
    del old_lengths, old_offsets

    def let_go(name: str) -> None:
        if consume:
            for p in parts:
                setattr(p, name, None)

    def gather(name: str, at: np.ndarray | None) -> np.ndarray:
        whole = np.concatenate([getattr(p, name) for p in parts])
        let_go(name)
        return whole if at is None else whole[at]

    out: dict[str, Any] = {}
    for name in _TOUCH_ARRAYS:
        if name in _DICTIONARIES:
            dicts = _DICTIONARIES[name]
            if not any(len(getattr(p, dicts)) for p in parts):  # a column not read
                out[name] = _no_codes(int(offsets[-1]))
                out[dicts] = np.array([], dtype=object)
                let_go(name)
                continue
            codes, out[dicts] = _unify([getattr(p, name) for p in parts],
                                       [getattr(p, dicts) for p in parts])
            let_go(name)
            out[name] = codes if touch is None else codes[touch]
            del codes
        else:
            out[name] = gather(name, touch)
    for name in _JOURNEY_ARRAYS:
        out[name] = gather(name, None if in_order else order)
    return Columnar(journey_ids=ids, offsets=offsets, **out)


def smallest_hashes(journey_ids: pa.Array, k: int, *, ties: bool = False) -> np.ndarray:
    """Rows of the ``k`` journeys whose id hashes lowest (:func:`fnv1a64`), ascending.

    A deterministic sample that does not depend on how the store is split: the
    lowest ``k`` of the union of several parts are among the lowest ``k`` of each
    part. Equal hashes are broken by row order (rows are in ``journey_id`` order).
    With ``ties=True`` every journey hashing as low as the ``k``-th is kept too
    (a superset to narrow later, once parts are put together).
    """
    n = len(journey_ids)
    if n <= k:
        return np.arange(n, dtype=np.int64)
    h = fnv1a64(journey_ids)
    if ties:
        return np.flatnonzero(h <= np.partition(h, k - 1)[k - 1])
    return np.sort(np.lexsort((np.arange(n), h))[:k])
