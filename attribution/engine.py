"""The attribution engine: run models over targets and quarters, gather the tables.

:func:`attribute` is the one call a notebook or the CLI makes. For every quarter and
target it builds the eligible view of the store (:mod:`attribution.problem`), fits a
fresh copy of every model on exactly that set, and collects

* ``credit`` — one row per credited touch (an eligible touch of a converting journey
  with a non-zero amount) and target, one float column per model (wide);
* ``channel_credit`` — ``channel``, ``model``, ``target``, ``quarter``, ``credit``,
  ``share``, with an ``(unattributed)`` row per model;
* ``removal_effects`` — ``channel``, ``target``, ``quarter``, ``removal_effect`` for
  Markov models;
* ``credit_draws`` — with ``intervals``: ``model``, ``target``, ``quarter``,
  ``channel``, ``draw``, ``credit``, every bootstrap resample's channel credit (the
  rows of ``channel_credit``, ``n`` draws each); ``credit_lo`` and ``credit_hi`` are
  its percentiles.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._atomic import atomic_directory
from ._columnar import NAT
from .exceptions import TouchlineError, TouchlineWarning
from .intervals import channel_draws, check_interval_args, percentile_bounds
from .models.base import Model, make_model, registered_models
from .models.markov import Markov
from .problem import TARGETS, Problem, build_problem
from .quarters import parse_quarter
from .store import Store, open_store

__all__ = ["UNATTRIBUTED", "AttributionResult", "attribute"]

UNATTRIBUTED = "(unattributed)"
_CREDIT_KEYS = [
    "journey_id",
    "touch_index",
    "ts",
    "channel",
    "campaign",
    "content",
    "interaction",
    "target",
    "quarter",
    "weight",
]
#: Columns of ``AttributionResult.credit_draws`` and ``credit_draws.parquet``.
DRAW_COLUMNS = ["model", "target", "quarter", "channel", "draw", "credit"]


def empty_draws() -> pd.DataFrame:
    """Return an empty ``credit_draws`` table (a run without intervals)."""
    return pd.DataFrame(
        {
            "model": pd.Series(dtype=object),
            "target": pd.Series(dtype=object),
            "quarter": pd.Series(dtype=object),
            "channel": pd.Series(dtype=object),
            "draw": pd.Series(dtype=np.int64),
            "credit": pd.Series(dtype=np.float64),
        }
    )


@dataclass(eq=False)
class AttributionResult:
    """Tables of one attribution run.

    Attributes
    ----------
    credit_table : pyarrow.Table
        Wide touch-level credit, as written to ``credit.parquet``.
    channel_credit : pandas.DataFrame
        ``channel``, ``model``, ``target``, ``quarter``, ``credit``, ``share``.
    removal_effects : pandas.DataFrame
        ``channel``, ``target``, ``quarter``, ``removal_effect`` (Markov runs).
    models : dict
        The fitted model objects by (model name, target, quarter).
    run : dict
        What was run, as written to ``run.json``.
    totals : pandas.DataFrame
        Per target and quarter: ``total``, ``unattributed``, ``journeys``,
        ``converting``.
    credit_draws : pandas.DataFrame
        Runs with ``intervals``: ``model``, ``target``, ``quarter``, ``channel``,
        ``draw`` (0 … n − 1), ``credit`` — each bootstrap resample's channel credit,
        for every row of ``channel_credit``; empty otherwise.
    """

    credit_table: pa.Table
    channel_credit: pd.DataFrame
    removal_effects: pd.DataFrame
    models: dict[tuple[str, str, str], Model]
    run: dict[str, Any]
    totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    credit_draws: pd.DataFrame = field(default_factory=empty_draws)

    @property
    def credit(self) -> pd.DataFrame:
        """Touch-level credit, wide: one float column per model."""
        return self.credit_table.to_pandas()

    def credit_long(self) -> pd.DataFrame:
        """Touch-level credit, tidy: one row per touch, target and model.

        Returns
        -------
        pandas.DataFrame
            The key columns of ``credit`` plus ``model`` and ``credit``.
        """
        models = self.run["model_columns"]
        return self.credit.melt(
            id_vars=_CREDIT_KEYS,
            value_vars=models,
            var_name="model",
            value_name="credit",
        )

    @property
    def graphs(self) -> dict[tuple[str, str], Any]:
        """Fitted Markov graphs (``networkx.DiGraph``) by (target, quarter)."""
        return {
            (t, q): m.graph_
            for (name, t, q), m in self.models.items()
            if isinstance(m, Markov) and name == "markov"
        }

    @property
    def graph(self) -> Any:
        """The fitted Markov graph, when the run has exactly one."""
        graphs = self.graphs
        if len(graphs) != 1:
            raise TouchlineError(
                f"this run has {len(graphs)} Markov graphs; use "
                ".graphs[(target, quarter)]"
            )
        return next(iter(graphs.values()))

    def to_dir(self, out: str | os.PathLike) -> Path:
        """Write the run's files atomically into ``out``.

        ``credit.parquet``, ``channel_credit.parquet``, ``removal_effects.parquet``
        and ``run.json``; a run with intervals also writes ``credit_draws.parquet``.
        """
        with atomic_directory(out) as tmp:
            _write(self.credit_table, tmp / "credit.parquet")
            _write(_to_arrow(self.channel_credit), tmp / "channel_credit.parquet")
            _write(_to_arrow(self.removal_effects), tmp / "removal_effects.parquet")
            if "intervals" in self.run:
                _write(
                    _to_arrow(self.credit_draws[DRAW_COLUMNS]),
                    tmp / "credit_draws.parquet",
                )
            (tmp / "run.json").write_text(
                json.dumps(self.run, indent=2, sort_keys=True) + "\n"
            )
        return Path(out)

    def _repr_html_(self) -> str:
        table = self.channel_credit.pivot_table(
            index=["target", "quarter", "channel"],
            columns="model",
            values="credit",
            sort=False,
        )
        return "<h4>touchline attribution: credit by channel</h4>" + table.to_html(
            float_format=lambda v: f"{v:,.2f}"
        )

    def __repr__(self) -> str:
        return (
            f"AttributionResult(models={self.run['model_columns']}, targets="
            f"{self.run['targets']}, quarters={self.run['quarters']}, "
            f"credit rows={self.credit_table.num_rows})"
        )


def _write(table: pa.Table, path: Path) -> None:
    pq.write_table(table.replace_schema_metadata(None), path, compression="zstd")


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _concat_effects(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate removal effects (an empty table of the same columns if none)."""
    if parts:
        return pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"channel": pd.Series(dtype=object),
                         "target": pd.Series(dtype=object),
                         "quarter": pd.Series(dtype=object),
                         "removal_effect": pd.Series(dtype=float)})


def _resolve_run(
    models: Any, targets: str | Sequence[str], quarters: str | Sequence[str] | None
) -> tuple[list[Model], set[str], list[str], list[str | None]]:
    """Check a run's models, targets and quarters; both engines start here.

    Returns the model objects, the names that came in through ``"all"``, the
    target list and the quarter list (``[None]`` for the whole store).
    """
    model_specs, implicit = _resolve_models(models)
    targets = [targets] if isinstance(targets, str) else list(targets)
    for t in targets:
        if t not in TARGETS:
            raise TouchlineError(
                f"target: {t!r} is not a credit target; choose from "
                f"{', '.join(TARGETS)}"
            )
    if len(set(targets)) != len(targets):
        raise TouchlineError("target: a target is given twice")
    quarter_list: list[str | None] = (
        [None]
        if quarters is None
        else [quarters]
        if isinstance(quarters, str)
        else list(quarters) or [None]
    )
    for q in quarter_list:
        if q is not None:
            parse_quarter(q)
    return model_specs, set(implicit), targets, quarter_list


def _leave_out_timed(
    model_specs: list[Model], implicit: set[str], timeless: bool, stacklevel: int
) -> list[Model]:
    """``all`` on timeless aggregated paths leaves out the models that need time."""
    skipped = [
        m.name for m in model_specs if timeless and m.needs_time and m.name in implicit
    ]
    if skipped:
        warnings.warn(
            f"{', '.join(skipped)} left out of 'all': the store holds "
            "timeless aggregated paths",
            TouchlineWarning,
            stacklevel=stacklevel + 1,
        )
    return [m for m in model_specs if m.name not in skipped]


def _resolve_models(
    models: str | Model | Iterable[str | Model],
) -> tuple[list[Model], set[str]]:
    """Return the model objects and the names that came from ``"all"``."""
    if isinstance(models, (str, Model)):
        models = [models]
    out: list[Model] = []
    implicit: set[str] = set()
    explicit: list[Model] = []
    for spec in models:
        if spec == "all":
            out.extend(make_model(n) for n in registered_models() if n not in implicit)
            implicit.update(registered_models())
        else:
            explicit.append(make_model(spec))
    for model in explicit:  # a configured model replaces its default from "all"
        if model.name in implicit:
            implicit.discard(model.name)
            out = [model if m.name == model.name else m for m in out]
        else:
            out.append(model)
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TouchlineError(
            f"models: {', '.join(dupes)} given twice; each model is one "
            "credit column, so run differently parameterised copies in "
            "separate runs"
        )
    if not out:
        raise TouchlineError("models: no model given; name one or more, or 'all'")
    return out, implicit


def attribute(
    store: str | os.PathLike | Store | tuple[pd.DataFrame, pd.DataFrame],
    models: str | Model | Iterable[str | Model] = "all",
    targets: str | Sequence[str] = ("pipeline", "revenue"),
    *,
    lookback_days: float = 365,
    quarters: str | Sequence[str] | None = None,
    reporting_tz: str = "UTC",
    fiscal_year_start: int = 1,
    exclude_channels: Iterable[str] = (),
    progress: bool = False,
    engine: str = "auto",
    client: Any = None,
    intervals: int = 0,
    interval_level: float = 0.95,
    seed: int = 0,
) -> AttributionResult:
    """Credit pipeline, revenue or conversions to touches with one or more models.

    Parameters
    ----------
    store : path, Store or (touches, journeys) DataFrames
        The journey store (see :func:`attribution.open_store`).
    models : "all", name, Model or list of them, default="all"
        Names take default parameters; model objects carry their own.
    targets : str or list of str, default=("pipeline", "revenue")
        Any of ``pipeline``, ``revenue``, ``conversions``.
    lookback_days : float, default=365
        Lookback window before the conversion moment (DESIGN §3).
    quarters : str or list of str, optional
        Run once per quarter (``2026Q3``) on that quarter's journeys; by default one
        run over every journey, labelled ``all``.
    reporting_tz : str, default="UTC"
        Time zone of quarter boundaries.
    fiscal_year_start : int, default=1
        First month of the fiscal year (a fiscal year is named by the year it ends in).
    exclude_channels : iterable of str
        Channels removed before any model sees the journeys.
    progress : bool, default=False
        Show a progress bar on standard error.
    engine : {"auto", "memory", "streaming", "dask"}, default="auto"
        ``streaming`` processes one partition at a time (bounded memory; ``auto``
        picks it for partitioned stores), ``dask`` runs the partitions on a Dask
        cluster (``auto`` picks it when ``client`` is given); see
        :mod:`attribution._streaming` and :mod:`attribution._dask`.
    client : dask.distributed.Client, optional
        The Dask client for ``engine="dask"`` (a local cluster when omitted).
    intervals : int, default=0
        Bootstrap resamples for confidence intervals: adds ``credit_lo`` and
        ``credit_hi`` to ``channel_credit`` and keeps every resample's channel
        credit in ``credit_draws`` (see :mod:`attribution.intervals`; runs in
        memory). 0 for none.
    interval_level : float, default=0.95
        Coverage of the intervals.
    seed : int, default=0
        Seed of the resamples (intervals are deterministic per seed).

    Returns
    -------
    AttributionResult

    Examples
    --------
    >>> import pandas as pd
    >>> touches = pd.DataFrame({"journey_id": ["a", "a", "b"], "seq": [0, 1, 0],
    ...                         "channel": ["Email", "Search", "Email"]})
    >>> journeys = pd.DataFrame({"journey_id": ["a", "b"], "won": [True, False],
    ...                          "revenue_amount": [100.0, 0.0]})
    >>> result = attribute((touches, journeys), ["linear", "markov"],
    ...                    targets="revenue")
    >>> result.channel_credit[["channel", "model", "credit"]]
              channel   model  credit
    0  (unattributed)  linear     0.0
    1           Email  linear    50.0
    2          Search  linear    50.0
    3  (unattributed)  markov     0.0
    4           Email  markov    50.0
    5          Search  markov    50.0
    """
    from ._streaming import attribute_partitioned, pick_engine

    check_interval_args(intervals, interval_level, seed)
    if intervals and engine == "auto" and client is None:
        engine = "memory"  # bootstrap intervals resample the whole store in memory
    if (chosen := pick_engine(store, engine, client)) != "memory":
        if intervals:
            raise TouchlineError(
                f"intervals: bootstrap intervals run on the in-memory "
                f"engine, not {chosen!r}; drop --intervals or use "
                "engine='memory'"
            )
        return attribute_partitioned(
            store,
            models,
            targets,
            engine=chosen,
            client=client,
            lookback_days=lookback_days,
            quarters=quarters,
            reporting_tz=reporting_tz,
            fiscal_year_start=fiscal_year_start,
            exclude_channels=exclude_channels,
            progress=progress,
        )
    store = open_store(store)
    model_specs, implicit, targets, quarter_list = _resolve_run(
        models, targets, quarters
    )
    columnar = store.columnar()
    model_specs = _leave_out_timed(
        model_specs, implicit, bool(columnar.timeless.any()), stacklevel=3
    )
    excluded = tuple(exclude_channels)
    steps = len(quarter_list) * len(targets) * len(model_specs)
    bar = _progress(steps, progress)
    credit_parts, channel_parts, effect_parts, totals = [], [], [], []
    draw_parts: list[pd.DataFrame] = []
    diagnostics: list[dict[str, Any]] = []
    fitted: dict[tuple[str, str, str], Model] = {}
    try:
        for quarter in quarter_list:
            for target in targets:
                problem = build_problem(
                    columnar,
                    target,
                    lookback_days=lookback_days,
                    quarter=quarter,
                    reporting_tz=reporting_tz,
                    fiscal_year_start=fiscal_year_start,
                    exclude_channels=excluded,
                )
                if (
                    quarter is not None
                    and not len(problem.journey)
                    and columnar.timeless.any()
                ):
                    raise TouchlineError(
                        f"--quarter {quarter}: this store holds timeless aggregated "
                        "paths, which have no dates and so no quarter; run without "
                        "--quarter"
                    )
                columns: dict[str, np.ndarray] = {}
                credits: list[tuple[Model, Any]] = []
                for spec in model_specs:
                    bar.set_description(f"{target} {problem.quarter} {spec.name}")
                    model = spec.clone().fit(problem)
                    mc = model.credit(problem)
                    fitted[(model.name, target, problem.quarter)] = model
                    columns[model.name] = mc.touch
                    channel_parts.append(
                        _channel_rows(
                            problem,
                            model.name,
                            mc.by_channel,
                            mc.unattributed,
                            mc.extra,
                        )
                    )
                    credits.append((model, mc))
                    if hasattr(model, "diagnostics"):
                        diagnostics.append(
                            {
                                "model": model.name,
                                "target": target,
                                "quarter": problem.quarter,
                                **model.diagnostics(),
                            }
                        )
                    if isinstance(model, Markov):
                        effect_parts.append(_effect_rows(problem, model))
                    bar.update(1)
                if intervals:
                    bar.set_description(f"{target} {problem.quarter} intervals")
                    draws = channel_draws(problem, credits, n=intervals, seed=seed)
                    for rows, (names, samples) in zip(
                        channel_parts[-len(credits) :], draws, strict=True
                    ):
                        draw_parts.append(
                            _add_bounds(rows, names, samples, interval_level)
                        )
                credit_parts.append(_credit_rows(problem, columns))
                totals.append(
                    {
                        "target": target,
                        "quarter": problem.quarter,
                        "total": problem.total,
                        "unattributed": problem.unattributed,
                        "journeys": len(problem.journey),
                        "converting": int(problem.converting.sum()),
                    }
                )
    finally:
        bar.close()
    model_columns = [m.name for m in model_specs]
    credit_table = (
        pa.concat_tables(credit_parts, promote_options="permissive")
        if credit_parts
        else pa.table({})
    )
    channel_credit = pd.concat(channel_parts, ignore_index=True)
    credit_draws = (
        pd.concat(draw_parts, ignore_index=True) if draw_parts else empty_draws()
    )
    removal_effects = _concat_effects(effect_parts)
    run = {
        "touchline_version": _version(),
        "models": [m.describe() for m in model_specs],
        "model_columns": model_columns,
        "targets": targets,
        "quarters": [q or "all" for q in quarter_list],
        "lookback_days": lookback_days,
        "reporting_tz": reporting_tz,
        "fiscal_year_start": fiscal_year_start,
        "exclude_channels": list(excluded),
        "store": str(store.path) if store.path else None,
        "inputs": store.input_hashes(),
        "totals": totals,
    }
    if intervals:
        run["intervals"] = {
            "resamples": intervals,
            "level": interval_level,
            "seed": seed,
        }
    if diagnostics:
        run["diagnostics"] = diagnostics
    return AttributionResult(
        credit_table=credit_table,
        channel_credit=channel_credit,
        removal_effects=removal_effects,
        models=fitted,
        run=run,
        totals=pd.DataFrame(totals),
        credit_draws=credit_draws,
    )


def _add_bounds(
    rows: pd.DataFrame, names: list[str], samples: np.ndarray, level: float
) -> pd.DataFrame:
    """Add ``credit_lo``/``credit_hi`` to one model's channel rows, in place.

    Returns the rows' draws, long: one row per channel row and resample.
    """
    where = {name: i for i, name in enumerate(names)}  # a repeated name: the last
    col = np.array([where[c] for c in rows["channel"]], dtype=np.int64)
    picked = samples[:, col]  # (draws × channel rows)
    lo, hi = percentile_bounds(picked, level)
    rows["credit_lo"] = lo
    rows["credit_hi"] = hi
    n, k = picked.shape
    first = rows.iloc[0]  # every model has an (unattributed) row
    return pd.DataFrame(
        {
            "model": first["model"],
            "target": first["target"],
            "quarter": first["quarter"],
            "channel": np.repeat(rows["channel"].to_numpy(dtype=object), n),
            "draw": np.tile(np.arange(n, dtype=np.int64), k),
            "credit": picked.T.ravel(),
        }
    )[DRAW_COLUMNS]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    disable = (not enabled) or bool(os.environ.get("CI")) or not sys.stderr.isatty()
    return tqdm(
        total=total, disable=disable, file=sys.stderr, unit="model", leave=False
    )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("touchline")
    except Exception:
        return "unknown"


def _channel_rows(
    problem: Problem,
    model: str,
    by_channel: np.ndarray,
    extra_unattributed: float,
    extra: dict[str, float] | None = None,
) -> pd.DataFrame:
    present = problem.channels_present | (by_channel != 0)
    idx = np.flatnonzero(present)
    names = problem.channels[idx].astype(str)
    order = np.argsort(names, kind="stable")
    extra = extra or {}
    channels = [UNATTRIBUTED, *names[order].tolist(), *extra]
    credit = np.concatenate(
        [
            [problem.unattributed + extra_unattributed],
            by_channel[idx][order],
            list(extra.values()),
        ]
    )
    total = problem.total
    share = credit / total if total > 0 else np.full(len(credit), np.nan)
    return pd.DataFrame(
        {
            "channel": channels,
            "model": model,
            "target": problem.target,
            "quarter": problem.quarter,
            "credit": credit,
            "share": share,
        }
    )


def _effect_rows(problem: Problem, model: Markov) -> pd.DataFrame:
    eff = model.removal_effects_.sort_index()
    return pd.DataFrame(
        {
            "channel": eff.index.astype(str).tolist(),
            "target": problem.target,
            "quarter": problem.quarter,
            "removal_effect": eff.to_numpy(dtype=float),
        }
    )


def _dictionary(codes: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    mask = codes < 0
    indices = pa.array(
        np.where(mask, 0, codes).astype(np.int32), mask=mask if mask.any() else None
    )
    dictionary = pa.array(values.tolist() if len(values) else [""], type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def _credit_rows(problem: Problem, columns: dict[str, np.ndarray]) -> pa.Table:
    c = problem.columnar
    seg = problem.conv
    keep = problem.conv_value[seg.row] > 0
    touch = seg.touch[keep]
    journey = problem.conv_journey[seg.row[keep]]
    ts = c.ts[touch]
    n = len(touch)
    arrays = {
        "journey_id": pa.DictionaryArray.from_arrays(
            pa.array(journey.astype(np.int32)), c.journey_ids
        ),
        "touch_index": pa.array(touch - c.offsets[journey]),
        "ts": pa.array(ts, mask=ts == NAT, type=pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "channel": _dictionary(c.channel[touch], c.channels),
        "campaign": _dictionary(c.campaign[touch], c.campaigns),
        "content": _dictionary(c.content[touch], c.contents),
        "interaction": _dictionary(c.interaction[touch], c.interactions),
        "target": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([problem.target])
        ),
        "quarter": pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, np.int32)), pa.array([problem.quarter])
        ),
        "weight": pa.array(problem.weight[problem.conv_rows][seg.row[keep]]),
    }
    for name, values in columns.items():
        arrays[name] = pa.array(values[keep].astype(np.float64))
    return pa.table(arrays)
