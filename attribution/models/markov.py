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
from functools import cached_property
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
class Transitions:
    """The transitions of a problem's paths: path ``k`` is journey row ``rows[k]``.

    ``src``/``dst`` hold one entry per transition (the start transition of every
    path first, then the inner ones), ``path`` the path each belongs to (built on
    first use), ``end`` each path's last state (where it absorbs into conversion
    or null) and ``lengths`` each path's number of states.
    """

    rows: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    end: np.ndarray
    lengths: np.ndarray

    @cached_property
    def path(self) -> np.ndarray:
        """The path (index into ``rows``) of every transition."""
        n = len(self.rows)
        return np.concatenate([np.arange(n), np.repeat(np.arange(n), self.lengths - 1)])


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

    @classmethod
    def aggregate(
        cls,
        src: np.ndarray,
        dst: np.ndarray,
        count: np.ndarray | None,
        end_state: np.ndarray,
        end_conversions: np.ndarray,
        end_value: np.ndarray,
        end_null: np.ndarray,
    ) -> MarkovCounts:
        """Sum repeated transitions and end states into counts (``count`` None: 1 each).

        Examples
        --------
        >>> c = MarkovCounts.aggregate(np.array([0, 0]), np.array([1, 1]), None,
        ...                            np.array([1]), np.ones(1), np.ones(1),
        ...                            np.zeros(1))
        >>> c.count.tolist()
        [2.0]
        """
        pairs, sums = _aggregate((src, dst), count)
        ends, end_sums = _aggregate(
            (end_state,), None, end_conversions, end_value, end_null
        )
        return cls(
            src=pairs[0],
            dst=pairs[1],
            count=sums[0],
            end_state=ends[0],
            end_conversions=end_sums[0],
            end_value=end_sums[1],
            end_null=end_sums[2],
        )

    def __add__(self, other: MarkovCounts) -> MarkovCounts:
        return MarkovCounts(
            *(
                np.concatenate([a, b])
                for a, b in zip(self._fields(), other._fields(), strict=True)
            )
        )

    def _fields(self) -> tuple[np.ndarray, ...]:
        return (
            self.src,
            self.dst,
            self.count,
            self.end_state,
            self.end_conversions,
            self.end_value,
            self.end_null,
        )


class Markov(Model):
    """Markov chain: split the target by each channel's removal effect.

    A channel's removal effect is the share of conversions (or amount) lost when the
    channel is removed from the journeys; channel totals are proportional to it.

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
        if (
            not isinstance(order, (int, np.integer))
            or isinstance(order, bool)
            or not (1 <= order <= 8)
        ):
            raise TouchlineError(
                f"Markov: parameter order must be a whole number in 1..8; got {order!r}"
            )

    # ---------------------------------------------------------------- statistics
    def transitions(self, problem: Problem) -> Transitions:
        """Every transition of ``problem``'s paths, in this chain's state encoding.

        A state is the last ``order`` channels (code ``channel + 1``, 0 = start),
        repeats collapsed when ``collapse_repeats``. See :class:`Transitions`.
        """
        seg = problem.paths
        base = problem.n_channels + 1
        if base**self.order >= 2**62:
            raise TouchlineError(
                f"Markov: order {self.order} with {base - 1} channels "
                "overflows the state encoding; lower the order"
            )
        lengths = seg.lengths
        rows = np.flatnonzero(lengths > 0)
        starts = seg.offsets[:-1][rows]
        ch = problem.columnar.channel[seg.touch]
        if self.collapse_repeats and len(ch):
            keep = np.ones(len(ch), bool)
            np.not_equal(ch[1:], ch[:-1], out=keep[1:])
            keep[starts] = True
            kept_len = (
                np.add.reduceat(keep.astype(np.int64), starts)
                if len(starts)
                else np.zeros(0, np.int64)
            )
            ch = ch[keep]
        else:
            kept_len = lengths[rows]
        code = ch.astype(np.int64) + 1
        offsets = np.concatenate([[0], np.cumsum(kept_len)]).astype(np.int64)
        first, last = offsets[:-1], offsets[1:] - 1
        if self.order > 1:
            pos = np.arange(len(code)) - np.repeat(first, kept_len)
            single = code.copy()
            for m in range(1, self.order):
                prev = np.zeros(len(code), np.int64)
                prev[m:] = single[:-m]
                prev[pos < m] = 0
                code += prev * base**m
        inner = np.ones(len(code), bool)
        inner[last] = False
        n = len(rows)
        return Transitions(
            rows=rows,
            src=np.concatenate([np.zeros(n, np.int64), code[inner]]),
            dst=np.concatenate(
                [code[first], code[1:][inner[:-1]] if len(code) else code]
            ),
            end=code[last],
            lengths=kept_len,
        )

    def count(self, problem: Problem) -> MarkovCounts:
        """Transition counts of ``problem``'s paths (the associative map step).

        Counts come back aggregated (one entry per distinct transition), so the
        statistics of a partition are small whatever its number of touches.
        """
        t = self.transitions(problem)
        w = problem.weight[t.rows].astype(np.float64)
        uniform = bool((w == 1).all())
        conv = problem.converting[t.rows]
        return MarkovCounts.aggregate(
            t.src,
            t.dst,
            None if uniform else w[t.path],
            t.end,
            np.where(conv, w, 0.0),
            np.where(conv, problem.amount[t.rows] * w, 0.0),
            np.where(conv, 0.0, w),
        )

    # ---------------------------------------------------------------- fitting
    def fit(self, problem: Problem) -> Markov:
        """Build the chain from ``problem``'s paths and compute removal effects."""
        super().fit(problem)
        return self.fit_counts(self.count(problem), problem.channels, problem.target)

    def fit_counts(
        self, counts: MarkovCounts, channels: np.ndarray, target: str
    ) -> Markov:
        """Solve the chain from counts: the reduce step of partitioned runs."""
        self.fitted_target_ = target
        codes = np.unique(
            np.concatenate([[0], counts.src, counts.dst, counts.end_state])
        )
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
        self.removal_effects_ = pd.Series(
            effects[present],
            index=pd.Index(self.channels_[present], name="channel"),
            name="removal_effect",
        )
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
            g.add_edge(
                names[i], names[j], count=float(k), probability=float(k / out[i])
            )
        for i in np.flatnonzero(conv > 0):
            g.add_edge(
                names[i],
                CONVERSION,
                count=float(conv[i]),
                probability=float(conv[i] / out[i]),
                mean_amount=float(value[i] / conv[i]),
            )
        for i in np.flatnonzero(null > 0):
            g.add_edge(
                names[i],
                NULL,
                count=float(null[i]),
                probability=float(null[i] / out[i]),
            )
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
            return ModelCredit(
                touch=np.zeros(len(problem.conv.touch)),
                by_channel=np.zeros(problem.n_channels),
                unattributed=max(attributable, 0.0),
            )
        by_channel = attributable * effects / total_effect
        ch = problem.conv_channel
        value = problem.conv_value[problem.conv.row]
        denom = np.bincount(ch, weights=value, minlength=problem.n_channels)
        # a channel whose converting journeys all have amount 0 splits by weight
        w = problem.weight[problem.conv_rows][problem.conv.row].astype(np.float64)
        wdenom = np.bincount(ch, weights=w, minlength=problem.n_channels)
        use_value = denom[ch] > 0
        touch = (
            np.where(
                use_value,
                value / np.where(denom[ch] > 0, denom[ch], 1.0),
                w / np.where(wdenom[ch] > 0, wdenom[ch], 1.0),
            )
            * by_channel[ch]
        )
        return ModelCredit(touch=touch, by_channel=by_channel)


def _aggregate(
    keys: tuple[np.ndarray, ...], counts: np.ndarray | None, *values: np.ndarray
) -> tuple[tuple[np.ndarray, ...], list[np.ndarray]]:
    """Sum ``counts`` (1 each when None) or ``values`` over distinct key tuples.

    Returns the distinct keys (sorted) and the sums, one array per value.
    """
    sums_of = (
        [counts if counts is not None else np.ones(len(keys[0]))]
        if not values
        else list(values)
    )
    if len(keys[0]) == 0:
        return tuple(k[:0] for k in keys), [v[:0].astype(np.float64) for v in sums_of]
    top = max(int(k.max()) for k in keys) + 1
    if top ** len(keys) <= 1 << 24:  # small dense key space: bincount
        flat = np.zeros(len(keys[0]), np.int64)
        for k in keys:
            flat = flat * top + k
        size = top ** len(keys)
        present = np.bincount(flat, minlength=size) > 0
        idx = np.flatnonzero(present)
        sums = [np.bincount(flat, weights=v, minlength=size)[idx] for v in sums_of]
        out_keys, rest = [], idx
        for _ in keys:
            out_keys.append(rest % top)
            rest = rest // top
        return tuple(reversed(out_keys)), sums
    frame = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)})
    for i, v in enumerate(sums_of):
        frame[f"v{i}"] = v
    grouped = frame.groupby([f"k{i}" for i in range(len(keys))], sort=True).sum()
    index = grouped.index
    out = (
        tuple(
            np.asarray(index.get_level_values(i), dtype=np.int64)
            for i in range(len(keys))
        )
        if len(keys) > 1
        else (np.asarray(index, dtype=np.int64),)
    )
    return out, [
        grouped[f"v{i}"].to_numpy(dtype=np.float64) for i in range(len(sums_of))
    ]


def _expected(q: sp.csr_matrix, reward: np.ndarray, kept: np.ndarray) -> float:
    """Return the expected reward from the start state over the kept states."""
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
