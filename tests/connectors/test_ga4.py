"""Tests of the ``ga4`` connector and of identity across ``salesforce`` + ``ga4``
(small exports written here; the real BigQuery rows read as they are)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from attribution.exceptions import SchemaError
from attribution.store import JOURNEY_SCHEMA, TOUCH_MEMORY_SCHEMA, open_store
from connectors import ingest, read_ga4

from . import REAL, needs_real
from .test_salesforce import FILES, write_org

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, in seconds


def param(key: str, value: object, slot: str = "string_value") -> dict:
    slots = {"string_value": None, "int_value": None, "float_value": None,
             "double_value": None}
    slots[slot] = value
    return {"key": key, "value": slots}


def event(user: str | None, session: int | None, seconds: int, name: str = "page_view",
          *, params: list[dict] | None = None, user_id: str | None = None,
          traffic: tuple[str, str, str] = ("(direct)", "(none)", "(direct)"),
          collected: dict | None = None, ecommerce: dict | None = None,
          numbers: bool = False) -> dict:
    """A BigQuery export row (INT64 as strings unless ``numbers``)."""
    us = (T0 + seconds) * 1_000_000
    p = list(params or [])
    if session is not None:
        p.insert(0, param("ga_session_id", session if numbers else str(session),
                          "int_value"))
    return {
        "event_date": "20260101", "event_timestamp": us if numbers else str(us),
        "event_name": name, "event_params": p, "user_id": user_id,
        "user_pseudo_id": user, "traffic_source": {
            "name": traffic[2], "medium": traffic[1], "source": traffic[0]},
        "collected_traffic_source": collected, "ecommerce": ecommerce,
        "device": {"category": "desktop"}, "items": [],
    }


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in rows))
    return path


def utm(source: str, medium: str, campaign: str | None = None) -> list[dict]:
    out = [param("source", source), param("medium", medium)]
    if campaign:
        out.append(param("campaign", campaign))
    return out


# user A: session 1 paid search by gclid, session 2 organic with a lead form,
#         session 3 purchases (revenue 120.5); user B: one direct session
ROWS = [
    event("A.1", 100, 0, "session_start",
          params=[param("page_location", "https://x.com/?gclid=abc")]),
    event("A.1", 100, 5, params=[param("page_location", "https://x.com/p")]),
    event("A.1", 200, 86_400, params=utm("google", "organic")),
    event("A.1", 200, 86_460, "generate_lead"),
    event("A.1", 300, 2 * 86_400, params=utm("newsletter", "email", "Nurture - Cloud")),
    event("A.1", 300, 2 * 86_400 + 60, "purchase",
          ecommerce={"purchase_revenue": "120.5", "transaction_id": "T1"}),
    event("B.2", 400, 3 * 86_400),
]


def check_counts(inputs: list[dict]) -> None:
    for e in inputs:
        assert e["rows_read"] == (e["rows_used"] + e["rows_looked_up"]
                                  + e["rows_duplicate"] + e["rows_rejected"]), e


def test_sessions_become_touches(tmp_path: Path) -> None:
    result = read_ga4(write_jsonl(tmp_path / "events_20260101.jsonl", ROWS))
    assert result.touches.schema == TOUCH_MEMORY_SCHEMA
    rows = [(r["journey_id"], r["channel"], r["campaign"], r["interaction"],
             r["person_id"]) for r in result.touches.to_pylist()]
    assert rows == [
        ("web:A.1", "Paid Search", None, "web_visit", "A.1"),    # gclid in the URL
        ("web:A.1", "Organic Search", None, "form_fill", "A.1"),  # generate_lead
        ("web:A.1", "Email", "Nurture - Cloud", "web_visit", "A.1"),
        ("web:B.2", "Direct", None, "web_visit", "B.2"),
    ]
    first = result.touches.to_pylist()[0]
    assert first["ts"] == dt.datetime.fromtimestamp(T0, dt.UTC)  # session start
    assert first["source_ref"] == "events_20260101.jsonl:1"
    check_counts(result.inputs)
    assert result.inputs[0]["rows_used"] == len(ROWS)


def test_web_only_journeys_convert_on_key_events(tmp_path: Path) -> None:
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", ROWS))
    assert result.journeys.schema == JOURNEY_SCHEMA
    j = {r["journey_id"]: r for r in result.journeys.to_pylist()}
    a = j["web:A.1"]
    assert a["won"] is True and a["revenue_amount"] == 120.5
    assert a["closed_at"] == dt.datetime.fromtimestamp(T0 + 2 * 86_400 + 60, dt.UTC)
    assert a["lead_created_at"] == dt.datetime.fromtimestamp(T0 + 86_460, dt.UTC)
    assert a["pipeline_amount"] == 0.0 and a["opportunity_created_at"] is None
    assert j["web:B.2"]["won"] is False
    # another key event set: generate_lead converts, purchase does not
    leads = read_ga4(tmp_path / "e.jsonl", key_events=["generate_lead"])
    a = {r["journey_id"]: r for r in leads.journeys.to_pylist()}["web:A.1"]
    assert a["closed_at"] == dt.datetime.fromtimestamp(T0 + 86_460, dt.UTC)
    assert a["revenue_amount"] == 0.0


def test_value_param_when_no_ecommerce_and_duplicate_transactions(tmp_path: Path
                                                                   ) -> None:
    rows = [event("C.3", 1, 0, "purchase", params=[param("value", "40", "int_value"),
                                                   param("transaction_id", "T9")]),
            event("C.3", 1, 9, "purchase", params=[param("value", "40", "int_value"),
                                                   param("transaction_id", "T9")])]
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", rows))
    assert result.journeys.column("revenue_amount").to_pylist() == [40.0]
    assert result.inputs[0]["rows_duplicate"] == 1  # the repeated transaction
    check_counts(result.inputs)


def test_traffic_source_only_for_the_first_session(tmp_path: Path) -> None:
    paid = ("google", "cpc", "Brand")
    rows = [event("D.4", 1, 0, traffic=paid, params=[param("ga_session_number", "1",
                                                           "int_value")]),
            event("D.4", 2, 86_400, traffic=paid,
                  params=[param("ga_session_number", "2", "int_value")]),
            event("D.4", 3, 2 * 86_400, traffic=paid,
                  collected={"manual_source": "linkedin",
                             "manual_medium": "paid_social",
                             "manual_campaign_name": "ABM"})]
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", rows))
    got = [(r["channel"], r["campaign"]) for r in result.touches.to_pylist()]
    # first-user source for session 1; later sessions never inherit it
    assert got == [("Paid Search", "Brand"), ("Direct", None), ("Paid Social", "ABM")]


def test_int64_as_numbers_and_mixed_types_are_read(tmp_path: Path) -> None:
    numbers = [event("E.5", 7, 0, numbers=True)]
    result = read_ga4(write_jsonl(tmp_path / "n" / "e.jsonl", numbers))
    assert result.touches.num_rows == 1
    mixed = [event("E.5", 7, 0), event("E.5", 7, 5, numbers=True)]
    result = read_ga4(write_jsonl(tmp_path / "m" / "e.jsonl", mixed))
    assert result.touches.num_rows == 1 and result.rejects.num_rows == 0


def test_parquet_export_is_read(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([event("F.6", 8, 0, params=utm("bing", "organic"),
                                        numbers=True)])
    pq.write_table(table, tmp_path / "events_20260101.parquet")
    result = read_ga4(tmp_path)
    assert result.touches.column("channel").to_pylist() == ["Organic Search"]


# ------------------------------------------------------------------------ dirt
def test_cookieless_event_is_rejected(tmp_path: Path) -> None:
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", [*ROWS, event(None, 5, 9)]))
    bad = result.rejects.to_pylist()
    assert [r["source_ref"] for r in bad] == ["e.jsonl:8"]
    assert bad[0]["reason"].startswith("no user_pseudo_id")
    check_counts(result.inputs)


def test_event_without_session_is_rejected(tmp_path: Path) -> None:
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", [*ROWS, event("A.1", None, 9)]))
    bad = result.rejects.to_pylist()
    assert bad[0]["reason"].startswith("no ga_session_id")
    assert json.loads(bad[0]["raw"])["user_pseudo_id"] == "A.1"


def test_bad_timestamp_and_bad_json_line_are_rejected(tmp_path: Path) -> None:
    broken = event("A.1", 100, 0)
    broken["event_timestamp"] = "yesterday"
    result = read_ga4(write_jsonl(tmp_path / "e.jsonl", [*ROWS, broken, "{not json"]))
    reasons = {r["source_ref"]: r["reason"] for r in result.rejects.to_pylist()}
    assert reasons["e.jsonl:8"] == "event_timestamp is not microseconds since the epoch"
    assert reasons["e.jsonl:9"].startswith("not a JSON object")
    assert result.inputs[0]["rows_read"] == len(ROWS) + 2
    check_counts(result.inputs)


def test_bad_files_raise_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SchemaError, match=r"empty\.jsonl: file is empty"):
        read_ga4(tmp_path / "empty.jsonl")
    write_jsonl(tmp_path / "other.jsonl", [{"a": 1}])
    with pytest.raises(SchemaError, match="not a GA4 BigQuery export: needs "
                                          "event_timestamp and user_pseudo_id"):
        read_ga4(tmp_path / "other.jsonl")
    (tmp_path / "none").mkdir()
    with pytest.raises(SchemaError, match="holds no GA4 export files"):
        read_ga4(tmp_path / "none")


# ------------------------------------------------------------------------ real rows
@needs_real
def test_real_bigquery_rows_as_they_are() -> None:
    result = read_ga4(REAL / "ga4" / "bigquery_export_rows")
    check_counts(result.inputs)
    assert result.rejects.num_rows == 0
    by_user = {}
    for r in result.touches.to_pylist():
        by_user.setdefault(r["person_id"], []).append((r["channel"], r["interaction"]))
    assert by_user["1385813245.1702644703"] == [("Organic Search", "form_fill")]
    assert by_user["427292018.1702650951"] == [("Paid Search", "web_visit")]
    # gclid as an event parameter (source_medium_input row 2) and in page_location
    assert by_user["950658449.1697698900"] == [("Paid Search", "web_visit")]
    assert by_user["950658449.1697698901"] == [("Organic Search", "web_visit")]
    j = {r["journey_id"]: r for r in result.journeys.to_pylist()}
    buyer = j["web:427292018.1702650951"]
    assert buyer["won"] and buyer["revenue_amount"] == 31.0
    assert buyer["currency"] == "EUR"
    # the same purchase is in two files: the second is a duplicate, counted once
    assert sum(e["rows_duplicate"] for e in result.inputs) == 1


@needs_real
def test_real_velir_row_as_it_is() -> None:
    result = read_ga4(REAL / "ga4" / "velir")
    rows = result.touches.to_pylist()
    assert [(r["person_id"], r["channel"]) for r in rows] == [
        ("1166526666.1617691776", "Direct")]  # client_id names the user here
    assert rows[0]["ts"] == dt.datetime(2021, 4, 6, 6, 49, 50, 431476, tzinfo=dt.UTC)


# ------------------------------------------------------------------------ identity
def test_user_id_joins_sessions_to_the_crm_journeys(tmp_path: Path) -> None:
    sf = write_org(tmp_path / "sf")
    rows = [event("G.7", 1, 0, params=utm("google", "organic")),
            event("G.7", 2, 86_400, user_id="003B", params=utm("bing", "organic")),
            event("G.7", 2, 86_410, "purchase",
                  ecommerce={"purchase_revenue": "99", "transaction_id": "T7"}),
            event("H.8", 3, 0)]
    ga = write_jsonl(tmp_path / "ga4" / "events.jsonl", rows)
    store = open_store(ingest([("salesforce", sf), ("ga4", ga)], tmp_path / "store"))
    t = store.touches
    web = t[t["source"] == "ga4"]
    # both of G.7's sessions follow the match (the first had no user_id), on 006A
    assert sorted(web[web["journey_id"] == "006A"]["person_id"]) == ["003B", "003B"]
    j = store.journeys.set_index("journey_id")
    assert "web:G.7" not in j.index           # matched: no web journey left
    assert j.loc["006A", "revenue_amount"] == 12_000.0  # the CRM says what was won
    assert "web:H.8" in j.index               # unmatched: a web-only journey
    manifest = store.manifest
    check_counts(manifest["inputs"])


def test_id_map_joins_a_lead(tmp_path: Path) -> None:
    sf = write_org(tmp_path / "sf")
    ga = write_jsonl(tmp_path / "ga4" / "events.jsonl",
                     [event("K.9", 1, 0, params=utm("google", "organic"))])
    id_map = tmp_path / "ids.csv"
    id_map.write_text("user_pseudo_id,lead_id\nK.9,00QF\n")
    store = open_store(ingest([("salesforce", sf),
                               {"kind": "ga4", "path": ga, "id_map": id_map}],
                              tmp_path / "store"))
    t = store.touches
    moved = t[t["source"] == "ga4"]
    assert moved[["journey_id", "person_id"]].values.tolist() == [["00QF", "00QF"]]


def test_cli_id_map_needs_a_ga4_source(tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    from touchline.cli import main

    sf = write_org(tmp_path / "sf", **{"Lead.csv": FILES["Lead.csv"]})
    code = main(["ingest", "--source", "salesforce", str(sf), "--id-map", "x.csv",
                 "--out", str(tmp_path / "store")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "Error: --id-map applies to --source ga4 inputs")


def test_matched_touch_ids_are_crm_people(tmp_path: Path) -> None:
    sf = write_org(tmp_path / "sf")
    ga = write_jsonl(tmp_path / "ga4" / "events.jsonl",
                     [event("L.1", 1, 0, user_id="00QA")])  # converted into 003A
    store = open_store(ingest([("salesforce", sf), ("ga4", ga)], tmp_path / "store"))
    t = store.touches
    web = t[t["source"] == "ga4"]
    assert web[["journey_id", "person_id"]].values.tolist() == [["006A", "00QA"]]
    assert pc.sum(pa.array(store.journeys["journey_id"].str.startswith("web:"))
                  ).as_py() == 0


def test_batches_give_the_same_result(tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.ga4 as ga4

    path = write_jsonl(tmp_path / "e.jsonl", [*ROWS, event(None, 5, 9), *ROWS])
    whole = read_ga4(path)
    monkeypatch.setattr(ga4, "_BATCH_BYTES", 4096)  # a few events per batch
    batched = read_ga4(path)
    assert batched.touches.equals(whole.touches)
    assert batched.journeys.equals(whole.journeys)
    assert batched.rejects.equals(whole.rejects)
    assert batched.inputs == whole.inputs
    assert whole.rejects.column("source_ref").to_pylist() == ["e.jsonl:8"]
