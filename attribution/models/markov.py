"""Markov chain attribution, solved exactly with sparse linear algebra.

The chain has a start state, one state per channel (per tuple of the last ``order``
channels for higher orders) and two absorbing states, conversion and null. It is built
from the eligible paths of the converting and null journeys of the target, each
counted ``weight`` times. A channel's removal effect is the relative drop in the
chain's expected outcome when every state holding that channel sends its traffic to
null instead. For amount targets the conversion edge out of a state carries the mean
amount of the conversions that ended there, so the outcome is the expected amount
(ChannelAttribution's value-weighted definition); for ``conversions`` it is the
conversion probability.

The expected outcome from the start state is ``e_start · (I − Q)⁻¹ · r`` with ``Q`` the
transient-to-transient transition matrix and ``r(s)`` the expected amount paid on
leaving ``s`` (conversion probability × mean amount). Removing a channel deletes its
states' rows and columns, so each removal effect is one sparse solve of a smaller
system — exact, deterministic, with no simulation noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..exceptions import TouchlineError
from ..problem import Problem
from .base import Model, ModelCredit

__all__ = ["Markov", "MarkovCounts"]

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


@dataclass(eq=False)
class MarkovCounts:
    """Associative statistics of a chain: transition counts keyed by state code.

    State codes encode the tuple of the last ``order`` channel codes; ``0`` is the
    start state. Two ``MarkovCounts`` of disjoint journey sets add up with ``+``.
    """

    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray
    end_state: np.ndarray
    end_conversions: np.ndarray
    end_value: np.ndarray
    end_null: np.ndarray

    def __add__(self, other: MarkovCounts) -> MarkovCounts:
        return MarkovCounts(*(np.concatenate([a, b]) for a, b in zip(
            self._fields(), other._fields(), strict=True)))

    def _fields(self) -> tuple[np.ndarray, ...]:
        return (self.src, self.dst, self.count, self.end_state, self.end_conversions,
                self.end_value, self.end_null)


class Markov(Model):
    """Markov chain: channel totals split the target in proportion to each channel's
    removal effect, the share of conversions (or amount) lost when the channel is
    removed from the journeys.

    Touch-level credit gives each eligible touch of channel ``c`` in a converting
    journey the share a·w / Σ(a·w over c's eligible touches) of c's total, so channel
    and grand totals reconcile while single journeys need not. A channel whose
    removal effect is positive but that has no touch in a converting journey keeps
    its total in ``channel_credit`` with no touch rows. If every removal effect is 0
    the amount goes to ``(unattributed)``.

    Parameters
    ----------
    order : int, default=1
        States are the last ``order`` channels (shorter at the start of a path).
    collapse_repeats : bool, default=True
        Merge consecutive touches of the same channel into one step.

    Attributes
    ----------
    removal_effects_ : pandas.Series
        Removal effect per channel, in [0, 1].
    graph_ : networkx.DiGraph
        The fitted chain; edges carry ``probability`` and ``count``.
    expected_value_ : float
        Expected outcome per journey from the start state.

    Examples
    --------
    >>> Markov(order=2)
    Markov(order=2)
    """

    name = "markov"
    per_journey = False

    def __init__(self, *, order: int = 1, collapse_repeats: bool = True) -> None:
        self.order = order
        self.collapse_repeats = collapse_repeats
        if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or not (
                1 <= order <= 8):
            raise TouchlineError(f"Markov: parameter order must be a whole number in "
                                 f"1..8; got {order!r}")

    # ---------------------------------------------------------------- statistics
    def count(self, problem: Problem) -> MarkovCounts:
        """Transition counts of ``problem``'s paths (the associative map step)."""
        seg = problem.paths
        base = problem.n_channels + 1
        if base ** self.order >= 2 ** 62:
            raise TouchlineError(f"Markov: order {self.order} with {base - 1} channels "
                                 "overflows the state encoding; lower the order")
        lengths = seg.lengths
        rows_with = np.flatnonzero(lengths > 0)
        ch = problem.columnar.channel[seg.touch].astype(np.int64)
        row = seg.row
        keep = np.ones(len(ch), bool)
        if self.collapse_repeats and len(ch):
            keep[1:] = (ch[1:] != ch[:-1]) | (row[1:] != row[:-1])
        ch, row = ch[keep], row[keep]
        pos = np.arange(len(ch)) - np.searchsorted(row, row, side="left")
        code = ch + 1
        for m in range(1, self.order):
            prev = np.zeros(len(ch), np.int64)
            ok = pos >= m
            prev[ok] = ch[np.flatnonzero(ok) - m] + 1
            code = code + prev * base ** m
        w = problem.weight.astype(np.float64)
        is_first = pos == 0
        last = np.ones(len(ch), bool)
        if len(ch):
            last[:-1] = row[1:] != row[:-1]
        inner = ~last
        src = np.concatenate([np.zeros(int(is_first.sum()), np.int64), code[inner]])
        dst = np.concatenate([code[is_first], code[np.flatnonzero(inner) + 1]])
        cnt = np.concatenate([w[row[is_first]], w[row[inner]]])
        end_rows = row[last]
        conv = problem.converting[end_rows]
        assert len(end_rows) == len(rows_with)
        return MarkovCounts(
            src=src, dst=dst, count=cnt, end_state=code[last],
            end_conversions=np.where(conv, w[end_rows], 0.0),
            end_value=np.where(conv, problem.amount[end_rows] * w[end_rows], 0.0),
            end_null=np.where(conv, 0.0, w[end_rows]))

    # ---------------------------------------------------------------- fitting
    def fit(self, problem: Problem) -> Markov:
        """Build the chain from ``problem``'s paths and compute removal effects."""
        super().fit(problem)
        return self.fit_counts(self.count(problem), problem.channels, problem.target)

    def fit_counts(self, counts: MarkovCounts, channels: np.ndarray,
                   target: str) -> Markov:
        """Solve the chain from (reduced) counts; the reduce step of partitioned runs."""
        self.fitted_target_ = target
        codes = np.unique(np.concatenate([[0], counts.src, counts.dst, counts.end_state]))
        n = len(codes)
        s = np.searchsorted(codes, counts.src)
        d = np.searchsorted(codes, counts.dst)
        e = np.searchsorted(codes, counts.end_state)
        trans = sp.coo_matrix((counts.count, (s, d)), shape=(n, n)).tocsr()
        trans.sum_duplicates()
        conv = np.bincount(e, weights=counts.end_conversions, minlength=n)
        value = np.bincount(e, weights=counts.end_value, minlength=n)
        null = np.bincount(e, weights=counts.end_null, minlength=n)
        out = np.asarray(trans.sum(axis=1)).ravel() + conv + null
        safe = np.where(out > 0, out, 1.0)
        q = sp.diags(1.0 / safe) @ trans
        reward = value / safe
        base = len(channels) + 1
        # channels held by each state
        holds = np.zeros((n, len(channels)), bool)
        rest = codes.copy()
        for _ in range(self.order):
            digit = rest % base
            has = digit > 0
            holds[np.flatnonzero(has), digit[has] - 1] = True
            rest //= base
        present = holds.any(axis=0)
        total = _expected(q, reward, np.ones(n, bool))
        effects = np.zeros(len(channels))
        for c in np.flatnonzero(present):
            kept = ~holds[:, c]
            v = _expected(q, reward, kept)
            effects[c] = (total - v) / total if total > 0 else 0.0
        effects = np.clip(effects, 0.0, 1.0)
        self.channels_ = np.asarray(channels, dtype=object)
        self.state_codes_ = codes
        self.transition_counts_ = trans
        self.expected_value_ = float(total)
        self.removal_effects_ = pd.Series(effects[present], index=pd.Index(
            self.channels_[present], name="channel"), name="removal_effect")
        self._effects_by_code = effects
        self._graph_parts = (codes, trans, conv, value, null, out, base)
        return self

    @property
    def graph_(self) -> Any:
        """The fitted chain as a ``networkx.DiGraph`` (built on first access)."""
        if not hasattr(self, "_graph_parts"):
            from ..exceptions import NotFittedError
            raise NotFittedError("Markov: call fit() before reading graph_")
        import networkx as nx

        codes, trans, conv, value, null, out, base = self._graph_parts
        names = [self._state_name(int(c), base) for c in codes]
        g = nx.DiGraph(order=self.order, target=self.fitted_target_)
        g.add_nodes_from([*names, CONVERSION, NULL])
        coo = trans.tocoo()
        for i, j, k in zip(coo.row, coo.col, coo.data, strict=True):
            g.add_edge(names[i], names[j], count=float(k), probability=float(k / out[i]))
        for i in np.flatnonzero(conv > 0):
            g.add_edge(names[i], CONVERSION, count=float(conv[i]),
                       probability=float(conv[i] / out[i]),
                       mean_amount=float(value[i] / conv[i]))
        for i in np.flatnonzero(null > 0):
            g.add_edge(names[i], NULL, count=float(null[i]), probability=float(null[i] / out[i]))
        return g

    def _state_name(self, code: int, base: int) -> str:
        if code == 0:
            return START
        parts = []
        while code:
            parts.append(str(self.channels_[code % base - 1]))
            code //= base
        return " > ".join(reversed(parts))

    # ---------------------------------------------------------------- credit
    def _credit(self, problem: Problem) -> ModelCredit:
        attributable = problem.total - problem.unattributed
        effects = np.zeros(problem.n_channels)
        fitted = {str(k): v for k, v in self.removal_effects_.items()}
        for i, name in enumerate(problem.channels):
            effects[i] = fitted.get(str(name), 0.0)
        total_effect = effects.sum()
        if total_effect <= 0 or attributable <= 0:
            return ModelCredit(touch=np.zeros(len(problem.conv.touch)),
                               by_channel=np.zeros(problem.n_channels),
                               unattributed=max(attributable, 0.0))
        by_channel = attributable * effects / total_effect
        ch = problem.conv_channel
        value = problem.conv_value[problem.conv.row]
        denom = np.bincount(ch, weights=value, minlength=problem.n_channels)
        # a channel whose converting journeys all have amount 0 splits by weight
        w = problem.weight[problem.conv_rows][problem.conv.row].astype(np.float64)
        wdenom = np.bincount(ch, weights=w, minlength=problem.n_channels)
        use_value = denom[ch] > 0
        touch = np.where(use_value, value / np.where(denom[ch] > 0, denom[ch], 1.0),
                         w / np.where(wdenom[ch] > 0, wdenom[ch], 1.0)) * by_channel[ch]
        return ModelCredit(touch=touch, by_channel=by_channel)


def _expected(q: sp.csr_matrix, reward: np.ndarray, kept: np.ndarray) -> float:
    """Expected reward from the start state (index 0) over the kept states only."""
    if not kept[0]:
        return 0.0
    idx = np.flatnonzero(kept)
    sub = q[idx][:, idx]
    a = (sp.identity(len(idx), format="csc") - sub).tocsc()
    rhs = np.zeros(len(idx))
    rhs[0] = 1.0
    # visits = e_start (I - Q)^-1  <=>  (I - Q)^T visits = e_start
    visits = spla.splu(a.T.tocsc()).solve(rhs)
    return float(visits @ reward[idx])
