"""Fixtures: a hand-built store whose credits are worked out in the tests, and
random stores for property tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import strategies as st

D = pd.Timestamp("2026-01-01", tz="UTC")


def day(n: float) -> pd.Timestamp:
    return D + pd.Timedelta(days=n)


def frames(
    rows: list[tuple], journeys: list[dict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.DataFrame(rows, columns=["journey_id", "ts", "channel"])
    t["seq"] = t.groupby("journey_id").cumcount()
    j = pd.DataFrame(journeys)
    for col in ("lead_created_at", "opportunity_created_at", "closed_at"):
        if col not in j:
            j[col] = pd.NaT
        j[col] = pd.to_datetime(j[col], utc=True)
    return t, j


@pytest.fixture
def hand_store():
    """Five journeys (pipeline target unless said):

    J1  Email d1, Search d5, Webinar d10, Search d20; lead d6, opp d20, 1000
    J2  Display d3; opp d3, 500
    J3  Email d2, Display d4; no lead, opp d4, 200
    J4  Email d1, Search d2; no opportunity (null journey)
    J5  Paid Social d30; opp d10, 300 -> no eligible touch -> (unattributed)
    """
    rows = [
        ("J1", day(1), "Email"),
        ("J1", day(5), "Search"),
        ("J1", day(10), "Webinar"),
        ("J1", day(20), "Search"),
        ("J2", day(3), "Display"),
        ("J3", day(2), "Email"),
        ("J3", day(4), "Display"),
        ("J4", day(1), "Email"),
        ("J4", day(2), "Search"),
        ("J5", day(30), "Paid Social"),
    ]
    journeys = [
        dict(
            journey_id="J1",
            lead_created_at=day(6),
            opportunity_created_at=day(20),
            pipeline_amount=1000.0,
        ),
        dict(journey_id="J2", opportunity_created_at=day(3), pipeline_amount=500.0),
        dict(journey_id="J3", opportunity_created_at=day(4), pipeline_amount=200.0),
        dict(journey_id="J4", pipeline_amount=0.0),
        dict(journey_id="J5", opportunity_created_at=day(10), pipeline_amount=300.0),
    ]
    return frames(rows, journeys)


CHANNELS = ["a", "b", "c", "d"]


@st.composite
def random_stores(draw, max_journeys: int = 12, timeless: bool | None = None):
    """Small random stores covering every journey class of DESIGN §3."""
    n = draw(st.integers(1, max_journeys))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    is_timeless = draw(st.booleans()) if timeless is None else timeless
    rows, journeys = [], []
    for i in range(n):
        k = int(rng.integers(1 if is_timeless else 0, 7))
        jid = f"J{i:03d}"
        t0 = rng.integers(0, 400)
        offs = np.sort(rng.integers(0, 120, size=k)) + t0
        for off in offs:
            rows.append(
                (
                    jid,
                    pd.NaT if is_timeless else day(float(off)),
                    CHANNELS[int(rng.integers(0, len(CHANNELS)))],
                )
            )
        stage = rng.integers(0, 4)  # 0 none, 1 open opp, 2 lost, 3 won
        opp = (
            day(float(t0 + rng.integers(0, 140)))
            if stage > 0 and not is_timeless
            else pd.NaT
        )
        closed = (
            opp + pd.Timedelta(days=int(rng.integers(0, 60)))
            if stage >= 2 and not is_timeless
            else pd.NaT
        )
        won = bool(stage == 3)
        lead = (
            day(float(t0 + rng.integers(-10, 100)))
            if rng.random() < 0.7 and not is_timeless
            else pd.NaT
        )
        journeys.append(
            dict(
                journey_id=jid,
                lead_created_at=lead,
                opportunity_created_at=opp,
                closed_at=closed,
                won=won,
                pipeline_amount=float(rng.integers(0, 5)) * 250.0 if stage > 0 else 0.0,
                revenue_amount=float(rng.integers(1, 5)) * 100.0 if won else 0.0,
                weight=int(rng.integers(1, 4)),
            )
        )
    if not rows:
        rows.append(("J000", pd.NaT if is_timeless else day(1), "a"))
    return frames(rows, journeys)
