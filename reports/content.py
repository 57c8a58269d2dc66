"""Content utilisation: how each content asset is used and what it is credited."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial as bind

import numpy as np
import pandas as pd

from attribution import AttributionResult, Store
from attribution._columnar import NAT

from ._columns import add_compare
from ._facts import (
    NO_CONTENT,
    UNATTRIBUTED,
    US_PER_DAY,
    Facts,
    Part,
    distinct,
    facts_for,
    first_of_each,
    group_counts,
    ordered_names,
    safe_divide,
    weighted_median,
)
from ._pass import Partial, Table, run_tables

__all__ = ["CONTENT_COLUMNS", "SALES_INTERACTIONS", "content_table",
           "content_utilisation"]

#: Interactions that count as sales use of an asset, by default.
SALES_INTERACTIONS = ("sales_email", "sales_call", "meeting")
#: Columns of :func:`content_utilisation` (before the compare columns).
CONTENT_COLUMNS = [
    "quarter", "content", "model", "touches", "journeys_reached", "accounts_reached",
    "closed_journeys_reached", "won_journeys_reached", "win_rate_with",
    "win_rate_without", "touches_before_lead", "touches_lead_to_opportunity",
    "touches_after_opportunity", "sales_touches", "median_days_to_opportunity",
    "pipeline_credit", "pipeline_share", "revenue_credit", "revenue_share",
]


def content_utilisation(result: AttributionResult | Facts | str | os.PathLike,
                        store: Store | str | os.PathLike | None = None, *,
                        quarter: str, compare: str | None = None,
                        models: Sequence[str] | None = None,
                        sales_interactions: Sequence[str] = SALES_INTERACTIONS
                        ) -> pd.DataFrame:
    """Per content asset and model: reach, stage of use, win rates and credit.

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run holding ``quarter`` (and ``compare``), made on ``store``.
    store : Store or path
        The journey store.
    quarter : str
        The report quarter, e.g. ``"2026Q3"``.
    compare : str, optional
        A previous quarter (adds the compare columns).
    models : list of str, optional
        Models to report (every model of the run by default).
    sales_interactions : sequence of str, default=SALES_INTERACTIONS
        Interactions that count as use in sales (``sales_email``, ``sales_call``,
        ``meeting``).

    Returns
    -------
    pandas.DataFrame
        One row per content asset and model — every asset with a touch in the
        quarter stays, credited or not — plus ``(no content)`` for touches without
        an asset and ``(unattributed)`` for credit on no touch, so that a model's
        credit sums to the quarter's total:

        * ``touches``, ``journeys_reached``, ``accounts_reached`` — touches with the
          asset whose ``ts`` falls in the quarter, and their distinct journeys and
          accounts;
        * ``closed_journeys_reached``, ``won_journeys_reached`` — deals closed
          (won or lost) in the quarter whose path used the asset in its lookback
          window before the close, and the won ones among them;
          ``win_rate_with`` = won / closed among them, ``win_rate_without`` the
          same for the quarter's closed deals that did not use it (fractions);
        * ``touches_before_lead``, ``touches_lead_to_opportunity``,
          ``touches_after_opportunity`` — the quarter's touches by the journey's
          stage at the time (no lead yet; lead created, opportunity not yet or at
          that moment; after the opportunity's creation); they sum to ``touches``;
        * ``sales_touches`` — touches whose interaction is in
          ``sales_interactions``;
        * ``median_days_to_opportunity`` — content engagement velocity: for the
          opportunities created in the quarter that used the asset in their
          lookback window, the median days from the first engagement with the
          asset to the opportunity's creation;
        * ``pipeline_credit``, ``pipeline_share``, ``revenue_credit``,
          ``revenue_share`` — the model's credit on touches with the asset (money,
          and fraction of the quarter's total).
    """
    f = facts_for(result, store, models=models)
    table = content_table(sales_interactions)
    return run_tables(f, [table], quarter, compare)[table.name]


def content_table(sales_interactions: Sequence[str] = SALES_INTERACTIONS) -> Table:
    """Return the steps of :func:`content_utilisation` for ``run_tables``."""
    return Table("content_utilisation",
                 bind(_part, sales=tuple(sales_interactions)), _finish, _merge)


def _merge(f: Facts, current: pd.DataFrame, previous: pd.DataFrame, q: str,
           p: str) -> pd.DataFrame:
    return _sorted(add_compare(current, previous, ["content", "model"], q, p),
                   f.models)


def _sorted(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    order = {n: i for i, n in enumerate(ordered_names(df["content"].unique(),
                                                      [NO_CONTENT, UNATTRIBUTED]))}
    morder = {m: i for i, m in enumerate(models)}
    key = df["content"].map(order) * (len(models) + 1) + df["model"].map(morder)
    return df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def _part(part: Part, q: str, sales: tuple[str, ...]) -> Partial:
    """Per content name: the part's touches, reach, stages, deals and credit.

    Also the quarter's closed and won deals (``closed``), and the samples of the
    days to opportunity (``days``: content, days, weight) for the median.
    """
    f = part.facts
    c = part.c
    jt = part.journey_of_touch
    w = c.weight
    n_ct = len(c.contents)
    n = n_ct + 1  # the last group holds touches without content
    names = np.append(c.contents.astype(object), NO_CONTENT)

    def group_of(idx: np.ndarray) -> np.ndarray:
        code = c.content[idx].astype(np.int64)
        return np.where(code < 0, n_ct, code)

    idx = part.touches_in(q)
    g = group_of(idx)
    touches, journeys, accounts = group_counts(idx, g, n, part)

    # stage of use of the quarter's touches
    ts, j = c.ts[idx], jt[idx]
    opp, lead = c.opportunity_created_at[j], c.lead_created_at[j]
    after = (opp != NAT) & (ts > opp)
    between = ~after & (lead != NAT) & (ts >= lead)
    stage = np.where(after, 2, np.where(between, 1, 0))
    by_stage = np.bincount(g * 3 + stage, weights=w[j], minlength=3 * n).reshape(n, 3)
    sales_codes = np.flatnonzero(np.isin(c.interactions.astype(str),
                                         np.array(sales, dtype=str)))
    is_sales = np.isin(c.interaction[idx], sales_codes)
    sales_touches = np.bincount(g[is_sales], weights=w[j][is_sales], minlength=n)

    # the quarter's closed deals, and whether their path used each asset
    closed = f.in_quarter(c.closed_at, q)
    window_from = np.where(c.opportunity_created_at != NAT, c.opportunity_created_at,
                           c.closed_at)
    cidx = part.in_window(closed, c.closed_at, window_from)
    pair = distinct(jt[cidx].astype(np.int64) * n + group_of(cidx))
    pj, pg = pair // n, pair % n
    closed_reached = np.bincount(pg, weights=w[pj], minlength=n)
    won_reached = np.bincount(pg, weights=w[pj] * c.won[pj], minlength=n)

    # content engagement velocity: first engagement -> opportunity creation
    opp_q = f.in_quarter(c.opportunity_created_at, q)
    oidx = part.in_window(opp_q, c.opportunity_created_at, c.opportunity_created_at)
    og = group_of(oidx)
    first = first_of_each(jt[oidx].astype(np.int64) * n + og)
    fidx = oidx[first]
    fj = jt[fidx]
    days = pd.DataFrame({
        "content": names[og[first]],
        "days": (c.opportunity_created_at[fj] - c.ts[fidx]) / US_PER_DAY,
        "weight": w[fj]})

    m = {"touches": touches, "journeys_reached": journeys,
         "accounts_reached": accounts, "closed_journeys_reached": closed_reached,
         "won_journeys_reached": won_reached, "touches_before_lead": by_stage[:, 0],
         "touches_lead_to_opportunity": by_stage[:, 1],
         "touches_after_opportunity": by_stage[:, 2], "sales_touches": sales_touches}
    for target in f.targets():
        rows = part.credit(target, q)
        g = group_of(rows.touch)
        m[f"credited_{target}"] = np.bincount(g, minlength=n).astype(np.float64)
        for model in f.models:
            m[f"{target}_credit|{model}"] = np.bincount(g, weights=rows.credit[model],
                                                       minlength=n)
    deals = pd.DataFrame({"closed": [float(w[closed].sum())],
                          "won": [float(w[closed & c.won].sum())]})
    return Partial(sums={"content": pd.DataFrame(m, index=pd.Index(names,
                                                                   name="content")),
                         "deals": deals},
                   rows={"days": days})


def _finish(f: Facts, q: str, partial: Partial) -> pd.DataFrame:
    sums = partial.sums["content"]
    names = sums.index.to_numpy(dtype=object)
    n = len(names)
    closed_total, won_total = (float(partial.sums["deals"][k].sum())
                               for k in ("closed", "won"))
    days = partial.rows["days"]
    median_days = weighted_median(
        sums.index.get_indexer(days["content"]), days["days"].to_numpy(np.float64),
        days["weight"].to_numpy(), n)
    touches = sums["touches"].to_numpy()
    closed_reached = sums["closed_journeys_reached"].to_numpy()
    won_reached = sums["won_journeys_reached"].to_numpy()
    base = pd.DataFrame({
        "content": names, "touches": touches,
        "journeys_reached": sums["journeys_reached"].to_numpy(),
        "accounts_reached": sums["accounts_reached"].to_numpy(),
        "closed_journeys_reached": closed_reached,
        "won_journeys_reached": won_reached,
        "win_rate_with": safe_divide(won_reached, closed_reached),
        "win_rate_without": safe_divide(won_total - won_reached,
                                        closed_total - closed_reached),
        **{k: sums[k].to_numpy() for k in (
            "touches_before_lead", "touches_lead_to_opportunity",
            "touches_after_opportunity", "sales_touches")},
        "median_days_to_opportunity": median_days})
    keep = (touches > 0) | (closed_reached > 0) | np.isfinite(median_days)

    credit_cols: dict[str, dict[str, np.ndarray]] = {}
    unattributed: dict[str, dict[str, float]] = {}
    for target in ("pipeline", "revenue"):
        if target not in f.targets():
            continue
        keep |= sums[f"credited_{target}"].to_numpy() > 0
        total = f.total(target, q)
        credit_cols[target] = {}
        unattributed[target] = {}
        for model in f.models:
            by = sums[f"{target}_credit|{model}"].to_numpy()
            credit_cols[target][model] = by
            rest = total - by.sum()
            unattributed[target][model] = 0.0 if abs(rest) <= 1e-9 * max(
                abs(total), 1.0) else rest
    base = base[keep]
    sel = np.flatnonzero(keep)
    frames = []
    for model in f.models:
        df = base.copy()
        df["model"] = model
        extra = {"content": UNATTRIBUTED, "model": model}
        for target in ("pipeline", "revenue"):
            total = f.total(target, q) if target in credit_cols else np.nan
            if target in credit_cols:
                df[f"{target}_credit"] = credit_cols[target][model][sel]
                extra[f"{target}_credit"] = unattributed[target][model]
            else:
                df[f"{target}_credit"] = np.nan
                extra[f"{target}_credit"] = np.nan
            df[f"{target}_share"] = safe_divide(df[f"{target}_credit"], total)
            extra[f"{target}_share"] = float(safe_divide(
                np.array([extra[f"{target}_credit"]]), total)[0])
        frames.append(df)
        frames.append(pd.DataFrame([extra]))
    out = pd.concat(frames, ignore_index=True)
    counts = ["touches", "journeys_reached", "accounts_reached",
              "closed_journeys_reached", "won_journeys_reached", "touches_before_lead",
              "touches_lead_to_opportunity", "touches_after_opportunity",
              "sales_touches"]
    out[counts] = out[counts].fillna(0.0)
    out["quarter"] = q
    return _sorted(out[CONTENT_COLUMNS], f.models)
