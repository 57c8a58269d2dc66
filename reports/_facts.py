"""Shared facts of one attribution run and its store, for every report table.

:class:`Facts` holds what belongs to the whole run: its settings and quarters,
totals, channel credit, bootstrap draws, spend and currency, and an index of its
credit table. :meth:`Facts.parts` reads the store one part at a time and gives a
:class:`Part`: that part's columnar arrays with the run's credit rows of its
journeys, keyed by the part's codes (journey number, touch number, channel,
campaign and content codes). Report tables reduce each part to partial measures
keyed by names (see :mod:`reports._pass`); every reduction is a handful of
``np.bincount`` and sort operations, never a Python loop over journeys or touches.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from attribution import UNATTRIBUTED, AttributionResult, Store, open_store
from attribution._columnar import NAT, Columnar
from attribution.engine import DRAW_COLUMNS, empty_draws
from attribution.exceptions import TouchlineError, TouchlineWarning
from attribution.intervals import percentile_bounds
from attribution.quarters import parse_quarter, quarter_bounds

__all__ = ["NO_CAMPAIGN", "NO_CONTENT", "UNATTRIBUTED", "CreditRows", "Facts", "Part",
           "facts_for", "open_credit"]

US_PER_DAY = 86_400 * 1_000_000
#: Row label for touches without a content asset.
NO_CONTENT = "(no content)"
#: Row label for touches and spend without a campaign.
NO_CAMPAIGN = "(no campaign)"
#: Report targets (``conversions`` runs are ignored by the report tables).
REPORT_TARGETS = ("pipeline", "revenue")
#: The columns of ``credit.parquet`` the report reads besides the models'.
_CREDIT_KEYS = ("journey_id", "touch_index", "target", "quarter")


def open_credit(path: str | os.PathLike, *, for_report: bool = False
                ) -> AttributionResult:
    """Read a ``touchline attribute --out`` directory back into an AttributionResult.

    Parameters
    ----------
    path : path
        A directory holding ``credit.parquet``, ``channel_credit.parquet``,
        ``removal_effects.parquet`` and ``run.json`` (and ``credit_draws.parquet``
        when the run had intervals).
    for_report : bool, default=False
        Read only what the report tables use from ``credit.parquet``: the rows of
        the report targets and the columns ``journey_id``, ``touch_index``,
        ``target``, ``quarter`` and the models' (a fraction of the file on a large
        store).

    Returns
    -------
    attribution.AttributionResult
        With ``models`` empty (fitted objects are not written to disk) and
        ``credit_draws`` empty when the directory holds none.

    Raises
    ------
    TouchlineError
        When a file is missing.
    """
    p = Path(path)
    missing = [n for n in ("credit.parquet", "channel_credit.parquet", "run.json")
               if not (p / n).is_file()]
    if missing:
        raise TouchlineError(f"{p}: not a credit directory (missing "
                             f"{', '.join(missing)}); give the --out of `touchline "
                             "attribute`")
    run = json.loads((p / "run.json").read_text())
    if for_report:
        names = pq.read_schema(p / "credit.parquet").names
        wanted = [*_CREDIT_KEYS, *run.get("model_columns", [])]
        credit = pq.read_table(
            p / "credit.parquet", columns=[c for c in wanted if c in names],
            filters=[("target", "in", list(REPORT_TARGETS))]
            if "target" in names else None)
    else:
        credit = pq.read_table(p / "credit.parquet")
    channel_credit = pq.read_table(p / "channel_credit.parquet").to_pandas()
    for col in ("channel", "model", "target", "quarter"):
        channel_credit[col] = channel_credit[col].astype(object)
    effects_path = p / "removal_effects.parquet"
    effects = (pq.read_table(effects_path).to_pandas() if effects_path.is_file()
               else pd.DataFrame(columns=["channel", "target", "quarter",
                                          "removal_effect"]))
    draws_path = p / "credit_draws.parquet"
    draws = empty_draws()
    if draws_path.is_file():
        draws = pq.read_table(draws_path).to_pandas()
        missing = [c for c in DRAW_COLUMNS if c not in draws.columns]
        if missing:
            raise TouchlineError(f"{draws_path}: missing column(s) "
                                 f"{', '.join(missing)}; re-run `touchline attribute "
                                 "--intervals N`")
        draws = draws[DRAW_COLUMNS]
        for col in ("model", "target", "quarter", "channel"):
            draws[col] = draws[col].astype(object)
    return AttributionResult(credit_table=credit, channel_credit=channel_credit,
                             removal_effects=effects, models={}, run=run,
                             totals=pd.DataFrame(run.get("totals", [])),
                             credit_draws=draws)


def _dict_codes(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Return the dictionary codes (``-1`` for null) and dictionary of a column."""
    if isinstance(col, pa.Array):
        col = pa.chunked_array([col])
    if not pa.types.is_dictionary(col.type):
        col = pa.chunked_array([pc.dictionary_encode(ch) for ch in col.chunks],
                               type=pa.dictionary(pa.int32(), col.type))
    if col.num_chunks == 0:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    col = col.unify_dictionaries()
    dictionary = col.chunk(0).dictionary.cast(pa.string())
    codes = np.concatenate([
        pc.fill_null(ch.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
        for ch in col.chunks])
    return codes.astype(np.int64), dictionary


@dataclass(eq=False)
class CreditRows:
    """Touch-level credit of one target and quarter, aligned to the store's arrays.

    Rows are the eligible touches of converting journeys with a non-zero amount,
    sorted by touch. ``position`` and ``length`` are the 0-based position of the
    touch among its journey's eligible touches and their number.
    """

    journey: np.ndarray
    touch: np.ndarray
    value: np.ndarray
    position: np.ndarray
    length: np.ndarray
    credit: dict[str, np.ndarray]

    @property
    def first(self) -> np.ndarray:
        """Whether each row is its journey's first eligible touch."""
        return self.position == 0

    @property
    def last(self) -> np.ndarray:
        """Whether each row is its journey's last eligible touch."""
        return self.position == self.length - 1


class Facts:
    """One attribution result and its store, as report tables need them.

    Run-level facts (settings, quarters, totals, channel credit, draws, spend,
    currency) live here; the store's arrays come part by part from :meth:`parts`.

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run (or a ``touchline attribute --out`` directory) that holds
        the report's quarters.
    store : Store or path
        The journey store the run was made on.
    models : list of str, optional
        Model columns to report; every model of the run by default.
    spend : DataFrame, optional
        Costs in the columns of ``spend.parquet``; the store's by default.
    reporting_tz, fiscal_year_start : optional
        When given, checked against the run's (quarters must mean the same).
    """

    def __init__(self, result: AttributionResult | str | os.PathLike,
                 store: Store | str | os.PathLike, *,
                 models: Sequence[str] | None = None,
                 spend: pd.DataFrame | None = None, reporting_tz: str | None = None,
                 fiscal_year_start: int | None = None) -> None:
        if not isinstance(result, AttributionResult):
            result = open_credit(result, for_report=True)
        self.result = result
        self.store = open_store(store)
        run = result.run
        self.reporting_tz: str = run.get("reporting_tz", "UTC")
        self.fiscal_year_start: int = int(run.get("fiscal_year_start", 1))
        self.lookback_days: float = float(run.get("lookback_days", 365))
        self.exclude_channels: tuple[str, ...] = tuple(run.get("exclude_channels", ()))
        for name, given, used in (("reporting-tz", reporting_tz, self.reporting_tz),
                                  ("fiscal-year-start", fiscal_year_start,
                                   self.fiscal_year_start)):
            if given is not None and given != used:
                raise TouchlineError(
                    f"--{name}: the attribution run used {used!r}, not {given!r}; "
                    "quarters must mean the same in credit and report, so re-run "
                    f"`touchline attribute` with --{name} {given} or drop the option")
        run_models = list(run.get("model_columns", []))
        if models is None:
            models = run_models
        unknown = [m for m in models if m not in run_models]
        if unknown:
            raise TouchlineError(f"models: {', '.join(unknown)} not in the attribution "
                                 f"run (it holds {', '.join(run_models) or 'none'})")
        if not models:
            raise TouchlineError("models: the attribution run holds no model")
        self.models: list[str] = list(models)
        self._spend_override = spend
        self._totals: dict[tuple[str, str], float] = {}
        self.quarters: list[str] = [str(q) for q in run.get("quarters", [])]

    # ------------------------------------------------------------------ the store
    def parts(self) -> Iterator[Part]:
        """Read the store one part at a time, in part order, each with its credit rows.

        A partitioned store that is not loaded is read part by part, so memory holds
        one part (and the run's credit table), not the store; an unpartitioned or
        loaded store is one part. Once the last part is read, :attr:`currency` is
        known and every credit row must have met its journey.

        Yields
        ------
        Part

        Raises
        ------
        TouchlineError
            When credit rows name journeys that no part holds (credit of another
            store).
        """
        index = self._credit_index
        found = np.zeros(len(index.ids) if index else 0, bool)
        currencies: set[str] = set()
        for c, journeys in self.store.iter_parts(journey_columns=["account_id",
                                                                  "currency"]):
            rows, journey = (index.rows_of(c.journey_ids, found) if index
                             else (np.zeros(0, np.int64), np.zeros(0, np.int64)))
            currencies.update(v for v in pc.unique(journeys.column("currency"))
                              .to_pylist() if v)
            account, _ = _dict_codes(journeys.column("account_id"))
            yield Part(self, c, account, rows, journey)
            del c, journeys, rows, journey, account  # one part at a time
        if not found.all():
            raise TouchlineError("credit: journey ids of the attribution run are not "
                                 "in this store; give the store the run was made on")
        self.__dict__["currency"] = _currency_label(currencies)

    @cached_property
    def currency(self) -> str:
        """The store's currency (``"mixed"`` when journeys carry several).

        Known without reading once :meth:`parts` has gone through the store.
        """
        table = self.store.read_table("journeys", ["currency"])
        if "currency" not in table.column_names:
            return ""
        return _currency_label(
            pc.unique(table.column("currency").cast(pa.string())).to_pylist())

    def bounds(self, quarter: str) -> tuple[int, int]:
        """Return the quarter's [start, end) in microseconds since the epoch, UTC."""
        start, end = quarter_bounds(quarter, tz=self.reporting_tz,
                                    fiscal_year_start=self.fiscal_year_start)
        return int(start.value // 1000), int(end.value // 1000)

    def in_quarter(self, ts: np.ndarray, quarter: str) -> np.ndarray:
        """Whether each timestamp (us, :data:`NAT` for null) falls in the quarter."""
        lo, hi = self.bounds(quarter)
        return (ts >= lo) & (ts < hi) & (ts != NAT)

    def window_start(self, window_from: np.ndarray) -> np.ndarray:
        """Start of the lookback window counted back from ``window_from``."""
        lookback = round(self.lookback_days * US_PER_DAY)
        return np.where(window_from == NAT, NAT, window_from - lookback)

    # ------------------------------------------------------------------ the run
    def check_quarter(self, quarter: str) -> str:
        """Normalise a quarter and check the run holds it."""
        q = parse_quarter(quarter)
        if q not in self.quarters:
            held = ", ".join(self.quarters) or "none"
            raise TouchlineError(
                f"quarter: the attribution run holds quarter(s) {held}, not {q}; run "
                f"`touchline attribute --quarter {q}` (once per quarter to report or "
                "compare) or attribute(..., quarters=[...])")
        return q

    def targets(self) -> list[str]:
        """Return the report targets the run holds."""
        run_targets = self.result.run.get("targets", [])
        return [t for t in REPORT_TARGETS if t in run_targets]

    def total(self, target: str, quarter: str) -> float:
        """Return the store's total of a target in a quarter (the run's figure)."""
        key = (target, quarter)
        if key not in self._totals:
            self._totals[key] = self._total(target, quarter)
        return self._totals[key]

    def _total(self, target: str, quarter: str) -> float:
        t = self.result.totals
        if len(t):
            row = t[(t["target"] == target) & (t["quarter"] == quarter)]
            if len(row):
                return float(row["total"].iloc[0])
        cc = self.channel_credit(target, quarter)
        if len(cc):
            return float(cc.groupby("model")["credit"].sum().iloc[0])
        return 0.0

    def unattributed(self, target: str, quarter: str) -> float:
        """Amount of converting journeys with no eligible touch (the run's figure)."""
        t = self.result.totals
        if len(t) and "unattributed" in t.columns:
            row = t[(t["target"] == target) & (t["quarter"] == quarter)]
            if len(row):
                return float(row["unattributed"].iloc[0])
        return 0.0

    def channel_credit(self, target: str, quarter: str) -> pd.DataFrame:
        """Channel credit rows of the run for the reported models.

        ``channel``, ``model``, ``credit``, ``share``, and ``credit_lo``,
        ``credit_hi`` when the run has intervals.
        """
        cc = self.result.channel_credit
        sel = (cc["target"] == target) & (cc["quarter"] == quarter) & \
            cc["model"].isin(self.models)
        cols = ["channel", "model", "credit", "share"]
        if self.has_intervals:
            cols += ["credit_lo", "credit_hi"]
        return cc.loc[sel, cols].reset_index(drop=True)

    # ------------------------------------------------------------------ intervals
    @cached_property
    def has_intervals(self) -> bool:
        """Whether the run's channel credit carries ``credit_lo``/``credit_hi``."""
        cols = self.result.channel_credit.columns
        return "credit_lo" in cols and "credit_hi" in cols

    @cached_property
    def interval_level(self) -> float:
        """Coverage of the run's intervals (0.95 unless the run says otherwise)."""
        return float(self.result.run.get("intervals", {}).get("level", 0.95))

    @cached_property
    def has_draws(self) -> bool:
        """Whether the run kept its bootstrap draws (``credit_draws``).

        A run with intervals but no draws (written before draws were kept) warns
        once: ratio intervals such as ``roas_lo`` stay empty.
        """
        have = len(self.result.credit_draws) > 0
        if self.has_intervals and not have:
            warnings.warn("credit intervals without their bootstrap draws "
                          "(credit_draws.parquet): ratio intervals such as roas_lo "
                          "stay empty; re-run `touchline attribute --intervals N` to "
                          "get them", TouchlineWarning, stacklevel=2)
        return have

    def draws(self, target: str, quarter: str, model: str,
              channels: Sequence[str]) -> np.ndarray:
        """Bootstrap channel credit of one model: ``(len(channels) × draws)``.

        Channels without a row in the draws have no credit in any resample (zero).
        """
        table = self._draw_tables.get((target, quarter, model))
        if table is None:
            return np.zeros((len(channels), 0))
        return table.reindex(list(channels), fill_value=0.0).to_numpy(np.float64)

    @cached_property
    def _draw_tables(self) -> dict[tuple[str, str, str], pd.DataFrame]:
        """Draws as (channel × draw) frames by (target, quarter, model)."""
        d = self.result.credit_draws
        if not len(d):
            return {}
        d = d[d["model"].isin(self.models)]
        wide = d.pivot_table(index=["target", "quarter", "model", "channel"],
                             columns="draw", values="credit", aggfunc="sum",
                             sort=False)
        return {key: part.droplevel([0, 1, 2])
                for key, part in wide.groupby(level=[0, 1, 2], sort=False)}

    def interval_of(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval of draws along the last axis, at the run's level."""
        return percentile_bounds(samples, self.interval_level, axis=-1)

    @cached_property
    def _credit_index(self) -> _CreditIndex | None:
        """The run's credit rows grouped by journey id (None when it has none)."""
        table = self.result.credit_table
        if table.num_rows == 0 or "journey_id" not in table.column_names:
            return None
        return _CreditIndex(table)

    # ------------------------------------------------------------------ spend
    @cached_property
    def spend(self) -> pd.DataFrame:
        """Costs of the store, or the ``spend`` given, normalised.

        ``date`` (datetime64), ``channel``, ``campaign``, ``cost``,
        ``cost_type`` (empty when the store has no spend).
        """
        df = self._spend_override
        if df is None:
            df = self.store.read_optional("spend")
        cols = ["date", "channel", "campaign", "cost", "cost_type"]
        if df is None:
            return pd.DataFrame({"date": pd.Series(dtype="datetime64[us]"),
                                 "channel": pd.Series(dtype=object),
                                 "campaign": pd.Series(dtype=object),
                                 "cost": pd.Series(dtype=float),
                                 "cost_type": pd.Series(dtype=object)})
        missing = [c for c in ("date", "channel", "cost") if c not in df.columns]
        if missing:
            raise TouchlineError(f"spend: missing column(s) {', '.join(missing)} "
                                 f"(found: {', '.join(map(str, df.columns))})")
        out = pd.DataFrame({c: df[c] if c in df.columns else None for c in cols})
        dates = pd.to_datetime(out["date"])
        if dates.dt.tz is not None:
            dates = dates.dt.tz_localize(None)
        out["date"] = dates
        out["cost"] = pd.to_numeric(out["cost"], errors="coerce").fillna(0.0)
        out["cost_type"] = out["cost_type"].fillna("other").astype(str).str.strip() \
            .str.lower()
        return out

    def spend_in(self, quarter: str) -> pd.DataFrame:
        """Return the spend rows dated in the quarter (dates are calendar days)."""
        start, end = quarter_bounds(quarter, tz="UTC",
                                    fiscal_year_start=self.fiscal_year_start)
        s = self.spend
        d = s["date"]
        sel = (d >= start.tz_localize(None)) & (d < end.tz_localize(None))
        return s.loc[sel].reset_index(drop=True)


def facts_for(result: AttributionResult | Facts | str | os.PathLike,
              store: Store | str | os.PathLike | None, *,
              models: Sequence[str] | None = None,
              spend: pd.DataFrame | None = None, reporting_tz: str | None = None,
              fiscal_year_start: int | None = None) -> Facts:
    """Return ``result`` when it already is a :class:`Facts`, else build one."""
    if isinstance(result, Facts):
        return result
    if store is None:
        raise TouchlineError("store: give the journey store the attribution ran on")
    return Facts(result, store, models=models, spend=spend, reporting_tz=reporting_tz,
                 fiscal_year_start=fiscal_year_start)


def _currency_label(values: Iterable[str | None]) -> str:
    """One currency code, ``"mixed"`` for several, ``""`` for none."""
    found = sorted({v for v in values if v})
    return found[0] if len(found) == 1 else ("mixed" if found else "")


def _ids_in_use(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Return the journey ids a credit column uses, and each row's index into them.

    Chunk by chunk, without unifying the chunks' dictionaries (on a large run each
    names a part's journeys): an id that two chunks use appears twice.
    """
    if not pa.types.is_dictionary(col.type):
        col = pa.chunked_array([pc.dictionary_encode(ch) for ch in col.chunks],
                               type=pa.dictionary(pa.int32(), col.type))
    of_row, ids, base = [], [], 0
    for ch in col.chunks:
        dictionary = ch.dictionary.cast(pa.string())
        if ch.null_count:  # a row without a journey: a null id, in no part
            idx = pc.fill_null(ch.indices, len(dictionary)).to_numpy()
            dictionary = pa.concat_arrays([dictionary, pa.nulls(1, pa.string())])
        else:
            idx = ch.indices.to_numpy(zero_copy_only=False)
        used = np.flatnonzero(np.bincount(idx, minlength=len(dictionary)))
        lut = np.zeros(len(dictionary), np.int64)
        lut[used] = np.arange(base, base + len(used))
        of_row.append(lut[idx])
        ids.append(dictionary.take(pa.array(used)))
        base += len(used)
    if not ids:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    return np.concatenate(of_row), pa.concat_arrays(ids)


class _CreditIndex:
    """The run's credit table, indexed to hand each part the rows of its journeys.

    Built once per report; a part's rows are found by looking its journey ids up
    among the ids the credit table uses, then taking their blocks of rows.
    """

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        of_row, self.ids = _ids_in_use(table.column("journey_id"))
        order = np.argsort(of_row, kind="stable")  # rows come in runs of ids: fast
        self.order = order.astype(np.int32) if len(order) < 2**31 else order
        self.starts = np.searchsorted(of_row[order], np.arange(len(self.ids) + 1))
        del of_row, order
        tcodes, tdict = _dict_codes(table.column("target"))
        qcodes, qdict = _dict_codes(table.column("quarter"))
        self.targets: list[str] = tdict.to_pylist()
        self.quarters: list[str] = qdict.to_pylist()
        self.tq = (tcodes * len(self.quarters) + qcodes).astype(np.int32)
        del tcodes, qcodes

    def code(self, target: str, quarter: str) -> int | None:
        """Return the code of a target and quarter in :attr:`tq` (None if absent)."""
        if target not in self.targets or quarter not in self.quarters:
            return None
        return self.targets.index(target) * len(self.quarters) + \
            self.quarters.index(quarter)

    def rows_of(self, journey_ids: pa.Array, found: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Credit rows of some journeys, in table order, and their journey number.

        ``found`` (one flag per id in use) is set for the ids among the journeys.
        """
        pos = pc.fill_null(pc.index_in(self.ids, value_set=journey_ids), -1) \
            .to_numpy(zero_copy_only=False)
        hit = np.flatnonzero(pos >= 0)
        found[hit] = True
        lo = self.starts[hit]
        n = self.starts[hit + 1] - lo
        at = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
        rows = self.order[at].astype(np.int64)
        journey = np.repeat(pos[hit].astype(np.int64), n)
        keep = np.argsort(rows, kind="stable")
        return rows[keep], journey[keep]

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Return a credit column's values (nulls as 0) at sorted rows.

        Only the chunks holding the rows are converted, one at a time (a part's
        rows sit in a few chunks when the run wrote its credit part by part), so
        the report never holds a whole credit column as numpy.
        """
        col = self.table.column(name)
        cache = self.__dict__.setdefault("_chunk_starts", {})
        if name not in cache:
            cache[name] = np.cumsum([0, *(len(ch) for ch in col.chunks)])
        starts = cache[name]
        which = np.searchsorted(starts, rows, side="right") - 1
        cuts = np.searchsorted(which, np.arange(col.num_chunks + 1))
        out = np.zeros(len(rows), col.type.to_pandas_dtype())
        for k in np.flatnonzero(np.diff(cuts)):  # a loop over chunks, not rows
            chunk = pc.fill_null(col.chunk(k), 0).to_numpy(zero_copy_only=False)
            out[cuts[k]:cuts[k + 1]] = chunk[rows[cuts[k]:cuts[k + 1]] - starts[k]]
        return out


class Part:
    """One part of the store with the run's credit rows of its journeys.

    Partial measures of the parts add up to the store's. The store is split by a
    hash of ``coalesce(account_id, journey_id)`` (``attribution.store._split``), so
    a journey and an account never span two parts: distinct journeys and accounts
    counted part by part sum to the store's distinct counts. Codes (channel,
    campaign, content, interaction, account, journey and touch numbers) are the
    part's own, so partial measures leave a part keyed by names.

    Parameters
    ----------
    facts : Facts
        The run.
    c : Columnar
        The part's arrays.
    account : ndarray of int
        Account code of every journey of the part (``-1`` when it has none).
    credit_rows, credit_journey : ndarray of int
        The run's credit rows of the part's journeys (in table order) and their
        journey numbers.
    """

    def __init__(self, facts: Facts, c: Columnar, account: np.ndarray,
                 credit_rows: np.ndarray, credit_journey: np.ndarray) -> None:
        self.facts = facts
        self.c = c
        self.account = account
        self._rows = credit_rows
        self._journey = credit_journey
        self._credit_cache: dict[tuple[str, str], CreditRows] = {}
        self._touches_in: dict[str, np.ndarray] = {}

    @property
    def models(self) -> list[str]:
        """The reported models."""
        return self.facts.models

    @cached_property
    def journey_of_touch(self) -> np.ndarray:
        """Journey number of every touch."""
        return self.c.journey_of_touch()

    @cached_property
    def kept(self) -> np.ndarray:
        """Touches whose channel was not excluded from the run."""
        c = self.c
        keep = np.ones(c.n_touches, bool)
        if self.facts.exclude_channels:
            codes = np.flatnonzero(np.isin(c.channels.astype(str), np.array(
                self.facts.exclude_channels, dtype=str)))
            if len(codes):
                keep = ~np.isin(c.channel, codes)
        return keep

    def amount(self, target: str) -> np.ndarray:
        """Amount per copy of every journey for a target."""
        c = self.c
        if target == "pipeline":
            return c.pipeline_amount
        if target == "revenue":
            return c.revenue_amount
        return np.ones(c.n_journeys)

    def touches_in(self, quarter: str) -> np.ndarray:
        """Numbers of the kept touches whose ``ts`` falls in the quarter (cached)."""
        if quarter not in self._touches_in:
            self._touches_in[quarter] = np.flatnonzero(
                self.facts.in_quarter(self.c.ts, quarter) & self.kept)
        return self._touches_in[quarter]

    def touches_of(self, journeys: np.ndarray) -> np.ndarray:
        """Numbers of every touch of the selected journeys (a mask per journey)."""
        sel = np.flatnonzero(journeys)
        counts = self.c.lengths[sel]
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        seg = np.repeat(np.arange(len(sel)), counts)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return self.c.offsets[sel][seg] + (np.arange(total) - first[seg])

    def in_window(self, journeys: np.ndarray, moment: np.ndarray,
                  window_from: np.ndarray) -> np.ndarray:
        """Kept touches of the selected journeys in their lookback window.

        Parameters
        ----------
        journeys : ndarray of bool
            Which journeys to look at (one per journey).
        moment : ndarray of int64
            The milestone (us) of every journey; touches at or before it count.
        window_from : ndarray of int64
            Where each journey's lookback window is counted back from.

        Returns
        -------
        ndarray of int64
            Touch numbers, in store order (by journey, then time).
        """
        idx = self.touches_of(journeys)
        jt = self.journey_of_touch[idx]
        ts = self.c.ts[idx]
        ok = self.kept[idx] & (ts != NAT) & (ts <= moment[jt])
        ok &= ts >= self.facts.window_start(window_from)[jt]
        return idx[ok]

    def first_touch_before(self, journeys: np.ndarray, moment: np.ndarray,
                           window_from: np.ndarray) -> np.ndarray:
        """Find the first kept touch of each selected journey in its lookback window.

        Parameters
        ----------
        journeys, moment, window_from : ndarray
            As for :meth:`in_window`.

        Returns
        -------
        ndarray of int64
            One touch number per journey, ``-1`` when it has no such touch.
        """
        idx = self.in_window(journeys, moment, window_from)
        out = np.full(self.c.n_journeys, -1, np.int64)
        if len(idx):
            js = self.journey_of_touch[idx]
            head = np.ones(len(js), bool)
            head[1:] = js[1:] != js[:-1]
            out[js[head]] = idx[head]
        return out

    @cached_property
    def _touch_index(self) -> np.ndarray:
        """``touch_index`` of the part's credit rows (checked against the journeys)."""
        ti = self.facts._credit_index.take("touch_index", self._rows).astype(np.int64)
        if ((ti < 0) | (ti >= self.c.lengths[self._journey])).any():
            raise TouchlineError("credit: touches of the attribution run are not in "
                                 "this store (a journey has fewer touches than its "
                                 "credit rows name); give the store the run was "
                                 "made on")
        return ti

    def _model_column(self, model: str) -> np.ndarray:
        """One model's credit on the part's credit rows (taken once)."""
        cache = self.__dict__.setdefault("_model_columns", {})
        if model not in cache:
            cache[model] = self.facts._credit_index.take(model, self._rows).astype(
                np.float64, copy=False)
        return cache[model]

    def credit(self, target: str, quarter: str) -> CreditRows:
        """Touch-level credit rows of one target and quarter (cached)."""
        key = (target, quarter)
        if key in self._credit_cache:
            return self._credit_cache[key]
        index = self.facts._credit_index
        code = None if index is None else index.code(target, quarter)
        empty = np.zeros(0, np.int64)
        if code is None or len(self._rows) == 0:
            rows = CreditRows(journey=empty, touch=empty, value=np.zeros(0),
                              position=empty, length=empty,
                              credit={m: np.zeros(0) for m in self.models})
            self._credit_cache[key] = rows
            return rows
        sel = np.flatnonzero(index.tq[self._rows] == code)
        journey = self._journey[sel]
        touch = self.c.offsets[journey] + self._touch_index[sel]
        if len(touch) > 1 and (np.diff(touch) < 0).any():
            order = np.argsort(touch, kind="stable")
            sel, journey, touch = sel[order], journey[order], touch[order]
        credit = {m: self._model_column(m)[sel] for m in self.models}
        head = np.ones(len(journey), bool)
        head[1:] = journey[1:] != journey[:-1]
        starts = np.flatnonzero(head)
        lengths = np.diff(np.append(starts, len(journey)))
        group = np.cumsum(head) - 1
        position = np.arange(len(journey)) - starts[group]
        length = lengths[group]
        value = self.amount(target)[journey] * self.c.weight[journey]
        rows = CreditRows(journey=journey, touch=touch, value=value, position=position,
                          length=length, credit=credit)
        self._credit_cache[key] = rows
        return rows


def group_counts(idx: np.ndarray, groups: np.ndarray, n_groups: int, part: Part, *,
                 touches_only: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Touches, journeys and accounts per group over some touches.

    Parameters
    ----------
    idx : ndarray of int
        Touch numbers to count.
    groups : ndarray of int
        The group of each of them (``0 <= group < n_groups``).
    n_groups : int
        Number of groups.
    part : Part
        The part the touches belong to (distinct journeys and accounts of a part
        are distinct in the store: see :class:`Part`).
    touches_only : bool, default=False
        Count touches only (journeys and accounts come back empty).

    Returns
    -------
    touches, journeys, accounts : ndarray
        Weighted touches, weighted distinct journeys and distinct accounts per group.
    """
    g = groups.astype(np.int64)
    jt = part.journey_of_touch[idx].astype(np.int64)
    w = part.c.weight
    touches = np.bincount(g, weights=w[jt], minlength=n_groups)
    if touches_only:
        return touches, np.zeros(0), np.zeros(0)
    pair = distinct(jt * n_groups + g)
    journeys = np.bincount(pair % n_groups, weights=w[pair // n_groups],
                           minlength=n_groups)
    acc = part.account[jt]
    has = acc >= 0
    apair = distinct(acc[has] * n_groups + g[has])
    accounts = np.bincount(apair % n_groups, minlength=n_groups).astype(np.float64)
    return touches, journeys, accounts


def distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array (a sort, not a hash table).

    Examples
    --------
    >>> distinct(np.array([3, 1, 3, 2])).tolist()
    [1, 2, 3]
    """
    if len(keys) == 0:
        return keys
    k = np.sort(keys)
    keep = np.empty(len(k), bool)
    keep[0] = True
    np.not_equal(k[1:], k[:-1], out=keep[1:])
    return k[keep]


def first_of_each(keys: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every distinct key, in key order.

    Examples
    --------
    >>> first_of_each(np.array([5, 2, 5, 2, 7])).tolist()
    [1, 0, 4]
    """
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    keep = np.empty(len(k), bool)
    keep[0] = True
    np.not_equal(k[1:], k[:-1], out=keep[1:])
    return order[keep]


def distinct_value(codes: np.ndarray, journey: np.ndarray, value: np.ndarray,
                   n_groups: int) -> np.ndarray:
    """Sum ``value`` once per distinct (journey, group) pair, by group."""
    if len(codes) == 0:
        return np.zeros(n_groups)
    key = journey.astype(np.int64) * n_groups + codes.astype(np.int64)
    first = first_of_each(key)
    return np.bincount(codes[first], weights=value[first], minlength=n_groups)


def weighted_median(groups: np.ndarray, values: np.ndarray, weights: np.ndarray,
                    n_groups: int) -> np.ndarray:
    """Weighted median of ``values`` per group (NaN for empty groups), vectorised.

    The median is the lower weighted median: the smallest value whose cumulative
    weight reaches half the group's weight, averaged with the next value when it
    reaches exactly half (so unweighted data gives the ordinary median).
    """
    out = np.full(n_groups, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, groups))
    g, v, w = groups[order], values[order], weights[order].astype(np.float64)
    cum = np.cumsum(w)
    head = np.ones(len(g), bool)
    head[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(head)
    base = np.repeat(cum[starts] - w[starts], np.diff(np.append(starts, len(g))))
    within = cum - base
    totals = np.bincount(g, weights=w, minlength=n_groups)
    half = totals[g] / 2.0
    reach = within >= half - 1e-12
    # first row per group reaching half
    cand = np.flatnonzero(reach)
    cg = g[cand]
    chead = np.ones(len(cg), bool)
    chead[1:] = cg[1:] != cg[:-1]
    pick = cand[chead]
    med = v[pick].astype(np.float64)
    exact = np.isclose(within[pick], half[pick]) & (pick + 1 < len(g))
    nxt = np.minimum(pick + 1, len(g) - 1)
    exact &= g[nxt] == g[pick]
    med = np.where(exact, (med + v[nxt]) / 2.0, med)
    out[g[pick]] = med
    return out


def safe_divide(num: np.ndarray | pd.Series, den: np.ndarray | pd.Series) -> np.ndarray:
    """``num / den`` with NaN (an empty ratio) where ``den`` is zero or missing."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    ok = np.isfinite(den) & (den != 0)
    np.divide(num, den, out=out, where=ok)
    return out


def ordered_names(names: Iterable[str], last: Iterable[str] = ()) -> list[str]:
    """Sort names, with the given special labels moved to the end in that order."""
    special = list(last)
    names = list(names)
    return sorted(n for n in names if n not in special) + [s for s in special
                                                           if s in names]
