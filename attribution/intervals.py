"""Bootstrap confidence intervals on channel credit, for every model.

:func:`channel_intervals` resamples the journeys of one target and quarter ``n``
times and returns, per model, the ``(1 − level)/2`` and ``(1 + level)/2`` percentiles
of each channel's credit (``(unattributed)`` and pseudo-channel rows such as
``(baseline)`` included) over the resamples. :func:`channel_draws` returns the
resampled credit itself; the engine keeps it as ``AttributionResult.credit_draws``
(``credit_draws.parquet``) so that reports derive intervals of ratios such as ROAS
from the same resamples, jointly, instead of dividing the credit's bounds.

Resampling. A resample draws as many journeys as the problem holds copies
(``Σ weight``), with replacement, each copy equally likely: the new weight of every
journey row is a multinomial draw, so a row of weight k resamples exactly like k
separate journeys and aggregated paths work too. Resample ``b`` uses its own
generator, ``numpy.random.default_rng(SeedSequence(seed).spawn(n)[b])``, so results
depend on ``seed`` only — not on chunking or on the number of worker processes — and
every model of a run sees the same resamples.

Per model:

* A per-journey model that learns nothing (it does not override ``Model.fit``; every
  rule-based model and ``shapley``) credits each journey the same way whatever the
  other journeys are, so a resample's channel credit is ``W·M``: ``M`` the sparse
  (journey × channel) credit per copy, ``W`` the resampled weights. All resamples
  are a few sparse products.
* ``markov`` is refitted on every resample from transition counts re-weighted per
  resample (one sparse product gives the counts of all resamples), then solved
  exactly as :meth:`Markov.fit_counts` does.
* A model with a ``resample_credit(problem, weight)`` method (``incremental``) is
  refitted through it, in worker processes.
* Any other model that learns from data is refitted from scratch on each resampled
  problem, in worker processes.

The totals of each resample are the resample's own totals, so the intervals carry
the sampling uncertainty of the store total as well as that of its split.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from .exceptions import ParameterError
from .models.base import Model, ModelCredit
from .models.markov import Markov, MarkovCounts
from .problem import Problem, Segments, _ranges

__all__ = ["channel_draws", "channel_intervals", "check_interval_args",
           "percentile_bounds", "resample_weights", "subset_problem"]

UNATTRIBUTED = "(unattributed)"
_CHUNK = 25  # resamples per sparse product / per worker task
_PARALLEL_WORK = 200_000  # resamples × journeys below which refits stay in-process


def check_interval_args(intervals: int, level: float, seed: int) -> None:
    """Validate ``intervals``, ``interval_level`` and ``seed``.

    Raises
    ------
    ParameterError
        Naming the parameter, the allowed range and the value received.
    """
    if isinstance(intervals, bool) or not isinstance(intervals, (int, np.integer)) or \
            intervals < 0:
        raise ParameterError(f"intervals must be a whole number of resamples >= 0 "
                             f"(e.g. 200; 0 for none); got {intervals!r}")
    if 0 < intervals < 10:
        raise ParameterError(f"intervals: {intervals} resamples are too few for a "
                             "percentile interval; use at least 10 (200 is usual)")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or \
            not 0 < float(level) < 1:
        raise ParameterError(f"interval_level must be in (0, 1), e.g. 0.95; got "
                             f"{level!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed must be a whole number >= 0; got {seed!r}")


def resample_weights(weight: np.ndarray, b: int, n: int, seed: int) -> np.ndarray:
    """Draw the journey weights of resample ``b`` of ``n`` (a multinomial draw).

    Parameters
    ----------
    weight : numpy.ndarray of int
        Copies per journey row.
    b : int
        Which resample.
    n : int
        Number of resamples of the run (the seeds are spawned per run).
    seed : int
        Seed of the run.

    Returns
    -------
    numpy.ndarray of float
        New copies per journey row; they sum to ``weight.sum()``.

    Examples
    --------
    >>> w = resample_weights(np.array([1, 1, 2]), 0, 10, seed=0)
    >>> float(w.sum())
    4.0
    """
    if not 0 <= b < n:
        raise ParameterError(f"resample {b} is not one of the run's {n}")
    # SeedSequence(seed).spawn(n)[b], without spawning the other n - 1
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(b,)))
    weight = np.asarray(weight, dtype=np.int64)
    n_rows = len(weight)
    total = int(weight.sum())
    if total == 0:
        return np.zeros(n_rows)
    if (weight == 1).all():
        return np.bincount(rng.integers(0, n_rows, n_rows), minlength=n_rows).astype(
            np.float64)
    if total <= 20 * n_rows:
        cum = np.cumsum(weight)
        rows = np.searchsorted(cum, rng.integers(0, total, total), side="right")
        return np.bincount(rows, minlength=n_rows).astype(np.float64)
    return rng.multinomial(total, weight / total).astype(np.float64)


def percentile_bounds(samples: np.ndarray, level: float, *, axis: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap samples: the ``(1 ± level)/2`` quantiles.

    The one definition used for credit intervals and for the ratios the reports
    derive from the same draws (``numpy.quantile``'s default, linear interpolation).

    Parameters
    ----------
    samples : numpy.ndarray
        Draws along ``axis``.
    level : float
        Coverage, e.g. 0.95.
    axis : int, default=0
        The axis of the draws.

    Returns
    -------
    lo, hi : numpy.ndarray
        The bounds, with ``axis`` removed.

    Examples
    --------
    >>> lo, hi = percentile_bounds(np.arange(101.0), 0.5)
    >>> float(lo), float(hi)
    (25.0, 75.0)
    """
    q = ((1 - level) / 2, (1 + level) / 2)
    lo, hi = np.quantile(samples, q, axis=axis)
    return lo, hi


def channel_draws(problem: Problem, fitted: Sequence[tuple[Model, ModelCredit]],
                  *, n: int = 200, seed: int = 0, n_jobs: int | None = None
                  ) -> list[tuple[list[str], np.ndarray]]:
    """Every fitted model's channel credit on each of ``n`` bootstrap resamples.

    Parameters
    ----------
    problem : Problem
        The target and quarter the models were fitted on.
    fitted : list of (Model, ModelCredit)
        Each fitted model with its credit on ``problem``.
    n : int, default=200
        Number of resamples.
    seed : int, default=0
        Seed of the resamples.
    n_jobs : int, optional
        Worker processes for refits (default: every available core).

    Returns
    -------
    list of (names, samples)
        Per model, the row names — every channel code of ``problem``,
        ``(unattributed)``, the model's extra rows — and the ``(n × names)`` credit
        of each resample.
    """
    check_interval_args(n, 0.95, seed)
    jobs = _n_jobs(n_jobs)
    runner = _Resampler(problem, n, seed)
    out = []
    for model, mc in fitted:
        samples = runner.run(model, mc, jobs)
        names = [*(str(c) for c in problem.channels), UNATTRIBUTED, *mc.extra]
        out.append((names, samples))
    return out


def channel_intervals(problem: Problem, fitted: Sequence[tuple[Model, ModelCredit]],
                      *, n: int = 200, level: float = 0.95, seed: int = 0,
                      n_jobs: int | None = None
                      ) -> list[dict[str, tuple[float, float]]]:
    """Percentile bootstrap intervals of every fitted model's channel credit.

    Parameters
    ----------
    problem : Problem
        The target and quarter the models were fitted on.
    fitted : list of (Model, ModelCredit)
        Each fitted model with its credit on ``problem``.
    n : int, default=200
        Number of resamples.
    level : float, default=0.95
        Coverage of the interval.
    seed : int, default=0
        Seed of the resamples.
    n_jobs : int, optional
        Worker processes for refits (default: every available core).

    Returns
    -------
    list of dict
        Per model, ``{channel: (credit_lo, credit_hi)}`` for every channel code of
        ``problem``, ``(unattributed)`` and the model's extra rows.

    See Also
    --------
    channel_draws : The resampled credit these intervals are the percentiles of.
    """
    check_interval_args(n, level, seed)
    out = []
    for names, samples in channel_draws(problem, fitted, n=n, seed=seed,
                                        n_jobs=n_jobs):
        lo, hi = percentile_bounds(samples, level)
        out.append({name: (float(a), float(b)) for name, a, b in zip(names, lo, hi,
                                                                     strict=True)})
    return out


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is not None:
        return max(1, int(n_jobs))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class _Resampler:
    """Resamples of one problem, and the channel credit of a model on each."""

    def __init__(self, problem: Problem, n: int, seed: int) -> None:
        self.problem = problem
        self.n = n
        self.seed = seed
        self.weight = problem.weight.astype(np.int64)
        self.amount = problem.amount.astype(np.float64)
        self.no_touch = problem.converting & (problem.paths.lengths == 0)

    def weights(self, b: int) -> np.ndarray:
        return resample_weights(self.weight, b, self.n, self.seed)

    def chunks(self) -> list[range]:
        return [range(i, min(i + _CHUNK, self.n)) for i in range(0, self.n, _CHUNK)]

    def run(self, model: Model, mc: ModelCredit, jobs: int) -> np.ndarray:
        """Credit samples, (n × (channels + 1 + extras)).

        Columns: every channel code, ``(unattributed)``, the model's extra rows.
        """
        if _learns(model):
            if _is_plain_markov(model):
                return self._markov(model, mc)
            return self._refit(model, mc, jobs)
        return self._per_journey(mc)

    # ---------------------------------------------------------------- W·M
    def _per_journey(self, mc: ModelCredit) -> np.ndarray:
        p = self.problem
        rows = p.conv_rows
        w_conv = p.weight[rows].astype(np.float64)
        per_copy = mc.touch / w_conv[p.conv.row] if len(mc.touch) else mc.touch
        m = sp.csr_matrix((per_copy, (p.conv.row, p.conv_channel)),
                          shape=(len(rows), p.n_channels))
        m.sum_duplicates()
        point_total = p.total - p.unattributed
        extras = np.array([mc.unattributed, *mc.extra.values()], dtype=np.float64)
        out = np.zeros((self.n, p.n_channels + 1 + len(mc.extra)))
        for chunk in self.chunks():
            w = np.stack([self.weights(b) for b in chunk])
            out[chunk.start:chunk.stop, :p.n_channels] = (m.T @ w[:, rows].T).T
            unatt = w[:, self.no_touch] @ self.amount[self.no_touch]
            total = w[:, rows] @ self.amount[rows]
            scale = total / point_total if point_total > 0 else np.zeros(len(chunk))
            out[chunk.start:chunk.stop, p.n_channels] = unatt + extras[0] * scale
            out[chunk.start:chunk.stop, p.n_channels + 1:] = scale[:, None] * extras[
                None, 1:]
        return out

    # ---------------------------------------------------------------- markov
    def _markov(self, model: Markov, mc: ModelCredit) -> np.ndarray:
        p = self.problem
        parts = _markov_parts(model, p)
        out = np.zeros((self.n, p.n_channels + 1 + len(mc.extra)))
        names = [str(c) for c in p.channels]
        for chunk in self.chunks():
            w = np.stack([self.weights(b) for b in chunk])
            wr = w[:, parts["rows"]]
            counts = (parts["pairs"].T @ wr.T).T
            ends = parts["ends"].T
            conv = parts["conv"]
            for i, b in enumerate(chunk):
                stats = MarkovCounts(
                    src=parts["src"], dst=parts["dst"], count=counts[i],
                    end_state=parts["end_codes"],
                    end_conversions=ends @ (wr[i] * conv),
                    end_value=ends @ (wr[i] * conv * parts["amount"]),
                    end_null=ends @ (wr[i] * (1 - conv)))
                m = Markov(**model.get_params()).fit_counts(stats, p.channels, p.target)
                eff = m.removal_effects_.reindex(names).fillna(0.0).to_numpy()
                unatt = float(w[i, self.no_touch] @ self.amount[self.no_touch])
                attributable = float(w[i] @ self.amount) - unatt
                if eff.sum() > 0 and attributable > 0:
                    out[b, :p.n_channels] = attributable * eff / eff.sum()
                    out[b, p.n_channels] = unatt
                else:
                    out[b, p.n_channels] = unatt + max(attributable, 0.0)
        return out

    # ---------------------------------------------------------------- refits
    def _refit(self, model: Model, mc: ModelCredit, jobs: int) -> np.ndarray:
        width = self.problem.n_channels + 1 + len(mc.extra)
        job = (self, model, list(mc.extra), width)
        chunks = self.chunks()
        work = sum(len(c) for c in chunks) * max(len(self.problem.journey), 1)
        if jobs > 1 and len(chunks) > 1 and work >= _PARALLEL_WORK and \
                "fork" in multiprocessing.get_all_start_methods():
            _JOBS[id(job)] = job
            try:
                ctx = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=min(jobs, len(chunks)),
                                         mp_context=ctx) as pool:
                    tasks = [(id(job), c) for c in chunks]
                    results = list(pool.map(_refit_chunk, tasks))
            finally:
                _JOBS.pop(id(job), None)
        else:
            results = [_refit_rows(job, c) for c in chunks]
        return np.concatenate(results, axis=0)


_JOBS: dict[int, tuple[_Resampler, Model, list[str], int]] = {}


def _refit_chunk(args: tuple[int, range]) -> np.ndarray:
    key, chunk = args
    return _refit_rows(_JOBS[key], chunk)


def _refit_rows(job: tuple[_Resampler, Model, list[str], int], chunk: range
                ) -> np.ndarray:
    runner, model, extra_names, width = job
    p = runner.problem
    out = np.zeros((len(chunk), width))
    hook: Callable[..., Any] | None = getattr(model, "resample_credit", None)
    for i, b in enumerate(chunk):
        w = runner.weights(b)
        if hook is not None:
            by_channel, unatt, extra = hook(p, w)
        else:
            sub = subset_problem(p, w)
            mc = model.clone().fit(sub).credit(sub)
            by_channel, extra = mc.by_channel, mc.extra
            unatt = sub.unattributed + mc.unattributed
        out[i, :p.n_channels] = by_channel
        out[i, p.n_channels] = unatt
        for k, name in enumerate(extra_names):
            out[i, p.n_channels + 1 + k] = extra.get(name, 0.0)
    return out


def _learns(model: Model) -> bool:
    """Whether a model learns from data (overrides ``fit``) or is global."""
    return type(model).fit is not Model.fit or not model.per_journey


def _is_plain_markov(model: Model) -> bool:
    cls = type(model)
    return isinstance(model, Markov) and cls.fit is Markov.fit and \
        cls.count is Markov.count and cls.transitions is Markov.transitions and \
        cls.fit_counts is Markov.fit_counts and \
        cls._credit is Markov._credit


def _markov_parts(model: Markov, problem: Problem) -> dict[str, Any]:
    """Per-journey transitions of the chain, as :meth:`Markov.count` encodes them.

    Returns the distinct (src, dst) state pairs, a sparse (journey × pair) count
    matrix, and each journey's end state, so that any re-weighting of the journeys
    gives its counts with one sparse product.
    """
    t = model.transitions(problem)
    rows = t.rows
    keys, pair = np.unique(np.stack([t.src, t.dst]), axis=1, return_inverse=True)
    pair = pair.ravel()
    pairs = sp.csr_matrix((np.ones(len(pair)), (t.path, pair)),
                          shape=(len(rows), keys.shape[1]))
    pairs.sum_duplicates()
    end_codes, end_idx = np.unique(t.end, return_inverse=True)
    ends = sp.csr_matrix((np.ones(len(rows)), (np.arange(len(rows)), end_idx.ravel())),
                         shape=(len(rows), len(end_codes)))
    return {"rows": rows, "src": keys[0], "dst": keys[1], "pairs": pairs,
            "end_codes": end_codes, "ends": ends,
            "conv": problem.converting[rows].astype(np.float64),
            "amount": problem.amount[rows].astype(np.float64)}


def subset_problem(problem: Problem, weight: np.ndarray) -> Problem:
    """Restrict a problem to the journey rows with ``weight > 0``, re-weighted.

    Parameters
    ----------
    problem : Problem
        Any target's view of a store.
    weight : numpy.ndarray
        New copies per journey row (whole numbers).

    Returns
    -------
    Problem
        The same journeys, touches and classes, with ``weight`` as the weights.
    """
    weight = np.asarray(weight)
    keep = np.flatnonzero(weight > 0)
    seg = problem.paths
    lengths = seg.lengths[keep]
    touch = seg.touch[_ranges(seg.offsets[:-1][keep], lengths)]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    paths = Segments(offsets=offsets, touch=touch)
    conv_j = problem.converting[keep]
    conv_rows = np.flatnonzero(conv_j & (lengths > 0))
    conv_len = lengths[conv_rows]
    conv = Segments(offsets=np.concatenate([[0], np.cumsum(conv_len)]).astype(np.int64),
                    touch=touch[_ranges(offsets[:-1][conv_rows], conv_len)])
    w = np.rint(weight[keep]).astype(problem.weight.dtype)
    amount = problem.amount[keep]
    value = amount * w
    return replace(problem, journey=problem.journey[keep], converting=conv_j,
                   amount=amount, weight=w, moment=problem.moment[keep], paths=paths,
                   conv_rows=conv_rows, conv=conv, total=float(value.sum()),
                   unattributed=float(value[conv_j & (lengths == 0)].sum()))

