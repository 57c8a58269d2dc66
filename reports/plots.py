"""Charts of the report tables, each drawn on a matplotlib Axes and returned.

Every ``plot_*`` function takes the table it draws (a DataFrame returned by the
matching report function, or the :class:`~reports.Report` holding it) and an
optional ``ax``; without one it draws on a new figure. matplotlib is imported inside
the functions only, so importing :mod:`reports` stays light.

Labels come from the data, which is untrusted: they are shortened and their ``$``
signs escaped, so a campaign name never switches matplotlib into mathtext.

When a table carries interval bounds (``pipeline_credit_lo``/``_hi``, ``roas_lo``/
``_hi``, ...), :func:`plot_model_comparison` and :func:`plot_roas_roac` draw them as
whiskers from the low to the high bound (not as ± around the value: bootstrap
percentile intervals are not symmetric). Without bounds the charts are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._facts import NO_CONTENT, UNATTRIBUTED

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_influence_vs_attribution", "plot_middle_touch",
           "plot_model_comparison", "plot_roas_roac", "plot_top_content",
           "reference_model"]

_PREFERRED = ("markov", "linear", "w_shaped", "u_shaped", "time_decay")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_PALETTE = ["#1f6feb", "#e36209", "#2da44e", "#a371f7", "#cf222e", "#6e7781",
            "#bf8700", "#0a7f86", "#d63384", "#57606a"]


def reference_model(models: list[str] | pd.Series) -> str:
    """Pick the model a single-model chart shows: ``markov``, else ``linear``, ...

    Examples
    --------
    >>> reference_model(["first_touch", "linear"])
    'linear'
    """
    names = list(dict.fromkeys(models))
    for m in _PREFERRED:
        if m in names:
            return m
    return names[0]


def safe_label(text: Any, width: int = 34) -> str:
    r"""Make a chart label from untrusted text: shortened, with ``$`` escaped.

    Examples
    --------
    >>> print(safe_label("$5 off $10"))
    \$5 off \$10
    """
    missing = text is None or (isinstance(text, float) and np.isnan(text))
    s = "" if missing else str(text)
    s = " ".join(s.split())
    if len(s) > width:
        s = s[: width - 1] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")


def _table(data: Any, name: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    tables = getattr(data, "tables", None)
    if isinstance(tables, dict) and name in tables:
        return tables[name]
    raise TypeError(f"expected the {name} DataFrame or a Report; got {type(data)!r}")


def _axes(ax: Axes | None, height: float) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(9, height)).add_subplot()


def money_formatter(currency: str = "") -> Any:
    """Return a matplotlib tick formatter for compact money (``$1.2M``)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: compact_money(v, currency))


def compact_money(value: float, currency: str = "") -> str:
    """Money in a compact form: ``$1.2M``, ``$350k``, ``EUR 12``.

    Examples
    --------
    >>> compact_money(1_234_000, "USD")
    '$1.23M'
    """
    if value is None or not np.isfinite(value):
        return "—"
    sign = "−" if value < 0 else ""
    v = abs(float(value))
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            num = f"{v / div:.3g}{suffix}"
            break
    else:
        num = f"{v:.0f}"
    sym = _SYMBOLS.get(currency)
    if sym:
        return f"{sign}{sym}{num}"
    return f"{sign}{num} {currency}".rstrip()


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="x", color="#d0d7de", linewidth=0.6)
    ax.set_axisbelow(True)


def plot_model_comparison(data: Any, *, target: str = "pipeline", currency: str = "",
                          ax: Axes | None = None) -> Axes:
    """Dot plot of every model's credit per channel, with interval whiskers.

    When the table has ``{target}_credit_lo``/``_hi`` (an attribution run with
    intervals), each model's markers are spread apart vertically and a whisker in
    the model's colour spans its interval (SVG group ``credit-interval-N``).

    Parameters
    ----------
    data : DataFrame or Report
        The :func:`~reports.channel_influence` table.
    target : {"pipeline", "revenue"}, default="pipeline"
        Which credit to show.
    currency : str, default=""
        Currency code for the axis labels.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes
    """
    df = _table(data, "channel_influence")
    col = f"{target}_credit"
    df = df[df["channel"] != UNATTRIBUTED] if not (
        df.loc[df["channel"] == UNATTRIBUTED, col].fillna(0) > 0).any() else df
    wide = df.pivot_table(index="channel", columns="model", values=col, sort=False)
    models = list(dict.fromkeys(df["model"]))
    wide = wide.reindex(columns=models)
    wide = wide.loc[wide.mean(axis=1).sort_values().index]
    ax = _axes(ax, 0.38 * len(wide) + 1.5)
    y = np.arange(len(wide))
    markers = ["o", "s", "D", "^", "v", "P", "X", "*", "<", ">"]
    ax.hlines(y, wide.min(axis=1), wide.max(axis=1), color="#d0d7de", linewidth=2,
              zorder=1)
    bounds = _model_bounds(df, col, wide)
    step = min(0.6 / max(len(models), 1), 0.15)
    for i, m in enumerate(models):
        yi = y
        if bounds is not None:
            yi = y + (i - (len(models) - 1) / 2) * step
            lo, hi = bounds[0][m].to_numpy(float), bounds[1][m].to_numpy(float)
            ok = np.isfinite(lo) & np.isfinite(hi)
            ax.hlines(yi[ok], lo[ok], hi[ok], color=_PALETTE[i % len(_PALETTE)],
                      linewidth=1.2, alpha=0.8, zorder=1.5, gid=f"credit-interval-{i}")
        ax.scatter(wide[m], yi, s=28, marker=markers[i % len(markers)],
                   color=_PALETTE[i % len(_PALETTE)], label=safe_label(m), zorder=2)
    ax.set_yticks(y, [safe_label(c) for c in wide.index])
    ax.xaxis.set_major_formatter(money_formatter(currency))
    ax.set_xlabel(f"attributed {target} ({currency or 'money'})")
    if ax.get_legend_handles_labels()[0]:  # no model rows: no legend to draw
        ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=2)
    _style(ax, f"Attributed {target} by channel: every model")
    return ax


def _model_bounds(df: pd.DataFrame, col: str, wide: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Return the ``col_lo``/``col_hi`` bounds laid out like ``wide`` (or None)."""
    if f"{col}_lo" not in df.columns or f"{col}_hi" not in df.columns:
        return None
    return tuple(  # type: ignore[return-value]
        df.pivot_table(index="channel", columns="model", values=f"{col}{s}",
                       sort=False).reindex(index=wide.index, columns=wide.columns)
        for s in ("_lo", "_hi"))


def plot_influence_vs_attribution(data: Any, *, model: str | None = None,
                                  ax: Axes | None = None) -> Axes:
    """Influenced vs attributed share of pipeline and revenue per channel.

    Parameters
    ----------
    data : DataFrame or Report
        The :func:`~reports.channel_influence` table.
    model : str, optional
        The attribution model (:func:`reference_model` by default).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    df = _table(data, "channel_influence")
    model = model or reference_model(df["model"])
    d = df[(df["model"] == model) & (df["channel"] != UNATTRIBUTED)]
    d = d.sort_values("influenced_pipeline_share")
    ax = _axes(ax, 0.5 * len(d) + 1.5)
    y = np.arange(len(d))
    bars = [("influenced_pipeline_share", "influenced pipeline", "#9ecbff"),
            ("pipeline_share", f"attributed pipeline ({model})", "#1f6feb"),
            ("influenced_revenue_share", "influenced revenue", "#ffc58b"),
            ("revenue_share", f"attributed revenue ({model})", "#e36209")]
    h = 0.2
    for i, (col, label, color) in enumerate(bars):
        ax.barh(y + (1.5 - i) * h, d[col].fillna(0) * 100, height=h, color=color,
                label=safe_label(label, 60))
    ax.set_yticks(y, [safe_label(c) for c in d["channel"]])
    ax.set_xlabel("% of the quarter's total (influence sums past 100%)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _style(ax, "Influence vs attribution per channel")
    return ax


def plot_middle_touch(data: Any, *, target: str = "pipeline", model: str | None = None,
                      ax: Axes | None = None) -> Axes:
    """Share of each channel's credit by position band (first, middle, last).

    Parameters
    ----------
    data : DataFrame or Report
        The :func:`~reports.middle_touch` table.
    target : {"pipeline", "revenue"}, default="pipeline"
    model : str, optional
        The attribution model (:func:`reference_model` by default).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    df = _table(data, "middle_touch")
    model = model or reference_model(df["model"])
    d = df[(df["model"] == model) & (df["target"] == target)
           & (df["channel"] != UNATTRIBUTED) & (df["credit"] > 0)]
    d = d.sort_values("middle_share")
    ax = _axes(ax, 0.38 * len(d) + 1.5)
    y = np.arange(len(d))
    left = np.zeros(len(d))
    cols = [("first_position_credit", "first", "#0a3069"),
            ("early_middle_credit", "early middle", "#54aeff"),
            ("late_middle_credit", "late middle", "#b6e3ff"),
            ("last_position_credit", "last", "#e36209")]
    credit = d["credit"].to_numpy()
    for col, label, color in cols:
        share = np.divide(d[col].to_numpy(), credit, out=np.zeros(len(d)),
                          where=credit > 0) * 100
        ax.barh(y, share, left=left, color=color, label=label, height=0.7)
        left += share
    for yi, ms in zip(y, d["middle_share"].fillna(0).to_numpy(), strict=True):
        ax.text(101, yi, f"{ms:.0%} middle", va="center", fontsize=8, color="#57606a")
    ax.set_xlim(0, 118)
    ax.set_yticks(y, [safe_label(c) for c in d["channel"]])
    ax.set_xlabel(f"% of the channel's {target} credit ({model})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.45, -0.12), ncols=4, fontsize=8,
              frameon=False)
    _style(ax, "Middle-touch share per channel")
    return ax


def plot_roas_roac(data: Any, *, model: str | None = None,
                   ax: Axes | None = None) -> Axes:
    """ROAS (revenue / media spend) vs ROAC (revenue / all costs) per channel.

    When the table has ``roas_lo``/``_hi`` and ``roac_lo``/``_hi``, a whisker on
    each bar spans the interval (SVG groups ``roas-interval``, ``roac-interval``).

    Parameters
    ----------
    data : DataFrame or Report
        The :func:`~reports.roas_roac` table.
    model : str, optional
        The attribution model (:func:`reference_model` by default).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    df = _table(data, "roas_roac")
    model = model or reference_model(df["model"])
    d = df[(df["level"] == "channel") & (df["model"] == model)
           & (df["total_cost"] > 0)].sort_values("roac")
    ax = _axes(ax, 0.45 * max(len(d), 2) + 1.5)
    if d.empty:
        ax.text(0.5, 0.5, "No costs recorded in this quarter", ha="center",
                va="center", transform=ax.transAxes, color="#57606a")
        ax.set_axis_off()
        _style(ax, "ROAS vs ROAC per channel")
        return ax
    y = np.arange(len(d))
    values = np.concatenate([d["roas"].to_numpy(float), d["roac"].to_numpy(float)])
    positive = values[np.isfinite(values) & (values > 0)]
    # a few channels with tiny costs can dwarf the rest: use a log axis then
    log = len(positive) > 1 and positive.max() > 20 * np.median(positive)
    for offset, col, color, label in (
            (0.18, "roas", "#1f6feb", "ROAS = revenue / media spend"),
            (-0.18, "roac", "#2da44e", "ROAC = revenue / all costs")):
        v = d[col].to_numpy(float)
        ok = np.isfinite(v) & ((v > 0) if log else np.ones(len(v), bool))
        ax.barh(y[ok] + offset, v[ok], height=0.36, color=color, label=label)
        at = v  # where each value's label goes: past the whisker when there is one
        if f"{col}_lo" in d.columns and f"{col}_hi" in d.columns:
            lo, hi = d[f"{col}_lo"].to_numpy(float), d[f"{col}_hi"].to_numpy(float)
            whisk = np.isfinite(lo) & np.isfinite(hi) & ((lo > 0) if log else True)
            ax.hlines(y[whisk] + offset, lo[whisk], hi[whisk], color="#24292f",
                      linewidth=1.0, zorder=3, gid=f"{col}-interval")
            at = np.where(whisk, np.fmax(v, hi), v)
        for yi, xi, vi in zip(y[ok] + offset, at[ok], v[ok], strict=True):
            ax.text(xi, yi, f" {vi:,.1f}×", va="center", fontsize=7, color="#57606a")
    if log:
        ax.set_xscale("log")
    ax.axvline(1.0, color="#cf222e", linewidth=0.8, linestyle="--")
    ax.set_yticks(y, [safe_label(c) for c in d["channel"]])
    scale = ", log scale" if log else ""
    ax.set_xlabel(f"revenue per unit of cost (×), {model} credit{scale}; no bar: "
                  "no such cost")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _style(ax, "ROAS vs ROAC per channel")
    return ax


def plot_top_content(data: Any, *, model: str | None = None, target: str = "pipeline",
                     n: int = 10, currency: str = "", ax: Axes | None = None) -> Axes:
    """Bar chart of the ``n`` content assets with the most attributed credit.

    Parameters
    ----------
    data : DataFrame or Report
        The :func:`~reports.content_utilisation` table.
    model : str, optional
        The attribution model (:func:`reference_model` by default).
    target : {"pipeline", "revenue"}, default="pipeline"
    n : int, default=10
        How many assets.
    currency : str, default=""
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    df = _table(data, "content_utilisation")
    model = model or reference_model(df["model"])
    col = f"{target}_credit"
    d = df[(df["model"] == model) & ~df["content"].isin([NO_CONTENT, UNATTRIBUTED])]
    d = d.nlargest(n, col).iloc[::-1]
    ax = _axes(ax, 0.38 * max(len(d), 2) + 1.5)
    y = np.arange(len(d))
    ax.barh(y, d[col].fillna(0), color="#8250df", height=0.65)
    ax.set_yticks(y, [safe_label(c, 40) for c in d["content"]])
    ax.xaxis.set_major_formatter(money_formatter(currency))
    ax.set_xlabel(f"attributed {target} ({model})")
    _style(ax, f"Top {len(d)} content assets by attributed {target}")
    return ax
