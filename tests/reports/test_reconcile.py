"""Property tests: every table reconciles with the store and the credit, every model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
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


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """One synthetic store written whole and in four parts (with spend)."""
    from attribution import write_store

    d = tmp_path_factory.mktemp("layouts")
    t, j = synthesize(1500, seed=8)
    spend = synthetic_spend(t)
    return (write_store(d / "one", t, j, spend=spend),
            write_store(d / "four", t, j, spend=spend, partitions=4))


RUNS = {
    "plain": {},
    "intervals": {"intervals": 30, "seed": 2},
    "excluded": {"exclude_channels": ["Email", "Direct"]},
}


def assert_same_tables(a: reports.Report, b: reports.Report) -> None:
    """Every table equal: measures, compare columns, medians, bounds (1e-9)."""
    assert list(a.tables) == list(b.tables) == list(reports.TABLE_NAMES)
    for name in reports.TABLE_NAMES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name],
                                      check_exact=False, rtol=1e-9, atol=1e-6,
                                      obj=name)
    assert a.currency == b.currency


@pytest.mark.parametrize("run", list(RUNS))
def test_partitioned_store_gives_the_same_tables(layouts, run):
    one, four = layouts
    models = ["linear", "markov", "first_touch"]
    kw = RUNS[run]
    reps = [reports.build(attribute(s, models, quarters=QUARTERS, **kw), s,
                          quarter="2026Q3", compare="2026Q2") for s in (one, four)]
    assert_same_tables(*reps)
    # the comparison covers what does not simply add up across parts
    ci, ct, ff = (reps[1].tables[k] for k in ("channel_influence",
                                               "content_utilisation", "funnel_kpis"))
    assert (ci.journeys_touched > 0).any() and (ci.accounts_touched > 0).any()
    assert (ci.accounts_touched_previous > 0).any()
    assert ct.median_days_to_opportunity.notna().any()
    assert ct.median_days_to_opportunity_previous.notna().any()
    assert np.isfinite(ff.median_sales_cycle_days_previous).all()
    bounds = [c for c in ci.columns if c.endswith("_lo")]
    assert bool(bounds) == (run == "intervals")
    if run == "excluded":
        assert not ci.channel.isin(["Email", "Direct"]).any()
    # the credit of the whole store's run, read part by part, and a loaded store
    loaded = open_store(four)
    loaded.columnar()
    run_one = attribute(one, models, quarters=QUARTERS, **kw)
    for store in (four, loaded):
        assert_same_tables(reports.build(run_one, store, quarter="2026Q3",
                                         compare="2026Q2"), reps[0])


def test_partitioned_report_reads_each_part_once(layouts, monkeypatch):
    """One pass over the parts for every table of both quarters, one part held."""
    import weakref

    import attribution.store as store_module
    from attribution import Store

    _, four = layouts
    run = attribute(four, ["linear", "markov"], quarters=QUARTERS)
    built = store_module.build_columnar
    alive: list[weakref.ref] = []

    def one_at_a_time(*args, **kwargs):
        assert all(r() is None for r in alive), "an earlier part is still held"
        c = built(*args, **kwargs)
        alive.append(weakref.ref(c))
        return c

    def whole(self):
        raise AssertionError("the report read the whole store")

    monkeypatch.setattr(store_module, "build_columnar", one_at_a_time)
    monkeypatch.setattr(Store, "columnar", whole)
    rep = reports.build(run, four, quarter="2026Q3", compare="2026Q2")
    assert len(alive) == 4  # four parts, each read once
    assert set(rep.tables) == set(reports.TABLE_NAMES)
    alive.clear()
    reports.channel_influence(run, four, quarter="2026Q3")
    assert len(alive) == 4


def test_partitioned_report_files_are_byte_identical(layouts, tmp_path):
    _, four = layouts
    run = attribute(four, ["linear", "markov"], quarters=QUARTERS)
    for k in (1, 2):
        reports.build(run, four, quarter="2026Q3", compare="2026Q2").write(
            tmp_path / f"r{k}")
    names = sorted(f.name for f in (tmp_path / "r1").iterdir())
    assert len(names) == 2 * len(reports.TABLE_NAMES) + 2
    for name in names:
        if name != "report.json":  # it says when it was written
            assert (tmp_path / "r1" / name).read_bytes() == \
                (tmp_path / "r2" / name).read_bytes(), name


def test_credit_of_another_partitioned_store_is_refused(layouts, tmp_path):
    from attribution import TouchlineError, write_store

    _, four = layouts
    run = attribute(four, ["linear"], quarters=QUARTERS)
    t, j = synthesize(1500, seed=8)
    ids = j.column("journey_id").slice(0, 1000)
    fewer = write_store(tmp_path / "fewer", t.filter(pc.is_in(t.column("journey_id"),
                                                             value_set=ids)),
                        j.slice(0, 1000), partitions=3)
    with pytest.raises(TouchlineError, match="journey ids of the attribution run are "
                                             "not in this store"):
        reports.build(run, fewer, quarter="2026Q3")
    t, j = synthesize(1500, seed=9)  # the same journey ids, other touches
    other = write_store(tmp_path / "other", t, j, partitions=3)
    with pytest.raises(TouchlineError, match="touches of the attribution run are "
                                             "not in this store"):
        reports.build(run, other, quarter="2026Q3")


@given(stores_with_spend(), st.integers(2, 4))
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.function_scoped_fixture])
def test_partitioned_report_reconciles_with_the_store(data, parts):
    import tempfile

    from attribution import write_store

    touches, journeys, spend = data
    with tempfile.TemporaryDirectory() as d:
        store = open_store(write_store(f"{d}/store", touches, journeys,
                                       partitions=parts))
        result = attribute(store, ["linear", "markov", "first_touch", "u_shaped"],
                           ["pipeline", "revenue"], quarters=QUARTERS)
        rep = check_report(result, store, spend)
        whole = reports.build(result, open_store((touches, journeys)),
                              quarter="2026Q3", compare="2026Q2", spend=spend)
        assert_same_tables(rep, whole)
