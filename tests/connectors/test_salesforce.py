"""Tests of the ``salesforce`` connector: a hand-built org, the real Fivetran sample,
and one test per kind of dirt (every input written here, or read as it is)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from attribution.exceptions import SchemaError
from attribution.store import (
    JOURNEY_SCHEMA,
    REJECT_SCHEMA,
    TOUCH_MEMORY_SCHEMA,
    TOUCH_SCHEMA,
    open_store,
)
from connectors import ingest, read_salesforce
from touchline.cli import main

from . import REAL, needs_real

UTC = dt.UTC

# A small org. Expected, worked out by hand:
#   006A (account 001X): roles 003A, 003B; lead 00QA was converted into 003A.
#     touches: 00QA Email 2025-12-05 (lead era), 003A Webinar 2026-01-15,
#              003B Events 2026-01-20 (no FirstRespondedDate: CreatedDate is used)
#     lead_created_at = min(003A 2026-01-05, 003B 2026-01-10, 00QA 2025-12-01)
#     won, closed 2026-03-31 (end of day), Amount "$12,000.00"
#   006B (account 001Y): role 003C, open: its CloseDate is a forecast, no touches
#     (003C's only membership never responded)
#   003D: responded, in no opportunity -> a journey of its own (account 001X)
#   00QF: an unconverted lead that responded -> a journey of its own
FILES = {
    "Campaign.csv": [
        "Id,Name,Type,StartDate,EndDate,ActualCost,BudgetedCost,ParentId",
        "701W,Webinar - Zero Trust,Webinar,2026-01-01,2026-01-04,\"$4,000.00\",5000,",
        "701E,Nurture - Cloud,Email,2025-11-01,2026-03-31,,,",
        "701T,RSA Conference,Trade Show,2026-01-20,2026-01-20,,,",
    ],
    "Contact.csv": [
        "Id,AccountId,CreatedDate",
        "003A,001X,2026-01-05T09:00:00.000Z",
        "003B,001X,2026-01-10T09:00:00.000Z",
        "003C,001Y,2026-02-01T09:00:00.000Z",
        "003D,001X,2026-01-20T09:00:00.000Z",
    ],
    "Lead.csv": [
        "Id,CreatedDate,ConvertedContactId,ConvertedDate,LeadSource",
        "00QA,2025-12-01T08:00:00.000Z,003A,2026-01-05,Web",
        "00QF,2026-02-15T08:00:00.000Z,,,Trade Show",
    ],
    "Opportunity.csv": [
        "Id,AccountId,Amount,StageName,IsClosed,IsWon,CreatedDate,CloseDate",
        "006A,001X,\"$12,000.00\",Closed Won,true,true,2026-02-01T10:00:00.000Z,"
        "2026-03-31",
        "006B,001Y,5000,Proposal/Price Quote,false,false,2026-03-01T10:00:00.000Z,"
        "2026-09-30",
    ],
    "OpportunityContactRole.csv": [
        "OpportunityId,ContactId,Role,IsPrimary",
        "006A,003A,Decision Maker,true",
        "006A,003B,Evaluator,false",
        "006B,003C,Decision Maker,true",
    ],
    "CampaignMember.csv": [
        "CampaignId,ContactId,LeadId,Status,HasResponded,FirstRespondedDate,CreatedDate",
        "701W,003A,,Attended,true,2026-01-15T16:00:00.000Z,2026-01-02T10:00:00.000Z",
        "701E,,00QA,Clicked,true,2025-12-05T12:00:00.000Z,2025-12-01T10:00:00.000Z",
        "701T,003B,,Visited Booth,true,,2026-01-20T11:00:00.000Z",
        "701E,003C,,Sent,false,,2026-02-02T10:00:00.000Z",
        "701W,003D,,Attended,true,2026-01-15T16:00:00.000Z,2026-01-02T10:00:00.000Z",
        "701T,,00QF,Visited Booth,true,2026-01-20T12:00:00.000Z,"
        "2026-01-20T12:00:00.000Z",
    ],
}


def write_org(folder: Path, **changes: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {**FILES, **changes}
    for name, lines in files.items():
        if lines is not None:
            (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(result, name: str) -> dict:
    return next(e for e in result.inputs if Path(e["path"]).name == name)


def check_counts(inputs: list[dict]) -> None:
    for e in inputs:
        assert e["rows_read"] == (e["rows_used"] + e["rows_looked_up"]
                                  + e["rows_duplicate"] + e["rows_rejected"]), e


def rejects_of(result) -> list[dict]:
    return result.rejects.to_pylist()


# ------------------------------------------------------------------------ the org
def test_journeys_of_the_org(tmp_path: Path) -> None:
    result = read_salesforce(write_org(tmp_path / "sf"))
    assert result.journeys.schema == JOURNEY_SCHEMA
    j = {r["journey_id"]: r for r in result.journeys.to_pylist()}
    assert sorted(j) == ["003D", "006A", "006B", "00QF"]
    a = j["006A"]
    assert a["account_id"] == "001X" and a["won"] is True
    assert a["pipeline_amount"] == a["revenue_amount"] == 12_000.0
    assert a["opportunity_created_at"] == ts("2026-02-01T10:00:00")
    assert a["closed_at"] == ts("2026-03-31T23:59:59.999999")  # end of the close day
    assert a["lead_created_at"] == ts("2025-12-01T08:00:00")   # the converted lead
    b = j["006B"]
    assert b["closed_at"] is None          # an open deal's CloseDate is a forecast
    assert b["won"] is False and b["revenue_amount"] == 0.0
    assert b["pipeline_amount"] == 5000.0
    d = j["003D"]
    assert d["opportunity_created_at"] is None and d["account_id"] == "001X"
    assert d["lead_created_at"] == ts("2026-01-20T09:00:00")
    assert j["00QF"]["lead_created_at"] == ts("2026-02-15T08:00:00")
    assert result.rejects.num_rows == 0
    check_counts(result.inputs)


def test_touches_of_the_org(tmp_path: Path) -> None:
    result = read_salesforce(write_org(tmp_path / "sf"))
    assert result.touches.schema == TOUCH_MEMORY_SCHEMA
    rows = [(r["journey_id"], r["person_id"], r["channel"], r["campaign"],
             r["interaction"], r["ts"]) for r in result.touches.to_pylist()]
    assert sorted(rows, key=lambda r: (r[0], r[5])) == [
        ("003D", "003D", "Webinar", "Webinar - Zero Trust", "webinar_attended",
         ts("2026-01-15T16:00:00")),
        ("006A", "00QA", "Email", "Nurture - Cloud", "email_click",
         ts("2025-12-05T12:00:00")),
        ("006A", "003A", "Webinar", "Webinar - Zero Trust", "webinar_attended",
         ts("2026-01-15T16:00:00")),
        ("006A", "003B", "Events", "RSA Conference", "event_attended",
         ts("2026-01-20T11:00:00")),  # no FirstRespondedDate: the member's CreatedDate
        ("00QF", "00QF", "Events", "RSA Conference", "event_attended",
         ts("2026-01-20T12:00:00")),
    ]
    refs = set(result.touches.column("source_ref").to_pylist())
    assert "CampaignMember.csv:2" in refs and "CampaignMember.csv:5" not in refs
    assert set(result.touches.column("source").to_pylist()) == {"salesforce"}


def test_manifest_counts_of_the_org(tmp_path: Path) -> None:
    result = read_salesforce(write_org(tmp_path / "sf"))
    members = entry(result, "CampaignMember.csv")
    assert (members["rows_read"], members["rows_used"], members["rows_looked_up"]) == \
        (6, 5, 1)  # the member that never responded is looked up, not a touch
    opps = entry(result, "Opportunity.csv")
    assert (opps["rows_read"], opps["rows_used"]) == (2, 2)
    for name in ("Contact.csv", "Lead.csv", "OpportunityContactRole.csv",
                 "Campaign.csv"):
        e = entry(result, name)
        assert e["rows_looked_up"] == e["rows_read"] > 0
    check_counts(result.inputs)


def test_people_map_contacts_and_converted_leads(tmp_path: Path) -> None:
    people = read_salesforce(write_org(tmp_path / "sf")).people.to_pylist()
    pairs = {(p["person_id"], p["journey_id"]) for p in people}
    assert {("003A", "006A"), ("003B", "006A"), ("00QA", "006A"), ("003C", "006B"),
            ("003D", "003D"), ("00QF", "00QF")} <= pairs


def test_account_contacts_takes_every_contact_of_the_account(tmp_path: Path) -> None:
    result = read_salesforce(write_org(tmp_path / "sf"), account_contacts=True)
    ids = result.journeys.column("journey_id").to_pylist()
    assert "003D" not in ids  # 003D is a contact of 001X, so of 006A now
    touched = result.touches.filter(pc.equal(result.touches.column("person_id"),
                                             "003D"))
    assert touched.column("journey_id").to_pylist() == ["006A"]


def test_campaign_actual_cost_is_other_spend(tmp_path: Path) -> None:
    result = read_salesforce(write_org(tmp_path / "sf"))
    spend = result.spend.to_pylist()
    assert len(spend) == 4  # 2026-01-01 .. 2026-01-04
    assert {r["cost_type"] for r in spend} == {"other"}
    assert {r["channel"] for r in spend} == {"Webinar"}
    assert sum(r["cost"] for r in spend) == pytest.approx(4000.0)


def test_lead_source_places_a_campaign_without_type(tmp_path: Path) -> None:
    campaigns = [*FILES["Campaign.csv"], "701X,Mystery,,,,,,"]
    members = [*FILES["CampaignMember.csv"],
               "701X,,00QF,Responded,true,2026-02-20T12:00:00.000Z,"]
    result = read_salesforce(write_org(tmp_path / "sf", **{
        "Campaign.csv": campaigns, "CampaignMember.csv": members}))
    row = [r for r in result.touches.to_pylist() if r["campaign"] == "Mystery"]
    assert row[0]["channel"] == "Events"  # Lead.LeadSource "Trade Show"


def test_snake_case_names_and_detection_by_header(tmp_path: Path) -> None:
    folder = tmp_path / "sf"
    folder.mkdir()
    snake = {
        "export_1.csv": ["id,name,type,actual_cost",
                         "701W,Webinar - Zero Trust,Webinar,"],
        "export_2.csv": ["campaign_id,contact_id,lead_id,has_responded,"
                         "first_responded_date",
                         "701W,003A,,true,2026-01-15 16:00:00"],
        "export_3.csv": ["id,account_id,amount,stage_name,is_closed,is_won,"
                         "created_date,close_date",
                         "006A,001X,100,Closed Won,TRUE,TRUE,2026-02-01 10:00:00,"
                         "2026-03-31 00:00:00"],
        "export_4.csv": ["opportunity_id,contact_id", "006A,003A"],
    }
    for name, lines in snake.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    result = read_salesforce(folder)
    assert {e["object"] for e in result.inputs} == {
        "Campaign", "CampaignMember", "Opportunity", "OpportunityContactRole"}
    assert result.touches.column("journey_id").to_pylist() == ["006A"]
    assert result.journeys.column("won").to_pylist() == [True]


# ------------------------------------------------------------------------ real sample
@needs_real
def test_real_fivetran_sample_as_it_is() -> None:
    folder = REAL / "salesforce" / "fivetran"
    result = read_salesforce(folder)
    check_counts(result.inputs)
    objects = {Path(e["path"]).name: e["object"] for e in result.inputs}
    assert objects["sf_campaign_member_data.csv"] == "CampaignMember"
    assert objects["sf_opportunity_data.csv"] == "Opportunity"
    assert objects["sf_opportunity_history_data.csv"] is None  # history: ignored
    # every opportunity of the sample is marked deleted: rejected, with the reason
    opps = entry(result, "sf_opportunity_data.csv")
    assert opps["rows_rejected"] == opps["rows_read"] == 10
    reasons = {r["reason"] for r in rejects_of(result)}
    assert any("IsDeleted is true" in r for r in reasons)
    # the two responded members become journeys of their own
    assert sorted(result.journeys.column("journey_id").to_pylist()) == [
        "cont001AAAAAAA", "lead002AAAAAAA"]
    members = entry(result, "sf_campaign_member_data.csv")
    assert (members["rows_used"], members["rows_looked_up"]) == (2, 3)


@needs_real
def test_real_fivetran_sample_with_deleted_rows_kept() -> None:
    result = read_salesforce(REAL / "salesforce" / "fivetran", include_deleted=True)
    check_counts(result.inputs)
    opps = result.journeys.filter(pc.starts_with(result.journeys.column("journey_id"),
                                                 "006"))
    assert opps.num_rows == 10
    rows = {r["journey_id"]: r for r in opps.to_pylist()}
    assert rows["006q000000HddohAAB"]["pipeline_amount"] == 24_120_000.0
    assert rows["006q000000HddohAAB"]["won"] is True
    # is_closed false: the close date is a forecast
    assert rows["006q000000HdOhuAAF"]["closed_at"] is None
    assert rows["006q000000HdOhuAAF"]["pipeline_amount"] == 210_000.0
    # an empty amount is 0, not a reject
    assert rows["006q000000HdPzpAAF"]["pipeline_amount"] == 0.0


# ------------------------------------------------------------------------ dirt
def only_reject(result) -> dict:
    rows = rejects_of(result)
    assert len(rows) == 1, rows
    assert result.rejects.schema == REJECT_SCHEMA
    return rows[0]


def test_bad_date_is_rejected_with_its_row(tmp_path: Path) -> None:
    members = list(FILES["CampaignMember.csv"])
    members[1] = members[1].replace("2026-01-15T16:00:00.000Z", "13/45/2026", 1)
    result = read_salesforce(write_org(tmp_path / "sf", **{
        "CampaignMember.csv": members}))
    bad = only_reject(result)
    assert bad["source_ref"] == "CampaignMember.csv:2"
    assert "FirstRespondedDate is not a date" in bad["reason"]
    assert json.loads(bad["raw"])["FirstRespondedDate"] == "13/45/2026"
    check_counts(result.inputs)


def test_us_dates_and_excel_serials_are_read(tmp_path: Path) -> None:
    opps = list(FILES["Opportunity.csv"])
    opps[1] = opps[1].replace("2026-03-31", "3/31/2026").replace(
        "2026-02-01T10:00:00.000Z", "46054")  # Excel serial of 2026-02-01
    result = read_salesforce(write_org(tmp_path / "sf", **{"Opportunity.csv": opps}))
    row = result.journeys.filter(pc.equal(result.journeys.column("journey_id"),
                                          "006A")).to_pylist()[0]
    assert row["closed_at"] == ts("2026-03-31T23:59:59.999999")
    assert row["opportunity_created_at"] == ts("2026-02-01T00:00:00")
    assert result.rejects.num_rows == 0


def test_day_first_date_is_rejected_not_guessed(tmp_path: Path) -> None:
    opps = list(FILES["Opportunity.csv"])
    opps[1] = opps[1].replace("2026-03-31", "31/03/2026")
    result = read_salesforce(write_org(tmp_path / "sf", **{"Opportunity.csv": opps}))
    rows = rejects_of(result)
    assert rows[0]["source_ref"] == "Opportunity.csv:2"
    assert "CloseDate is not a date" in rows[0]["reason"]
    # its contact roles now point at nothing: rejected too, saying why
    assert {r["reason"] for r in rows[1:]} == {
        "OpportunityId is not in the Opportunity export (or that row was rejected)"}
    check_counts(result.inputs)


def test_unknown_campaign_id_is_rejected(tmp_path: Path) -> None:
    members = [*FILES["CampaignMember.csv"],
               "701NOPE,003A,,Attended,true,2026-01-15T16:00:00.000Z,"]
    result = read_salesforce(write_org(tmp_path / "sf", **{
        "CampaignMember.csv": members}))
    bad = only_reject(result)
    assert bad["source_ref"] == "CampaignMember.csv:8"
    assert bad["reason"].startswith("CampaignId is not in the Campaign export")


def test_member_of_nobody_is_rejected(tmp_path: Path) -> None:
    members = [*FILES["CampaignMember.csv"],
               "701W,,,Attended,true,2026-01-15T16:00:00.000Z,"]
    bad = only_reject(read_salesforce(write_org(tmp_path / "sf", **{
        "CampaignMember.csv": members})))
    assert bad["reason"] == "member of nobody: ContactId and LeadId are both empty"


def test_duplicate_member_is_counted_once(tmp_path: Path) -> None:
    members = [*FILES["CampaignMember.csv"], FILES["CampaignMember.csv"][1]]
    result = read_salesforce(write_org(tmp_path / "sf", **{
        "CampaignMember.csv": members}))
    e = entry(result, "CampaignMember.csv")
    assert (e["rows_read"], e["rows_used"], e["rows_duplicate"]) == (7, 5, 1)
    assert result.touches.num_rows == 5
    check_counts(result.inputs)


def test_blank_rows_are_skipped_and_not_counted(tmp_path: Path) -> None:
    members = list(FILES["CampaignMember.csv"])
    members[3:3] = ["", ",,,,,,"]
    result = read_salesforce(write_org(tmp_path / "sf", **{
        "CampaignMember.csv": members}))
    e = entry(result, "CampaignMember.csv")
    assert e["rows_read"] == 6 and result.rejects.num_rows == 0
    # record numbers still count the blank lines
    refs = set(result.touches.column("source_ref").to_pylist())
    assert "CampaignMember.csv:6" in refs  # the Visited Booth row, after two blanks


def test_bom_latin1_and_utf16_files_are_read(tmp_path: Path) -> None:
    folder = write_org(tmp_path / "sf")
    text = "\n".join(FILES["Opportunity.csv"]) + "\n"
    (folder / "Opportunity.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    contacts = "\n".join(FILES["Contact.csv"]).replace("001X", "001X-Müller") + "\n"
    (folder / "Contact.csv").write_bytes(contacts.encode("latin-1"))
    roles = "\n".join(x.replace(",", "\t") for x in FILES["OpportunityContactRole.csv"])
    (folder / "OpportunityContactRole.csv").write_bytes((roles + "\n").encode("utf-16"))
    result = read_salesforce(folder)
    assert entry(result, "Contact.csv")["encoding"] == "latin-1"
    assert entry(result, "OpportunityContactRole.csv")["delimiter"] == "\t"
    assert result.journeys.filter(pc.equal(result.journeys.column("journey_id"),
                                           "003D")).column("account_id").to_pylist() \
        == ["001X-Müller"]
    assert result.rejects.num_rows == 0


def test_amounts_with_symbols_and_negative_amounts(tmp_path: Path) -> None:
    opps = [*FILES["Opportunity.csv"],
            "006C,001Y,\"USD 1,250.50\",Closed Lost,true,false,2026-03-02,2026-04-01",
            "006D,001Y,-10,Closed Lost,true,false,2026-03-02,2026-04-01",
            "006E,001Y,12k,Closed Lost,true,false,2026-03-02,2026-04-01"]
    result = read_salesforce(write_org(tmp_path / "sf", **{"Opportunity.csv": opps}))
    amounts = dict(zip(result.journeys.column("journey_id").to_pylist(),
                       result.journeys.column("pipeline_amount").to_pylist(),
                       strict=True))
    assert amounts["006C"] == 1250.5
    reasons = {r["source_ref"]: r["reason"] for r in rejects_of(result)}
    assert reasons == {"Opportunity.csv:5": "Amount is negative",
                       "Opportunity.csv:6": "Amount is not a number"}


def test_mixed_currencies_rejected_without_fx_converted_with_it(tmp_path: Path
                                                                ) -> None:
    opps = ["Id,AccountId,Amount,IsClosed,IsWon,CreatedDate,CloseDate,CurrencyIsoCode",
            "006A,001X,1000,true,true,2026-02-01,2026-03-31,USD",
            "006B,001Y,2000,false,false,2026-03-01,2026-09-30,USD",
            "006C,001Y,500,false,false,2026-03-01,2026-09-30,EUR"]
    folder = write_org(tmp_path / "sf", **{"Opportunity.csv": opps})
    result = read_salesforce(folder)
    bad = [r for r in rejects_of(result) if r["source_ref"] == "Opportunity.csv:4"]
    assert "CurrencyIsoCode differs from the store currency USD" in bad[0]["reason"]
    converted = read_salesforce(folder, fx={"USD": 1.0, "EUR": 1.1})
    amounts = dict(zip(converted.journeys.column("journey_id").to_pylist(),
                       converted.journeys.column("pipeline_amount").to_pylist(),
                       strict=True))
    assert amounts["006C"] == pytest.approx(550.0)
    assert set(converted.journeys.column("currency").to_pylist()) == {"USD"}


def test_wrong_width_row_is_rejected(tmp_path: Path) -> None:
    contacts = [*FILES["Contact.csv"], "003Z,001X"]
    bad = only_reject(read_salesforce(write_org(tmp_path / "sf", **{
        "Contact.csv": contacts})))
    assert bad["source_ref"] == "Contact.csv:6"
    assert bad["reason"] == "row has 2 fields, expected 3"


def test_deleted_rows_are_rejected_unless_kept(tmp_path: Path) -> None:
    opps = ["Id,AccountId,Amount,IsClosed,IsWon,CreatedDate,CloseDate,IsDeleted",
            "006A,001X,1000,true,true,2026-02-01,2026-03-31,false",
            "006B,001Y,2000,false,false,2026-03-01,2026-09-30,true"]
    folder = write_org(tmp_path / "sf", **{"Opportunity.csv": opps})
    result = read_salesforce(folder)
    assert [r["source_ref"] for r in rejects_of(result)
            if "deleted" in r["reason"]] == ["Opportunity.csv:3"]
    kept = read_salesforce(folder, include_deleted=True)
    assert "006B" in kept.journeys.column("journey_id").to_pylist()


def test_won_deal_without_close_date_is_rejected(tmp_path: Path) -> None:
    opps = list(FILES["Opportunity.csv"])
    opps[1] = opps[1].rsplit(",", 1)[0] + ","
    rows = rejects_of(read_salesforce(write_org(tmp_path / "sf", **{
        "Opportunity.csv": opps})))
    assert rows[0]["reason"] == "IsWon is true but CloseDate is empty"


def test_campaign_with_bad_cost_is_rejected_and_its_members_say_why(
        tmp_path: Path) -> None:
    campaigns = list(FILES["Campaign.csv"])
    campaigns[1] = campaigns[1].replace('"$4,000.00"', "lots")
    result = read_salesforce(write_org(tmp_path / "sf", **{"Campaign.csv": campaigns}))
    rows = rejects_of(result)
    assert rows[0]["source_ref"] == "Campaign.csv:2"
    assert rows[0]["reason"] == "ActualCost is not an amount"
    assert all("or that row was rejected" in r["reason"] for r in rows[1:])
    check_counts(result.inputs)


# ------------------------------------------------------------------------ bad files
def test_missing_required_column_names_it(tmp_path: Path) -> None:
    opps = [line.split(",", 1)[1] for line in FILES["Opportunity.csv"]]  # no Id
    with pytest.raises(SchemaError, match=r"Opportunity.csv: Opportunity export lacks "
                                          r"column\(s\) id \(found: AccountId, Amount"):
        read_salesforce(write_org(tmp_path / "sf", **{"Opportunity.csv": opps}))


def test_empty_file_and_empty_folder(tmp_path: Path) -> None:
    folder = write_org(tmp_path / "sf")
    (folder / "Lead.csv").write_text("")
    with pytest.raises(SchemaError, match=r"Lead\.csv: file is empty"):
        read_salesforce(folder)
    (tmp_path / "none").mkdir()
    with pytest.raises(SchemaError, match="no Opportunity or CampaignMember export"):
        read_salesforce(tmp_path / "none")


def test_members_without_campaigns_is_an_error(tmp_path: Path) -> None:
    folder = write_org(tmp_path / "sf", **{"Campaign.csv": None})
    with pytest.raises(SchemaError, match="CampaignMember export without a Campaign"):
        read_salesforce(folder)


def test_cli_prints_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture
                                   ) -> None:
    opps = [line.split(",", 1)[1] for line in FILES["Opportunity.csv"]]
    folder = write_org(tmp_path / "sf", **{"Opportunity.csv": opps})
    code = main(["ingest", "--source", "salesforce", str(folder), "--out",
                 str(tmp_path / "store")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("Error: ")
    assert "lacks column(s) id" in err[0]
    assert not (tmp_path / "store").exists()


# ------------------------------------------------------------------------ ingest
def test_ingest_writes_the_store_and_counts(tmp_path: Path) -> None:
    folder = write_org(tmp_path / "sf")
    out = ingest([("salesforce", folder)], tmp_path / "store")
    store = open_store(out)
    assert store.journeys["pipeline_amount"].sum() == 17_000.0
    assert store.journeys["revenue_amount"].sum() == 12_000.0
    manifest = store.manifest
    check_counts(manifest["inputs"])
    spend = store.read_optional("spend")
    assert spend is not None and spend["cost"].sum() == pytest.approx(4000.0)
    again = ingest([("salesforce", folder)], tmp_path / "store")
    assert open_store(again).input_hashes() == store.input_hashes()
    assert np.isclose(store.journeys["pipeline_amount"].sum(), 17_000.0)


def test_members_read_in_batches_give_the_same_store(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    import connectors.salesforce as sf

    members = [*FILES["CampaignMember.csv"], FILES["CampaignMember.csv"][1],
               "701W,,,Attended,true,2026-01-15T16:00:00.000Z,"]
    members[4:4] = ["", ",,,,,,", "701E,003C,,Sent"]  # blank rows, a short row
    folder = write_org(tmp_path / "sf", **{"CampaignMember.csv": members})
    whole = read_salesforce(folder)
    # batches of one or two rows: a duplicate across batches, blank rows and a
    # row of the wrong width between them
    monkeypatch.setattr(sf, "_MEMBER_BATCH_BYTES", 100)
    sliced = read_salesforce(folder)
    # (dictionary columns may list their values in another order)
    assert sliced.touches.cast(TOUCH_SCHEMA).equals(whole.touches.cast(TOUCH_SCHEMA))
    assert sliced.rejects.equals(whole.rejects)
    assert sliced.inputs == whole.inputs
    assert entry(sliced, "CampaignMember.csv")["rows_duplicate"] == 1


def test_members_not_utf8_after_the_first_batches_are_read_as_latin1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.salesforce as sf

    folder = write_org(tmp_path / "sf")
    members = list(FILES["CampaignMember.csv"])
    members[-1] = members[-1].replace("Visited Booth", "Stand visité")
    (folder / "CampaignMember.csv").write_bytes(
        ("\n".join(members) + "\n").encode("latin-1"))
    whole = read_salesforce(folder)
    monkeypatch.setattr(sf, "_MEMBER_BATCH_BYTES", 100)
    batched = read_salesforce(folder)
    e = entry(batched, "CampaignMember.csv")
    assert e["encoding"] == "latin-1" and e["rows_used"] == 5
    assert "Stand visité" not in batched.rejects.column("raw").to_pylist()
    assert batched.rejects.num_rows == 0
    assert batched.touches.cast(TOUCH_SCHEMA).equals(whole.touches.cast(TOUCH_SCHEMA))
    assert batched.inputs == whole.inputs
    check_counts(batched.inputs)


def test_two_exports_of_one_object_are_merged(tmp_path: Path) -> None:
    folder = write_org(tmp_path / "sf")
    (folder / "Opportunity_2026.csv").write_text(
        "Id,AccountId,Amount,IsClosed,IsWon,CreatedDate,CloseDate\n"
        "006A,001X,999,true,true,2026-02-01,2026-03-31\n"   # repeats 006A: duplicate
        "006Z,001Y,700,false,false,2026-04-01,2026-09-30\n")
    result = read_salesforce(folder)
    amounts = dict(zip(result.journeys.column("journey_id").to_pylist(),
                       result.journeys.column("pipeline_amount").to_pylist(),
                       strict=True))
    assert amounts["006A"] == 12_000.0 and amounts["006Z"] == 700.0
    second = entry(result, "Opportunity_2026.csv")
    assert (second["rows_used"], second["rows_duplicate"]) == (1, 1)
    check_counts(result.inputs)
