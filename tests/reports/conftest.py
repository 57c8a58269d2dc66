"""A hand-built store whose report cells are worked out by hand in the tests.

Days are counted from 2026-07-01, the first day of 2026Q3 (``d(-20)`` is in 2026Q2).

J1 (A1) Email d-20 [ebook] · Search d5 "PS - Brand" · Webinar d10 "Webinar 101"
        [webinar-101] · Search d20 " ps - brand " · Email d30 [case-study]
        (sales_email); lead d6, opp d20 1000, won d50 800
J2 (A1) Display d3 "<script>alert(1)</script>" [ebook]; lead d-11, opp d3 500,
        lost d40
J3 (A2) Email d2 '=HYPERLINK("x")' [datasheet] · Display d4 "<script>..."; opp d4
        200, open
J4 (A3) Email d1 [ebook] · Search d2 [pricing-page]; lead d1, never an opportunity
J5 (--) Events d30; opp d10 300 -> no eligible touch -> (unattributed)
J6 (A2) Search 2026-05-01 "PS - Brand"; lead 2026-04-20, opp 2026-05-10 400, won
        2026-06-01 400  (all in 2026Q2)

2026Q3 pipeline = J1 + J2 + J3 + J5 = 2000 (300 unattributed); revenue = J1 = 800.
Linear pipeline: J1 250 per touch (4 eligible), J2 Display 500, J3 100 + 100.
Linear revenue: J1 160 per touch (5 eligible).
"""

from __future__ import annotations

import pandas as pd
import pytest

from attribution import attribute, open_store, write_store

Q3 = pd.Timestamp("2026-07-01", tz="UTC")
XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("x")'
MODELS = ["first_touch", "last_touch", "linear"]


def d(n: float) -> pd.Timestamp:
    return Q3 + pd.Timedelta(days=n)


def hand_frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = [
        ("J1", d(-20), "Email", None, "ebook", None),
        ("J1", d(5), "Search", "PS - Brand", None, None),
        ("J1", d(10), "Webinar", "Webinar 101", "webinar-101", None),
        ("J1", d(20), "Search", " ps - brand ", None, None),
        ("J1", d(30), "Email", None, "case-study", "sales_email"),
        ("J2", d(3), "Display", XSS, "ebook", None),
        ("J3", d(2), "Email", FORMULA, "datasheet", None),
        ("J3", d(4), "Display", XSS, None, None),
        ("J4", d(1), "Email", None, "ebook", None),
        ("J4", d(2), "Search", None, "pricing-page", None),
        ("J5", d(30), "Events", None, None, None),
        ("J6", pd.Timestamp("2026-05-01", tz="UTC"), "Search", "PS - Brand", None,
         None),
    ]
    touches = pd.DataFrame(rows, columns=["journey_id", "ts", "channel", "campaign",
                                          "content", "interaction"])
    touches["seq"] = touches.groupby("journey_id").cumcount()
    nat = pd.NaT
    journeys = pd.DataFrame([
        ("J1", "A1", d(6), d(20), d(50), True, 1000.0, 800.0),
        ("J2", "A1", d(-11), d(3), d(40), False, 500.0, 0.0),
        ("J3", "A2", nat, d(4), nat, False, 200.0, 0.0),
        ("J4", "A3", d(1), nat, nat, False, 0.0, 0.0),
        ("J5", None, nat, d(10), nat, False, 300.0, 0.0),
        ("J6", "A2", pd.Timestamp("2026-04-20", tz="UTC"),
         pd.Timestamp("2026-05-10", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC"),
         True, 400.0, 400.0),
    ], columns=["journey_id", "account_id", "lead_created_at", "opportunity_created_at",
                "closed_at", "won", "pipeline_amount", "revenue_amount"])
    for col in ("lead_created_at", "opportunity_created_at", "closed_at"):
        journeys[col] = pd.to_datetime(journeys[col], utc=True)
    journeys["currency"] = "USD"
    spend = pd.DataFrame([
        ("2026-07-15", "Search", "PS - Brand", 100.0, "media"),
        ("2026-08-01", "Search", "ps - brand", 50.0, "creative"),
        ("2026-07-02", "Display", XSS, 40.0, "media"),
        ("2026-07-05", "Video", "YouTube", 70.0, "media"),
        ("2026-09-30", "Webinar", "Webinar 101", 0.0, "tools"),
        ("2026-06-30", "Search", "PS - Brand", 60.0, "media"),
        ("2026-10-01", "Search", "PS - Brand", 999.0, "media"),
    ], columns=["date", "channel", "campaign", "cost", "cost_type"])
    spend["date"] = pd.to_datetime(spend["date"]).dt.date
    spend["currency"] = "USD"
    return touches, journeys, spend


@pytest.fixture
def hand_store(tmp_path):
    touches, journeys, spend = hand_frames()
    return open_store(write_store(tmp_path / "store", touches, journeys, spend=spend))


@pytest.fixture
def hand_result(hand_store):
    return attribute(hand_store, MODELS, ["pipeline", "revenue"],
                     quarters=["2026Q2", "2026Q3"])


def row(df: pd.DataFrame, **keys) -> pd.Series:
    sel = pd.Series(True, index=df.index)
    for k, v in keys.items():
        sel &= df[k].isna() if v is None else df[k] == v
    found = df[sel]
    assert len(found) == 1, f"{len(found)} rows for {keys}"
    return found.iloc[0]
