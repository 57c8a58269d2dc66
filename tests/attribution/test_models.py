"""Hand-computed credits for every built-in model (see the hand_store fixture)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attribution import (
    UNATTRIBUTED,
    FullPath,
    Markov,
    NotFittedError,
    TimeDecay,
    TouchlineError,
    UShaped,
    WShaped,
    attribute,
    build_problem,
    open_store,
)

from .conftest import day, frames


def channel_credit(result, model, target="pipeline"):
    cc = result.channel_credit
    cc = cc[(cc.model == model) & (cc.target == target)]
    return dict(zip(cc.channel, cc.credit, strict=True))


def journey_credit(result, model, target="pipeline"):
    cr = result.credit
    cr = cr[cr.target == target]
    return cr.groupby("journey_id", observed=True)[model].sum().to_dict()


@pytest.fixture
def hand_result(hand_store):
    return attribute(hand_store, "all", targets="pipeline")


def test_first_and_last_touch(hand_result):
    first = channel_credit(hand_result, "first_touch")
    # J1 Email 1000, J2 Display 500, J3 Email 200, J5 unattributed 300
    assert first == pytest.approx(
        {UNATTRIBUTED: 300, "Display": 500, "Email": 1200, "Search": 0, "Webinar": 0}
    )
    last = channel_credit(hand_result, "last_touch")
    # J1 Search(d20) 1000, J2 Display 500, J3 Display 200
    assert last == pytest.approx(
        {UNATTRIBUTED: 300, "Display": 700, "Email": 0, "Search": 1000, "Webinar": 0}
    )


def test_linear_credits_every_touch(hand_result):
    # J1: 250 per touch, Search twice; J3: 100 each
    assert channel_credit(hand_result, "linear") == pytest.approx(
        {UNATTRIBUTED: 300, "Display": 600, "Email": 350, "Search": 500, "Webinar": 250}
    )


def test_u_shaped(hand_result):
    # J1: 400 / 100 / 100 / 400; J3 two touches 50/50
    assert channel_credit(hand_result, "u_shaped") == pytest.approx(
        {UNATTRIBUTED: 300, "Display": 600, "Email": 500, "Search": 500, "Webinar": 100}
    )


def test_u_shaped_custom_weights(hand_store):
    r = attribute(hand_store, UShaped(first=0.6, last=0.2), targets="pipeline")
    # J1: 600 / 100 / 100 / 200; J3: 0.6/0.8 and 0.2/0.8 of 200 -> 150 / 50
    assert channel_credit(r, "u_shaped") == pytest.approx(
        {UNATTRIBUTED: 300, "Display": 550, "Email": 750, "Search": 300, "Webinar": 100}
    )


def test_time_decay(hand_store):
    r = attribute(hand_store, TimeDecay(half_life="7D"), targets="pipeline")
    w = 2.0 ** (-np.array([19, 15, 10, 0]) / 7)  # J1 touch ages at opportunity d20
    j1 = 1000 * w / w.sum()
    w3 = 2.0 ** (-np.array([2, 0]) / 7)
    j3 = 200 * w3 / w3.sum()
    assert channel_credit(r, "time_decay") == pytest.approx(
        {
            UNATTRIBUTED: 300,
            "Display": 500 + j3[1],
            "Email": j1[0] + j3[0],
            "Search": j1[1] + j1[3],
            "Webinar": j1[2],
        }
    )


def test_w_shaped_milestones(hand_result):
    # J1: first Email .3, lead d6 -> Search d5 .3, opp d20 -> Search d20 .3, Webinar .1
    # J3: no lead -> its share passes to opp (Display .6); no middle touch -> the .1
    #     goes to milestones in proportion: Email 1/3, Display 2/3
    assert channel_credit(hand_result, "w_shaped") == pytest.approx(
        {
            UNATTRIBUTED: 300,
            "Display": 500 + 200 * 2 / 3,
            "Email": 300 + 200 / 3,
            "Search": 600,
            "Webinar": 100,
        }
    )


def test_full_path_equals_w_shaped_for_pipeline(hand_result):
    assert channel_credit(hand_result, "full_path") == pytest.approx(
        channel_credit(hand_result, "w_shaped")
    )


def test_full_path_revenue_closed_won_milestone():
    t, j = frames(
        [
            ("J", day(1), "a"),
            ("J", day(2), "b"),
            ("J", day(3), "c"),
            ("J", day(4), "d"),
            ("J", day(5), "e"),
            ("J", day(6), "f"),
        ],
        [
            dict(
                journey_id="J",
                lead_created_at=day(2),
                opportunity_created_at=day(4),
                closed_at=day(6),
                won=True,
                revenue_amount=100.0,
            )
        ],
    )
    r = attribute((t, j), ["full_path", "w_shaped"], targets="revenue")
    # full path: a, b, d, f hold 22.5 each; c and e share 10
    assert channel_credit(r, "full_path", "revenue") == pytest.approx(
        {UNATTRIBUTED: 0, "a": 22.5, "b": 22.5, "c": 5, "d": 22.5, "e": 5, "f": 22.5}
    )
    # w-shaped: a, b, d 30 each; c, e, f share 10
    assert channel_credit(r, "w_shaped", "revenue") == pytest.approx(
        {
            UNATTRIBUTED: 0,
            "a": 30,
            "b": 30,
            "c": 10 / 3,
            "d": 30,
            "e": 10 / 3,
            "f": 10 / 3,
        }
    )


def test_milestones_on_one_touch_and_lead_after_opportunity():
    t, j = frames(
        [
            ("J", day(1), "a"),
            ("J", day(5), "b"),
            ("K", day(1), "a"),
            ("K", day(2), "b"),
            ("K", day(3), "c"),
        ],
        [
            dict(
                journey_id="J",
                lead_created_at=day(1),
                opportunity_created_at=day(5),
                pipeline_amount=90.0,
            ),
            # lead after the opportunity: its share passes to the opportunity touch
            dict(
                journey_id="K",
                lead_created_at=day(9),
                opportunity_created_at=day(3),
                pipeline_amount=100.0,
            ),
        ],
    )
    r = attribute((t, j), "w_shaped", targets="pipeline")
    jc = r.credit.set_index(["journey_id", "touch_index"])["w_shaped"]
    # J: a holds first+lead (.6), b holds opp (.3); no middle -> 2/3, 1/3
    assert jc[("J", 0)] == pytest.approx(60) and jc[("J", 1)] == pytest.approx(30)
    # K: a first .3, c opp .3 + lead .3 = .6, b middle .1
    assert jc[("K", 0)] == pytest.approx(30)
    assert jc[("K", 1)] == pytest.approx(10)
    assert jc[("K", 2)] == pytest.approx(60)


def test_timestamp_ties_follow_seq():
    rows = [("J", day(1), "b"), ("J", day(1), "a")]  # same ts: seq decides
    t, j = frames(
        rows,
        [dict(journey_id="J", opportunity_created_at=day(1), pipeline_amount=10.0)],
    )
    r = attribute((t, j), ["first_touch", "last_touch"], targets="pipeline")
    assert channel_credit(r, "first_touch")["b"] == 10
    assert channel_credit(r, "last_touch")["a"] == 10


def test_credit_table_rows_and_columns(hand_result):
    cr = hand_result.credit
    assert list(cr.columns[:10]) == [
        "journey_id",
        "touch_index",
        "ts",
        "channel",
        "campaign",
        "content",
        "interaction",
        "target",
        "quarter",
        "weight",
    ]
    # credited touches: J1 (4), J2 (1), J3 (2); J4 null, J5 no eligible touch
    assert sorted(cr.journey_id.astype(str).unique()) == ["J1", "J2", "J3"]
    assert len(cr) == 7
    assert cr.loc[cr.journey_id == "J1", "touch_index"].tolist() == [0, 1, 2, 3]


def test_per_journey_sums_equal_amount(hand_result):
    for model in [
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "u_shaped",
        "w_shaped",
        "full_path",
    ]:
        assert journey_credit(hand_result, model) == pytest.approx(
            {"J1": 1000, "J2": 500, "J3": 200}
        )


def test_lookback_window_and_exclusion(hand_store):
    r = attribute(hand_store, "linear", targets="pipeline", lookback_days=12)
    # J1 window [d8, d20]: Webinar d10 and Search d20 only
    assert journey_credit(r, "linear")["J1"] == pytest.approx(1000)
    assert channel_credit(r, "linear")["Webinar"] == pytest.approx(500)
    r = attribute(
        hand_store, "linear", targets="pipeline", exclude_channels=["Display"]
    )
    # J2 loses its only touch -> unattributed
    assert channel_credit(r, "linear")[UNATTRIBUTED] == pytest.approx(800)


def test_revenue_classes_and_window_from_opportunity():
    t, j = frames(
        [
            ("W", day(0), "early"),
            ("W", day(380), "late"),
            ("W", day(500), "after"),
            ("L", day(1), "x"),
            ("O", day(1), "y"),
        ],
        [
            dict(
                journey_id="W",
                opportunity_created_at=day(300),
                closed_at=day(400),
                won=True,
                revenue_amount=100.0,
                pipeline_amount=100.0,
            ),
            dict(
                journey_id="L",
                opportunity_created_at=day(2),
                closed_at=day(3),
                won=False,
                pipeline_amount=50.0,
                revenue_amount=0.0,
            ),
            dict(
                journey_id="O",
                opportunity_created_at=day(2),
                pipeline_amount=70.0,
                revenue_amount=0.0,
            ),
        ],
    )
    store = open_store((t, j))
    p = build_problem(store.columnar(), "revenue")
    # open opportunity O is excluded; lost L is null; W converts
    ids = store.columnar().journey_ids.to_pylist()
    assert sorted(ids[k] for k in p.journey) == ["L", "W"]
    # window counted back from the opportunity (d300 - 365 = d-65): early d0 counts,
    # "after" (d500, past the close) does not
    r = attribute((t, j), "linear", targets="revenue")
    assert channel_credit(r, "linear", "revenue") == pytest.approx(
        {UNATTRIBUTED: 0, "early": 50, "late": 50, "x": 0}
    )
    r = attribute((t, j), "linear", targets="conversions")
    assert channel_credit(r, "linear", "conversions") == pytest.approx(
        {UNATTRIBUTED: 0, "early": 0.5, "late": 0.5, "x": 0}
    )


def test_time_decay_refuses_timeless_paths():
    t = pd.DataFrame({"journey_id": ["a", "a"], "channel": ["x", "y"], "seq": [0, 1]})
    j = pd.DataFrame({"journey_id": ["a"], "won": [True], "revenue_amount": [1.0]})
    with pytest.raises(TouchlineError, match="timeless"):
        attribute((t, j), "time_decay", targets="conversions")


def test_bad_parameters_name_the_parameter():
    with pytest.raises(TouchlineError, match="half_life"):
        TimeDecay(half_life="-3D")
    with pytest.raises(TouchlineError, match="sum to 1"):
        WShaped(first=0.5)
    with pytest.raises(TouchlineError, match="order"):
        Markov(order=0)
    with pytest.raises(TouchlineError, match="first"):
        UShaped(first=1.5)


def test_repr_shows_changed_parameters():
    assert repr(TimeDecay()) == "TimeDecay()"
    assert (
        repr(FullPath(middle=0.2, closed_won=0.125))
        == "FullPath(closed_won=0.125, middle=0.2)"
    )


def test_credit_before_fit_raises(hand_store):
    p = build_problem(open_store(hand_store).columnar(), "pipeline")
    with pytest.raises(NotFittedError):
        Markov().credit(p)
