"""Funnel KPIs: one row per quarter, from the store and its spend."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from attribution import AttributionResult, Store
from attribution._columnar import NAT
from attribution.quarters import quarter_bounds

from ._columns import add_compare
from ._facts import US_PER_DAY, Facts, Part, facts_for, safe_divide, weighted_median
from ._pass import Partial, Table, run_tables

__all__ = ["FUNNEL_COLUMNS", "funnel_kpis", "funnel_table"]

#: Columns of :func:`funnel_kpis` (before the compare columns).
FUNNEL_COLUMNS = [
    "quarter", "currency", "leads", "lead_velocity_rate_month_1",
    "lead_velocity_rate_month_2", "lead_velocity_rate_month_3", "opportunities",
    "pipeline_created", "pipeline_target", "pipeline_coverage", "won_deals",
    "closed_deals", "revenue", "win_rate", "average_deal_size",
    "median_sales_cycle_days", "total_cost", "media_spend", "cost_per_lead", "cac",
    "marketing_roi",
]


def funnel_kpis(result: AttributionResult | Facts | str | os.PathLike,
                store: Store | str | os.PathLike | None = None, *, quarter: str,
                compare: str | None = None, pipeline_target: float | None = None,
                spend: pd.DataFrame | None = None) -> pd.DataFrame:
    """Summarise the quarter's funnel in one row: leads to revenue, costs, returns.

    Leads count in the quarter of ``lead_created_at``, opportunities and pipeline
    in that of ``opportunity_created_at``, won and closed deals and revenue in that
    of ``closed_at``, and costs in that of their ``date`` (the attribution run's
    reporting time zone and fiscal year). Weights count as copies.

    Parameters
    ----------
    result : AttributionResult or path
        The attribution run (it gives the quarter settings and the totals).
    store : Store or path
        The journey store.
    quarter : str
        The report quarter, e.g. ``"2026Q3"``.
    compare : str, optional
        A previous quarter (adds the compare columns).
    pipeline_target : float, optional
        The quarter's pipeline target, for ``pipeline_coverage``.
    spend : DataFrame, optional
        Costs instead of the store's ``spend.parquet``.

    Returns
    -------
    pandas.DataFrame
        One row: ``quarter``, ``currency``, ``leads``,
        ``lead_velocity_rate_month_1..3`` (each month's growth of leads created
        over the month before it, a fraction), ``opportunities``,
        ``pipeline_created``, ``pipeline_target``, ``pipeline_coverage``
        (pipeline created / target), ``won_deals``, ``closed_deals`` (won or lost),
        ``revenue``, ``win_rate`` (won / closed), ``average_deal_size`` (revenue /
        won deals), ``median_sales_cycle_days`` (opportunity creation to close, of
        the won deals), ``total_cost``, ``media_spend``, ``cost_per_lead``, ``cac``
        (total cost / won deals), ``marketing_roi`` (revenue / total cost). Empty
        ratios (NaN) where a denominator is zero.
    """
    f = facts_for(result, store, spend=spend)
    if spend is not None and f._spend_override is not spend:
        f = Facts(f.result, f.store, models=f.models, spend=spend)
    return run_tables(f, [funnel_table(pipeline_target)], quarter, compare)[
        "funnel_kpis"]


def funnel_table(pipeline_target: float | None = None) -> Table:
    """Return the steps of :func:`funnel_kpis` for ``run_tables``."""
    return Table("funnel_kpis", _part,
                 lambda f, q, partial: _finish(f, q, partial, pipeline_target), _merge)


def _merge(f: Facts, cur: pd.DataFrame, prev: pd.DataFrame, q: str,
           p: str) -> pd.DataFrame:
    key = "_row"
    out = add_compare(cur.assign(**{key: 0}), prev.assign(**{key: 0}), [key], q, p)
    return out.drop(columns=key)


_COUNTS = ["leads_month_0", "leads_month_1", "leads_month_2", "leads_month_3",
           "leads", "opportunities", "pipeline_created", "won_deals", "closed_deals",
           "revenue"]


def _part(part: Part, q: str) -> Partial:
    """Return the part's leads by month, funnel counts and money, sales cycles."""
    f = part.facts
    c = part.c
    w = c.weight.astype(np.float64)
    lead, opp, closed = c.lead_created_at, c.opportunity_created_at, c.closed_at
    leads_q = f.in_quarter(lead, q)
    opp_q = f.in_quarter(opp, q)
    closed_q = f.in_quarter(closed, q)
    won_q = closed_q & c.won

    # leads per month: the month before the quarter and its three months
    start, _ = quarter_bounds(q, tz=f.reporting_tz,
                              fiscal_year_start=f.fiscal_year_start)
    local = start.tz_convert(f.reporting_tz)
    edges = [(local + pd.DateOffset(months=k)).tz_convert("UTC").value // 1000
             for k in range(-1, 4)]
    has_lead = lead != NAT
    month = np.searchsorted(np.asarray(edges, np.int64), lead[has_lead], side="right")
    monthly = np.bincount(month, weights=w[has_lead], minlength=6)[1:5]
    values = [*monthly, float(w[leads_q].sum()), float(w[opp_q].sum()),
              float((c.pipeline_amount * w)[opp_q].sum()), float(w[won_q].sum()),
              float(w[closed_q].sum()), float((c.revenue_amount * w)[won_q].sum())]
    cyc = won_q & (opp != NAT)
    cycles = pd.DataFrame({"days": (closed[cyc] - opp[cyc]) / US_PER_DAY,
                           "weight": w[cyc]})
    return Partial(sums={"funnel": pd.DataFrame([values], columns=_COUNTS)},
                   rows={"cycles": cycles})


def _finish(f: Facts, q: str, partial: Partial,
            pipeline_target: float | None) -> pd.DataFrame:
    sums = partial.sums["funnel"]
    total = {k: float(sums[k].sum()) for k in _COUNTS}
    monthly = np.array([total[f"leads_month_{k}"] for k in range(4)])
    lvr = safe_divide(monthly[1:] - monthly[:-1], monthly[:-1])
    leads, opportunities = total["leads"], total["opportunities"]
    pipeline, won = total["pipeline_created"], total["won_deals"]
    closed_n, revenue = total["closed_deals"], total["revenue"]
    cycles = partial.rows["cycles"]
    cycle = weighted_median(np.zeros(len(cycles), np.int64),
                            cycles["days"].to_numpy(np.float64),
                            cycles["weight"].to_numpy(np.float64), 1)[0]
    spend = f.spend_in(q)
    total_cost = float(spend["cost"].sum())
    media = float(spend.loc[spend["cost_type"] == "media", "cost"].sum())
    row = {
        "quarter": q, "currency": f.currency, "leads": leads,
        "lead_velocity_rate_month_1": lvr[0], "lead_velocity_rate_month_2": lvr[1],
        "lead_velocity_rate_month_3": lvr[2], "opportunities": opportunities,
        "pipeline_created": pipeline,
        "pipeline_target": (np.nan if pipeline_target is None
                            else float(pipeline_target)),
        "pipeline_coverage": np.nan if pipeline_target is None else float(
            safe_divide(pipeline, float(pipeline_target))),
        "won_deals": won, "closed_deals": closed_n, "revenue": revenue,
        "win_rate": float(safe_divide(won, closed_n)),
        "average_deal_size": float(safe_divide(revenue, won)),
        "median_sales_cycle_days": float(cycle), "total_cost": total_cost,
        "media_spend": media,
        "cost_per_lead": (float(safe_divide(total_cost, leads)) if total_cost
                          else np.nan),
        "cac": float(safe_divide(total_cost, won)) if total_cost else np.nan,
        "marketing_roi": float(safe_divide(revenue, total_cost)),
    }
    return pd.DataFrame([row])[FUNNEL_COLUMNS]
