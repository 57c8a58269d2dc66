"""All report tables of a quarter in one object: :func:`build` and :class:`Report`."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from attribution import AttributionResult, Store
from attribution._atomic import atomic_directory

from ._facts import Facts, facts_for
from ._io import write_table
from ._pass import run_tables
from .channel_influence import TABLE as CHANNEL_INFLUENCE
from .content import SALES_INTERACTIONS, content_table
from .funnel import funnel_table
from .middle_touch import BANDS_TABLE as POSITION_BANDS
from .middle_touch import TABLE as MIDDLE_TOUCH
from .plots import reference_model
from .roas import TABLE as ROAS_ROAC

__all__ = ["TABLE_NAMES", "Report", "build"]

#: The tables of a report, as written by :meth:`Report.write`.
TABLE_NAMES = ("channel_influence", "middle_touch", "position_bands",
               "content_utilisation", "roas_roac", "funnel_kpis")


@dataclass(eq=False)
class Report:
    """Every report table of one quarter, ready to write or to show.

    Attributes
    ----------
    tables : dict of str to DataFrame
        ``channel_influence``, ``middle_touch``, ``position_bands``,
        ``content_utilisation``, ``roas_roac`` and ``funnel_kpis``.
    quarter : str
        The report quarter.
    compare : str or None
        The compare quarter.
    models : list of str
        The models reported.
    currency : str
        The store's currency code (``"mixed"`` when journeys carry several).
    settings : dict
        The attribution run's settings, shown at the foot of the HTML page.
    intervals : dict or None
        When the run has bootstrap intervals: ``level``, ``resamples`` and ``seed``
        (the tables then carry ``_lo``/``_hi`` bound columns); None otherwise.
    """

    tables: dict[str, pd.DataFrame]
    quarter: str
    compare: str | None
    models: list[str]
    currency: str
    settings: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, Any] | None = None

    @property
    def reference_model(self) -> str:
        """The model single-model charts show (``markov`` when it was run)."""
        return reference_model(self.models)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def channel_influence(self) -> pd.DataFrame:
        """The :func:`~reports.channel_influence` table."""
        return self.tables["channel_influence"]

    @property
    def middle_touch(self) -> pd.DataFrame:
        """The :func:`~reports.middle_touch` table."""
        return self.tables["middle_touch"]

    @property
    def position_bands(self) -> pd.DataFrame:
        """The :func:`~reports.position_bands` table."""
        return self.tables["position_bands"]

    @property
    def content_utilisation(self) -> pd.DataFrame:
        """The :func:`~reports.content_utilisation` table."""
        return self.tables["content_utilisation"]

    @property
    def roas_roac(self) -> pd.DataFrame:
        """The :func:`~reports.roas_roac` table."""
        return self.tables["roas_roac"]

    @property
    def funnel_kpis(self) -> pd.DataFrame:
        """The :func:`~reports.funnel_kpis` table."""
        return self.tables["funnel_kpis"]

    def render_html(self) -> str:
        """Render the self-contained HTML page as text."""
        from .html import render_html

        return render_html(self)

    def to_html(self, path: str | os.PathLike) -> Path:
        """Write the self-contained HTML page to ``path`` and return it."""
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(self.render_html(), encoding="utf-8")
        os.replace(tmp, p)
        return p

    def write(self, out: str | os.PathLike) -> Path:
        """Write the tables, ``report.html`` and ``report.json`` atomically to ``out``.

        Every table is written as ``.parquet`` and ``.csv``.

        ``out`` must be a new path or a directory touchline wrote before. CSV cells
        that a spreadsheet would run as formulas are neutralised; Parquet keeps the
        raw values.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        html = self.render_html()
        with atomic_directory(out) as tmp:
            self.write_files(tmp, html=html)
        return Path(out)

    def write_files(self, directory: str | os.PathLike, *, html: str | None = None
                    ) -> Path:
        """Write the report's files into an existing directory.

        Unlike :meth:`write` there is no atomic swap: for a caller that owns a
        temporary directory.

        Returns
        -------
        pathlib.Path
            ``report.html``.
        """
        d = Path(directory)
        html = self.render_html() if html is None else html
        for name, df in self.tables.items():
            write_table(df, d, name)
        (d / "report.html").write_text(html, encoding="utf-8")
        meta = {"quarter": self.quarter, "compare": self.compare,
                "models": self.models, "currency": self.currency,
                "tables": list(self.tables), "settings": self.settings,
                "touchline_version": _version(),
                "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        if self.intervals is not None:
            meta["intervals"] = self.intervals
        (d / "report.json").write_text(json.dumps(meta, indent=2, sort_keys=True,
                                                  default=str) + "\n")
        return d / "report.html"

    def _repr_html_(self) -> str:
        from .html import format_value

        title = (f"<h4>touchline report {self.quarter}"
                 + (f" vs {self.compare}" if self.compare else "") + "</h4>")
        funnel = self.funnel_kpis.iloc[0]
        cols = ["leads", "opportunities", "pipeline_created", "won_deals", "revenue",
                "win_rate", "total_cost", "marketing_roi"]
        from ._columns import unit_of

        kpi = pd.DataFrame({"KPI": cols, self.quarter: [
            format_value(funnel[c], unit_of(c), self.currency) for c in cols]})
        ci = self.channel_influence
        wide = ci.pivot_table(index="channel", columns="model",
                              values="pipeline_credit", sort=False)
        return (title + kpi.to_html(index=False, escape=True)
                + "<h5>Attributed pipeline by channel and model</h5>"
                + wide.to_html(escape=True, float_format=lambda v: f"{v:,.0f}"))

    def __repr__(self) -> str:
        rows = ", ".join(f"{k}={len(v)}" for k, v in self.tables.items())
        return (f"Report(quarter={self.quarter!r}, compare={self.compare!r}, "
                f"models={self.models}, rows: {rows})")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("touchline")
    except Exception:
        return "unknown"


def build(result: AttributionResult | str | os.PathLike,
          store: Store | str | os.PathLike, *, quarter: str,
          compare: str | None = None, models: Sequence[str] | None = None,
          pipeline_target: float | None = None, spend: pd.DataFrame | None = None,
          sales_interactions: Sequence[str] = SALES_INTERACTIONS,
          reporting_tz: str | None = None, fiscal_year_start: int | None = None
          ) -> Report:
    """Build every report table of a quarter.

    Parameters
    ----------
    result : AttributionResult or path
        An attribution run on ``store`` holding ``quarter`` (and ``compare``), e.g.
        ``attribute(store, "all", quarters=["2026Q2", "2026Q3"])``, or the ``--out``
        directory of ``touchline attribute``.
    store : Store or path
        The journey store.
    quarter : str
        The report quarter, e.g. ``"2026Q3"``.
    compare : str, optional
        A previous quarter: every table gains ``_previous``, ``_change`` and
        ``_change_pct`` columns.
    models : list of str, optional
        Models to report (every model of the run by default).
    pipeline_target : float, optional
        The quarter's pipeline target (for ``funnel_kpis.pipeline_coverage``).
    spend : DataFrame, optional
        Costs instead of the store's ``spend.parquet``.
    sales_interactions : sequence of str, default=SALES_INTERACTIONS
        Interactions that count as sales use of content (``sales_email``,
        ``sales_call``, ``meeting``).
    reporting_tz, fiscal_year_start : optional
        Quarter settings; the run's are used, and these, when given, must match
        them (a :class:`~attribution.TouchlineError` otherwise).

    Returns
    -------
    Report
        When ``result`` has bootstrap intervals (``attribute(..., intervals=N)``),
        the credit and ROAS/ROAC columns gain ``_lo``/``_hi`` bounds (see
        :mod:`reports._columns`) and the page shows them.

    Examples
    --------
    >>> import attribution as at
    >>> from attribution.synth import synthesize
    >>> store = at.open_store(tuple(t.to_pandas() for t in synthesize(300, seed=2)))
    >>> result = at.attribute(store, ["linear", "markov"],
    ...                       quarters=["2026Q2", "2026Q3"])
    >>> report = build(result, store, quarter="2026Q3", compare="2026Q2")
    >>> sorted(report.tables)[:2]
    ['channel_influence', 'content_utilisation']
    """
    f: Facts = facts_for(result, store, models=models, spend=spend,
                         reporting_tz=reporting_tz, fiscal_year_start=fiscal_year_start)
    q = f.check_quarter(quarter)
    p = f.check_quarter(compare) if compare is not None else None
    # every table of both quarters in one pass over the store's parts
    tables = run_tables(f, [
        CHANNEL_INFLUENCE, MIDDLE_TOUCH, POSITION_BANDS,
        content_table(sales_interactions), ROAS_ROAC, funnel_table(pipeline_target)],
        q, p)
    run = f.result.run
    settings = {
        "store": str(f.store.path) if f.store.path else "in memory",
        "quarter": q, "compare": p or "—",
        "reporting time zone": f.reporting_tz,
        "fiscal year starts in month": f.fiscal_year_start,
        "lookback window (days)": f.lookback_days,
        "excluded channels": ", ".join(f.exclude_channels) or "none",
        "sales interactions": ", ".join(sales_interactions),
        "pipeline target": "none" if pipeline_target is None else pipeline_target,
        "touchline version": run.get("touchline_version", "unknown"),
    }
    intervals = None
    if f.has_intervals:
        intervals = {"level": f.interval_level, **run.get("intervals", {})}
        settings["confidence intervals"] = (
            f"{intervals['level'] * 100:g}% bootstrap percentile intervals"
            + (f", {intervals['resamples']} resamples of the journeys"
               if "resamples" in intervals else "")
            + (f", seed {intervals['seed']}" if "seed" in intervals else "")
            + "; costs fixed")
    return Report(tables=tables, quarter=q, compare=p, models=list(f.models),
                  currency=f.currency, settings=settings, intervals=intervals)
