"""Every table on the hand-built store: cells worked out by hand (see conftest)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import reports
from attribution import UNATTRIBUTED

from .conftest import FORMULA, XSS, row


def approx(v):
    return pytest.approx(v, rel=1e-12, abs=1e-9)


def test_channel_influence_email_row_by_hand(hand_result, hand_store):
    t = reports.channel_influence(hand_result, hand_store, quarter="2026Q3")
    r = row(t, channel="Email", model="linear")
    # touches in Q3 by ts: J1 d30, J3 d2, J4 d1 (J1's d-20 touch is in Q2)
    assert (r.touches, r.journeys_touched, r.accounts_touched) == (3, 3, 3)
    # Email touched J1 (1000) and J3 (200) before their opportunities
    assert r.influenced_pipeline == 1200 and r.influenced_pipeline_share == approx(0.6)
    assert r.influenced_revenue == 800 and r.influenced_revenue_share == approx(1.0)
    # first eligible touch of J1 and J3 is Email
    assert r.sourced_pipeline == 1200 and r.sourced_pipeline_share == approx(0.6)
    # linear: J1 250 + J3 100; revenue J1 2 x 160
    assert r.pipeline_credit == approx(350) and r.pipeline_share == approx(0.175)
    assert r.revenue_credit == approx(320) and r.revenue_share == approx(0.4)
    assert r.quarter == "2026Q3"
    assert list(t.columns) == reports.channel_influence.__globals__[
        "CHANNEL_INFLUENCE_COLUMNS"]


def test_channel_influence_other_rows(hand_result, hand_store):
    t = reports.channel_influence(hand_result, hand_store, quarter="2026Q3")
    s = row(t, channel="Search", model="linear")
    assert (s.touches, s.journeys_touched, s.accounts_touched) == (3, 2, 2)
    assert (s.influenced_pipeline, s.sourced_pipeline) == (1000, 0)
    assert s.pipeline_credit == approx(500) and s.revenue_credit == approx(320)
    disp = row(t, channel="Display", model="first_touch")
    assert (disp.touches, disp.influenced_pipeline, disp.sourced_pipeline) == (
        2, 700, 500)
    assert disp.pipeline_credit == approx(500)
    ev = row(t, channel="Events", model="linear")  # touched after its opportunity only
    assert (ev.touches, ev.accounts_touched, ev.influenced_pipeline,
            ev.pipeline_credit) == (1, 0, 0, 0)
    un = row(t, channel=UNATTRIBUTED, model="linear")
    assert un.pipeline_credit == 300 and un.pipeline_share == approx(0.15)
    assert un.touches == 0
    # influence sums past 100%, attribution to exactly 100%
    lin = t[t.model == "linear"]
    assert lin.influenced_pipeline_share.sum() > 1
    assert lin.pipeline_share.sum() == approx(1.0)
    assert "sum past 100%" in t.attrs["note"]


def test_compare_columns(hand_result, hand_store):
    t = reports.channel_influence(hand_result, hand_store, quarter="2026Q3",
                                  compare="2026Q2")
    s = row(t, channel="Search", model="linear")
    assert s.previous_quarter == "2026Q2"
    # Q2: J6 (400) credited wholly to Search
    assert s.pipeline_credit_previous == 400
    assert s.pipeline_credit_change == approx(100)
    assert s.pipeline_credit_change_pct == approx(25.0)
    e = row(t, channel="Email", model="linear")
    assert e.touches_previous == 1 and e.touches_change == 2
    assert e.touches_change_pct == approx(200.0)
    # no Email pipeline in Q2: change in % is empty, not infinite
    assert e.pipeline_credit_previous == 0 and math.isnan(e.pipeline_credit_change_pct)
    for col in t.columns:
        if t[col].dtype.kind == "f":
            assert not np.isinf(t[col]).any(), col


def test_middle_touch_by_hand(hand_result, hand_store):
    t = reports.middle_touch(hand_result, hand_store, quarter="2026Q3")
    s = row(t, target="pipeline", channel="Search", model="linear")
    # J1 eligible: Email(first) Search(early middle) Webinar(late middle) Search(last)
    assert s.credit == approx(500)
    assert (s.first_position_credit, s.early_middle_credit, s.late_middle_credit,
            s.last_position_credit) == (0, approx(250), 0, approx(250))
    assert s.middle_credit == approx(250) and s.middle_share == approx(0.5)
    assert s.first_touch_credit == 0 and s.last_touch_credit == 1000
    assert s.difference_vs_first_touch == approx(500)
    assert s.difference_vs_last_touch == approx(-500)
    assert s.unplaced_credit == 0
    w = row(t, target="pipeline", channel="Webinar", model="linear")
    assert w.late_middle_credit == approx(250) and w.middle_share == approx(1.0)
    disp = row(t, target="pipeline", channel="Display", model="linear")
    # J2's only touch is a first touch; J3's Display is its last
    assert disp.first_position_credit == 500 and disp.last_position_credit == 100
    assert (disp.first_touch_credit, disp.last_touch_credit) == (500, 700)
    un = row(t, target="pipeline", channel=UNATTRIBUTED, model="linear")
    assert un.credit == 300 and un.unplaced_credit == 300
    assert un.first_touch_credit == 300
    e = row(t, target="revenue", channel="Email", model="linear")
    # J1 revenue: Email(first) Search Webinar Search Email(last); 160 each
    assert (e.first_position_credit, e.last_position_credit) == (approx(160),
                                                                  approx(160))
    assert e.middle_credit == 0 and e.first_touch_credit == 800
    r = row(t, target="revenue", channel="Webinar", model="linear")
    assert r.early_middle_credit == approx(160)  # position 2 of 5: 2*2 <= 4


def test_position_bands_by_hand(hand_result, hand_store):
    t = reports.position_bands(hand_result, hand_store, quarter="2026Q3")
    lin = t[(t.target == "pipeline") & (t.model == "linear")].set_index("band")
    assert lin.credit.to_dict() == {"first": approx(850), "early middle": approx(250),
                                    "late middle": approx(250), "last": approx(350),
                                    "unplaced": approx(300)}
    assert lin.credited_touches.to_dict() == {"first": 3, "early middle": 1,
                                              "late middle": 1, "last": 2,
                                              "unplaced": 0}
    assert lin.share.to_dict() == {
        "first": approx(0.425), "early middle": approx(0.125),
        "late middle": approx(0.125), "last": approx(0.175), "unplaced": approx(0.15)}
    assert set(lin.quarter) == {"2026Q3"}


def test_content_utilisation_by_hand(hand_result, hand_store):
    t = reports.content_utilisation(hand_result, hand_store, quarter="2026Q3")
    e = row(t, content="ebook", model="linear")
    # Q3 touches: J2 d3, J4 d1 (J1's ebook touch is in Q2)
    assert (e.touches, e.journeys_reached, e.accounts_reached) == (2, 2, 2)
    # Q3 closed deals: J1 won, J2 lost; both used the ebook before closing
    assert (e.closed_journeys_reached, e.won_journeys_reached) == (2, 1)
    assert e.win_rate_with == approx(0.5) and math.isnan(e.win_rate_without)
    # J2 d3 (lead d-11, opp d3) and J4 d1 (lead d1): between lead and opportunity
    assert (e.touches_before_lead, e.touches_lead_to_opportunity,
            e.touches_after_opportunity, e.sales_touches) == (0, 2, 0, 0)
    # first engagement to opportunity: J1 40 days, J2 0 days -> median 20
    assert e.median_days_to_opportunity == approx(20.0)
    assert e.pipeline_credit == approx(750) and e.revenue_credit == approx(160)
    assert e.pipeline_share == approx(0.375) and e.revenue_share == approx(0.2)
    w = row(t, content="webinar-101", model="linear")
    assert (w.win_rate_with, w.win_rate_without) == (1.0, 0.0)
    assert w.median_days_to_opportunity == approx(10.0)
    c = row(t, content="case-study", model="linear")
    assert (c.touches_after_opportunity, c.sales_touches) == (1, 1)
    assert math.isnan(c.median_days_to_opportunity)
    assert c.pipeline_credit == 0 and c.revenue_credit == approx(160)
    ds = row(t, content="datasheet", model="linear")
    assert ds.touches_before_lead == 1 and ds.pipeline_credit == approx(100)
    # an asset never credited stays in the table
    p = row(t, content="pricing-page", model="linear")
    assert p.touches == 1 and p.pipeline_credit == 0 and p.revenue_credit == 0
    assert t.groupby("model").pipeline_credit.sum().tolist() == [approx(2000)] * 3


def test_roas_roac_channel_rows_by_hand(hand_result, hand_store):
    t = reports.roas_roac(hand_result, hand_store, quarter="2026Q3")
    ch = t[t.level == "channel"]
    s = row(ch, channel="Search", model="linear")
    assert s.spend_match == "spend and touches"
    # Q3 spend: media 100 + creative 50 joined case-folded; Q2 and Q4 rows left out
    assert (s.media_spend, s.creative_cost, s.total_cost) == (100, 50, 150)
    assert (s.agency_cost, s.tools_cost, s.other_cost) == (0, 0, 0)
    assert s.touches == 3 and s.quarter == "2026Q3" and s.campaign is None
    assert math.isnan(s.cost_per_opportunity)
    assert s.pipeline_credit == approx(500) and s.revenue_credit == approx(320)
    assert s.roas == approx(3.2) and s.roac == approx(320 / 150)
    assert s.pipeline_per_cost == approx(500 / 150)
    assert (s.leads, s.opportunities, s.won_deals) == (0, 0, 0)
    assert math.isnan(s.cost_per_lead) and math.isnan(s.cost_per_won_deal)
    disp = row(ch, channel="Display", model="linear")
    assert disp.opportunities == 1 and disp.cost_per_opportunity == approx(40.0)
    assert disp.roas == 0.0 and disp.roac == 0.0
    email = row(ch, channel="Email", model="linear")
    assert email.spend_match == "touches, no spend"
    assert (email.leads, email.opportunities, email.won_deals) == (2, 2, 1)
    assert email.total_cost == 0 and math.isnan(email.roas) and math.isnan(
        email.cost_per_lead)
    video = row(ch, channel="Video", model="linear")  # spend, no touches: listed
    assert video.spend_match == "spend, no touches"
    assert (video.media_spend, video.touches, video.revenue_credit) == (70, 0, 0)
    assert video.roas == 0.0
    web = row(ch, channel="Webinar", model="linear")  # zero cost: empty ratios
    assert web.total_cost == 0 and math.isnan(web.roas) and math.isnan(web.roac)
    un = row(ch, channel=UNATTRIBUTED, model="linear")
    assert un.pipeline_credit == 300 and un.opportunities == 1
    assert not np.isinf(t.select_dtypes("number")).any().any()


def test_roas_roac_campaign_rows(hand_result, hand_store):
    t = reports.roas_roac(hand_result, hand_store, quarter="2026Q3")
    camp = t[t.level == "campaign"]
    s = row(camp, channel="Search", campaign="PS - Brand", model="linear")
    # " ps - brand " and "PS - Brand" meet; the spend "ps - brand" joins too
    assert (s.touches, s.media_spend, s.creative_cost) == (2, 100, 50)
    assert s.pipeline_credit == approx(500)
    none = row(camp, channel="Search", campaign="(no campaign)", model="linear")
    assert none.touches == 1 and none.spend_match == "touches, no spend"
    x = row(camp, channel="Display", campaign=XSS, model="linear")
    assert (x.touches, x.media_spend, x.pipeline_credit) == (2, 40, approx(600))
    f = row(camp, channel="Email", campaign=FORMULA, model="linear")
    assert f.pipeline_credit == approx(100)
    v = row(camp, channel="Video", campaign="YouTube", model="linear")
    assert v.spend_match == "spend, no touches"
    for model in ("linear", "first_touch"):
        for level in ("channel", "campaign"):
            sel = t[(t.level == level) & (t.model == model)]
            assert sel.pipeline_credit.sum() == approx(2000)
            assert sel.revenue_credit.sum() == approx(800)
            assert sel.total_cost.sum() == approx(260)
            assert sel.opportunities.sum() == 4 and sel.leads.sum() == 2


def test_funnel_kpis_by_hand(hand_result, hand_store):
    t = reports.funnel_kpis(hand_result, hand_store, quarter="2026Q3",
                            pipeline_target=4000)
    assert len(t) == 1
    r = t.iloc[0]
    assert (r.quarter, r.currency, r.leads, r.opportunities) == ("2026Q3", "USD", 2, 4)
    # leads: June 1 (J2), July 2, August 0, September 0
    assert r.lead_velocity_rate_month_1 == approx(1.0)
    assert r.lead_velocity_rate_month_2 == approx(-1.0)
    assert math.isnan(r.lead_velocity_rate_month_3)
    assert (r.pipeline_created, r.pipeline_target, r.pipeline_coverage) == (
        2000, 4000, 0.5)
    assert (r.won_deals, r.closed_deals, r.revenue) == (1, 2, 800)
    assert r.win_rate == 0.5 and r.average_deal_size == 800
    assert r.median_sales_cycle_days == approx(30.0)
    assert (r.total_cost, r.media_spend) == (260, 210)
    assert r.cost_per_lead == 130 and r.cac == 260
    assert r.marketing_roi == approx(800 / 260)
    c = reports.funnel_kpis(hand_result, hand_store, quarter="2026Q3",
                            compare="2026Q2").iloc[0]
    assert (c.revenue_previous, c.revenue_change, c.revenue_change_pct) == (
        400, 400, 100.0)
    assert c.total_cost_previous == 60 and c.previous_quarter == "2026Q2"
    assert math.isnan(c.pipeline_coverage)


def test_quarter_not_in_run_is_a_clear_error(hand_result, hand_store):
    from attribution import TouchlineError

    with pytest.raises(TouchlineError, match=r"holds quarter\(s\) 2026Q2, 2026Q3, "
                                             r"not 2026Q4; run `touchline attribute "
                                             r"--quarter 2026Q4`"):
        reports.channel_influence(hand_result, hand_store, quarter="2026Q4")


def test_models_filter_and_unknown_model(hand_result, hand_store):
    from attribution import TouchlineError

    t = reports.middle_touch(hand_result, hand_store, quarter="2026Q3",
                             models=["linear"])
    assert set(t.model) == {"linear"}
    with pytest.raises(TouchlineError, match="markov not in the attribution run"):
        reports.middle_touch(hand_result, hand_store, quarter="2026Q3",
                             models=["markov"])


def test_tables_from_credit_directory(hand_result, hand_store, tmp_path):
    hand_result.to_dir(tmp_path / "credit")
    a = reports.build(hand_result, hand_store, quarter="2026Q3", compare="2026Q2")
    b = reports.build(tmp_path / "credit", hand_store.path, quarter="2026Q3",
                      compare="2026Q2")
    for name in reports.TABLE_NAMES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name],
                                      check_dtype=False, obj=name)
    # a report reads only its targets' rows and the columns it uses
    full = reports.open_credit(tmp_path / "credit")
    lean = reports.open_credit(tmp_path / "credit", for_report=True)
    assert set(lean.credit_table.column_names) == {
        "journey_id", "touch_index", "target", "quarter", *full.run["model_columns"]}
    kept = full.credit_table.filter(
        pc.is_in(full.credit_table.column("target").cast(pa.string()),
                 value_set=pa.array(["pipeline", "revenue"])))
    assert lean.credit_table.num_rows == kept.num_rows


def test_credit_of_another_store_is_refused(hand_result):
    from attribution import TouchlineError, open_store

    other = open_store((pd.DataFrame({"journey_id": ["X"], "channel": ["Email"],
                                      "seq": [0]}),
                        pd.DataFrame({"journey_id": ["X"]})))
    with pytest.raises(TouchlineError, match="journey ids of the attribution run are "
                                             "not in this store"):
        reports.build(hand_result, other, quarter="2026Q3")
