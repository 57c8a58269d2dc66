"""Classic set-based Shapley attribution (Zhao, Mahboobi and Bagheri, 2018).

The players are channels. The worth of a coalition ``S`` of channels is the
conversions (or amount) of the converting journeys whose set of channels lies inside
``S``:

    v(S) = Σ_{T ⊆ S} R(T),

where ``R(T)`` is the conversions or amount of the journeys whose channel set is
exactly ``T`` — the cumulative ("coalition") definition of Zhao et al., "Shapley
Value Methods for Attribution Modeling in Online Advertising" (arXiv:1804.05327,
2018), the one the open-source Shapley attribution libraries implement. ``v`` is a
sum of unanimity games, one per observed channel set, so the Shapley value has the
closed form Zhao et al. call the *simplified Shapley value*:

    φ_c = Σ_{T ∋ c} R(T) / |T|,

which equals the textbook sum over the ``2^k`` coalitions exactly (the tests check
it against a brute-force bit-mask computation) but needs no enumeration, so it is
exact for any number of channels and no channel is grouped away. Because each
journey's amount enters only its own set's dividend, the model is per-journey in the
sense of DESIGN §3: every converting journey's amount is split equally over the
distinct channels it touched, and within a channel equally over that channel's
touches. Null journeys play no part — the variant with conversion *rates* is not
monotone and can give negative credit.

How it differs from ``incremental``. Here a coalition's worth counts conversions
only, so a channel present in a journey earns a share of it whether or not it changed
anything: a popular channel with no effect still takes credit from every converting
journey it appears in. ``incremental`` plays the Shapley game on a fitted chance of
converting, learnt from converting *and* null journeys, so a channel that is as
common among journeys that did not convert earns almost nothing; it also weighs
touches by phase and repetition, where the set-based game sees only which channels
were present.
"""

from __future__ import annotations

import numpy as np

from ..problem import Problem
from .base import Model

__all__ = ["Shapley"]


class Shapley(Model):
    """Shapley (set-based): a journey's amount splits equally over its channels.

    Each converting journey's amount is split equally over the distinct channels it
    touched — the Shapley value of the game where a set of channels is worth the
    conversions of journeys using only those channels — and within a channel
    equally over its touches.

    See the module docstring for the definition (Zhao et al., 2018, cumulative
    coalition worth), why the closed form is exact for any number of channels, and
    how it differs from ``incremental``.

    Examples
    --------
    >>> Shapley()
    Shapley()
    """

    name = "shapley"

    def __init__(self) -> None:
        pass

    def _fractions(self, problem: Problem) -> np.ndarray:
        seg = problem.conv
        n = max(problem.n_channels, 1)
        key = seg.row.astype(np.int64) * n + problem.conv_channel
        uniq, inv, per_pair = np.unique(key, return_inverse=True, return_counts=True)
        distinct = np.bincount(uniq // n, minlength=len(seg.offsets) - 1)
        return 1.0 / (distinct[seg.row] * per_pair[inv])
