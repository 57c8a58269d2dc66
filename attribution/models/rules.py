"""Rule-based, per-journey models.

Each converting journey's amount is split over its eligible touches by position, time
or milestone. All work is vectorised over the whole touch arrays; there is no loop
over journeys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._columnar import NAT
from ..exceptions import TouchlineError
from ..problem import Problem
from .base import Model

__all__ = [
    "FirstTouch",
    "FullPath",
    "LastTouch",
    "Linear",
    "TimeDecay",
    "UShaped",
    "WShaped",
]


def _check_weight(model: type, name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0 or v > 1:
        raise TouchlineError(
            f"{model.__name__}: parameter {name} must be a share in "
            f"[0, 1]; got {value!r}"
        )
    return v


def _check_sum(model: type, shares: dict[str, float]) -> None:
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-9:
        listed = ", ".join(f"{k}={v}" for k, v in shares.items())
        raise TouchlineError(
            f"{model.__name__}: shares must sum to 1; got {listed} (sum {total:g})"
        )


class FirstTouch(Model):
    """First touch: the whole amount goes to the journey's first eligible touch.

    Examples
    --------
    >>> FirstTouch()
    FirstTouch()
    """

    name = "first_touch"

    def __init__(self) -> None:
        pass

    def _fractions(self, problem: Problem) -> np.ndarray:
        return (problem.conv.position == 0).astype(np.float64)


class LastTouch(Model):
    """Last touch: the whole amount goes to the last eligible touch."""

    name = "last_touch"

    def __init__(self) -> None:
        pass

    def _fractions(self, problem: Problem) -> np.ndarray:
        seg = problem.conv
        return (seg.position == seg.length_of_touch - 1).astype(np.float64)


class Linear(Model):
    """Linear: every eligible touch gets an equal share.

    A repeated channel earns per touch.
    """

    name = "linear"

    def __init__(self) -> None:
        pass

    def _fractions(self, problem: Problem) -> np.ndarray:
        return 1.0 / problem.conv.length_of_touch


def _timedelta_us(model: type, name: str, value: Any) -> int:
    try:
        td = (
            pd.Timedelta(value)
            if not isinstance(value, (int, float))
            else pd.Timedelta(days=float(value))
        )
    except (TypeError, ValueError):
        td = pd.NaT
    if td is pd.NaT or td <= pd.Timedelta(0):
        raise TouchlineError(
            f"{model.__name__}: parameter {name} must be a positive "
            f"duration such as '7D' or 7 (days); got {value!r}"
        )
    return int(td / pd.Timedelta(microseconds=1))


class TimeDecay(Model):
    """Time decay: a touch's weight halves every ``half_life`` before conversion.

    The weight is 2^(−Δt / half_life), Δt from the touch to the conversion moment,
    and each journey's amount is split in proportion to the weights.

    Parameters
    ----------
    half_life : str, Timedelta or float, default="7D"
        The half-life; a number is read as days.

    Examples
    --------
    >>> TimeDecay(half_life="14D")
    TimeDecay(half_life='14D')
    """

    name = "time_decay"
    needs_time = True

    def __init__(self, *, half_life: str | pd.Timedelta | float = "7D") -> None:
        self.half_life = half_life
        _timedelta_us(type(self), "half_life", half_life)

    def _fractions(self, problem: Problem) -> np.ndarray:
        hl = _timedelta_us(type(self), "half_life", self.half_life)
        seg = problem.conv
        ts = problem.conv_ts
        last = ts[seg.offsets[1:] - 1]
        # relative to the journey's last touch: the same ratios as relative to the
        # conversion moment, and no underflow on long journeys
        w = np.exp2(-(last[seg.row] - ts) / hl)
        total = np.add.reduceat(w, seg.offsets[:-1]) if len(w) else w
        return w / total[seg.row]


class UShaped(Model):
    """U-shaped (position-based): 40% first touch, 40% last, 20% in between.

    ``first`` goes to the first touch, ``last`` to the last, the rest is shared by the
    touches between; one touch takes 100%, two split first:last.

    Parameters
    ----------
    first, last : float, default=0.4
        Shares of the first and last eligible touch; the middle touches share
        ``1 - first - last``.
    """

    name = "u_shaped"

    def __init__(self, *, first: float = 0.4, last: float = 0.4) -> None:
        self.first = first
        self.last = last
        f = _check_weight(type(self), "first", first)
        la = _check_weight(type(self), "last", last)
        if f + la > 1 + 1e-12 or f + la <= 0:
            raise TouchlineError(
                f"UShaped: first + last must be in (0, 1]; got "
                f"first={first}, last={last}"
            )

    def _fractions(self, problem: Problem) -> np.ndarray:
        seg = problem.conv
        n = seg.length_of_touch
        pos = seg.position
        f, la = float(self.first), float(self.last)
        middle = 1.0 - f - la
        is_first, is_last = pos == 0, pos == n - 1
        out = np.where(is_first, f, 0.0) + np.where(is_last, la, 0.0)
        out = out + np.where(~is_first & ~is_last, middle / np.maximum(n - 2, 1), 0.0)
        out = np.where(n == 1, 1.0, out)
        return np.where(n == 2, np.where(is_first, f, la) / (f + la), out)


class WShaped(Model):
    """W-shaped: 30% each to the first, lead and opportunity touches, 10% to the rest.

    A milestone's touch is the last eligible touch at or before the milestone; a touch
    holding several milestones sums their shares. A missing milestone (no date, no
    touch at or before it, or a lead created after the opportunity) passes its share
    to the next milestone; a share left after the last milestone goes to the last
    eligible touch. With no other touches the middle share goes to the milestone
    touches in proportion. Timeless paths have no milestone dates beyond the first
    touch, so their milestone shares end on the last touch.

    Parameters
    ----------
    first, lead, opportunity : float, default=0.3
        Milestone shares.
    middle : float, default=0.1
        Shared by the touches that hold no milestone.
    """

    name = "w_shaped"

    def __init__(
        self,
        *,
        first: float = 0.3,
        lead: float = 0.3,
        opportunity: float = 0.3,
        middle: float = 0.1,
    ) -> None:
        self.first = first
        self.lead = lead
        self.opportunity = opportunity
        self.middle = middle
        shares = {
            k: _check_weight(type(self), k, v) for k, v in self.get_params().items()
        }
        _check_sum(type(self), shares)

    def _milestones(self, problem: Problem) -> list[tuple[float, np.ndarray | None]]:
        c = problem.columnar
        j = problem.conv_journey
        lead = c.lead_created_at[j].copy()
        opp = c.opportunity_created_at[j]
        lead[(lead != NAT) & (opp != NAT) & (lead > opp)] = NAT
        return [
            (float(self.first), None),
            (float(self.lead), lead),
            (float(self.opportunity), opp),
        ]

    def _fractions(self, problem: Problem) -> np.ndarray:
        return _milestone_fractions(
            problem, self._milestones(problem), float(self.middle)
        )


class FullPath(WShaped):
    """Full path: 22.5% each to first, lead, opportunity and closed-won touches.

    The other touches share 10%; milestone rules are those of ``w_shaped``. For the
    ``pipeline`` target it equals ``w_shaped`` (closed-won lies after it).

    Parameters
    ----------
    first, lead, opportunity, closed_won : float, default=0.225
        Milestone shares.
    middle : float, default=0.1
        Shared by the touches that hold no milestone.
    """

    name = "full_path"

    def __init__(
        self,
        *,
        first: float = 0.225,
        lead: float = 0.225,
        opportunity: float = 0.225,
        closed_won: float = 0.225,
        middle: float = 0.1,
    ) -> None:
        self.first = first
        self.lead = lead
        self.opportunity = opportunity
        self.closed_won = closed_won
        self.middle = middle
        shares = {
            k: _check_weight(type(self), k, v) for k, v in self.get_params().items()
        }
        _check_sum(type(self), shares)

    def _fractions(self, problem: Problem) -> np.ndarray:
        if problem.target == "pipeline":
            return WShaped()._fractions(problem)
        closed = problem.columnar.closed_at[problem.conv_journey]
        milestones = [
            *WShaped._milestones(self, problem),
            (float(self.closed_won), closed),
        ]
        return _milestone_fractions(problem, milestones, float(self.middle))


def _milestone_fractions(
    problem: Problem, milestones: list[tuple[float, np.ndarray | None]], middle: float
) -> np.ndarray:
    """Split each converting journey by milestone shares; see :class:`WShaped`."""
    seg = problem.conv
    n_rows = len(seg.offsets) - 1
    ts = problem.conv_ts
    timeless = problem.conv_timeless
    first_idx = seg.offsets[:-1]
    last_idx = seg.offsets[1:] - 1
    share = np.zeros(len(ts))
    holds = np.zeros(len(ts), bool)
    carry = np.zeros(n_rows)
    for weight, moment in milestones:
        if moment is None:
            idx, valid = first_idx, np.ones(n_rows, bool)
        else:
            at_or_before = ts <= moment[seg.row]
            count = np.bincount(seg.row, weights=at_or_before, minlength=n_rows)
            count = count.astype(np.int64)
            idx = first_idx + count - 1
            valid = (moment != NAT) & (count > 0) & ~timeless
        give = weight + carry
        share[idx[valid]] += give[valid]
        holds[idx[valid]] = True
        carry = np.where(valid, 0.0, give)
    share[last_idx] += carry
    holds[last_idx] |= carry > 0
    others = seg.lengths - np.bincount(seg.row, weights=holds, minlength=n_rows).astype(
        np.int64
    )
    spread = np.where(holds, 0.0, middle / np.maximum(others, 1)[seg.row])
    milestone_total = np.bincount(seg.row, weights=share, minlength=n_rows)
    scale = np.where(
        others == 0, 1.0 / np.where(milestone_total > 0, milestone_total, 1.0), 1.0
    )
    return share * scale[seg.row] + spread
