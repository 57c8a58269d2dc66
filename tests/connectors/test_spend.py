"""The spend connector: touchline columns, platform downloads, Fivetran tables,
Salesforce ActualCost, currencies."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from attribution import open_store
from attribution.exceptions import SchemaError
from connectors import ingest
from connectors._values import Rejects
from connectors.spend import (
    campaign_costs,
    convert_currencies,
    load_fx_rates,
    read_spend,
)
from touchline.cli import main

from . import REAL, needs_real


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    f = tmp_path / name
    f.write_bytes(text.encode(encoding))
    return f


def check_identity(entry: dict[str, Any]) -> None:
    assert entry["rows_read"] == (entry["rows_used"] + entry["rows_looked_up"]
                                  + entry["rows_duplicate"] + entry["rows_rejected"])


def column_sum(path: Path, column: str) -> float:
    with path.open(newline="") as fh:
        return sum(float(r[column] or 0) for r in csv.DictReader(fh))


def reasons(result: Any) -> dict[str, str]:
    return dict(zip(result.rejects.column("source_ref").to_pylist(),
                    result.rejects.column("reason").to_pylist(), strict=True))


GOOGLE = ("Campaign report\n"
          "\"January 1, 2026 - January 31, 2026\"\n"
          "Day,Campaign,Campaign type,Currency code,Cost,Clicks\n"
          "2026-01-01,Brand,Search,USD,\"$1,234.50\",10\n"
          "01/02/2026,Brand,Search,USD,99.5,3\n"
          "46025,Generic,Search,USD,\"1,000\",2\n"
          "Total: Account,,,USD,\"2,334.00\",15\n"
          "Total: Search,,,USD,\"2,334.00\",15\n")


# --------------------------------------------------------------------------- formats
def test_touchline_columns(tmp_path: Path) -> None:
    f = write(tmp_path, "costs.csv",
              "date,channel,campaign,cost,cost_type,currency\n"
              "2026-01-01,Paid Search,Brand,100,media,usd\n"
              "2026-01-01,Events,RSA,5000,Agency,USD\n"
              "2026-01-02,Webinar,,250.25,tools,USD\n")
    result = read_spend(f)
    rows = result.spend.to_pylist()
    assert [r["channel"] for r in rows] == ["Paid Search", "Events", "Webinar"]
    assert [r["cost_type"] for r in rows] == ["media", "agency", "tools"]
    assert [r["currency"] for r in rows] == ["USD"] * 3
    assert rows[2]["campaign"] is None and rows[2]["cost"] == 250.25
    assert rows[0]["date"] == dt.date(2026, 1, 1)
    assert rows[0]["source"] == "spend" and rows[0]["source_ref"] == "costs.csv:2"
    check_identity(result.inputs[0])


def test_touchline_columns_channel_from_source_medium_and_cost_type_option(
        tmp_path: Path) -> None:
    f = write(tmp_path, "fees.csv", "date,source,medium,cost\n"
                                    "2026-01-01,linkedin,paid_social,10\n")
    result = read_spend(f, cost_type="agency")
    assert result.spend.column("channel").to_pylist() == ["Paid Social"]
    assert result.spend.column("cost_type").to_pylist() == ["agency"]


def test_google_ads_download_with_title_rows_and_total_footers(tmp_path: Path) -> None:
    f = write(tmp_path, "google.csv", GOOGLE)
    result = read_spend(f)
    spend = result.spend.to_pylist()
    assert [(r["date"].isoformat(), r["campaign"], r["cost"]) for r in spend] == [
        ("2026-01-01", "Brand", 1234.5), ("2026-01-02", "Brand", 99.5),
        ("2026-01-03", "Generic", 1000.0)]  # an Excel serial day number
    assert {r["channel"] for r in spend} == {"Paid Search"}
    assert {r["currency"] for r in spend} == {"USD"}
    assert spend[0]["source_ref"] == "google.csv:4"
    assert reasons(result) == {"google.csv:7": "a total row of the export, not spend",
                               "google.csv:8": "a total row of the export, not spend"}
    entry = result.inputs[0]
    assert entry["export"] == "google_ads" and entry["lines_above_header"] == 2
    assert entry["title_lines"][0] == "Campaign report"
    assert entry["rows_read"] == 5
    check_identity(entry)


def test_google_ads_utf16_tab_separated(tmp_path: Path) -> None:
    f = write(tmp_path, "google.csv", GOOGLE.replace(",", "\t").replace(
        '"$1\t234.50"', "$1,234.50").replace('"1\t000"', "1,000").replace(
        '"2\t334.00"', "2,334.00").replace('"January 1\t 2026 - January 31\t 2026"',
                                           "January 1, 2026 - January 31, 2026"),
              "utf-16")
    result = read_spend(f)
    assert result.inputs[0]["encoding"] == "utf-16"
    assert result.inputs[0]["delimiter"] == "\t"
    assert result.spend.column("cost").to_pylist() == [1234.5, 99.5, 1000.0]
    assert result.rejects.num_rows == 2


def test_linkedin_download(tmp_path: Path) -> None:
    f = write(tmp_path, "linkedin.csv",
              "Campaign Performance Report (in UTC)\n"
              "Report Start: 1/1/2026, 12:00 AM\n"
              "Start Date (in UTC),Campaign Name,Campaign ID,Total Spent,Currency\n"
              "1/5/2026,ABM - Q1,123,\"1,050.00\",EUR\n"
              "1/6/2026,ABM - Q1,123,--,EUR\n")
    result = read_spend(f)
    assert result.spend.select(["date", "channel", "campaign", "cost", "currency"]
                               ).to_pylist() == [
        {"date": dt.date(2026, 1, 5), "channel": "Paid Social", "campaign": "ABM - Q1",
         "cost": 1050.0, "currency": "EUR"}]
    assert reasons(result) == {"linkedin.csv:5": "Total Spent is not an amount"}


def test_meta_download_with_bom_summary_row_and_multi_day_rows(tmp_path: Path) -> None:
    f = write(tmp_path, "meta.csv",
              "\ufeffReporting starts,Reporting ends,Campaign name,Amount spent (USD)\n"
              "2026-01-01,2026-01-31,,\"3,000.00\"\n"
              "2026-01-01,2026-01-01,Retargeting,100.5\n"
              "2026-01-01,2026-01-31,Prospecting,2899.5\n")
    result = read_spend(f)
    kept = result.spend.select(["campaign", "cost", "currency", "channel"])
    assert kept.to_pylist() == [{"campaign": "Retargeting", "cost": 100.5,
                                 "currency": "USD", "channel": "Paid Social"}]
    got = reasons(result)
    assert got["meta.csv:2"].endswith("no campaign name (a summary row of the export?)")
    assert got["meta.csv:4"] == ("the row covers several days (Reporting starts to "
                                 "Reporting ends); export with the Day breakdown")
    check_identity(result.inputs[0])


def test_meta_download_by_day(tmp_path: Path) -> None:
    f = write(tmp_path, "meta.csv", "Day,Campaign name,Amount spent (EUR)\n"
                                    "2026-01-01,Retargeting,\"€1.234,50\"\n"
                                    "2026-01-02,Retargeting,12.5\n")
    result = read_spend(f)
    assert result.spend.column("currency").to_pylist() == ["EUR"]
    # a decimal comma is never guessed
    assert reasons(result) == {"meta.csv:2": "Amount spent (EUR) is not an amount"}


def test_dirty_values_are_rejected_with_reasons(tmp_path: Path) -> None:
    f = write(tmp_path, "costs.csv",
              "date,channel,cost,cost_type\n"
              "31/01/2026,Email,10,media\n"
              "2026-01-31,Email,-5,media\n"
              "2026-01-31,Email,,media\n"
              "2026-01-31,Email,10,bribes\n"
              ",Email,10,media\n"
              "2026-01-31,Email,10\n"
              "2026-01-31,Email,10,media\n")
    result = read_spend(f)
    assert reasons(result) == {
        "costs.csv:2": "date is not a date (expected ISO 2026-01-31, MM/DD/YYYY or an "
                       "Excel serial day number)",
        "costs.csv:3": "cost is negative",
        "costs.csv:4": "cost is empty",
        "costs.csv:5": "cost_type is not one of media, creative, agency, tools, other",
        "costs.csv:6": "date is empty",
        "costs.csv:7": "row has 3 fields, expected 4",
    }
    raw = json.loads(result.rejects.column("raw")[0].as_py())
    assert raw == {"date": "31/01/2026", "channel": "Email", "cost": "10",
                   "cost_type": "media"}
    assert result.spend.num_rows == 1
    check_identity(result.inputs[0])


def test_unknown_header_lists_found_and_expected(tmp_path: Path) -> None:
    f = write(tmp_path, "x.csv", "when,how much\n2026-01-01,3\n")
    with pytest.raises(SchemaError, match=r"not a spend export \(found: when, how "
                                          r"much\); expected touchline columns "
                                          r"\(date, cost"):
        read_spend(f)


def test_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="file is empty"):
        read_spend(write(tmp_path, "e.csv", ""))
    with pytest.raises(SchemaError, match="no such file"):
        read_spend(tmp_path / "nope.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match="folder holds no"):
        read_spend(tmp_path / "empty")


def test_folder_of_downloads(tmp_path: Path) -> None:
    d = tmp_path / "spend"
    d.mkdir()
    write(d, "google.csv", GOOGLE)
    write(d, "notes.txt", "just some notes\n")
    write(d, "agency.csv",
          "date,channel,cost,cost_type\n2026-01-01,Events,700,agency\n")
    result = read_spend(d)
    assert result.spend.num_rows == 4
    assert sorted(Path(e["path"]).name for e in result.inputs) == ["agency.csv",
                                                                   "google.csv"]
    skipped = next(e for e in result.inputs if "skipped_files" in e)["skipped_files"]
    assert skipped == {"notes.txt": "not a spend export or lookup table"}


def test_channel_mapping_changes_platform_spend(tmp_path: Path) -> None:
    f = write(tmp_path, "google.csv", GOOGLE)
    rules = write(tmp_path, "channels.csv", "source,campaign,channel\n"
                                            "^google$,^brand$,Brand Search\n")
    result = read_spend(f, channel_map=rules)
    assert result.spend.column("channel").to_pylist() == [
        "Brand Search", "Brand Search", "Paid Search"]


# --------------------------------------------------------------------------- Fivetran
@needs_real
def test_google_ads_fivetran_folder() -> None:
    folder = REAL / "google_ads" / "fivetran"
    result = read_spend(folder)
    spend = result.spend
    assert spend.num_rows == 16
    micros = column_sum(folder / "campaign_stats_data.csv", "cost_micros")
    assert pc.sum(spend.column("cost")).as_py() == pytest.approx(micros / 1e6)
    assert set(spend.column("campaign").to_pylist()) == {"Zj9yTjsXtiWREoWWkz3kww=="}
    assert set(spend.column("currency").to_pylist()) == {"USD"}  # account_history
    assert set(spend.column("channel").to_pylist()) == {"Paid Search"}
    entries = {Path(e["path"]).name: e for e in result.inputs}
    assert entries["campaign_stats_data.csv"]["role"] == "spend"
    assert entries["campaign_history_data.csv"]["rows_looked_up"] == 10
    skipped = entries["campaign_stats_data.csv"]["skipped_files"]
    assert "ad_group_stats_data.csv" in skipped and "account_stats_data.csv" in skipped
    for entry in result.inputs:
        check_identity(entry)


@needs_real
def test_google_ads_fivetran_single_file_finds_its_lookups() -> None:
    result = read_spend(REAL / "google_ads" / "fivetran" / "campaign_stats_data.csv")
    assert set(result.spend.column("campaign").to_pylist()) == {
        "Zj9yTjsXtiWREoWWkz3kww=="}
    assert {Path(e["path"]).name for e in result.inputs} == {
        "campaign_stats_data.csv", "campaign_history_data.csv",
        "account_history_data.csv"}


@needs_real
def test_linkedin_fivetran_folder() -> None:
    result = read_spend(REAL / "linkedin" / "fivetran")
    spend = result.spend
    assert spend.num_rows == 20
    # cost_in_usd is empty where the local cost is 0: read as 0, not rejected
    assert result.rejects.num_rows == 0
    local = column_sum(REAL / "linkedin" / "fivetran" /
                       "linkedin_ad_analytics_by_campaign_data.csv",
                       "cost_in_local_currency")
    assert pc.sum(spend.column("cost")).as_py() == pytest.approx(local)
    assert set(spend.column("currency").to_pylist()) == {"USD"}
    assert set(spend.column("channel").to_pylist()) == {"Paid Social"}
    assert None not in spend.column("campaign").to_pylist()
    for entry in result.inputs:
        check_identity(entry)


@needs_real
def test_meta_fivetran_folder() -> None:
    result = read_spend(REAL / "meta" / "fivetran")
    spend = result.spend
    assert spend.num_rows == 10
    assert 144.0 in spend.column("cost").to_pylist()  # written "144." in the file
    # campaign names through ad_history -> campaign_history (latest version)
    assert set(spend.column("campaign").to_pylist()) == {
        "5RoYSnkKcNEVpe6XJiyHIw==", "0f91ACH8jh67tc2XzN7PwA==",
        "eLLJhdWmFK6gTTwlV65RQQ==", "iqbH9ALNda4C3roYX2MeuA=="}
    assert spend.column("currency").null_count == 10  # Meta's tables name none
    for entry in result.inputs:
        check_identity(entry)


@needs_real
def test_real_fixtures_through_ingest(tmp_path: Path) -> None:
    store = ingest([("spend", REAL / "google_ads" / "fivetran"),
                    ("spend", REAL / "linkedin" / "fivetran"),
                    ("spend", REAL / "meta" / "fivetran")], tmp_path / "store")
    s = open_store(store)
    spend = s.read_optional("spend")
    assert len(spend) == 46
    assert set(spend["currency"]) == {"USD"}  # Meta's rows take the store currency
    assert s.manifest["currency"] == "USD"
    for entry in s.manifest["inputs"]:
        check_identity(entry)


# --------------------------------------------------------------------------- Salesforce
def test_campaign_costs_spread_over_the_dates() -> None:
    camp = pa.table({"Id": ["701A", "701B", "701C", "701D", "701E", "701F"],
                     "Name": ["Q1 Webinar", "RSA", "Free", "Bad", "Backwards", "Once"],
                     "Type": ["Webinar", "Trade Show", "Email", "Email", "Email",
                              "Direct Mail"],
                     "StartDate": ["2026-01-01", "2026-04-27", "2026-01-01",
                                   "2026-01-01", "2026-02-01", ""],
                     "EndDate": ["2026-01-10", "2026-04-29", "2026-01-31",
                                 "2026-01-31", "2026-01-01", "2026-03-03"],
                     "ActualCost": ["$1,000.00", "6000", "", "lots", "10", "75"]})
    rejects = Rejects("salesforce", "Campaign.csv")
    spend = campaign_costs(camp, rejects=rejects)
    by_campaign: dict[str, list[dict[str, Any]]] = {}
    for row in spend.to_pylist():
        by_campaign.setdefault(row["campaign"], []).append(row)
    assert len(by_campaign["Q1 Webinar"]) == 10
    assert {r["cost"] for r in by_campaign["Q1 Webinar"]} == {100.0}
    assert [r["date"] for r in by_campaign["RSA"]] == [
        dt.date(2026, 4, 27), dt.date(2026, 4, 28), dt.date(2026, 4, 29)]
    assert sum(r["cost"] for r in by_campaign["RSA"]) == pytest.approx(6000)
    assert by_campaign["Once"] == [{
        "date": dt.date(2026, 3, 3), "channel": "Direct Mail", "campaign": "Once",
        "cost": 75.0, "cost_type": "other", "currency": None, "source": "salesforce",
        "source_ref": "Campaign.csv:7"}]
    assert {r["cost_type"] for r in spend.to_pylist()} == {"other"}
    assert by_campaign["Q1 Webinar"][0]["channel"] == "Webinar"
    assert by_campaign["RSA"][0]["channel"] == "Events"
    assert "Free" not in by_campaign  # no cost, no spend, nothing wrong
    got = dict(zip(rejects.table().column("source_ref").to_pylist(),
                   rejects.table().column("reason").to_pylist(), strict=True))
    assert got == {"Campaign.csv:5": "ActualCost is not an amount",
                   "Campaign.csv:6": "EndDate is before StartDate"}


def test_campaign_costs_without_actual_cost() -> None:
    assert campaign_costs(pa.table({"Id": ["1"], "Name": ["x"]})) is None


@needs_real
def test_campaign_costs_on_the_warehouse_sync_export() -> None:
    from connectors._stream import iter_batches, open_input

    f = REAL / "salesforce" / "fivetran" / "sf_campaign_data.csv"
    inp = open_input(f, accept=lambda names: "actualcost" in names)
    batch = next(iter_batches(inp, text_columns=inp.header))
    spend = campaign_costs(batch.table, name=f.name, rows=batch.rows)
    totals: dict[str, float] = {}
    for row in spend.to_pylist():
        totals[row["campaign"]] = totals.get(row["campaign"], 0.0) + row["cost"]
    assert totals == pytest.approx({"Q1 Webinar Campaign": 4200.0,
                                    "Email Nurture Series": 1800.0,
                                    "Social Media Ads": 7500.0})
    webinar = [r for r in spend.to_pylist() if r["campaign"] == "Q1 Webinar Campaign"]
    assert len(webinar) == 91  # 2024-01-01 .. 2024-03-31
    assert webinar[0]["channel"] == "Webinar"
    assert webinar[0]["source_ref"] == "sf_campaign_data.csv:2"


# --------------------------------------------------------------------------- currency
def test_mixed_currencies_need_fx(tmp_path: Path) -> None:
    usd = write(tmp_path, "google.csv", GOOGLE)
    eur = write(tmp_path, "costs.csv", "date,channel,cost,currency\n"
                                       "2026-01-01,Events,100,EUR\n")
    with pytest.raises(SchemaError, match=r"amounts are in several currencies: EUR "
                                          r"\(costs.csv\), USD \(google.csv\); give "
                                          r"--fx rates.csv"):
        ingest([("spend", usd), ("spend", eur)], tmp_path / "store")
    assert not (tmp_path / "store").exists()
    rates = write(tmp_path, "fx.csv", "currency,rate_to_store_currency\nEUR,1.1\n"
                                      "USD,1\n")
    store = open_store(ingest([("spend", usd), ("spend", eur)], tmp_path / "store",
                              fx=rates))
    spend = store.read_optional("spend")
    assert set(spend["currency"]) == {"USD"}
    assert spend.loc[spend["channel"] == "Events", "cost"].tolist() == [
        pytest.approx(110.0)]
    assert store.manifest["currency"] == "USD"


def test_fx_without_a_rate_for_a_currency(tmp_path: Path) -> None:
    eur = write(tmp_path, "costs.csv", "date,channel,cost,currency\n"
                                       "2026-01-01,Events,100,SEK\n")
    with pytest.raises(SchemaError, match=r"fx: no rate for SEK \(costs.csv\)"):
        ingest([("spend", eur)], tmp_path / "store", fx={"EUR": 1.1}, currency="USD")


def test_load_fx_rates(tmp_path: Path) -> None:
    assert load_fx_rates(write(tmp_path, "fx2.csv", "currency,rate\neur,1.10\n")) == {
        "EUR": 1.1}
    with pytest.raises(SchemaError, match="row 3: the rate of GBP must be a positive"):
        load_fx_rates(write(tmp_path, "fx3.csv",
                            "currency,rate_to_store_currency\nEUR,1.1\nGBP,-1\n"))
    with pytest.raises(SchemaError, match="missing column"):
        load_fx_rates(write(tmp_path, "fx4.csv", "code,value\nEUR,1.1\n"))


def test_convert_currencies_converts_journeys_too() -> None:
    journeys = pa.table({"journey_id": ["a", "b"], "pipeline_amount": [100.0, 100.0],
                         "revenue_amount": [0.0, 50.0], "currency": ["EUR", None]})
    spend, (j,), currency = convert_currencies(None, [journeys], currency="USD",
                                               fx={"EUR": 2.0})
    assert currency == "USD" and spend is None
    assert j.column("pipeline_amount").to_pylist() == [200.0, 100.0]
    assert j.column("currency").to_pylist() == ["USD", "USD"]


def test_cli_fx_and_currency(tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    eur = write(tmp_path, "costs.csv", "date,channel,cost,currency\n"
                                       "2026-01-01,Events,100,EUR\n")
    rates = write(tmp_path, "fx.csv", "currency,rate_to_store_currency\nEUR,1.1\n")
    code = main(["ingest", "--source", "spend", str(eur), "--fx", str(rates),
                 "--currency", "usd", "--out", str(tmp_path / "store"), "--quiet"])
    assert code == 0
    assert open_store(tmp_path / "store").manifest["currency"] == "USD"
    code = main(["ingest", "--source", "spend", str(eur), "--fx", str(rates),
                 "--out", str(tmp_path / "store2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("Error: fx: cannot tell the store currency")
