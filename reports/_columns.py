"""Column names of the report tables, their units, and the ``--compare`` merge.

Every measure column has one unit, written once here and used by the HTML renderer,
the CSV writer and the compare merge:

* ``money`` — in the store's currency (``pipeline_credit``, ``total_cost``, ...);
* ``count`` — touches, journeys, accounts, leads, deals (weights included);
* ``fraction`` — a share or rate between 0 and 1 (``*_share``, ``win_rate*``);
* ``ratio`` — money per money (``roas``, ``roac``, ``pipeline_per_cost``,
  ``marketing_roi``);
* ``days`` — durations in days;
* ``percent`` — ``*_change_pct`` columns, in percent (12.5 means +12.5%).

With ``compare``, every measure ``x`` gains ``x_previous`` (its value in the compare
quarter), ``x_change`` (current − previous) and ``x_change_pct`` (the change in
percent of the previous value, empty when the previous value is zero or missing).

Confidence intervals. When the attribution run has bootstrap intervals
(``attribute(..., intervals=N)``), a measure ``x`` that comes from attributed credit
gains ``x_lo`` and ``x_hi`` right after it: the percentile interval at the run's
level (``run.json`` → ``intervals.level``), in ``x``'s unit — ``pipeline_credit_lo``,
``revenue_credit_hi``, ``roas_lo``, ``credit_hi`` (DESIGN §5 names the measure; the
suffix names the bound, never the level, so names do not change with a parameter).
Without intervals no such column exists, and the tables are exactly as before.
Bounds belong to the report quarter only: ``--compare`` adds no ``_previous`` or
``_change`` columns for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._facts import safe_divide

__all__ = ["BOUND_SUFFIXES", "UNITS", "add_compare", "bound_of", "unit_of",
           "with_bounds"]

_MONEY = {
    "influenced_pipeline", "influenced_revenue", "sourced_pipeline", "pipeline_credit",
    "revenue_credit", "credit", "first_position_credit", "early_middle_credit",
    "late_middle_credit", "last_position_credit", "unplaced_credit", "middle_credit",
    "first_touch_credit", "last_touch_credit", "difference_vs_first_touch",
    "difference_vs_last_touch", "media_spend", "creative_cost", "agency_cost",
    "tools_cost", "other_cost", "total_cost", "cost_per_lead", "cost_per_opportunity",
    "cost_per_won_deal", "pipeline_created", "pipeline_target", "revenue",
    "average_deal_size", "cac",
}
_COUNT = {
    "touches", "journeys_touched", "accounts_touched", "journeys_reached",
    "accounts_reached", "closed_journeys_reached", "won_journeys_reached",
    "touches_before_lead", "touches_lead_to_opportunity", "touches_after_opportunity",
    "sales_touches", "leads", "opportunities", "won_deals", "closed_deals",
    "credited_touches",
}
_FRACTION = {
    "influenced_pipeline_share", "influenced_revenue_share", "sourced_pipeline_share",
    "pipeline_share", "revenue_share", "middle_share", "share", "win_rate",
    "win_rate_with", "win_rate_without", "pipeline_coverage",
    "lead_velocity_rate_month_1", "lead_velocity_rate_month_2",
    "lead_velocity_rate_month_3",
}
_RATIO = {"roas", "roac", "pipeline_per_cost", "marketing_roi"}
_DAYS = {"median_days_to_opportunity", "median_sales_cycle_days"}

#: Unit of every measure column of the report tables.
UNITS: dict[str, str] = {
    **dict.fromkeys(_MONEY, "money"), **dict.fromkeys(_COUNT, "count"),
    **dict.fromkeys(_FRACTION, "fraction"), **dict.fromkeys(_RATIO, "ratio"),
    **dict.fromkeys(_DAYS, "days"),
}
#: Money that is not a sum over rows (a ratio or a given figure).
_NOT_SUMS = {"cost_per_lead", "cost_per_opportunity", "cost_per_won_deal",
             "average_deal_size", "cac", "pipeline_target"}
#: Measures whose value for a row missing from a quarter is zero (sums).
_ADDITIVE = ({c for c, u in UNITS.items() if u in ("money", "count")} - _NOT_SUMS) | {
    c for c in UNITS if c.endswith("_share") or c == "share"}


#: Suffixes of interval bounds: ``x_lo`` and ``x_hi`` of a measure ``x``.
BOUND_SUFFIXES = ("_lo", "_hi")


def bound_of(column: str) -> str | None:
    """Return the measure a ``_lo``/``_hi`` bound column belongs to (else None).

    Examples
    --------
    >>> bound_of("roas_lo"), bound_of("pipeline_credit_hi"), bound_of("channel")
    ('roas', 'pipeline_credit', None)
    """
    for suffix in BOUND_SUFFIXES:
        if column.endswith(suffix) and column[: -len(suffix)] in UNITS:
            return column[: -len(suffix)]
    return None


def with_bounds(columns: Sequence[str], measures: Sequence[str]) -> list[str]:
    """Insert ``x_lo`` and ``x_hi`` after every measure ``x`` of ``measures``.

    Examples
    --------
    >>> with_bounds(["channel", "roas", "roac"], ["roas"])
    ['channel', 'roas', 'roas_lo', 'roas_hi', 'roac']
    """
    out: list[str] = []
    for c in columns:
        out.append(c)
        if c in measures:
            out += [f"{c}{s}" for s in BOUND_SUFFIXES]
    return out


def unit_of(column: str) -> str | None:
    """Return the unit of a report column, compare and bound columns too.

    None for keys and text columns.
    """
    if column.endswith("_change_pct"):
        return "percent"
    base = bound_of(column)
    if base is not None:
        return UNITS[base]
    for suffix in ("_previous", "_change"):
        if column.endswith(suffix):
            return UNITS.get(column[: -len(suffix)])
    return UNITS.get(column)


def add_compare(current: pd.DataFrame, previous: pd.DataFrame, keys: Sequence[str],
                quarter: str, previous_quarter: str) -> pd.DataFrame:
    """Add ``_previous``, ``_change`` and ``_change_pct`` columns for every measure.

    Rows present in only one quarter are kept; their missing sums (money and
    counts) are zero there, their missing ratios, shares and medians empty.

    Parameters
    ----------
    current, previous : DataFrame
        The same table for the report quarter and the compare quarter.
    keys : sequence of str
        Columns identifying a row (``quarter`` excluded).
    quarter : str
        The report quarter, written to the ``quarter`` column.
    previous_quarter : str
        The compare quarter, written to the ``previous_quarter`` column.

    Returns
    -------
    DataFrame
        ``current``'s columns, then ``previous_quarter``, then for each measure
        ``x``: ``x_previous``, ``x_change``, ``x_change_pct``. Interval bounds
        (``x_lo``, ``x_hi``) stay the report quarter's; on a row only the compare
        quarter has they are zero for sums and empty otherwise, like ``x``.
    """
    measures = [c for c in current.columns if c in UNITS]
    bounds = [c for c in current.columns if bound_of(c) is not None]
    other = [c for c in current.columns if c not in measures and c not in keys
             and c not in bounds and c != "quarter"]
    renames = {m: f"{m}_previous" for m in measures} | {o: f"{o}__prev" for o in other}
    prev = previous[list(keys) + other + measures].rename(columns=renames)
    merged = current.merge(prev, on=list(keys), how="outer", sort=False,
                           indicator=True)
    only_prev = (merged["_merge"] == "right_only").to_numpy()
    only_cur = (merged["_merge"] == "left_only").to_numpy()
    for o in other:
        merged[o] = merged[o].where(~only_prev, merged[f"{o}__prev"])
    merged["quarter"] = quarter
    out = merged[list(current.columns)].copy()
    for b in bounds:
        cur = merged[b].to_numpy(dtype=np.float64, na_value=np.nan)
        out[b] = np.where(only_prev, 0.0 if bound_of(b) in _ADDITIVE else np.nan, cur)
    out["previous_quarter"] = previous_quarter
    for m in measures:
        cur = merged[m].to_numpy(dtype=np.float64, na_value=np.nan)
        prv = merged[f"{m}_previous"].to_numpy(dtype=np.float64, na_value=np.nan)
        if m in _ADDITIVE:  # a row absent from a quarter had none of it there
            cur = np.where(only_prev, 0.0, cur)
            prv = np.where(only_cur, 0.0, prv)
        out[m] = cur
        out[f"{m}_previous"] = prv
        change = cur - prv
        out[f"{m}_change"] = change
        out[f"{m}_change_pct"] = 100.0 * safe_divide(change, np.abs(prv))
    return out.reset_index(drop=True)
