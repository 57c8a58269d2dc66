"""Quarter boundaries, reporting time zones and fiscal years in the report tables."""

from __future__ import annotations

import pandas as pd
import pytest

import reports
from attribution import TouchlineError, attribute, open_store


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def boundary_store():
    """J1 converts one hour before 2026Q3 ends in New York but after it ends in UTC;
    J2 exactly at the start of 2026Q3 (UTC); J3 in Q2."""
    touches = pd.DataFrame({
        "journey_id": ["J1", "J2", "J3"],
        "ts": [ts("2026-09-20"), ts("2026-07-01 00:00"), ts("2026-06-30 23:59:59")],
        "seq": [0, 0, 0], "channel": ["Email", "Search", "Display"]})
    journeys = pd.DataFrame({
        "journey_id": ["J1", "J2", "J3"],
        "lead_created_at": [ts("2026-09-20"), ts("2026-07-01"),
                            ts("2026-06-30 23:59:59")],
        "opportunity_created_at": [ts("2026-10-01 03:00"), ts("2026-07-01"),
                                   ts("2026-06-30 23:59:59")],
        "pipeline_amount": [100.0, 10.0, 1.0]})
    spend = pd.DataFrame({"date": pd.to_datetime(["2026-06-30", "2026-07-01",
                                                  "2026-09-30", "2026-10-01"]).date,
                          "channel": "Email", "campaign": None, "cost": [1.0, 2, 4, 8],
                          "cost_type": "media"})
    return open_store((touches, journeys)), spend


def test_utc_boundaries():
    store, spend = boundary_store()
    result = attribute(store, ["linear"], ["pipeline", "revenue"],
                       quarters=["2026Q2", "2026Q3", "2026Q4"])
    f3 = reports.funnel_kpis(result, store, quarter="2026Q3", spend=spend).iloc[0]
    # J2 at 2026-07-01 00:00 opens Q3; J1 at 2026-10-01 03:00 UTC is Q4
    assert (f3.opportunities, f3.pipeline_created, f3.leads) == (1, 10, 2)
    assert f3.total_cost == 6  # 2026-07-01 and 2026-09-30
    f2 = reports.funnel_kpis(result, store, quarter="2026Q2", spend=spend).iloc[0]
    assert (f2.pipeline_created, f2.total_cost) == (1, 1)
    ci = reports.channel_influence(result, store, quarter="2026Q3")
    assert set(ci[ci.touches > 0].channel) == {"Email", "Search"}
    assert ci.groupby("model").pipeline_credit.sum().tolist() == [10]


def test_reporting_time_zone_moves_the_boundary():
    store, spend = boundary_store()
    result = attribute(store, ["linear"], ["pipeline"], quarters=["2026Q3"],
                       reporting_tz="America/New_York")
    f = reports.funnel_kpis(result, store, quarter="2026Q3", spend=spend).iloc[0]
    # 2026-10-01 03:00 UTC is 2026-09-30 23:00 in New York; 2026-07-01 00:00 UTC
    # is still June 30 there. Spend dates are calendar days, not shifted.
    assert (f.opportunities, f.pipeline_created) == (1, 100)
    assert f.total_cost == 6
    ci = reports.channel_influence(result, store, quarter="2026Q3")
    assert ci.set_index("channel").pipeline_credit.to_dict() == {
        "Email": 100.0, "(unattributed)": 0.0}
    with pytest.raises(TouchlineError, match="--reporting-tz: the attribution run "
                                             "used 'America/New_York', not 'UTC'"):
        reports.build(result, store, quarter="2026Q3", reporting_tz="UTC")


def test_fiscal_year_quarters():
    touches = pd.DataFrame({"journey_id": ["A", "B", "C"],
                            "ts": [ts("2026-01-31"), ts("2026-02-01"),
                                   ts("2026-04-30")],
                            "seq": 0, "channel": ["Email", "Search", "Display"]})
    journeys = pd.DataFrame({
        "journey_id": ["A", "B", "C"],
        "lead_created_at": [ts("2026-01-31"), ts("2026-02-01"), ts("2026-04-30")],
        "opportunity_created_at": [ts("2026-01-31"), ts("2026-02-01"),
                                   ts("2026-04-30 23:00")],
        "pipeline_amount": [1.0, 10.0, 100.0]})
    store = open_store((touches, journeys))
    spend = pd.DataFrame({"date": pd.to_datetime(["2026-01-31", "2026-02-01",
                                                  "2026-05-01"]).date,
                          "channel": "Email", "campaign": None, "cost": [1.0, 2, 4],
                          "cost_type": "media"})
    # fiscal year starting in February: Feb-Apr 2026 is FY2027 Q1
    result = attribute(store, ["first_touch"], ["pipeline"],
                       quarters=["2026Q4", "2027Q1"], fiscal_year_start=2)
    rep = reports.build(result, store, quarter="2027Q1", compare="2026Q4",
                        spend=spend)
    f = rep.funnel_kpis.iloc[0]
    assert (f.quarter, f.previous_quarter) == ("2027Q1", "2026Q4")
    assert (f.opportunities, f.pipeline_created, f.total_cost) == (2, 110, 2)
    assert (f.pipeline_created_previous, f.total_cost_previous) == (1, 1)
    # leads per fiscal month: Jan 1 (month before), Feb 1, Mar 0, Apr 1
    assert f.lead_velocity_rate_month_1 == 0.0
    assert f.lead_velocity_rate_month_2 == -1.0
    assert pd.isna(f.lead_velocity_rate_month_3)
    ci = rep.channel_influence.set_index("channel")
    assert ci.loc["Search", "pipeline_credit"] == 10
    assert ci.loc["Email", "pipeline_credit_previous"] == 1
    assert rep.settings["fiscal year starts in month"] == 2


def test_latest_full_and_previous_quarter():
    store, _ = boundary_store()
    # the data ends 2026-10-01 03:00 UTC: Q4 has barely begun, Q3 is full
    assert reports.latest_full_quarter(store) == "2026Q3"
    assert reports.latest_full_quarter(store, fiscal_year_start=2) == "2027Q2"
    assert reports.previous_quarter("2027Q1") == "2026Q4"
    touches = pd.DataFrame({"journey_id": ["J"], "ts": [ts("2026-09-30 10:00")],
                            "seq": [0], "channel": ["Email"]})
    journeys = pd.DataFrame({"journey_id": ["J"]})
    assert reports.latest_full_quarter(open_store((touches, journeys))) == "2026Q3"
