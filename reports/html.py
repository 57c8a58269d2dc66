"""The self-contained HTML report: a Jinja2 template with autoescaping on.

Everything the page needs is inside the one file: CSS, the charts as inline SVG
drawn by matplotlib, and a short inline script that sorts tables and filters them
by model. It loads nothing from the network. Every string from the data is escaped
by Jinja2's autoescaping; chart labels are escaped by matplotlib's SVG writer, and
comments (where matplotlib repeats label text) are stripped from the SVG.

Confidence intervals. When the report's tables carry ``x_lo``/``x_hi`` bounds (an
attribution run with intervals), the bounds are not columns of their own on the
page: the cell of ``x`` shows its range, ``95% CI lo–hi``, on a small line under the
value (``<span class="ci">``; omitted where the range is a single value), the column
header says so in its title, and the model-comparison and ROAS charts draw the
ranges as whiskers (SVG groups ``credit-interval-N`` and ``roas-interval``,
``roac-interval``). Without bounds the page is exactly as before.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._columns import bound_of, unit_of
from .plots import (
    _SYMBOLS,
    plot_influence_vs_attribution,
    plot_middle_touch,
    plot_model_comparison,
    plot_roas_roac,
    plot_top_content,
)

if TYPE_CHECKING:
    from .report import Report

__all__ = ["format_value", "render_html"]

#: Headline KPIs: funnel column, label, whether a rise is good news.
KPIS = [
    ("pipeline_created", "Pipeline created", True),
    ("revenue", "Revenue (closed won)", True),
    ("opportunities", "Opportunities", True),
    ("won_deals", "Won deals", True),
    ("win_rate", "Win rate", True),
    ("average_deal_size", "Average deal size", True),
    ("leads", "Leads", True),
    ("total_cost", "Total cost", False),
    ("cac", "CAC (cost per won deal)", False),
    ("marketing_roi", "Marketing ROI (revenue / cost)", True),
]

_TABLES = [
    ("channel_influence", "Channel influence",
     "Per channel: touches in the quarter, influenced pipeline and revenue (the full "
     "amount of every converting journey the channel touched — these sum past 100%), "
     "pipeline sourced by the channel's first touch, and each model's attributed "
     "credit (sums to exactly 100%)."),
    ("middle_touch", "Middle-touch contribution",
     "Per target, channel and model: credit on first, middle and last eligible "
     "touches, and how the model's credit differs from first- and last-touch "
     "reporting (positive: what single-touch reporting hides)."),
    ("position_bands", "Credit by position band, all channels",
     "Per target and model: credit on the first, early-middle, late-middle and last "
     "eligible touches of converting journeys."),
    ("content_utilisation", "Content utilisation",
     "Per content asset: reach in the quarter, where in the journey it is used, win "
     "rate of the quarter's closed deals with and without it, days from first "
     "engagement to opportunity, and attributed credit."),
    ("roas_channel", "ROAS / ROAC by channel",
     "Costs in the quarter against attributed credit. ROAS = revenue / media spend, "
     "ROAC = revenue / all costs. Leads, opportunities and won deals are counted for "
     "the channel of their first touch. Empty ratios: no cost to divide by."),
    ("roas_campaign", "ROAS / ROAC by campaign",
     "Spend joins touches on channel and on the campaign name, case-folded and "
     "trimmed. Spend with no touches and touches with no spend are listed."),
    ("funnel_kpis", "Funnel KPIs",
     "The quarter's funnel from the store: leads by creation date, opportunities and "
     "pipeline by opportunity creation, deals and revenue by close date, costs by "
     "date."),
]

_LABELS = {
    "cac": "CAC", "roas": "ROAS", "roac": "ROAC", "marketing_roi": "Marketing ROI",
    "pipeline_per_cost": "Pipeline per cost",
    "lead_velocity_rate_month_1": "LVR month 1",
    "lead_velocity_rate_month_2": "LVR month 2",
    "lead_velocity_rate_month_3": "LVR month 3",
    "win_rate_with": "Win rate with asset", "win_rate_without": "Win rate without",
    "median_days_to_opportunity": "Median days to opportunity",
    "median_sales_cycle_days": "Median sales cycle",
    "first_position_credit": "First touch position",
    "last_position_credit": "Last touch position",
}
_UNIT_SUFFIX = {"fraction": "%", "ratio": "×", "days": "days", "count": "",
                "percent": "%"}


def _money(value: float, currency: str) -> str:
    sign = "−" if value < 0 else ""
    num = f"{abs(value):,.0f}"
    sym = _SYMBOLS.get(currency)
    return f"{sign}{sym}{num}" if sym else f"{sign}{num} {currency}".rstrip()


def format_value(value: Any, unit: str | None, currency: str = "") -> str:
    """Format one cell for people: money, counts, percentages, ratios, days.

    Parameters
    ----------
    value : any
        The cell.
    unit : str or None
        The column's unit (see :mod:`reports._columns`); None for text.
    currency : str, default=""
        The currency code of money columns.

    Returns
    -------
    str
        ``—`` for an empty value.

    Examples
    --------
    >>> format_value(1234567.4, "money", "USD"), format_value(0.1234, "fraction")
    ('$1,234,567', '12.3%')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit is None:
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "—"
    if unit == "money":
        return _money(v, currency)
    if unit == "count":
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
    if unit == "fraction":
        return f"{v * 100:.1f}%"
    if unit == "ratio":
        return f"{v:,.2f}×"
    if unit == "days":
        return f"{v:,.1f}"
    if unit == "percent":
        return f"{v:+.1f}%"
    return str(value)


def _label(col: str, currency: str) -> str:
    unit = unit_of(col)
    text = _LABELS.get(col, col.replace("_", " ").capitalize())
    suffix = currency if unit == "money" else _UNIT_SUFFIX.get(unit or "", "")
    return f"{text} ({suffix})" if suffix else text


def _svg(draw: Any, height: float) -> str:
    """Render a chart to inline SVG text, without comments, metadata or XML header."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "touchline",
                                "font.family": ["DejaVu Sans", "sans-serif"],
                                "font.size": 9}):
        fig = Figure(figsize=(7.4, height), layout="constrained")
        ax = fig.add_subplot()
        draw(ax)
        ax.set_title("", loc="left")  # the page gives each chart its heading
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                  r'<svg \1class="chart-svg" role="img"', text, count=1)
    return text.strip()


def level_text(report: Report) -> str:
    """Return a report's interval level as people read it (``"95%"``), or ``""``."""
    if report.intervals is None:
        return ""
    return f"{float(report.intervals['level']) * 100:g}%"


def _charts(report: Report) -> list[dict[str, Any]]:
    ci = report.tables["channel_influence"]
    mt = report.tables["middle_touch"]
    ct = report.tables["content_utilisation"]
    rr = report.tables["roas_roac"]
    cur = report.currency
    model = report.reference_model
    n_ch = max(ci["channel"].nunique(), 2)
    level = level_text(report)
    whiskers = (f" Whiskers: each model's {level} bootstrap interval." if level
                else "")
    roas_whiskers = (f" Whiskers: {level} bootstrap intervals (costs fixed)."
                     if level else "")
    specs = [
        ("chart-models-pipeline", "Models compared: attributed pipeline per channel",
         "Each marker is one model's credit; the grey line spans the models' range."
         + whiskers,
         lambda ax: plot_model_comparison(ci, target="pipeline", currency=cur, ax=ax),
         0.3 * n_ch + 1.4),
        ("chart-models-revenue", "Models compared: attributed revenue per channel",
         "Revenue of the deals won in the quarter, credited by every model."
         + whiskers,
         lambda ax: plot_model_comparison(ci, target="revenue", currency=cur, ax=ax),
         0.3 * n_ch + 1.4),
        ("chart-influence", "Influence vs attribution per channel",
         f"Share of the quarter's pipeline and revenue each channel touched "
         f"(influence) and was credited ({model}).",
         lambda ax: plot_influence_vs_attribution(ci, model=model, ax=ax),
         0.42 * n_ch + 1.4),
        ("chart-middle", "Middle-touch share per channel",
         f"How each channel's pipeline credit ({model}) splits over first, middle and "
         "last touches.",
         lambda ax: plot_middle_touch(mt, target="pipeline", model=model, ax=ax),
         0.3 * n_ch + 1.8),
        ("chart-roas", "ROAS vs ROAC per channel",
         f"Revenue credit ({model}) per unit of media spend and of all costs; the "
         "dashed line is break-even." + roas_whiskers,
         lambda ax: plot_roas_roac(rr, model=model, ax=ax),
         0.35 * n_ch + 1.4 if (rr["total_cost"] > 0).any() else 1.2),
        ("chart-content", "Top content assets",
         f"Attributed pipeline ({model}) of the ten most credited assets.",
         lambda ax: plot_top_content(ct, model=model, currency=cur, ax=ax),
         0.32 * min(max(ct["content"].nunique() - 2, 2), 10) + 1.4),
    ]
    return [{"id": cid, "title": title, "caption": caption, "svg": _svg(draw, height)}
            for cid, title, caption, draw, height in specs]


def _kpis(report: Report) -> list[dict[str, Any]]:
    row = report.tables["funnel_kpis"].iloc[0]
    out = []
    for col, label, up_good in KPIS:
        unit = unit_of(col)
        item = {"label": label, "column": col,
                "value": format_value(row[col], unit, report.currency),
                "change": None, "previous": None, "tone": ""}
        if report.compare and f"{col}_change_pct" in row.index:
            change = row[f"{col}_change"]
            item["previous"] = format_value(row[f"{col}_previous"], unit,
                                            report.currency)
            text = _change_text(unit or "", change, row[f"{col}_change_pct"])
            if text:
                item["change"] = text[0]
                item["tone"] = "good" if (change > 0) == up_good else "bad"
            else:
                item["change"] = "■ no change" if change == 0 else "—"
                item["tone"] = "flat"
        out.append(item)
    return out


def _display_table(report: Report, key: str) -> pd.DataFrame:
    if key == "roas_channel":
        df = report.tables["roas_roac"]
        return df[df["level"] == "channel"].drop(columns=["level", "campaign"])
    if key == "roas_campaign":
        df = report.tables["roas_roac"]
        return df[df["level"] == "campaign"].drop(columns=["level"])
    return report.tables[key]


#: Most rows a table shows on the page; the CSV and Parquet files hold them all.
MAX_HTML_ROWS = 2500


def _cap(df: pd.DataFrame, model: str) -> tuple[pd.DataFrame, str]:
    """Keep a table small enough for a page: one model, then the largest rows."""
    if len(df) <= MAX_HTML_ROWS:
        return df, ""
    n = len(df)
    if "model" in df.columns:
        df = df[df["model"] == model]
    if len(df) > MAX_HTML_ROWS:
        money = [c for c in df.columns if unit_of(c) == "money"]
        if money:
            df = df.loc[df[money[0]].abs().sort_values(ascending=False).index]
        df = df.iloc[:MAX_HTML_ROWS]
    return df, (f"The page shows {len(df):,} of the table's {n:,} rows"
                f"{f' ({model})' if 'model' in df.columns else ''}; the .csv and "
                ".parquet files hold them all.")


def _rows(df: pd.DataFrame, currency: str, compare: bool, level: str = ""
          ) -> dict[str, Any]:
    shown = [c for c in df.columns if c not in ("quarter", "previous_quarter")
             and not c.endswith(("_previous", "_change", "_change_pct"))
             and bound_of(c) is None]
    bounded = {c for c in shown if f"{c}_lo" in df.columns and f"{c}_hi" in df.columns}
    columns = [{"name": c, "label": _label(c, currency), "unit": unit_of(c),
                "numeric": unit_of(c) is not None,
                "ci": (f"Under the value: its {level} bootstrap interval, low–high"
                       if c in bounded else "")} for c in shown]
    records = df.to_dict("records")
    rows = []
    for rec in records:
        cells = []
        for col in columns:
            name, unit = col["name"], col["unit"]
            v = rec[name]
            cell: dict[str, Any] = {"text": format_value(v, unit, currency), "v": "",
                                    "change": "", "tone": "", "ci": ""}
            if name in bounded:
                span = _range_text(rec[f"{name}_lo"], rec[f"{name}_hi"], unit,
                                   currency)
                cell["ci"] = f"{level} CI {span}" if span else ""
            if unit is not None and v is not None and isinstance(v, (int, float,
                                                                     np.number)):
                fv = float(v)
                cell["v"] = repr(fv) if math.isfinite(fv) else ""
            if compare and unit is not None:
                change = _change_text(unit, rec.get(f"{name}_change"),
                                      rec.get(f"{name}_change_pct"))
                if change:
                    cell["change"], cell["tone"] = change
            cells.append(cell)
        rows.append({"cells": cells, "model": rec.get("model", "")})
    return {"columns": columns, "rows": rows, "has_model": "model" in df.columns}


def _range_text(lo: Any, hi: Any, unit: str | None, currency: str) -> str:
    """``lo–hi`` of an interval; empty when a bound is missing or both are equal."""
    try:
        a, b = float(lo), float(hi)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(a) and math.isfinite(b)) or a == b:
        return ""
    return f"{format_value(a, unit, currency)}–{format_value(b, unit, currency)}"


def _change_text(unit: str, change: Any, pct: Any) -> tuple[str, str] | None:
    """Format the change line of a cell: percent, or points for fractions."""
    if unit == "fraction":
        if not isinstance(change, float) or not math.isfinite(change) or \
                round(change * 100, 1) == 0:
            return None
        arrow = "▲" if change > 0 else "▼"
        return f"{arrow} {abs(change) * 100:.1f} pts", "up" if change > 0 else "down"
    if not isinstance(pct, float) or not math.isfinite(pct) or round(pct, 1) == 0:
        return None
    arrow = "▲" if pct > 0 else "▼"
    return f"{arrow} {abs(pct):.1f}%", "up" if pct > 0 else "down"


def _funnel_rows(report: Report) -> dict[str, Any]:
    """Turn the funnel's one row on its side: a row per KPI."""
    rec = report.tables["funnel_kpis"].iloc[0]
    cur = report.currency
    columns = [{"name": "kpi", "label": "KPI", "unit": None, "numeric": False,
                "ci": ""},
               {"name": "value", "label": report.quarter, "unit": "", "numeric": True,
                "ci": ""}]
    if report.compare:
        columns += [{"name": "previous", "label": report.compare, "unit": "",
                     "numeric": True, "ci": ""},
                    {"name": "change", "label": "Change", "unit": "", "numeric": True,
                     "ci": ""}]
    rows = []
    for col in report.tables["funnel_kpis"].columns:
        unit = unit_of(col)
        if unit is None or col.endswith(("_previous", "_change", "_change_pct")):
            continue
        v = rec[col]
        cells = [{"text": _label(col, cur), "v": "", "change": "", "tone": "",
                  "ci": ""},
                 {"text": format_value(v, unit, cur), "v": _num(v), "change": "",
                  "tone": "", "ci": ""}]
        if report.compare:
            prev = rec[f"{col}_previous"]
            text = _change_text(unit, rec[f"{col}_change"], rec[f"{col}_change_pct"])
            cells += [{"text": format_value(prev, unit, cur), "v": _num(prev),
                       "change": "", "tone": "", "ci": ""},
                      {"text": text[0] if text else "—",
                       "v": _num(rec[f"{col}_change"]), "change": "", "tone": "",
                       "ci": ""}]
        rows.append({"cells": cells, "model": ""})
    return {"columns": columns, "rows": rows, "has_model": False}


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return repr(f) if math.isfinite(f) else ""


def render_html(report: Report) -> str:
    """Render the report as one self-contained HTML page.

    Parameters
    ----------
    report : Report
        From :func:`reports.build`.

    Returns
    -------
    str
        The page.
    """
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    env = Environment(autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    templates = resources.files("reports").joinpath("templates")
    template = env.from_string(templates.joinpath("report.html.j2").read_text("utf-8"))
    script = templates.joinpath("report.js").read_text("utf-8")
    # the page's only script, allowed by hash: an injected script could not run
    script_hash = "sha256-" + base64.b64encode(
        hashlib.sha256(script.encode()).digest()).decode()
    charts = _charts(report)
    for chart in charts:
        chart["svg"] = Markup(chart["svg"])  # matplotlib escapes text; comments gone
    level = level_text(report)
    tables = []
    for key, title, caption in _TABLES:
        df = _display_table(report, key)
        note = df.attrs.get("note", "")
        df, cut = _cap(df, report.reference_model)
        if cut:
            note = (f"{note} " if note else "") + cut
        body = (_funnel_rows(report) if key == "funnel_kpis" else
                _rows(df, report.currency, bool(report.compare), level))
        ci_note = ""
        if any(col["ci"] for col in body["columns"]):
            ci_note = (f"The small range under a credit or ratio is its {level} "
                       "bootstrap interval (journeys resampled, costs fixed).")
        tables.append({"id": f"table-{key}", "key": key, "title": title,
                       "caption": caption, "note": note, "ci_note": ci_note, **body})
    return template.render(
        report=report, quarter=report.quarter, compare=report.compare,
        currency=report.currency or "—", models=report.models,
        reference_model=report.reference_model, kpis=_kpis(report), charts=charts,
        tables=tables, settings=report.settings, script=Markup(script),
        script_hash=script_hash, intervals=bool(level))

