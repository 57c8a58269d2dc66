"""Tests of the ``paths`` connector and of ``ingest`` (every input written here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.exceptions import SchemaError, TouchlineError
from attribution.store import (
    JOURNEY_SCHEMA,
    REJECT_SCHEMA,
    TOUCH_SCHEMA,
    open_store,
)
from connectors import SOURCES, ingest, read_paths

HEADER = "path,total_conversions,total_conversion_value,total_null"

# Valid rows (file rows 2-5). Expected, worked out by hand:
#   row 2: converting copy weight 3, amount 300.5 / 3; null copy weight 7
#   row 3: null copy only, weight 12
#   row 4: converting copy only, weight 2, amount 40 / 2 = 20
#   row 5: converting weight 1 amount 0.25, null copy weight 1
GOOD = [
    "alpha > beta > gamma,3,300.5,7",
    "beta,0,0,12",
    "gamma > alpha,2.0,40,0",
    "delta > delta > beta > alpha,1,0.25,1",
]
GOOD_VALUE = 300.5 + 0 + 40 + 0.25
GOOD_CONVERSIONS = 3 + 0 + 2 + 1
GOOD_NULLS = 7 + 12 + 0 + 1

# One bad row per rule, with the reason it must get.
BAD = [
    (",1,10,1", "path is empty"),
    ("alpha >  > beta,1,10,1", "path has an empty channel name between separators"),
    ("alpha,2.5,10,1", "total_conversions must be a whole number"),
    ("alpha,-1,10,1", "total_conversions is negative"),
    ("alpha,lots,10,1", "total_conversions is not a number"),
    ("alpha,NaN,10,1", "total_conversions is not finite"),
    ("alpha,,10,1", "total_conversions is empty"),
    ("alpha,1,-10,1", "total_conversion_value is negative"),
    ("alpha,1,inf,1", "total_conversion_value is not finite"),
    ("alpha,1,ten,1", "total_conversion_value is not a number"),
    ("alpha,1,10,1.5", "total_null must be a whole number"),
    ("alpha,1,10,-2", "total_null is negative"),
    ("alpha,0,10,4", "total_conversion_value > 0 with total_conversions = 0"),
    ("alpha,0,0,0", "row has no conversions and no nulls"),
    ("alpha,1,10", "row has 3 fields, expected 4"),
]


def write(tmp_path: Path, name: str, lines: list[str], *, encoding: str = "utf-8",
          newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def check_manifest_counts(entry: dict) -> None:
    assert entry["rows_read"] == (entry["rows_used"] + entry["rows_looked_up"]
                                  + entry["rows_duplicate"] + entry["rows_rejected"])


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    return write(tmp_path, "paths.csv", [HEADER, *GOOD])


# ------------------------------------------------------------------------ valid rows
def test_journeys_weights_and_amounts(good_file: Path) -> None:
    result = read_paths(good_file)
    assert result.journeys.schema == JOURNEY_SCHEMA
    assert result.touches.schema == TOUCH_SCHEMA
    assert result.rejects.schema == REJECT_SCHEMA
    j = result.journeys.to_pydict()
    assert j["journey_id"] == ["P000000002-c", "P000000002-n", "P000000003-n",
                               "P000000004-c", "P000000005-c", "P000000005-n"]
    assert j["weight"] == [3, 7, 12, 2, 1, 1]
    assert j["won"] == [True, False, False, True, True, False]
    assert j["revenue_amount"] == pytest.approx([300.5 / 3, 0, 0, 20.0, 0.25, 0])
    assert j["pipeline_amount"] == [0.0] * 6
    for col in ("lead_created_at", "opportunity_created_at", "closed_at",
                "account_id", "currency"):
        assert result.journeys.column(col).null_count == 6


def test_totals_reconcile_with_the_file(good_file: Path) -> None:
    j = read_paths(good_file).journeys.to_pandas()
    won = j[j["won"]]
    assert math.isclose((won["weight"] * won["revenue_amount"]).sum(), GOOD_VALUE,
                        rel_tol=1e-12)
    assert won["weight"].sum() == GOOD_CONVERSIONS
    assert j.loc[~j["won"], "weight"].sum() == GOOD_NULLS


def test_touches_are_timeless_with_positions(good_file: Path) -> None:
    t = read_paths(good_file).touches
    assert t.column("ts").null_count == t.num_rows
    rows = t.to_pylist()

    def of(jid: str) -> list[tuple[int, str]]:
        return [(r["seq"], r["channel"]) for r in rows if r["journey_id"] == jid]

    assert of("P000000002-c") == [(0, "alpha"), (1, "beta"), (2, "gamma")]
    assert of("P000000005-n") == [(0, "delta"), (1, "delta"), (2, "beta"), (3, "alpha")]
    assert {r["source"] for r in rows} == {"paths"}
    assert {r["source_ref"] for r in rows if r["journey_id"].startswith("P000000004")} \
        == {"paths.csv:4"}
    # both copies of a row carry the same touches
    n_copy = [r["channel"] for r in rows if r["journey_id"] == "P000000002-n"]
    assert n_copy == ["alpha", "beta", "gamma"]
    assert t.num_rows == 3 + 3 + 1 + 2 + 4 + 4


def test_manifest_entry(good_file: Path) -> None:
    entry = read_paths(good_file).input
    assert entry == {
        "path": str(good_file), "source": "paths", "rows_read": 4, "rows_used": 4,
        "rows_looked_up": 0, "rows_duplicate": 0, "rows_rejected": 0,
        "delimiter": ",", "separator": " > ", "encoding": "utf-8",
    }


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", "a > b,4", "c,0"])
    result = read_paths(f)
    assert result.journeys.column("journey_id").to_pylist() == ["P000000002-c"]
    assert result.journeys.column("revenue_amount").to_pylist() == [0.0]
    assert result.rejects.column("reason").to_pylist() == [
        "row has no conversions and no nulls"]


def test_custom_column_names(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["journey,conv,value,nulls", "a > b,1,5,2"])
    result = read_paths(f, path_column="journey", conversions_column="conv",
                        value_column="value", null_column="nulls")
    assert result.journeys.column("weight").to_pylist() == [1, 2]


# ------------------------------------------------------------------------ detection
@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"),
                                                 ("|", "pipe")])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str, name: str) -> None:
    lines = [line.replace(",", delimiter) for line in [HEADER, *GOOD]]
    result = read_paths(write(tmp_path, f"{name}.txt", lines))
    assert result.input["delimiter"] == delimiter
    assert result.journeys.column("weight").to_pylist() == [3, 7, 12, 2, 1, 1]
    assert result.rejects.num_rows == 0


def test_semicolon_file_with_decimal_comma(tmp_path: Path) -> None:
    f = write(tmp_path, "eu.csv", ["path;total_conversions;total_conversion_value",
                                   "a > b;2;300,5", "c;1;7"])
    amounts = read_paths(f).journeys.column("revenue_amount").to_pylist()
    assert amounts == [150.25, 7.0]


def test_separator_without_spaces(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", "a>b>c,1", "b>a,2", "c,1"])
    result = read_paths(f)
    assert result.input["separator"] == ">"
    assert result.touches.column("channel").to_pylist() == ["a", "b", "c", "b", "a",
                                                            "c"]


def test_arrow_separator_beats_its_own_tail(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", "a -> b,1", "c->d,1"])
    result = read_paths(f)
    assert result.input["separator"] == "->"
    assert result.touches.column("channel").to_pylist() == ["a", "b", "c", "d"]


def test_given_separator_and_delimiter(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path|total_conversions", "a / b + c|1"])
    result = read_paths(f, delimiter="|", separator="+")
    assert result.touches.column("channel").to_pylist() == ["a / b", "c"]


def test_quoted_comma_separated_paths(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", '"a, b, c",1'])
    assert read_paths(f).touches.column("channel").to_pylist() == ["a", "b", "c"]


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"), ("latin-1", "latin-1")])
def test_encodings(tmp_path: Path, encoding: str, expected: str) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", "café > b,1"],
              encoding=encoding, newline="\r\n")
    result = read_paths(f)
    assert result.input["encoding"] == expected
    assert result.touches.column("channel").to_pylist() == ["café", "b"]


def test_excel_sep_line_and_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["sep=;", "path;total_conversions", "a;1", "",
                                  ";;", "b;x"])
    result = read_paths(f)
    assert result.input["delimiter"] == ";"
    assert result.input["rows_read"] == 2  # blank and all-empty rows are not rows
    assert result.touches.column("source_ref").to_pylist() == ["p.csv:3"]
    assert result.rejects.column("source_ref").to_pylist() == ["p.csv:6"]


# ------------------------------------------------------------------------ bad rows
def test_every_bad_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    lines = [HEADER, *GOOD, *(row for row, _ in BAD)]
    f = write(tmp_path, "mixed.csv", lines)
    store = ingest([("paths", f)], tmp_path / "store")
    rejects = pq.read_table(store / "rejects.parquet").to_pylist()
    assert len(rejects) == len(BAD)
    for reject, (row, reason), number in zip(rejects, BAD, range(len(GOOD) + 2, 99),
                                             strict=False):
        assert reject["source"] == "paths"
        assert reject["source_ref"] == f"mixed.csv:{number}"
        assert reject["reason"].startswith(reason), (row, reject["reason"])
        raw = json.loads(reject["raw"])
        if isinstance(raw, dict):
            assert ",".join(raw.values()) == row
        else:  # a row of the wrong width keeps its text
            assert raw == row
    entry = json.loads((store / "manifest.json").read_text())["inputs"][0]
    check_manifest_counts(entry)
    assert entry["rows_read"] == len(GOOD) + len(BAD)
    assert entry["rows_used"] == len(GOOD)
    assert entry["rows_rejected"] == len(BAD)
    # the good rows are untouched by the bad ones
    j = open_store(store).journeys
    won = j[j["won"]]
    assert math.isclose((won["weight"] * won["revenue_amount"]).sum(), GOOD_VALUE)


def test_a_row_with_several_faults_lists_them_all(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", [HEADER, ",x,-1,0.5"])
    reason = read_paths(f).rejects.column("reason")[0].as_py()
    assert reason == ("path is empty; total_conversions is not a number; "
                      "total_null must be a whole number; "
                      "total_conversion_value is negative")


# ------------------------------------------------------------------------ file errors
def test_missing_column_names_file_column_and_found(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,conversions,total_null", "a,1,0"])
    with pytest.raises(SchemaError) as info:
        read_paths(f)
    message = str(info.value)
    assert "\n" not in message
    assert str(f) in message
    assert "missing column(s) total_conversions" in message
    assert "found: path, conversions, total_null" in message
    assert info.value.failure_cases == ["total_conversions"]


def test_duplicate_column(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,path,total_conversions", "a,b,1"])
    with pytest.raises(SchemaError, match=r"column\(s\) path appear more than once"):
        read_paths(f)


def test_unbalanced_quote_is_a_reject(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path,total_conversions", "a,1", '"b,2', "c,3"])
    result = read_paths(f)
    assert result.rejects.column("reason").to_pylist() == [
        "row has 1 fields, expected 2; check its quotes"]
    assert result.rejects.column("source_ref").to_pylist() == ["p.csv:3"]
    check_manifest_counts(result.input)


@pytest.mark.parametrize("content", [b"", b"\n \r\n\t\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "empty.csv"
    f.write_bytes(content)
    with pytest.raises(SchemaError, match=r"empty\.csv: file is empty"):
        read_paths(f)


def test_binary_and_missing_files(tmp_path: Path) -> None:
    f = tmp_path / "book.xlsx"
    f.write_bytes(b"PK\x03\x04\x00\x00\x08\x00")
    with pytest.raises(SchemaError, match=r"book\.xlsx: is not a text file"):
        read_paths(f)
    with pytest.raises(SchemaError, match=r"nope\.csv: no such file"):
        read_paths(tmp_path / "nope.csv")


def test_header_only_gives_an_empty_store(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", [HEADER])
    store = ingest([("paths", f)], tmp_path / "store")
    assert open_store(store).columnar().n_journeys == 0
    manifest = json.loads((store / "manifest.json").read_text())
    check_manifest_counts(manifest["inputs"][0])


# ------------------------------------------------------------------------ ingest
def test_reingest_is_byte_identical(tmp_path: Path, good_file: Path) -> None:
    bad = write(tmp_path, "bad.csv", [HEADER, *(row for row, _ in BAD)])
    inputs = [("paths", good_file), ("paths", bad)]
    files = ("touches.parquet", "journeys.parquet", "rejects.parquet")
    a = ingest(inputs, tmp_path / "a")
    first = {f: (a / f).read_bytes() for f in files}
    manifest = json.loads((a / "manifest.json").read_text())
    ingest(inputs, tmp_path / "a")  # over the existing store
    b = ingest(inputs, tmp_path / "b")
    for store in (a, b):
        assert {f: (store / f).read_bytes() for f in files} == first
        again = json.loads((store / "manifest.json").read_text())
        assert again.pop("written_at") and manifest.get("written_at")
        assert again == {k: v for k, v in manifest.items() if k != "written_at"}


def test_partitioned_layout(tmp_path: Path, good_file: Path) -> None:
    store = ingest([("paths", good_file)], tmp_path / "store", partitions=2)
    assert sorted(p.name for p in (store / "touches").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"]
    assert sorted(p.name for p in (store / "journeys").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"]
    assert not (store / "touches.parquet").exists()
    assert (store / "rejects.parquet").exists()
    single = read_paths(good_file)
    c = open_store(store).columnar()
    assert c.n_journeys == single.journeys.num_rows
    assert c.n_touches == single.touches.num_rows
    assert c.timeless.all()
    # a journey's touches live in the same part as the journey
    for part in ("part-00000.parquet", "part-00001.parquet"):
        jids = set(pq.read_table(store / "journeys" / part).column("journey_id")
                   .to_pylist())
        tids = set(pq.read_table(store / "touches" / part).column("journey_id")
                   .to_pylist())
        assert tids == jids


def test_colliding_inputs_are_prefixed(tmp_path: Path, good_file: Path) -> None:
    other = write(tmp_path, "other.csv", ["path,total_conversions", "zeta,5"])
    store = ingest([("paths", good_file), ("paths", other)], tmp_path / "store")
    s = open_store(store)
    ids = s.journeys["journey_id"].tolist()
    assert "1:P000000002-c" in ids and "2:P000000002-c" in ids
    assert len(ids) == len(set(ids)) == 7
    assert s.journeys["weight"].sum() == GOOD_CONVERSIONS + GOOD_NULLS + 5
    manifest = json.loads((store / "manifest.json").read_text())
    assert [e["path"] for e in manifest["inputs"]] == [str(good_file), str(other)]
    assert all(len(e["sha256"]) == 64 for e in manifest["inputs"])


def test_inputs_as_dicts_and_options(tmp_path: Path) -> None:
    f = write(tmp_path, "p.csv", ["path|total_conversions", "a + b|1"])
    store = ingest([{"kind": "paths", "path": f, "separator": "+"}], tmp_path / "s1",
                   options={"paths": {"delimiter": "|"}})
    assert open_store(store).touches["channel"].tolist() == ["a", "b"]


def test_unknown_kind_lists_sources(tmp_path: Path, good_file: Path) -> None:
    with pytest.raises(TouchlineError, match=r"unknown source kind 'hubspot'; "
                                             r"supported: .*paths"):
        ingest([("hubspot", good_file)], tmp_path / "store")
    assert not (tmp_path / "store").exists()
    assert "paths" in SOURCES


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"options": {"paths": {"sep": ">"}}}, "takes no option.*sep.*accepted: delimiter"),
    ({"partitions": 0}, "partitions must be a whole number >= 1"),
    ({"partitions": True}, "partitions must be a whole number >= 1"),
])
def test_bad_ingest_arguments(tmp_path: Path, good_file: Path, kwargs: dict,
                              message: str) -> None:
    with pytest.raises(TouchlineError, match=message):
        ingest([("paths", good_file)], tmp_path / "store", **kwargs)


def test_no_inputs(tmp_path: Path) -> None:
    with pytest.raises(TouchlineError, match="at least one input"):
        ingest([], tmp_path / "store")


# ------------------------------------------------------------------------ property
ROW = st.tuples(
    st.lists(st.sampled_from(["email", "search", "social", "direct"]), min_size=1,
             max_size=6),
    st.integers(0, 50), st.integers(0, 10**6), st.integers(0, 50))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_counts_and_values_reconcile(tmp_path_factory: pytest.TempPathFactory,
                                     rows: list) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    lines = [HEADER] + [f"{' > '.join(p)},{c},{v / 100 if c else 0},{n}"
                        for p, c, v, n in rows]
    result = read_paths(write(tmp, "p.csv", lines))
    check_manifest_counts(result.input)
    usable = [(p, c, v / 100 if c else 0, n) for p, c, v, n in rows if c or n]
    assert result.input["rows_used"] == len(usable)
    j = result.journeys.to_pandas()
    won = j[j["won"]]
    assert won["weight"].sum() == sum(c for _, c, _, _ in usable)
    assert j.loc[~j["won"], "weight"].sum() == sum(n for _, _, _, n in usable)
    assert np.isclose((won["weight"] * won["revenue_amount"]).sum(),
                      sum(v for _, _, v, _ in usable), rtol=1e-12)
    touches_per_copy = sum(len(p) * ((c > 0) + (n > 0)) for p, c, _, n in usable)
    assert result.touches.num_rows == touches_per_copy
