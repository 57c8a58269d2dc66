"""Credit targets (DESIGN §3): converting, null and excluded journeys; eligible touches.

:func:`build_problem` turns a store's :class:`~attribution._columnar.Columnar` arrays
into a :class:`Problem` for one target and (optionally) one quarter:

* ``pipeline`` — converting when ``opportunity_created_at`` is set; amount
  ``pipeline_amount``; conversion moment ``opportunity_created_at``. Every other
  journey is null.
* ``revenue`` — converting when ``won``; amount ``revenue_amount``; conversion moment
  ``closed_at``, but the lookback window is counted back from
  ``opportunity_created_at`` (from ``closed_at`` when there is none). Lost deals and
  journeys that never reached an opportunity are null; open opportunities
  (``opportunity_created_at`` set, not closed) are excluded.
* ``conversions`` — 1 per won journey, classes as for ``revenue``.

Eligible touches of a converting journey lie in ``[window start, moment]``; those of a
null journey in the lookback window before its last touch; timeless journeys
(aggregated paths) use all their touches. Excluded channels are removed first. A
converting journey with no eligible touch stays out of every model and its amount
goes to ``(unattributed)``.

With a quarter, the set is the journeys converting in that quarter (by the target's
conversion moment, in the reporting time zone) plus the null journeys whose last touch
falls in it; timeless journeys have no quarter and are left out of quarter runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from ._columnar import NAT, Columnar
from .exceptions import TouchlineError
from .quarters import parse_quarter, quarter_labels

__all__ = ["TARGETS", "Problem", "Target", "build_problem", "rebuild_problem"]

Target = Literal["pipeline", "revenue", "conversions"]
TARGETS: tuple[str, ...] = ("pipeline", "revenue", "conversions")

US_PER_DAY = 86_400 * 1_000_000


@dataclass(eq=False)
class Segments:
    """Touches grouped by journey: ``offsets`` over per-touch arrays."""

    offsets: np.ndarray
    touch: np.ndarray  # index into the Columnar touch arrays

    @cached_property
    def lengths(self) -> np.ndarray:
        """Touches per journey."""
        return np.diff(self.offsets)

    @cached_property
    def row(self) -> np.ndarray:
        """For every touch, its journey's row in this segment set."""
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int64), self.lengths)

    @cached_property
    def position(self) -> np.ndarray:
        """0-based position of every touch among its journey's touches."""
        return np.arange(len(self.touch), dtype=np.int64) - self.offsets[:-1][self.row]

    @cached_property
    def length_of_touch(self) -> np.ndarray:
        """Its journey's number of touches, for every touch."""
        return self.lengths[self.row]


@dataclass(eq=False)
class Problem:
    """One target's view of a store: the journeys in play and their eligible touches.

    ``journey`` (J rows) indexes the store's journeys; ``converting`` says which
    convert. ``paths`` groups the eligible touches of every journey in play (the
    Markov chain's input); ``conv`` those of converting journeys that have at least
    one eligible touch (what per-journey models credit). Amounts are per copy;
    ``weight`` is the number of copies.
    """

    columnar: Columnar
    target: str
    quarter: str
    lookback_days: float
    journey: np.ndarray
    converting: np.ndarray
    amount: np.ndarray
    weight: np.ndarray
    moment: np.ndarray
    paths: Segments
    conv_rows: np.ndarray  # rows of `journey` that are in `conv`
    conv: Segments
    total: float
    unattributed: float
    excluded_channels: tuple[str, ...]
    #: the keyword arguments of :func:`build_problem` (see :func:`rebuild_problem`)
    options: dict = field(default_factory=dict, repr=False)

    @property
    def channels(self) -> np.ndarray:
        """Channel names; touch ``channel`` codes index this array."""
        return self.columnar.channels

    @property
    def n_channels(self) -> int:
        """Number of channel codes."""
        return len(self.columnar.channels)

    @cached_property
    def channels_present(self) -> np.ndarray:
        """Whether each channel code has an eligible touch in any journey in play."""
        present = np.zeros(self.n_channels, bool)
        if len(self.paths.touch):
            counts = np.bincount(
                self.columnar.channel[self.paths.touch], minlength=self.n_channels
            )
            present = counts > 0
        return present

    # --- per-touch arrays of the converting view
    @cached_property
    def conv_channel(self) -> np.ndarray:
        """Channel code of every touch of ``conv``."""
        return self.columnar.channel[self.conv.touch]

    @cached_property
    def conv_ts(self) -> np.ndarray:
        """Timestamp (us) of every touch of ``conv``."""
        return self.columnar.ts[self.conv.touch]

    @cached_property
    def conv_value(self) -> np.ndarray:
        """Amount × weight of each converting journey of ``conv`` (one per row)."""
        rows = self.conv_rows
        return self.amount[rows] * self.weight[rows]

    @cached_property
    def conv_journey(self) -> np.ndarray:
        """Store journey number of each row of ``conv``."""
        return self.journey[self.conv_rows]

    @cached_property
    def conv_timeless(self) -> np.ndarray:
        """Whether each row of ``conv`` is a timeless (aggregated) path."""
        return self.columnar.timeless[self.conv_journey]

    def spread(self, fractions: np.ndarray) -> np.ndarray:
        """Turn per-touch fractions (summing to 1 per journey) into money credit."""
        return fractions * self.conv_value[self.conv.row]


def build_problem(
    columnar: Columnar,
    target: str,
    *,
    lookback_days: float = 365,
    quarter: str | None = None,
    reporting_tz: str = "UTC",
    fiscal_year_start: int = 1,
    exclude_channels: Iterable[str] = (),
) -> Problem:
    """Classify journeys and select eligible touches for one target and quarter.

    Parameters
    ----------
    columnar : Columnar
        The store's arrays (``Store.columnar()``).
    target : {"pipeline", "revenue", "conversions"}
    lookback_days : float, default=365
        Length of the lookback window.
    quarter : str, optional
        Restrict to the journeys converting in this quarter plus the null journeys
        whose last touch falls in it.
    reporting_tz : str, default="UTC"
        Time zone of quarter boundaries.
    fiscal_year_start : int, default=1
        First month of the fiscal year.
    exclude_channels : iterable of str
        Channels removed before any model sees the journeys.

    Returns
    -------
    Problem
    """
    if target not in TARGETS:
        raise TouchlineError(
            f"target: {target!r} is not a credit target; choose from "
            f"{', '.join(TARGETS)}"
        )
    if not np.isfinite(lookback_days) or lookback_days <= 0:
        raise TouchlineError(f"lookback_days must be > 0; got {lookback_days!r}")
    c = columnar
    n_j = c.n_journeys
    opp, closed = c.opportunity_created_at, c.closed_at
    if target == "pipeline":
        converting = opp != NAT
        null = ~converting
        amount = c.pipeline_amount
        moment = opp
        window_from = opp
    else:
        converting = c.won.copy()
        open_opp = ~converting & (opp != NAT) & (closed == NAT)
        null = ~converting & ~open_opp
        amount = c.revenue_amount if target == "revenue" else np.ones(n_j)
        moment = closed
        window_from = np.where(opp != NAT, opp, closed)
    converting = converting.copy()

    # --- touches kept after channel exclusion
    journey_of_touch = c.journey_of_touch()
    excluded = tuple(sorted(set(exclude_channels)))
    keep: np.ndarray | None = None
    if excluded:
        codes = np.flatnonzero(np.isin(c.channels, np.array(excluded, dtype=object)))
        if len(codes):
            keep = ~np.isin(c.channel, codes)
    # last kept touch per journey (null journeys' moment)
    last_kept = np.full(n_j, NAT, np.int64)
    has_kept = c.lengths > 0
    if keep is None:
        last_kept[has_kept] = c.ts[c.offsets[1:][has_kept] - 1]
    else:
        kept_idx = np.flatnonzero(keep)
        kj = journey_of_touch[kept_idx]
        is_last = np.ones(len(kj), bool)
        if len(kj):
            np.not_equal(kj[1:], kj[:-1], out=is_last[:-1])
        has_kept = np.zeros(n_j, bool)
        has_kept[kj[is_last]] = True
        last_kept[kj[is_last]] = c.ts[kept_idx[is_last]]

    moment = np.where(converting, moment, last_kept)
    window_from = np.where(converting, window_from, last_kept)
    lookback_us = round(lookback_days * US_PER_DAY)
    start = np.where(window_from == NAT, NAT, window_from - lookback_us)

    # --- quarter selection
    label = "all"
    in_set = converting | (null & has_kept)
    if quarter is not None:
        label = parse_quarter(quarter)
        q = quarter_labels(moment, tz=reporting_tz, fiscal_year_start=fiscal_year_start)
        in_set &= q == label
    # --- eligible touches
    tj = journey_of_touch
    lower = np.where(c.timeless, NAT, start)
    upper = np.where(c.timeless, np.iinfo(np.int64).max, moment)
    lower[~in_set] = 1  # an empty window: no touch of a journey out of the set counts
    upper[~in_set] = 0
    eligible = c.ts >= lower[tj]
    eligible &= c.ts <= upper[tj]
    if keep is not None:
        eligible &= keep

    journeys = np.flatnonzero(in_set)
    touches = np.flatnonzero(eligible)
    counts = np.bincount(tj[touches], minlength=n_j)[journeys]
    paths = Segments(
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), touch=touches
    )
    # null journeys with no eligible touch carry nothing: keep them out of `paths`
    conv_j = converting[journeys]
    keep_rows = conv_j | (counts > 0)
    if not keep_rows.all():
        journeys = journeys[keep_rows]
        counts = counts[keep_rows]
        conv_j = conv_j[keep_rows]
        paths = Segments(
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            touch=touches,
        )
    amt = amount[journeys].astype(np.float64)
    w = c.weight[journeys]
    value = np.where(conv_j, amt * w, 0.0)
    total = float(value.sum())
    no_touch = conv_j & (counts == 0)
    unattributed = float(value[no_touch].sum())
    conv_rows = np.flatnonzero(conv_j & (counts > 0))
    conv_counts = counts[conv_rows]
    starts = paths.offsets[:-1][conv_rows]
    conv_touch = _ranges(starts, conv_counts)
    conv = Segments(
        offsets=np.concatenate([[0], np.cumsum(conv_counts)]).astype(np.int64),
        touch=touches[conv_touch],
    )
    return Problem(
        columnar=c,
        target=target,
        quarter=label,
        lookback_days=lookback_days,
        journey=journeys,
        converting=conv_j,
        amount=np.where(conv_j, amt, 0.0),
        weight=w,
        moment=moment[journeys],
        paths=paths,
        conv_rows=conv_rows,
        conv=conv,
        total=total,
        unattributed=unattributed,
        excluded_channels=excluded,
        options={
            "lookback_days": lookback_days,
            "quarter": quarter,
            "reporting_tz": reporting_tz,
            "fiscal_year_start": fiscal_year_start,
            "exclude_channels": excluded,
        },
    )


def rebuild_problem(problem: Problem, columnar: Columnar) -> Problem:
    """Build ``problem``'s target, quarter and options over other journeys.

    Used to fit a model on a sample of a store's journeys (``columnar`` holds them)
    exactly as it would be fitted on the whole store.
    """
    return build_problem(columnar, problem.target, **problem.options)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for every (s, n), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    seg = np.repeat(np.arange(len(counts)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return starts[seg] + (np.arange(total) - first[seg])
