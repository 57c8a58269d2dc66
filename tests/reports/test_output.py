"""Writing a report: files, atomic directory, CSV formula neutralising, safe HTML."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

import reports
from attribution import attribute, open_store
from attribution.exceptions import OutputPathError

from .conftest import FORMULA, XSS


def plain(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype(object)
    return df.where(df.notna(), None)


@pytest.fixture
def report(hand_result, hand_store):
    return reports.build(hand_result, hand_store, quarter="2026Q3", compare="2026Q2")


def test_write_every_table(report, tmp_path):
    out = report.write(tmp_path / "rep")
    names = sorted(p.name for p in out.iterdir())
    expected = sorted([f"{t}.{ext}" for t in reports.TABLE_NAMES
                       for ext in ("csv", "parquet")] + ["report.html", "report.json"])
    assert names == expected
    meta = json.loads((out / "report.json").read_text())
    assert (meta["quarter"], meta["compare"], meta["currency"]) == ("2026Q3", "2026Q2",
                                                                    "USD")
    for name in reports.TABLE_NAMES:
        back = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(plain(back), plain(report.tables[name]))
    report.write(out)  # a report directory may be replaced
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="touchline did not write"):
        report.write(foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_csv_neutralises_formulas_parquet_keeps_raw(report, tmp_path):
    out = report.write(tmp_path / "rep")
    text = (out / "roas_roac.csv").read_text()
    assert "'=HYPERLINK(\"\"x\"\")" in text  # CSV-quoted '=HYPERLINK("x")
    assert "\n=" not in text and ",=" not in text and ',"=' not in text
    csv = pd.read_csv(out / "roas_roac.csv")
    assert "'" + FORMULA in set(csv.campaign)
    assert XSS in set(csv.campaign)  # not a formula: left as it is
    raw = pd.read_parquet(out / "roas_roac.parquet")
    assert FORMULA in set(raw.campaign)
    mt = pd.read_csv(out / "middle_touch.csv")
    assert mt.difference_vs_last_touch.dtype.kind == "f"  # numbers stay numbers
    assert (mt.difference_vs_last_touch < 0).any()


def test_neutralise_every_prefix():
    df = pd.DataFrame({"t": ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ok", None],
                       "n": [-1.0, 2, 3, 4, 5, 6, 7, 8]})
    out = reports.neutralise_formulas(df)
    assert out.t.tolist()[:7] == ["'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx",
                                  "ok"]
    assert pd.isna(out.t.iloc[7]) and out.n.tolist() == df.n.tolist()
    assert df.t.iloc[0] == "=1+1"  # the input is not changed


def test_html_escapes_untrusted_strings(report):
    html = report.render_html()
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own sorting script
    assert "=HYPERLINK(&#34;x&#34;)" in html or "=HYPERLINK(&quot;x&quot;)" in html
    # self-contained: nothing is loaded from anywhere
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
    assert not re.search(r"\bsrc=", html)
    assert not re.search(r"url\(\s*['\"]?(?!#)", html)
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith("#"), href
    assert "default-src 'none'" in html


def test_chart_labels_cannot_inject_markup():
    evil = "</text><script>alert(2)</script><text>"
    touches = pd.DataFrame({
        "journey_id": ["a", "a", "b"],
        "ts": pd.to_datetime(["2026-07-02", "2026-07-03", "2026-07-04"], utc=True),
        "seq": [0, 1, 0], "channel": [evil, "$x$ & <b>", evil],
        "content": ["$5 off $10", "<img src=x onerror=alert(3)>", None]})
    journeys = pd.DataFrame({
        "journey_id": ["a", "b"],
        "opportunity_created_at": pd.to_datetime(["2026-07-05", "2026-07-06"],
                                                 utc=True),
        "closed_at": pd.to_datetime(["2026-08-01", None], utc=True),
        "won": [True, False], "pipeline_amount": [100.0, 50.0],
        "revenue_amount": [90.0, 0.0]})
    spend = pd.DataFrame({"date": pd.to_datetime(["2026-07-01"]).date,
                          "channel": [evil], "campaign": [None], "cost": [10.0],
                          "cost_type": ["media"]})
    store = open_store((touches, journeys))
    result = attribute(store, ["linear", "markov"], quarters=["2026Q3"])
    html = reports.build(result, store, quarter="2026Q3", spend=spend).render_html()
    assert html.count("<script") == 1
    assert "<img" not in html and "<b>" not in html
    assert "&lt;/text&gt;&lt;script&gt;alert(2)" in html  # in tables and chart text
    svg = re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL)
    assert len(svg) == 6
    assert all("<!--" not in s for s in svg)


def test_plot_functions_return_axes(report):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(20, 4))
    assert reports.plot_model_comparison(report, ax=axes[0]) is axes[0]
    assert reports.plot_influence_vs_attribution(report.channel_influence,
                                                 ax=axes[1]) is axes[1]
    assert reports.plot_middle_touch(report.middle_touch, ax=axes[2]) is axes[2]
    assert reports.plot_roas_roac(report.roas_roac, ax=axes[3]) is axes[3]
    assert reports.plot_top_content(report, ax=axes[4]) is axes[4]
    assert [t.get_text() for t in axes[0].get_yticklabels()]
    ax = reports.plot_top_content(report, model="linear")
    assert ax.figure is not fig
    plt.close("all")


def test_notebook_repr(report):
    html = report._repr_html_()
    assert "2026Q3 vs 2026Q2" in html and "pipeline_created" in html
    assert "<script" not in html
    assert "Report(quarter='2026Q3'" in repr(report)


def test_report_without_compare_or_spend(tmp_path):
    touches = pd.DataFrame({
        "journey_id": ["a", "a", "b"],
        "ts": pd.to_datetime(["2026-07-02", "2026-07-03", "2026-07-04"], utc=True),
        "seq": [0, 1, 0], "channel": ["Email", "Search", "Email"],
        "campaign": ["Brand", None, "Brand"]})
    journeys = pd.DataFrame({
        "journey_id": ["a", "b"],
        "opportunity_created_at": pd.to_datetime(["2026-07-05", None], utc=True),
        "pipeline_amount": [100.0, 0.0]})
    from attribution import write_store

    store = open_store(write_store(tmp_path / "s", touches, journeys))  # no spend
    result = attribute(store, ["linear"], ["pipeline", "revenue"],
                       quarters=["2026Q3"])
    rep = reports.build(result, store, quarter="2026Q3")
    rr = rep.roas_roac
    assert (rr.total_cost == 0).all() and rr.roas.isna().all() and rr.roac.isna().all()
    assert set(rr.spend_match) == {"touches, no spend", "no touch"}
    f = rep.funnel_kpis.iloc[0]
    assert (f.pipeline_created, f.revenue, f.total_cost) == (100, 0, 0)
    assert pd.isna(f.marketing_roi) and pd.isna(f.cac) and pd.isna(f.win_rate)
    assert "previous_quarter" not in rep.channel_influence.columns
    html = rep.render_html()
    assert "No costs recorded in this quarter" in html
    assert "Compared with" not in html and "pts" not in html
    out = rep.write(tmp_path / "r")
    assert (out / "report.html").is_file()


def test_long_tables_are_capped_on_the_page(report, monkeypatch):
    from reports import html

    monkeypatch.setattr(html, "MAX_HTML_ROWS", 5)
    page = report.render_html()
    assert "The page shows 5 of the table&#39;s" in page
    assert "the .csv and .parquet files hold them all" in page
