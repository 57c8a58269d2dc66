"""Confidence intervals in the reports: bound columns only when the run has them,
ROAS/ROAC bounds from the saved bootstrap draws, ranges and whiskers on the page."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

import reports
from attribution import UNATTRIBUTED, attribute, open_store, write_store
from attribution.exceptions import TouchlineWarning
from attribution.synth import synthesize
from benchmarks.report import synthetic_spend
from reports._columns import add_compare
from reports.channel_influence import CHANNEL_INFLUENCE_COLUMNS
from reports.middle_touch import MIDDLE_TOUCH_COLUMNS
from reports.roas import ROAS_COLUMNS
from touchline.cli import main

from .conftest import MODELS, XSS
from .test_reconcile import stores_with_spend

QUARTERS = ["2026Q2", "2026Q3"]
RUN_MODELS = ["linear", "markov", "first_touch"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A synthetic store with spend, its run with intervals, and the saved run."""
    t, j = synthesize(1500, seed=11)
    d = tmp_path_factory.mktemp("iv")
    store = open_store(write_store(d / "store", t, j, spend=synthetic_spend(t)))
    result = attribute(store, RUN_MODELS, ["pipeline", "revenue"], quarters=QUARTERS,
                       intervals=40, interval_level=0.9, seed=3)
    return store, result, result.to_dir(d / "credit")


def bounds_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.endswith(("_lo", "_hi"))]


def test_no_bound_columns_without_intervals(hand_result, hand_store):
    rep = reports.build(hand_result, hand_store, quarter="2026Q3", compare="2026Q2")
    assert rep.intervals is None
    for name, df in rep.tables.items():
        assert not bounds_columns(df), name
    base = [c for c in rep.channel_influence.columns if c != "previous_quarter"
            and not c.endswith(("_previous", "_change", "_change_pct"))]
    assert base == CHANNEL_INFLUENCE_COLUMNS
    html = rep.render_html()
    assert 'class="ci"' not in html and "td .ci" not in html
    assert "credit-interval" not in html and "bootstrap" not in html


def test_credit_tables_carry_the_run_intervals(synthetic):
    store, result, _ = synthetic
    rep = reports.build(result, store, quarter="2026Q3", compare="2026Q2")
    assert rep.intervals == {"level": 0.9, "resamples": 40, "seed": 3}
    ci = rep.channel_influence
    assert list(ci.columns[:20]) == [
        *CHANNEL_INFLUENCE_COLUMNS[:13], "pipeline_credit_lo", "pipeline_credit_hi",
        "pipeline_share", "revenue_credit", "revenue_credit_lo", "revenue_credit_hi",
        "revenue_share"]
    # bounds are the report quarter's only: no compare columns for them
    assert not [c for c in ci.columns if re.search(r"_(lo|hi)_(previous|change)", c)]
    assert "pipeline_credit_previous" in ci.columns
    cc = result.channel_credit
    cc = cc[cc.quarter == "2026Q3"]
    for target in ("pipeline", "revenue"):
        want = cc[cc.target == target].set_index(["channel", "model"])
        got = ci.set_index(["channel", "model"])
        both = want.index.intersection(got.index)
        assert len(both) == len(want)
        for s in ("lo", "hi"):
            np.testing.assert_array_equal(got.loc[both, f"{target}_credit_{s}"],
                                          want.loc[both, f"credit_{s}"])
        credit = ci[f"{target}_credit"]
        tol = 1e-6 * credit.abs().max()
        assert (ci[f"{target}_credit_lo"] <= ci[f"{target}_credit_hi"]).all()
        assert (ci[f"{target}_credit_lo"] <= credit + tol).all()
        assert (credit <= ci[f"{target}_credit_hi"] + tol).all()
        assert ci[f"{target}_credit_lo"].notna().all()
    mt = rep.middle_touch
    assert list(mt.columns[:7]) == [*MIDDLE_TOUCH_COLUMNS[:5], "credit_lo",
                                    "credit_hi"]
    m = mt.merge(cc.rename(columns={"credit": "cc_credit"}),
                 on=["target", "channel", "model"], suffixes=("", "_cc"))
    np.testing.assert_array_equal(m.credit_lo, m.credit_lo_cc)
    np.testing.assert_array_equal(m.credit_hi, m.credit_hi_cc)
    # tables without a per-channel model credit stay as they are
    for name in ("position_bands", "content_utilisation", "funnel_kpis"):
        assert not bounds_columns(rep.tables[name]), name
    # point estimates do not move
    plain = attribute(store, RUN_MODELS, ["pipeline", "revenue"], quarters=QUARTERS)
    plain_rep = reports.build(plain, store, quarter="2026Q3", compare="2026Q2")
    for name, df in plain_rep.tables.items():
        pd.testing.assert_frame_equal(rep.tables[name][list(df.columns)], df,
                                      obj=name)


def test_roas_bounds_are_quantiles_of_the_saved_draws(synthetic):
    store, _, credit_dir = synthetic
    draws = pd.read_parquet(credit_dir / "credit_draws.parquet")
    rr = reports.roas_roac(credit_dir, store, quarter="2026Q3")
    assert list(rr.columns) == [
        *ROAS_COLUMNS[:14], "pipeline_credit_lo", "pipeline_credit_hi",
        "revenue_credit", "revenue_credit_lo", "revenue_credit_hi", "roas", "roas_lo",
        "roas_hi", "roac", "roac_lo", "roac_hi", "pipeline_per_cost",
        "pipeline_per_cost_lo", "pipeline_per_cost_hi", *ROAS_COLUMNS[18:]]
    chan = rr[rr.level == "channel"]
    checked = 0
    for ratio, target, cost in (("roas", "revenue", "media_spend"),
                                ("roac", "revenue", "total_cost"),
                                ("pipeline_per_cost", "pipeline", "total_cost")):
        for _, row in chan.iterrows():
            if not row[cost] > 0:
                assert np.isnan(row[f"{ratio}_lo"]) and np.isnan(row[f"{ratio}_hi"])
                continue
            d = draws[(draws.model == row.model) & (draws.target == target)
                      & (draws.quarter == "2026Q3") & (draws.channel == row.channel)]
            credit = (d.sort_values("draw").credit.to_numpy() if len(d)
                      else np.zeros(40))
            lo, hi = np.quantile(credit / row[cost], [0.05, 0.95])
            assert row[f"{ratio}_lo"] == pytest.approx(lo, rel=1e-12, abs=1e-15)
            assert row[f"{ratio}_hi"] == pytest.approx(hi, rel=1e-12, abs=1e-15)
            checked += 1
    assert checked > 30
    assert (chan.roas_hi > chan.roas_lo).any()
    camp = rr[rr.level == "campaign"]
    assert camp[bounds_columns(rr)].isna().all().all()
    un = chan[chan.channel == UNATTRIBUTED]
    assert un.roas_lo.isna().all() and un.pipeline_credit_lo.notna().all()


def test_credit_draws_round_trip_through_the_directory(synthetic):
    _, result, credit_dir = synthetic
    back = reports.open_credit(credit_dir)
    pd.testing.assert_frame_equal(back.credit_draws.astype({"channel": object}),
                                  result.credit_draws.astype(
                                      {c: object for c in ("model", "target",
                                                           "quarter", "channel")}),
                                  check_dtype=False)
    assert back.run["intervals"] == {"resamples": 40, "level": 0.9, "seed": 3}


def test_same_seed_same_report(synthetic):
    store, result, _ = synthetic
    again = attribute(store, RUN_MODELS, ["pipeline", "revenue"], quarters=QUARTERS,
                      intervals=40, interval_level=0.9, seed=3)
    pd.testing.assert_frame_equal(again.credit_draws, result.credit_draws)
    a = reports.roas_roac(result, store, quarter="2026Q3")
    b = reports.roas_roac(again, store, quarter="2026Q3")
    pd.testing.assert_frame_equal(a, b)


def test_intervals_without_draws_warn_and_leave_ratios_empty(synthetic, tmp_path):
    import shutil

    store, _, credit_dir = synthetic
    old = tmp_path / "old"
    shutil.copytree(credit_dir, old)
    (old / "credit_draws.parquet").unlink()
    with pytest.warns(TouchlineWarning, match="ratio intervals such as roas_lo"):
        rr = reports.roas_roac(old, store, quarter="2026Q3")
    chan = rr[rr.level == "channel"]
    assert chan.roas_lo.isna().all() and chan.pipeline_credit_lo.notna().all()


def test_compare_keeps_bounds_of_the_report_quarter():
    cur = pd.DataFrame({"channel": ["A"], "pipeline_credit": [10.0],
                        "pipeline_credit_lo": [8.0], "pipeline_credit_hi": [12.0],
                        "roas": [2.0], "roas_lo": [1.5], "roas_hi": [2.5]})
    prev = pd.DataFrame({"channel": ["A", "B"], "pipeline_credit": [5.0, 7.0],
                         "pipeline_credit_lo": [4.0, 6.0],
                         "pipeline_credit_hi": [6.0, 8.0], "roas": [1.0, 3.0],
                         "roas_lo": [0.5, 2.5], "roas_hi": [1.5, 3.5]})
    out = add_compare(cur, prev, ["channel"], "2026Q3", "2026Q2").set_index("channel")
    assert out.loc["A", "pipeline_credit_lo"] == 8.0 and out.loc["A", "roas_hi"] == 2.5
    # B had credit only in the compare quarter: none now, in any resample
    assert out.loc["B", "pipeline_credit"] == 0.0
    assert out.loc["B", "pipeline_credit_lo"] == 0.0
    assert out.loc["B", "pipeline_credit_hi"] == 0.0
    assert np.isnan(out.loc["B", "roas_lo"]) and np.isnan(out.loc["B", "roas"])
    assert "pipeline_credit_lo_previous" not in out.columns
    assert "roas_previous" in out.columns


def test_html_shows_ranges_and_whiskers_escaped(hand_store):
    result = attribute(hand_store, [*MODELS, "markov"], ["pipeline", "revenue"],
                       quarters=QUARTERS, intervals=30, seed=1)
    rep = reports.build(result, hand_store, quarter="2026Q3", compare="2026Q2")
    html = rep.render_html()
    assert html.count("<script") == 1 and XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    spans = re.findall(r'<span class="ci">([^<]*)</span>', html)
    assert spans and all(re.fullmatch(r"95% CI −?\S+–−?\S+", s) for s in spans)
    display = rep.channel_influence.set_index(["channel", "model"]).loc[
        ("Display", "linear")]
    lo, hi = display.pipeline_credit_lo, display.pipeline_credit_hi
    assert lo < display.pipeline_credit < hi
    assert f'<span class="ci">95% CI ${lo:,.0f}–${hi:,.0f}</span>' in html
    assert 'title="Under the value: its 95% bootstrap interval' in html
    assert "bootstrap interval (journeys resampled, costs fixed)" in html
    svg = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert len(svg) == 6
    models_chart = html.split('id="chart-models-pipeline"')[1].split("</figure>")[0]
    for i in range(4):
        assert f'id="credit-interval-{i}"' in models_chart
    roas_chart = html.split('id="chart-roas"')[1].split("</figure>")[0]
    assert 'id="roas-interval"' in roas_chart and 'id="roac-interval"' in roas_chart
    assert "95% bootstrap percentile intervals, 30 resamples" in html


def test_chart_and_table_text_stay_escaped_with_intervals():
    evil = "</text><script>alert(2)</script><text>"
    touches = pd.DataFrame({
        "journey_id": ["a", "a", "b", "c", "c"],
        "ts": pd.to_datetime(["2026-07-02", "2026-07-03", "2026-07-04", "2026-07-02",
                              "2026-07-05"], utc=True),
        "seq": [0, 1, 0, 0, 1], "channel": [evil, "$x$ & <b>", evil, evil, "Email"]})
    journeys = pd.DataFrame({
        "journey_id": ["a", "b", "c"],
        "opportunity_created_at": pd.to_datetime(["2026-07-05", "2026-07-06",
                                                  "2026-07-08"], utc=True),
        "closed_at": pd.to_datetime(["2026-08-01", None, "2026-08-02"], utc=True),
        "won": [True, False, True], "pipeline_amount": [100.0, 50.0, 70.0],
        "revenue_amount": [90.0, 0.0, 60.0]})
    spend = pd.DataFrame({"date": pd.to_datetime(["2026-07-01"]).date,
                          "channel": [evil], "campaign": [None], "cost": [10.0],
                          "cost_type": ["media"]})
    store = open_store((touches, journeys))
    result = attribute(store, ["linear", "markov"], quarters=["2026Q3"],
                       intervals=20, seed=0)
    html = reports.build(result, store, quarter="2026Q3", spend=spend).render_html()
    assert html.count("<script") == 1
    assert "<b>" not in html
    assert "&lt;/text&gt;&lt;script&gt;alert(2)" in html
    assert 'class="ci"' in html and 'id="credit-interval-0"' in html


def test_cli_report_attributes_with_intervals(hand_store, tmp_path, capsys):
    store = str(hand_store.path)
    out = tmp_path / "rep"
    assert main(["report", store, "--quarter", "2026Q3", "--models", "linear",
                 "--intervals", "20", "--interval-level", "0.8", "--seed", "2",
                 "--quiet", "--out", str(out)]) == 0
    ci = pd.read_parquet(out / "channel_influence.parquet")
    assert {"pipeline_credit_lo", "pipeline_credit_hi"} <= set(ci.columns)
    assert "80% CI" in (out / "report.html").read_text()
    rr = pd.read_csv(out / "roas_roac.csv")
    assert {"roas_lo", "roas_hi", "roac_lo", "roac_hi"} <= set(rr.columns)
    plain = tmp_path / "plain"
    assert main(["report", store, "--quarter", "2026Q3", "--models", "linear",
                 "--quiet", "--out", str(plain)]) == 0
    assert not bounds_columns(pd.read_parquet(plain / "channel_influence.parquet"))


def test_cli_report_from_credit_dir_with_intervals(hand_store, tmp_path, capsys):
    store = str(hand_store.path)
    credit = tmp_path / "credit"
    assert main(["attribute", store, "--models", "linear,markov", "--quarter",
                 "2026Q3", "--intervals", "20", "--quiet", "--out", str(credit)]) == 0
    assert (credit / "credit_draws.parquet").is_file()
    out = tmp_path / "rep"
    assert main(["report", store, "--credit", str(credit), "--quarter", "2026Q3",
                 "--quiet", "--out", str(out)]) == 0
    mt = pd.read_parquet(out / "middle_touch.parquet")
    assert {"credit_lo", "credit_hi"} <= set(mt.columns)
    capsys.readouterr()
    code = main(["report", store, "--credit", str(credit), "--quarter", "2026Q3",
                 "--intervals", "20", "--out", str(tmp_path / "r2")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == ("Error: --intervals applies when report attributes itself; run "
                   "`touchline attribute --intervals N` and give its --out as "
                   "--credit (its intervals are shown)\n")
    assert not (tmp_path / "r2").exists()


def test_no_warning_for_runs_without_intervals(hand_result, hand_store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reports.build(hand_result, hand_store, quarter="2026Q3")


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stores_with_spend())
def test_intervals_change_no_point_estimate(data):
    touches, journeys, spend = data
    store = open_store((touches, journeys))
    models = ["linear", "markov", "first_touch", "shapley"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TouchlineWarning)
        runs = [attribute(store, models, ["pipeline", "revenue"], quarters=QUARTERS,
                          **kw) for kw in ({"intervals": 10}, {})]
    with_iv, plain = (reports.build(r, store, quarter="2026Q3", compare="2026Q2",
                                    spend=spend) for r in runs)
    for name, df in plain.tables.items():
        got = with_iv.tables[name]
        pd.testing.assert_frame_equal(got[list(df.columns)], df, obj=name)
        for lo_col in (c for c in got.columns if c.endswith("_lo")):
            lo, hi = got[lo_col], got[lo_col[:-3] + "_hi"]
            assert (lo.isna() == hi.isna()).all(), lo_col
            assert ((lo <= hi + 1e-9) | lo.isna()).all(), lo_col
    assert with_iv.render_html().count("<script") == 1
