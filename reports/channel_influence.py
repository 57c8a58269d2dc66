"""Channel influence: what each channel touched, sourced and was credited.

When the attribution run has bootstrap intervals, ``pipeline_credit`` and
``revenue_credit`` are followed by ``pipeline_credit_lo``, ``pipeline_credit_hi``,
``revenue_credit_lo`` and ``revenue_credit_hi``: the run's ``credit_lo`` and
``credit_hi`` of the channel (see :mod:`reports._columns`). Without intervals the
table has exactly the columns of :data:`CHANNEL_INFLUENCE_COLUMNS`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from attribution import AttributionResult, Store

from ._columns import BOUND_SUFFIXES, add_compare, with_bounds
from ._facts import (
    UNATTRIBUTED,
    Facts,
    Part,
    distinct_value,
    facts_for,
    group_counts,
    ordered_names,
    safe_divide,
)
from ._pass import Partial, Table, run_tables

__all__ = ["CHANNEL_INFLUENCE_COLUMNS", "channel_influence"]

#: Columns of :func:`channel_influence` (before the compare columns).
CHANNEL_INFLUENCE_COLUMNS = [
    "quarter", "channel", "model", "touches", "journeys_touched", "accounts_touched",
    "influenced_pipeline", "influenced_pipeline_share", "influenced_revenue",
    "influenced_revenue_share", "sourced_pipeline", "sourced_pipeline_share",
    "pipeline_credit", "pipeline_share", "revenue_credit", "revenue_share",
]
_KEYS = ["channel", "model"]
_CREDITS = ["pipeline_credit", "revenue_credit"]
_NOTE = ("Influenced pipeline and revenue count the full amount of every journey a "
         "channel touched, so they sum past 100% across channels; attributed credit "
         "sums to exactly 100%.")


def channel_influence(result: AttributionResult | Facts | str | os.PathLike,
                      store: Store | str | os.PathLike | None = None, *, quarter: str,
                      compare: str | None = None,
                      models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per channel and model: touches, influence, sourced and attributed pipeline.

    A quarter's touches are those whose ``ts`` falls in it; its pipeline is the
    journeys whose opportunity was created in it and its revenue the deals won in
    it, each with the eligible touches the attribution run credited (DESIGN §3).

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run holding ``quarter`` (and ``compare``), made on ``store``.
    store : Store or path
        The journey store.
    quarter : str
        The report quarter, e.g. ``"2026Q3"``.
    compare : str, optional
        A previous quarter: adds ``_previous``, ``_change`` and ``_change_pct``
        columns for every measure.
    models : list of str, optional
        Models to report (every model of the run by default).

    Returns
    -------
    pandas.DataFrame
        One row per channel and model (plus an ``(unattributed)`` row per model,
        holding credit that no touch could take): ``quarter``, ``channel``,
        ``model``; ``touches``, ``journeys_touched``, ``accounts_touched`` (in the
        quarter, by ``ts``; journeys without an ``account_id`` count no
        account); ``influenced_pipeline`` and ``influenced_revenue`` (the full
        amount of every converting journey the channel touched before its
        conversion moment — these sum past 100% across channels) with their
        ``_share`` of the quarter's total; ``sourced_pipeline`` (pipeline whose first
        eligible touch is the channel's) and its share; ``pipeline_credit``,
        ``pipeline_share``, ``revenue_credit``, ``revenue_share`` (the model's
        attributed credit). Money is in the store's currency, shares are fractions.
        Columns of a target the run did not hold are empty. A run with intervals
        adds ``pipeline_credit_lo``/``_hi`` and ``revenue_credit_lo``/``_hi`` after
        the credit columns (zero where a channel has no credit).

    Examples
    --------
    >>> import attribution as at
    >>> from attribution.synth import synthesize
    >>> store = at.open_store(tuple(t.to_pandas() for t in synthesize(300, seed=1)))
    >>> result = at.attribute(store, ["linear"], quarters=["2026Q2"])
    >>> table = channel_influence(result, store, quarter="2026Q2")
    >>> total = result.totals.set_index(["target", "quarter"]).loc[
    ...     ("pipeline", "2026Q2"), "total"]
    >>> bool(abs(table["pipeline_credit"].sum() - total) < 1e-6)
    True
    """
    f = facts_for(result, store, models=models)
    return run_tables(f, [TABLE], quarter, compare)[TABLE.name]


def _sorted(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    order = {n: i for i, n in enumerate(ordered_names(df["channel"].unique(),
                                                      [UNATTRIBUTED]))}
    morder = {m: i for i, m in enumerate(models)}
    key = df["channel"].map(order) * (len(models) + 1) + df["model"].map(morder)
    return df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def _part(part: Part, q: str) -> Partial:
    """Per channel name: the part's touches, reach, influence and sourced pipeline.

    ``credited_<target>`` counts the part's credit rows on the channel (whether
    the channel has a row in the table).
    """
    c = part.c
    n = len(c.channels)
    idx = part.touches_in(q)
    touches, journeys, accounts = group_counts(idx, c.channel[idx], n, part)
    m = {"touches": touches, "journeys_touched": journeys, "accounts_touched": accounts}
    for target in part.facts.targets():
        rows = part.credit(target, q)
        ch = c.channel[rows.touch]
        m[f"influenced_{target}"] = distinct_value(ch, rows.journey, rows.value, n)
        m[f"credited_{target}"] = np.bincount(ch, minlength=n).astype(np.float64)
        if target == "pipeline":
            first = rows.first
            m["sourced_pipeline"] = np.bincount(ch[first], weights=rows.value[first],
                                                minlength=n)
    index = pd.Index(c.channels.astype(object), name="channel")
    return Partial(sums={"channels": pd.DataFrame(m, index=index)})


def _finish(f: Facts, q: str, partial: Partial) -> pd.DataFrame:
    sums = partial.sums["channels"]
    targets = f.targets()
    counts = ["touches", "journeys_touched", "accounts_touched"]
    base = pd.DataFrame({"channel": sums.index.to_numpy(dtype=object),
                         **{k: sums[k].to_numpy() for k in counts}})
    present = base["touches"].to_numpy() > 0
    credit_frames = []
    for target in ("pipeline", "revenue"):
        if target not in targets:
            base[f"influenced_{target}"] = np.nan
            base[f"influenced_{target}_share"] = np.nan
            if target == "pipeline":
                base["sourced_pipeline"] = np.nan
            continue
        total = f.total(target, q)
        influenced = sums[f"influenced_{target}"].to_numpy()
        base[f"influenced_{target}"] = influenced
        base[f"influenced_{target}_share"] = safe_divide(influenced, total)
        present |= sums[f"credited_{target}"].to_numpy() > 0
        if target == "pipeline":
            base["sourced_pipeline"] = sums["sourced_pipeline"].to_numpy()
            base["sourced_pipeline_share"] = safe_divide(base["sourced_pipeline"],
                                                         total)
        cc = f.channel_credit(target, q).rename(
            columns={"credit": f"{target}_credit", "share": f"{target}_share",
                     **{f"credit{s}": f"{target}_credit{s}" for s in BOUND_SUFFIXES}})
        credit_frames.append(cc)
    if "sourced_pipeline_share" not in base:
        base["sourced_pipeline_share"] = np.nan
    credited = set()
    for cc in credit_frames:
        credited |= set(cc["channel"])
    base = base[present | base["channel"].isin(credited).to_numpy()]
    unattributed = pd.DataFrame({"channel": [UNATTRIBUTED]})
    base = pd.concat([base, unattributed], ignore_index=True)
    for col in ("touches", "journeys_touched", "accounts_touched",
                "influenced_pipeline", "influenced_revenue", "sourced_pipeline"):
        if base[col].notna().any():
            base[col] = base[col].fillna(0.0)
    for col in ("influenced_pipeline_share", "influenced_revenue_share",
                "sourced_pipeline_share"):
        src = col.removesuffix("_share")
        total = f.total(src.split("_")[1], q) if base[src].notna().any() else np.nan
        base[col] = safe_divide(base[src], total) if np.isfinite(total) else np.nan
    grid = base.merge(pd.DataFrame({"model": f.models}), how="cross")
    for target, cc in zip([t for t in ("pipeline", "revenue") if t in targets],
                          credit_frames, strict=True):
        grid = grid.merge(cc, on=["channel", "model"], how="left")
        total = f.total(target, q)
        for col in [f"{target}_credit", *(f"{target}_credit{s}" for s in
                                          BOUND_SUFFIXES if f.has_intervals)]:
            grid[col] = grid[col].fillna(0.0)  # no credit row: no credit in any draw
        grid[f"{target}_share"] = safe_divide(grid[f"{target}_credit"], total)
    columns = CHANNEL_INFLUENCE_COLUMNS
    if f.has_intervals:
        columns = with_bounds(columns, _CREDITS)
    for target in ("pipeline", "revenue"):
        if target not in targets:
            for col in columns:
                if col.startswith(f"{target}_credit") or col == f"{target}_share":
                    grid[col] = np.nan
    grid["quarter"] = q
    out = _sorted(grid[columns], f.models)
    out.attrs["note"] = _NOTE
    return out


def _merge(f: Facts, current: pd.DataFrame, previous: pd.DataFrame, q: str,
           p: str) -> pd.DataFrame:
    out = _sorted(add_compare(current, previous, _KEYS, q, p), f.models)
    out.attrs["note"] = _NOTE
    return out


#: The table's steps for :func:`reports._pass.run_tables`.
TABLE = Table("channel_influence", _part, _finish, _merge)
