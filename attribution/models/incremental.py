"""Data-driven attribution: a fitted model of conversion, credited by Shapley values.

:class:`Incremental` learns, from the converting *and* the null journeys of a target,
how each channel's touches change a journey's chance of converting, then credits each
converting journey by the counterfactual contribution of every channel in it.

The conversion model (noisy-OR, or additive hazard)
---------------------------------------------------
A journey reaches a stage with probability

    P = 1 − (1 − b) · ∏ₖ (1 − eₖ) = 1 − exp(−H),   H = h₀ + Σₖ hₖ,

over its touches ``k``: ``b = 1 − exp(−h₀)`` is the baseline (reaching the stage
without marketing) and ``eₖ = 1 − exp(−hₖ)`` the chance that touch ``k`` alone tips
the journey. A touch of channel ``c`` in phase ``p``, ``Δt`` days before the moment,
that is the channel's ``r``-th repeat in the journey (``r = 0`` for its first touch)
has hazard

    hₖ = θ[c, p] · δ[c]^min(r, max_repeats) · η[c]^Δt

with ``θ ≥ 0`` the per-phase effect, ``δ ∈ [0, 1]`` the channel's repeat decay
(diminishing returns; ``δ = 1``: every touch counts alike) and ``η ∈ [0.3, 1]`` its
daily retention (an effect that fades before the decision has ``η < 1``, half-life
``ln 2 / −ln η`` days; ``η = 1``: no fading). The moment is the opportunity's creation
when there is one, else the conversion moment; a null journey has none, so its
moment is its last touch plus the median gap between last touch and moment of the
journeys that converted (counting from the last touch itself would make every null
journey's last touch look fresher than any converting journey's);
``Δt`` is binned (0-1, 1-2, 2-3, 3-5, 5-7, 7-10, 10-14, 14-21, 21-30, 30-45, 45-60,
60-90, 90-120, 120-180, 180-270, 270+ days, each at its mid-point). Phases place a
touch in the buying cycle: ``early``, ``middle`` and ``late`` are thirds of the time
from the journey's first eligible touch to the moment, ``after_opportunity`` holds
the touches after the opportunity was created (no fading). Timeless paths use thirds
of their touches by position and no fading.

Stages. ``pipeline`` has one stage, the opportunity. ``revenue`` and ``conversions``
have two when the journeys include lost deals: reaching an opportunity (every
journey, its touches up to the opportunity) and winning it (the opportunities, all
their eligible touches), so ``P(won) = P(opportunity) · P(win | opportunity)``. This
keeps sales touches, which only opportunities have, from looking like causes of
the opportunity itself: they are judged against lost deals that had them too.

Why this form. Touches are many small, independent chances to move a buyer, and a
buyer moves when any of them (or something outside marketing) does: that is the
noisy-OR. Its hazard is linear in ``θ`` for fixed ``δ`` and ``η``, and the
log-likelihood ``y·log(1 − e^{−H}) − (1 − y)·H`` is concave in ``H``, so each fit is a
concave problem up to two shape parameters per channel.
Effects are non-negative by construction — a touch does not make a buyer less likely
to buy — which keeps credit non-negative and the Shapley game monotone. Journeys of
different lengths and channel mixes separate the baseline from the channel effects;
ridge penalties (``penalty`` on ``θ``, ``phase_penalty`` pulling a channel's phases
towards their mean, ``shape_penalty`` pulling ``δ`` and ``η`` towards 1) keep cells
without data at zero and make the optimum unique. Each stage is fitted by penalised
maximum likelihood (``scipy.optimize`` L-BFGS-B with bounds and the analytic gradient
on a sparse journeys × (channel, phase, repeat, Δt bin) count matrix, then Newton
steps on the exact Hessian), each journey counted ``weight`` times.

Credit
------
For a converting journey with channel set ``S``, the value of keeping only the
touches of channels ``T ⊆ S`` is the fitted probability ``v(T) = ∏_s (1 − K_s·∏_{c∈T}
q_{s,c})`` with ``K_s = 1 − b_s`` and ``q_{s,c} = exp(−Σ hₖ over c's touches in stage
s)``. Channel ``c`` gets its Shapley value in this game — its drop in fitted
probability when removed, interactions shared fairly. ``v`` expands into a sum of
product games, whose Shapley values are exact for any number of channels through the
multilinear extension (Owen, 1972): for ``u(T) = ∏_{i∈T} z_i``,
``φ_c = (z_c − 1)·∫₀¹ ∏_{i≠c}(1 + t(z_i − 1)) dt``, a polynomial of degree ``|S| − 1``
that Gauss–Legendre quadrature with ``⌈|S|/2⌉`` nodes integrates exactly — no
sampling and no cap on channels per journey. The journey's amount is split over its
channels in proportion to ``φ`` (``baseline=True`` first sets the baseline's share
``v(∅)/v(S)`` aside on a ``(baseline)`` row), and within a channel over its touches
in proportion to their hazards. Credit of each journey therefore sums to its amount.

Deal size. For ``pipeline`` and ``revenue`` the model also fits, when at least
``min_deals`` converting journeys have varying positive amounts, a ridge regression
of log amount on channel presence, ``log a = α + Σ_{c∈S} γ_c`` with ``γ ≥ 0`` (a
channel can bring larger deals; the smallest deals set ``α``). The game becomes the
expected value ``v(T) = P(T)·exp(α + Σ_{c∈T} γ_c)`` — still a sum of product games,
so its Shapley values stay exact — and money credit leans towards channels present
in larger deals.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize

from .._columnar import NAT, smallest_hashes, take_journeys
from .._threads import one_blas_thread
from ..exceptions import NotFittedError, ParameterError, TouchlineWarning
from ..problem import US_PER_DAY, Problem, Segments, rebuild_problem
from .base import Model, ModelCredit

__all__ = [
    "BASELINE",
    "PHASES",
    "Incremental",
    "WeakFitWarning",
    "shapley_product_game",
]

BASELINE = "(baseline)"
PHASES = ("early", "middle", "late", "after_opportunity")
_AFTER = 3
#: Upper edges (days) of the Δt bins; bin 0 is "untimed" (Δt = 0).
_DT_EDGES = np.array(
    [1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270], dtype=np.float64
)
_DT_MID = np.r_[0.0, (np.r_[0.0, _DT_EDGES[:-1]] + _DT_EDGES) / 2, 330.0]
_H0_MIN, _H_MAX, _ETA_MIN = 1e-9, 30.0, 0.3
_CHUNK_ROWS = 65_536
_HESSIAN_ROWS = 16_384
#: Newton steps shorter than this (relative) use the exact Hessian: quadratic
#: convergence to the optimum, and its Hessian serves the standard errors.
_EXACT_NEWTON = 1e-6


class WeakFitWarning(TouchlineWarning):
    """The incremental model barely predicts conversion on held-out journeys."""


# ---------------------------------------------------------------------- Shapley
def shapley_product_game(row: np.ndarray, z: np.ndarray, n_rows: int) -> np.ndarray:
    """Shapley values of product games ``v(T) = ∏_{i∈T} z_i``, one game per row.

    Player ``i`` of game ``row[i]`` gets ``(z_i − 1)·∫₀¹ ∏_{j≠i}(1 + t(z_j − 1)) dt``
    (the multilinear extension of Owen, 1972), integrated exactly by Gauss–Legendre
    quadrature with ``⌈m/2⌉`` nodes for ``m`` players in the largest game.

    Parameters
    ----------
    row : numpy.ndarray of int
        The game of every player.
    z : numpy.ndarray of float
        Each player's factor, ``z ≥ 0``.
    n_rows : int
        Number of games.

    Returns
    -------
    numpy.ndarray
        The Shapley value of every player; per game they sum to ``∏ z − 1``.

    Examples
    --------
    >>> phi = shapley_product_game(np.array([0, 0]), np.array([0.5, 0.25]), 1)
    >>> [round(float(v), 6) for v in phi]
    [-0.3125, -0.5625]
    """
    if not len(z):
        return np.zeros(0)
    m = np.bincount(row, minlength=n_rows)
    n_nodes = max(1, math.ceil(int(m.max()) / 2))
    x, wq = np.polynomial.legendre.leggauss(n_nodes)
    nodes, wq = (x + 1.0) / 2.0, wq / 2.0
    zm1 = z - 1.0
    integral = np.zeros(len(z))
    for node, weight in zip(nodes, wq, strict=True):
        log_factor = np.log1p(node * zm1)  # 1 + t(z − 1) ≥ 1 − t > 0
        total = np.bincount(row, weights=log_factor, minlength=n_rows)
        integral += weight * np.exp(total[row] - log_factor)
    return zm1 * integral


# ---------------------------------------------------------------------- features
def _repeats(row: np.ndarray, channel: np.ndarray, n_channels: int) -> np.ndarray:
    """For every touch, how many earlier touches of its channel its journey has.

    Touches are sorted by journey; a stable sort by channel (a radix sort on
    small integer codes) lines up each channel's touches of a journey, in order.

    Examples
    --------
    >>> _repeats(np.array([0, 0, 0, 1]), np.array([2, 5, 2, 2]), 6).tolist()
    [0, 0, 1, 0]
    """
    if not len(row):
        return np.zeros(0, np.int32)
    small = (
        np.uint8
        if n_channels <= 256
        else np.uint16
        if n_channels <= 65_536
        else np.int64
    )
    order = np.argsort(channel.astype(small, copy=False), kind="stable")
    index = np.int32 if len(order) < 2**31 else np.int64
    r = row.astype(index, copy=False)[order]
    start = np.empty(len(r), bool)
    start[0] = True
    np.not_equal(r[1:], r[:-1], out=start[1:])
    del r
    c = channel[order]
    start[1:] |= c[1:] != c[:-1]
    del c
    pos = np.arange(len(order), dtype=index)
    first = np.where(start, pos, index(0))  # position of the run's first touch
    np.maximum.accumulate(first, out=first)
    np.subtract(pos, first, out=pos)
    del first, start
    out = np.empty(len(order), np.int32)
    out[order] = pos
    return out


@dataclass(eq=False)
class _Touches:
    """Per-touch features of a segment set."""

    row: np.ndarray
    channel: np.ndarray
    phase: np.ndarray  # index into PHASES
    repeat: np.ndarray  # capped at max_repeats
    dt_bin: np.ndarray  # index into _DT_MID


def _powers(
    rho: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ρ^e`` and its first and second derivatives in ρ, per (channel, level)."""
    r = rho[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = r**e
        d = np.where(e == 0, 0.0, e * r ** (e - 1))
        dd = np.where((e == 0) | (e == 1), 0.0, e * (e - 1) * r ** (e - 2))
    return p, d, dd


# ---------------------------------------------------------------------- model
class Incremental(Model):
    """Incremental: a channel earns its Shapley share of what its touches add.

    Each channel of a converting journey earns its Shapley share of the drop in the
    journey's fitted chance of converting when that channel's touches are removed,
    from a noisy-OR model of conversion fitted on converting and non-converting
    journeys.

    See the module docstring for the model, its fit and the credit rule. A channel
    that is as common among non-converting journeys as among converting ones gets
    little credit however late or frequent its touches, which no rule-based model
    can do. What it cannot see: touches caused by the buying decision itself (a
    branded search right before a purchase) look like causes to any observational
    model.

    Parameters
    ----------
    max_repeats : int, default=7
        Repeats beyond this count all decay like the ``max_repeats``-th.
    penalty : float, default=1.0
        Ridge penalty on the effects θ (a Gaussian prior of variance
        1/(2·penalty)).
    phase_penalty : float, default=1e4
        Ridge penalty pulling a channel's phase effects towards their mean.
    shape_penalty : float, default=1e3
        Ridge penalty pulling each repeat decay δ and retention η towards 1.
        Penalties are in log-likelihood units and do not grow with the data: they
        steady small stores and fade as journeys accumulate.
    split : {"shapley", "removal"}, default="shapley"
        How a journey's amount is split over its channels: by Shapley values of
        the fitted game, or in proportion to each channel's removal drop
        ``v(S) − v(S ∖ c)`` (what Markov-style removal effects and the benchmark
        truth measure; equal to Shapley when channels do not interact).
    baseline : bool, default=False
        Report the baseline's share (conversion without marketing) on a
        ``(baseline)`` row instead of spreading it over the channels.
    deal_size : bool, default=True
        For amount targets, fit the deal-size model when the data supports it.
    min_deals : int, default=200
        Converting journeys (weighted) with a positive amount that the deal-size
        model needs.
    holdout : float, default=0.2
        Share of journeys held out for the diagnostics (0 disables them).
    seed : int, default=0
        Seed of the held-out split.
    fit_sample : int, default=1_000_000
        Fit on at most this many journeys of the store: above it, on the
        ``fit_sample`` journeys whose ``journey_id`` hashes lowest (FNV-1a), a
        sample that is the same whatever the engine and however the store is
        partitioned, so the streaming engine can collect it part by part. Credit
        is still computed for every journey. A million journeys pin the ~100
        parameters down far below the bootstrap's noise, and bound the fit's
        memory (about 1.5 GB) on stores of any size.

    Attributes
    ----------
    effects_ : pandas.DataFrame
        ``stage``, ``channel``, ``phase``, ``effect`` (chance that one first, fresh
        touch tips the journey, ``1 − exp(−θ)``), ``effect_se``, ``theta``,
        ``theta_se``, ``touches``.
    shapes_ : pandas.DataFrame
        ``stage``, ``channel``, ``repeat_decay`` (δ), ``repeat_decay_se``,
        ``retention`` (η per day), ``retention_se``, ``half_life_days``.
    baseline_ : dict
        Fitted chance of reaching each stage without marketing.
    deal_size_ : pandas.Series or None
        Deal-size multiplier ``exp(γ)`` per channel, when fitted.

    Examples
    --------
    >>> Incremental(baseline=True)
    Incremental(baseline=True)
    """

    name = "incremental"

    def __init__(
        self,
        *,
        max_repeats: int = 7,
        penalty: float = 1.0,
        phase_penalty: float = 1e4,
        shape_penalty: float = 1e3,
        split: Literal["shapley", "removal"] = "shapley",
        baseline: bool = False,
        deal_size: bool = True,
        min_deals: int = 200,
        holdout: float = 0.2,
        seed: int = 0,
        fit_sample: int = 1_000_000,
    ) -> None:
        self.max_repeats = max_repeats
        self.penalty = penalty
        self.phase_penalty = phase_penalty
        self.shape_penalty = shape_penalty
        self.split = split
        self.baseline = baseline
        self.deal_size = deal_size
        self.min_deals = min_deals
        self.holdout = holdout
        self.seed = seed
        self.fit_sample = fit_sample
        self._check_params()

    def _check_params(self) -> None:
        cls = type(self).__name__

        def whole(name: str, lo: int, hi: int | None) -> None:
            v = getattr(self, name)
            if (
                not isinstance(v, (int, np.integer))
                or isinstance(v, bool)
                or v < lo
                or (hi is not None and v > hi)
            ):
                span = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
                raise ParameterError(
                    f"{cls}: parameter {name} must be a whole number {span}; got {v!r}"
                )

        for name in ("penalty", "phase_penalty", "shape_penalty"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not (0 < float(v) < math.inf)
            ):
                raise ParameterError(
                    f"{cls}: parameter {name} must be a positive number; got {v!r}"
                )
        h = self.holdout
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 <= h < 1:
            raise ParameterError(
                f"{cls}: parameter holdout must be a share in [0, 1); got {h!r}"
            )
        if self.split not in ("shapley", "removal"):
            raise ParameterError(
                f"{cls}: parameter split must be 'shapley' or "
                f"'removal'; got {self.split!r}"
            )
        whole("max_repeats", 0, 50)
        whole("min_deals", 1, None)
        whole("seed", 0, None)
        whole("fit_sample", 1, None)

    # ------------------------------------------------------------------ features
    def _touches(
        self, problem: Problem, seg: Segments, end: np.ndarray, opp: np.ndarray
    ) -> _Touches:
        """Channel, phase, repeat and Δt bin of every touch of ``seg``.

        ``end`` (the moment Δt counts back from) and ``opp`` (NAT without an
        opportunity) are per row of ``seg``.
        """
        c = problem.columnar
        channel = c.channel[seg.touch]
        row = seg.row
        phase = np.zeros(len(row), np.int8)
        dt_bin = np.zeros(len(row), np.int8)
        timed = np.zeros(len(row), bool)
        if len(row):
            ts = c.ts[seg.touch]
            first = np.minimum(seg.offsets[:-1], max(len(ts) - 1, 0))
            start = np.where(seg.lengths > 0, ts[first], NAT)
            row_timed = (start != NAT) & (end != NAT)
            timed = (ts != NAT) & row_timed[row]
            if timed.any():
                span = np.where(row_timed, (end - start) / US_PER_DAY, 1.0)
                span = np.maximum(span, 1e-9).astype(np.float32)
                days = end[row]
                days -= ts  # µs; divided in float64, kept in float32
                days = np.divide(
                    days,
                    US_PER_DAY,
                    out=np.empty(len(ts), np.float32),
                    casting="unsafe",
                )
                third = np.clip(np.floor(3 - 3 * days / span[row]), 0, 2)
                after = (opp != NAT)[row] & (days < 0)
                phase = np.where(timed, np.where(after, _AFTER, third), 0).astype(
                    np.int8
                )
                del third
                bins = (
                    1
                    + np.searchsorted(_DT_EDGES.astype(np.float32), days, side="right")
                ).astype(np.int8)
                dt_bin = np.where(timed & ~after, bins, 0).astype(np.int8)
                del days, bins, after
            del ts
        untimed = np.flatnonzero(~timed)
        if len(untimed):  # timeless paths: thirds of the touches by position
            r = row[untimed]
            pos = untimed - seg.offsets[:-1][r]
            n = seg.lengths[r]
            phase[untimed] = np.minimum((pos + 0.5) / n * 3, 2).astype(np.int8)
        repeat = np.minimum(
            _repeats(row, channel, problem.n_channels), int(self.max_repeats)
        ).astype(np.int32)
        return _Touches(
            row=row, channel=channel, phase=phase, repeat=repeat, dt_bin=dt_bin
        )

    @staticmethod
    def _null_gap(problem: Problem, end: np.ndarray, reached: np.ndarray) -> int:
        """Weighted median time (µs) from the last touch before the moment to it.

        Only journeys that reached the stage have a moment; a null journey's is
        unknown, so its Δt counts back from its last touch plus this gap. Counting
        from the last touch itself would make every null journey's last touch look
        fresher than any converting journey's, which biases fading effects.
        """
        seg = problem.paths
        nonempty = np.flatnonzero(seg.lengths > 0)
        keep = reached[nonempty] & (end[nonempty] != NAT)
        rows = nonempty[keep]
        if not len(rows):
            return 0
        ts = problem.columnar.ts[seg.touch]
        before = np.where(ts <= end[seg.row], ts, NAT)
        last = np.maximum.reduceat(before, seg.offsets[:-1][nonempty])[keep]
        ok = last != NAT
        if not ok.any():
            return 0
        gap = (end[rows] - last)[ok]
        w = problem.weight[rows][ok].astype(np.float64)
        order = np.argsort(gap, kind="stable")
        cw = np.cumsum(w[order])
        return int(gap[order][np.searchsorted(cw, cw[-1] / 2)])

    def _local(self, problem: Problem) -> np.ndarray:
        """Fitted channel index of every channel code of ``problem`` (-1: unknown)."""
        names = {n: i for i, n in enumerate(self.channels_)}
        return np.array([names.get(str(n), -1) for n in problem.channels], np.int64)

    # ------------------------------------------------------------------ fitting
    def fit(self, problem: Problem) -> Incremental:
        """Fit the conversion (and deal-size) model on ``problem``'s journeys.

        On a store of more than ``fit_sample`` journeys, on those of the sample
        (see the class docstring).
        """
        super().fit(problem)
        self._check_params()
        self._fit_problem: Problem | None = None
        self._sample_map: np.ndarray | None = None
        self.sampled_ = None
        c = problem.columnar
        if c.n_journeys > self.fit_sample:
            rows = smallest_hashes(c.journey_ids, int(self.fit_sample))
            sample = rebuild_problem(problem, take_journeys(c, rows))
            # where the sample's journey rows are among `problem`'s (for resamples)
            self._sample_map = np.searchsorted(problem.journey, rows[sample.journey])
            self._fit_problem = problem = sample
            self.sampled_ = {"journeys": len(rows), "of": int(c.n_journeys)}
            c = problem.columnar
        seg = problem.paths
        present = np.flatnonzero(problem.channels_present)
        self.channels_ = np.asarray(problem.channels, dtype=object)[present].astype(str)
        local = self._local(problem)
        opp = c.opportunity_created_at[problem.journey]
        conv = problem.converting
        has_opp = (opp != NAT) | conv
        end = np.where(opp != NAT, opp, problem.moment)
        self.null_gap_days_ = self._null_gap(problem, end, has_opp) / US_PER_DAY
        gap = round(self.null_gap_days_ * US_PER_DAY)
        end = np.where(has_opp | (end == NAT), end, end + gap)
        t = self._touches(problem, seg, end, opp)
        lost = has_opp & ~conv & (seg.lengths > 0)
        w = problem.weight.astype(np.float64)
        shape = _Shape(
            n_channels=len(present),
            n_rep=int(self.max_repeats) + 1,
            penalties=(
                float(self.penalty),
                float(self.phase_penalty),
                float(self.shape_penalty),
            ),
        )
        if problem.target != "pipeline" and lost.any():
            specs = [
                ("opportunity", t.phase != _AFTER, has_opp),
                ("win", has_opp[t.row], conv),
            ]
        else:
            specs = [
                (
                    "opportunity" if problem.target == "pipeline" else "conversion",
                    np.ones(len(t.row), bool),
                    conv,
                )
            ]
        self._stages = [
            _Stage.build(name, t, mask, y, w, local, shape, len(problem.journey))
            for name, mask, y in specs
        ]
        del t, specs  # the design matrices hold what the fit needs
        for stage in self._stages:
            d = stage.design
            stage.params, stage.info = d.optimise(d.start(), d.weight, warm=False)
            stage.hessian = d.near_exact_hessian(stage.params, d.weight) / max(
                float(d.weight.sum()), 1.0
            )
        self._deal = self._fit_deal(problem, w)
        self._parts_cache: tuple[Problem, _ConvParts] | None = None
        self._diagnostics = self._diagnose(problem)
        if self.sampled_ is not None:
            self._diagnostics["fit_sample"] = dict(self.sampled_)
        return self

    def release_fit_data(self) -> Incremental:
        """Drop the fit's design matrices and sample, keeping what credit needs.

        The streaming engine calls this before shipping the fitted model to the
        partitions; :meth:`resample_credit` is not available afterwards.
        """
        for stage in getattr(self, "_stages", []):
            d = stage.design
            d.a = sp.csr_matrix((0, d.n_columns))
            d.y = d.weight = np.zeros(0)
            d.rows = np.zeros(0, np.int64)
            d._row_cache.clear()
            d._last_eval = d._last_exact = None
        self._fit_problem = self._sample_map = None
        self._parts_cache = None
        self._released = True
        return self

    def _fit_deal(self, problem: Problem, weight: np.ndarray) -> np.ndarray | None:
        """γ (log deal-size lift per fitted channel), or None when not supported."""
        if not self.deal_size or problem.target == "conversions":
            return None
        rows = problem.conv_rows
        amount = problem.amount[rows]
        w = weight[rows]
        ok = (amount > 0) & (w > 0)
        if w[ok].sum() < self.min_deals or len(np.unique(amount[ok])) < 2:
            return None
        m = len(self.channels_)
        ch = self._local(problem)[problem.conv_channel]
        log_amount = np.log(np.where(ok, amount, 1.0))
        offsets, touch_row = problem.conv.offsets, problem.conv.row
        xtx = np.zeros((m + 1, m + 1))
        xty = np.zeros(m + 1)
        block = max(1, 2**22 // max(m, 1))  # rows of presence per block (32 MB)
        with one_blas_thread():
            for lo in range(0, len(rows), block):  # loops over blocks of rows
                hi = min(lo + block, len(rows))
                span = slice(offsets[lo], offsets[hi])
                c = ch[span]
                known = c >= 0
                x = np.zeros((hi - lo, m))
                x[touch_row[span][known] - lo, c[known]] = 1.0  # presence, not counts
                keep = ok[lo:hi]
                x, wb, yb = x[keep], w[lo:hi][keep], log_amount[lo:hi][keep]
                xw = x * wb[:, None]
                xtx[0, 0] += wb.sum()
                xtx[0, 1:] += xw.sum(axis=0)
                xtx[1:, 1:] += x.T @ xw
                xty[0] += wb @ yb
                xty[1:] += xw.T @ yb
        xtx[1:, 0] = xtx[0, 1:]
        qm = xtx + np.diag(np.r_[0.0, np.full(m, 10.0)])
        gamma = _bounded_quadratic(qm, xty, hi=5.0)[1:]
        return gamma if (gamma > 1e-12).any() else None

    # ------------------------------------------------------------------ credit
    def _credit(self, problem: Problem) -> ModelCredit:
        shares = self._shares(problem, [s.params for s in self._stages], self._deal)
        value = problem.conv_value
        touch = shares.touch * value[problem.conv.row]
        by_channel = np.bincount(
            problem.conv_channel, weights=touch, minlength=problem.n_channels
        )
        extra = {BASELINE: float(shares.baseline @ value)} if self.baseline else {}
        return ModelCredit(touch=touch, by_channel=by_channel, extra=extra)

    def _fractions(self, problem: Problem) -> np.ndarray:
        return self._shares(problem, [s.params for s in self._stages], self._deal).touch

    def _shares(
        self, problem: Problem, params: list[np.ndarray], gamma: np.ndarray | None
    ) -> _Shares:
        if not hasattr(self, "_stages"):
            raise NotFittedError("Incremental: call fit() before credit()")
        return self._conv_parts(problem).shares(
            params, self._stages, gamma, baseline=bool(self.baseline), split=self.split
        )

    def _conv_parts(self, problem: Problem) -> _ConvParts:
        cached = self._parts_cache
        if cached is not None and cached[0] is problem:
            return cached[1]
        seg = problem.conv
        opp = problem.columnar.opportunity_created_at[problem.conv_journey]
        end = np.where(opp != NAT, opp, problem.moment[problem.conv_rows])
        t = self._touches(problem, seg, end, opp)
        local = self._local(problem)
        lc = local[t.channel]
        n_ch = max(problem.n_channels, 1)
        key = t.row.astype(np.int64) * n_ch + t.channel
        uniq, inv = np.unique(key, return_inverse=True)
        cols = []
        for stage in self._stages:
            col = stage.design.columns(lc, t)
            if stage.name == "opportunity" and len(self._stages) == 2:
                col = np.where(t.phase != _AFTER, col, -1)
            cols.append(col)
        parts = _ConvParts(
            n_rows=len(seg.offsets) - 1,
            row=t.row,
            cols=cols,
            pair=inv.astype(np.int64),
            pair_row=uniq // n_ch,
            pair_local=local[uniq % n_ch],
            pair_channel=(uniq % n_ch).astype(np.int64),
        )
        self._parts_cache = (problem, parts)
        return parts

    # ------------------------------------------------------------------ bootstrap
    def resample_credit(
        self, problem: Problem, weight: np.ndarray
    ) -> tuple[np.ndarray, float, dict[str, float]]:
        """Refit on resampled journey weights and return the channel totals.

        The hook :mod:`attribution.intervals` calls for bootstrap intervals: the
        design matrices are reused and each fit starts from the point estimate.

        Parameters
        ----------
        problem : Problem
            The problem the model was fitted on.
        weight : numpy.ndarray
            Resampled copies of every journey row of ``problem.journey``.

        Returns
        -------
        by_channel : numpy.ndarray
            Credit per channel code.
        unattributed : float
            Amount of converting journeys without eligible touches.
        extra : dict
            ``{"(baseline)": credit}`` when ``baseline=True``.
        """
        if not hasattr(self, "_stages") or getattr(self, "_released", False):
            raise NotFittedError("Incremental: call fit() before resample_credit()")
        weight = np.asarray(weight, dtype=np.float64)
        fit_problem, fit_weight = problem, weight
        if self._sample_map is not None:  # fitted on a sample: refit on its weights
            fit_problem, fit_weight = self._fit_problem, weight[self._sample_map]
        params = [
            s.design.optimise(
                s.params, fit_weight[s.design.rows], warm=True, fixed=s.hessian
            )[0]
            for s in self._stages
        ]
        gamma = (
            self._fit_deal(fit_problem, fit_weight) if self._deal is not None else None
        )
        parts = self._conv_parts(problem)
        shares = self._shares(problem, params, gamma)
        value = problem.amount * weight
        conv_value = value[problem.conv_rows]
        by_channel = np.bincount(
            parts.pair_channel,
            weights=conv_value[parts.pair_row] * shares.pair,
            minlength=problem.n_channels,
        )
        no_touch = problem.converting & (problem.paths.lengths == 0)
        extra = {BASELINE: float(shares.baseline @ conv_value)} if self.baseline else {}
        return by_channel, float(value[no_touch].sum()), extra

    # ------------------------------------------------------------------ diagnostics
    def _diagnose(self, problem: Problem) -> dict[str, Any]:
        effects, shapes, stages = [], [], []
        for s in self._stages:
            d = s.design
            m, k = d.n_channels, d.n_phases
            h0, theta, delta, eta = d.unpack(s.params)
            cov = d.covariance(s.params)
            se = (
                np.sqrt(np.clip(np.diag(cov), 0, None))
                if cov is not None
                else np.full(d.n_params, np.nan)
            )
            th_se = se[1 : 1 + k * m]
            effects.append(
                pd.DataFrame(
                    {
                        "stage": s.name,
                        "channel": np.repeat(self.channels_, k),
                        "phase": np.tile(PHASES[:k], m),
                        "effect": -np.expm1(-theta.ravel()),
                        "effect_se": np.exp(-theta.ravel()) * th_se,
                        "theta": theta.ravel(),
                        "theta_se": th_se,
                        "touches": s.touches.ravel(),
                    }
                )
            )
            with np.errstate(divide="ignore"):
                half_life = np.where(eta < 1, math.log(2) / -np.log(eta), np.inf)
            shapes.append(
                pd.DataFrame(
                    {
                        "stage": s.name,
                        "channel": self.channels_,
                        "repeat_decay": delta,
                        "repeat_decay_se": se[1 + k * m : 1 + (k + 1) * m],
                        "retention": eta,
                        "retention_se": se[1 + (k + 1) * m :],
                        "half_life_days": half_life,
                    }
                )
            )
            stages.append(
                {
                    "stage": s.name,
                    "journeys": len(d.rows),
                    "reached": int(d.y.sum()),
                    "weighted_journeys": float(d.weight.sum()),
                    "converged": bool(s.info["converged"]),
                    "iterations": int(s.info["iterations"]),
                    "baseline": float(-np.expm1(-h0)),
                    "baseline_se": _num(math.exp(-h0) * se[0]),
                }
            )
        self.effects_ = pd.concat(effects, ignore_index=True)
        self.shapes_ = pd.concat(shapes, ignore_index=True)
        self.baseline_ = {s["stage"]: s["baseline"] for s in stages}
        self.deal_size_ = (
            None
            if self._deal is None
            else pd.Series(
                np.exp(self._deal),
                index=pd.Index(self.channels_, name="channel"),
                name="deal_size_multiplier",
            )
        )
        out: dict[str, Any] = {
            "null_gap_days": float(self.null_gap_days_),
            "stages": stages,
            "effects": _records(self.effects_.drop(columns=["theta", "theta_se"])),
            "shapes": _records(self.shapes_),
            "deal_size": (
                None
                if self.deal_size_ is None
                else {str(k): _num(v) for k, v in self.deal_size_.items()}
            ),
        }
        out["holdout"] = ho = self._holdout(problem)
        if ho.get("evaluated") and (
            ho["auc"] < 0.6 or ho["log_loss"] >= ho["log_loss_no_marketing"]
        ):
            warnings.warn(
                f"incremental ({problem.target}, {problem.quarter}): held-out AUC "
                f"{ho['auc']:.3f}, log-loss {ho['log_loss']:.4f} against "
                f"{ho['log_loss_no_marketing']:.4f} without marketing; the touches "
                "barely predict conversion, so treat this model's credit as weak",
                WeakFitWarning,
                stacklevel=3,
            )
        return out

    def _holdout(self, problem: Problem) -> dict[str, Any]:
        if float(self.holdout) <= 0:
            return {"evaluated": False, "reason": "holdout=0"}
        n = len(problem.journey)
        rows = np.flatnonzero(problem.paths.lengths > 0)
        test = np.zeros(n, bool)
        test[rows] = np.random.default_rng(int(self.seed)).random(len(rows)) < float(
            self.holdout
        )
        y = problem.converting.astype(np.float64)
        w = problem.weight.astype(np.float64)
        train = ~test
        train[problem.paths.lengths == 0] = False
        if (
            min(
                float(w[test] @ y[test]),
                float(w[test] @ (1 - y[test])),
                float(w[train] @ y[train]),
                float(w[train] @ (1 - y[train])),
            )
            < 20
        ):
            return {
                "evaluated": False,
                "reason": "fewer than 20 converting or null "
                "journeys to train on or hold out",
            }
        p = np.ones(n)
        w_train = np.where(test, 0.0, w)
        for s in self._stages:
            d = s.design
            # a diagnostic: parameters to 1e-6 move its log-loss by about 1e-12
            x, _ = d.optimise(
                s.params, w_train[d.rows], warm=True, fixed=s.hessian, tol=1e-6
            )
            h = np.full(n, float(x[0]))
            h[d.rows] = d.hazard(x)
            p *= -np.expm1(-h)
        p, yt, wt = p[test], y[test], w[test]
        rate = float(np.clip((w[train] @ y[train]) / w[train].sum(), 1e-12, 1 - 1e-12))
        pc = np.clip(p, 1e-12, 1 - 1e-12)
        ll = float(
            -(wt * (yt * np.log(pc) + (1 - yt) * np.log1p(-pc))).sum() / wt.sum()
        )
        ll0 = float(
            -(wt * (yt * math.log(rate) + (1 - yt) * math.log1p(-rate))).sum()
            / wt.sum()
        )
        return {
            "evaluated": True,
            "share": float(self.holdout),
            "journeys": int(test.sum()),
            "log_loss": ll,
            "log_loss_no_marketing": ll0,
            "auc": _auc(p, yt, wt),
            "auc_no_marketing": 0.5,
            "calibration": _calibration(p, yt, wt),
        }

    def diagnostics(self) -> dict[str, Any]:
        """Fit diagnostics, JSON-serialisable (the engine saves them in ``run.json``).

        Returns
        -------
        dict
            ``stages`` (journeys, convergence and baseline of each fitted stage),
            ``effects`` (per stage, channel and phase, with standard errors from
            the inverse Hessian of the penalised likelihood at the optimum),
            ``shapes`` (repeat decay and daily retention per channel),
            ``deal_size`` and ``holdout``: held-out ``log_loss`` and ``auc`` next
            to the no-marketing baseline (a constant conversion rate) and a
            ``calibration`` table (mean predicted and observed rate by decile of
            prediction).

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        if not hasattr(self, "_diagnostics"):
            raise NotFittedError("Incremental: call fit() before diagnostics()")
        return self._diagnostics


def _bounded_quadratic(q: np.ndarray, b: np.ndarray, hi: float) -> np.ndarray:
    """Minimise ``½ xᵀQx − bᵀx`` with ``x[1:]`` in ``[0, hi]`` (active set).

    ``Q`` is positive definite and small (one row per channel); the loop adds and
    drops bounds until the KKT conditions hold.
    """
    n = len(b)
    state = np.zeros(n, np.int8)  # 0 free, -1 at 0, +1 at hi
    x = np.zeros(n)
    for _ in range(4 * n + 10):  # each pass fixes or frees at least one bound
        x = np.where(state == 1, hi, 0.0)
        free = state == 0
        rhs = b[free] - q[np.ix_(free, ~free)] @ x[~free]
        x[free] = np.linalg.solve(q[np.ix_(free, free)], rhs)
        low = free & (x < 0)
        low[0] = False
        high = free & (x > hi)
        high[0] = False
        if low.any() or high.any():
            state[low], state[high] = -1, 1
            continue
        g = q @ x - b
        release = ((state == -1) & (g < -1e-12)) | ((state == 1) & (g > 1e-12))
        if not release.any():
            break
        state[np.flatnonzero(release)[0]] = 0
    return x


def _num(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe records: non-finite floats become None."""
    out = []
    for row in df.to_dict("records"):
        out.append(
            {
                k: (
                    _num(v)
                    if isinstance(v, float)
                    else int(v)
                    if isinstance(v, (int, np.integer))
                    else str(v)
                )
                for k, v in row.items()
            }
        )
    return out


def _auc(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted area under the ROC curve (ties count one half)."""
    values, inv = np.unique(p, return_inverse=True)
    pos = np.bincount(inv, weights=w * y, minlength=len(values))
    neg = np.bincount(inv, weights=w * (1 - y), minlength=len(values))
    below = np.cumsum(neg) - neg
    denom = pos.sum() * neg.sum()
    return float((pos * (below + 0.5 * neg)).sum() / denom) if denom > 0 else 0.5


def _calibration(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> list[dict[str, Any]]:
    """Mean predicted and observed conversion by weighted decile of prediction."""
    order = np.argsort(p, kind="stable")
    wo = w[order]
    cw = np.cumsum(wo)
    dec = np.minimum(((cw - wo / 2) / cw[-1] * 10).astype(np.int64), 9)
    ws = np.bincount(dec, weights=wo, minlength=10)
    pred = np.bincount(dec, weights=(w * p)[order], minlength=10)
    obs = np.bincount(dec, weights=(w * y)[order], minlength=10)
    return [
        {
            "decile": k + 1,
            "weight": float(ws[k]),
            "predicted": _num(pred[k] / ws[k]) if ws[k] > 0 else None,
            "observed": _num(obs[k] / ws[k]) if ws[k] > 0 else None,
        }
        for k in range(10)
    ]


# ---------------------------------------------------------------------- a stage
@dataclass(eq=False)
class _Shape:
    """What every stage of one model shares: channels, repeat levels, penalties."""

    n_channels: int
    n_rep: int
    penalties: tuple[float, float, float]


@dataclass(eq=False)
class _Stage:
    """One fitted noisy-OR stage (opportunity, win, or the single conversion)."""

    name: str
    design: _Design
    touches: np.ndarray  # touches per (channel, phase)
    params: np.ndarray | None = None
    info: dict | None = None
    hessian: np.ndarray | None = None  # normalised, at params (warm refits)

    @classmethod
    def build(
        cls,
        name: str,
        t: _Touches,
        mask: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        local: np.ndarray,
        shape: _Shape,
        n_rows: int,
    ) -> _Stage:
        whole = bool(mask.all())
        phase = t.phase if whole else t.phase[mask]
        n_phases = len(PHASES) if (phase == _AFTER).any() else _AFTER
        del phase
        m = shape.n_channels
        design = _Design(
            a=sp.csr_matrix((0, 0)),
            y=np.zeros(0),
            weight=np.zeros(0),
            rows=np.zeros(0, np.int64),
            n_channels=m,
            n_phases=n_phases,
            n_rep=shape.n_rep,
            penalties=shape.penalties,
        )
        # every touch's column, then the stage's touches (boolean selections keep
        # the temporaries at the size of the columns, not of int64 indices)
        cols = design.columns(local.astype(np.int32)[t.channel], t)
        row = t.row
        if not whole:
            cols, row = cols[mask], row[mask]
        count = np.bincount(row, minlength=n_rows)
        del row
        rows = np.flatnonzero(count > 0)
        design.rows, design.y, design.weight = rows, y[rows].astype(np.float64), w[rows]
        # touches are sorted by journey, so the CSR structure is direct
        index = np.int32 if len(cols) < 2**31 else np.int64
        indptr = np.concatenate([[0], np.cumsum(count[rows])]).astype(index)
        design.a = sp.csr_matrix(
            (np.ones(len(cols)), cols, indptr), shape=(len(rows), design.n_columns)
        )
        # repeated (row, column) entries stay: sparse products add them up, and
        # summing them first would sort every row's columns for nothing
        touches = (
            np.asarray(design.a.sum(axis=0))
            .reshape(m, n_phases, shape.n_rep * len(_DT_MID))
            .sum(axis=2)
            .astype(np.int64)
        )
        return cls(name=name, design=design, touches=touches)


# ---------------------------------------------------------------------- the fit
@dataclass(eq=False)
class _Design:
    """The penalised likelihood of one stage.

    ``a`` counts each journey's touches per (channel, phase, repeat, Δt bin).
    Parameters are ``x = [h0, θ (channels × phases, row-major), δ (channels),
    η (channels)]``; a journey's hazard is ``h0 + a @ β`` with
    ``β[c, p, r, t] = θ[c, p]·δ[c]^r·η[c]^Δt[t]``.
    """

    a: sp.csr_matrix
    y: np.ndarray
    weight: np.ndarray
    rows: np.ndarray  # rows of problem.journey
    n_channels: int
    n_phases: int
    n_rep: int
    penalties: tuple[float, float, float]
    _conv_rows: np.ndarray | None = None
    _row_cache: dict = field(default_factory=dict)
    # the last point evaluated, and the last exact Hessian: (x, w, values)
    _last_eval: tuple | None = None
    _last_exact: tuple | None = None

    @property
    def n_params(self) -> int:
        return 1 + (self.n_phases + 2) * self.n_channels

    @property
    def n_columns(self) -> int:
        return self.n_channels * self.n_phases * self.n_rep * len(_DT_MID)

    def columns(self, local: np.ndarray, t: _Touches) -> np.ndarray:
        """Design column of every touch (-1 when its channel or phase is not fitted).

        ``local`` is each touch's fitted channel index (-1: not fitted).
        """
        m, k, n_dt = self.n_channels, self.n_phases, len(_DT_MID)
        # first column of every (channel + 1, phase) cell; -1 where not fitted
        first = np.full((m + 1, len(PHASES)), -1, np.int32)
        first[1:, :k] = (np.arange(m)[:, None] * k + np.arange(k)) * self.n_rep * n_dt
        cell = (local + 1).astype(np.int32)
        cell *= len(PHASES)
        cell += t.phase
        col = first.ravel().take(cell)
        fitted = col >= 0
        col += t.repeat * np.int32(n_dt)
        col += t.dt_bin
        col[~fitted] = -1
        return col

    def unpack(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        m, k = self.n_channels, self.n_phases
        return (
            float(x[0]),
            x[1 : 1 + k * m].reshape(m, k),
            x[1 + k * m : 1 + (k + 1) * m],
            x[1 + (k + 1) * m :],
        )

    def _levels(self, x: np.ndarray) -> tuple[tuple[np.ndarray, ...], ...]:
        _, _, delta, eta = self.unpack(x)
        return (
            _powers(delta, np.arange(self.n_rep, dtype=np.float64)),
            _powers(eta, _DT_MID),
        )

    def beta(self, x: np.ndarray) -> np.ndarray:
        _, theta, _, _ = self.unpack(x)
        (pr, _, _), (pt, _, _) = self._levels(x)
        return (
            theta[:, :, None, None] * pr[:, None, :, None] * pt[:, None, None, :]
        ).ravel()

    def hazard(self, x: np.ndarray) -> np.ndarray:
        return x[0] + self.a @ self.beta(x)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        m, k = self.n_channels, self.n_phases
        lo = np.r_[_H0_MIN, np.zeros(k * m), np.zeros(m), np.full(m, _ETA_MIN)]
        hi = np.r_[_H_MAX, np.full(k * m, _H_MAX), np.ones(m), np.ones(m)]
        return lo, hi

    def start(self) -> np.ndarray:
        w, y = self.weight, self.y
        rate = float(np.clip((w @ y) / max(w.sum(), 1e-300), 1e-6, 1 - 1e-6))
        total = -math.log1p(-rate)
        per_journey = float(
            (w @ np.asarray(self.a.sum(axis=1)).ravel()) / max(w.sum(), 1e-300)
        )
        m, k = self.n_channels, self.n_phases
        theta = 0.5 * total / max(per_journey, 1.0)
        return np.r_[max(0.5 * total, _H0_MIN), np.full(k * m, theta), np.ones(2 * m)]

    def _penalty(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        lam, lam_ph, lam_s = self.penalties
        _, theta, delta, eta = self.unpack(x)
        dev = theta - theta.mean(axis=1, keepdims=True)
        f = (
            lam * float((theta**2).sum())
            + lam_ph * float((dev**2).sum())
            + lam_s * float(((delta - 1) ** 2).sum() + ((eta - 1) ** 2).sum())
        )
        g = np.r_[
            0.0,
            (2 * lam * theta + 2 * lam_ph * dev).ravel(),
            2 * lam_s * (delta - 1),
            2 * lam_s * (eta - 1),
        ]
        return f, g

    def _data(
        self, x: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Negative log-likelihood, its derivative in each journey's H, and H."""
        h = np.maximum(self.hazard(x), 1e-300)
        om = -np.expm1(-h)  # P(reach the stage)
        y = self.y
        # elementwise sums, not BLAS dot products: a threaded ddot's wake-up costs
        # more than the sum itself in an optimiser's inner loop
        nll = -float(np.sum(w * (y * np.log(om) - (1 - y) * h)))
        g_h = -w * (y * np.exp(-h) / om - (1 - y))
        return nll, g_h, h

    def _chain(self, x: np.ndarray, g_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient in x from the gradient in each H; also the gradient in β."""
        m, k = self.n_channels, self.n_phases
        _, theta, _, _ = self.unpack(x)
        (pr, dpr, _), (pt, dpt, _) = self._levels(x)
        g_beta = (self.a.T @ g_h).reshape(m, k, self.n_rep, len(_DT_MID))
        gt = np.einsum("cprt,cr,ct->cp", g_beta, pr, pt)
        gd = np.einsum("cprt,cp,cr,ct->c", g_beta, theta, dpr, pt)
        ge = np.einsum("cprt,cp,cr,ct->c", g_beta, theta, pr, dpt)
        return np.r_[g_h.sum(), gt.ravel(), gd, ge], g_beta

    def _evaluate(
        self, x: np.ndarray, w: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_data` and :meth:`_chain` at ``x``, kept for a Hessian there.

        Newton evaluates the objective at a point and then its Hessian at the same
        point; the Hessian reuses the pass over the journeys.
        """
        if _at(self._last_eval, x, w):
            return self._last_eval[2]
        nll, g_h, h = self._data(x, w)
        g, g_beta = self._chain(x, g_h)
        self._last_eval = (x.copy(), w, (nll, g_h, h, g, g_beta))
        return nll, g_h, h, g, g_beta

    def objective(
        self, x: np.ndarray, w: np.ndarray, scale: float
    ) -> tuple[float, np.ndarray]:
        nll, _, _, g, _ = self._evaluate(x, w)
        pf, pg = self._penalty(x)
        return (nll + pf) / scale, (g + pg) / scale

    def _jacobian(self, x: np.ndarray) -> sp.csr_matrix:
        """∂β/∂x as a sparse (columns × parameters) matrix."""
        m, k, n_rep, n_t = self.n_channels, self.n_phases, self.n_rep, len(_DT_MID)
        _, theta, _, _ = self.unpack(x)
        (pr, dpr, _), (pt, dpt, _) = self._levels(x)
        c, p, r, t = (
            g.ravel()
            for g in np.meshgrid(
                np.arange(m),
                np.arange(k),
                np.arange(n_rep),
                np.arange(n_t),
                indexing="ij",
            )
        )
        u = np.arange(len(c))
        values = np.concatenate(
            [
                pr[c, r] * pt[c, t],
                theta[c, p] * dpr[c, r] * pt[c, t],
                theta[c, p] * pr[c, r] * dpt[c, t],
            ]
        )
        cols = np.concatenate([1 + c * k + p, 1 + k * m + c, 1 + (k + 1) * m + c])
        return sp.csr_matrix(
            (values, (np.tile(u, 3), cols)), shape=(self.n_columns, self.n_params)
        )

    def hessian(
        self,
        x: np.ndarray,
        w: np.ndarray,
        *,
        fisher: bool = False,
        sample: bool = False,
    ) -> np.ndarray:
        """Hessian of the penalised negative log-likelihood at ``x``.

        ``fisher=True`` gives the expected information instead (Gauss–Newton:
        positive definite everywhere, no second-order terms). ``sample=True`` lets
        a stage with more than ``_HESSIAN_ROWS`` journeys in the data term use an
        evenly spaced sample of them (Newton then converges linearly).
        """
        m, k = self.n_channels, self.n_phases
        rows, a_rows = self._hessian_rows(fisher, sample)
        exact = not fisher and len(rows) == len(self._all_rows(fisher))
        if exact and _at(self._last_exact, x, w):
            return self._last_exact[2].copy()
        _, _, h, _, g_beta = self._evaluate(x, w)
        om = -np.expm1(-h)
        if fisher:  # E[−ℓ''] = p'² / (p(1 − p)) = 1 / expm1(H), every journey
            s = w * np.exp(-h) / om
        else:  # −ℓ''(H) = e^{−H} / (1 − e^{−H})², converting journeys only
            s = w * self.y * np.exp(-h) / (om * om)
        s = s[rows] * (len(self._all_rows(fisher)) / max(len(rows), 1))
        jac = self._jacobian(x)
        hess = np.zeros((self.n_params, self.n_params))
        # BLAS on one thread: a threaded dgemm on a busy machine can be 50x slower
        with one_blas_thread():
            for i in range(0, len(s), _CHUNK_ROWS):  # loops over row blocks
                block = (a_rows[i : i + _CHUNK_ROWS] @ jac).toarray()
                block[:, 0] = 1.0
                hess += block.T @ (block * s[i : i + _CHUNK_ROWS, None])
        lam, lam_ph, lam_s = self.penalties
        block = 2 * lam * np.eye(k) + 2 * lam_ph * (np.eye(k) - np.full((k, k), 1 / k))
        th = slice(1, 1 + k * m)
        hess[th, th] += np.kron(np.eye(m), block)
        shape_idx = np.arange(1 + k * m, self.n_params)
        hess[shape_idx, shape_idx] += 2 * lam_s
        if fisher:
            return hess
        # second-order terms of β(θ, δ, η), contracted with ∂f/∂β
        _, theta, _, _ = self.unpack(x)
        (pr, dpr, ddpr), (pt, dpt, ddpt) = self._levels(x)
        ti = 1 + np.arange(m * k).reshape(m, k)
        di = np.repeat((1 + k * m + np.arange(m))[:, None], k, axis=1)
        ei = di + m
        for rows_i, cols_i, vals in (
            (ti, di, np.einsum("cprt,cr,ct->cp", g_beta, dpr, pt)),
            (ti, ei, np.einsum("cprt,cr,ct->cp", g_beta, pr, dpt)),
        ):
            np.add.at(hess, (rows_i.ravel(), cols_i.ravel()), vals.ravel())
            np.add.at(hess, (cols_i.ravel(), rows_i.ravel()), vals.ravel())
        dd = np.einsum("cprt,cp,cr,ct->c", g_beta, theta, ddpr, pt)
        ee = np.einsum("cprt,cp,cr,ct->c", g_beta, theta, pr, ddpt)
        de = np.einsum("cprt,cp,cr,ct->c", g_beta, theta, dpr, dpt)
        d_idx = 1 + k * m + np.arange(m)
        hess[d_idx, d_idx] += dd
        hess[d_idx + m, d_idx + m] += ee
        hess[d_idx, d_idx + m] += de
        hess[d_idx + m, d_idx] += de
        if exact:
            self._last_exact = (x.copy(), w, hess.copy())
        return hess

    def near_exact_hessian(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Return the exact Hessian at ``x``, or the last one within 1e-9 of ``x``.

        A converged Newton fit computed it one step (at most 1e-9 relative) before
        its optimum; there it agrees with the Hessian at the optimum to that
        precision, far below the statistical error it is used to measure.
        """
        if _at(self._last_exact, x, w, rtol=1e-9):
            return self._last_exact[2].copy()
        return self.hessian(x, w)

    def _all_rows(self, fisher: bool) -> np.ndarray:
        if fisher:
            return np.arange(len(self.y))
        if self._conv_rows is None:
            self._conv_rows = np.flatnonzero(self.y > 0)
        return self._conv_rows

    def _hessian_rows(
        self, fisher: bool, sample: bool
    ) -> tuple[np.ndarray, sp.csr_matrix]:
        """Rows of the data term and their design rows (cached)."""
        key = (fisher, sample)
        if key not in self._row_cache:
            rows = self._all_rows(fisher)
            stride = max(1, -(-len(rows) // _HESSIAN_ROWS)) if sample else 1
            rows = rows[::stride]
            self._row_cache[key] = (
                rows,
                self.a if len(rows) == len(self.y) else self.a[rows],
            )
        return self._row_cache[key]

    def optimise(
        self,
        x0: np.ndarray,
        w: np.ndarray,
        *,
        warm: bool,
        fixed: np.ndarray | None = None,
        tol: float | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Minimise the penalised negative log-likelihood with weights ``w``.

        Projected Newton steps on the exact Hessian (damped where the problem is not
        convex), from ``x0``; a cold fit converges to machine precision, a warm one
        (``x0`` near the optimum, as for a resample) to a relative step of 1e-8
        (or ``tol``), first with the ``fixed`` normalised Hessian of that optimum
        when given. Should Newton stall, L-BFGS-B takes over and Newton steps
        polish its result.
        """
        lo, hi = self.bounds()
        if not (w * self.y).any() or not len(self.rows):
            x = np.r_[
                _H0_MIN,
                np.zeros(self.n_params - 1 - 2 * self.n_channels),
                np.ones(2 * self.n_channels),
            ]
            return x, {"converged": True, "iterations": 0}
        scale = max(float(w.sum()), 1.0)
        if tol is None:
            tol = 1e-8 if warm else 1e-12
        x = np.clip(x0, lo, hi)
        steps = 0
        if warm and fixed is not None:
            x, steps, ok = self._newton(
                x, w, scale, lo, hi, max_steps=40, tol=tol, fixed=fixed
            )
            if ok:
                return x, {"converged": True, "iterations": steps}
        x, more, ok = self._newton(
            x, w, scale, lo, hi, max_steps=12 if warm else 60, tol=tol, polish=not warm
        )
        steps += more
        if ok:
            return x, {"converged": True, "iterations": steps}
        res = minimize(
            self.objective,
            x,
            args=(w, scale),
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lo, hi, strict=True)),
            options={"maxiter": 3000, "maxcor": 20, "ftol": 1e-12, "gtol": 1e-8},
        )
        x, more, ok = self._newton(
            np.clip(res.x, lo, hi),
            w,
            scale,
            lo,
            hi,
            max_steps=20,
            tol=tol,
            polish=not warm,
        )
        return x, {
            "converged": bool(res.success) or ok,
            "iterations": steps + int(res.nit) + more,
        }

    @staticmethod
    def _free(
        x: np.ndarray, g: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        return ~(((x <= lo) & (g >= 0)) | ((x >= hi) & (g <= 0)))

    def _newton(
        self,
        x: np.ndarray,
        w: np.ndarray,
        scale: float,
        lo: np.ndarray,
        hi: np.ndarray,
        *,
        max_steps: int,
        tol: float,
        polish: bool = False,
        fixed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, int, bool]:
        """Projected Newton steps on the free parameters.

        Each step uses the exact Hessian, or the expected information (a Gauss–Newton
        step) where the problem is not convex; ``fixed`` (a normalised Hessian from
        a nearby fit) replaces both, so steps cost one gradient each. Steps use
        a sample of the journeys' Hessian until they are shorter than
        ``_EXACT_NEWTON``, then the exact one. ``polish`` takes more steps after
        the tolerance is met, unless an exact Newton step met it.
        """
        f, g = self.objective(x, w, scale)
        met, met_at = False, 0
        exact = False  # sampled Hessians (linear convergence), then the exact one
        for step in range(max_steps):
            free = self._free(x, g, lo, hi)
            if not free.any():
                return x, step, True
            sub = np.ix_(free, free)
            newton = False  # a step on the exact Hessian (quadratic convergence)
            if fixed is not None:
                d = _solve_pd(fixed[sub], -g[free])
            else:
                d = _solve_pd(
                    self.hessian(x, w, sample=not exact)[sub] / scale, -g[free]
                )
                newton = exact and d is not None
                if d is None:  # not convex here: a Gauss–Newton (Fisher) step
                    d = _solve_pd(
                        self.hessian(x, w, fisher=True, sample=True)[sub] / scale,
                        -g[free],
                    )
            if d is None:
                return x, step, False
            t = 1.0
            g_free = float(np.max(np.abs(g[free])))
            while True:
                xn = x.copy()
                xn[free] = np.clip(x[free] + t * d, lo[free], hi[free])
                fn, gn = self.objective(xn, w, scale)
                # at the optimum f no longer resolves the progress: a full step that
                # halves the gradient within rounding of f is progress too
                better = fn <= f or (
                    t == 1.0
                    and fn <= f + 1e-13 * abs(f)
                    and float(np.max(np.abs(gn[free]))) < 0.5 * g_free
                )
                if better or t < 1e-3:
                    break
                t /= 2
            if fixed is not None and t < 1.0:
                # the nearby fit's Hessian overshoots here (its curvature differs
                # too much): leave the rest to Newton steps on this problem's own
                return (xn if better else x), step + 1, False
            if not better:  # no progress left: converged if the gradient is gone
                return x, step, met or g_free <= 1e-9
            moved = float(np.max(np.abs(xn - x)))
            x, f, g = xn, fn, gn
            size = max(1.0, float(np.max(np.abs(x))))
            exact = exact or moved <= _EXACT_NEWTON * size
            if met and (moved <= 1e-15 * size or step >= met_at + 3):
                return x, step + 1, True
            if not met and moved <= tol * size:
                if not polish or newton:  # an exact Newton step this short polishes
                    return x, step + 1, True
                met, met_at = True, step
        return x, max_steps, met

    def covariance(self, x: np.ndarray) -> np.ndarray | None:
        """Inverse Hessian at the optimum (parameters held at a bound get 0)."""
        lo, hi = self.bounds()
        _, g = self.objective(x, self.weight, 1.0)
        free = self._free(x, g, lo, hi)
        cov = np.zeros((len(x), len(x)))
        if not free.any() or not (self.weight * self.y).any():
            return cov
        try:
            cov[np.ix_(free, free)] = np.linalg.inv(
                self.near_exact_hessian(x, self.weight)[np.ix_(free, free)]
            )
        except np.linalg.LinAlgError:
            return None
        return cov


def _at(entry: tuple | None, x: np.ndarray, w: np.ndarray, rtol: float = 0.0) -> bool:
    """Whether a cached ``(x, w, values)`` entry belongs to ``x`` and ``w``.

    The entry's point may differ from ``x`` by ``rtol`` times ``x``'s largest
    entry (at least 1); the weights must be the very same array.
    """
    if entry is None or entry[1] is not w:
        return False
    size = max(1.0, float(np.max(np.abs(x))))
    return float(np.max(np.abs(entry[0] - x))) <= rtol * size


def _solve_pd(hess: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """Solve ``hess · d = rhs`` when ``hess`` is positive definite, else None."""
    try:
        chol = np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))


# ---------------------------------------------------------------------- credit parts
@dataclass(eq=False)
class _Shares:
    touch: np.ndarray  # share of its journey's amount, per converting touch
    pair: np.ndarray  # share per (journey, channel) pair
    baseline: np.ndarray  # baseline share per converting journey


@dataclass(eq=False)
class _ConvParts:
    """The converting journeys' touches, grouped into (journey, channel) pairs."""

    n_rows: int
    row: np.ndarray
    cols: list[np.ndarray]  # per stage: design column of every touch (-1: none)
    pair: np.ndarray  # pair of every touch
    pair_row: np.ndarray
    pair_local: np.ndarray  # fitted channel index of every pair (-1: not fitted)
    pair_channel: np.ndarray  # channel code of every pair

    def shares(
        self,
        params: list[np.ndarray],
        stages: list[_Stage],
        gamma: np.ndarray | None,
        *,
        baseline: bool,
        split: str = "shapley",
    ) -> _Shares:
        """Split each converting journey over its channels by Shapley values."""
        n_pairs = len(self.pair_row)
        h_touch = np.zeros(len(self.row))
        # v(T) = G(T)·∏_s (1 − K_s·Q_s(T)) expanded into Σ coef·∏_{c∈T} z_c, with
        # one coefficient per journey: where no touch of a journey acts in stage s,
        # Q_s ≡ 1 and the two terms of (1 − K_s·Q_s) merge into one exact 1 − K_s
        # (K_s is near 1 when the stage's base hazard is small, and subtracting
        # the two terms' Shapley values would leave rounding noise)
        terms: list[tuple[np.ndarray, np.ndarray]] = [
            (np.ones(self.n_rows), np.zeros(n_pairs))
        ]
        v_none = 1.0
        for x, stage, col in zip(params, stages, self.cols, strict=True):
            beta = stage.design.beta(x)
            h = np.where(col >= 0, beta[np.maximum(col, 0)], 0.0)
            h_touch += h
            hp = np.bincount(self.pair, weights=h, minlength=n_pairs)
            k, one_minus_k = math.exp(-float(x[0])), -math.expm1(-float(x[0]))
            acts = np.bincount(self.pair_row, hp != 0, minlength=self.n_rows) > 0
            keep = np.where(acts, 1.0, one_minus_k)
            take = np.where(acts, -k, 0.0)
            terms = [
                t
                for coef, logz in terms
                for t in ((coef * keep, logz), (coef * take, logz - hp))
            ]
            v_none *= one_minus_k
        if gamma is not None:
            g = np.where(
                self.pair_local >= 0, gamma[np.maximum(self.pair_local, 0)], 0.0
            )
            terms = [(coef, logz + g) for coef, logz in terms]
        phi = np.zeros(n_pairs)
        v_all = np.zeros(self.n_rows)
        for coef, logz in terms:
            if not coef.any():
                continue
            total = np.bincount(self.pair_row, weights=logz, minlength=self.n_rows)
            if split == "shapley":
                game = shapley_product_game(self.pair_row, np.exp(logz), self.n_rows)
            else:  # removal: v(S) − v(S ∖ c)
                game = np.exp(total[self.pair_row]) - np.exp(
                    total[self.pair_row] - logz
                )
            phi += coef[self.pair_row] * game
            v_all += coef * np.exp(total)
        phi = np.maximum(phi, 0.0)
        phi_sum = np.bincount(self.pair_row, weights=phi, minlength=self.n_rows)
        # channels that add less than 1e-9 of the journey's fitted value add
        # nothing: their split would be rounding noise
        ok = phi_sum > 1e-9 * np.maximum(np.abs(v_all), 1e-300)
        n_touch_pair = np.bincount(self.pair, minlength=n_pairs)
        n_touch_row = np.bincount(self.row, minlength=self.n_rows)
        pair = phi / np.where(ok, phi_sum, 1.0)[self.pair_row]
        if baseline:
            base = np.where(
                ok, np.clip(v_none / np.where(v_all > 0, v_all, 1.0), 0, 1), 1.0
            )
            pair = pair * (1 - base)[self.pair_row]
        else:
            base = np.zeros(self.n_rows)
            # a journey where no channel has any effect: split by touch count
            pair = np.where(
                ok[self.pair_row],
                pair,
                n_touch_pair / np.maximum(n_touch_row, 1)[self.pair_row],
            )
        hp_all = np.bincount(self.pair, weights=h_touch, minlength=n_pairs)
        within = np.where(
            hp_all[self.pair] > 0,
            h_touch / np.where(hp_all > 0, hp_all, 1.0)[self.pair],
            1.0 / n_touch_pair[self.pair],
        )
        return _Shares(touch=pair[self.pair] * within, pair=pair, baseline=base)
