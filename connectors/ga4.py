"""The ``ga4`` connector: the GA4 BigQuery export, sessions as web touches.

Reads ``events_*`` tables exported as JSON lines (``bq extract`` writes INT64 values
as JSON strings, e.g. ``"event_timestamp": "1697698986127385"``) or Parquet, as they
are: nested ``event_params`` with their four value slots (``string_value``,
``int_value``, ``float_value``, ``double_value``), ``traffic_source``,
``collected_traffic_source`` (often null), ``user_pseudo_id`` (``client_id`` in the
dbt-ga4 staging shape) and ``user_id``. Files are read in batches and every step
is vectorised over events.

How the store is built
----------------------
- **Sessions are touches.** A session is a ``user_pseudo_id`` and a
  ``ga_session_id``; its touch has ``ts`` = the session's first event,
  ``interaction`` = ``form_fill`` when the session holds a lead event
  (``generate_lead`` by default) and ``web_visit`` otherwise, ``person_id`` = the
  ``user_pseudo_id``, ``source_ref`` = the file and record number of the session's
  first event.
- **Session source.** The first event of the session that carries ``source`` /
  ``medium`` / ``campaign`` / ``content`` parameters gives them; else
  ``collected_traffic_source`` (``manual_source``, ...); else, for the user's first
  session only, ``traffic_source`` (GA4's first-user acquisition); else the session
  is ``(direct) / (none)``. A Google click id (``gclid``, ``wbraid``, ``gbraid``)
  in the parameters, ``collected_traffic_source`` or ``page_location`` makes the
  session ``google / cpc``: Paid Search. The channel comes from the channel grouping
  of source, medium and campaign.
- **Web-only journeys.** Each ``user_pseudo_id`` is one journey ``web:`` + its id.
  It converts (``won``, ``closed_at`` = the first key event, ``revenue_amount`` =
  the revenue of its key events: ``ecommerce.purchase_revenue``, else the ``value``
  parameter, each ``transaction_id`` counted once) when one of ``key_events``
  occurs; ``lead_created_at`` is its first lead event.
- **Identity.** ``identities`` lists, per web journey, the CRM person ids it may be:
  ``user_id`` itself, and what an ``id_map`` file says for its ``user_pseudo_id``
  or ``user_id``. :func:`connectors.ingest` moves all the sessions of a user that
  matches a Contact or Lead of the CRM input onto that person's journeys; the web
  journey (and its key events) then disappears.
- **Accounting.** Every event is *used* (it belongs to a session that became a
  touch), a *duplicate* (a key event repeating a ``transaction_id`` of the same
  user: its revenue is not counted twice) or *rejected* (no ``user_pseudo_id``,
  no ``ga_session_id``, a bad ``event_timestamp``, a line that is not JSON).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from attribution.exceptions import SchemaError
from attribution.store import JOURNEY_SCHEMA, REJECT_SCHEMA, TOUCH_MEMORY_SCHEMA

from ._values import read_csv_strings, text
from .channels import ChannelMapping, assign_channels, load_channel_mapping

__all__ = ["GA4Result", "read_ga4", "read_id_map"]

SOURCE = "ga4"
WEB_PREFIX = "web:"
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".parquet")
_BATCH_BYTES = 1 << 25
_PARAMS = ("ga_session_id", "ga_session_number", "page_location", "source", "medium",
           "campaign", "content", "gclid", "value", "currency", "transaction_id")
_CLICK_IDS = r"[?&#](gclid|wbraid|gbraid)=[^&#]+"
_NOT_SET = ("", "(not set)", "(none)", "(organic)", "(direct)", "(referral)",
            "(not provided)", "(data deleted)")
_TS = pa.timestamp("us", tz="UTC")

# leaves read from each event: (path, kind) with kind "s" text or "n" number; the
# BigQuery JSON export writes INT64 (and, in practice, most numbers) as text
_LEAVES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("event_timestamp",), "s"), (("event_name",), "s"),
    (("user_pseudo_id",), "s"), (("client_id",), "s"), (("user_id",), "s"),
    (("ga_session_id",), "s"),
    (("traffic_source", "source"), "s"), (("traffic_source", "medium"), "s"),
    (("traffic_source", "name"), "s"),
    (("collected_traffic_source", "manual_source"), "s"),
    (("collected_traffic_source", "manual_medium"), "s"),
    (("collected_traffic_source", "manual_campaign_name"), "s"),
    (("collected_traffic_source", "manual_content"), "s"),
    (("collected_traffic_source", "gclid"), "s"),
    (("ecommerce", "purchase_revenue"), "s"),
    (("ecommerce", "transaction_id"), "s"),
)
_VALUE_SLOTS = ("string_value", "int_value", "float_value", "double_value")


@dataclass(frozen=True)
class GA4Result:
    """What :func:`read_ga4` returns.

    Attributes
    ----------
    touches, journeys, rejects : pyarrow.Table
        In the store schemas; journeys are the web-only journeys ``web:<user>``.
    inputs : list of dict
        One manifest entry per file (events read, used, duplicate, rejected).
    identities : pyarrow.Table
        ``journey_id``, ``person_id``, ``priority``: the CRM ids each web journey may
        be (lower priority first: id map of ``user_pseudo_id``, id map of
        ``user_id``, ``user_id`` itself).
    unmapped : dict of str to int
        Sessions whose channel the grouping could not place, by
        ``"source / medium"``.
    """

    touches: pa.Table
    journeys: pa.Table
    rejects: pa.Table
    inputs: list[dict[str, Any]]
    identities: pa.Table
    unmapped: dict[str, int] = field(default_factory=dict)


def read_ga4(
    path: str | os.PathLike[str],
    *,
    id_map: str | os.PathLike[str] | None = None,
    key_events: Sequence[str] = ("purchase",),
    lead_events: Sequence[str] = ("generate_lead",),
    channel_map: ChannelMapping | str | os.PathLike[str] | None = None,
) -> GA4Result:
    r"""Read a GA4 BigQuery export into sessions (touches) and web-only journeys.

    Parameters
    ----------
    path : str or os.PathLike
        One export file, or a folder of them (``*.json``, ``*.jsonl``,
        ``*.ndjson``, ``*.parquet``; ``events_20260101.jsonl`` ...), read in name
        order.
    id_map : str or os.PathLike, optional
        A CSV whose first column is a ``user_pseudo_id`` or ``user_id`` and whose
        second is the Contact or Lead id it belongs to.
    key_events : sequence of str, default=("purchase",)
        Events that make a web-only journey convert.
    lead_events : sequence of str, default=("generate_lead",)
        Events that mark a form fill (the session's interaction, the journey's
        ``lead_created_at``).
    channel_map : ChannelMapping, str or os.PathLike, optional
        The analyst's channel rules (see :func:`connectors.load_channel_mapping`).

    Returns
    -------
    GA4Result

    Raises
    ------
    SchemaError
        When no export file is found, a file is empty or not an export (no
        ``event_timestamp``), or the id map lacks two columns.

    See Also
    --------
    connectors.read_salesforce : The CRM side the identities are matched against.
    connectors.ingest : Merges both into one store.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> row = {"event_timestamp": "1767225600000000", "event_name": "page_view",
    ...        "user_pseudo_id": "111.222", "event_params": [
    ...            {"key": "ga_session_id", "value": {"int_value": "1767225600"}},
    ...            {"key": "source", "value": {"string_value": "google"}},
    ...            {"key": "medium", "value": {"string_value": "cpc"}}]}
    >>> _ = (d / "events_20260101.jsonl").write_text(json.dumps(row) + "\n")
    >>> result = read_ga4(d)
    >>> result.touches.select(["journey_id", "channel"]).to_pylist()
    [{'journey_id': 'web:111.222', 'channel': 'Paid Search'}]
    """
    files = _discover(Path(path))
    events, rejects, entries = [], [], []
    for i, f in enumerate(files):
        slims, rejs, rows_read = _read_events(f, i)
        events += slims
        rejects += rejs
        entries.append({"path": str(f), "source": SOURCE, "rows_read": rows_read})
    ev = pa.concat_tables(events) if events else _SLIM_SCHEMA.empty_table()
    ev, duplicate = _dedupe_transactions(ev, key_events)
    mapping = (load_channel_mapping(channel_map)
               if isinstance(channel_map, (str, os.PathLike)) else channel_map)
    unmapped: dict[str, int] = {}
    touches, journeys, identities = _sessions(ev, files, set(key_events),
                                              set(lead_events), id_map, mapping,
                                              unmapped)
    rej = pa.concat_tables(rejects) if rejects else REJECT_SCHEMA.empty_table()
    counts_rej = _count_by_file(rej, files)
    counts_dup = np.bincount(duplicate, minlength=len(files)) if len(duplicate) else \
        np.zeros(len(files), np.int64)
    for i, e in enumerate(entries):
        e["rows_rejected"] = int(counts_rej[i])
        e["rows_duplicate"] = int(counts_dup[i])
        e["rows_looked_up"] = 0
        e["rows_used"] = e["rows_read"] - e["rows_rejected"] - e["rows_duplicate"]
    return GA4Result(touches=touches, journeys=journeys, rejects=rej, inputs=entries,
                     identities=identities, unmapped=dict(sorted(unmapped.items())))


# ----------------------------------------------------------------------- reading
def _discover(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SchemaError(f"{path}: no such file or folder; give a GA4 export "
                          "(events_*.jsonl or .parquet) or a folder of them")
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and p.suffix.lower() in _SUFFIXES)
    if not files:
        raise SchemaError(f"{path}: holds no GA4 export files (*.jsonl, *.json, "
                          "*.ndjson, *.parquet)")
    return files


def _kinds(path: Path) -> dict[tuple[str, ...], str]:
    """Whether each leaf is written as text or as a number, from the first rows."""
    kinds: dict[tuple[str, ...], str] = {}
    slots: dict[str, str] = {}
    with open(path, "rb") as fh:
        for k, line in enumerate(fh):
            if k >= 2000:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                continue
            for leaf, _ in _LEAVES:
                value: Any = row
                for part in leaf:
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None and leaf not in kinds:
                    kinds[leaf] = "s" if isinstance(value, str) else "n"
            for p in row.get("event_params") or []:
                for slot, v in ((p.get("value") or {}).items()):
                    if v is not None and slot not in slots:
                        slots[slot] = "s" if isinstance(v, str) else "n"
    kinds.update({("slot", s): k for s, k in slots.items()})
    return kinds


def _json_schema(kinds: dict[tuple[str, ...], str]) -> pa.Schema:
    def typ(leaf: tuple[str, ...], default: str) -> pa.DataType:
        kind = kinds.get(leaf, default)
        if kind == "s":
            return pa.string()
        return pa.int64() if leaf in (("event_timestamp",), ("ga_session_id",),
                                      ("slot", "int_value")) else pa.float64()

    top: dict[str, Any] = {}
    for leaf, default in _LEAVES:
        if len(leaf) == 1:
            top[leaf[0]] = typ(leaf, default)
        else:
            top.setdefault(leaf[0], {})[leaf[1]] = typ(leaf, default)
    value = pa.struct([(s, typ(("slot", s), "s")) for s in _VALUE_SLOTS])
    fields = []
    for name, t in top.items():
        fields.append(pa.field(name, pa.struct(list(t.items())) if isinstance(t, dict)
                               else t))
    fields.append(pa.field("event_params", pa.list_(pa.struct(
        [("key", pa.string()), ("value", value)]))))
    return pa.schema(fields)


def _read_events(path: Path, file_index: int
                 ) -> tuple[list[pa.Table], list[pa.Table], int]:
    """Read one export file in batches, each reduced at once to the fields needed.

    Returns the reduced events, the rejects and the number of records read. A JSON
    leaf typed wrongly by the sample (a number where text was seen) is flipped and
    the file read again; a file with lines that are not JSON, or with a leaf of
    both types, is read line by line (:func:`_read_lenient`).
    """
    if path.suffix.lower() == ".parquet":
        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SchemaError(f"{path}: cannot be read as Parquet "
                              f"({str(exc).splitlines()[0]})") from None
        cols = [c for c in pf.schema_arrow.names
                if c in {leaf[0] for leaf, _ in _LEAVES} or c == "event_params"]
        return _reduce(path, file_index, (
            pa.Table.from_batches([b]) for b in pf.iter_batches(
                batch_size=1 << 16, columns=cols)))
    if path.stat().st_size == 0:
        raise SchemaError(f"{path}: file is empty; expected GA4 events as JSON lines")
    kinds = _kinds(path)
    for _ in range(8):  # a leaf typed wrongly by the sample is flipped and re-read
        options = pajson.ParseOptions(explicit_schema=_json_schema(kinds),
                                      unexpected_field_behavior="ignore")
        try:
            reader = pajson.open_json(path, read_options=pajson.ReadOptions(
                block_size=_BATCH_BYTES, use_threads=False), parse_options=options)
            return _reduce(path, file_index,
                           (pa.Table.from_batches([b]) for b in reader))
        except pa.ArrowInvalid as exc:
            leaf = _changed_leaf(str(exc))
            if leaf is None or kinds.get(leaf) == "s":
                break
            kinds[leaf] = "s"
    table, bad = _read_lenient(path, options)
    _require(table, path)
    slim, rej = _slim(table, path, file_index, bad, 0)
    return [slim], [rej], table.num_rows + len(bad)


def _reduce(path: Path, file_index: int, batches: Any
            ) -> tuple[list[pa.Table], list[pa.Table], int]:
    """Reduce each batch as it is read; check the file is an export at all."""
    slims, rejs = [], []
    offset = 0
    usable = False
    for table in batches:
        usable |= _usable(table)
        slim, rej = _slim(table, path, file_index, [], offset)
        offset += table.num_rows
        slims.append(slim)
        rejs.append(rej)
    if offset and not usable:
        _require_fail(path)
    return slims, rejs, offset


def _changed_leaf(message: str) -> tuple[str, ...] | None:
    """Return the leaf that Arrow's "Column(/a/b) changed from ..." names."""
    found = re.search(r"Column\((/[^)]*)\) changed from", message)
    if not found:
        return None
    parts = [p for p in found.group(1).split("/") if p and p != "[]"]
    if parts and parts[0] == "event_params":
        return ("slot", parts[-1])
    return tuple(parts) or None


def _read_lenient(path: Path, options: pajson.ParseOptions
                  ) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Slow path for a file with bad lines or mixed types: check each line in Python.

    Lines that are not JSON objects are returned as rejects; the others are read
    with every leaf as text.
    """
    text_kinds = {leaf: "s" for leaf, _ in _LEAVES}
    text_kinds.update({("slot", s): "s" for s in _VALUE_SLOTS})
    options = pajson.ParseOptions(explicit_schema=_json_schema(text_kinds),
                                  unexpected_field_behavior="ignore")
    good, bad = io.BytesIO(), []
    k = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            k += 1
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not an object")
                good.write(json.dumps(_as_text(row)).encode() + b"\n")
            except ValueError as exc:
                bad.append((k, line.decode("utf-8", "replace").rstrip("\r\n"),
                            f"not a JSON object ({str(exc).splitlines()[0]})"))
    good.seek(0)
    try:
        table = pajson.read_json(good, parse_options=options)
    except pa.ArrowInvalid as exc:
        raise SchemaError(f"{path}: cannot be read as GA4 JSON lines "
                          f"({str(exc).splitlines()[0]})") from None
    return table, bad


def _as_text(row: dict[str, Any]) -> dict[str, Any]:
    """Write every leaf this connector reads as text (for files of mixed types)."""
    for leaf, _ in _LEAVES:
        holder: Any = row
        for part in leaf[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and holder.get(leaf[-1]) is not None:
            holder[leaf[-1]] = str(holder[leaf[-1]])
    for item in row.get("event_params") or []:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, dict):
            for slot in _VALUE_SLOTS:
                if value.get(slot) is not None:
                    value[slot] = str(value[slot])
    return row


def _usable(table: pa.Table) -> bool:
    """Whether some row has an ``event_timestamp`` and a user id."""
    names = set(table.column_names)

    def present(name: str) -> bool:
        return name in names and table.column(name).null_count < table.num_rows

    return present("event_timestamp") and (present("user_pseudo_id")
                                           or present("client_id"))


def _require_fail(path: Path) -> None:
    raise SchemaError(f"{path}: not a GA4 BigQuery export: needs event_timestamp "
                      "and user_pseudo_id on its rows (export the events_* table "
                      "as JSON lines or Parquet)")


def _require(table: pa.Table, path: Path) -> None:
    if table.num_rows and not _usable(table):
        _require_fail(path)


# ----------------------------------------------------------------------- events
_SLIM_SCHEMA = pa.schema([
    ("user", pa.string()), ("user_id", pa.string()), ("session", pa.string()),
    ("us", pa.int64()), ("name", pa.string()), ("tier1_src", pa.string()),
    ("tier1_med", pa.string()), ("tier1_camp", pa.string()),
    ("tier1_content", pa.string()), ("tier2_src", pa.string()),
    ("tier2_med", pa.string()), ("tier2_camp", pa.string()),
    ("tier2_content", pa.string()), ("tier3_src", pa.string()),
    ("tier3_med", pa.string()), ("tier3_camp", pa.string()),
    ("session_number", pa.int64()), ("click", pa.bool_()), ("revenue", pa.float64()),
    ("transaction", pa.string()), ("currency", pa.string()),
    ("file", pa.int64()), ("row", pa.int64())])


def _leaf(table: pa.Table, *path: str) -> pa.Array:
    n = table.num_rows
    if path[0] not in table.column_names:
        return pa.nulls(n, pa.string())
    col: Any = table.column(path[0])
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    for part in path[1:]:
        if not pa.types.is_struct(col.type) or col.type.get_field_index(part) < 0:
            return pa.nulls(n, pa.string())
        col = pc.struct_field(col, part)
    return pc.cast(col, pa.string())


def _params(table: pa.Table) -> dict[str, pa.Array]:
    """Return the first value of each wanted key in ``event_params``, as text."""
    n = table.num_rows
    out = {k: pa.nulls(n, pa.string()) for k in _PARAMS}
    if "event_params" not in table.column_names:
        return out
    params = table.column("event_params").combine_chunks()
    if not (pa.types.is_list(params.type) or pa.types.is_large_list(params.type)):
        return out
    flat = pc.list_flatten(params)
    if not len(flat):
        return out
    parents = pc.list_parent_indices(params).to_numpy(zero_copy_only=False)
    keys = pc.struct_field(flat, "key")
    value = pc.struct_field(flat, "value")
    slots = [pc.cast(pc.struct_field(value, s), pa.string())
             for s in _VALUE_SLOTS if value.type.get_field_index(s) >= 0]
    values = pc.coalesce(*slots) if slots else pa.nulls(len(flat), pa.string())
    positions = np.arange(len(flat))
    for key in _PARAMS:
        hit = pc.fill_null(pc.equal(keys, key), False).to_numpy(zero_copy_only=False)
        hit &= values.is_valid().to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        idx = np.full(n, -1, dtype=np.int64)
        # reversed so that the first occurrence in an event wins
        idx[parents[hit][::-1]] = positions[hit][::-1]
        out[key] = values.take(pa.array(idx, mask=idx < 0))
    return out


def _clean(col: pa.Array) -> pa.Array:
    """Trimmed text, with GA4's placeholders such as ``(not set)`` as null."""
    s = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    unset = pc.is_in(pc.utf8_lower(s), pa.array(_NOT_SET))
    return pc.if_else(unset, pa.scalar(None, pa.string()), s)


def _slim(table: pa.Table, path: Path, file_index: int,
          bad: list[tuple[int, str, str]], offset: int
          ) -> tuple[pa.Table, pa.Table]:
    """Reduce events to the fields sessions need; reject unusable events."""
    n = table.num_rows
    rows = np.arange(offset + 1, offset + n + 1, dtype=np.int64)
    if bad:  # records that were not JSON keep their numbers (whole-file reads)
        bad_rows = np.asarray([b[0] for b in bad])
        rows = np.setdiff1d(np.arange(1, n + len(bad) + 1), bad_rows)[:n]
    p = _params(table)
    user = pc.coalesce(_clean(_leaf(table, "user_pseudo_id")),
                       _clean(_leaf(table, "client_id")))
    session = pc.coalesce(_clean(p["ga_session_id"]),
                          _clean(_leaf(table, "ga_session_id")))
    ts_text = pc.utf8_trim_whitespace(pc.fill_null(_leaf(table, "event_timestamp"),
                                                   ""))
    ts_ok = pc.match_substring_regex(ts_text, r"^\d{10,17}$").to_numpy(
        zero_copy_only=False)
    us = pc.cast(pc.if_else(pa.array(ts_ok), ts_text, "0"), pa.int64()).to_numpy(
        zero_copy_only=False)
    checks = [
        (user.is_null().to_numpy(zero_copy_only=False),
         "no user_pseudo_id (a cookieless ping cannot be tied to a user)"),
        (session.is_null().to_numpy(zero_copy_only=False),
         "no ga_session_id in event_params (the event has no session)"),
        (~ts_ok, "event_timestamp is not microseconds since the epoch"),
    ]
    reject = np.zeros(n, dtype=bool)
    reasons = np.full(n, "", dtype=object)
    for mask, message in checks:
        reasons[mask] = np.where(reasons[mask] == "", message,
                                 reasons[mask] + "; " + message)
        reject |= mask
    location = pc.fill_null(p["page_location"], "")
    click = (pc.match_substring_regex(location, _CLICK_IDS).to_numpy(
        zero_copy_only=False)
             | _clean(p["gclid"]).is_valid().to_numpy(zero_copy_only=False)
             | _clean(_leaf(table, "collected_traffic_source", "gclid")).is_valid()
             .to_numpy(zero_copy_only=False))
    revenue = pc.coalesce(_leaf(table, "ecommerce", "purchase_revenue"), p["value"])
    revenue_text = pc.fill_null(pc.utf8_trim_whitespace(revenue), "")
    numeric = pc.match_substring_regex(revenue_text, r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
    revenue_f = pc.cast(pc.if_else(numeric, revenue_text, "0"), pa.float64())
    number = pc.utf8_trim_whitespace(pc.fill_null(p["ga_session_number"], ""))
    session_number = pc.cast(pc.if_else(pc.match_substring_regex(number, r"^\d+$"),
                                        number, "-1"), pa.int64())
    slim = pa.table({
        "user": user, "user_id": _clean(_leaf(table, "user_id")), "session": session,
        "us": pa.array(us), "name": _leaf(table, "event_name"),
        "tier1_src": _clean(p["source"]), "tier1_med": _clean(p["medium"]),
        "tier1_camp": _clean(p["campaign"]), "tier1_content": _clean(p["content"]),
        "tier2_src": _clean(_leaf(table, "collected_traffic_source", "manual_source")),
        "tier2_med": _clean(_leaf(table, "collected_traffic_source", "manual_medium")),
        "tier2_camp": _clean(_leaf(table, "collected_traffic_source",
                                   "manual_campaign_name")),
        "tier2_content": _clean(_leaf(table, "collected_traffic_source",
                                      "manual_content")),
        "tier3_src": _clean(_leaf(table, "traffic_source", "source")),
        "tier3_med": _clean(_leaf(table, "traffic_source", "medium")),
        "tier3_camp": _clean(_leaf(table, "traffic_source", "name")),
        "session_number": session_number, "click": pa.array(click),
        "revenue": revenue_f,
        "transaction": _clean(pc.coalesce(_leaf(table, "ecommerce", "transaction_id"),
                                          p["transaction_id"])),
        "currency": _clean(p["currency"]),
        "file": pa.array(np.full(n, file_index, dtype=np.int64)),
        "row": pa.array(rows),
    }, schema=_SLIM_SCHEMA)
    name = path.name
    raw_rows = table.filter(pa.array(reject)).to_pylist() if reject.any() else []
    entries = [(int(r), json.dumps(_compact(raw), ensure_ascii=False, default=str), why)
               for r, raw, why in zip(rows[reject], raw_rows, reasons[reject],
                                      strict=True)]
    entries += [(r, json.dumps(t, ensure_ascii=False), why) for r, t, why in bad]
    entries.sort(key=lambda e: e[0])
    rej = pa.Table.from_arrays(
        [pa.array([SOURCE] * len(entries), pa.string()),
         pa.array([f"{name}:{r}" for r, _, _ in entries], pa.string()),
         pa.array([raw for _, raw, _ in entries], pa.string()),
         pa.array([why for _, _, why in entries], pa.string())], schema=REJECT_SCHEMA)
    return slim.filter(pa.array(~reject)), rej


def _compact(row: dict[str, Any]) -> dict[str, Any]:
    """Return an event without its null fields, params as key: value (rejects)."""
    out = {k: v for k, v in row.items() if v is not None and k != "event_params"}
    params = {}
    for item in row.get("event_params") or []:
        value = item.get("value") or {}
        params[item.get("key")] = next((v for v in value.values() if v is not None),
                                       None)
    if params:
        out["event_params"] = params
    return out


def _count_by_file(rej: pa.Table, files: list[Path]) -> np.ndarray:
    counts = np.zeros(len(files), dtype=np.int64)
    if not rej.num_rows:
        return counts
    names = [f.name for f in files]
    refs = pc.replace_substring_regex(rej.column("source_ref"), r":\d+$", "")
    for i, name in enumerate(names):
        counts[i] = int(pc.sum(pc.equal(refs, name)).as_py() or 0)
    return counts


def _dedupe_transactions(ev: pa.Table, key_events: Sequence[str]
                         ) -> tuple[pa.Table, np.ndarray]:
    """Drop key events repeating a user's ``transaction_id``; return their files."""
    is_key = pc.is_in(ev.column("name"), pa.array(list(key_events), pa.string()))
    has_tx = pc.and_(is_key, ev.column("transaction").is_valid())
    if not pc.any(has_tx).as_py():
        return ev, np.zeros(0, dtype=np.int64)
    pos = np.arange(ev.num_rows)
    keyed = ev.select(["user", "transaction", "us", "file", "row"]).append_column(
        "pos", pa.array(pos)).filter(has_tx)
    order = pc.sort_indices(keyed, [("user", "ascending"), ("transaction", "ascending"),
                                    ("us", "ascending"), ("file", "ascending"),
                                    ("row", "ascending")])
    keyed = keyed.take(order)
    firsts = keyed.group_by(["user", "transaction"], use_threads=False).aggregate(
        [("pos", "first")])
    dup_pos = np.setdiff1d(keyed.column("pos").to_numpy(),
                           firsts.column("pos_first").to_numpy())
    keep = np.ones(ev.num_rows, dtype=bool)
    keep[dup_pos] = False
    files = ev.column("file").to_numpy()[dup_pos]
    return ev.filter(pa.array(keep)), files


# ----------------------------------------------------------------------- sessions
def _sessions(ev: pa.Table, files: list[Path], key_events: set[str],
              lead_events: set[str], id_map: str | os.PathLike[str] | None,
              mapping: ChannelMapping | None, unmapped: dict[str, int]
              ) -> tuple[pa.Table, pa.Table, pa.Table]:
    order = pc.sort_indices(ev, [("user", "ascending"), ("session", "ascending"),
                                 ("us", "ascending"), ("file", "ascending"),
                                 ("row", "ascending")])
    ev = ev.take(order)
    name = ev.column("name")
    is_lead = pc.is_in(name, pa.array(sorted(lead_events), pa.string()))
    is_key = pc.is_in(name, pa.array(sorted(key_events), pa.string()))
    ev = ev.append_column("is_lead", is_lead).append_column("is_key", is_key)
    ev = ev.append_column("lead_us", pc.if_else(is_lead, ev.column("us"),
                                                pa.scalar(None, pa.int64())))
    ev = ev.append_column("key_us", pc.if_else(is_key, ev.column("us"),
                                               pa.scalar(None, pa.int64())))
    ev = ev.append_column("key_rev", pc.if_else(is_key, ev.column("revenue"), 0.0))
    ev = ev.append_column("key_cur", pc.if_else(is_key, ev.column("currency"),
                                                pa.scalar(None, pa.string())))
    tiers = [f"tier{t}_{k}" for t in (1, 2) for k in ("src", "med", "camp", "content")]
    tiers += ["tier3_src", "tier3_med", "tier3_camp"]
    aggs = [("us", "min"), ("is_lead", "max"), ("click", "max"),
            ("session_number", "max"), ("file", "first"), ("row", "first")]
    aggs += [(c, "first") for c in tiers]
    s = ev.group_by(["user", "session"], use_threads=False).aggregate(aggs)
    s = s.take(pc.sort_indices(s, [("user", "ascending"), ("us_min", "ascending"),
                                   ("session", "ascending")]))
    n = s.num_rows
    # the user's first session in the data may use traffic_source (first-user source)
    user_codes = pc.dictionary_encode(s.column("user")).combine_chunks().indices
    codes = user_codes.to_numpy(zero_copy_only=False)
    first_of_user = np.ones(n, dtype=bool)
    first_of_user[1:] = codes[1:] != codes[:-1]
    number = s.column("session_number_max").to_numpy(zero_copy_only=False)
    first_session = np.where(number >= 1, number == 1, first_of_user)

    def col(name: str) -> pa.ChunkedArray:
        return s.column(f"{name}_first")

    tier1 = pc.or_(col("tier1_src").is_valid(), col("tier1_med").is_valid())
    tier2 = pc.and_(pc.invert(tier1), pc.or_(col("tier2_src").is_valid(),
                                              col("tier2_med").is_valid()))
    tier3 = pc.and_(pc.and_(pc.invert(tier1), pc.invert(tier2)),
                    pa.array(first_session))

    def pick(a: str, b: str, c: str | None) -> pa.Array:
        third = col(c) if c else pa.nulls(n, pa.string())
        return pc.if_else(tier1, col(a), pc.if_else(tier2, col(b), pc.if_else(
            tier3, third, pa.scalar(None, pa.string()))))

    src = pick("tier1_src", "tier2_src", "tier3_src")
    med = pick("tier1_med", "tier2_med", "tier3_med")
    camp = pick("tier1_camp", "tier2_camp", "tier3_camp")
    content = pick("tier1_content", "tier2_content", None)
    click = s.column("click_max")
    src = pc.if_else(pc.and_(click, src.is_null()), "google", src)
    med = pc.if_else(click, "cpc", med)
    src = pc.fill_null(src, "(direct)")
    med = pc.fill_null(med, "(none)")
    channel = web_channels(src, med, camp, click, mapping=mapping, unmapped=unmapped)
    journey = pc.binary_join_element_wise(WEB_PREFIX, s.column("user"), "")
    refs = pc.binary_join_element_wise(
        pa.array([files[i].name for i in s.column("file_first").to_numpy()],
                 pa.string()) if n else pa.array([], pa.string()),
        pc.cast(s.column("row_first"), pa.string()), ":")
    touches = pa.table({
        "journey_id": journey,
        "ts": pc.cast(s.column("us_min"), _TS),
        "seq": pa.array(np.arange(n, dtype=np.int64)),
        "person_id": s.column("user"),
        "channel": channel, "campaign": camp, "content": content,
        "interaction": pc.if_else(s.column("is_lead_max"), "form_fill", "web_visit"),
        "source": pa.array([SOURCE] * n, pa.string()),
        "source_ref": refs,
    }).cast(TOUCH_MEMORY_SCHEMA)

    u = ev.group_by(["user"], use_threads=False).aggregate(
        [("lead_us", "min"), ("key_us", "min"), ("key_rev", "sum"),
         ("key_cur", "first"), ("user_id", "first")])
    u = u.take(pc.sort_indices(u, [("user", "ascending")]))
    m = u.num_rows
    won = u.column("key_us_min").is_valid()
    journeys = pa.table({
        "journey_id": pc.binary_join_element_wise(WEB_PREFIX, u.column("user"), ""),
        "account_id": pa.nulls(m, pa.string()),
        "lead_created_at": pc.cast(u.column("lead_us_min"), _TS),
        "opportunity_created_at": pa.nulls(m, _TS),
        "closed_at": pc.cast(u.column("key_us_min"), _TS),
        "won": won,
        "pipeline_amount": pa.array(np.zeros(m)),
        "revenue_amount": pc.if_else(won, u.column("key_rev_sum"), 0.0),
        "currency": u.column("key_cur_first"),
        "weight": pa.array(np.ones(m, dtype=np.int64)),
    }).cast(JOURNEY_SCHEMA)
    identities = _identities(u, id_map)
    return touches, journeys, identities


def web_channels(source: pa.Array, medium: pa.Array, campaign: pa.Array,
                 click: pa.Array, *, mapping: ChannelMapping | None = None,
                 unmapped: dict[str, int] | None = None) -> pa.Array:
    """Return each session's channel from source, medium and campaign.

    The channel grouping of :func:`connectors.channels.assign_channels` (with the
    analyst's mapping file when given) names the channel; a Google click id makes
    the session Paid Search whatever the grouping says.

    Parameters
    ----------
    source, medium, campaign : pyarrow.Array
        The session's traffic source.
    click : pyarrow.Array
        Whether the session carries a Google click id.
    mapping : ChannelMapping, optional
        The analyst's channel rules.
    unmapped : dict, optional
        Sessions left ``Unassigned`` are counted here by ``"source / medium"``.

    Returns
    -------
    pyarrow.Array
        One channel per session, never null.
    """
    channel = assign_channels({"source": source, "medium": medium,
                               "campaign": campaign}, mapping, unmapped=unmapped)
    return pc.if_else(click, "Paid Search", channel)


# ----------------------------------------------------------------------- identity
def read_id_map(path: str | os.PathLike[str]) -> pa.Table:
    """Read an id map: web id (``user_pseudo_id`` or ``user_id``) -> CRM person id.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV with a header; the first column holds web ids, the second the Contact
        or Lead ids.

    Returns
    -------
    pyarrow.Table
        ``web_id``, ``person_id`` (rows with an empty cell are dropped).

    Raises
    ------
    SchemaError
        When the file has fewer than two columns.
    """
    table = read_csv_strings(path, expected=("userpseudoid", "userid", "contactid"))
    if table.table.num_columns < 2:
        raise SchemaError(f"{path}: an id map needs two columns, a web id "
                          "(user_pseudo_id or user_id) and a contact or lead id "
                          "(found: "
                          f"{', '.join(table.table.column_names)})")
    n = table.table.num_rows
    out = pa.table({"web_id": text(table.table.column(0), n),
                    "person_id": text(table.table.column(1), n)})
    return out.filter(pc.and_(out.column("web_id").is_valid(),
                              out.column("person_id").is_valid()))


def _identities(users: pa.Table, id_map: str | os.PathLike[str] | None) -> pa.Table:
    journey = pc.binary_join_element_wise(WEB_PREFIX, users.column("user"), "")
    base = pa.table({"journey_id": journey, "user": users.column("user"),
                     "user_id": users.column("user_id_first")})
    parts = []
    if id_map is not None:
        ids = read_id_map(id_map)
        for priority, key in ((0, "user"), (1, "user_id")):
            hit = base.join(ids, keys=key, right_keys="web_id", join_type="inner",
                            use_threads=False)
            parts.append(pa.table({
                "journey_id": hit.column("journey_id"),
                "person_id": hit.column("person_id"),
                "priority": pa.array(np.full(hit.num_rows, priority, np.int64))}))
    with_uid = base.filter(base.column("user_id").is_valid())
    parts.append(pa.table({
        "journey_id": with_uid.column("journey_id"),
        "person_id": with_uid.column("user_id"),
        "priority": pa.array(np.full(with_uid.num_rows, 2, np.int64))}))
    out = pa.concat_tables(parts)
    return out.take(pc.sort_indices(out, [("journey_id", "ascending"),
                                          ("priority", "ascending"),
                                          ("person_id", "ascending")]))
