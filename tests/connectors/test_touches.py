"""The touches connector: flat touch logs, journeys files, dirt, dedupe, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attribution import open_store
from attribution.exceptions import SchemaError
from connectors import ingest
from connectors.touches import read_touches
from touchline.cli import main

from . import REAL, needs_real


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    f = tmp_path / name
    f.write_bytes(text.encode(encoding))
    return f


def check_identity(entry: dict[str, Any]) -> None:
    assert entry["rows_read"] == (entry["rows_used"] + entry["rows_looked_up"]
                                  + entry["rows_duplicate"] + entry["rows_rejected"])


def reasons(result: Any) -> dict[str, str]:
    return dict(zip(result.rejects.column("source_ref").to_pylist(),
                    result.rejects.column("reason").to_pylist(), strict=True))


LOG = ("journey_id,ts,person_id,channel,campaign,content,interaction\n"
       "J1,2026-01-05T09:00:00Z,P1,Paid Search,Brand,,ad_click\n"
       "J1,2026-01-06T10:30:00Z,P1,Email,Nurture,ebook,email_click\n"
       "J2,2026-01-07T11:00:00Z,P2,Events,RSA,,event_attended\n")


# --------------------------------------------------------------------------- basics
def test_store_named_log_with_derived_journeys(tmp_path: Path) -> None:
    result = read_touches(write(tmp_path, "log.csv", LOG))
    t = result.touches
    assert t.column("journey_id").to_pylist() == ["J1", "J1", "J2"]
    assert t.column("channel").to_pylist() == ["Paid Search", "Email", "Events"]
    assert t.column("seq").to_pylist() == [2, 3, 4]
    assert t.column("source").to_pylist() == ["touches"] * 3
    assert t.column("source_ref").to_pylist() == ["log.csv:2", "log.csv:3", "log.csv:4"]
    assert t.column("content").to_pylist() == [None, "ebook", None]
    j = result.journeys.to_pylist()
    assert [r["journey_id"] for r in j] == ["J1", "J2"]
    assert all(not r["won"] and r["pipeline_amount"] == 0 and r["weight"] == 1
               for r in j)
    assert result.derived_journeys.to_pylist() == ["J1", "J2"]
    entry = result.inputs[0]
    assert entry["rows_read"] == 3 and entry["rows_used"] == 3
    assert entry["journeys_derived"] == 2
    check_identity(entry)


def test_column_map_applies_to_log_and_journeys_file(tmp_path: Path) -> None:
    log = write(tmp_path, "events.csv",
                "Opportunity ID;event_time;utm_source;utm_medium;acct\n"
                "006A;2026-01-05 09:00;google;cpc;001A\n"
                "006A;2026-01-06 09:00;(direct);(none);001A\n"
                "LEAD9;2026-01-06 09:00;bing;organic;001B\n")
    opps = write(tmp_path, "opps.csv",
                 "opportunity_id,created,closed,is_won,amount,revenue,currency\n"
                 "006A,2026-01-10,02/15/2026,TRUE,\"$12,500.00\",\"$12,500.00\",usd\n")
    result = read_touches(log, journeys=opps, column_map={
        "journey_id": "opportunity_id", "ts": "event_time", "account_id": "acct",
        "opportunity_created_at": "created", "closed_at": "closed", "won": "is_won",
        "pipeline_amount": "amount", "revenue_amount": "revenue"})
    assert result.touches.column("channel").to_pylist() == [
        "Paid Search", "Direct", "Organic Search"]
    journeys = {r["journey_id"]: r for r in result.journeys.to_pylist()}
    assert journeys["006A"]["won"] is True
    assert journeys["006A"]["pipeline_amount"] == 12500.0
    assert journeys["006A"]["currency"] == "USD"
    assert journeys["006A"]["closed_at"].isoformat() == "2026-02-15T00:00:00+00:00"
    assert journeys["LEAD9"]["won"] is False
    assert journeys["LEAD9"]["account_id"] == "001B"
    assert result.derived_journeys.to_pylist() == ["LEAD9"]
    assert [e["role"] for e in result.inputs] == ["touches", "journeys"]
    for entry in result.inputs:
        check_identity(entry)


def test_timeless_log_is_ordered_by_row(tmp_path: Path) -> None:
    result = read_touches(write(tmp_path, "log.csv", "journey_id,channel\nA,x\nA,y\n"))
    assert result.touches.column("ts").null_count == 2
    assert result.touches.column("seq").to_pylist() == [2, 3]


def test_given_seq_is_kept_and_bad_seq_rejected(tmp_path: Path) -> None:
    result = read_touches(write(tmp_path, "log.csv",
                                "journey_id,channel,seq\nA,x,7\nA,y,\nA,z,1.5\n"))
    assert result.touches.column("seq").to_pylist() == [7, 3]
    assert reasons(result) == {"log.csv:4": "seq is not a whole number"}


def test_parquet_log(tmp_path: Path) -> None:
    f = tmp_path / "log.parquet"
    pq.write_table(pa.table({
        "journey_id": [1, 1], "ts": pa.array([0, 60_000_000], pa.timestamp("us")),
        "channel": ["Email", "Direct"]}), f)
    result = read_touches(f, tz="America/New_York")
    t = result.touches
    assert t.column("journey_id").to_pylist() == ["1", "1"]
    assert t.column("source_ref").to_pylist() == ["log.parquet:1", "log.parquet:2"]
    # naive Parquet timestamps are local time in --tz
    assert t.column("ts")[0].as_py().isoformat() == "1970-01-01T05:00:00+00:00"
    check_identity(result.inputs[0])


def test_json_lines_log_with_mixed_id_types(tmp_path: Path) -> None:
    lines = [{"journey_id": 12, "ts": "2026-01-01T00:00:00+02:00", "channel": "Email"},
             {"journey_id": "X2", "ts": "2026-01-01 00:00:00", "channel": "Direct"}]
    f = write(tmp_path, "log.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    t = read_touches(f).touches
    assert t.column("journey_id").to_pylist() == ["12", "X2"]
    assert [v.isoformat() for v in t.column("ts").to_pylist()] == [
        "2025-12-31T22:00:00+00:00", "2026-01-01T00:00:00+00:00"]


# --------------------------------------------------------------------------- dirt
def test_utf8_bom_is_read(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "\ufeff" + LOG)
    result = read_touches(f)
    assert result.touches.num_rows == 3 and result.inputs[0]["encoding"] == "utf-8"


def test_latin1_is_read(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,channel,campaign\nA,Email,Café\n",
              "latin-1")
    result = read_touches(f)
    assert result.touches.column("campaign").to_pylist() == ["Café"]
    assert result.inputs[0]["encoding"] == "latin-1"


def test_utf16_tab_separated_is_read(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", LOG.replace(",", "\t"), "utf-16")
    result = read_touches(f)
    assert result.touches.num_rows == 3
    assert result.inputs[0]["encoding"] == "utf-16"
    assert result.inputs[0]["delimiter"] == "\t"


def test_blank_rows_are_skipped_and_not_counted(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,channel\nA,x\n\n,\n  \nB,y\n")
    result = read_touches(f)
    assert result.touches.column("source_ref").to_pylist() == ["log.csv:2", "log.csv:6"]
    assert result.inputs[0]["rows_read"] == 2


def test_row_of_wrong_width_is_a_reject(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,channel,campaign\nA,x,c\nB,y\nC,z,c\n")
    result = read_touches(f)
    assert result.rejects.num_rows == 1
    row = result.rejects.to_pylist()[0]
    assert row["reason"].startswith("row has 2 fields, expected 3")
    assert row["source_ref"] == "log.csv:3"
    assert result.touches.column("source_ref").to_pylist() == ["log.csv:2", "log.csv:4"]
    check_identity(result.inputs[0])


def test_dates_in_the_formats_exports_use(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv",
              "journey_id,ts,channel\n"
              "A,2026-01-31,x\nA,2026-01-31 13:45:07.5,x\nA,01/31/2026 1:45 PM,x\n"
              "A,46053.5,x\nA,2026-01-31T13:45:00+01:00,x\n")
    ts = [v.isoformat() for v in read_touches(f).touches.column("ts").to_pylist()]
    assert ts == ["2026-01-31T00:00:00+00:00", "2026-01-31T13:45:07.500000+00:00",
                  "2026-01-31T13:45:00+00:00", "2026-01-31T12:00:00+00:00",
                  "2026-01-31T12:45:00+00:00"]


def test_bad_and_day_first_dates_are_rejected(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv",
              "journey_id,ts,channel\nA,31/01/2026,x\nA,yesterday,x\nA,,x\nA,2026-01-31,x\n")
    result = read_touches(f)
    got = reasons(result)
    assert got["log.csv:2"].startswith("ts is not a date-time (expected ISO 8601, "
                                       "MM/DD/YYYY or an Excel serial day number)")
    assert got["log.csv:3"].startswith("ts is not a date-time")
    assert got["log.csv:4"] == "ts is empty"
    raw = json.loads(result.rejects.column("raw")[0].as_py())
    assert raw == {"journey_id": "A", "ts": "31/01/2026", "channel": "x"}
    check_identity(result.inputs[0])


def test_naive_timestamps_are_utc_unless_tz(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,ts,channel\nA,2026-07-01 12:00,x\n")
    utc = read_touches(f).touches.column("ts")[0].as_py().isoformat()
    berlin = read_touches(f, tz="Europe/Berlin").touches.column("ts")[0].as_py()
    assert utc == "2026-07-01T12:00:00+00:00"
    assert berlin.isoformat() == "2026-07-01T10:00:00+00:00"


def test_time_skipped_by_a_clock_change_is_rejected(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,ts,channel\nA,2026-03-29 02:30,x\n"
                                   "A,2026-03-29 03:30,x\n")
    result = read_touches(f, tz="Europe/Berlin")
    assert result.touches.num_rows == 1
    assert "clock change" in reasons(result)["log.csv:2"]


def test_empty_journey_id_is_rejected(tmp_path: Path) -> None:
    result = read_touches(write(tmp_path, "log.csv", "journey_id,channel\n ,x\nA,y\n"))
    assert reasons(result) == {"log.csv:2": "journey_id is empty"}


def test_missing_column_names_it_and_lists_found(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "opp,when,channel\nA,2026-01-01,x\n")
    with pytest.raises(SchemaError) as err:
        read_touches(f)
    assert str(err.value) == (f"{f}: missing column journey_id (found: opp, when, "
                              "channel); name it in the touch log or map yours with "
                              "--map journey_id=COLUMN")
    with pytest.raises(SchemaError, match=r"missing column event_time \(mapped to ts; "
                                          r"found: opp, when, channel\)"):
        read_touches(f, column_map={"journey_id": "opp", "ts": "event_time"})


def test_missing_channel_and_grouping_columns(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,ts\nA,2026-01-01\n")
    with pytest.raises(SchemaError, match="missing column channel, and no source, "
                                          "medium, campaign or campaign_type"):
        read_touches(f)


def test_wrong_delimiter_given(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", LOG)
    with pytest.raises(SchemaError, match="the header reads as one column with "
                                          "delimiter ';' but holds ',': wrong "
                                          "delimiter"):
        read_touches(f, delimiter=";")


def test_rows_in_another_delimiter_than_the_header(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", "journey_id,channel,campaign\nA;x;c\nB;y;c\n")
    with pytest.raises(SchemaError, match=r"no row has the header's 3 fields \(row 2 "
                                          r"has 1\); is the delimiter ',' right"):
        read_touches(f)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "log.csv"
    f.write_bytes(content)
    with pytest.raises(SchemaError, match="file is empty"):
        read_touches(f)


def test_binary_file_and_utf16_without_bom(tmp_path: Path) -> None:
    f = tmp_path / "log.xlsx"
    f.write_bytes(b"PK\x03\x04\x00\x00binary\x00stuff")
    with pytest.raises(SchemaError, match=r"cannot be read as text.*NUL bytes"):
        read_touches(f)
    g = tmp_path / "log16.csv"
    g.write_bytes(LOG.encode("utf-16-le"))
    with pytest.raises(SchemaError, match="looks like UTF-16 without a byte-order"):
        read_touches(g)


def test_unknown_time_zone_and_column_map_key(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", LOG)
    with pytest.raises(SchemaError, match="unknown time zone 'Mars/Olympus'"):
        read_touches(f, tz="Mars/Olympus")
    with pytest.raises(SchemaError, match="colour is not a store column"):
        read_touches(f, column_map={"colour": "x"})


# --------------------------------------------------------------------------- journeys
def test_journeys_file_dirt(tmp_path: Path) -> None:
    log = write(tmp_path, "log.csv", "journey_id,channel\nJ1,x\nJ2,x\nJ3,x\nJ4,x\n")
    jf = write(tmp_path, "journeys.csv",
               "journey_id,won,closed_at,revenue_amount,weight\n"
               "J1,true,2026-02-01,\"$1,000\",1\n"
               "J2,maybe,,5,1\n"
               "J3,TRUE,,5,1\n"
               "J1,true,2026-02-01,\"$1,000\",1\n"
               "J4,false,,-3,0\n"
               "J4,false,,0,1\n")
    result = read_touches(log, journeys=jf)
    got = reasons(result)
    assert got["journeys.csv:3"] == "won is not true/false"
    assert got["journeys.csv:4"] == ("won journey has no closed_at (a won deal needs "
                                     "its close date)")
    assert got["journeys.csv:6"] == ("revenue_amount is negative; weight is not a "
                                     "whole number >= 1")
    # touches of rejected journeys are rejected too, never given a derived journey
    assert got["log.csv:3"].startswith("its journey was rejected in journeys.csv")
    assert got["log.csv:4"].startswith("its journey was rejected in journeys.csv")
    ids = result.journeys.column("journey_id").to_pylist()
    assert ids == ["J1", "J4"]  # J4's second row is good; the exact repeat of J1 drops
    touches_entry, journeys_entry = result.inputs
    assert journeys_entry["rows_duplicate"] == 1
    assert journeys_entry["rows_rejected"] == 3
    check_identity(touches_entry)
    check_identity(journeys_entry)


def test_conflicting_journey_rows(tmp_path: Path) -> None:
    log = write(tmp_path, "log.csv", "journey_id,channel\nJ1,x\n")
    jf = write(tmp_path, "journeys.csv",
               "journey_id,pipeline_amount\nJ1,100\nJ1,200\n")
    result = read_touches(log, journeys=jf)
    assert reasons(result) == {"journeys.csv:3": "journey_id is also on row 2 with "
                                                 "other values (the first row is kept)"}
    assert result.journeys.column("pipeline_amount").to_pylist() == [100.0]


# --------------------------------------------------------------------------- ingest
def test_touches_that_arrive_twice_are_kept_once(tmp_path: Path) -> None:
    a = write(tmp_path, "a.csv", "journey_id,ts,person_id,channel,campaign\n"
                                 "J1,2026-01-01T00:00:00Z,P1,Email,A\n"
                                 "J1,2026-01-02T00:00:00Z,P1,Email,A\n"
                                 "J1,2026-01-02T00:00:00Z,P1,Email,A\n")
    b = write(tmp_path, "b.csv", "journey_id,ts,person_id,channel,campaign\n"
                                 "J1,2026-01-02 00:00:00,P1,Email,A\n"
                                 "J1,2026-01-02T00:00:00Z,P2,Email,A\n"
                                 "J3,2026-01-03,P3,Direct,\n")
    store = open_store(ingest([("touches", a), ("touches", b)], tmp_path / "store"))
    assert store.touches["source_ref"].tolist() == ["a.csv:2", "a.csv:3", "b.csv:3",
                                                    "b.csv:4"]
    entries = {Path(e["path"]).name: e for e in store.manifest["inputs"]}
    assert entries["a.csv"]["rows_duplicate"] == 1  # its own repeat
    assert entries["b.csv"]["rows_duplicate"] == 1  # the same touch as a.csv:3
    for entry in entries.values():
        check_identity(entry)
    assert store.journeys["journey_id"].tolist() == ["J1", "J3"]


def test_derived_journey_yields_to_a_journeys_file(tmp_path: Path) -> None:
    web = write(tmp_path, "web.csv", "journey_id,ts,channel\nJ1,2026-01-01,Direct\n")
    crm = write(tmp_path, "crm.csv", "journey_id,ts,channel\nJ1,2026-01-05,Events\n")
    jf = write(tmp_path, "journeys.csv", "journey_id,won,closed_at,revenue_amount\n"
                                         "J1,true,2026-02-01,500\n")
    store = open_store(ingest([("touches", web),
                               {"kind": "touches", "path": crm, "journeys": jf}],
                              tmp_path / "store"))
    assert store.journeys[["journey_id", "won"]].values.tolist() == [["J1", True]]
    assert store.touches["channel"].tolist() == ["Direct", "Events"]


def test_reingest_is_byte_identical(tmp_path: Path) -> None:
    f = write(tmp_path, "log.csv", LOG + "J2,bad,P2,Events,,,\n")
    one = open_store(ingest([("touches", f)], tmp_path / "s1")).input_hashes()
    two = open_store(ingest([("touches", f)], tmp_path / "s2")).input_hashes()
    assert one == two


def test_large_log_is_read_in_batches(tmp_path: Path) -> None:
    n = 60_000
    rows = "".join(f"J{i // 7},2026-01-01T00:{i % 60:02d}:00Z,Email\n"
                   for i in range(n))
    rows += "BAD ROW\n"
    f = write(tmp_path, "log.csv", "journey_id,ts,channel\n" + rows)
    from connectors import _stream

    batches = list(_stream.iter_batches(
        _stream.open_input(f, accept=lambda names: "journeyid" in names),
        batch_bytes=1 << 16))
    assert len(batches) > 10  # streamed, not read at once
    result = read_touches(f)  # the bad row makes the reader go serial, numbers exact
    assert result.touches.num_rows == n
    assert reasons(result) == {f"log.csv:{n + 2}": "row has 1 fields, expected 3"}
    assert result.touches.column("source_ref")[-1].as_py() == f"log.csv:{n + 1}"


# --------------------------------------------------------------------------- real files
@needs_real
def test_flattened_ga4_export_as_a_touch_log(tmp_path: Path) -> None:
    f = REAL / "ga4" / "fivetran_flattened" / "event_data.csv"
    result = read_touches(f, column_map={
        "journey_id": "user_pseudo_id", "ts": "timestamp", "person_id": "user_id",
        "source": "param_source", "medium": "param_medium",
        "campaign": "param_campaign", "interaction": "name"})
    entry = result.inputs[0]
    assert entry["rows_read"] == 6
    check_identity(entry)
    t = result.touches.to_pylist()
    assert t[0]["channel"] == "Organic Search"  # medium organic
    assert t[0]["interaction"] == "purchase"
    assert t[0]["ts"].isoformat() == "2024-09-10T12:35:00+00:00"
    assert all(r["channel"] for r in t)
    assert sum(result.unmapped.values()) == sum(
        r["channel"] == "Unassigned" for r in t)


# --------------------------------------------------------------------------- CLI
def test_cli_ingest_touches_with_map_journeys_and_tz(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write(tmp_path, "events.csv", "opp,when,channel\nO1,2026-07-01 12:00,Email\n")
    jf = write(tmp_path, "opps.csv", "opp,won,closed_at,revenue_amount\n"
                                     "O1,true,2026-07-30,100\n")
    code = main(["ingest", "--source", "touches", str(log), "--map", "journey_id=opp",
                 "--map", "ts=when", "--journeys", str(jf), "--tz", "Europe/Berlin",
                 "--out", str(tmp_path / "store")])
    assert code == 0
    store = open_store(tmp_path / "store")
    assert store.touches["ts"].iloc[0].isoformat() == "2026-07-01T10:00:00+00:00"
    assert store.journeys["won"].tolist() == [True]
    assert "1 journeys, 1 touches" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--map", "journey_id"],
     "--map 'journey_id': write it as STORE_COLUMN=YOUR_COLUMN"),
    (["--journeys", "j.csv", "--source", "touches", "x.csv"],
     "--journeys goes with exactly one --source touches PATH"),
])
def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          argv: list[str], message: str) -> None:
    log = write(tmp_path, "log.csv", LOG)
    code = main(["ingest", "--source", "touches", str(log), *argv,
                 "--out", str(tmp_path / "store")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_cli_bad_file_is_one_line(tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    log = write(tmp_path, "log.csv", "opp,channel\nA,x\n")
    code = main(["ingest", "--source", "touches", str(log), "--out",
                 str(tmp_path / "store")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == (f"Error: {log}: missing column journey_id (found: opp, channel); "
                      "name it in the touch log or map yours with --map "
                      "journey_id=COLUMN")
    assert not (tmp_path / "store").exists()
