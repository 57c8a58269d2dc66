"""The model contract, run against every registered model (DESIGN §3 invariants)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from attribution import (
    TARGETS,
    UNATTRIBUTED,
    attribute,
    build_problem,
    get_model,
    open_store,
    registered_models,
)

from .conftest import random_stores

MODELS = registered_models()
SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def store_totals(frames, target):
    p = build_problem(open_store(frames).columnar(), target)
    return p.total


def usable(model, frames):
    """time_decay refuses timeless paths; the rest take every store."""
    return not (get_model(model).needs_time and frames[0]["ts"].isna().all())


@pytest.mark.parametrize("model", MODELS)
@SETTINGS
@given(frames=random_stores())
def test_channel_totals_equal_store_totals(model, frames):
    if not usable(model, frames):
        return
    r = attribute(frames, model, targets=list(TARGETS))
    for target in TARGETS:
        cc = r.channel_credit[r.channel_credit.target == target]
        total = store_totals(frames, target)
        assert cc.credit.sum() == pytest.approx(total, rel=1e-9, abs=1e-9)
        assert (cc.credit >= -1e-12).all()


@pytest.mark.parametrize("model", [m for m in MODELS if get_model(m).per_journey])
@SETTINGS
@given(frames=random_stores())
def test_each_journey_gets_its_amount(model, frames):
    if not usable(model, frames):
        return
    r = attribute(frames, model, targets=list(TARGETS))
    for target in TARGETS:
        p = build_problem(open_store(frames).columnar(), target)
        ids = np.asarray(open_store(frames).columnar().journey_ids.to_pylist())
        expect = pd.Series(p.amount * p.weight, index=ids[p.journey])
        expect = expect[(expect > 0)]
        cr = r.credit[r.credit.target == target]
        got = cr.groupby(cr.journey_id.astype(str))[model].sum()
        no_touch = set(expect.index) - set(got.index)
        # converting journeys without eligible touches are the unattributed row
        cc = r.channel_credit
        un = cc[(cc.target == target) & (cc.channel == UNATTRIBUTED)]
        assert un.credit.iloc[0] == pytest.approx(
            expect[list(no_touch)].sum(), abs=1e-9
        )
        assert got.to_dict() == pytest.approx(
            expect.drop(list(no_touch)).to_dict(), rel=1e-9
        )


def _canonical(result):
    cc = result.channel_credit.sort_values(["target", "model", "channel"]).reset_index(
        drop=True
    )
    cr = (
        result.credit.astype({"journey_id": str, "channel": str})
        .sort_values(["target", "journey_id", "touch_index"])
        .reset_index(drop=True)
    )
    return cc, cr


@pytest.mark.parametrize("model", MODELS)
@SETTINGS
@given(frames=random_stores())
def test_row_order_does_not_matter(model, frames):
    if not usable(model, frames):
        return
    t, j = frames
    rng = np.random.default_rng(0)
    shuffled = (t.iloc[rng.permutation(len(t))], j.iloc[rng.permutation(len(j))])
    a = _canonical(attribute(frames, model, targets=list(TARGETS)))
    b = _canonical(attribute(shuffled, model, targets=list(TARGETS)))
    pd.testing.assert_frame_equal(a[0], b[0], rtol=1e-9)
    pd.testing.assert_frame_equal(a[1], b[1], rtol=1e-9)


@pytest.mark.parametrize("model", MODELS)
@SETTINGS
@given(frames=random_stores())
def test_relabelling_channels_changes_nothing(model, frames):
    if not usable(model, frames):
        return
    t, j = frames
    rename = {"a": "zz", "b": "a", "c": "mm", "d": "b"}  # order of names changes too
    t2 = t.assign(channel=t.channel.map(rename))
    a = attribute(frames, model, targets=list(TARGETS)).channel_credit
    b = attribute((t2, j), model, targets=list(TARGETS)).channel_credit
    a = a.assign(channel=a.channel.map(lambda c: rename.get(c, c)))
    key = ["target", "channel"]
    pd.testing.assert_frame_equal(
        a.sort_values(key).reset_index(drop=True),
        b.sort_values(key).reset_index(drop=True),
        rtol=1e-9,
    )


@pytest.mark.parametrize("model", MODELS)
@SETTINGS
@given(frames=random_stores())
def test_weight_k_is_k_copies(model, frames):
    if not usable(model, frames):
        return
    t, j = frames
    copies_t, copies_j = [], []
    for _, row in j.iterrows():
        for k in range(int(row.weight)):
            jid = f"{row.journey_id}-{k}"
            copies_j.append(row.to_dict() | {"journey_id": jid, "weight": 1})
            copies_t.append(t[t.journey_id == row.journey_id].assign(journey_id=jid))
    expanded = (pd.concat(copies_t), pd.DataFrame(copies_j))
    a = attribute(frames, model, targets=list(TARGETS)).channel_credit
    b = attribute(expanded, model, targets=list(TARGETS)).channel_credit
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model", MODELS)
def test_outputs_are_byte_identical(model, hand_store, tmp_path):
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        attribute(hand_store, model, targets=["pipeline", "revenue"]).to_dir(out)
        outs.append({f.name: f.read_bytes() for f in out.iterdir()})
    assert outs[0] == outs[1]
    for name in ("credit.parquet", "channel_credit.parquet"):
        pq.read_table(io.BytesIO(outs[0][name]))


@pytest.mark.parametrize("model", MODELS)
def test_fit_returns_self(model, hand_store):
    p = build_problem(open_store(hand_store).columnar(), "pipeline")
    m = get_model(model)()
    assert m.fit(p) is m
    assert len(m.credit(p).touch) == len(p.conv.touch)
