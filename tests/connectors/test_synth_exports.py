"""Tests of ``touchline synth --exports``: formats, determinism, and the whole chain
synth exports -> ingest (salesforce + ga4 + spend) -> attribute, reconciled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import attribution as at
from attribution.exceptions import ParameterError
from attribution.store import open_store
from connectors import ingest, write_exports
from touchline.cli import main


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_exports(tmp_path_factory.mktemp("ex") / "exports", opportunities=400,
                         seed=11)


@pytest.fixture(scope="module")
def store(exports: Path, tmp_path_factory: pytest.TempPathFactory) -> at.Store:
    out = tmp_path_factory.mktemp("st") / "store"
    ingest([("salesforce", exports / "salesforce"),
            {"kind": "ga4", "path": exports / "ga4", "id_map": exports / "id_map.csv"},
            ("spend", exports / "spend")], out)
    return open_store(out)


def totals(exports: Path) -> dict:
    return json.loads((exports / "totals.json").read_text())


def test_files_and_platform_formats(exports: Path) -> None:
    sf = sorted(p.name for p in (exports / "salesforce").iterdir())
    assert sf == ["Campaign.csv", "CampaignMember.csv", "Contact.csv", "Lead.csv",
                  "Opportunity.csv", "OpportunityContactRole.csv"]
    assert (exports / "salesforce" / "Opportunity.csv").read_bytes().startswith(
        b"\xef\xbb\xbf\"Id\"")  # Excel's CSV UTF-8: a byte-order mark
    google = (exports / "spend" / "google_ads.csv").read_text().splitlines()
    assert google[0] == "Campaign report"
    assert " - " in google[1]  # the date range line
    assert google[2] == "Day,Campaign,Currency code,Cost"
    assert google[-1].startswith("Total: ")
    linkedin = (exports / "spend" / "linkedin_ads.csv").read_bytes()
    assert linkedin.startswith(b"\xff\xfe")
    assert linkedin.decode("utf-16").splitlines()[0] == (
        "Start Date (in UTC)\tCampaign Name\tCurrency\tTotal Spent")
    meta = (exports / "spend" / "meta_ads.csv").read_text().splitlines()
    assert meta[0] == "Reporting starts,Reporting ends,Campaign name,Amount spent (USD)"
    other = (exports / "spend" / "other_costs.csv").read_text().splitlines()
    assert other[0] == "date,channel,campaign,cost,cost_type,currency"
    ga4 = sorted((exports / "ga4").glob("events_*.jsonl"))
    row = json.loads(ga4[0].read_text().splitlines()[0])
    assert isinstance(row["event_timestamp"], str)  # INT64 as a JSON string
    assert set(row["event_params"][0]["value"]) == {
        "string_value", "int_value", "float_value", "double_value"}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_exports(tmp_path / "a", opportunities=40, seed=5)
    b = write_exports(tmp_path / "b", opportunities=40, seed=5)
    c = write_exports(tmp_path / "c", opportunities=40, seed=6)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "salesforce" / "Opportunity.csv").read_bytes() != (
        c / "salesforce" / "Opportunity.csv").read_bytes()


def test_bad_size_is_a_parameter_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="opportunities must be a whole number "
                                             ">= 10; got 3"):
        write_exports(tmp_path, opportunities=3)


def test_store_totals_equal_the_exports(exports: Path, store: at.Store) -> None:
    t = totals(exports)
    j = store.journeys
    crm = j[~j["journey_id"].str.startswith("web:")]
    opps = crm[crm["opportunity_created_at"].notna()]
    assert len(opps) == t["opportunities_valid"]
    assert opps["pipeline_amount"].sum() == pytest.approx(t["pipeline_total"])
    assert j["pipeline_amount"].sum() == pytest.approx(t["pipeline_total"])
    assert opps["revenue_amount"].sum() == pytest.approx(t["revenue_total"])
    assert int(opps["won"].sum()) == t["won_valid"]
    assert int(opps["closed_at"].isna().sum()) == t["open_valid"]
    web = j[j["journey_id"].str.startswith("web:")]
    expected = t["ga4"]["web_only_revenue_max"]
    assert web["revenue_amount"].sum() == pytest.approx(expected)


def test_every_row_is_accounted_for(exports: Path, store: at.Store) -> None:
    t = totals(exports)
    manifest = store.manifest
    by_name = {Path(e["path"]).name: e for e in manifest["inputs"]}
    for e in manifest["inputs"]:
        assert e["rows_read"] == (e["rows_used"] + e["rows_looked_up"]
                                  + e["rows_duplicate"] + e["rows_rejected"]), e
    opp = by_name["Opportunity.csv"]
    assert (opp["rows_read"], opp["rows_rejected"]) == (
        t["opportunities"], t["opportunities_rejected"])
    members = by_name["CampaignMember.csv"]
    assert members["rows_read"] == t["members_written"]
    assert members["rows_rejected"] == t["members_rejected"]
    assert members["rows_duplicate"] >= t["members_duplicate"]
    rejects = store.read_optional("rejects")
    per_file: dict[str, int] = {}
    for ref in rejects["source_ref"]:
        name = ref.rsplit(":", 1)[0]
        per_file[name] = per_file.get(name, 0) + 1
    for name, count in per_file.items():
        assert by_name[name]["rows_rejected"] == count, name
    ga4_rejected = sum(e["rows_rejected"] for e in manifest["inputs"]
                       if e["source"] == "ga4")
    assert ga4_rejected == t["ga4"]["events_rejected"]


def test_spend_matches_the_files_and_the_touches(exports: Path, store: at.Store
                                                 ) -> None:
    t = totals(exports)
    spend = store.read_optional("spend")
    by_file = spend.groupby(spend["source_ref"].str.rsplit(":", n=1).str[0])[
        "cost"].sum()
    for name, key in (("google_ads.csv", "google_ads"),
                      ("linkedin_ads.csv", "linkedin_ads"),
                      ("meta_ads.csv", "meta_ads"), ("other_costs.csv", "other_costs")):
        assert by_file[name] == pytest.approx(t["spend"][key], abs=0.01), name
    assert by_file["Campaign.csv"] == pytest.approx(t["campaign_actual_cost"])

    def fold(s):
        return set(s.dropna().str.strip().str.casefold())

    # every campaign that has spend also has touches (case and spaces aside)
    assert fold(spend["campaign"]) <= fold(store.touches["campaign"])


def test_attribution_reconciles(store: at.Store) -> None:
    result = at.attribute(store, models=["linear", "w_shaped", "markov"],
                          targets=["pipeline", "revenue"])
    sums = result.channel_credit.groupby(["model", "target"])["credit"].sum()
    j = store.journeys
    for model in ("linear", "w_shaped", "markov"):
        assert sums[(model, "pipeline")] == pytest.approx(j["pipeline_amount"].sum())
        assert sums[(model, "revenue")] == pytest.approx(j["revenue_amount"].sum())


def test_web_sessions_join_crm_journeys(exports: Path, store: at.Store) -> None:
    t = store.touches
    web = t[t["source"] == "ga4"]
    on_crm = web[~web["journey_id"].str.startswith("web:")]
    assert len(on_crm) > 0
    assert on_crm["person_id"].str.match(r"^(003|00Q)").all()


def test_cli_synth_exports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["synth", "--exports", str(tmp_path / "ex"), "--opportunities", "30",
                 "--seed", "2"])
    assert code == 0
    assert (tmp_path / "ex" / "salesforce" / "Opportunity.csv").exists()
    assert "wrote synthetic raw exports" in capsys.readouterr().err
    assert main(["synth"]) == 2
    assert capsys.readouterr().err.strip() == (
        "Error: synth: give --out STORE or --exports DIR")


def test_reingest_is_byte_identical(exports: Path, store: at.Store,
                                    tmp_path: Path) -> None:
    again = ingest([("salesforce", exports / "salesforce"),
                    {"kind": "ga4", "path": exports / "ga4",
                     "id_map": exports / "id_map.csv"},
                    ("spend", exports / "spend")], tmp_path / "again")
    assert open_store(again).input_hashes() == store.input_hashes()
