"""The ``spend`` connector: ad spend and other costs into ``spend.parquet``.

One row per day, channel and campaign (DESIGN §2): ``date``, ``channel``,
``campaign``, ``cost``, ``cost_type`` (``media``, ``creative``, ``agency``, ``tools``,
``other``), ``currency``, ``source``, ``source_ref``. What a file holds is told by
its header, never by its name:

- touchline: ``date``, ``cost`` and optionally ``channel``, ``campaign``,
  ``cost_type``, ``currency``, or ``source``/``medium``/``campaign_type`` from
  which the channel grouping assigns the channel.
- Google Ads download: ``Day``, ``Campaign``, ``Cost``, optional ``Currency code``
  (channel Paid Search).
- LinkedIn Campaign Manager download: ``Start Date (in UTC)``, ``Campaign Name``,
  ``Total Spent``, optional ``Currency`` (Paid Social).
- Meta Ads Manager download: ``Day`` or ``Reporting starts``, ``Campaign name``,
  ``Amount spent (USD)``, the currency in the header (Paid Social).
- Google Ads through Fivetran: ``campaign_stats`` (``date``, ``id``,
  ``cost_micros`` / 1e6), names from ``campaign_history``, currency from
  ``account_history`` (Paid Search).
- LinkedIn Ads through Fivetran: ``ad_analytics_by_campaign`` (``day``,
  ``campaign_id``, ``cost_in_local_currency`` with the account's currency, else
  ``cost_in_usd``), names from ``campaign_history`` (Paid Social).
- Meta Ads through Fivetran: ``basic_ad`` (``date``, ``ad_id``, ``spend``), the
  campaign through ``ad_history`` and ``campaign_history`` (Paid Social).

Platform rows go through the channel grouping as ``source``/``medium`` pairs
(``google``/``cpc``, ``linkedin``/``cpc``, ``facebook``/``paid``) with the campaign
name, so the defaults give the channels above and a channel-mapping rule (say
``campaign = ^brand-`` -> ``Brand Search``) changes spend and touches alike. Their
``cost_type`` is ``media``.

A folder is read as a whole: every spend export in it, and for warehouse-sync
tables one stats table per platform (campaign grain first: ``campaign_stats`` over
``ad_group_stats``, ``ad_stats`` or ``account_stats``, which hold the same money at
another grain and are listed as skipped) with its lookup tables. A single
warehouse-sync stats file finds its lookup tables beside it.

Hand-downloaded exports carry dirt, which is read or rejected, never guessed:
title rows above the header (skipped and kept in the manifest as
``lines_above_header``), ``Total:`` footer rows (rejected as totals), UTF-16
tab-separated files, byte-order marks, thousands separators and currency symbols in
amounts (``$1,234.50``), and dates as ISO ``2026-01-31``, ``MM/DD/YYYY`` or Excel
serial day numbers. Day-first dates (``31/01/2026``), negative costs, rows with no
campaign in a platform export (a summary row) and rows covering more than one day
are rejected with their reason.

Salesforce ``Campaign.ActualCost`` becomes ``other`` cost through
:func:`campaign_costs`, spread evenly over the campaign's ``StartDate`` to
``EndDate``: it never counts as ``media``, so it never double-counts what the ad
platforms report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from attribution.exceptions import SchemaError
from attribution.store import REJECT_SCHEMA, SPEND_SCHEMA

from ._stream import Input, NotUtf8, iter_batches, open_input, wrong_delimiter_hint
from ._values import Rejects, canonical, parse_amounts, parse_timestamps
from .channels import ChannelMapping, assign_channels, load_channel_mapping

__all__ = [
    "COST_TYPES",
    "SpendResult",
    "campaign_costs",
    "convert_currencies",
    "load_fx_rates",
    "read_spend",
]

SOURCE = "spend"

#: The allowed ``cost_type`` values; ``media`` is what ROAS divides by.
COST_TYPES = ("media", "creative", "agency", "tools", "other")

_US_PER_DAY = 86_400_000_000
_DATE_HINT = "(expected ISO 2026-01-31, MM/DD/YYYY or an Excel serial day number)"
_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson", ".json"}
_PLATFORM = {  # export -> (source, medium) given to the channel grouping
    "google_ads": ("google", "cpc"),
    "linkedin": ("linkedin", "cpc"),
    "meta": ("facebook", "paid"),
}


# ----------------------------------------------------------------------------- kinds
def classify(names: set[str]) -> str | None:
    """Return the kind of table a header (canonical names) belongs to, or None.

    Spend tables: ``touchline``, ``google_ads``, ``linkedin``, ``meta`` (downloads),
    ``google_ads:campaign_stats`` (also ``ad_group_stats``, ``ad_stats``,
    ``account_stats``), ``linkedin:analytics_by_campaign`` (``..._by_creative``),
    ``meta:basic_ad``. Lookup tables: ``google_ads:campaign_history``,
    ``google_ads:account_history``, ``linkedin:campaign_history``,
    ``linkedin:account_history``, ``linkedin:creative_history``,
    ``meta:ad_history``, ``meta:campaign_history``, ``meta:account_history``.
    """
    has = names.__contains__
    if has("costmicros") and has("date"):
        if has("adid"):
            return "google_ads:ad_stats"
        if has("baseadgroup") or has("adgroupid"):
            return "google_ads:ad_group_stats"
        if has("basecampaign") or has("campaignid") or has("id"):
            return "google_ads:campaign_stats"
        return "google_ads:account_stats"
    if has("day") and (has("costinusd") or has("costinlocalcurrency")):
        if has("campaignid"):
            return "linkedin:analytics_by_campaign"
        if has("creativeid"):
            return "linkedin:analytics_by_creative"
    if has("adid") and has("date") and has("spend"):
        return "meta:basic_ad"
    if has("startdateinutc") and has("campaignname") and has("totalspent"):
        return "linkedin"
    if ((has("day") or has("reportingstarts")) and has("campaignname")
            and any(n.startswith("amountspent") for n in names)):
        return "meta"
    if has("day") and has("campaign") and has("cost"):
        return "google_ads"
    if has("date") and has("cost"):
        return "touchline"
    if has("id") and has("name") and has("advertisingchanneltype"):
        return "google_ads:campaign_history"
    if has("id") and has("currencycode"):
        return "google_ads:account_history"
    if has("id") and has("name") and has("campaigngroupid"):
        return "linkedin:campaign_history"
    if has("id") and has("currency") and has("lastmodifiedtime"):
        return "linkedin:account_history"
    if has("id") and has("campaignid") and (has("clickuri") or has("intendedstatus")):
        return "linkedin:creative_history"
    if has("id") and has("adsetid") and has("campaignid"):
        return "meta:ad_history"
    if (has("id") and has("name") and has("accountid") and has("updatedtime")
            and not has("campaignid")):
        return "meta:campaign_history"
    if has("id") and has("name") and has("fivetransynced") and not (
            has("accountid") or has("campaignid")):
        return "meta:account_history"
    return None


_STATS_ORDER = {  # platform -> stats kinds, preferred first
    "google_ads": ("google_ads:campaign_stats", "google_ads:ad_group_stats",
                   "google_ads:ad_stats", "google_ads:account_stats"),
    "linkedin": ("linkedin:analytics_by_campaign", "linkedin:analytics_by_creative"),
    "meta": ("meta:basic_ad",),
}
_DOWNLOADS = ("touchline", "google_ads", "linkedin", "meta")


def _is_spend(kind: str | None) -> bool:
    return kind is not None and (kind in _DOWNLOADS or kind.endswith(
        ("_stats", "basic_ad")) or ":analytics" in kind)


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True)
class SpendResult:
    """What :func:`read_spend` returns.

    Attributes
    ----------
    spend : pyarrow.Table
        In :data:`attribution.store.SPEND_SCHEMA`, in file order.
    rejects : pyarrow.Table
        In :data:`attribution.store.REJECT_SCHEMA`.
    inputs : list of dict
        One manifest entry per file read: ``path``, ``source``, ``role``
        (``spend`` or ``lookup``), ``export``, ``rows_read``, ``rows_used``,
        ``rows_looked_up``, ``rows_duplicate``, ``rows_rejected``, the currency the
        file names (None when it names none) and how it was read.
    unmapped : dict of str to int
        Spend rows the channel grouping left ``"Unassigned"``, by source / medium.
    touches, journeys : pyarrow.Table
        Empty: spend has no touches (for :func:`connectors.ingest`).
    """

    spend: pa.Table
    rejects: pa.Table
    inputs: list[dict[str, Any]]
    unmapped: dict[str, int] = field(default_factory=dict)

    @property
    def touches(self) -> pa.Table:
        """No touches: an empty table in the store schema."""
        from attribution.store import TOUCH_SCHEMA

        return TOUCH_SCHEMA.empty_table()

    @property
    def journeys(self) -> pa.Table:
        """No journeys: an empty table in the store schema."""
        from attribution.store import JOURNEY_SCHEMA

        return JOURNEY_SCHEMA.empty_table()


@dataclass
class _File:
    """A file of a spend input: its kind, its rows (text) and its bookkeeping."""

    inp: Input
    kind: str
    table: pa.Table
    rows: np.ndarray
    rejects: Rejects
    read: int = 0

    @property
    def name(self) -> str:
        return self.inp.name

    def col(self, key: str) -> pa.ChunkedArray | None:
        name = self.inp.columns().get(key)
        return None if name is None else self.table.column(name)

    def col_starting(self, prefix: str) -> tuple[str, pa.ChunkedArray] | None:
        for key, name in self.inp.columns().items():
            if key.startswith(prefix):
                return name, self.table.column(name)
        return None


def read_spend(
    path: str | os.PathLike[str],
    *,
    channel_map: ChannelMapping | str | os.PathLike[str] | None = None,
    cost_type: str | None = None,
    delimiter: str | None = None,
) -> SpendResult:
    r"""Read ad spend and other costs: one export, or a folder of them.

    Every spend row is used (a row of ``spend``) or rejected with its reason: a
    date that is empty or not a date, a cost that is empty, not an amount or
    negative, a ``cost_type`` outside :data:`COST_TYPES`, a ``Total`` footer, a
    platform row with no campaign (a summary row) or covering several days, a row
    with the wrong number of fields. Rows of lookup tables (campaign names,
    account currencies) count as looked up. Blank rows are skipped and not counted.

    Parameters
    ----------
    path : str or os.PathLike
        A file (CSV or other delimited text in UTF-8, UTF-8 with BOM, UTF-16 or
        Latin-1; Parquet; JSON lines) or a folder of them. See the module docstring
        for the exports recognised.
    channel_map : ChannelMapping or path, optional
        The analyst's channel rules (see :func:`connectors.load_channel_mapping`).
    cost_type : str, optional
        The cost type of rows of touchline-format files that have no ``cost_type``
        column (default ``media``), e.g. ``"agency"`` for a file of agency fees.
    delimiter : str, optional
        Forces the delimiter of text files.

    Returns
    -------
    SpendResult

    Raises
    ------
    SchemaError
        When the path is missing or holds no spend export, a file is empty or
        unreadable, or a file's header matches no known export (the message lists
        the columns found and those expected).

    See Also
    --------
    campaign_costs : Salesforce ``Campaign.ActualCost`` as ``other`` cost.
    connectors.ingest : Write inputs, merged, as a journey store.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "google_ads.csv"
    >>> _ = f.write_text("Campaign report\n\"January 1, 2026 - January 2, 2026\"\n"
    ...                  "Day,Campaign,Currency code,Cost\n"
    ...                  "2026-01-01,Brand,USD,\"1,234.50\"\n"
    ...                  "Total: Account,,USD,\"1,234.50\"\n")
    >>> result = read_spend(f)
    >>> result.spend.select(["date", "campaign", "cost"]).to_pylist()[0]
    {'date': datetime.date(2026, 1, 1), 'campaign': 'Brand', 'cost': 1234.5}
    >>> result.spend.column("channel").to_pylist()
    ['Paid Search']
    >>> result.rejects.column("reason").to_pylist()
    ['a total row of the export, not spend']
    """
    path = Path(path)
    mapping = load_channel_mapping(channel_map) if channel_map is not None else None
    if cost_type is not None and cost_type not in COST_TYPES:
        raise SchemaError(f"cost_type must be one of {', '.join(COST_TYPES)}; got "
                          f"{cost_type!r}")
    files, skipped = _gather(path, delimiter)
    unmapped: dict[str, int] = {}
    spend_parts: list[pa.Table] = []
    lookups = {f.kind: f for f in files if not _is_spend(f.kind)}
    for f in files:
        if _is_spend(f.kind):
            spend_parts.append(_spend_rows(f, lookups, mapping, unmapped,
                                           cost_type or "media"))
    entries = []
    for f in files:
        role = "spend" if _is_spend(f.kind) else "lookup"
        rejected = len(f.rejects)
        entry: dict[str, Any] = {
            "path": str(f.inp.path), "source": SOURCE, "role": role,
            "export": f.kind, "rows_read": f.read,
            "rows_used": f.read - rejected if role == "spend" else 0,
            "rows_looked_up": f.read - rejected if role == "lookup" else 0,
            "rows_duplicate": 0, "rows_rejected": rejected,
            **f.inp.describe(),
        }
        if f.inp.preamble:
            entry["title_lines"] = f.inp.preamble[:5]
        entries.append(entry)
    if skipped and entries:
        first_spend = next(e for e in entries if e["role"] == "spend")
        first_spend["skipped_files"] = skipped
    spend = (pa.concat_tables(spend_parts) if spend_parts
             else SPEND_SCHEMA.empty_table())
    rejects = (pa.concat_tables([f.rejects.table() for f in files]) if files else
               REJECT_SCHEMA.empty_table())
    return SpendResult(spend=spend, rejects=rejects, inputs=entries,
                       unmapped=dict(sorted(unmapped.items())))


# ----------------------------------------------------------------------------- files
def _gather(path: Path, delimiter: str | None) -> tuple[list[_File], dict[str, str]]:
    """Return the files to read (spend tables and their lookups), and skipped ones."""
    if path.is_dir():
        candidates = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in _SUFFIXES)
        if not candidates:
            raise SchemaError(f"{path}: folder holds no .csv, .tsv, .txt, .parquet or "
                              ".jsonl files")
        opened, skipped = [], {}
        for p in candidates:
            try:
                inp = _open(p, delimiter)
            except SchemaError as exc:
                skipped[p.name] = f"not read: {str(exc).removeprefix(str(p) + ': ')}"
                continue
            kind = classify(set(inp.columns()))
            if kind is None:
                skipped[p.name] = "not a spend export or lookup table"
                continue
            opened.append((inp, kind))
        if not any(_is_spend(k) for _, k in opened):
            raise SchemaError(f"{path}: no spend export found among "
                              f"{', '.join(p.name for p in candidates)}; expected "
                              f"{_EXPECTED}")
    else:
        inp = _open(path, delimiter)
        kind = classify(set(inp.columns()))
        if kind is None or not _is_spend(kind):
            raise SchemaError(
                f"{path}: not a spend export (found: {', '.join(inp.header)})"
                f"{wrong_delimiter_hint(inp)}; expected {_EXPECTED}")
        opened, skipped = [(inp, kind)], {}
        if ":" in kind:  # a warehouse-sync stats table: its lookups are siblings
            for p in sorted(path.parent.iterdir()):
                if p == path or not p.is_file() or p.suffix.lower() not in _SUFFIXES:
                    continue
                try:
                    sib = _open(p, delimiter)
                except SchemaError:
                    continue
                sib_kind = classify(set(sib.columns()))
                if sib_kind and not _is_spend(sib_kind) and sib_kind.split(":")[0] \
                        == kind.split(":")[0]:
                    opened.append((sib, sib_kind))
    opened, more = _choose_stats(opened)
    skipped.update(more)
    needed = _needed_lookups({k for _, k in opened if _is_spend(k)})
    files = []
    for inp, kind in opened:
        if not _is_spend(kind) and kind not in needed:
            skipped[inp.name] = f"{kind} is not needed by the spend tables read"
            continue
        files.append(_load(inp, kind, delimiter))
    return files, skipped


_EXPECTED = ("touchline columns (date, cost[, channel, campaign, cost_type, "
             "currency]), a Google Ads download (Day, Campaign, Cost), a LinkedIn "
             "Campaign Manager download (Start Date (in UTC), Campaign Name, Total "
             "Spent), a Meta Ads Manager download (Day, Campaign name, Amount spent "
             "(USD)) or a Fivetran table (campaign_stats, ad_analytics_by_campaign, "
             "basic_ad)")


def _open(path: Path, delimiter: str | None) -> Input:
    return open_input(path, accept=lambda names: classify(names) is not None,
                      delimiter=delimiter)


def _choose_stats(opened: list[tuple[Input, str]]
                  ) -> tuple[list[tuple[Input, str]], dict[str, str]]:
    """Keep one warehouse-sync stats table per platform (the campaign grain first)."""
    skipped: dict[str, str] = {}
    keep = []
    chosen: dict[str, str] = {}
    for platform, order in _STATS_ORDER.items():
        kinds = {k for _, k in opened}
        for kind in order:
            if kind in kinds:
                chosen[platform] = kind
                break
    for inp, kind in opened:
        platform = kind.split(":")[0]
        if kind in sum(_STATS_ORDER.values(), ()) and chosen.get(platform) != kind:
            skipped[inp.name] = (f"{kind.split(':')[1]} holds the same spend at "
                                 f"another grain; {chosen[platform].split(':')[1]} "
                                 "was read")
            continue
        keep.append((inp, kind))
    return keep, skipped


def _needed_lookups(kinds: set[str]) -> set[str]:
    need = set()
    for kind in kinds:
        if kind.startswith("google_ads:"):
            need |= {"google_ads:campaign_history", "google_ads:account_history"}
        elif kind == "linkedin:analytics_by_campaign":
            need |= {"linkedin:campaign_history", "linkedin:account_history"}
        elif kind == "linkedin:analytics_by_creative":
            need |= {"linkedin:campaign_history", "linkedin:account_history",
                     "linkedin:creative_history"}
        elif kind == "meta:basic_ad":
            need |= {"meta:ad_history", "meta:campaign_history",
                     "meta:account_history"}
    return need


def _load(inp: Input, kind: str, delimiter: str | None) -> _File:
    """Read a whole (small) file as text columns with record numbers."""
    try:
        batches = list(iter_batches(inp, text_columns=inp.header))
    except NotUtf8:
        inp = _open(inp.path, delimiter)
        inp.encoding = "latin-1"
        batches = list(iter_batches(inp, text_columns=inp.header))
    if batches:
        table = pa.concat_tables([b.table for b in batches],
                                 promote_options="permissive")
        rows = np.concatenate([b.rows for b in batches])
    else:
        table = pa.table({h: pa.array([], pa.string()) for h in inp.header})
        rows = np.zeros(0, np.int64)
    f = _File(inp=inp, kind=kind, table=table, rows=rows,
              rejects=Rejects(SOURCE, inp.name))
    f.rejects.add_invalid(inp.invalid, len(inp.header))
    f.read = table.num_rows + len(inp.invalid)
    return f


# ----------------------------------------------------------------------------- values
def _text(col: pa.ChunkedArray | pa.Array | None, n: int) -> pa.Array:
    if col is None:
        return pa.nulls(n, pa.string())
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not pa.types.is_string(col.type):
        col = col.cast(pa.string())
    s = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)


def _amounts(col: pa.Array) -> Any:
    """:func:`parse_amounts`, also reading a trailing decimal point (``144.``)."""
    return parse_amounts(pc.replace_substring_regex(col, r"^([-+(]?[\d,]+)\.(\)?)$",
                                                    r"\1\2"))


def parse_dates(col: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray,
                                                           np.ndarray]:
    """Calendar dates (``date32``) with masks of empty and unreadable values.

    A date-time keeps its date (``2026-01-31 00:00:00`` is 2026-01-31); one with a
    zone keeps its UTC date.
    """
    parsed = parse_timestamps(_text(col, len(col)))
    days = np.floor_divide(parsed.us, _US_PER_DAY).astype(np.int32)
    dates = pa.array(days, pa.int32(), mask=~parsed.ok).cast(pa.date32())
    return dates, parsed.empty, parsed.bad


def _latest(table: pd.DataFrame | pa.Table, key: str, order: list[str]
            ) -> pd.DataFrame:
    """Return the latest version of each ``key`` of a history table."""
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    present = [c for c in order if c in frame.columns]
    if present:
        frame = frame.sort_values(present, kind="stable")
    return frame.drop_duplicates(key, keep="last").set_index(key)


def _history(f: _File | None, fields: dict[str, str]) -> pd.DataFrame | None:
    """Return a lookup table as a frame indexed by its ``id``."""
    if f is None:
        return None
    data = {}
    for out, key in fields.items():
        col = f.col(key)
        data[out] = (_text(col, f.table.num_rows).to_pylist() if col is not None
                     else [None] * f.table.num_rows)
    frame = pd.DataFrame(data)
    frame = frame[frame["id"].notna()]
    return _latest(frame, "id", [c for c in ("version",) if c in frame.columns])


def _lookup(keys: pa.Array, frame: pd.DataFrame | None, column: str) -> pa.Array:
    if frame is None or column not in frame.columns:
        return pa.nulls(len(keys), pa.string())
    series = frame[column]
    index = pa.array(series.index.tolist(), pa.string())
    values = pa.array(series.tolist(), pa.string())
    return values.take(pc.index_in(keys, value_set=index))


# ----------------------------------------------------------------------------- rows
def _spend_rows(f: _File, lookups: dict[str, _File], mapping: ChannelMapping | None,
                unmapped: dict[str, int], default_cost_type: str) -> pa.Table:
    n = f.table.num_rows
    kind = f.kind
    checks: list[tuple[np.ndarray, str]] = []
    currency = pa.nulls(n, pa.string())
    campaign = pa.nulls(n, pa.string())
    cost_type = pa.repeat(pa.scalar("media", pa.string()), n)
    grouping: dict[str, pa.Array] = {}
    platform = kind.split(":")[0]
    date_label = "date"
    if kind == "touchline":
        date_col, cost_col, cost_label = f.col("date"), f.col("cost"), "cost"
        campaign = _text(f.col("campaign"), n)
        currency = pc.utf8_upper(_text(f.col("currency"), n))
        if f.col("costtype") is not None:
            ct = pc.utf8_lower(_text(f.col("costtype"), n))
            ct = pc.fill_null(ct, default_cost_type)
            bad_ct = pc.invert(pc.is_in(ct, value_set=pa.array(COST_TYPES))
                               ).to_numpy(zero_copy_only=False)
            checks.append((bad_ct, f"cost_type is not one of {', '.join(COST_TYPES)}"))
            cost_type = ct
        else:
            cost_type = pa.repeat(pa.scalar(default_cost_type, pa.string()), n)
        for key, out in (("channel", "channel"), ("source", "source"),
                         ("medium", "medium"), ("campaigntype", "campaign_type")):
            if f.col(key) is not None:
                grouping[out] = _text(f.col(key), n)
    elif kind == "google_ads":
        date_col, cost_col, cost_label = f.col("day"), f.col("cost"), "Cost"
        date_label = "Day"
        campaign = _text(f.col("campaign"), n)
        currency = pc.utf8_upper(_text(f.col("currencycode"), n))
    elif kind == "linkedin":
        date_col, cost_col = f.col("startdateinutc"), f.col("totalspent")
        cost_label, date_label = "Total Spent", "Start Date (in UTC)"
        campaign = _text(f.col("campaignname"), n)
        currency = pc.utf8_upper(_text(f.col("currency"), n))
    elif kind == "meta":
        name, cost_col = f.col_starting("amountspent")  # type: ignore[misc]
        cost_label = name
        code = name[name.find("(") + 1: name.find(")")].strip().upper() if "(" in name \
            else ""
        currency = (pa.repeat(pa.scalar(code, pa.string()), n) if code else
                    pa.nulls(n, pa.string()))
        campaign = _text(f.col("campaignname"), n)
        if f.col("day") is not None:
            date_col, date_label = f.col("day"), "Day"
        else:
            date_col, date_label = f.col("reportingstarts"), "Reporting starts"
            ends = f.col("reportingends")
            if ends is not None:
                start_d, _, _ = parse_dates(date_col)
                end_d, _, _ = parse_dates(ends)
                longer = pc.fill_null(pc.not_equal(start_d, end_d), False).to_numpy(
                    zero_copy_only=False)
                checks.append((longer, "the row covers several days (Reporting starts "
                                       "to Reporting ends); export with the Day "
                                       "breakdown"))
    elif kind.startswith("google_ads:"):
        date_col, cost_label = f.col("date"), "cost_micros"
        micros = _amounts(_text(f.col("costmicros"), n))
        cost_col = None
        cost = (micros.values / 1e6, micros.ok, micros.empty, micros.bad)  # noqa: PD011
        camp_id = _text(f.col("id") if kind == "google_ads:campaign_stats"
                        and f.col("campaignid") is None else f.col("campaignid"), n)
        history = _history(lookups.get("google_ads:campaign_history"),
                           {"id": "id", "name": "name", "version": "updatedat"})
        if kind != "google_ads:account_stats":
            names = _lookup(camp_id, history, "name")
            campaign = pc.coalesce(names, camp_id)
        accounts = _history(lookups.get("google_ads:account_history"),
                            {"id": "id", "currency": "currencycode",
                             "version": "updatedat"})
        currency = pc.utf8_upper(_lookup(_text(f.col("customerid"), n), accounts,
                                         "currency"))
    elif kind.startswith("linkedin:"):
        date_col = f.col("day")
        if kind == "linkedin:analytics_by_creative":
            creatives = _history(lookups.get("linkedin:creative_history"),
                                 {"id": "id", "campaign_id": "campaignid",
                                  "version": "lastmodifiedat"})
            camp_id = _lookup(_text(f.col("creativeid"), n), creatives, "campaign_id")
        else:
            camp_id = _text(f.col("campaignid"), n)
        campaigns = _history(lookups.get("linkedin:campaign_history"),
                             {"id": "id", "name": "name", "account_id": "accountid",
                              "version": "lastmodifiedtime"})
        accounts = _history(lookups.get("linkedin:account_history"),
                            {"id": "id", "currency": "currency",
                             "version": "lastmodifiedtime"})
        campaign = pc.coalesce(_lookup(camp_id, campaigns, "name"), camp_id)
        account_currency = pc.utf8_upper(_lookup(
            _lookup(camp_id, campaigns, "account_id"), accounts, "currency"))
        local = _amounts(_text(f.col("costinlocalcurrency"), n))
        usd = _amounts(_text(f.col("costinusd"), n))
        known = account_currency.is_valid().to_numpy(zero_copy_only=False)
        use_local = known & local.ok
        zero_local = local.ok & (local.values == 0)  # noqa: PD011
        use_usd = ~use_local & (usd.ok | (usd.empty & zero_local))
        values = np.where(use_local, local.values, np.where(usd.ok, usd.values, 0.0))
        ok = use_local | use_usd
        currency = pc.if_else(pa.array(use_local), account_currency,
                              pa.scalar("USD", pa.string()))
        cost_label, cost_col = "cost_in_usd / cost_in_local_currency", None
        cost = (values, ok, ~ok & usd.empty & local.empty, ~ok & ~(usd.empty
                                                                   & local.empty))
    else:  # meta:basic_ad
        date_col, cost_col, cost_label = f.col("date"), f.col("spend"), "spend"
        ads = _history(lookups.get("meta:ad_history"),
                       {"id": "id", "campaign_id": "campaignid",
                        "version": "updatedtime"})
        campaigns = _history(lookups.get("meta:campaign_history"),
                             {"id": "id", "name": "name", "version": "updatedtime"})
        accounts = _history(lookups.get("meta:account_history"),
                            {"id": "id", "currency": "currency",
                             "version": "fivetransynced"})
        camp_id = _lookup(_text(f.col("adid"), n), ads, "campaign_id")
        campaign = pc.coalesce(_lookup(camp_id, campaigns, "name"), camp_id)
        currency = pc.utf8_upper(_lookup(_text(f.col("accountid"), n), accounts,
                                         "currency"))
    if cost_col is not None:
        amounts = _amounts(_text(cost_col, n))
        cost = (amounts.values, amounts.ok, amounts.empty, amounts.bad)  # noqa: PD011
    values, ok, empty, bad = cost
    dates, d_empty, d_bad = parse_dates(date_col)
    first = _text(f.table.column(0), n)
    total = pc.fill_null(pc.match_substring_regex(first, r"^total\b", ignore_case=True),
                         False).to_numpy(zero_copy_only=False)
    if kind in ("google_ads", "linkedin", "meta") or ":" in kind:
        for col in f.table.columns[1:3]:
            total |= pc.fill_null(pc.match_substring_regex(
                _text(col, n), r"^total\b", ignore_case=True), False).to_numpy(
                zero_copy_only=False)
    checks = [(total, "a total row of the export, not spend")] + [
        (m & ~total, r) for m, r in [
            (d_empty, f"{date_label} is empty"),
            (d_bad, f"{date_label} is not a date {_DATE_HINT}"),
            (empty, f"{cost_label} is empty"),
            (bad, f"{cost_label} is not an amount"),
            (ok & (values < 0), f"{cost_label} is negative"),
            *checks]]
    if kind in ("google_ads", "linkedin", "meta"):
        no_campaign = campaign.is_null().to_numpy(zero_copy_only=False) & ~total
        checks.append((no_campaign, "no campaign name (a summary row of the export?)"))
    bad_row, reasons = _reasons(n, checks)
    if bad_row.any():
        f.rejects.add_rows(f.table, f.rows, bad_row, reasons)
    keep = ~bad_row
    k = int(keep.sum())
    mask = pa.array(keep)
    campaign = campaign.filter(mask)
    if platform in _PLATFORM:
        src, medium = _PLATFORM[platform]
        grouping = {"source": pa.repeat(pa.scalar(src, pa.string()), k),
                    "medium": pa.repeat(pa.scalar(medium, pa.string()), k)}
    else:
        grouping = {key: v.filter(mask) for key, v in grouping.items()}
    grouping["campaign"] = campaign
    channel = assign_channels(grouping, mapping, unmapped=unmapped)
    rows = f.rows[keep]
    refs = pc.binary_join_element_wise(f.name, pc.cast(pa.array(rows), pa.string()),
                                       ":")
    return pa.Table.from_arrays(
        [dates.filter(mask), channel, campaign,
         pa.array(values[keep], pa.float64()), cost_type.filter(mask),
         currency.filter(mask), pa.repeat(pa.scalar(SOURCE, pa.string()), k), refs],
        schema=SPEND_SCHEMA)


def _reasons(n: int, checks: list[tuple[np.ndarray, str]]
             ) -> tuple[np.ndarray, np.ndarray]:
    bad = np.zeros(n, dtype=bool)
    out = np.full(n, "", dtype=object)
    for mask, message in checks:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            bad |= mask
            out[mask] = np.where(out[mask] != "", out[mask] + "; " + message, message)
    return bad, out


# ------------------------------------------------------------------------ Salesforce
def campaign_costs(
    campaigns: pa.Table | pd.DataFrame,
    *,
    name: str = "Campaign.csv",
    rows: np.ndarray | None = None,
    source: str = "salesforce",
    channel_map: ChannelMapping | str | os.PathLike[str] | None = None,
    unmapped: dict[str, int] | None = None,
    rejects: Rejects | None = None,
) -> pa.Table | None:
    r"""Salesforce ``Campaign.ActualCost`` as ``other`` cost, spread over its dates.

    Each campaign with an ``ActualCost`` above 0 gives one spend row per day from
    ``StartDate`` to ``EndDate`` (both included), each ``ActualCost / days``, with
    ``cost_type`` ``other`` so that it never double-counts the ``media`` spend of
    the ad platforms. A campaign with only one of the dates gets its cost on that
    day. The channel comes from ``Type`` and ``Name`` through the channel grouping
    (``Webinar`` is Webinar, ``Trade Show`` Events, ...), the currency from
    ``CurrencyIsoCode`` when the export has it.

    Parameters
    ----------
    campaigns : pyarrow.Table or DataFrame
        Campaign rows with Salesforce API names (``Id``, ``Name``, ``Type``,
        ``StartDate``, ``EndDate``, ``ActualCost``, optional ``CurrencyIsoCode``) or
        their snake_case warehouse-sync names (``actual_cost``, ...), as text or
        typed values.
    name : str, default="Campaign.csv"
        The file name used in ``source_ref``.
    rows : numpy.ndarray, optional
        The record number of each campaign row (default: 2, 3, ... as in a CSV with
        a header).
    source : str, default="salesforce"
        The ``source`` written on the spend rows and rejects.
    channel_map : ChannelMapping or path, optional
        The analyst's channel rules.
    unmapped : dict, optional
        Counts of campaigns the grouping left ``"Unassigned"`` are added here.
    rejects : connectors._values.Rejects, optional
        Rows whose cost cannot be placed (``ActualCost`` not an amount or negative,
        no usable ``StartDate``/``EndDate``, ``EndDate`` before ``StartDate``) are
        added here with their reason; without it they are only left out of the
        spend. Count such a row as rejected only if it serves nothing else.

    Returns
    -------
    pyarrow.Table or None
        Spend rows in :data:`attribution.store.SPEND_SCHEMA`, or None when the
        table has no ``ActualCost`` column.

    Examples
    --------
    >>> import pyarrow as pa
    >>> camp = pa.table({"Id": ["701A"], "Name": ["Q1 Webinar"], "Type": ["Webinar"],
    ...                  "StartDate": ["2026-01-01"], "EndDate": ["2026-01-04"],
    ...                  "ActualCost": ["$4,000"]})
    >>> spend = campaign_costs(camp)
    >>> spend.select(["date", "channel", "cost"]).to_pylist()[0]
    {'date': datetime.date(2026, 1, 1), 'channel': 'Webinar', 'cost': 1000.0}
    >>> spend.column("cost_type").unique().to_pylist()
    ['other']
    >>> spend.num_rows
    4
    """
    table = (pa.Table.from_pandas(campaigns, preserve_index=False)
             if isinstance(campaigns, pd.DataFrame) else campaigns)
    columns: dict[str, str] = {}
    for col in table.column_names:
        columns.setdefault(canonical(col), col)
    if "actualcost" not in columns:
        return None
    mapping = load_channel_mapping(channel_map) if channel_map is not None else None
    n = table.num_rows
    rows = np.arange(2, n + 2, dtype=np.int64) if rows is None else np.asarray(rows)

    def col(key: str) -> pa.Array:
        return _text(table.column(columns[key]), n) if key in columns else \
            pa.nulls(n, pa.string())

    cost = _amounts(col("actualcost"))
    start, s_empty, s_bad = parse_dates(col("startdate"))
    end, e_empty, e_bad = parse_dates(col("enddate"))
    has_cost = cost.ok & (cost.values > 0)  # noqa: PD011
    s_ok, e_ok = ~s_empty & ~s_bad, ~e_empty & ~e_bad
    s_days = pc.fill_null(start.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
    e_days = pc.fill_null(end.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
    first = np.where(s_ok, s_days, e_days)
    last = np.where(e_ok, e_days, s_days)
    checks = [
        (cost.bad, "ActualCost is not an amount"),
        (cost.ok & (cost.values < 0), "ActualCost is negative"),  # noqa: PD011
        (has_cost & ~s_ok & ~e_ok, "ActualCost has no usable StartDate or EndDate to "
                                   "spread it over"),
        (has_cost & s_ok & e_ok & (e_days < s_days), "EndDate is before StartDate"),
    ]
    bad, reasons = _reasons(n, checks)
    if rejects is not None and bad.any():
        rejects.add_rows(table, rows, bad, reasons)
    use = has_cost & ~bad & (s_ok | e_ok)
    idx = np.flatnonzero(use)
    days = (last[idx] - first[idx] + 1).astype(np.int64)
    owner = np.repeat(idx, days)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(days) - days, days)
    date = (first[owner] + offset).astype(np.int32)
    daily = cost.values[owner] / np.repeat(days, days)  # noqa: PD011
    take = pa.array(owner, pa.int64())
    channel = assign_channels({"campaign_type": col("type").take(take),
                               "campaign": col("name").take(take)}, mapping,
                              unmapped=unmapped)
    refs = pc.binary_join_element_wise(
        name, pc.cast(pa.array(rows[owner]), pa.string()), ":")
    m = len(owner)
    return pa.Table.from_arrays(
        [pa.array(date, pa.int32()).cast(pa.date32()), channel,
         col("name").take(take), pa.array(daily, pa.float64()),
         pa.repeat(pa.scalar("other", pa.string()), m),
         pc.utf8_upper(col("currencyisocode").take(take)),
         pa.repeat(pa.scalar(source, pa.string()), m), refs],
        schema=SPEND_SCHEMA)


# ----------------------------------------------------------------------------- currency
def load_fx_rates(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read exchange rates: ``currency,rate_to_store_currency`` (or ``rate``).

    One unit of ``currency`` is worth ``rate`` units of the store's currency, so a
    store in USD reads ``EUR,1.08``. The store's own currency may appear with rate
    1.

    Parameters
    ----------
    path : str or os.PathLike
        A CSV file (any delimiter, encoding as for the connectors).

    Returns
    -------
    dict of str to float
        Upper-case currency code -> rate.

    Raises
    ------
    SchemaError
        When the file lacks the columns, a code is empty or repeated, or a rate is
        not a positive number (naming the row).
    """
    path = Path(path)
    inp = open_input(path, accept=lambda names: "currency" in names and (
        "ratetostorecurrency" in names or "rate" in names))
    cols = inp.columns()
    rate_key = "ratetostorecurrency" if "ratetostorecurrency" in cols else "rate"
    if "currency" not in cols or rate_key not in cols:
        raise SchemaError(f"{path}: missing column(s) currency, rate_to_store_currency "
                          f"(found: {', '.join(inp.header)})",
                          ["currency", "rate_to_store_currency"])
    batches = list(iter_batches(inp, text_columns=inp.header))
    if inp.invalid:
        r, _, a = inp.invalid[0]
        raise SchemaError(f"{path}: row {r} has {a} fields, expected "
                          f"{len(inp.header)}")
    rates: dict[str, float] = {}
    for b in batches:
        codes = pc.utf8_upper(_text(b.table.column(cols["currency"]), b.table.num_rows))
        values = _amounts(_text(b.table.column(cols[rate_key]), b.table.num_rows))
        for code, value, ok, row in zip(codes.to_pylist(), values.values, values.ok,
                                        b.rows, strict=True):  # a few rows
            if not code:
                raise SchemaError(f"{path}: row {row}: currency is empty")
            if not ok or value <= 0:
                raise SchemaError(f"{path}: row {row}: the rate of {code} must be a "
                                  "positive number")
            if code in rates:
                raise SchemaError(f"{path}: row {row}: {code} appears twice")
            rates[code] = float(value)
    if not rates:
        raise SchemaError(f"{path}: holds no rates")
    return rates


def convert_currencies(
    spend: pa.Table | None,
    journeys: list[pa.Table],
    *,
    currency: str | None = None,
    fx: Mapping[str, float] | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[pa.Table | None, list[pa.Table], str | None]:
    """Bring spend and journey amounts into one store currency.

    The store currency is ``currency`` when given; else, with ``fx``, the one
    currency whose rate is 1; else the only currency found. Rows that name no
    currency are taken to be in the store currency. With ``fx``, amounts in
    another currency are multiplied by its rate; without it, a second currency is
    an error rather than a silent mix.

    Parameters
    ----------
    spend : pyarrow.Table or None
        Spend rows (:data:`attribution.store.SPEND_SCHEMA`).
    journeys : list of pyarrow.Table
        Journey tables (``pipeline_amount``, ``revenue_amount``, ``currency``).
    currency : str, optional
        The store currency.
    fx : mapping of str to float, optional
        Rates into the store currency (see :func:`load_fx_rates`).
    names : mapping of str to str, optional
        Where each currency was found (currency -> file), for the error message.

    Returns
    -------
    tuple
        The converted spend, the converted journey tables and the store currency
        (None when nothing names one).

    Raises
    ------
    SchemaError
        When currencies are mixed without ``fx``, ``fx`` lacks a rate for a
        currency found, or the store currency cannot be told from ``fx``.
    """
    found: set[str] = set()
    if spend is not None and spend.num_rows:
        found |= {c for c in pc.unique(spend.column("currency")).to_pylist() if c}
    for j in journeys:
        if j.num_rows and "currency" in j.column_names:
            found |= {c for c in pc.unique(j.column("currency")).to_pylist() if c}
    where = names or {}

    def shown(codes: list[str]) -> str:
        return ", ".join(f"{c} ({where[c]})" if c in where else c for c in codes)

    if currency is not None:
        currency = currency.strip().upper()
    if fx is not None:
        fx = {k.strip().upper(): float(v) for k, v in fx.items()}
        if currency is None:
            base = sorted(k for k, v in fx.items() if v == 1.0)
            if len(base) != 1:
                raise SchemaError(
                    "fx: cannot tell the store currency: give --currency, or one "
                    f"currency with rate 1 in the rates file (rate 1: "
                    f"{', '.join(base) or 'none'})")
            currency = base[0]
        missing = sorted(c for c in found if c != currency and c not in fx)
        if missing:
            raise SchemaError(f"fx: no rate for {shown(missing)}; add a row "
                              f"{missing[0]},RATE (1 {missing[0]} in {currency}) to "
                              "the rates file")
    else:
        others = sorted(found - ({currency} if currency else set()))
        if currency is None and len(others) == 1:
            currency = others[0]
            others = []
        if others:
            raise SchemaError(
                f"amounts are in several currencies: {shown(sorted(found))}; give "
                "--fx rates.csv (currency,rate_to_store_currency) to convert them"
                + ("" if currency else ", and --currency for the store's"))
    if currency is None:
        return spend, journeys, None
    rates = dict(fx or {})
    rates[currency] = 1.0

    def factor(codes: pa.ChunkedArray | pa.Array) -> np.ndarray:
        codes = pc.fill_null(codes, currency)
        keys = pa.array(sorted(rates), pa.string())
        idx = pc.index_in(codes, value_set=keys).to_numpy(zero_copy_only=False)
        table = np.asarray([rates[k] for k in keys.to_pylist()])
        return table[idx.astype(np.int64)]

    if spend is not None and spend.num_rows:
        f = factor(spend.column("currency"))
        spend = spend.set_column(spend.schema.get_field_index("cost"), "cost",
                                 pa.array(spend.column("cost").to_numpy() * f))
        spend = spend.set_column(spend.schema.get_field_index("currency"), "currency",
                                 pa.repeat(pa.scalar(currency, pa.string()),
                                           spend.num_rows))
    out = []
    for j in journeys:
        if not j.num_rows or "currency" not in j.column_names:
            out.append(j)
            continue
        f = factor(j.column("currency"))
        for amount in ("pipeline_amount", "revenue_amount"):
            if amount in j.column_names and not np.all(f == 1.0):
                i = j.schema.get_field_index(amount)
                j = j.set_column(i, j.schema.field(i),
                                 pa.array(pc.fill_null(j.column(amount), 0.0)
                                          .to_numpy() * f))
        i = j.schema.get_field_index("currency")
        j = j.set_column(i, j.schema.field(i),
                         pa.repeat(pa.scalar(currency, pa.string()), j.num_rows))
        out.append(j)
    return spend, out, currency
