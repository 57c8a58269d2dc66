"""Set-based Shapley (Zhao et al., 2018): a tiny example by hand, and the closed
form against the textbook sum over every coalition computed with bit masks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from attribution import attribute, build_problem, open_store

from .conftest import random_stores


def path_frames(paths):
    """Timeless journeys: (path 'a>b', won, revenue, weight)."""
    rows, journeys = [], []
    for i, (path, won, value, weight) in enumerate(paths):
        for k, ch in enumerate(path.split(">")):
            rows.append({"journey_id": f"P{i}", "seq": k, "channel": ch})
        journeys.append({"journey_id": f"P{i}", "won": won, "revenue_amount": value,
                         "weight": weight})
    return pd.DataFrame(rows), pd.DataFrame(journeys)


def test_tiny_example_by_hand():
    # R({a}) = 1 conversion, R({a, b}) = 2 (one journey of weight 2, touches a, b, a),
    # R({b, c}) = 1; the null journey plays no part.
    # v(S) = sum of R(T) over T inside S. By the textbook formula with 3 players:
    #   phi_a = 1 + 2/2 = 2, phi_b = 2/2 + 1/2 = 1.5, phi_c = 1/2
    # Touch level: the weight-2 journey gives a 1 per copy, split over its two a
    # touches (0.5 each, times 2 copies), and b 1 per copy.
    frames = path_frames([("a", True, 10.0, 1), ("a>b>a", True, 30.0, 2),
                          ("b>c", True, 20.0, 1), ("a>b>c", False, 0.0, 5)])
    r = attribute(frames, "shapley", targets=["conversions", "revenue"])
    cc = r.channel_credit.set_index(["target", "channel"]).credit
    assert cc[("conversions", "a")] == pytest.approx(2.0)
    assert cc[("conversions", "b")] == pytest.approx(1.5)
    assert cc[("conversions", "c")] == pytest.approx(0.5)
    # revenue: a gets 10 + 2 * 30 / 2, b 2 * 30 / 2 + 20 / 2, c 20 / 2
    assert cc[("revenue", "a")] == pytest.approx(40.0)
    assert cc[("revenue", "b")] == pytest.approx(40.0)
    assert cc[("revenue", "c")] == pytest.approx(10.0)
    cr = r.credit[(r.credit.target == "conversions") & (r.credit.journey_id == "P1")]
    assert cr.shapley.tolist() == pytest.approx([0.5, 1.0, 0.5])


def coalition_shapley(problem):
    """Textbook Shapley over all 2^k coalitions of the channels, with bit masks.

    v(S) = value of the converting journeys whose channel set lies inside S.
    """
    ch = problem.conv_channel
    present = np.unique(ch)
    k = len(present)
    pos = np.searchsorted(present, ch)
    n_rows = len(problem.conv.offsets) - 1
    masks = np.zeros(n_rows, np.int64)
    np.bitwise_or.at(masks, problem.conv.row, 1 << pos)
    value = np.bincount(masks, weights=problem.conv_value, minlength=1 << k)
    subsets = np.arange(1 << k)
    # v(S) = sum over T subset of S: a zeta transform over the bits
    v = value.copy()
    for b in range(k):
        has = (subsets >> b) & 1 == 1
        v[has] += v[subsets[has] ^ (1 << b)]
    size = np.array([bin(s).count("1") for s in subsets])
    phi = np.zeros(k)
    for i in range(k):
        without = subsets[(subsets >> i) & 1 == 0]
        s = size[without]
        weight = np.array([math.factorial(m) * math.factorial(k - m - 1)
                           for m in s]) / math.factorial(k)
        phi[i] = (weight * (v[without | (1 << i)] - v[without])).sum()
    out = np.zeros(problem.n_channels)
    out[present] = phi
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=random_stores())
def test_closed_form_equals_coalition_sum(frames):
    for target in ("pipeline", "revenue", "conversions"):
        problem = build_problem(open_store(frames).columnar(), target)
        r = attribute(frames, "shapley", targets=target)
        got = r.channel_credit.set_index("channel").credit
        expect = coalition_shapley(problem)
        for code, name in enumerate(problem.channels):
            if name in got.index:
                assert got[name] == pytest.approx(expect[code], rel=1e-9, abs=1e-9)


def test_many_channels_exact_without_grouping():
    # 20 channels: the coalition sum would need 2^20 subsets; the closed form is
    # exact and every channel keeps its own row
    rng = np.random.default_rng(0)
    paths = [(">".join(f"c{x:02d}" for x in rng.choice(20, size=rng.integers(1, 8))),
              True, 1.0, 1) for _ in range(300)]
    r = attribute(path_frames(paths), "shapley", targets="conversions")
    cc = r.channel_credit
    assert len(cc) == 21  # 20 channels and (unattributed)
    assert cc.credit.sum() == pytest.approx(300.0)
