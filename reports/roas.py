"""ROAS / ROAC: costs against attributed revenue and pipeline, per channel and campaign.

Spend joins touches on ``channel`` (exactly) and on the campaign name compared
case-folded and trimmed (DESIGN §2): ``" LinkedIn - ABM "`` in an ad export meets
``linkedin - abm`` in the CRM. Spend without a campaign meets touches without one in
the same channel. A row's ``campaign`` shows the touches' spelling of the name (the
spend's when no touch has it). Spend with no touches and touches with no spend are
listed, never dropped, and say so in ``spend_match``.

Confidence intervals. When the attribution run has bootstrap intervals, the channel
rows gain ``pipeline_credit_lo``/``_hi`` and ``revenue_credit_lo``/``_hi`` (the run's
``credit_lo``/``credit_hi``) and ``roas_lo``/``_hi``, ``roac_lo``/``_hi``,
``pipeline_per_cost_lo``/``_hi``: the percentiles, at the run's level, of the ratio
computed on every bootstrap resample (``credit_draws``: that resample's channel
credit divided by the cost), not the credit's bounds divided by the cost. Costs are
fixed, not resampled: spend is a ledger, not a sample, so the intervals carry the
uncertainty of the credit only. Campaign rows get empty bounds (the bootstrap keeps
channel totals, not campaign credit), as do ratios with no cost to divide by and,
for a credit directory written without draws, every ratio (with a warning).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from attribution import AttributionResult, Store
from attribution._columnar import NAT

from ._columns import BOUND_SUFFIXES, add_compare, with_bounds
from ._facts import (
    NO_CAMPAIGN,
    UNATTRIBUTED,
    Facts,
    Part,
    facts_for,
    group_counts,
    ordered_names,
    safe_divide,
)
from ._pass import Partial, Table, run_tables

__all__ = ["COST_TYPES", "ROAS_COLUMNS", "campaign_key", "roas_roac"]

#: Cost types of ``spend.parquet``; any other value counts as ``other``.
COST_TYPES = ("media", "creative", "agency", "tools", "other")
#: Columns of :func:`roas_roac` (before the compare columns).
ROAS_COLUMNS = [
    "quarter", "level", "channel", "campaign", "model", "spend_match", "touches",
    "media_spend", "creative_cost", "agency_cost", "tools_cost", "other_cost",
    "total_cost", "pipeline_credit", "revenue_credit", "roas", "roac",
    "pipeline_per_cost", "leads", "cost_per_lead", "opportunities",
    "cost_per_opportunity", "won_deals", "cost_per_won_deal",
]
_COSTS = ["media_spend", "creative_cost", "agency_cost", "tools_cost", "other_cost"]
#: Measures that get ``_lo``/``_hi`` bounds when the run has intervals.
_BOUNDED = ["pipeline_credit", "revenue_credit", "roas", "roac", "pipeline_per_cost"]
#: Ratio, credit target and cost column of each bounded ratio.
_RATIO_DRAWS = (("roas", "revenue", "media_spend"), ("roac", "revenue", "total_cost"),
                ("pipeline_per_cost", "pipeline", "total_cost"))
_ADDITIVE = ["touches", *_COSTS, "leads", "opportunities", "won_deals"]


def campaign_key(names: pd.Series) -> pd.Series:
    """Return the join key of campaign names: trimmed, case-folded, ``""`` if none.

    Examples
    --------
    >>> campaign_key(pd.Series([" LinkedIn - ABM ", None])).tolist()
    ['linkedin - abm', '']
    """
    return names.fillna("").astype(str).str.strip().str.casefold()


def roas_roac(result: AttributionResult | Facts | str | os.PathLike,
              store: Store | str | os.PathLike | None = None, *, quarter: str,
              compare: str | None = None, models: Sequence[str] | None = None,
              spend: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per channel and per campaign, and model: costs, credit and return ratios.

    Spend belongs to the quarter of its ``date``; credit to the quarter of the
    journey's conversion (DESIGN §3). Leads, opportunities and won deals are those
    created, created and won in the quarter, each counted once, for the channel
    and campaign of its *source*: the first touch in the lookback window before the
    lead's creation, the opportunity's creation, or the close.

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run holding ``quarter`` (and ``compare``), made on ``store``.
    store : Store or path
        The journey store; its ``spend.parquet`` gives the costs.
    quarter : str
        The report quarter, e.g. ``"2026Q3"``.
    compare : str, optional
        A previous quarter (adds the compare columns).
    models : list of str, optional
        Models to report (every model of the run by default).
    spend : DataFrame, optional
        Costs in the columns of ``spend.parquet`` (``date``, ``channel``,
        ``campaign``, ``cost``, ``cost_type``), instead of the store's.

    Returns
    -------
    pandas.DataFrame
        ``level`` (``channel`` rows first, then ``campaign`` rows; ``campaign`` is
        empty on channel rows and ``(no campaign)`` for touches and spend without
        one), ``channel``, ``campaign``, ``model``, ``spend_match`` (``spend and
        touches``, ``spend, no touches``, ``touches, no spend``; ``(unattributed)``
        rows hold what no touch could take), ``touches`` (in the quarter, by
        ``ts``), ``media_spend``, ``creative_cost``, ``agency_cost``,
        ``tools_cost``, ``other_cost``, ``total_cost``, ``pipeline_credit``,
        ``revenue_credit`` (the model's credit), ``roas`` (revenue credit / media
        spend), ``roac`` (revenue credit / total cost), ``pipeline_per_cost``,
        ``leads``, ``cost_per_lead``, ``opportunities``, ``cost_per_opportunity``,
        ``won_deals``, ``cost_per_won_deal`` (CAC). A ratio whose denominator is
        zero is empty (NaN), never infinite. Money is in the store's currency.
        A run with intervals adds ``_lo`` and ``_hi`` after ``pipeline_credit``,
        ``revenue_credit``, ``roas``, ``roac`` and ``pipeline_per_cost`` (filled
        on channel rows; see the module notes).
    """
    f = facts_for(result, store, models=models, spend=spend)
    if spend is not None and f._spend_override is not spend:
        f = Facts(f.result, f.store, models=f.models, spend=spend)
    return run_tables(f, [TABLE], quarter, compare)[TABLE.name]


def _merge(f: Facts, current: pd.DataFrame, previous: pd.DataFrame, q: str,
           p: str) -> pd.DataFrame:
    out = add_compare(current, previous, ["level", "channel", "campaign", "model"],
                      q, p)
    return _sorted(out, f.models)


def _sorted(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    corder = {n: i for i, n in enumerate(ordered_names(df["channel"].unique(),
                                                       [UNATTRIBUTED]))}
    camp = df["campaign"].fillna("")
    korder = {n: i for i, n in enumerate(ordered_names(camp.unique(),
                                                       ["", NO_CAMPAIGN]))}
    korder = {k: (i if k != "" else -1) for k, i in korder.items()}
    morder = {m: i for i, m in enumerate(models)}
    order = np.lexsort((df["model"].map(morder).to_numpy(),
                        camp.map(korder).to_numpy(),
                        df["channel"].map(corder).to_numpy(),
                        (df["level"] == "campaign").to_numpy()))
    return df.iloc[order].reset_index(drop=True)


def _ratios(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    cost = df["total_cost"]
    df["roas"] = safe_divide(df["revenue_credit"], df["media_spend"])
    df["roac"] = safe_divide(df["revenue_credit"], cost)
    df["pipeline_per_cost"] = safe_divide(df["pipeline_credit"], cost)
    for count, col in (("leads", "cost_per_lead"), ("opportunities",
                                                    "cost_per_opportunity"),
                       ("won_deals", "cost_per_won_deal")):
        df[col] = np.where(cost > 0, safe_divide(cost, df[count]), np.nan)
    return df


_SOURCED = ("leads", "opportunities", "won_deals")


def _part(part: Part, q: str) -> Partial:
    """Per channel and campaign key: the part's touches, sourced deals and credit.

    Also what no touch sourced (``unsourced``) and how often each spelling of a
    campaign key is used (``spellings``: the touches' most frequent spelling names
    the row).
    """
    f = part.facts
    c = part.c
    n_ch = len(c.channels)
    # ---- campaign keys of the touches' dictionary
    raw = pd.Series(c.campaigns.astype(object), dtype=object)
    keys = campaign_key(raw)
    key_names = np.array(sorted(set(keys) | {""}), dtype=object)
    n_k = len(key_names)
    empty_key = int(np.searchsorted(key_names, ""))
    # key of every campaign code, the last entry for "no campaign" (code -1)
    key_of_code = np.append(
        np.searchsorted(key_names, keys.to_numpy(dtype=object).astype(str))
        if len(keys) else np.zeros(0, np.int64), empty_key).astype(np.int64)
    n_pairs = n_ch * n_k

    def pair(idx: np.ndarray) -> np.ndarray:
        """(channel, campaign key) code of some touches."""
        return c.channel[idx].astype(np.int64) * n_k + key_of_code[c.campaign[idx]]

    uses = np.bincount(c.campaign[c.campaign >= 0], minlength=len(raw))
    spellings = pd.DataFrame({"uses": uses}, index=pd.MultiIndex.from_arrays(
        [keys.to_numpy(dtype=object), raw.to_numpy()], names=["key", "raw"]))

    in_q = part.touches_in(q)
    touches, _, _ = group_counts(in_q, pair(in_q), n_pairs, part, touches_only=True)
    measures: dict[str, np.ndarray] = {"touches": touches}
    any_touch = touches > 0

    # ---- sourced leads, opportunities and won deals
    w = c.weight
    opp, closed, lead = c.opportunity_created_at, c.closed_at, c.lead_created_at
    won_q = c.won & (closed != NAT) & f.in_quarter(closed, q)
    milestones = {
        "leads": ((lead != NAT) & f.in_quarter(lead, q), lead, lead),
        "opportunities": ((opp != NAT) & f.in_quarter(opp, q), opp, opp),
        "won_deals": (won_q, closed, np.where(opp != NAT, opp, closed)),
    }
    unsourced = {}
    for name, (sel, moment, window_from) in milestones.items():
        first = part.first_touch_before(sel, moment, window_from)
        has = first >= 0
        measures[name] = np.bincount(pair(first[has]), weights=w[has],
                                     minlength=n_pairs)
        unsourced[name] = [float(w[sel & ~has].sum())]

    # ---- touch credit per model
    for target in f.targets():
        rows = part.credit(target, q)
        g = pair(rows.touch)
        any_touch |= np.bincount(g, minlength=n_pairs) > 0
        for m in f.models:
            measures[f"{target}_credit|{m}"] = np.bincount(
                g, weights=rows.credit[m], minlength=n_pairs)

    sourced = (measures["leads"] > 0) | (measures["opportunities"] > 0) | (
        measures["won_deals"] > 0)
    idx = np.flatnonzero(any_touch | sourced)
    pairs = pd.DataFrame(
        {k: v[idx] for k, v in measures.items()}, index=pd.MultiIndex.from_arrays(
            [c.channels[idx // n_k].astype(object), key_names[idx % n_k]],
            names=["channel", "key"]))
    return Partial(sums={"pairs": pairs, "unsourced": pd.DataFrame(unsourced),
                         "spellings": spellings})


def _finish(f: Facts, q: str, partial: Partial) -> pd.DataFrame:
    # ---- campaign-level frame of touch facts
    camp = partial.sums["pairs"].reset_index()
    unsourced = {k: float(partial.sums["unsourced"][k].sum()) for k in _SOURCED}
    spellings = partial.sums["spellings"].reset_index()
    # display name of each key: the touches' most frequent spelling
    display = spellings.assign(uses=-spellings["uses"]) \
        .sort_values(["uses", "raw"]).drop_duplicates("key").set_index("key")["raw"]

    # ---- spend
    spend = f.spend_in(q)
    spend = spend.assign(key=campaign_key(spend["campaign"]),
                         cost_type=np.where(spend["cost_type"].isin(COST_TYPES),
                                            spend["cost_type"], "other"))
    spend["column"] = np.where(spend["cost_type"] == "media", "media_spend",
                               spend["cost_type"] + "_cost")
    costs = spend.pivot_table(index=["channel", "key"], columns="column",
                              values="cost", aggfunc="sum", fill_value=0.0)
    costs = costs.reindex(columns=_COSTS, fill_value=0.0).reset_index()
    spend_names = spend.sort_values("campaign").drop_duplicates("key") \
        .set_index("key")["campaign"]

    camp = camp.merge(costs, on=["channel", "key"], how="outer", indicator=True)
    camp["spend_match"] = camp["_merge"].map({"both": "spend and touches",
                                              "right_only": "spend, no touches",
                                              "left_only": "touches, no spend"}
                                             ).astype(object)
    camp["has_touches"] = camp["_merge"] != "right_only"
    camp = camp.drop(columns="_merge")
    fill = [c_ for c_ in camp.columns if c_ not in ("channel", "key", "spend_match",
                                                    "has_touches")]
    camp[fill] = camp[fill].fillna(0.0)
    camp["campaign"] = [NO_CAMPAIGN if k == "" else
                        display.get(k, spend_names.get(k, k)) for k in camp["key"]]

    # ---- channel level: sums of the campaign rows; credit from channel_credit
    sums = [*_ADDITIVE]
    chan = camp.groupby("channel", sort=False).agg(
        {**{s: "sum" for s in sums}, "has_touches": "any"}).reset_index()
    with_spend = camp["spend_match"] != "touches, no spend"
    chan_spend = camp.loc[with_spend, "channel"].unique()
    chan["spend_match"] = np.select(
        [chan["has_touches"] & chan["channel"].isin(chan_spend),
         chan["channel"].isin(chan_spend)],
        ["spend and touches", "spend, no touches"], "touches, no spend")
    cc = {t: f.channel_credit(t, q) for t in f.targets()}
    credited = set()
    for frame in cc.values():
        credited |= set(frame["channel"])
    extra = sorted(credited - set(chan["channel"]) - {UNATTRIBUTED})
    if extra:
        chan = pd.concat([chan, pd.DataFrame({"channel": extra,
                                              "spend_match": "touches, no spend"})],
                         ignore_index=True).fillna({s: 0.0 for s in sums})

    frames = []
    for m in f.models:
        # channel rows
        ch = chan.copy()
        ch["level"], ch["campaign"], ch["model"] = "channel", None, m
        for target in ("pipeline", "revenue"):
            if target in cc:
                mc = cc[target]
                mc = mc[mc["model"] == m].set_index("channel")
                for col in _credit_columns(f):
                    ch[f"{target}_{col}"] = ch["channel"].map(mc[col]).fillna(0.0)
            else:
                for col in _credit_columns(f):
                    ch[f"{target}_{col}"] = np.nan
        un = {"level": "channel", "channel": UNATTRIBUTED, "campaign": None,
              "model": m, "spend_match": "no touch", **dict.fromkeys(_ADDITIVE, 0.0)}
        for name, value in unsourced.items():
            un[name] = value
        for target in ("pipeline", "revenue"):
            for col in _credit_columns(f):
                if target in cc:
                    mc = cc[target]
                    un[f"{target}_{col}"] = float(mc.loc[(mc["model"] == m) & (
                        mc["channel"] == UNATTRIBUTED), col].sum())
                else:
                    un[f"{target}_{col}"] = np.nan
        frames += [ch, pd.DataFrame([un])]
        # campaign rows
        cp = camp[["channel", "campaign", "spend_match", *_ADDITIVE]].copy()
        cp["level"], cp["model"] = "campaign", m
        cun = dict(un, level="campaign", campaign=NO_CAMPAIGN)
        for target in ("pipeline", "revenue"):
            col = f"{target}_credit|{m}"
            if target in cc:
                cp[f"{target}_credit"] = camp[col].to_numpy()
                rest = f.total(target, q) - float(camp[col].sum())
                cun[f"{target}_credit"] = 0.0 if abs(rest) <= 1e-9 * max(
                    abs(f.total(target, q)), 1.0) else rest
            else:
                cp[f"{target}_credit"] = np.nan
        frames += [cp, pd.DataFrame([cun])]
    out = pd.concat(frames, ignore_index=True)
    out["total_cost"] = out[_COSTS].sum(axis=1)
    out["quarter"] = q
    out = _ratios(out)
    columns = ROAS_COLUMNS
    if f.has_intervals:
        out = _ratio_bounds(out, f, q)
        columns = with_bounds(ROAS_COLUMNS, _BOUNDED)
    return _sorted(out[columns], f.models)


#: The table's steps for :func:`reports._pass.run_tables`.
TABLE = Table("roas_roac", _part, _finish, _merge)


def _credit_columns(f: Facts) -> list[str]:
    """Columns of ``channel_credit`` the table takes per target."""
    return ["credit", *(f"credit{s}" for s in BOUND_SUFFIXES)] if f.has_intervals \
        else ["credit"]


def _ratio_bounds(df: pd.DataFrame, f: Facts, q: str) -> pd.DataFrame:
    """Add ratio bounds from the bootstrap draws; empty bounds on campaign rows.

    On each resample ``b`` a channel row's ratio is ``draw_b(credit) / cost`` (cost
    fixed); the bounds are the percentiles of these ratios over the draws.
    """
    df = df.copy()
    chan = (df["level"] == "channel").to_numpy()
    for target in ("pipeline", "revenue"):
        for s in BOUND_SUFFIXES:
            df.loc[~chan, f"{target}_credit{s}"] = np.nan
    bounds = {f"{r}{s}": np.full(len(df), np.nan) for r, _, _ in _RATIO_DRAWS
              for s in BOUND_SUFFIXES}
    if f.has_draws:
        models = df["model"].to_numpy()
        targets = f.targets()
        for m in f.models:
            rows = np.flatnonzero(chan & (models == m))
            channels = df["channel"].to_numpy()[rows].tolist()
            for ratio, target, cost_col in _RATIO_DRAWS:
                if target not in targets:
                    continue
                draws = f.draws(target, q, m, channels)  # (rows × draws)
                cost = df[cost_col].to_numpy(np.float64)[rows]
                ok = np.isfinite(cost) & (cost != 0)  # as safe_divide
                if not ok.any() or draws.shape[1] == 0:
                    continue
                lo, hi = f.interval_of(draws[ok] / cost[ok, None])
                bounds[f"{ratio}_lo"][rows[ok]] = lo
                bounds[f"{ratio}_hi"][rows[ok]] = hi
    for col, values in bounds.items():
        df[col] = values
    return df
