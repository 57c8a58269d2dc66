"""Channel grouping: turn source, medium, campaign and campaign type into channels.

Every connector that meets raw traffic or CRM values calls :func:`assign_channels`.
A :class:`ChannelMapping` holds the analyst's own rules (read from a small CSV or
TOML file by :func:`load_channel_mapping`); they are tried first, in file order,
and the first rule that matches a row names its channel. Rows no rule matches keep
the ``channel`` they already carry, and otherwise fall to :data:`DEFAULT_RULES`, a
rule set in the style of GA4's default channel group with B2B additions. What no
rule places becomes ``"Unassigned"`` (as in GA4) and is counted by source / medium,
so ``touchline validate`` can list it.

Match columns (any may be absent; an absent column reads as empty):
``input_channel`` (the ``channel`` the input already names, to rename it),
``source``, ``medium``, ``campaign``, ``campaign_type`` (Salesforce
``Campaign.Type``), ``content`` and ``interaction``. A condition is a regular
expression searched in the trimmed value, case-insensitively (``linkedin``
matches ``LinkedIn.com``; anchor it as ``^linkedin$`` for an exact match; ``^$``
matches an empty value). All conditions of a rule must match.

Mapping files
-------------
CSV: one rule per row, a ``channel`` column and one column per match column used;
an empty cell places no condition::

    source,medium,campaign,channel
    ^linkedin$,^paid,,LinkedIn Ads
    ,,^abm-,ABM

A rule on ``input_channel`` renames the channels of a touch log
(``input_channel`` = ``^paid_search$``, ``channel`` = ``Paid Search``).

TOML: an array of ``[[rule]]`` tables; ``defaults = false`` at the top turns the
default rules off (rows no rule matches then keep their channel or are
``"Unassigned"``)::

    defaults = true

    [[rule]]
    source = "^linkedin$"
    medium = "^paid"
    channel = "LinkedIn Ads"

Everything here is vectorised: rules are evaluated once per distinct combination
of the match values (a few thousand at most), never once per row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from attribution.exceptions import SchemaError

__all__ = [
    "DEFAULT_RULES",
    "MATCH_COLUMNS",
    "UNASSIGNED",
    "ChannelMapping",
    "ChannelRule",
    "assign_channels",
    "load_channel_mapping",
    "source_categories",
]

#: The columns a rule may test, in the order they are listed in the manifest.
#: ``input_channel`` tests the ``channel`` column the input already carries (to rename
#: an export's channel names); the others test the data columns of the same name.
MATCH_COLUMNS = ("input_channel", "source", "medium", "campaign", "campaign_type",
                 "content", "interaction")

#: The channel of rows that no rule places (GA4's name for it).
UNASSIGNED = "Unassigned"

#: Version tag of :data:`DEFAULT_RULES`, written to the manifest.
DEFAULTS_VERSION = "touchline-ga4-b2b-1"

_PAID = r"^(.*cp.*|ppc|retargeting|paid.*)$"
_SHOP_CAMPAIGN = r"^(.*(([^a-df-z]|^)shop|shopping).*)$"
_EMAIL = r"^(email|e-mail|e_mail|e mail)$"
_CATEGORY = "category:"


@dataclass(frozen=True)
class ChannelRule:
    """One rule: every condition must match for the row to take ``channel``.

    Attributes
    ----------
    channel : str
        The channel name given to matching rows.
    match : tuple of (str, str)
        ``(column, pattern)`` pairs. ``pattern`` is a regular expression searched
        case-insensitively in the trimmed value, or ``"category:SEARCH"`` (also
        ``SHOPPING``, ``SOCIAL``, ``VIDEO``) for a source found in Google's
        source-category table.
    """

    channel: str
    match: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, str]:
        """Return the rule as a flat dict (its conditions, then ``channel``)."""
        return {**dict(self.match), "channel": self.channel}


def _rule(channel: str, **match: str) -> ChannelRule:
    return ChannelRule(channel, tuple(match.items()))


#: The default rules, tried in order after the user's rules (first match wins).
#: First GA4's ``Direct``, then B2B channels GA4 does not know (from ``medium``,
#: the ``interaction`` of CRM touches, and Salesforce ``Campaign.Type``), then GA4's
#: default channel group as Google documents it, with its source-category table.
DEFAULT_RULES: tuple[ChannelRule, ...] = (
    _rule("Direct", source=r"^\(direct\)$", medium=r"^(\(none\)|\(not set\)|)$"),
    # ---- B2B channels from medium and interaction
    _rule("Webinar", medium=r"webinar"),
    _rule("Webinar", interaction=r"^webinar"),
    _rule("Events", medium=r"^(events?|trade[-_ ]?shows?|conferences?"
                           r"|field[-_ ]?events?|booth|meetups?|roadshows?"
                           r"|seminars?)$"),
    _rule("Events", interaction=r"^event"),
    _rule("Sales Outreach", medium=r"^(sales|outbound|outreach|sdr|bdr|prospecting"
                                   r"|cold[-_ ]?(email|call)|sales[-_ ]?(email|call)"
                                   r"|sequence|cadence|telemarketing)$"),
    _rule("Sales Outreach", interaction=r"^(sales_email|sales_call|meeting)$"),
    _rule("Content Syndication", medium=r"syndication"),
    _rule("Partner", medium=r"^(partners?|co-?marketing|resellers?)$"),
    _rule("Direct Mail", medium=r"^(direct[-_ ]?mail|postal|gifting)$"),
    # ---- Salesforce Campaign.Type (standard picklist values and common additions)
    _rule("Webinar", campaign_type=r"webinar"),
    _rule("Events", campaign_type=r"trade ?show|conference|seminar|event|roadshow"
                                  r"|field marketing|executive dinner"),
    _rule("Email", campaign_type=r"^e-?mail"),
    _rule("Sales Outreach", campaign_type=r"telemarketing|outbound|sales|cold call"),
    _rule("Content Syndication", campaign_type=r"syndication"),
    _rule("Partner", campaign_type=r"^partner"),
    _rule("Referral", campaign_type=r"referral"),
    _rule("Direct Mail", campaign_type=r"direct mail"),
    _rule("Display", campaign_type=r"banner|display"),
    _rule("Paid Other", campaign_type=r"^(advertisement|advertising|paid)"),
    _rule("Other", campaign_type=r"^(other|public relations|pr)$"),
    # ---- GA4 default channel group
    _rule("Cross-network", campaign=r"cross-network"),
    _rule("Paid Shopping", source=_CATEGORY + "SHOPPING", medium=_PAID),
    _rule("Paid Shopping", campaign=_SHOP_CAMPAIGN, medium=_PAID),
    _rule("Paid Search", source=_CATEGORY + "SEARCH", medium=_PAID),
    _rule("Paid Social", source=_CATEGORY + "SOCIAL", medium=_PAID),
    _rule("Paid Video", source=_CATEGORY + "VIDEO", medium=_PAID),
    _rule("Display", medium=r"^(display|banner|expandable|interstitial|cpm)$"),
    _rule("Paid Other", medium=_PAID),
    _rule("Organic Shopping", source=_CATEGORY + "SHOPPING"),
    _rule("Organic Shopping", campaign=_SHOP_CAMPAIGN),
    _rule("Organic Social", source=_CATEGORY + "SOCIAL"),
    _rule("Organic Social", medium=r"^(social|social-network|social-media|sm"
                                   r"|social network|social media)$"),
    _rule("Organic Video", source=_CATEGORY + "VIDEO"),
    _rule("Organic Video", medium=r"video"),
    _rule("Organic Search", source=_CATEGORY + "SEARCH"),
    _rule("Organic Search", medium=r"^organic$"),
    _rule("Referral", medium=r"^(referral|app|link)$"),
    _rule("Email", source=_EMAIL),
    _rule("Email", medium=_EMAIL),
    _rule("Affiliates", medium=r"^affiliates?$"),
    _rule("Audio", medium=r"^audio$"),
    _rule("SMS", source=r"^sms$"),
    _rule("SMS", medium=r"^sms$"),
    _rule("Mobile Push Notifications", medium=r"push$"),
    _rule("Mobile Push Notifications", medium=r"mobile|notification"),
    _rule("Mobile Push Notifications", source=r"^firebase$"),
)


@dataclass(frozen=True)
class ChannelMapping:
    """The analyst's channel rules, tried before :data:`DEFAULT_RULES`.

    Attributes
    ----------
    rules : tuple of ChannelRule
        Tried in order; the first match names the channel.
    defaults : bool, default=True
        Whether :data:`DEFAULT_RULES` follow the user's rules.
    path : str, optional
        The file the rules came from.
    sha256 : str, optional
        The SHA-256 of that file.
    """

    rules: tuple[ChannelRule, ...] = ()
    defaults: bool = True
    path: str | None = None
    sha256: str | None = field(default=None, compare=False)

    def all_rules(self) -> tuple[ChannelRule, ...]:
        """Return the user's rules followed by the default rules (when on)."""
        return self.rules + (DEFAULT_RULES if self.defaults else ())

    def to_manifest(self) -> dict[str, Any]:
        """Return a JSON-ready record of the mapping, for ``manifest.json``."""
        return {
            "file": self.path,
            "sha256": self.sha256,
            "rules": [r.to_dict() for r in self.rules],
            "defaults": DEFAULTS_VERSION if self.defaults else None,
            "default_rules": ([r.to_dict() for r in DEFAULT_RULES]
                              if self.defaults else []),
            "unassigned": UNASSIGNED,
            "matching": "regex search in the trimmed value, case-insensitive; "
                        "first matching rule wins; rows no rule matches keep their "
                        "channel",
        }


# ----------------------------------------------------------------------------- loading
def load_channel_mapping(path: str | os.PathLike[str] | ChannelMapping
                         ) -> ChannelMapping:
    r"""Read a channel-mapping file (CSV or TOML) into a :class:`ChannelMapping`.

    The format is chosen by the suffix: ``.toml`` is TOML, anything else CSV. See
    the module docstring for both formats. Every pattern is compiled when the file
    is read, so a bad regular expression fails here, naming its row.

    Parameters
    ----------
    path : str, os.PathLike or ChannelMapping
        The mapping file (a :class:`ChannelMapping` is returned as it is, so
        readers can take either).

    Returns
    -------
    ChannelMapping

    Raises
    ------
    SchemaError
        When the file is missing or empty, lacks a ``channel`` column, names a
        column that is not a match column, has a rule without a channel or without
        any condition, or a pattern that is not a valid regular expression.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "channels.csv"
    >>> _ = f.write_text("source,medium,channel\n^linkedin$,^paid,LinkedIn Ads\n")
    >>> mapping = load_channel_mapping(f)
    >>> [r.to_dict() for r in mapping.rules]
    [{'source': '^linkedin$', 'medium': '^paid', 'channel': 'LinkedIn Ads'}]
    """
    if isinstance(path, ChannelMapping):
        return path
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{p}: no such channel-mapping file") from None
    except IsADirectoryError:
        raise SchemaError(f"{p}: is a directory, expected a channel-mapping file "
                          "(.csv or .toml)") from None
    if not data.strip():
        raise SchemaError(f"{p}: channel-mapping file is empty; expected rules with a "
                          "channel column")
    text = _decode(p, data)
    if p.suffix.lower() == ".toml":
        rules, defaults = _rules_from_toml(p, text)
    else:
        rules, defaults = _rules_from_csv(p, text), True
    return ChannelMapping(rules=tuple(rules), defaults=defaults, path=str(p),
                          sha256=hashlib.sha256(data).hexdigest())


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _rules_from_csv(path: Path, text: str) -> list[ChannelRule]:
    lines = text.splitlines()
    header_line = next((ln for ln in lines if ln.strip()), "")
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [r for r in reader if any(c.strip() for c in r)]
    header = [h.strip().lower() for h in rows[0]]
    _check_columns(path, header, "column")
    rules = []
    for number, row in enumerate(rows[1:], start=2):
        values = dict(zip(header, (c.strip() for c in row), strict=False))
        rules.append(_make_rule(path, f"row {number}", values))
    return rules


def _rules_from_toml(path: Path, text: str) -> tuple[list[ChannelRule], bool]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{path}: is not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - {"rule", "defaults"})
    if unknown:
        raise SchemaError(f"{path}: unknown key(s) {', '.join(unknown)}; expected "
                          "[[rule]] tables and an optional defaults = true/false")
    defaults = doc.get("defaults", True)
    if not isinstance(defaults, bool):
        raise SchemaError(f"{path}: defaults must be true or false; got {defaults!r}")
    tables = doc.get("rule", [])
    if not isinstance(tables, list):
        raise SchemaError(f"{path}: write rules as [[rule]] tables")
    rules = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise SchemaError(f"{path}: rule {number} is not a table")
        keys = [str(k).lower() for k in table]
        _check_columns(path, keys, f"rule {number}: key")
        values = {str(k).lower(): v for k, v in table.items()}
        bad = [k for k, v in values.items() if not isinstance(v, str)]
        if bad:
            raise SchemaError(f"{path}: rule {number}: {', '.join(bad)} must be "
                              "text (a regular expression or the channel name)")
        rules.append(_make_rule(path, f"rule {number}", values))
    return rules, defaults


def _check_columns(path: Path, names: Iterable[str], what: str) -> None:
    names = list(names)
    unknown = [n for n in names if n and n not in (*MATCH_COLUMNS, "channel")]
    if unknown:
        raise SchemaError(f"{path}: {what} {', '.join(unknown)} is not a match column; "
                          f"use {', '.join(MATCH_COLUMNS)} and channel")
    if "channel" not in names:
        raise SchemaError(f"{path}: missing column channel (found: "
                          f"{', '.join(names) or 'none'}); every rule names a channel")


def _make_rule(path: Path, where: str, values: Mapping[str, str]) -> ChannelRule:
    channel = (values.get("channel") or "").strip()
    if not channel:
        raise SchemaError(f"{path}: {where}: channel is empty; name the channel the "
                          "rule assigns")
    match = []
    for column in MATCH_COLUMNS:
        pattern = values.get(column)
        if pattern is None or not pattern.strip():
            continue
        _check_pattern(path, where, column, pattern.strip())
        match.append((column, pattern.strip()))
    if not match:
        raise SchemaError(f"{path}: {where}: the rule for {channel!r} has no "
                          f"condition; give a pattern in at least one of "
                          f"{', '.join(MATCH_COLUMNS)}")
    return ChannelRule(channel, tuple(match))


def _check_pattern(path: Path, where: str, column: str, pattern: str) -> None:
    try:
        re.compile(pattern)
        pc.match_substring_regex(pa.array([""]), pattern, ignore_case=True)
    except (re.error, pa.ArrowInvalid) as exc:
        raise SchemaError(f"{path}: {where}: {column} pattern {pattern!r} is not a "
                          f"valid regular expression ({str(exc).splitlines()[0]})"
                          ) from None


# ----------------------------------------------------------------------------- tables
@lru_cache(maxsize=1)
def source_categories() -> dict[str, frozenset[str]]:
    """Google's source-category table: category -> lower-cased sources.

    Read from the package data file ``connectors/data/ga4_source_categories.csv``
    (MIT licence, see the ``.LICENSE.txt`` file beside it). Categories are
    ``SEARCH``, ``SHOPPING``, ``SOCIAL`` and ``VIDEO``.

    Returns
    -------
    dict of str to frozenset of str
    """
    text = resources.files("connectors").joinpath(
        "data", "ga4_source_categories.csv").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        category = row["source_category"].removeprefix("SOURCE_CATEGORY_")
        out.setdefault(category, set()).add(row["source"].strip().lower())
    return {k: frozenset(v) for k, v in out.items()}


# ------------------------------------------------------------------------- assigning
Data = pd.DataFrame | pa.Table | pa.RecordBatch | Mapping[str, Any]


@overload
def assign_channels(data: pd.DataFrame, mapping: ChannelMapping | None = ..., *,
                    unmapped: dict[str, int] | None = ...) -> pd.Series: ...


@overload
def assign_channels(data: pa.Table | pa.RecordBatch | Mapping[str, Any],
                    mapping: ChannelMapping | None = ..., *,
                    unmapped: dict[str, int] | None = ...) -> pa.Array: ...


def assign_channels(data: Data, mapping: ChannelMapping | None = None, *,
                    unmapped: dict[str, int] | None = None) -> pd.Series | pa.Array:
    """Return the channel of every row of ``data``.

    For each row: the first of the mapping's rules that matches names the channel;
    otherwise a non-empty ``channel`` the row already carries is kept; otherwise the
    first matching rule of :data:`DEFAULT_RULES` (unless the mapping turned them
    off); otherwise :data:`UNASSIGNED`. Rules are evaluated once per distinct
    combination of the match values, so millions of rows cost a few vectorised
    passes.

    Parameters
    ----------
    data : DataFrame, pyarrow.Table or RecordBatch, or mapping of column to array
        Rows with any of ``channel``, ``source``, ``medium``, ``campaign``,
        ``campaign_type``, ``content`` and ``interaction`` (absent columns read as
        empty).
    mapping : ChannelMapping, optional
        The analyst's rules (see :func:`load_channel_mapping`); default rules only
        when None.
    unmapped : dict, optional
        When given, the rows that end ``"Unassigned"`` are counted into it, keyed
        ``"source / medium"`` (``(not set)`` for an empty value; `` / type T`` is
        appended when a ``campaign_type`` is set). Pass the same dict to several
        calls to add up their counts.

    Returns
    -------
    pandas.Series or pyarrow.Array
        A Series aligned with ``data`` when it is a DataFrame, else a pyarrow string
        array. Never null.

    Raises
    ------
    SchemaError
        When a match column is neither text nor null.

    See Also
    --------
    load_channel_mapping : Read the analyst's rules.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"source": ["google", "google", "linkedin", "(direct)", "x"],
    ...                    "medium": ["cpc", "organic", "paid_social", "(none)", "y"]})
    >>> counts = {}
    >>> assign_channels(df, unmapped=counts).tolist()
    ['Paid Search', 'Organic Search', 'Paid Social', 'Direct', 'Unassigned']
    >>> counts
    {'x / y': 1}
    """
    mapping = mapping or ChannelMapping()
    index = data.index if isinstance(data, pd.DataFrame) else None
    columns, n = _columns(data)
    result = _assign(columns, n, mapping, unmapped)
    if index is not None:
        return pd.Series(result.to_numpy(zero_copy_only=False), index=index,
                         name="channel", dtype=object)
    return result


#: The data columns read: the input's own ``channel`` and the other match columns.
_DATA_COLUMNS = ("channel", *MATCH_COLUMNS[1:])


def _columns(data: Data) -> tuple[dict[str, pa.Array], int]:
    """Return the match columns of ``data`` as pyarrow arrays, and the row count."""
    if isinstance(data, pd.DataFrame):
        n = len(data)
        raw: dict[str, Any] = {c: data[c] for c in _DATA_COLUMNS if c in data.columns}
    elif isinstance(data, (pa.Table, pa.RecordBatch)):
        n = data.num_rows
        raw = {c: data.column(c) for c in _DATA_COLUMNS if c in data.column_names}
    else:
        raw = {c: data[c] for c in _DATA_COLUMNS if c in data}
        lengths = {len(v) for v in raw.values()}
        if len(lengths) > 1:
            raise SchemaError(f"assign_channels: columns have different lengths "
                              f"({sorted(lengths)})")
        n = lengths.pop() if lengths else 0
    out = {}
    for name, values in raw.items():
        if isinstance(values, pd.Series):
            values = pa.array(values.astype(object).where(values.notna(), None),
                              from_pandas=True)
        elif not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = pa.array(values, from_pandas=True)
        if isinstance(values, pa.ChunkedArray):
            values = (values.combine_chunks() if values.num_chunks != 1
                      else values.chunk(0))
        if pa.types.is_dictionary(values.type):
            values = values.cast(values.type.value_type)
        if pa.types.is_null(values.type):
            values = values.cast(pa.string())
        if not (pa.types.is_string(values.type)
                or pa.types.is_large_string(values.type)):
            raise SchemaError(f"assign_channels: column {name} has type {values.type}; "
                              "expected text")
        out[name] = values.cast(pa.string())
    return out, n


def _clean(values: pa.Array) -> pa.Array:
    """Trimmed text with null as the empty string."""
    return pc.utf8_trim_whitespace(pc.fill_null(values, ""))


def _assign(columns: dict[str, pa.Array], n: int, mapping: ChannelMapping,
            unmapped: dict[str, int] | None) -> pa.Array:
    given = columns.get("channel")
    if given is not None:
        given = _clean(given)
    if not mapping.rules and given is not None:
        # fast path: rows that carry a channel keep it; only the others are grouped
        missing = pc.equal(given, "")
        n_missing = pc.sum(missing).as_py() or 0
        if not n_missing:
            return given
        rows = pc.indices_nonzero(missing)
        sub = {k: v.take(rows) for k, v in columns.items() if k != "channel"}
        filled = _assign_grouped(sub, n_missing, mapping, unmapped, None)
        return pc.replace_with_mask(given, missing, filled)
    return _assign_grouped(columns, n, mapping, unmapped, given)


def _needed(mapping: ChannelMapping, present: Iterable[str]) -> list[str]:
    wanted = {c for r in mapping.all_rules() for c, _ in r.match}
    wanted |= {"source", "medium", "campaign_type"}  # for the unmapped keys
    return [c for c in MATCH_COLUMNS if c in wanted and c in present]


def _assign_grouped(columns: dict[str, pa.Array], n: int, mapping: ChannelMapping,
                    unmapped: dict[str, int] | None, given: pa.Array | None
                    ) -> pa.Array:
    names = _needed(mapping, columns)
    cleaned = {c: _clean(columns[c]) for c in names}
    if given is not None:
        cleaned["input_channel"] = given
    codes, first = _factorize(list(cleaned.values()), n)
    uniq = {c: v.take(pa.array(first)) for c, v in cleaned.items()}
    k = len(first)
    lowered = {c: pc.utf8_lower(v) for c, v in uniq.items()}
    empty = pa.array([""] * k, pa.string())
    channel = np.full(k, None, dtype=object)
    todo = np.ones(k, dtype=bool)

    def apply(rules: Iterable[ChannelRule]) -> None:
        for rule in rules:
            if not todo.any():
                return
            hit = todo.copy()
            for column, pattern in rule.match:
                values = lowered.get(column, empty)
                hit &= _condition(values, pattern)
                if not hit.any():
                    break
            if hit.any():
                channel[hit] = rule.channel
                todo[hit] = False

    apply(mapping.rules)
    if given is not None:
        own = uniq["input_channel"]
        keep = todo & pc.not_equal(own, "").to_numpy(zero_copy_only=False)
        channel[keep] = np.asarray(own.to_numpy(zero_copy_only=False),
                                   dtype=object)[keep]
        todo &= ~keep
    if mapping.defaults:
        apply(DEFAULT_RULES)
    channel[todo] = UNASSIGNED
    if unmapped is not None and todo.any():
        _count_unmapped(uniq, codes, todo, unmapped)
    dictionary = pa.array(channel.tolist(), pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()),
                                          dictionary).cast(pa.string())


def _condition(values: pa.Array, pattern: str) -> np.ndarray:
    if pattern.startswith(_CATEGORY):
        sites = source_categories().get(pattern.removeprefix(_CATEGORY), frozenset())
        return pc.is_in(values, value_set=pa.array(sorted(sites), pa.string())
                        ).to_numpy(zero_copy_only=False)
    return pc.match_substring_regex(values, pattern, ignore_case=True).to_numpy(
        zero_copy_only=False)


def _factorize(columns: list[pa.Array], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the distinct value combinations, and the first row of each code."""
    codes = np.zeros(n, dtype=np.int64)
    for values in columns:
        encoded = pc.dictionary_encode(values)
        idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        codes, _ = pd.factorize(codes * len(encoded.dictionary) + idx, sort=False)
        codes = codes.astype(np.int64)
    if not n:
        return codes, np.zeros(0, dtype=np.int64)
    # pandas numbers codes in order of first appearance, so the running maximum
    # steps up exactly at the first row of each code
    steps = np.diff(np.maximum.accumulate(codes)) > 0
    first = np.flatnonzero(np.r_[True, steps])
    return codes, first


def _count_unmapped(uniq: dict[str, pa.Array], codes: np.ndarray, todo: np.ndarray,
                    unmapped: dict[str, int]) -> None:
    counts = np.bincount(codes, minlength=len(todo))
    k = len(todo)

    def values(column: str) -> np.ndarray:
        col = uniq.get(column)
        if col is None:
            return np.full(k, "", dtype=object)
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)

    source, medium, ctype = values("source"), values("medium"), values("campaign_type")
    for i in np.flatnonzero(todo):  # one pass per distinct unmapped combination
        key = f"{source[i] or '(not set)'} / {medium[i] or '(not set)'}"
        if ctype[i]:
            key += f" / type {ctype[i]}"
        unmapped[key] = unmapped.get(key, 0) + int(counts[i])
