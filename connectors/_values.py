"""Shared reading and parsing for the CRM and web connectors (internal).

Everything here is vectorised over a column: a value that cannot be parsed marks
its row invalid, and the caller turns invalid rows into rejects with a reason; no
value is ever guessed silently.

- :func:`read_csv_strings` reads a delimited export with every column as text, keeps
  the record number of every row (the header is record 1) and tells blank rows and
  rows of the wrong width apart; :func:`open_csv_strings` looks at such a file for
  :func:`connectors._stream.iter_batches` to read it a batch at a time instead.
- :func:`parse_timestamps` reads ISO dates and date-times, ``MM/DD/YYYY`` (with an
  optional time and AM/PM) and Excel serial day numbers.
- :func:`parse_amounts` reads money with thousands separators, currency symbols or
  codes and accounting parentheses.
- :func:`parse_bools` reads ``true``/``false`` in the spellings exports use.
- :class:`Rejects` collects rejected rows as :data:`attribution.store.REJECT_SCHEMA`.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from attribution.exceptions import SchemaError
from attribution.store import REJECT_SCHEMA

from ._stream import (
    Input,
    NotUtf8,
    canonical,
    iter_batches,
    read_head,
    unique_names,
)

__all__ = [
    "CsvTable",
    "Rejects",
    "as_latin1",
    "canonical",
    "open_csv_strings",
    "parse_amounts",
    "parse_bools",
    "parse_timestamps",
    "read_csv_strings",
]

_DELIMITERS = (",", ";", "\t", "|")
_US_MICROS_PER_DAY = 86_400_000_000

#: Excel serial day numbers accepted as dates: 1960-01-01 to 2099-12-31. Outside
#: this range a bare number is more likely a mistake than a date, and is rejected.
EXCEL_SERIAL_RANGE = (21_916, 73_050)
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")

_ISO = (r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
        r"(?:[T ](?P<h>\d{1,2}):(?P<mi>\d{2})"
        r"(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
        r"\s*(?:(?P<z>Z|UTC|GMT)|(?P<zs>[+-])(?P<zh>\d{2}):?(?P<zm>\d{2}))?$")
_US = (r"^(?P<mo>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
       r"(?:,?\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?\s*(?P<ap>[AaPp][Mm])?)?$")
_EXCEL = r"^\d{5}(?:\.\d+)?$"

_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


# ----------------------------------------------------------------------------- CSV
@dataclass
class CsvTable:
    """A delimited file read with every column as text.

    Attributes
    ----------
    table : pyarrow.Table
        One string column per header field (original names), blank rows removed.
    rows : numpy.ndarray
        The record number of each row of ``table`` (the header is record 1; a quoted
        field spanning lines counts once).
    invalid : list of (int, str, int)
        Rows of the wrong width: record number, text, number of fields found.
    blank : int
        Rows whose every field is empty (skipped, not counted as read).
    encoding, delimiter : str
        What was used to read the file.
    """

    path: Path
    table: pa.Table
    rows: np.ndarray
    invalid: list[tuple[int, str, int]] = field(default_factory=list)
    blank: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","

    @property
    def columns(self) -> dict[str, str]:
        """Canonical name -> original name of every column (first one wins)."""
        out: dict[str, str] = {}
        for name in self.table.column_names:
            out.setdefault(canonical(name), name)
        return out

    def column(self, key: str) -> pa.ChunkedArray | None:
        """Return the column whose canonical name is ``key``, or None."""
        name = self.columns.get(key)
        return None if name is None else self.table.column(name)

    @property
    def rows_read(self) -> int:
        """Data rows read: kept rows plus rows of the wrong width."""
        return self.table.num_rows + len(self.invalid)


def sniff_encoding(path: Path, head: bytes) -> str:
    """Return the encoding to try first: UTF-16 by its byte-order mark, else UTF-8."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise SchemaError(f"{path}: is not a text file (it holds NUL bytes: a "
                          "spreadsheet or Parquet file?); save it as CSV UTF-8")
    return "utf-8"


def _decode_head(head: bytes, encoding: str) -> str:
    if encoding == "utf-16":
        return head[: len(head) // 2 * 2].decode("utf-16", errors="ignore")
    text = head.decode("utf-8", errors="ignore") if encoding == "utf-8" else \
        head.decode(encoding)
    return text.lstrip("\ufeff")


def header_lines(text: str) -> tuple[int, list[str]]:
    """Lines before the header (blank lines, an Excel ``sep=`` line) and the rest."""
    lines = text.splitlines()
    skip = 0
    for line in lines:
        raw = line.strip()
        if not raw.strip(",;\t|") or (raw.lower().startswith("sep=") and len(raw) == 5):
            skip += 1
            continue
        break
    return skip, lines[skip:]


def sniff_delimiter(header_line: str, expected: tuple[str, ...] = ()) -> str:
    """Pick the delimiter that splits the header into the most fields.

    When ``expected`` canonical names are given, the delimiter finding most of them
    wins first.
    """
    best, best_score = _DELIMITERS[0], (-1, -1)
    for candidate in _DELIMITERS:
        fields = next(csv.reader([header_line], delimiter=candidate))
        keys = {canonical(f) for f in fields}
        score = (sum(k in keys for k in expected), len(fields))
        if score > best_score:
            best, best_score = candidate, score
    return best


def read_header(path: str | os.PathLike[str]) -> list[str]:
    """Return the column names of a delimited file, as :func:`read_csv_strings` does.

    Raises
    ------
    SchemaError
        When the file is missing, empty or binary.
    """
    path = Path(path)
    head = read_head(path, 1 << 16)
    if not head.strip():
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    text = _decode_head(head, sniff_encoding(path, head))
    _, lines = header_lines(text)
    if not lines:
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    header = next(csv.reader([lines[0]], delimiter=sniff_delimiter(lines[0])))
    return [h.lstrip("\ufeff").strip() for h in header]


def open_csv_strings(path: str | os.PathLike[str], *, skip_rows: int | None = None,
                     delimiter: str | None = None, expected: tuple[str, ...] = ()
                     ) -> Input:
    """Look at a delimited file as :func:`read_csv_strings` reads it, rows unread.

    Finds the encoding to try first, the lines above the header, the delimiter and
    the header names (made unique); :func:`connectors._stream.iter_batches` then
    reads the rows in batches, every column as text. When it raises
    :class:`~connectors._stream.NotUtf8`, read again from :func:`as_latin1`.

    Parameters and Raises are those of :func:`read_csv_strings`.
    """
    path = Path(path)
    head = read_head(path, 1 << 16)
    if not head.strip():
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    encoding = sniff_encoding(path, head)
    text = _decode_head(head, encoding)
    found_skip, lines = header_lines(text)
    if not lines:
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    skip = found_skip if skip_rows is None else skip_rows
    header_line = lines[0] if skip_rows is None else text.splitlines()[skip]
    if delimiter is None:
        delimiter = sniff_delimiter(header_line, expected)
    header = next(csv.reader([header_line], delimiter=delimiter))
    header = [h.lstrip("\ufeff").strip() for h in header]
    if not any(header):
        raise SchemaError(f"{path}: the header line is empty")
    return Input(path=path, format="csv", header=unique_names(header),
                 encoding=encoding, delimiter=delimiter, skip=skip)


def as_latin1(inp: Input) -> Input:
    """Return ``inp`` to be read again from the start as Latin-1 (after NotUtf8)."""
    return replace(inp, encoding="latin-1", invalid=[], blank=0)


def read_csv_strings(path: str | os.PathLike[str], *, skip_rows: int | None = None,
                     delimiter: str | None = None, expected: tuple[str, ...] = ()
                     ) -> CsvTable:
    """Read a delimited text file with every column as a string.

    The encoding is UTF-8 (with or without a byte-order mark), UTF-16 with a
    byte-order mark, or else Latin-1. Leading blank lines and an Excel ``sep=X`` line
    are skipped. Rows whose every field is empty are blank and dropped; rows with the
    wrong number of fields are kept aside in ``invalid``. The file is read as
    :func:`open_csv_strings` and :func:`connectors._stream.iter_batches` read it a
    batch at a time; callers that need not hold the whole text use those.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    skip_rows : int, optional
        Lines above the header (detected when not given).
    delimiter : str, optional
        Detected from the header among ``,``, ``;``, tab and ``|`` when not given.
    expected : tuple of str, default=()
        Canonical column names expected in the header (help delimiter detection).

    Returns
    -------
    CsvTable

    Raises
    ------
    SchemaError
        When the file is missing, empty, binary or cannot be parsed.
    """
    inp = open_csv_strings(path, skip_rows=skip_rows, delimiter=delimiter,
                           expected=expected)
    try:
        batches = list(iter_batches(inp))
    except NotUtf8:
        inp = as_latin1(inp)
        batches = list(iter_batches(inp))
    if batches:
        table = pa.concat_tables([b.table for b in batches])
        rows = np.concatenate([b.rows for b in batches])
    else:
        table = pa.table({name: pa.array([], pa.string()) for name in inp.header})
        rows = np.zeros(0, dtype=np.int64)
    return CsvTable(path=inp.path, table=table, rows=rows, invalid=inp.invalid,
                    blank=inp.blank, encoding=inp.encoding or "utf-8",
                    delimiter=inp.delimiter or ",")


# ----------------------------------------------------------------------------- values
def _trimmed(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], pa.string())
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(col, ""))


def _ints(struct: pa.StructArray, name: str) -> np.ndarray:
    """Return a named regex group as int64, -1 where absent."""
    part = struct.field(name)
    filled = pc.if_else(pc.equal(pc.fill_null(part, ""), ""), "-1", part)
    return pc.cast(pc.fill_null(filled, "-1"), pa.int64()).to_numpy(
        zero_copy_only=False)


class _Parsed:
    """What parsing a column of text gives every parser: ``ok`` and ``empty``."""

    ok: np.ndarray
    empty: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        """Neither empty nor parsed."""
        return ~self.ok & ~self.empty


@dataclass
class Timestamps(_Parsed):
    """Parsed timestamps of a column.

    Attributes
    ----------
    us : numpy.ndarray
        Microseconds since the epoch, UTC (0 where not ``ok``).
    ok : numpy.ndarray
        Parsed successfully.
    empty : numpy.ndarray
        The cell was empty (not an error by itself).
    date_only : numpy.ndarray
        The value had no time of day.
    """

    us: np.ndarray
    ok: np.ndarray
    empty: np.ndarray
    date_only: np.ndarray

    def to_arrow(self, valid: np.ndarray | None = None) -> pa.Array:
        """As a ``timestamp[us, UTC]`` array, null where not ``ok`` (and ``valid``)."""
        mask = self.ok if valid is None else self.ok & valid
        return pa.array(self.us, pa.int64(), mask=~mask).cast(
            pa.timestamp("us", tz="UTC"))


def parse_timestamps(col: pa.Array | pa.ChunkedArray, *, tz: str | None = None
                     ) -> Timestamps:
    """Parse dates and date-times as exports write them, vectorised.

    Accepted: ISO ``2024-01-31``, ``2024-01-31 13:45[:07[.123]]``, with ``T`` and a
    zone (``Z``, ``+01:00``, ``+0100``, ``UTC``); US ``1/31/2024`` and
    ``1/31/2024 1:45 PM`` (always month first: ``31/01/2024`` is rejected, never
    read day first); Excel serial day numbers (``45322`` or ``45322.5``) between
    1960 and 2099. A value without a zone is taken as UTC, or as local time in
    ``tz`` when given (times that do not exist or are ambiguous there are
    rejected).

    Parameters
    ----------
    col : pyarrow.Array or ChunkedArray
        Text values.
    tz : str, optional
        IANA zone of values written without one.

    Returns
    -------
    Timestamps
    """
    s = _trimmed(col)
    empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
    fast = _parse_iso_fast(s, empty, tz)
    if fast is not None and fast.ok.sum() == (~empty).sum():
        return fast
    if fast is None:
        return _parse_general(s, empty, tz)
    # most values were plain ISO; the general parser reads only the others
    rest = np.flatnonzero(~empty & ~fast.ok)
    other = _parse_general(s.take(pa.array(rest)), np.zeros(len(rest), bool), tz)
    fast.us[rest] = other.us
    fast.ok[rest] = other.ok
    fast.date_only[rest] = other.date_only
    return fast


def _parse_general(s: pa.Array, empty: np.ndarray, tz: str | None) -> Timestamps:
    """Parse every accepted shape with regular expressions (see parse_timestamps)."""
    n = len(s)
    us = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    date_only = np.zeros(n, dtype=bool)
    naive = np.zeros(n, dtype=bool)
    for pattern in (_ISO, _US):
        matched = pc.extract_regex(s, pattern)
        valid = matched.is_valid().to_numpy(zero_copy_only=False) & ~ok
        if not valid.any():
            continue
        names = [matched.type.field(i).name for i in range(matched.type.num_fields)]
        y, mo, d = _ints(matched, "y"), _ints(matched, "mo"), _ints(matched, "d")
        h, mi = _ints(matched, "h"), _ints(matched, "mi")
        sec = _ints(matched, "s")
        no_time = h < 0
        h, mi, sec = np.maximum(h, 0), np.maximum(mi, 0), np.maximum(sec, 0)
        frac = np.zeros(n, dtype=np.int64)
        if "f" in names:
            f = pc.fill_null(matched.field("f"), "")
            padded = pc.utf8_slice_codeunits(pc.utf8_rpad(f, 6, "0"), 0, 6)
            frac = pc.cast(pc.if_else(pc.equal(f, ""), "0", padded),
                           pa.int64()).to_numpy(zero_copy_only=False)
        offset_min = np.zeros(n, dtype=np.int64)
        has_zone = np.zeros(n, dtype=bool)
        if "z" in names:
            z = pc.fill_null(matched.field("z"), "")
            zs = pc.fill_null(matched.field("zs"), "")
            has_zone = (pc.not_equal(z, "").to_numpy(zero_copy_only=False)
                        | pc.not_equal(zs, "").to_numpy(zero_copy_only=False))
            sign = np.where(pc.equal(zs, "-").to_numpy(zero_copy_only=False), -1, 1)
            zh, zm = np.maximum(_ints(matched, "zh"), 0), np.maximum(_ints(matched,
                                                                            "zm"), 0)
            offset_min = sign * (zh * 60 + zm)
        if "ap" in names:
            ap = pc.utf8_lower(pc.fill_null(matched.field("ap"), "")).to_numpy(
                zero_copy_only=False).astype(str)
            is_ap = ap != ""
            bad_hour = is_ap & ((h < 1) | (h > 12))
            h = np.where(is_ap & (h == 12), 0, h)
            h = np.where(ap == "pm", h + 12, h)
            valid &= ~bad_hour
        month_ok = (mo >= 1) & (mo <= 12)
        y_safe = np.where(valid & month_ok, y, 1970)
        mo_safe = np.where(valid & month_ok, mo, 1)
        months = (y_safe - 1970) * 12 + (mo_safe - 1)
        first = months.astype("datetime64[M]").astype("datetime64[D]")
        nxt = (months + 1).astype("datetime64[M]").astype("datetime64[D]")
        day = first + np.maximum(d - 1, 0).astype("timedelta64[D]")
        good = (valid & month_ok & (d >= 1) & (day < nxt) & (h < 24) & (mi < 60)
                & (sec < 60))
        value = (day.astype("datetime64[us]").astype(np.int64)
                 + ((h * 60 + mi) * 60 + sec) * 1_000_000 + frac
                 - offset_min * 60_000_000)
        us = np.where(good, value, us)
        ok |= good
        date_only |= good & no_time
        naive |= good & ~has_zone
    excel = pc.match_substring_regex(s, _EXCEL).to_numpy(zero_copy_only=False) & ~ok
    if excel.any():
        serial = pc.cast(pc.if_else(pa.array(excel), s, "0"), pa.float64()).to_numpy(
            zero_copy_only=False)
        inside = excel & (serial >= EXCEL_SERIAL_RANGE[0]) & (
            serial <= EXCEL_SERIAL_RANGE[1])
        base = _EXCEL_EPOCH.astype("datetime64[us]").astype(np.int64)
        value = base + np.round(serial * _US_MICROS_PER_DAY).astype(np.int64)
        us = np.where(inside, value, us)
        ok |= inside
        date_only |= inside & (serial == np.floor(serial))
        naive |= inside
    if tz is not None and (naive & ok).any():
        local = pd.DatetimeIndex(us[naive & ok].astype("datetime64[us]"))
        utc = local.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        values = utc.as_unit("us").asi8  # NaT as the smallest int64
        is_nat = np.asarray(utc.isna())
        where = np.flatnonzero(naive & ok)
        us[where] = np.where(is_nat, 0, values)
        ok[where[is_nat]] = False
    return Timestamps(us=np.where(ok, us, 0), ok=ok, empty=empty, date_only=date_only)


_ISO_ZONED = r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)$"
_ISO_NAIVE = r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?)?$"


def _real_dates(values: pa.Array) -> np.ndarray:
    """Whether each ``YYYY-MM-DD...`` value names a day that exists."""
    def part(start: int, stop: int) -> np.ndarray:
        return pc.cast(pc.utf8_slice_codeunits(values, start, stop), pa.int64()
                       ).to_numpy(zero_copy_only=False)

    y, m, d = part(0, 4), part(5, 7), part(8, 10)
    month_ok = (m >= 1) & (m <= 12)
    months = (np.where(month_ok, y, 1970) - 1970) * 12 + np.where(month_ok, m, 1) - 1
    length = ((months + 1).astype("datetime64[M]").astype("datetime64[D]")
              - months.astype("datetime64[M]").astype("datetime64[D]")).astype(int)
    return month_ok & (d >= 1) & (d <= length)


def _parse_iso_fast(s: pa.Array, empty: np.ndarray, tz: str | None
                    ) -> Timestamps | None:
    """Arrow's own ISO 8601 cast of the values in plain ISO shape; else None.

    Values with a zone (``2026-01-31T10:00:00.000Z``) and, without ``tz``, values
    without one (``2026-01-31``, ``2026-01-31 10:00:00``) are cast in one pass each;
    values of any other shape are left not ``ok`` for the general parser. None when
    a value of ISO shape is not a real date (``2026-02-30``): the general parser
    then reads the whole column and says which.
    """
    n = len(s)
    us = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    date_only = np.zeros(n, dtype=bool)
    shapes = [(_ISO_ZONED, pa.timestamp("us", tz="UTC"))]
    if tz is None:
        shapes.append((_ISO_NAIVE, pa.timestamp("us")))
    for pattern, typ in shapes:
        hit = pc.match_substring_regex(s, pattern).to_numpy(zero_copy_only=False)
        if not hit.any():
            continue
        where = np.flatnonzero(hit)
        values = s.take(pa.array(where))
        real = _real_dates(values)
        if not real.all():  # 2026-02-30: left to the general parser, which rejects it
            where, values = where[real], values.filter(pa.array(real))
        try:
            parsed = pc.cast(values, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        us[where] = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)
        ok[where] = True
        date_only[where] = pc.equal(pc.utf8_length(values), 10).to_numpy(
            zero_copy_only=False)
    if not ok.any():
        return None
    return Timestamps(us=us, ok=ok, empty=empty, date_only=date_only)


def date_hint(column: str) -> str:
    """Return the reason for a value of ``column`` that is not a date."""
    return (f"{column} is not a date (expected ISO 2024-01-31, MM/DD/YYYY or an "
            "Excel serial day number)")


_AMOUNT_CORE = (r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^-?\.\d+$"
                r"|^-?\d+(?:\.\d+)?[eE][+-]?\d+$")


@dataclass
class Amounts(_Parsed):
    """Parsed money values: ``values`` (0 where not ``ok``), ``ok``, ``empty``."""

    values: np.ndarray
    ok: np.ndarray
    empty: np.ndarray


def parse_amounts(col: pa.Array | pa.ChunkedArray) -> Amounts:
    """Parse money: ``1,234.50``, ``$1,234.50``, ``USD 1234.5``, ``(200)``, ``1.2E+06``.

    Currency symbols (``$ € £ ¥``) and a three-letter code before or after the number
    are dropped, commas are read as thousands separators only where they group three
    digits, and accounting parentheses make the value negative. A decimal comma
    (``1.234,50``) is rejected rather than guessed.

    Parameters
    ----------
    col : pyarrow.Array or ChunkedArray
        Text values.

    Returns
    -------
    Amounts
    """
    s = _trimmed(col)
    empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
    paren = pc.match_substring_regex(s, r"^\(.*\)$")
    core = pc.replace_substring_regex(s, r"^\(|\)$", "")
    core = pc.replace_substring_regex(core, r"^[A-Za-z]{3}\s*|\s*[A-Za-z]{3}$", "")
    core = pc.replace_substring_regex(core, r"[\s$€£¥]", "")
    good = pc.match_substring_regex(core, _AMOUNT_CORE)
    digits = pc.replace_substring(core, ",", "")
    values = pc.cast(pc.if_else(good, digits, "0"), pa.float64()).to_numpy(
        zero_copy_only=False)
    values = np.where(paren.to_numpy(zero_copy_only=False), -values, values)
    ok = good.to_numpy(zero_copy_only=False) & np.isfinite(values)
    return Amounts(values=np.where(ok, values, 0.0), ok=ok, empty=empty)


@dataclass
class Bools(_Parsed):
    """Parsed booleans: ``values`` (False where not ``ok``), ``ok``, ``empty``."""

    values: np.ndarray
    ok: np.ndarray
    empty: np.ndarray


def parse_bools(col: pa.Array | pa.ChunkedArray) -> Bools:
    """Parse ``true/false``, ``TRUE/FALSE``, ``1/0``, ``yes/no`` (any case)."""
    s = pc.utf8_lower(_trimmed(col))
    true = pc.is_in(s, pa.array(_TRUE)).to_numpy(zero_copy_only=False)
    false = pc.is_in(s, pa.array(_FALSE)).to_numpy(zero_copy_only=False)
    empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
    return Bools(values=true, ok=true | false, empty=empty)


def text(col: pa.ChunkedArray | pa.Array | None, n: int) -> pa.Array:
    """Return trimmed text with empty cells as null (all null when absent)."""
    if col is None:
        return pa.nulls(n, pa.string())
    s = _trimmed(col)
    return pc.if_else(pc.equal(s, ""), pa.scalar(None, pa.string()), s)


# ----------------------------------------------------------------------------- rejects
class Rejects:
    """Collect rejected rows of one file: record numbers, raw values, reasons.

    Parameters
    ----------
    source : str
        The connector name written to ``rejects.source``.
    name : str
        The file name used in ``source_ref`` (``name:row``).
    """

    def __init__(self, source: str, name: str) -> None:
        self.source = source
        self.name = name
        self._parts: list[tuple[np.ndarray, list[str], list[str]]] = []

    def add_rows(self, table: pa.Table, rows: np.ndarray, mask: np.ndarray,
                 reasons: np.ndarray | str) -> int:
        """Reject the rows of ``table`` where ``mask``; ``raw`` is a JSON object."""
        where = np.flatnonzero(mask)
        if not len(where):
            return 0
        raw = [json.dumps(r, ensure_ascii=False)
               for r in table.take(pa.array(where)).to_pylist()]
        if isinstance(reasons, str):
            why = [reasons] * len(where)
        else:
            why = [str(x) for x in np.asarray(reasons, dtype=object)[where]]
        self._parts.append((rows[where], raw, why))
        return len(where)

    def add_invalid(self, invalid: list[tuple[int, str, int]], expected: int) -> int:
        """Reject rows of the wrong width (``raw`` is the line as a JSON string)."""
        if not invalid:
            return 0
        numbers = np.asarray([n for n, _, _ in invalid], dtype=np.int64)
        raw = [json.dumps(t, ensure_ascii=False) for _, t, _ in invalid]
        why = [f"row has {a} fields, expected {expected}"
               + ("; check its quotes" if '"' in t else "") for _, t, a in invalid]
        self._parts.append((numbers, raw, why))
        return len(invalid)

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._parts)

    def table(self) -> pa.Table:
        """Return the rejects in record order, in :data:`REJECT_SCHEMA`."""
        if not self._parts:
            return REJECT_SCHEMA.empty_table()
        rows = np.concatenate([p[0] for p in self._parts])
        raw = [x for p in self._parts for x in p[1]]
        why = [x for p in self._parts for x in p[2]]
        order = np.argsort(rows, kind="stable")
        refs = [f"{self.name}:{rows[i]}" for i in order]
        return pa.Table.from_arrays(
            [pa.array([self.source] * len(order), pa.string()),
             pa.array(refs, pa.string()),
             pa.array([raw[i] for i in order], pa.string()),
             pa.array([why[i] for i in order], pa.string())],
            schema=REJECT_SCHEMA)


def reasons_of(n: int, checks: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Join the messages of every failed check per row ("; "), empty when none."""
    out = np.full(n, "", dtype=object)
    for mask, message in checks:
        if mask.any():
            has = out[mask] != ""
            joined = np.where(has, out[mask] + "; " + message, message)
            out[mask] = joined
    return out
