"""Synthetic B2B journeys with a known causal truth, for judging attribution models.

:func:`simulate` draws journeys for one :class:`Scenario` and returns a
:class:`TruthData`: the ``touches`` and ``journeys`` frames of a touchline store and
``truth``, each channel's true share of conversions, pipeline and revenue.

The mechanism (not a Markov chain over channels)
------------------------------------------------
Every journey has marketing touches before its decision moment (13-17 in the median
journey, lognormal with a long tail); each touch's channel is drawn from a mix that
depends on where the touch falls in the buying cycle (early, middle or late third of
the time from the first touch to the decision). Conversion is a noisy-OR (additive
hazard) of touch effects:

* Opportunity: ``P(opp) = 1 - (1 - b_opp) * prod_k (1 - e_k)`` over the touches before
  the decision, where ``e_k`` is the touch's channel effect ``opp_effect`` times a
  timing factor: 1 (``"always"``), 1 only in the first third of the cycle
  (``"early"``), or ``2 ** (-days_before_decision / half_life_days)`` (``"decay"``).
  ``b_opp`` is conversion without marketing. An opportunity is created at the
  decision moment when a uniform draw ``u_opp`` falls below ``P(opp)``.
* Deal size: ``deal_median * exp(sum of size_effect of the channels present before the
  opportunity) * noise`` (lognormal noise), the ``pipeline_amount``; revenue is the
  deal less a discount.
* Win: opportunities get post-opportunity touches (sales outreach, plus some
  marketing) up to the close; ``P(win) = 1 - (1 - b_win) * prod_k (1 - w_k)`` over
  every touch of the journey (``win_effect`` times the same timing factor before the
  opportunity, untimed after it); won when ``u_win < P(win)``. Every opportunity
  closes inside the time window, so none is left open.
* A scenario may name a *decision channel* (branded search): a touch of it is placed
  right before the opportunity in a share of converting journeys because the buyer
  had already decided, and at the end of a few null journeys. It has no effect, so
  its true share is 0, but it looks like a cause to every observational model.

Truth by common random numbers
------------------------------
A channel's true contribution is the drop in conversions (won journeys), pipeline and
revenue when all its touches are removed from every journey, re-simulated with the
same random numbers: the same touches otherwise, the same ``u_opp``, ``u_win``, deal
noise and discount. Removing touches only lowers the chances (effects are >= 0), so
every journey's drop is >= 0. Drops are normalised over channels to ``true_share``
(the quantity Markov removal effects and data-driven models estimate; the baseline
and interactions are shared out in proportion). ``expected_drop`` /
``expected_share`` give the same drop averaged analytically over ``u_opp`` and
``u_win`` (given the touches), a lower-noise version of the same truth.

What a model sees
-----------------
The decision moment is ``opportunity_created_at`` for converting journeys and lies a
little after the last touch (mean 1 day) for the others, so timing is observable:
"early" is the first third of the time from a journey's first touch to its decision.
Revenue and conversions come from two stages: the opportunity (touches before it) and
the win (every touch up to the close). Sales touches exist only on opportunities, so
their mere presence predicts a win; a model must compare won with lost opportunities
to see their small real effect. Every scenario but ``branded_search`` is identifiable
from the store (``Scenario.identifiable``). ``touches.true_opp_effect`` /
``true_win_effect`` and ``journeys.true_p_opportunity`` / ``true_p_win`` hold the
mechanism's own numbers, for checking fitted effects and calibration.

Everything is vectorised over journeys and touches; loops run over channels and the
three cycle phases only. The same scenario, size and seed give identical frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from attribution import Store

__all__ = [
    "SCENARIOS",
    "TRUTH_TARGETS",
    "Channel",
    "Scenario",
    "TruthData",
    "get_scenario",
    "simulate",
]

Timing = Literal["always", "early", "decay"]

#: Targets that ``truth`` covers, in touchline's names (DESIGN §3).
TRUTH_TARGETS: tuple[str, ...] = ("conversions", "pipeline", "revenue")

_US_PER_DAY = 86_400 * 1_000_000
_START = pd.Timestamp("2025-01-01", tz="UTC")
_WINDOW_DAYS = 730.0
_MAX_SPAN_DAYS = 300.0  # pre-opportunity span: inside the 365-day lookback
_MAX_CYCLE_DAYS = 240.0


@dataclass(frozen=True)
class Channel:
    """A channel of a scenario: where its touches appear and what they cause.

    Parameters
    ----------
    name : str
        Channel name as it appears in the store.
    mix : tuple of 3 float, default=(0, 0, 0)
        Relative frequency of its pre-opportunity touches in the early, middle and
        late third of the buying cycle (0 everywhere: no pre-opportunity touches).
    opp_effect : float, default=0
        Per-touch chance of causing the opportunity (noisy-OR term), in [0, 1).
    win_effect : float, default=0
        Per-touch chance of causing the win, in [0, 1).
    size_effect : float, default=0
        Log-multiplier of the deal size when the channel touched the journey before
        the opportunity (0.4 means deals about 49% larger), in [0, 5]: effects are
        never negative, so removing a channel never raises a target.
    timing : {"always", "early", "decay"}, default="always"
        ``"early"``: effects count only in the first third of the cycle;
        ``"decay"``: they halve every ``half_life_days`` before the decision.
    half_life_days : float, default=14
        Half-life of ``"decay"`` effects.
    post_mix : float, default=0
        Relative frequency among post-opportunity marketing touches.
    interaction : str, default="web_visit"
        The ``interaction`` written on its touches.
    """

    name: str
    mix: tuple[float, float, float] = (0.0, 0.0, 0.0)
    opp_effect: float = 0.0
    win_effect: float = 0.0
    size_effect: float = 0.0
    timing: Timing = "always"
    half_life_days: float = 14.0
    post_mix: float = 0.0
    interaction: str = "web_visit"

    def __post_init__(self) -> None:
        for attr in ("opp_effect", "win_effect"):
            v = getattr(self, attr)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"Channel {self.name!r}: {attr} must be in [0, 1); "
                                 f"got {v!r}")
        if not 0.0 <= self.size_effect <= 5.0:
            raise ValueError(f"Channel {self.name!r}: size_effect must be in [0, 5] "
                             "(a touch never shrinks a deal); got "
                             f"{self.size_effect!r}")
        if len(self.mix) != 3 or min(self.mix) < 0 or self.post_mix < 0:
            raise ValueError(f"Channel {self.name!r}: mix must be 3 weights >= 0 and "
                             f"post_mix >= 0; got {self.mix!r}, {self.post_mix!r}")
        if self.timing not in ("always", "early", "decay"):
            raise ValueError(f"Channel {self.name!r}: timing must be always, early or "
                             f"decay; got {self.timing!r}")
        if not self.half_life_days > 0:
            raise ValueError(f"Channel {self.name!r}: half_life_days must be > 0; got "
                             f"{self.half_life_days!r}")


@dataclass(frozen=True)
class Scenario:
    """A generative setting: channels, baselines, journey lengths and traps.

    Parameters
    ----------
    name : str
        Short identifier (used in tables).
    description : str
        What the scenario tests, in one sentence.
    channels : tuple of Channel
        Marketing channels (pre- and post-opportunity touches).
    sales : Channel
        The channel of sales touches after opportunity creation (``win_effect``
        only).
    opp_baseline, win_baseline : float, default=0.03, 0.12
        Chance of an opportunity / a win without any touch.
    touches_median, touches_sigma : float, default=15, 0.45
        Pre-opportunity touches per journey: lognormal median and log-sd.
    max_touches : int, default=90
        Cap on pre-opportunity touches.
    span_days_median : float, default=90
        Median days from the first touch to the decision (scaled up for longer
        journeys, at most 300).
    sales_touches_mean : float, default=6
        Mean post-opportunity touches per opportunity.
    sales_share : float, default=0.75
        Share of post-opportunity touches that are sales touches (the rest are
        marketing, drawn by ``post_mix``).
    decision_channel : str, optional
        A channel (of ``channels``, with no effect) whose touch the decision itself
        causes: placed right before the opportunity in ``decision_rate`` of
        converting journeys and at the end of ``decision_null_rate`` of the others.
    decision_rate, decision_null_rate : float, default=0.8, 0.05
    deal_median : float, default=30000
        Median deal size in USD before channel size effects.
    identifiable : bool, default=True
        Whether the truth can in principle be recovered from the touch log (False
        when touches are caused by the decision).
    """

    name: str
    description: str
    channels: tuple[Channel, ...]
    sales: Channel = field(default_factory=lambda: Channel(
        "Sales Outreach", win_effect=0.04, interaction="sales_call"))
    opp_baseline: float = 0.03
    win_baseline: float = 0.12
    touches_median: float = 15.0
    touches_sigma: float = 0.45
    max_touches: int = 90
    span_days_median: float = 90.0
    sales_touches_mean: float = 6.0
    sales_share: float = 0.75
    decision_channel: str | None = None
    decision_rate: float = 0.8
    decision_null_rate: float = 0.05
    deal_median: float = 30_000.0
    identifiable: bool = True

    def __post_init__(self) -> None:
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names) or self.sales.name in names:
            raise ValueError(f"Scenario {self.name!r}: channel names must be unique; "
                             f"got {names} and sales {self.sales.name!r}")
        if self.decision_channel is not None:
            if self.decision_channel not in names:
                raise ValueError(f"Scenario {self.name!r}: decision_channel "
                                 f"{self.decision_channel!r} is not one of {names}")
            c = self.channels[names.index(self.decision_channel)]
            if c.opp_effect or c.win_effect or c.size_effect:
                raise ValueError(f"Scenario {self.name!r}: the decision channel "
                                 f"{c.name!r} must have no effect")
        mix = np.array([c.mix for c in self.channels], dtype=float)
        if (mix.sum(axis=0) <= 0).any():
            raise ValueError(f"Scenario {self.name!r}: every third of the cycle needs "
                             "a channel with a positive mix weight")
        for attr in ("opp_baseline", "win_baseline"):
            v = getattr(self, attr)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"Scenario {self.name!r}: {attr} must be in [0, 1); "
                                 f"got {v!r}")
        for attr in ("sales_share", "decision_rate", "decision_null_rate"):
            v = getattr(self, attr)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"Scenario {self.name!r}: {attr} must be in [0, 1]; "
                                 f"got {v!r}")
        if self.sales_touches_mean < 1 or self.touches_median < 1 \
                or self.max_touches < 1:
            raise ValueError(f"Scenario {self.name!r}: touches_median, max_touches "
                             "and sales_touches_mean must be >= 1")

    @property
    def channel_names(self) -> list[str]:
        """Every channel of the scenario, sales last."""
        return [c.name for c in self.channels] + [self.sales.name]


# ------------------------------------------------------------------------ scenarios
def _b2b_channels(**changes: dict) -> tuple[Channel, ...]:
    """Return the default B2B channel set, with per-channel field changes."""
    base = (
        Channel("Paid Social", (14, 6, 3), opp_effect=0.03, timing="early",
                interaction="ad_click"),
        Channel("Display", (12, 5, 2), interaction="ad_click"),
        Channel("Content Syndication", (8, 5, 2), opp_effect=0.004,
                interaction="form_fill"),
        Channel("Organic Search", (7, 7, 6), opp_effect=0.012),
        Channel("Paid Search", (4, 6, 7), opp_effect=0.015, interaction="ad_click"),
        Channel("Email", (3, 11, 9), opp_effect=0.04, win_effect=0.01, timing="decay",
                half_life_days=10, post_mix=4, interaction="email_click"),
        Channel("Webinar", (2, 5, 4), opp_effect=0.04, win_effect=0.02, post_mix=1,
                interaction="webinar_attended"),
        Channel("Events", (1, 2, 3), opp_effect=0.07, win_effect=0.05,
                size_effect=0.3, post_mix=1, interaction="event_attended"),
        Channel("Referral", (1, 1, 1), opp_effect=0.09, win_effect=0.03),
        Channel("Partner", (1, 1, 1.5), opp_effect=0.04, win_effect=0.04,
                size_effect=0.4),
        Channel("Direct", (2, 6, 16)),
    )
    names = {c.name for c in base}
    unknown = set(changes) - names
    if unknown:
        raise ValueError(f"unknown channel(s) {sorted(unknown)}")
    return tuple(replace(c, **changes.get(c.name, {})) for c in base)


#: The benchmark scenarios. Each has non-converting journeys, 13-17 touches in the
#: median journey with a long tail, and sales touches after opportunity creation.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "b2b_mix",
        "Every trap at once except reverse causality: popular late Direct with no "
        "effect, early-only Paid Social, decaying Email, sales touches after the "
        "opportunity, Events and Partner bringing bigger deals.",
        _b2b_channels()),
    Scenario(
        "late_no_effect",
        "Direct is the most frequent channel and sits at the end of most journeys, "
        "converting or not, with no effect at all.",
        _b2b_channels(Direct={"mix": (3, 12, 45)})),
    Scenario(
        "early_awareness",
        "Paid Social touches appear all through the cycle but only those in its "
        "first third work.",
        _b2b_channels(**{"Paid Social": {"mix": (9, 9, 9), "opp_effect": 0.07}})),
    Scenario(
        "decaying_effect",
        "Email touches appear all through the cycle; their effect halves every 7 "
        "days before the decision.",
        _b2b_channels(Email={"mix": (9, 9, 9), "opp_effect": 0.09,
                             "half_life_days": 7.0})),
    Scenario(
        "sales_after_opportunity",
        "Many sales touches follow every opportunity, won or lost, with a small "
        "effect; marketing touches before the opportunity drive the win.",
        _b2b_channels(Events={"win_effect": 0.10}, Webinar={"win_effect": 0.06},
                      Referral={"win_effect": 0.08}),
        sales=Channel("Sales Outreach", win_effect=0.008, interaction="sales_call"),
        sales_touches_mean=12.0, sales_share=0.9),
    Scenario(
        "deal_size",
        "Channels differ little in whether a deal happens and much in its size: "
        "Events and Partner bring deals 2-2.5x larger, Paid Search none larger.",
        _b2b_channels(Events={"size_effect": 0.9, "opp_effect": 0.03},
                      Partner={"size_effect": 0.8, "opp_effect": 0.03},
                      Referral={"opp_effect": 0.03},
                      **{"Paid Search": {"opp_effect": 0.04}}),
        deal_median=20_000.0),
    Scenario(
        "long_tail",
        "Longer journeys with a heavy tail (up to 150 touches), weaker touches and "
        "mostly non-converting journeys.",
        _b2b_channels(**{"Paid Social": {"opp_effect": 0.012},
                         "Organic Search": {"opp_effect": 0.006},
                         "Paid Search": {"opp_effect": 0.008},
                         "Email": {"opp_effect": 0.02},
                         "Webinar": {"opp_effect": 0.02},
                         "Events": {"opp_effect": 0.035},
                         "Referral": {"opp_effect": 0.04},
                         "Partner": {"opp_effect": 0.02}}),
        opp_baseline=0.015, touches_median=17.0, touches_sigma=0.8, max_touches=150),
    Scenario(
        "branded_search",
        "Buyers who have decided search the brand right before the opportunity: "
        "Branded Search has no effect but precedes 80% of conversions (not "
        "identifiable from the touch log).",
        (*_b2b_channels(),
         Channel("Branded Search", (0.5, 1, 2), interaction="ad_click")),
        decision_channel="Branded Search", identifiable=False),
)


def get_scenario(name: str) -> Scenario:
    """Return the scenario of :data:`SCENARIOS` with this name.

    Raises
    ------
    KeyError
        When there is none; the message lists the names.
    """
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; choose from "
                   f"{', '.join(s.name for s in SCENARIOS)}")


# ------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class TruthData:
    """Journeys drawn from a scenario, and the truth about them.

    Attributes
    ----------
    scenario : Scenario
    seed : int
    touches : pandas.DataFrame
        Store columns (``journey_id``, ``ts``, ``seq``, ``person_id``, ``channel``,
        ``campaign``, ``content``, ``interaction``, ``source``, ``source_ref``),
        sorted by ``journey_id``, ``ts``, ``seq``, plus ``true_opp_effect`` and
        ``true_win_effect``: the touch's noisy-OR terms after its timing factor
        (ignored by the store writer).
    journeys : pandas.DataFrame
        Store columns (every opportunity closed; ``weight`` 1), plus
        ``true_p_opportunity`` and ``true_p_win`` (the win chance given an
        opportunity).
    truth : pandas.DataFrame
        One row per channel and target (``conversions``, ``pipeline``, ``revenue``):
        ``channel``, ``target``, ``drop`` (the common-random-numbers drop in the
        target's units), ``true_share`` (``drop`` over the sum of drops),
        ``expected_drop`` and ``expected_share`` (the drop averaged over the
        conversion draws).
    effects : pandas.DataFrame
        The scenario's channel parameters: ``channel``, ``opp_effect``,
        ``win_effect``, ``size_effect``, ``timing``, ``half_life_days``,
        ``decision_caused``.
    """

    scenario: Scenario
    seed: int
    touches: pd.DataFrame
    journeys: pd.DataFrame
    truth: pd.DataFrame
    effects: pd.DataFrame

    def store(self) -> Store:
        """Return the data as an in-memory touchline store (``attribution.Store``)."""
        from attribution import open_store

        return open_store((self.touches, self.journeys))

    def write_store(self, out: str | os.PathLike, *, partitions: int | None = None
                    ) -> Path:
        """Write the data as a touchline store directory and return its path.

        The manifest records ``{"truth": {"scenario": ..., "journeys": ...,
        "seed": ...}}``.
        """
        from attribution import write_store

        return write_store(out, self.touches, self.journeys, partitions=partitions,
                           extra={"truth": {"scenario": self.scenario.name,
                                            "journeys": len(self.journeys),
                                            "seed": self.seed}})

    def shares(self, target: str) -> pd.Series:
        """Return the true shares of one target, indexed by channel."""
        t = self.truth[self.truth["target"] == target]
        return pd.Series(t["true_share"].to_numpy(), index=t["channel"].to_numpy(),
                         name="true_share")


# ------------------------------------------------------------------------ helpers
def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for every (s, n), vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    seg = np.repeat(np.arange(len(counts)), counts)
    first = np.cumsum(counts) - counts
    return starts[seg] + (np.arange(total) - first[seg])


def _ordered_fractions(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Increasing fractions in (0, 1) for each segment of ``counts`` items."""
    gaps = rng.standard_exponential(int(counts.sum()) + len(counts))
    cum = np.cumsum(gaps)
    ends = np.cumsum(counts + 1) - 1
    starts = ends - counts
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
    total = cum[ends] - base
    seg = np.repeat(np.arange(len(counts)), counts)
    return (cum[_ranges(starts, counts)] - base[seg]) / total[seg]


def _draw_channels(rng: np.random.Generator, probs: np.ndarray,
                   row: np.ndarray) -> np.ndarray:
    """Draw a channel code per item from row ``row[i]`` of ``probs``."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(row))
    out = np.empty(len(row), np.int64)
    for r in range(probs.shape[0]):  # loop over the few mix rows
        m = row == r
        out[m] = np.searchsorted(cum[r], u[m], side="right")
    return np.minimum(out, probs.shape[1] - 1)


def _ids(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """Strings ``prefix`` + zero-padded ``values`` (vectorised in Arrow)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(values), pa.string()), width=width,
                          padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _strings(array: pa.Array) -> pd.Series:
    """An Arrow string array as a pandas Series of strings."""
    return pd.Series(array.to_pandas(), copy=False)


# ------------------------------------------------------------------------ simulate
def simulate(scenario: Scenario | str, n_journeys: int = 20_000,
             seed: int = 0) -> TruthData:
    """Draw journeys of a scenario and compute each channel's true share.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario or the name of one of :data:`SCENARIOS`.
    n_journeys : int, default=20000
        Number of journeys (converting and not), at least 1.
    seed : int, default=0
        Seed of ``numpy.random.default_rng``; the same arguments give the same
        frames.

    Returns
    -------
    TruthData
        ``touches``, ``journeys``, ``truth`` and ``effects`` (see :class:`TruthData`).

    Raises
    ------
    ValueError
        When ``n_journeys`` is not a whole number >= 1.
    KeyError
        For an unknown scenario name.

    See Also
    --------
    benchmarks.accuracy : Compares every model's credit shares with ``truth``.

    Examples
    --------
    >>> data = simulate("late_no_effect", 2_000, seed=1)
    >>> shares = data.shares("pipeline")
    >>> round(float(shares.sum()), 9), float(shares["Direct"])
    (1.0, 0.0)
    >>> float(data.touches.groupby("journey_id").size().median())
    16.0
    """
    if isinstance(scenario, str):
        scenario = get_scenario(scenario)
    if isinstance(n_journeys, bool) or not isinstance(n_journeys, int | np.integer) \
            or n_journeys < 1:
        raise ValueError(f"simulate: n_journeys must be a whole number >= 1; got "
                         f"{n_journeys!r}")
    s = scenario
    n = int(n_journeys)
    rng = np.random.default_rng(seed)
    chans = list(s.channels)
    n_mk = len(chans)
    sales_code = n_mk  # channel codes: marketing channels, then sales
    names = [*(c.name for c in chans), s.sales.name]
    n_ch = len(names)
    opp_eff = np.array([c.opp_effect for c in chans] + [0.0])
    win_eff = np.array([c.win_effect for c in chans] + [s.sales.win_effect])
    size_eff = np.array([c.size_effect for c in chans] + [0.0])
    timing = np.array([("always", "early", "decay").index(c.timing) for c in chans]
                      + [0])
    half_life = np.array([c.half_life_days for c in chans] + [1.0])
    interactions = [*(c.interaction for c in chans), s.sales.interaction]

    # ------------------------------------------------ pre-decision touches
    n_pre = np.clip(np.rint(rng.lognormal(np.log(s.touches_median), s.touches_sigma,
                                          n)), 1, s.max_touches).astype(np.int64)
    span = np.minimum(rng.lognormal(np.log(s.span_days_median), 0.5, n)
                      * np.sqrt(n_pre / s.touches_median), _MAX_SPAN_DAYS)
    span = np.maximum(span, 1.0)
    frac = _ordered_fractions(rng, n_pre)
    j_pre = np.repeat(np.arange(n), n_pre)
    first = np.cumsum(n_pre) - n_pre
    last = first + n_pre - 1
    gap = np.minimum(rng.exponential(1.0, n), 10.0) + 0.01  # last touch -> decision
    cycle = np.clip(rng.lognormal(np.log(70.0), 0.45, n), 7.0, _MAX_CYCLE_DAYS)
    t0 = rng.random(n) * (_WINDOW_DAYS - 2.0 - span - gap - cycle)
    t_pre = t0[j_pre] + span[j_pre] * frac
    t_first, t_last = t_pre[first], t_pre[last]
    t_dec = t_last + gap
    phase_frac = (t_pre - t_first[j_pre]) / (t_dec - t_first)[j_pre]
    phase = np.minimum((phase_frac * 3).astype(np.int64), 2)
    mix = np.array([c.mix for c in chans], dtype=float).T  # (3, channels)
    ch_pre = _draw_channels(rng, mix, phase)
    # timing factor of each touch's effects
    before = t_dec[j_pre] - t_pre
    factor = np.ones(len(ch_pre))
    tim = timing[ch_pre]
    factor[tim == 1] = (phase_frac[tim == 1] < 1 / 3).astype(float)
    dec = tim == 2
    factor[dec] = np.exp2(-before[dec] / half_life[ch_pre[dec]])
    e_pre = opp_eff[ch_pre] * factor
    w_pre = win_eff[ch_pre] * factor

    # ------------------------------------------------ post-opportunity touches (latent
    # for every journey so that expected wins are defined; kept for opportunities)
    n_post = rng.poisson(s.sales_touches_mean - 1, n) + 1
    j_post = np.repeat(np.arange(n), n_post)
    frac_post = _ordered_fractions(rng, n_post)
    is_sales = rng.random(len(j_post)) < s.sales_share
    post_mix = np.array([[c.post_mix for c in chans]], dtype=float)
    if post_mix.sum() == 0:
        is_sales[:] = True
        ch_post = np.full(len(j_post), sales_code)
    else:
        ch_post = np.where(is_sales, sales_code,
                           _draw_channels(rng, post_mix, np.zeros(len(j_post), int)))
    w_post = win_eff[ch_post]

    # ------------------------------------------------ outcomes
    log_q_opp = np.log1p(-s.opp_baseline) + np.bincount(
        j_pre, weights=np.log1p(-e_pre), minlength=n)
    log_q_win = (np.log1p(-s.win_baseline)
                 + np.bincount(j_pre, weights=np.log1p(-w_pre), minlength=n)
                 + np.bincount(j_post, weights=np.log1p(-w_post), minlength=n))
    p_opp = -np.expm1(log_q_opp)
    p_win = -np.expm1(log_q_win)
    u_opp = rng.random(n)
    u_win = rng.random(n)
    opp = u_opp < p_opp
    won = opp & (u_win < p_win)
    present = np.zeros(n * n_ch, bool)
    present[j_pre * n_ch + ch_pre] = True
    present = present.reshape(n, n_ch)
    size_noise = rng.lognormal(0.0, 0.6, n)
    discount = 1.0 - rng.beta(1.2, 8.0, n)
    log_size = present.astype(float) @ size_eff
    size = np.round(s.deal_median * np.exp(log_size) * size_noise, 2)
    revenue = np.round(size * discount, 2)

    # ------------------------------------------------ truth by common random numbers
    rows = []
    for c in range(n_ch):  # loop over channels, vectorised over journeys
        m_pre = ch_pre == c
        m_post = ch_post == c
        l_opp = log_q_opp - np.bincount(j_pre[m_pre], weights=np.log1p(-e_pre[m_pre]),
                                        minlength=n)
        l_win = (log_q_win
                 - np.bincount(j_pre[m_pre], weights=np.log1p(-w_pre[m_pre]),
                               minlength=n)
                 - np.bincount(j_post[m_post], weights=np.log1p(-w_post[m_post]),
                               minlength=n))
        p_opp_c, p_win_c = -np.expm1(l_opp), -np.expm1(l_win)
        opp_c = u_opp < p_opp_c
        won_c = opp_c & (u_win < p_win_c)
        scale = np.where(present[:, c], np.exp(-size_eff[c]), 1.0)
        size_c = np.round(s.deal_median * np.exp(log_size) * scale * size_noise, 2)
        rev_c = np.round(size_c * discount, 2)
        rows.append((
            names[c],
            float(won.sum() - won_c.sum()),
            float(size[opp].sum() - size_c[opp_c].sum()),
            float(revenue[won].sum() - rev_c[won_c].sum()),
            float((p_opp * p_win).sum() - (p_opp_c * p_win_c).sum()),
            float((p_opp * size).sum() - (p_opp_c * size_c).sum()),
            float((p_opp * p_win * revenue).sum() - (p_opp_c * p_win_c * rev_c).sum()),
        ))
    truth = _truth_frame(rows)

    # ------------------------------------------------ decision-caused touches
    dec_code = -1 if s.decision_channel is None else names.index(s.decision_channel)
    u_dec = rng.random(n)
    has_dec = np.zeros(n, bool)
    if dec_code >= 0:
        has_dec = np.where(opp, u_dec < s.decision_rate, u_dec < s.decision_null_rate)
    t_dec_touch = t_last + gap * rng.uniform(0.3, 0.9, n)

    # ------------------------------------------------ lead and milestones
    lead_idx = first + np.minimum((rng.beta(2.0, 2.5, n) * n_pre).astype(np.int64),
                                  n_pre - 1)
    has_lead = opp | (rng.random(n) < 0.5)
    t_close = t_dec + cycle

    # ------------------------------------------------ assemble the touch log
    keep_post = opp[j_post]
    jp = j_post[keep_post]
    t_post = t_dec[jp] + cycle[jp] * frac_post[keep_post]
    jd = np.flatnonzero(has_dec)
    journey = np.concatenate([j_pre, jd, jp])
    group = np.concatenate([np.zeros(len(j_pre), np.int64), np.ones(len(jd), np.int64),
                            np.full(len(jp), 2, np.int64)])
    order = np.argsort(journey * 3 + group, kind="stable")
    journey = journey[order]
    t_all = np.concatenate([t_pre, t_dec_touch[jd], t_post])[order]
    ch_all = np.concatenate([ch_pre, np.full(len(jd), max(dec_code, 0)),
                             ch_post[keep_post]])[order]
    e_all = np.concatenate([e_pre, np.zeros(len(jd)), np.zeros(len(jp))])[order]
    w_all = np.concatenate([w_pre, np.zeros(len(jd)), w_post[keep_post]])[order]
    is_lead = np.zeros(len(j_pre) + len(jd) + len(jp), bool)
    is_lead[lead_idx[has_lead]] = True
    is_lead = is_lead[order]
    counts = np.bincount(journey, minlength=n)
    seq = np.arange(len(journey)) - (np.cumsum(counts) - counts)[journey]
    ts_us = np.floor(t_all * _US_PER_DAY).astype(np.int64)
    opp_us = np.floor(t_dec * _US_PER_DAY).astype(np.int64)
    post = group[order] == 2
    ts_us[post] = np.maximum(ts_us[post], opp_us[journey[post]] + 1)
    close_us = np.maximum(np.floor(t_close * _US_PER_DAY).astype(np.int64),
                          np.maximum.reduceat(ts_us, np.cumsum(counts) - counts))
    start_us = _START.value // 1000

    def stamp(us: np.ndarray) -> pd.DatetimeIndex:
        return pd.to_datetime(us + start_us, unit="us", utc=True)

    interaction_names = sorted(set(interactions) | {"form_fill"})
    inter_code = np.array([interaction_names.index(i) for i in interactions])[ch_all]
    inter_code[is_lead] = interaction_names.index("form_fill")
    journey_ids = _ids("T", np.arange(1, n + 1), 7)
    person_ids = _ids("P", np.arange(1, n + 1), 7)
    n_t = len(journey)
    take = pa.array(journey)
    campaign = np.full(n_t, -1, np.int64)
    if dec_code >= 0:
        campaign[ch_all == dec_code] = 0
    touches = pd.DataFrame({
        "journey_id": _strings(journey_ids.take(take)),
        "ts": stamp(ts_us),
        "seq": seq.astype(np.int64),
        "person_id": _strings(person_ids.take(take)),
        "channel": pd.Categorical.from_codes(ch_all, names),
        "campaign": pd.Categorical.from_codes(campaign, ["Brand"]),
        "content": pd.Categorical.from_codes(np.full(n_t, -1, np.int64), ["none"]),
        "interaction": pd.Categorical.from_codes(inter_code, interaction_names),
        "source": pd.Categorical.from_codes(np.zeros(n_t, np.int64), ["truth"]),
        "source_ref": _strings(_ids("truth:touch:", np.arange(n_t), 1)),
        "true_opp_effect": e_all,
        "true_win_effect": w_all,
    })
    lead_us = ts_us[np.argsort(order)[lead_idx]]
    nat = pd.NaT
    journeys = pd.DataFrame({
        "journey_id": _strings(journey_ids),
        "account_id": _strings(_ids("A", rng.integers(1, max(2, n // 3) + 1, n), 6)),
        "lead_created_at": stamp(lead_us).where(has_lead, nat),
        "opportunity_created_at": stamp(opp_us).where(opp, nat),
        "closed_at": stamp(close_us).where(opp, nat),
        "won": won,
        "pipeline_amount": np.where(opp, size, 0.0),
        "revenue_amount": np.where(won, revenue, 0.0),
        "currency": "USD",
        "weight": np.ones(n, np.int64),
        "true_p_opportunity": p_opp,
        "true_p_win": p_win,
    })
    effects = pd.DataFrame({
        "channel": names,
        "opp_effect": opp_eff,
        "win_effect": win_eff,
        "size_effect": size_eff,
        "timing": [*(c.timing for c in chans), "always"],
        "half_life_days": [*(c.half_life_days if c.timing == "decay" else np.nan
                             for c in chans), np.nan],
        "decision_caused": [nm == s.decision_channel for nm in names],
    })
    return TruthData(scenario=s, seed=int(seed), touches=touches, journeys=journeys,
                     truth=truth, effects=effects)


def _truth_frame(rows: list[tuple]) -> pd.DataFrame:
    """Long truth table from per-channel drops (conversions, pipeline, revenue)."""
    wide = pd.DataFrame(rows, columns=["channel", "conversions", "pipeline", "revenue",
                                       "e_conversions", "e_pipeline", "e_revenue"])
    parts = []
    for target in TRUTH_TARGETS:
        drop = wide[target].to_numpy()
        exp_drop = wide[f"e_{target}"].to_numpy()
        parts.append(pd.DataFrame({
            "channel": wide["channel"],
            "target": target,
            "drop": drop,
            "true_share": _normalise(drop),
            "expected_drop": exp_drop,
            "expected_share": _normalise(exp_drop),
        }))
    return pd.concat(parts, ignore_index=True)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0.0)  # rounding of amounts can leave -0.01
    total = x.sum()
    return x / total if total > 0 else np.full(len(x), np.nan)
