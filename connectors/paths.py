"""The ``paths`` connector: aggregated path rows in the style of ChannelAttribution.

A paths file is delimited text (comma, semicolon, tab or pipe) with one row per
distinct path and its counts::

    path,total_conversions,total_conversion_value,total_null
    alpha > beta > gamma,3,300.5,7
    beta,0,0,12

Each valid row becomes at most two *timeless* journeys (DESIGN §2): a converting copy
that stands for ``total_conversions`` won journeys, and a null copy that stands for
``total_null`` journeys that did not convert. Nothing is expanded: the counts become
the journeys' ``weight``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from attribution.exceptions import SchemaError
from attribution.store import JOURNEY_SCHEMA, REJECT_SCHEMA, TOUCH_SCHEMA

__all__ = ["DELIMITERS", "SEPARATORS", "PathsResult", "read_paths"]

SOURCE = "paths"

#: Field delimiters tried, in order of preference, when ``delimiter`` is not given.
DELIMITERS = (",", ";", "\t", "|")

#: Channel separators tried when ``separator`` is not given. The one found in the
#: most paths wins; on a tie the longest wins (``" -> "`` over ``">"``).
SEPARATORS = (" -> ", "->", " > ", ">", " | ", "|", ",", ";")

#: Counts must be whole numbers a float64 represents exactly.
_MAX_COUNT = float(2**53)

_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NON_FINITE = r"(?i)^[+-]?(nan|inf|infinity)$"
_DECIMAL_COMMA = r"^([+-]?[0-9]+),([0-9]+)$"


@dataclass(frozen=True)
class PathsResult:
    """What :func:`read_paths` returns: store tables and a manifest entry.

    Attributes
    ----------
    touches : pyarrow.Table
        In :data:`attribution.store.TOUCH_SCHEMA`, sorted by ``journey_id``, ``seq``.
    journeys : pyarrow.Table
        In :data:`attribution.store.JOURNEY_SCHEMA`, sorted by ``journey_id``.
    rejects : pyarrow.Table
        In :data:`attribution.store.REJECT_SCHEMA`, in file order.
    input : dict
        The manifest entry of the file: ``path``, ``source``, ``rows_read``,
        ``rows_used``, ``rows_looked_up``, ``rows_duplicate``, ``rows_rejected``,
        and the ``delimiter``, ``separator`` and ``encoding`` that were used.
    """

    touches: pa.Table
    journeys: pa.Table
    rejects: pa.Table
    input: dict[str, Any]


def read_paths(
    path: str | os.PathLike[str],
    *,
    delimiter: str | None = None,
    separator: str | None = None,
    path_column: str = "path",
    conversions_column: str = "total_conversions",
    value_column: str = "total_conversion_value",
    null_column: str = "total_null",
) -> PathsResult:
    r"""Read a ChannelAttribution-style file of aggregated paths.

    Each valid row gives a converting journey ``P{row:09d}-c`` when
    ``total_conversions > 0`` (``won=True``, ``weight=total_conversions``,
    ``revenue_amount = total_conversion_value / total_conversions``, so weight
    times amount is the row's value) and a null journey ``P{row:09d}-n`` when
    ``total_null > 0`` (``won=False``, ``weight=total_null``, amounts 0). Both are
    timeless: every timestamp is null, ``pipeline_amount`` is 0, and each channel of
    the path is one touch with ``seq`` its 0-based position.

    ``row`` is the CSV record number with the header as record 1, so the first data
    row is row 2 (the line a spreadsheet shows, unless a quoted field spans lines).
    Touches and rejects carry it in ``source_ref`` as ``"{file name}:{row}"``.
    Rows whose every field is empty (blank lines, ``,,,`` left by spreadsheets) are
    skipped and not counted. A path that appears on several rows is not a duplicate:
    its counts are simply on several rows, and each row is used.

    Numbers may be written ``3``, ``2.0``, ``1e3`` or, in semicolon-delimited files
    whose column holds no ``.``, with a decimal comma (``300,5``). An empty
    ``total_conversion_value`` or ``total_null`` counts as 0; both columns are
    optional.

    Parameters
    ----------
    path : str or os.PathLike
        The file. UTF-8 (with or without a byte-order mark), UTF-16 with a
        byte-order mark, or else Latin-1.
    delimiter : str, optional
        The field delimiter; detected from the header line among ``,``, ``;``, tab
        and ``|`` when not given (an Excel ``sep=;`` first line is honoured).
    separator : str, optional
        What separates channels within a path; detected among :data:`SEPARATORS`
        when not given (the one found in the most paths; the longest on a tie).
        Channel names are stripped of surrounding white space.
    path_column, conversions_column : str, default="path", "total_conversions"
        Names of the required columns.
    value_column, null_column : str, default="total_conversion_value", "total_null"
        Names of the optional columns.

    Returns
    -------
    PathsResult
        ``touches``, ``journeys`` and ``rejects`` tables in the store schemas, and
        the ``input`` manifest entry (``rows_read = rows_used + rows_looked_up +
        rows_duplicate + rows_rejected``).

    Raises
    ------
    SchemaError
        When the file is missing, empty, binary, cannot be parsed, or lacks a
        required column. Bad rows are never raised: they go to ``rejects`` with a
        ``reason`` (empty path, empty channel, a count that is empty, not a number,
        not finite, negative or not whole, a negative value, a value with no
        conversions, or a row with no conversions and no nulls).

    See Also
    --------
    connectors.ingest : Write one or more inputs to a journey store.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "paths.csv"
    >>> _ = f.write_text("path,total_conversions,total_conversion_value,total_null\n"
    ...                  "alpha > beta,2,50,3\n")
    >>> result = read_paths(f)
    >>> result.journeys.column("journey_id").to_pylist()
    ['P000000002-c', 'P000000002-n']
    >>> result.journeys.column("revenue_amount").to_pylist()
    [25.0, 0.0]
    >>> result.touches.column("channel").to_pylist()
    ['alpha', 'beta', 'alpha', 'beta']
    """
    path = Path(path)
    name = path.name
    text, encoding = _read_text(path)
    text, offset, hinted = _strip_preamble(text)
    if not text.strip():
        raise SchemaError(f"{path}: file is empty; expected a header line with columns "
                          f"{path_column}, {conversions_column}")
    header_line = text.split("\n", 1)[0].rstrip("\r")
    required = (path_column, conversions_column)
    if delimiter is None:
        delimiter = hinted or _sniff_delimiter(header_line, required)
    elif len(delimiter) != 1:
        raise SchemaError(f"{path}: delimiter must be one character; got {delimiter!r}")
    if separator is not None and not separator:
        raise SchemaError(f"{path}: separator must not be empty")
    header = next(csv.reader([header_line], delimiter=delimiter))
    found = [h.strip() for h in header]
    missing = [c for c in required if c not in found]
    if missing:
        raise SchemaError(
            f"{path}: missing column(s) {', '.join(missing)} (found: "
            f"{', '.join(found) or 'none'}; delimiter {delimiter!r}); rename the "
            "columns or pass path_column= / conversions_column=", missing)

    twice = sorted({c for c in (*required, value_column, null_column)
                    if found.count(c) > 1})
    if twice:
        raise SchemaError(f"{path}: column(s) {', '.join(twice)} appear more than "
                          f"once in the header (found: {', '.join(found)}); keep one "
                          "of each", twice)

    table, invalid = _parse(path, text, header, delimiter)
    table = table.rename_columns(found)
    rows = _record_numbers(table.num_rows, [n for n, _, _ in invalid]) + offset
    return _build(path, name, table, rows, invalid, offset, encoding=encoding,
                  delimiter=delimiter, separator=separator, path_column=path_column,
                  conversions_column=conversions_column, value_column=value_column,
                  null_column=null_column)


# ------------------------------------------------------------------------ reading text
def _read_text(path: Path) -> tuple[str, str]:
    """Return the decoded text of ``path`` and the encoding that read it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SchemaError(f"{path}: is a directory, expected a paths file") from None
    except OSError as exc:
        raise SchemaError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise SchemaError(f"{path}: starts with a UTF-16 byte-order mark but is "
                              "not UTF-16 text; save it as CSV UTF-8") from None
    if b"\x00" in data[: 1 << 16]:
        raise SchemaError(f"{path}: is not a text file (it holds NUL bytes: a "
                          "spreadsheet or Parquet file?); save it as CSV UTF-8")
    for encoding in ("utf-8", "utf-8-sig"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            break
        if encoding == "utf-8" and text.startswith("\ufeff"):
            continue  # a byte-order mark: read again without it
        return text, encoding
    return data.decode("latin-1"), "latin-1"


def _strip_preamble(text: str) -> tuple[str, int, str | None]:
    """Drop leading blank lines and an Excel ``sep=X`` line.

    Returns the remaining text, the number of lines dropped (added to record numbers)
    and the delimiter the ``sep=`` line names, if any.
    """
    offset = 0
    hinted = None
    while text:
        line, _, rest = text.partition("\n")
        if not line.strip():
            text, offset = rest, offset + 1
            continue
        raw = line.rstrip("\r")
        if hinted is None and raw.lower().startswith("sep=") and len(raw) == 5:
            hinted = raw[4]
            text, offset = rest, offset + 1
            continue
        break
    return text, offset, hinted


def _sniff_delimiter(header_line: str, required: tuple[str, ...]) -> str:
    """Pick the delimiter that splits the header into the most required names."""
    best, best_score = DELIMITERS[0], (-1, -1)
    for candidate in DELIMITERS:
        parsed = next(csv.reader([header_line], delimiter=candidate))
        fields = [f.strip() for f in parsed]
        score = (sum(c in fields for c in required), len(fields))
        if score > best_score:
            best, best_score = candidate, score
    return best


def _parse(path: Path, text: str, header: list[str], delimiter: str
           ) -> tuple[pa.Table, list[tuple[int, str, int]]]:
    """Parse ``text`` with every column as a string; collect rows of the wrong width."""
    invalid: list[tuple[int, str, int]] = []
    expected = len(header)

    def on_invalid(row: Any) -> str:
        # a line of nothing but white space and delimiters is blank, not a bad row
        if row.text.strip(delimiter + " \t\r\n"):
            invalid.append((int(row.number), row.text, int(row.actual_columns)))
        else:
            invalid.append((int(row.number), "", 0))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # serial reading keeps the record numbers of bad rows known
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter,
                                             ignore_empty_lines=False,
                                             newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaError(f"{path}: cannot be parsed as delimited text with delimiter "
                          f"{delimiter!r} ({str(exc).splitlines()[0]})") from None
    if table.num_columns != expected:  # pragma: no cover - defensive
        raise SchemaError(f"{path}: header has {expected} fields but "
                          f"{table.num_columns} columns were read; check the delimiter "
                          "and quoting")
    return table, invalid


def _record_numbers(n_rows: int, invalid_numbers: list[int]) -> np.ndarray:
    """Record numbers (header = 1) of the rows kept, given those of skipped rows."""
    total = n_rows + len(invalid_numbers)
    every = np.arange(2, total + 2, dtype=np.int64)
    kept = np.setdiff1d(every, np.asarray(invalid_numbers, dtype=np.int64),
                        assume_unique=True)
    return kept[:n_rows]


# ------------------------------------------------------------------------ numbers
def _numbers(col: pa.ChunkedArray, *, decimal_comma: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse a string column: values (NaN where unusable), empty, malformed, non-finite.

    Vectorised: the text is matched against a number pattern and only matching
    values are cast, so one bad cell never fails the whole column.
    """
    s = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    if decimal_comma and not pc.any(pc.match_substring(s, ".")).as_py():
        s = pc.replace_substring_regex(s, _DECIMAL_COMMA, r"\1.\2")
    empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
    non_finite = pc.match_substring_regex(s, _NON_FINITE).to_numpy(zero_copy_only=False)
    is_number = pc.match_substring_regex(s, _NUMBER)
    values = pc.cast(pc.if_else(is_number, s, pa.scalar(None, pa.string())),
                     pa.float64())
    values = pc.fill_null(values, np.nan).to_numpy(zero_copy_only=False).astype(float)
    is_number = is_number.to_numpy(zero_copy_only=False)
    non_finite |= is_number & ~np.isfinite(values)  # 1e999
    values[non_finite] = np.nan
    malformed = ~empty & ~is_number & ~non_finite
    return values, empty, malformed, non_finite


# ------------------------------------------------------------------------ building
def _detect_separator(paths: pa.ChunkedArray) -> str:
    """Return the separator found in the most paths (the longest on a tie)."""
    counts = [(int(pc.sum(pc.match_substring(paths, sep)).as_py() or 0), len(sep), -i)
              for i, sep in enumerate(SEPARATORS)]
    best = max(range(len(SEPARATORS)), key=lambda i: counts[i])
    return SEPARATORS[best] if counts[best][0] else " > "


def _build(path: Path, name: str, table: pa.Table, rows: np.ndarray,
           invalid: list[tuple[int, str, int]], offset: int, *, encoding: str,
           delimiter: str, separator: str | None, path_column: str,
           conversions_column: str, value_column: str, null_column: str) -> PathsResult:
    n = table.num_rows
    columns = table.column_names
    # rows of nothing but empty fields are blank lines, not data
    blank = np.ones(n, dtype=bool)
    for c in columns:
        blank &= pc.equal(pc.utf8_trim_whitespace(table.column(c)), "").to_numpy(
            zero_copy_only=False)

    checks: list[tuple[np.ndarray, str]] = []
    raw_paths = pc.utf8_trim_whitespace(table.column(path_column))
    path_empty = pc.equal(raw_paths, "").to_numpy(zero_copy_only=False)
    checks.append((path_empty, f"{path_column} is empty"))
    if separator is None:
        separator = _detect_separator(raw_paths.filter(pa.array(~blank & ~path_empty)))
    split = pc.split_pattern(raw_paths, separator)
    split = split.combine_chunks() if isinstance(split, pa.ChunkedArray) else split
    channels = pc.utf8_trim_whitespace(pc.list_flatten(split))
    offsets = split.offsets
    lists = pa.ListArray.from_arrays(pc.subtract(offsets, offsets[0]), channels)
    parents = pc.list_parent_indices(split).to_numpy(zero_copy_only=False)
    empty_channel = np.zeros(n, dtype=bool)
    empty_channel[parents[pc.equal(channels, "").to_numpy(zero_copy_only=False)]] = True
    checks.append((empty_channel & ~path_empty,
                   f"{path_column} has an empty channel name between separators "
                   f"({separator!r})"))

    decimal_comma = delimiter == ";"
    zeros = np.zeros(n)
    conv, conv_ok = _count(table, conversions_column, checks, required=True,
                           decimal_comma=decimal_comma, whole=True)
    nulls, nulls_ok = (_count(table, null_column, checks, required=False,
                              decimal_comma=decimal_comma, whole=True)
                       if null_column in columns else (zeros, np.ones(n, dtype=bool)))
    value, value_ok = (_count(table, value_column, checks, required=False,
                              decimal_comma=decimal_comma, whole=False)
                       if value_column in columns else (zeros, np.ones(n, dtype=bool)))
    with np.errstate(invalid="ignore"):
        checks.append((conv_ok & value_ok & (conv == 0) & (value > 0),
                       f"{value_column} > 0 with {conversions_column} = 0"))
        checks.append((conv_ok & nulls_ok & (conv == 0) & (nulls == 0),
                       "row has no conversions and no nulls"))

    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    bad &= ~blank
    used = ~bad & ~blank

    # ---- journeys: a converting copy and a null copy per used row, in id order
    conv_rows = np.flatnonzero(used & (conv > 0))
    null_rows = np.flatnonzero(used & (nulls > 0))
    row_of = np.concatenate([conv_rows, null_rows])
    is_null_copy = np.concatenate([np.zeros(len(conv_rows), bool),
                                   np.ones(len(null_rows), bool)])
    order = np.lexsort((is_null_copy, row_of))
    row_of, is_null_copy = row_of[order], is_null_copy[order]
    record = pa.array(rows[row_of])
    padded = pc.utf8_lpad(pc.cast(record, pa.string()), 9, "0")
    suffix = pa.array(np.where(is_null_copy, "-n", "-c").astype(object), pa.string())
    journey_id = pc.binary_join_element_wise("P", padded, suffix, "")
    refs = pc.binary_join_element_wise(name, pc.cast(record, pa.string()), ":")
    m = len(row_of)
    won = ~is_null_copy
    weight = np.where(won, conv[row_of], nulls[row_of]).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        revenue = np.where(won, value[row_of] / np.where(won, conv[row_of], 1.0), 0.0)
    ts_null = pa.nulls(m, JOURNEY_SCHEMA.field("closed_at").type)
    journeys = pa.Table.from_arrays(
        [journey_id, pa.nulls(m, pa.string()), ts_null, ts_null, ts_null,
         pa.array(won), pa.array(np.zeros(m)), pa.array(revenue.astype(np.float64)),
         pa.nulls(m, pa.string()), pa.array(weight)],
        schema=JOURNEY_SCHEMA)

    # ---- touches: the path's channels for every journey, seq = position
    per_journey = lists.take(pa.array(row_of, pa.int64()))
    lengths = pc.list_value_length(per_journey).to_numpy(zero_copy_only=False)
    owner = pc.list_parent_indices(per_journey)
    flat = pc.list_flatten(per_journey)
    k = len(flat)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    seq = np.arange(k, dtype=np.int64) - starts
    touches = pa.Table.from_arrays(
        [journey_id.take(owner), pa.nulls(k, TOUCH_SCHEMA.field("ts").type),
         pa.array(seq, pa.int64()), pa.nulls(k, pa.string()), flat.cast(pa.string()),
         pa.nulls(k, pa.string()), pa.nulls(k, pa.string()), pa.nulls(k, pa.string()),
         pa.repeat(pa.scalar(SOURCE, pa.string()), k),
         refs.take(owner)],
        schema=TOUCH_SCHEMA)

    rejects = _rejects(name, table, rows, bad, checks, invalid, offset,
                       expected=len(columns))
    n_blank = int(blank.sum()) + sum(1 for _, text, _ in invalid if not text)
    rows_read = n + len(invalid) - n_blank
    entry = {
        "path": str(path),
        "source": SOURCE,
        "rows_read": rows_read,
        "rows_used": int(used.sum()),
        "rows_looked_up": 0,
        "rows_duplicate": 0,
        "rows_rejected": rejects.num_rows,
        "delimiter": delimiter,
        "separator": separator,
        "encoding": encoding,
    }
    return PathsResult(touches=touches, journeys=journeys, rejects=rejects, input=entry)


def _count(table: pa.Table, column: str, checks: list[tuple[np.ndarray, str]], *,
           required: bool, decimal_comma: bool, whole: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """Parse a count or value column, append its checks; return values and validity."""
    values, empty, malformed, non_finite = _numbers(table.column(column),
                                                    decimal_comma=decimal_comma)
    if required:
        checks.append((empty, f"{column} is empty"))
    else:
        values = np.where(empty, 0.0, values)
    checks.append((malformed, f"{column} is not a number"))
    checks.append((non_finite, f"{column} is not finite"))
    with np.errstate(invalid="ignore"):
        negative = values < 0
        checks.append((negative, f"{column} is negative"))
        ok = np.isfinite(values) & ~negative
        if whole:
            fraction = ok & (values != np.floor(values))
            checks.append((fraction, f"{column} must be a whole number"))
            too_large = ok & ~fraction & (values > _MAX_COUNT)
            checks.append((too_large, f"{column} is too large"))
            ok &= ~fraction & ~too_large
    return np.where(ok, values, 0.0), ok


def _rejects(name: str, table: pa.Table, rows: np.ndarray, bad: np.ndarray,
             checks: list[tuple[np.ndarray, str]], invalid: list[tuple[int, str, int]],
             offset: int, *, expected: int) -> pa.Table:
    """Reject rows in file order: ``raw`` is the row as a JSON object of its fields.

    A row with the wrong number of fields has no columns to name, so its ``raw`` is
    the line's text as a JSON string.
    """
    entries: list[tuple[int, str, str]] = []
    where = np.flatnonzero(bad)
    if len(where):
        raw_rows = table.take(pa.array(where)).to_pylist()
        for i, raw in zip(where, raw_rows, strict=True):
            reason = "; ".join(msg for mask, msg in checks if mask[i])
            entries.append((int(rows[i]), json.dumps(raw, ensure_ascii=False), reason))
    for number, text, actual in invalid:
        if text:
            hint = "; check its quotes" if '"' in text else ""
            entries.append((number + offset, json.dumps(text, ensure_ascii=False),
                            f"row has {actual} fields, expected {expected}{hint}"))
    entries.sort(key=lambda e: e[0])
    return pa.Table.from_arrays(
        [pa.array([SOURCE] * len(entries), pa.string()),
         pa.array([f"{name}:{row}" for row, _, _ in entries], pa.string()),
         pa.array([raw for _, raw, _ in entries], pa.string()),
         pa.array([reason for _, _, reason in entries], pa.string())],
        schema=REJECT_SCHEMA)
