"""The ground-truth generator: determinism, a valid store, and truths that hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attribution import attribute, open_store
from benchmarks.truth import (
    SCENARIOS,
    TRUTH_TARGETS,
    Channel,
    Scenario,
    get_scenario,
    simulate,
)

N = 4_000


@pytest.fixture(scope="module")
def mix():
    return simulate("b2b_mix", N, seed=3)


def test_same_seed_same_data_other_seed_other_data():
    a = simulate("b2b_mix", 1_500, seed=11)
    b = simulate("b2b_mix", 1_500, seed=11)
    c = simulate("b2b_mix", 1_500, seed=12)
    pd.testing.assert_frame_equal(a.touches, b.touches)
    pd.testing.assert_frame_equal(a.journeys, b.journeys)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert not a.journeys["won"].equals(c.journeys["won"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_shares_sum_to_one_and_no_effect_channels_get_nothing(scenario):
    data = simulate(scenario, N, seed=0)
    truth = data.truth
    assert set(truth["target"]) == set(TRUTH_TARGETS)
    assert (truth["drop"] >= -0.05).all()  # >= 0 up to cent rounding
    for target, g in truth.groupby("target"):
        assert g["true_share"].sum() == pytest.approx(1.0, abs=1e-12), target
        assert g["expected_share"].sum() == pytest.approx(1.0, abs=1e-12), target
    eff = data.effects.set_index("channel")
    inert = eff.index[(eff["opp_effect"] == 0) & (eff["win_effect"] == 0)
                      & (eff["size_effect"] == 0)]
    assert len(inert) >= 2  # Display and Direct everywhere, Branded Search too
    shares = truth[truth["channel"].isin(inert)]
    assert shares["true_share"].abs().max() < 1e-9
    # sales touches come after the opportunity: no share of pipeline
    pipe = data.shares("pipeline")
    assert pipe[scenario.sales.name] == 0.0


def test_store_is_valid_and_journeys_look_b2b(mix):
    store = open_store((mix.touches, mix.journeys))
    c = store.columnar()
    assert c.n_journeys == N and c.n_touches == len(mix.touches)
    per_journey = mix.touches.groupby("journey_id").size()
    assert 13 <= per_journey.median() <= 17
    assert per_journey.max() >= 40  # a long tail
    j = mix.journeys
    opp = j["opportunity_created_at"].notna()
    assert 0.1 < opp.mean() < 0.5  # most journeys do not convert
    assert j["closed_at"].notna().equals(opp)  # no open opportunity
    assert (j.loc[j["won"], "revenue_amount"] > 0).all()
    assert (j.loc[~opp, "pipeline_amount"] == 0).all()
    # sales touches only after the opportunity, and up to the close
    t = mix.touches.merge(j, on="journey_id")
    sales = t[t["channel"] == "Sales Outreach"]
    assert len(sales) > 0
    assert (sales["ts"] > sales["opportunity_created_at"]).all()
    assert (sales["ts"] <= sales["closed_at"]).all()
    pre = t[t["channel"] != "Sales Outreach"]
    assert (pre["ts"] <= pre["closed_at"].fillna(pre["ts"])).all()


def test_write_store_round_trips(mix, tmp_path):
    path = mix.write_store(tmp_path / "truth-store")
    store = open_store(path)
    assert store.manifest["truth"] == {"scenario": "b2b_mix", "journeys": N, "seed": 3}
    assert store.columnar().n_touches == len(mix.touches)


def test_timing_factors(mix):
    t = mix.touches.merge(mix.journeys[["journey_id", "opportunity_created_at"]],
                          on="journey_id")
    t["first"] = t.groupby("journey_id")["ts"].transform("min")
    # Paid Social works only in the first third of the cycle (first touch to decision)
    ps = t[(t["channel"] == "Paid Social") & t["opportunity_created_at"].notna()]
    frac = (ps["ts"] - ps["first"]) / (ps["opportunity_created_at"] - ps["first"])
    assert (ps.loc[frac > 0.34, "true_opp_effect"] == 0).all()
    np.testing.assert_allclose(ps.loc[frac < 0.32, "true_opp_effect"], 0.03)
    assert (frac > 0.34).sum() > 50 and (frac < 0.32).sum() > 50
    # Email decays: its effect is below the full effect on most touches
    email = t[(t["channel"] == "Email") & (t["true_opp_effect"] > 0)]
    assert (email["true_opp_effect"] <= 0.04).all()
    assert email["true_opp_effect"].median() < 0.03


def test_decision_channel_precedes_conversions_without_effect():
    data = simulate("branded_search", N, seed=0)
    t, j = data.touches, data.journeys
    last_pre = (t.merge(j[["journey_id", "opportunity_created_at"]], on="journey_id")
                .query("ts <= opportunity_created_at")
                .groupby("journey_id")["channel"].last())
    assert (last_pre == "Branded Search").mean() > 0.6
    assert data.shares("pipeline")["Branded Search"] == 0.0
    assert not get_scenario("branded_search").identifiable
    # last touch is fooled: it credits Branded Search with most of the pipeline
    cc = attribute(data.store(), ["last_touch"], targets="pipeline").channel_credit
    share = cc.set_index("channel")["share"]
    assert share["Branded Search"] > 0.5


def test_size_effects_move_amount_truth_not_counts():
    data = simulate("deal_size", N, seed=0)
    truth = data.truth.pivot_table(index="channel", columns="target",
                                   values="true_share")
    events, search = truth.loc["Events"], truth.loc["Paid Search"]
    assert events["pipeline"] > 2 * events["conversions"]
    assert search["pipeline"] < search["conversions"]


def test_common_random_numbers_truth_is_close_to_its_expectation():
    data = simulate("b2b_mix", 20_000, seed=0)
    for _, g in data.truth.groupby("target"):
        tvd = 0.5 * np.abs(g["true_share"] - g["expected_share"]).sum()
        assert tvd < 0.05


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="opp_effect"):
        Channel("x", (1, 1, 1), opp_effect=1.0)
    with pytest.raises(ValueError, match="size_effect"):
        Channel("x", (1, 1, 1), size_effect=-0.5)
    with pytest.raises(ValueError, match="must have no effect"):
        Scenario("s", "d", (Channel("x", (1, 1, 1), opp_effect=0.1),),
                 decision_channel="x")
    with pytest.raises(KeyError, match="b2b_mix"):
        get_scenario("nope")
    with pytest.raises(ValueError, match="n_journeys"):
        simulate("b2b_mix", 0)
