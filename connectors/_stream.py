"""Reading input files in batches, for every connector that reads files (internal).

:func:`open_input` looks at a file once (format, encoding, delimiter, lines above
the header, header names) and :func:`iter_batches` then yields its rows in batches
of text columns with the record number of every row, so memory stays bounded by the
batch, not the file. Delimited text is read with pyarrow's streaming CSV reader;
Parquet by row groups; JSON lines with pyarrow's streaming JSON reader. The
Salesforce and GA4 connectors look at their CSV files with
:func:`connectors._values.open_csv_strings` instead (their own header rules) and
read them through :func:`iter_batches` too.

Record numbers follow the paths connector: the header is the record after the lines
above it, so in a plain file the first data row is row 2, the line a spreadsheet
shows (unless a quoted field spans lines). Parquet and JSON-lines rows are numbered
from 1.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from attribution.exceptions import SchemaError

DELIMITERS = (",", ";", "\t", "|")
_HEAD_BYTES = 1 << 20
_MAX_PREAMBLE = 30
BATCH_BYTES = 1 << 24
#: read_json keeps date-like columns as text with dtype=False from pandas 3 on, and
#: deprecates ``convert_dates`` there; pandas 2 needs it said
_NO_DATE_PARSING: dict[str, Any] = (
    {"convert_dates": False} if int(pd.__version__.split(".")[0]) < 3 else {})


class NotUtf8(Exception):
    """Invalid UTF-8 found after the first megabyte: read again as Latin-1."""


class NeedSerial(Exception):
    """A row of the wrong width met while reading with threads: read again serially.

    pyarrow only knows the record number of a bad row when it reads on one thread,
    so the fast threaded read gives up at the first one and the caller starts over.
    """


@dataclass
class Input:
    """What :func:`open_input` learned about a file.

    Attributes
    ----------
    path : Path
    format : str
        ``"csv"``, ``"parquet"`` or ``"jsonl"``.
    header : list of str
        Column names as found (made unique: a repeated name gets ``.2``).
    encoding, delimiter : str or None
        For delimited text.
    skip : int
        Lines above the header (titles, blank lines, an Excel ``sep=`` line).
    preamble : list of str
        The text of those lines (a Google Ads title and date range, say).
    invalid : list of (int, str, int)
        Filled while reading: rows of the wrong width (record number, text, fields).
    blank : int
        Filled while reading: rows whose every field is empty (not counted as read).
    """

    path: Path
    format: str
    header: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    skip: int = 0
    preamble: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, int]] = field(default_factory=list)
    blank: int = 0

    @property
    def name(self) -> str:
        """The file name used in ``source_ref``."""
        return self.path.name

    def columns(self) -> dict[str, str]:
        """Canonical name -> header name (the first one wins)."""
        out: dict[str, str] = {}
        for name in self.header:
            out.setdefault(canonical(name), name)
        return out

    def describe(self) -> dict[str, Any]:
        """Return the reading choices, for the manifest entry."""
        out: dict[str, Any] = {"format": self.format}
        if self.format == "csv":
            out.update(encoding=self.encoding, delimiter=self.delimiter)
            if self.skip:
                out["lines_above_header"] = self.skip
        return out


def canonical(name: str) -> str:
    """Return the comparison key of a column name: ``CampaignId`` == ``campaign_id``.

    Case, underscores, spaces and a byte-order mark are ignored.
    """
    return "".join(ch for ch in name.lstrip("\ufeff").lower() if ch.isalnum())


# ----------------------------------------------------------------------------- opening
def file_format(path: Path, head: bytes) -> str:
    """``parquet`` by magic bytes or suffix, ``jsonl`` by suffix, else ``csv``."""
    suffix = path.suffix.lower()
    if head.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


def read_head(path: Path, size: int = _HEAD_BYTES) -> bytes:
    """Read the first ``size`` bytes of a file, with clear errors."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except FileNotFoundError:
        raise SchemaError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SchemaError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise SchemaError(f"{path}: cannot be read ({exc.strerror})") from None


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        quarter = len(head) // 4
        odd = head[1::2].count(0) > quarter or head[0::2].count(0) > quarter
        hint = (" (it looks like UTF-16 without a byte-order mark)" if odd else
                " (it holds NUL bytes: a spreadsheet or Parquet file?)")
        raise SchemaError(f"{path}: cannot be read as text{hint}; save it as CSV "
                          "UTF-8")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def _decode(head: bytes, encoding: str) -> str:
    if encoding == "utf-16":
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="ignore")
    elif encoding == "utf-8":
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    else:
        text = head.decode(encoding)
    return text.lstrip("\ufeff")


def _split(line: str, delimiter: str) -> list[str]:
    return [f.strip().lstrip("\ufeff").strip() for f in
            next(csv.reader([line], delimiter=delimiter), [])]


def open_input(path: str | Path, *, accept: Callable[[set[str]], bool],
               delimiter: str | None = None) -> Input:
    """Look at a file: its format and, for text, encoding, delimiter and header.

    Parameters
    ----------
    path : path
        The file.
    accept : callable
        Takes the canonical names of a candidate header line and says whether it is
        the header; lines above the first accepted line (up to 30) are skipped as
        titles. When no line is accepted, the first non-blank line is the header
        and the caller reports what is missing.
    delimiter : str, optional
        Forces the delimiter of text files.

    Raises
    ------
    SchemaError
        When the file is missing, empty, binary or unreadable.
    """
    path = Path(path)
    head = read_head(path)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    fmt = file_format(path, head)
    if fmt == "parquet":
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as exc:
            raise SchemaError(f"{path}: cannot be read as Parquet "
                              f"({str(exc).splitlines()[0]})") from None
        return Input(path=path, format=fmt, header=list(names))
    if fmt == "jsonl":
        return Input(path=path, format=fmt, header=_json_names(path, head))
    if delimiter is not None and len(delimiter) != 1:
        raise SchemaError(f"{path}: delimiter must be one character; got {delimiter!r}")
    encoding = _encoding(path, head)
    lines = _decode(head, encoding).splitlines()[: _MAX_PREAMBLE + 1]
    candidates = [delimiter] if delimiter else list(DELIMITERS)
    first = None
    for i, line in enumerate(lines):
        raw = line.strip()
        if not raw.strip("".join(DELIMITERS) + " ") or (
                raw.lower().startswith("sep=") and len(raw) == 5):
            continue
        if first is None:
            first = i
        best = None
        for d in candidates:
            fields = _split(line, d)
            if accept({canonical(f) for f in fields}):
                if best is None or len(fields) > len(best[1]):
                    best = (d, fields)
        if best is not None:
            return _text_input(path, encoding, best[0], best[1], i, lines)
    if first is None:
        raise SchemaError(f"{path}: file is empty; expected a header line and rows")
    line = lines[first]
    hinted = next((raw[4] for raw in (ln.strip() for ln in lines[:first])
                   if raw.lower().startswith("sep=") and len(raw) == 5), None)
    d = delimiter or hinted or max(DELIMITERS, key=lambda c: len(_split(line, c)))
    return _text_input(path, encoding, d, _split(line, d), first, lines)


def _text_input(path: Path, encoding: str, delimiter: str, fields: list[str],
                index: int, lines: list[str]) -> Input:
    return Input(path=path, format="csv", header=unique_names(fields),
                 encoding=encoding, delimiter=delimiter, skip=index,
                 preamble=[ln.strip() for ln in lines[:index] if ln.strip()])


def unique_names(header: list[str]) -> list[str]:
    """Make repeated header names unique (``x``, ``x.2``): the first keeps its name."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header):
        name = name or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def wrong_delimiter_hint(inp: Input) -> str:
    """Return a hint when the header reads as one column holding a delimiter."""
    if inp.format != "csv" or len(inp.header) != 1:
        return ""
    others = [d for d in DELIMITERS if d != inp.delimiter and d in inp.header[0]]
    if not others:
        return ""
    shown = "tab" if others[0] == "\t" else repr(others[0])
    return (f"; the header reads as one column with delimiter {inp.delimiter!r} but "
            f"holds {shown}: wrong delimiter?")


def _json_names(path: Path, head: bytes) -> list[str]:
    names: list[str] = []
    for line in head.decode("utf-8", errors="ignore").splitlines()[:100]:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            break
        if isinstance(obj, dict):
            names.extend(k for k in obj if k not in names)
    if not names:
        raise SchemaError(f"{path}: is not JSON lines (one JSON object per line)")
    return names


# ----------------------------------------------------------------------------- reading
@dataclass
class Batch:
    """Rows of one batch: text (or typed) columns by header name, record numbers."""

    table: pa.Table
    rows: np.ndarray


def iter_batches(inp: Input, *, text_columns: list[str] | None = None,
                 batch_bytes: int = BATCH_BYTES, threads: bool = False
                 ) -> Iterator[Batch]:
    """Yield the file's rows in batches.

    Delimited text comes as string columns (empty cells as empty strings); rows
    whose every field is empty are dropped and counted in ``inp.blank``; rows of
    the wrong width go to ``inp.invalid``. Parquet and JSON lines keep their types,
    except ``text_columns``, cast to string.

    With ``threads``, text is parsed on several threads, which is much faster but
    cannot number bad rows: the first row of the wrong width raises
    :class:`NeedSerial` (read again without ``threads``).

    Raises
    ------
    NotUtf8
        When a text file read as UTF-8 turns out not to be (read it as Latin-1).
    NeedSerial
        See ``threads``.
    SchemaError
        When the file cannot be parsed.
    """
    if inp.format == "parquet":
        yield from _parquet_batches(inp, text_columns or [])
    elif inp.format == "jsonl":
        yield from _json_batches(inp, text_columns or [], batch_bytes)
    else:
        yield from _csv_batches(inp, batch_bytes, threads)


def _csv_batches(inp: Input, batch_bytes: int, threads: bool) -> Iterator[Batch]:
    names = inp.header
    invalid = inp.invalid
    unnumbered: list[str] = []

    def on_invalid(row: Any) -> str:
        if row.number is None or row.number < 0:
            unnumbered.append(row.text)
        else:
            invalid.append((int(row.number), row.text, int(row.actual_columns)))
        return "skip"

    encoding = {"utf-8": "utf8"}.get(inp.encoding or "utf-8", inp.encoding)
    try:
        reader = pacsv.open_csv(
            inp.path,
            read_options=pacsv.ReadOptions(use_threads=threads, skip_rows=inp.skip + 1,
                                           column_names=names, encoding=encoding,
                                           block_size=batch_bytes),
            parse_options=pacsv.ParseOptions(delimiter=inp.delimiter,
                                             ignore_empty_lines=False,
                                             newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        _raise_csv(inp, exc)
        return
    except StopIteration:  # pragma: no cover - empty after the header
        return
    first = inp.skip + 2  # record number of the first data row
    seen = 0  # data rows yielded or dropped so far (valid width)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            _raise_csv(inp, exc)
        if unnumbered:
            raise NeedSerial
        n = batch.num_rows
        bad = np.asarray(sorted(r for r, _, _ in invalid), dtype=np.int64)
        v = np.arange(seen, seen + n, dtype=np.int64)
        before = np.searchsorted(bad - np.arange(len(bad)) - first, v, side="right")
        rows = first + v + before
        seen += n
        table = pa.Table.from_batches([batch])
        blank = _blank(table)
        if blank is not None:
            inp.blank += int(blank.sum())
            table = table.filter(pa.array(~blank))
            rows = rows[~blank]
        if table.num_rows:
            yield Batch(table, rows)
    if unnumbered:
        raise NeedSerial
    # rows of the wrong width that are only delimiters and space are blank lines
    real = [(r, t, a) for r, t, a in invalid
            if t.strip((inp.delimiter or ",") + " \t\r\n")]
    inp.blank += len(invalid) - len(real)
    inp.invalid[:] = sorted(real)


def _raise_csv(inp: Input, exc: Exception) -> None:
    message = str(exc).splitlines()[0]
    if inp.encoding == "utf-8" and ("utf8" in message.lower() or "utf-8" in
                                    message.lower()):
        raise NotUtf8 from None
    raise SchemaError(f"{inp.path}: cannot be parsed as delimited text with delimiter "
                      f"{inp.delimiter!r} ({message})") from None


def _blank(table: pa.Table) -> np.ndarray | None:
    """Rows whose every field is empty (None when there are none)."""
    if not table.num_columns:
        return None
    first = pc.equal(pc.utf8_trim_whitespace(table.column(0)), "")
    if not pc.any(first).as_py():
        return None
    rows = pc.indices_nonzero(first)  # only rows empty in the first column
    blank = np.ones(len(rows), dtype=bool)
    for col in table.columns[1:]:
        blank &= pc.equal(pc.utf8_trim_whitespace(col.take(rows)), "").to_numpy(
            zero_copy_only=False)
    out = np.zeros(table.num_rows, dtype=bool)
    out[rows.to_numpy()[blank]] = True
    return out if out.any() else None


def _as_text(table: pa.Table, columns: list[str]) -> pa.Table:
    for name in columns:
        if name not in table.column_names:
            continue
        i = table.column_names.index(name)
        col = table.column(i)
        if pa.types.is_string(col.type):
            continue
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        try:
            col = col.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise SchemaError(f"column {name} has type {col.type}, which cannot be "
                              "read as text") from None
        table = table.set_column(i, pa.field(name, pa.string()), col)
    return table


def _parquet_batches(inp: Input, text_columns: list[str]) -> Iterator[Batch]:
    try:
        pf = pq.ParquetFile(inp.path)
        start = 1
        for batch in pf.iter_batches(batch_size=1 << 20):
            table = pa.Table.from_batches([batch])
            try:
                table = _as_text(table, text_columns)
            except SchemaError as exc:
                raise SchemaError(f"{inp.path}: {exc}") from None
            rows = np.arange(start, start + table.num_rows, dtype=np.int64)
            start += table.num_rows
            yield Batch(table, rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SchemaError(f"{inp.path}: cannot be read as Parquet "
                          f"({str(exc).splitlines()[0]})") from None


def _json_batches(inp: Input, text_columns: list[str], batch_bytes: int
                  ) -> Iterator[Batch]:
    start = 1
    # date-times stay text (the reader would drop their zones); ids may be numbers
    dates = [c for c in text_columns if c in _DATE_HINTS or canonical(c).endswith(
        ("at", "date", "time", "ts"))]
    schema = pa.schema([(c, pa.string()) for c in dates])
    try:
        reader = pajson.open_json(
            inp.path, read_options=pajson.ReadOptions(block_size=batch_bytes),
            parse_options=pajson.ParseOptions(explicit_schema=schema,
                                              unexpected_field_behavior="infer"))
        for batch in reader:
            table = _as_text(pa.Table.from_batches([batch]), text_columns)
            rows = np.arange(start, start + table.num_rows, dtype=np.int64)
            start += table.num_rows
            yield Batch(table, rows)
        return
    except SchemaError as exc:
        raise SchemaError(f"{inp.path}: {exc}") from None
    except pa.ArrowInvalid as exc:
        message = str(exc).splitlines()[0]
        if start > 1 or "changed from" not in message:
            raise SchemaError(f"{inp.path}: cannot be read as JSON lines "
                              f"({message})") from None
    # mixed value types (an id written as a number on some lines and as text on
    # others): read with pandas, every value as text
    try:
        chunks = pd.read_json(inp.path, lines=True, dtype=False, chunksize=1 << 18,
                              **_NO_DATE_PARSING)
        for chunk in chunks:
            table = pa.Table.from_pydict({
                str(c): pa.array([_json_text(v) for v in chunk[c].tolist()],
                                 pa.string())
                for c in chunk.columns})
            rows = np.arange(start, start + table.num_rows, dtype=np.int64)
            start += table.num_rows
            yield Batch(table, rows)
    except ValueError as exc:
        raise SchemaError(f"{inp.path}: cannot be read as JSON lines "
                          f"({str(exc).splitlines()[0]})") from None


_DATE_HINTS = ("ts",)


def _json_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else json.dumps(value)
