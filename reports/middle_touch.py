"""Middle-touch contribution: the credit single-touch reporting does not see.

Positions are counted among a journey's *eligible* touches (DESIGN §3): the first,
the last, and the middle touches between them. A middle touch at position ``i`` of
a journey of ``n`` eligible touches is *early* when ``2 i <= n - 1`` (the first half
of the journey, its centre included) and *late* otherwise. A journey's only touch is
its first touch.

When the attribution run has bootstrap intervals, :func:`middle_touch`'s ``credit``
(the model's channel total) is followed by ``credit_lo`` and ``credit_hi``, the run's
interval of it (see :mod:`reports._columns`). The position split itself has no
interval: the bootstrap keeps channel totals, not touch-level credit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from attribution import AttributionResult, Store

from ._columns import add_compare, with_bounds
from ._facts import UNATTRIBUTED, Facts, Part, facts_for, ordered_names, safe_divide
from ._pass import Partial, Table, run_tables

__all__ = ["BANDS", "MIDDLE_TOUCH_COLUMNS", "POSITION_BANDS_COLUMNS", "middle_touch",
           "position_bands"]

#: Position bands, in journey order.
BANDS = ("first", "early middle", "late middle", "last")
#: Columns of :func:`middle_touch` (before the compare columns).
MIDDLE_TOUCH_COLUMNS = [
    "quarter", "target", "channel", "model", "credit", "first_position_credit",
    "early_middle_credit", "late_middle_credit", "last_position_credit",
    "unplaced_credit", "middle_credit", "middle_share", "first_touch_credit",
    "last_touch_credit", "difference_vs_first_touch", "difference_vs_last_touch",
]
#: Columns of :func:`position_bands` (before the compare columns).
POSITION_BANDS_COLUMNS = ["quarter", "target", "model", "band", "credited_touches",
                          "credit", "share"]
_BAND_COLUMNS = ["first_position_credit", "early_middle_credit", "late_middle_credit",
                 "last_position_credit"]


def _band(position: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Band code 0..3 (first, early middle, late middle, last) of every touch."""
    band = np.where(2 * position <= length - 1, 1, 2)
    band[position == length - 1] = 3
    band[position == 0] = 0
    return band


def middle_touch(result: AttributionResult | Facts | str | os.PathLike,
                 store: Store | str | os.PathLike | None = None, *, quarter: str,
                 compare: str | None = None,
                 models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per target, channel and model: credit on middle touches vs single-touch models.

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
        One row per target (``pipeline``, ``revenue``), channel and model, plus an
        ``(unattributed)`` row: ``credit`` (the model's channel total, in the
        target's money); the part of it on first, early-middle, late-middle and last
        touches (``first_position_credit``, ``early_middle_credit``,
        ``late_middle_credit``, ``last_position_credit``) and ``unplaced_credit``
        (credit held by a channel or ``(unattributed)`` without a touch row, as a
        Markov chain may); ``middle_credit`` (early + late middle) and
        ``middle_share`` (of ``credit``); ``first_touch_credit`` and
        ``last_touch_credit`` (what the first- and last-touch rules give the
        channel) and ``difference_vs_first_touch`` / ``difference_vs_last_touch``
        (``credit`` minus those: what single-touch reporting hides, or inflates
        when negative). A run with intervals adds ``credit_lo`` and ``credit_hi``
        after ``credit``.

    See Also
    --------
    position_bands : The same credit split by position band across all channels.
    """
    f = facts_for(result, store, models=models)
    return run_tables(f, [TABLE], quarter, compare)[TABLE.name]


def _sorted(df: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    corder = {n: i for i, n in enumerate(ordered_names(df["channel"].unique(),
                                                       [UNATTRIBUTED]))}
    morder = {m: i for i, m in enumerate(models)}
    torder = {"pipeline": 0, "revenue": 1}
    key = (df["target"].map(torder) * 10_000_000 + df["channel"].map(corder)
           * (len(models) + 1) + df["model"].map(morder))
    return df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def _part(part: Part, q: str) -> Partial:
    """Per target, model and channel name: credit by band, first and last touch."""
    c = part.c
    n = len(c.channels)
    blocks = {}
    for target in part.facts.targets():
        rows = part.credit(target, q)
        ch = c.channel[rows.touch].astype(np.int64)
        band = _band(rows.position, rows.length)
        first, last = rows.first, rows.last
        ft = np.bincount(ch[first], weights=rows.value[first], minlength=n)
        lt = np.bincount(ch[last], weights=rows.value[last], minlength=n)
        for model in part.models:
            by = np.bincount(ch * 4 + band, weights=rows.credit[model],
                             minlength=4 * n).reshape(n, 4)
            blocks[target, model] = np.column_stack([by, ft, lt])
    return Partial(sums={"channels": _keyed(
        blocks, "channel", c.channels.astype(object),
        [*_BAND_COLUMNS, "first_touch_credit", "last_touch_credit"])})


def _keyed(blocks: dict[tuple[str, str], np.ndarray], level: str,
           names: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """One frame of per-(target, model) blocks whose rows are ``names``.

    Indexed by ``target``, ``model`` and ``level``.
    """
    k = len(names)
    values = np.concatenate(list(blocks.values())) if blocks else \
        np.zeros((0, len(columns)))
    index = pd.MultiIndex.from_arrays(
        [np.repeat(np.array([t for t, _ in blocks], dtype=object), k),
         np.repeat(np.array([m for _, m in blocks], dtype=object), k),
         np.tile(np.asarray(names, dtype=object), len(blocks))],
        names=["target", "model", level])
    return pd.DataFrame(values, index=index, columns=columns)


def _of(sums: pd.DataFrame, target: str, model: str) -> pd.DataFrame:
    """Return one target's and model's rows, their last index level as a column."""
    flat = sums.reset_index()
    sel = (flat["target"] == target) & (flat["model"] == model)
    return flat[sel.to_numpy()].iloc[:, 2:].reset_index(drop=True)


def _finish(f: Facts, q: str, partial: Partial) -> pd.DataFrame:
    columns = with_bounds(MIDDLE_TOUCH_COLUMNS, ["credit"]) if f.has_intervals \
        else MIDDLE_TOUCH_COLUMNS
    credit_cols = [c_ for c_ in columns if c_.startswith("credit")]
    frames = []
    for target in f.targets():
        cc = f.channel_credit(target, q)
        unattributed = f.unattributed(target, q)
        for model in f.models:
            df = _of(partial.sums["channels"], target, model)
            mc = cc[cc["model"] == model][["channel", *credit_cols]]
            df = df.merge(mc, on="channel", how="outer")
            df = df[(df["credit"].notna()) | (df[_BAND_COLUMNS].abs().sum(axis=1) > 0)]
            df = df.fillna({k: 0.0 for k in [*_BAND_COLUMNS, "first_touch_credit",
                                             "last_touch_credit", *credit_cols]})
            un = df["channel"] == UNATTRIBUTED
            if not un.any():
                df = pd.concat([df, pd.DataFrame({"channel": [UNATTRIBUTED]})],
                               ignore_index=True).fillna(0.0)
                un = df["channel"] == UNATTRIBUTED
            df.loc[un, ["first_touch_credit", "last_touch_credit"]] = unattributed
            df["model"] = model
            frames.append(df.assign(target=target))
    if not frames:
        return pd.DataFrame({c_: [] for c_ in columns})
    out = pd.concat(frames, ignore_index=True)
    out["unplaced_credit"] = out["credit"] - out[_BAND_COLUMNS].sum(axis=1)
    out.loc[out["unplaced_credit"].abs() <= 1e-9 * out["credit"].abs().clip(lower=1),
            "unplaced_credit"] = 0.0
    out["middle_credit"] = out["early_middle_credit"] + out["late_middle_credit"]
    out["middle_share"] = safe_divide(out["middle_credit"], out["credit"])
    out["difference_vs_first_touch"] = out["credit"] - out["first_touch_credit"]
    out["difference_vs_last_touch"] = out["credit"] - out["last_touch_credit"]
    out["quarter"] = q
    return _sorted(out[columns], f.models)


def _merge(f: Facts, current: pd.DataFrame, previous: pd.DataFrame, q: str,
           p: str) -> pd.DataFrame:
    out = add_compare(current, previous, ["target", "channel", "model"], q, p)
    return _sorted(out, f.models)


#: The table's steps for :func:`reports._pass.run_tables`.
TABLE = Table("middle_touch", _part, _finish, _merge)


def position_bands(result: AttributionResult | Facts | str | os.PathLike,
                   store: Store | str | os.PathLike | None = None, *, quarter: str,
                   compare: str | None = None,
                   models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per target and model: credit by position band across all channels.

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run holding ``quarter`` (and ``compare``), made on ``store``.
    store : Store or path
        The journey store.
    quarter : str
        The report quarter.
    compare : str, optional
        A previous quarter (adds the compare columns).
    models : list of str, optional
        Models to report (every model of the run by default).

    Returns
    -------
    pandas.DataFrame
        ``quarter``, ``target``, ``model``, ``band`` (``first``, ``early middle``,
        ``late middle``, ``last``, and ``unplaced`` for credit with no touch row,
        including ``(unattributed)``), ``credited_touches`` (eligible touches of
        converting journeys in the band, weights included), ``credit`` (money) and
        ``share`` (of the target's total in the quarter). A model's bands sum to
        the store's total.
    """
    f = facts_for(result, store, models=models)
    return run_tables(f, [BANDS_TABLE], quarter, compare)[BANDS_TABLE.name]


def _bands_part(part: Part, q: str) -> Partial:
    """Per target, model and band: credited touches and credit."""
    blocks = {}
    for target in part.facts.targets():
        rows = part.credit(target, q)
        band = _band(rows.position, rows.length)
        w = part.c.weight[rows.journey]
        touches = np.bincount(band, weights=w, minlength=4)
        for model in part.models:
            credit = np.bincount(band, weights=rows.credit[model], minlength=4)
            blocks[target, model] = np.column_stack([touches, credit])
    return Partial(sums={"bands": _keyed(blocks, "band", np.array(BANDS),
                                         ["credited_touches", "credit"])})


def _bands_finish(f: Facts, q: str, partial: Partial) -> pd.DataFrame:
    frames = []
    for target in f.targets():
        total = f.total(target, q)
        for model in f.models:
            sums = _of(partial.sums["bands"], target, model).set_index("band") \
                .reindex(list(BANDS), fill_value=0.0)
            touches = np.append(sums["credited_touches"].to_numpy(), 0.0)
            credit = sums["credit"].to_numpy()
            credit = np.append(credit, total - credit.sum())
            if abs(credit[-1]) <= 1e-9 * max(abs(total), 1.0):
                credit[-1] = 0.0
            frames.append(pd.DataFrame({
                "quarter": q, "target": target, "model": model,
                "band": [*BANDS, "unplaced"], "credited_touches": touches,
                "credit": credit, "share": safe_divide(credit, total)}))
    if not frames:
        return pd.DataFrame({c: [] for c in POSITION_BANDS_COLUMNS})
    return pd.concat(frames, ignore_index=True)[POSITION_BANDS_COLUMNS]


def _bands_merge(f: Facts, current: pd.DataFrame, previous: pd.DataFrame, q: str,
                 p: str) -> pd.DataFrame:
    out = add_compare(current, previous, ["target", "model", "band"], q, p)
    border = {b: i for i, b in enumerate([*BANDS, "unplaced"])}
    out = out.iloc[np.lexsort((out["band"].map(border).to_numpy(),
                               out["model"].map({m: i for i, m in
                                                 enumerate(f.models)}).to_numpy(),
                               (out["target"] == "revenue").to_numpy()))]
    return out.reset_index(drop=True)


#: The steps of :func:`position_bands` for :func:`reports._pass.run_tables`.
BANDS_TABLE = Table("position_bands", _bands_part, _bands_finish, _bands_merge)
