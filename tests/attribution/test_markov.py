"""Markov chain attribution: a chain solved by hand, brute force, and the graph."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from attribution import UNATTRIBUTED, Markov, attribute, build_problem, open_store

from .conftest import random_stores


def path_frames(paths: list[tuple[str, bool, float]]):
    """Timeless journeys: (path 'a>b', won, revenue)."""
    rows, journeys = [], []
    for i, (path, won, value) in enumerate(paths):
        jid = f"P{i}"
        for k, ch in enumerate(path.split(">")):
            rows.append({"journey_id": jid, "seq": k, "channel": ch})
        journeys.append({"journey_id": jid, "won": won, "revenue_amount": value})
    return pd.DataFrame(rows), pd.DataFrame(journeys)


def test_chain_solved_by_hand():
    # start->a 2, start->b 1; a->b 1, a->null 1; b->conv 2
    # P(conv) = 2/3 * 1/2 + 1/3 = 2/3; without a: 1/3 (RE 0.5); without b: 0 (RE 1)
    frames = path_frames([("a>b", True, 300.0), ("a", False, 0.0), ("b", True, 100.0)])
    r = attribute(frames, "markov", targets=["conversions", "revenue"])
    re = r.removal_effects.set_index(["target", "channel"]).removal_effect
    assert re[("conversions", "a")] == pytest.approx(0.5)
    assert re[("conversions", "b")] == pytest.approx(1.0)
    cc = r.channel_credit.set_index(["target", "channel"]).credit
    assert cc[("conversions", "a")] == pytest.approx(2 / 3)
    assert cc[("conversions", "b")] == pytest.approx(4 / 3)
    # value-weighted: mean amount at b is 200; same removal effects here
    assert re[("revenue", "a")] == pytest.approx(0.5)
    assert cc[("revenue", "a")] == pytest.approx(400 / 3)
    assert cc[("revenue", "b")] == pytest.approx(800 / 3)
    # touch level: b's total split by a*w over its converting touches (300 : 100)
    cr = r.credit[r.credit.target == "revenue"].set_index(["journey_id", "channel"])
    assert cr.loc[("P0", "b"), "markov"] == pytest.approx(800 / 3 * 0.75)
    assert cr.loc[("P2", "b"), "markov"] == pytest.approx(800 / 3 * 0.25)
    assert cr.loc[("P0", "a"), "markov"] == pytest.approx(400 / 3)


def brute_force_effects(paths, order=1):
    """Removal effects by explicit state enumeration and a power series (no solver)."""
    trans, ends = {}, {}
    for path, won, value, w in paths:
        chs = path.split(">")
        chs = [c for i, c in enumerate(chs) if i == 0 or c != chs[i - 1]]
        states = [tuple(chs[max(0, i - order + 1) : i + 1]) for i in range(len(chs))]
        prev = ("START",)
        for s in states:
            trans[(prev, s)] = trans.get((prev, s), 0) + w
            prev = s
        key = (prev, "CONV" if won else "NULL")
        ends[key] = ends.get(key, 0) + w
        if won:
            ends[(prev, "VALUE")] = ends.get((prev, "VALUE"), 0) + value * w
    states = sorted({s for k in trans for s in k}, key=str)
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    q = np.zeros((n, n))
    out = np.zeros(n)
    for (a, b), c in trans.items():
        q[idx[a], idx[b]] += c
        out[idx[a]] += c
    reward = np.zeros(n)
    for (a, kind), c in ends.items():
        if kind in ("CONV", "NULL"):
            out[idx[a]] += c
        else:
            reward[idx[a]] += c
    q = q / np.where(out > 0, out, 1)[:, None]
    reward = reward / np.where(out > 0, out, 1)

    def value(removed):
        keep = np.array([removed not in s for s in states])
        qq = q * keep[None, :] * keep[:, None]
        x = np.zeros(n)
        x[idx[("START",)]] = 1.0
        total = 0.0
        for _ in range(5000):
            total += x @ (reward * keep)
            x = x @ qq
        return total

    base = value(None)
    channels = sorted({c for p, *_ in paths for c in p.split(">")})
    return {c: (base - value(c)) / base for c in channels}


@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_brute_force(order):
    paths = [
        ("a>b>c", True, 10.0, 3),
        ("a>c", False, 0.0, 2),
        ("b>b>a>c", True, 40.0, 1),
        ("c", True, 5.0, 4),
        ("a>b", False, 0.0, 5),
        ("b>a", True, 20.0, 2),
        ("c>a>b>c", False, 0.0, 1),
    ]
    rows, journeys = [], []
    for i, (path, won, value, w) in enumerate(paths):
        for k, ch in enumerate(path.split(">")):
            rows.append({"journey_id": f"P{i}", "seq": k, "channel": ch})
        journeys.append(
            {"journey_id": f"P{i}", "won": won, "revenue_amount": value, "weight": w}
        )
    r = attribute(
        (pd.DataFrame(rows), pd.DataFrame(journeys)),
        Markov(order=order),
        targets="revenue",
    )
    got = r.removal_effects.set_index("channel").removal_effect.to_dict()
    assert got == pytest.approx(brute_force_effects(paths, order), abs=1e-9)


def test_weight_counts_as_copies_in_the_chain():
    one = path_frames([("a>b", True, 1.0), ("a>b", True, 1.0), ("b", False, 0.0)])
    t, j = path_frames([("a>b", True, 1.0), ("b", False, 0.0)])
    j["weight"] = [2, 1]
    r1 = attribute(one, "markov", targets="conversions").removal_effects
    r2 = attribute((t, j), "markov", targets="conversions").removal_effects
    pd.testing.assert_frame_equal(r1, r2)


def test_graph_has_probabilities():
    r = attribute(
        path_frames([("a>b", True, 1.0), ("a", False, 0.0)]),
        "markov",
        targets="conversions",
    )
    g = r.graph
    assert g["(start)"]["a"]["probability"] == pytest.approx(1.0)
    assert g["a"]["b"]["probability"] == pytest.approx(0.5)
    assert g["a"]["(null)"]["probability"] == pytest.approx(0.5)
    assert g["b"]["(conversion)"]["probability"] == pytest.approx(1.0)
    for node in g.nodes:
        out = sum(d["probability"] for _, _, d in g.out_edges(node, data=True))
        assert out == pytest.approx(1.0) or g.out_degree(node) == 0


def test_zero_removal_effects_go_to_unattributed():
    # nothing ever converts through a path -> no value to split
    frames = path_frames([("a", True, 0.0), ("b", False, 0.0)])
    r = attribute(frames, "markov", targets="revenue")
    cc = r.channel_credit.set_index("channel").credit
    assert cc.sum() == 0
    r = attribute(path_frames([("a", True, 10.0)]), "markov", targets="revenue")
    assert r.channel_credit.set_index("channel").credit.to_dict() == pytest.approx(
        {UNATTRIBUTED: 0.0, "a": 10.0}
    )


@settings(max_examples=40, deadline=None)
@given(random_stores())
def test_partition_counts_reduce_to_the_whole(frames):
    """Counts of two halves of the journeys add up to the counts of the whole."""
    t, j = frames
    ids = sorted(j.journey_id)
    half = set(ids[: len(ids) // 2])
    whole = open_store(frames).columnar()
    parts = [
        open_store((t[t.journey_id.isin(s)], j[j.journey_id.isin(s)])).columnar()
        for s in (half, set(ids) - half)
    ]
    for target in ("pipeline", "revenue"):
        full = Markov().fit(build_problem(whole, target))
        # channel codes differ per part: fit the reduced counts on the whole's codes by
        # re-encoding each part against the whole's channel list
        counts = None
        for part in parts:
            p = build_problem(part, target)
            remap = np.searchsorted(
                whole.channels.astype(str), part.channels.astype(str)
            )
            part.channel = remap[part.channel].astype(np.int32)
            part.channels = whole.channels
            c = Markov().count(build_problem(part, target))
            counts = c if counts is None else counts + c
            del p
        reduced = Markov().fit_counts(counts, whole.channels, target)
        pd.testing.assert_series_equal(
            full.removal_effects_,
            reduced.removal_effects_,
            check_exact=False,
            rtol=1e-9,
            atol=1e-12,
        )
