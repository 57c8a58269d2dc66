"""Property tests: every table reconciles with the store and the credit, every model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reports
from attribution import UNATTRIBUTED, attribute, open_store, registered_models
from attribution.synth import synthesize
from benchmarks.report import synthetic_spend

from ..attribution.conftest import CHANNELS, random_stores

MODELS = registered_models()
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
QUARTERS = ["2026Q2", "2026Q3"]


@st.composite
def stores_with_spend(draw):
    touches, journeys = draw(random_stores(max_journeys=14, timeless=False))
    touches["campaign"] = draw(st.lists(
        st.sampled_from([None, "Brand", " brand ", "=cmd", "Other"]),
        min_size=len(touches), max_size=len(touches)))
    touches["content"] = draw(st.lists(st.sampled_from([None, "ebook", "demo"]),
                                       min_size=len(touches), max_size=len(touches)))
    journeys["account_id"] = [f"A{i % 3}" if i % 4 else None
                              for i in range(len(journeys))]
    rows = draw(st.lists(st.tuples(
        st.integers(60, 300), st.sampled_from([*CHANNELS, "e"]),
        st.sampled_from([None, "BRAND", "Other", "unmatched"]),
        st.sampled_from([0.0, 10.0, 25.5]),
        st.sampled_from(["media", "creative", "agency", "tools", "other", "odd"])),
        max_size=8))
    spend = pd.DataFrame(rows, columns=["day", "channel", "campaign", "cost",
                                        "cost_type"])
    spend["date"] = (pd.Timestamp("2026-01-01") + pd.to_timedelta(spend.pop("day"),
                                                                   unit="D")).dt.date
    return touches, journeys, spend


def store_total(store, target: str, quarter: str) -> float:
    """The quarter's pipeline or revenue straight from the journeys table."""
    j = store.journeys
    start = pd.Timestamp(f"{quarter[:4]}-{3 * int(quarter[5]) - 2:02d}-01", tz="UTC")
    end = start + pd.DateOffset(months=3)
    if target == "pipeline":
        at, amount, sel = j.opportunity_created_at, j.pipeline_amount, True
    else:
        at, amount, sel = j.closed_at, j.revenue_amount, j.won
    sel = sel & (at >= start) & (at < end)
    return float((amount * j.weight)[sel].sum())


def check_report(result, store, spend):
    totals = result.totals.set_index(["target", "quarter"])
    for target in ("pipeline", "revenue"):
        for q in QUARTERS:
            assert totals.loc[(target, q), "total"] == pytest.approx(
                store_total(store, target, q), rel=1e-12, abs=1e-9)
    rep = reports.build(result, store, quarter="2026Q3", compare="2026Q2", spend=spend)
    funnel = rep.funnel_kpis.iloc[0]
    for target in ("pipeline", "revenue"):
        total = totals.loc[(target, "2026Q3"), "total"]
        prev = totals.loc[(target, "2026Q2"), "total"]
        tol = dict(rel=1e-9, abs=1e-6)
        ci = rep.channel_influence.groupby("model")
        assert ci[f"{target}_credit"].sum().to_numpy() == pytest.approx(total, **tol)
        assert ci[f"{target}_credit_previous"].sum().to_numpy() == pytest.approx(
            prev, **tol)
        mt = rep.middle_touch[rep.middle_touch.target == target]
        sums = mt.groupby("model").credit.sum().to_numpy()
        assert sums == pytest.approx(total, **tol)
        parts = mt[["first_position_credit", "early_middle_credit",
                    "late_middle_credit", "last_position_credit",
                    "unplaced_credit"]].sum(axis=1)
        assert parts.to_numpy() == pytest.approx(mt.credit.to_numpy(), **tol)
        pb = rep.position_bands[rep.position_bands.target == target]
        sums = pb.groupby("model").credit.sum().to_numpy()
        assert sums == pytest.approx(total, **tol)
        ct = rep.content_utilisation.groupby("model")[f"{target}_credit"].sum()
        assert ct.to_numpy() == pytest.approx(total, **tol)
        for level in ("channel", "campaign"):
            rr = rep.roas_roac[rep.roas_roac.level == level].groupby("model")
            assert rr[f"{target}_credit"].sum().to_numpy() == pytest.approx(total,
                                                                            **tol)
        created = "pipeline_created" if target == "pipeline" else "revenue"
        assert funnel[created] == pytest.approx(total, **tol)
        assert funnel[f"{created}_previous"] == pytest.approx(prev, **tol)
    lin = rep.channel_influence[rep.channel_influence.model == "linear"]
    cc = result.channel_credit
    cc = cc[(cc.quarter == "2026Q3") & (cc.model == "linear") & (cc.target ==
                                                                 "pipeline")]
    assert lin.set_index("channel").pipeline_credit.reindex(cc.channel).to_numpy() == \
        pytest.approx(cc.credit.to_numpy())
    # influence covers attribution for per-journey models; sourced = first touch
    for model in ("linear", "first_touch", "u_shaped"):
        m = rep.channel_influence[(rep.channel_influence.model == model)
                                  & (rep.channel_influence.channel != UNATTRIBUTED)]
        assert (m.influenced_pipeline + 1e-6 >= m.pipeline_credit).all()
    ft = rep.channel_influence[rep.channel_influence.model == "first_touch"]
    ft = ft[ft.channel != UNATTRIBUTED]
    assert ft.sourced_pipeline.to_numpy() == pytest.approx(
        ft.pipeline_credit.to_numpy())
    # funnel counts and costs reconcile with the ROAS rows
    for level in ("channel", "campaign"):
        rr = rep.roas_roac[(rep.roas_roac.level == level)
                           & (rep.roas_roac.model == "linear")]
        for col, kpi in (("leads", "leads"), ("opportunities", "opportunities"),
                         ("won_deals", "won_deals"), ("total_cost", "total_cost"),
                         ("media_spend", "media_spend")):
            assert rr[col].sum() == pytest.approx(funnel[kpi]), (level, col)
    ct = rep.content_utilisation
    stages = ct[["touches_before_lead", "touches_lead_to_opportunity",
                 "touches_after_opportunity"]].sum(axis=1)
    assert stages.to_numpy() == pytest.approx(ct.touches.to_numpy())
    for name, df in rep.tables.items():
        num = df.select_dtypes("number")
        assert not np.isinf(num.to_numpy(dtype=float)).any(), name
    return rep


@given(stores_with_spend())
@SETTINGS
def test_every_table_reconciles_for_every_model(data):
    touches, journeys, spend = data
    store = open_store((touches, journeys))
    result = attribute(store, MODELS, ["pipeline", "revenue"], quarters=QUARTERS)
    check_report(result, store, spend)


def test_synthetic_store_reconciles(tmp_path):
    t, j = synthesize(3000, seed=5)
    store = open_store((t.to_pandas(), j.to_pandas()))
    result = attribute(store, MODELS, ["pipeline", "revenue"], quarters=QUARTERS)
    rep = check_report(result, store, synthetic_spend(t))
    assert rep.channel_influence.touches.gt(0).any()


def test_partitioned_store_gives_the_same_tables(tmp_path):
    from attribution import write_store

    t, j = synthesize(1500, seed=8)
    spend = synthetic_spend(t)
    one = write_store(tmp_path / "one", t, j, spend=spend)
    four = write_store(tmp_path / "four", t, j, spend=spend, partitions=4)
    models = ["linear", "markov", "first_touch"]
    reps = [reports.build(attribute(s, models, quarters=QUARTERS), s,
                          quarter="2026Q3", compare="2026Q2") for s in (one, four)]
    for name in reports.TABLE_NAMES:
        a, b = (r.tables[name] for r in reps)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-6,
                                      obj=name)
    # the partitioned store was read part by part, keeping the quarters' journeys
    from reports._facts import Facts

    run = attribute(four, models, quarters=["2026Q2", "2026Q3"])
    shown = Facts(run, four).c
    assert 0 < shown.n_journeys < open_store(four).columnar().n_journeys
    again = reports.build(run, four, quarter="2026Q3", compare="2026Q2")
    for name in reports.TABLE_NAMES:
        pd.testing.assert_frame_equal(again.tables[name], reps[1].tables[name],
                                      obj=name)
