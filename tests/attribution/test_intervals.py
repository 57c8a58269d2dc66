"""Bootstrap intervals: they cover the point estimate, are deterministic per seed,
shrink with more data, resample weights like copies, and reach the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from attribution import (
    UNATTRIBUTED,
    Markov,
    attribute,
    build_problem,
    open_store,
)
from attribution.exceptions import ParameterError
from attribution.intervals import (
    _markov_parts,
    _Resampler,
    channel_intervals,
    resample_weights,
    subset_problem,
)
from touchline.cli import main

from .test_incremental import noisy_or_store

MODELS = ["first_touch", "linear", "u_shaped", "markov", "shapley"]


@pytest.fixture(scope="module")
def store():
    return noisy_or_store(4_000, seed=7)


def test_intervals_cover_the_point_estimate(store):
    r = attribute(store, MODELS, targets="pipeline", intervals=60, seed=1)
    cc = r.channel_credit
    assert {"credit_lo", "credit_hi"} <= set(cc.columns)
    tol = 1e-6 * cc.credit.abs().max()
    assert (cc.credit_lo <= cc.credit + tol).all()
    assert (cc.credit <= cc.credit_hi + tol).all()
    assert (cc.credit_hi > cc.credit_lo)[cc.credit > 0].all()
    assert r.run["intervals"] == {"resamples": 60, "level": 0.95, "seed": 1}


def test_deterministic_per_seed(store):
    a = attribute(store, ["linear", "markov"], targets="pipeline", intervals=30, seed=5)
    b = attribute(store, ["linear", "markov"], targets="pipeline", intervals=30, seed=5)
    c = attribute(store, ["linear", "markov"], targets="pipeline", intervals=30, seed=6)
    pd.testing.assert_frame_equal(a.channel_credit, b.channel_credit)
    assert not np.allclose(a.channel_credit.credit_hi, c.channel_credit.credit_hi)


def test_same_resamples_with_one_or_two_processes(store, monkeypatch):
    import attribution.intervals as iv
    from attribution import Incremental

    monkeypatch.setattr(iv, "_PARALLEL_WORK", 0)
    monkeypatch.setattr(iv, "_CHUNK", 5)
    problem = build_problem(open_store(store).columnar(), "pipeline")
    model = Incremental(holdout=0).fit(problem)
    mc = model.credit(problem)
    one = channel_intervals(problem, [(model, mc)], n=10, seed=2, n_jobs=1)
    two = channel_intervals(problem, [(model, mc)], n=10, seed=2, n_jobs=2)
    assert one == two


def test_intervals_shrink_with_more_data():
    def width(n):
        r = attribute(noisy_or_store(n, seed=8), ["linear", "shapley"],
                      targets="pipeline", intervals=60, seed=0)
        cc = r.channel_credit[r.channel_credit.channel != UNATTRIBUTED]
        return ((cc.credit_hi - cc.credit_lo) / cc.credit.sum()).mean()

    assert width(8_000) < 0.7 * width(2_000)


def test_resampled_weights_are_multinomial():
    w = np.array([1, 3, 1, 5])
    draws = np.stack([resample_weights(w, b, 4000, seed=0) for b in range(4000)])
    assert (draws.sum(axis=1) == w.sum()).all()
    assert draws.mean(axis=0) == pytest.approx(w, rel=0.05)
    # variance of a multinomial count: N p (1 - p)
    p = w / w.sum()
    assert draws.var(axis=0) == pytest.approx(w.sum() * p * (1 - p), rel=0.1)


def test_markov_counts_path_equals_a_refit(store):
    problem = build_problem(open_store(store).columnar(), "pipeline")
    model = Markov().fit(problem)
    mc = model.credit(problem)
    runner = _Resampler(problem, 3, seed=4)
    fast = runner._markov(model, mc)
    assert _markov_parts(model, problem)["pairs"].shape[0] > 0
    for b in range(3):
        sub = subset_problem(problem, runner.weights(b))
        ref = Markov().fit(sub).credit(sub)
        assert fast[b, :problem.n_channels] == pytest.approx(ref.by_channel, rel=1e-9)


def test_weight_k_rows_resample_like_copies():
    t, j = noisy_or_store(300, seed=9)
    j = j.assign(weight=3)
    r = attribute((t, j), "linear", targets="pipeline", intervals=200, seed=0)
    cc = r.channel_credit.set_index("channel")
    # 900 journeys' worth of copies: wider than nothing, narrower than 300 journeys
    t1, j1 = noisy_or_store(300, seed=9)
    r1 = attribute((t1, j1), "linear", targets="pipeline", intervals=200, seed=0)
    c1 = r1.channel_credit.set_index("channel")
    rel = (cc.credit_hi - cc.credit_lo) / cc.credit
    rel1 = (c1.credit_hi - c1.credit_lo) / c1.credit
    ratio = (rel / rel1).drop(UNATTRIBUTED).dropna()
    assert ratio.mean() == pytest.approx(1 / np.sqrt(3), rel=0.25)


@pytest.mark.parametrize("kwargs, message", [
    ({"intervals": 5}, "too few"), ({"intervals": -1}, "intervals"),
    ({"intervals": 20, "interval_level": 1.5}, "interval_level"),
    ({"intervals": 20, "seed": -2}, "seed")])
def test_bad_arguments(store, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        attribute(store, "linear", targets="pipeline", **kwargs)


def test_cli_writes_interval_columns(store, tmp_path, capsys):
    t, j = store
    from attribution import write_store

    write_store(tmp_path / "store", t, j)
    code = main(["attribute", str(tmp_path / "store"), "--models", "linear,shapley",
                 "--target", "pipeline", "--intervals", "20", "--interval-level", "0.9",
                 "--seed", "3", "--quiet", "--out", str(tmp_path / "out")])
    assert code == 0
    cc = pq.read_table(tmp_path / "out" / "channel_credit.parquet").to_pandas()
    assert {"credit_lo", "credit_hi"} <= set(cc.columns)
    assert (cc.credit_lo <= cc.credit + 1e-6).all()


def test_credit_draws_are_what_the_intervals_are_percentiles_of(store):
    r = attribute(store, ["linear", "markov"], targets=["pipeline", "revenue"],
                  intervals=40, interval_level=0.8, seed=2)
    d = r.credit_draws
    assert list(d.columns) == ["model", "target", "quarter", "channel", "draw",
                               "credit"]
    cc = r.channel_credit
    assert len(d) == 40 * len(cc)  # every channel_credit row, every resample
    keys = ["model", "target", "quarter", "channel"]
    wide = d.pivot_table(index=keys, columns="draw", values="credit")
    assert list(wide.columns) == list(range(40))
    wide = wide.loc[pd.MultiIndex.from_frame(cc[keys])].to_numpy()
    lo, hi = np.quantile(wide, [0.1, 0.9], axis=1)
    np.testing.assert_allclose(lo, cc.credit_lo, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(hi, cc.credit_hi, rtol=1e-12, atol=1e-9)
    # each resample's credit of a model sums to that resample's total, and the
    # resamples differ from one another
    sums = d.pivot_table(index=["target", "draw"], columns="model", values="credit",
                         aggfunc="sum")
    np.testing.assert_allclose(sums["linear"], sums["markov"], rtol=1e-9)
    assert sums["linear"].max() > sums["linear"].min()


def test_credit_draws_deterministic_and_written(store, tmp_path):
    a = attribute(store, ["linear", "shapley"], targets="pipeline", intervals=20,
                  seed=4)
    b = attribute(store, ["linear", "shapley"], targets="pipeline", intervals=20,
                  seed=4)
    c = attribute(store, ["linear", "shapley"], targets="pipeline", intervals=20,
                  seed=5)
    pd.testing.assert_frame_equal(a.credit_draws, b.credit_draws)
    assert not np.allclose(a.credit_draws.credit, c.credit_draws.credit)
    out = a.to_dir(tmp_path / "out")
    back = pq.read_table(out / "credit_draws.parquet").to_pandas()
    np.testing.assert_array_equal(back.credit, a.credit_draws.credit)
    assert back.channel.tolist() == a.credit_draws.channel.tolist()
    plain = attribute(store, "linear", targets="pipeline")
    assert plain.credit_draws.empty and "credit_lo" not in plain.channel_credit
    assert not (plain.to_dir(tmp_path / "plain") / "credit_draws.parquet").exists()
