"""The synthetic store generator: determinism, schema, and the shape of the data."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from attribution.store import JOURNEY_SCHEMA, TOUCH_SCHEMA, open_store
from attribution.synth import synthesize, write_synthetic_store

N = 3_000


@pytest.fixture(scope="module")
def tables() -> tuple[pa.Table, pa.Table]:
    return synthesize(N, seed=7)


def _lengths(touches: pa.Table, journeys: pa.Table) -> np.ndarray:
    """Touches per journey, in journey order (touches are grouped by journey)."""
    where = pc.index_in(touches.column("journey_id"), value_set=journeys.column(
        "journey_id")).to_numpy()
    return np.bincount(where, minlength=journeys.num_rows)


def _us(table: pa.Table, name: str) -> np.ndarray:
    """A timestamp column as int64 microseconds, NaT as the int64 minimum."""
    col = table.column(name).cast(pa.int64())
    return pc.fill_null(col, np.iinfo(np.int64).min).to_numpy()


def test_same_seed_gives_identical_tables(tables):
    touches, journeys = synthesize(N, seed=7)
    assert touches.equals(tables[0])
    assert journeys.equals(tables[1])


def test_different_seed_gives_different_tables(tables):
    touches, journeys = synthesize(N, seed=8)
    assert not touches.equals(tables[0])
    assert not journeys.equals(tables[1])


def test_schemas_match_the_store_contract(tables):
    touches, journeys = tables
    assert touches.schema.equals(TOUCH_SCHEMA)
    assert journeys.schema.equals(JOURNEY_SCHEMA)
    assert journeys.num_rows == N


def test_ids_and_constants(tables):
    touches, journeys = tables
    ids = journeys.column("journey_id").to_pylist()
    assert ids[:2] == ["J0000001", "J0000002"]
    assert ids == sorted(ids)  # zero padding: lexical order is numeric order
    assert journeys.column("account_id")[0].as_py().startswith("A")
    assert set(touches.column("source").to_pylist()) == {"synth"}
    assert touches.column("source_ref")[5].as_py() == "synth:touch:5"
    assert set(journeys.column("currency").to_pylist()) == {"USD"}
    assert set(journeys.column("weight").to_pylist()) == {1}
    assert touches.column("channel").null_count == 0
    assert pc.count_distinct(touches.column("channel")).as_py() == 15
    # several journeys per account, a few people per account
    assert pc.count_distinct(journeys.column("account_id")).as_py() < N / 2
    assert pc.count_distinct(touches.column("person_id")).as_py() > N / 2


def test_touches_per_journey(tables):
    lengths = _lengths(*tables)
    assert lengths.min() >= 1
    assert lengths.max() <= 80
    assert 13 <= np.median(lengths) <= 17
    assert np.percentile(lengths, 99) > 30  # a long tail


def test_touches_sorted_by_time_with_seq_in_journey(tables):
    touches, journeys = tables
    lengths = _lengths(touches, journeys)
    journey = np.repeat(np.arange(journeys.num_rows), lengths)
    ts = _us(touches, "ts")
    same = journey[1:] == journey[:-1]
    assert (np.diff(ts)[same] >= 0).all()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    seq = touches.column("seq").to_numpy()
    np.testing.assert_array_equal(seq, np.arange(len(seq)) - starts[journey])
    # the touches follow the journeys' order
    first = touches.column("journey_id").take(pa.array(starts))
    assert first.equals(journeys.column("journey_id"))


def test_milestones_are_consistent(tables):
    _, journeys = tables
    lead = journeys.column("lead_created_at").is_valid().to_numpy(zero_copy_only=False)
    opp = journeys.column("opportunity_created_at").is_valid().to_numpy(
        zero_copy_only=False)
    closed = journeys.column("closed_at").is_valid().to_numpy(zero_copy_only=False)
    won = journeys.column("won").to_numpy(zero_copy_only=False)
    assert not (won & ~closed).any()  # won => closed_at
    assert not (closed & ~opp).any()  # closed_at => opportunity_created_at
    assert not (opp & ~lead).any()
    assert (_us(journeys, "closed_at")[closed] > _us(journeys, "opportunity_created_at")
            [closed]).all()
    assert 0.25 <= opp.mean() <= 0.35  # converting journeys
    assert (~opp).sum() > N / 2  # non-converting journeys are the majority
    assert (opp & ~closed).any()  # open opportunities
    assert won.any() and (closed & ~won).any()  # won and lost deals
    assert 0.2 <= won.sum() / closed.sum() <= 0.4


def test_amounts(tables):
    _, journeys = tables
    pipeline = journeys.column("pipeline_amount").to_numpy()
    revenue = journeys.column("revenue_amount").to_numpy()
    opp = journeys.column("opportunity_created_at").is_valid().to_numpy(
        zero_copy_only=False)
    won = journeys.column("won").to_numpy(zero_copy_only=False)
    assert np.isfinite(pipeline).all() and np.isfinite(revenue).all()
    assert (pipeline >= 0).all() and (revenue >= 0).all()
    assert (pipeline[opp] > 0).all() and (pipeline[~opp] == 0).all()
    assert (revenue[won] > 0).all() and (revenue[~won] == 0).all()
    assert (revenue <= pipeline).all()
    assert 15_000 <= np.median(pipeline[opp]) <= 60_000


def test_touches_respect_milestones(tables):
    touches, journeys = tables
    lengths = _lengths(touches, journeys)
    journey = np.repeat(np.arange(journeys.num_rows), lengths)
    ts = _us(touches, "ts")
    lo = _us(journeys, "lead_created_at")  # placeholders for null: int64 minimum
    opp_at = _us(journeys, "opportunity_created_at")[journey]
    closed_at = _us(journeys, "closed_at")[journey]
    in_opp = opp_at != np.iinfo(np.int64).min
    is_closed = closed_at != np.iinfo(np.int64).min
    assert (ts[is_closed] <= closed_at[is_closed]).all()
    after = in_opp & (ts > opp_at)
    assert after.any() and (in_opp & ~after).any()
    channel = touches.column("channel").to_numpy(zero_copy_only=False)
    sales = channel == "Sales Outreach"
    # sales touches cluster after opportunity creation
    assert sales[after].mean() > 3 * sales[~after].mean()
    # the lead touch is at lead_created_at, usually a form fill
    has_lead = lo != np.iinfo(np.int64).min
    at_lead = has_lead[journey] & (ts == lo[journey])
    assert np.unique(journey[at_lead]).size == has_lead.sum()
    interaction = touches.column("interaction").to_numpy(zero_copy_only=False)
    assert (interaction[at_lead] == "form_fill").mean() > 0.7


def test_channel_mix_shifts_with_stage(tables):
    touches, journeys = tables
    lengths = _lengths(touches, journeys)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    channel = touches.column("channel").to_numpy(zero_copy_only=False)
    first, last = channel[starts], channel[starts + lengths - 1]
    assert (first == "Display").mean() > 2 * (last == "Display").mean()
    assert (last == "Direct").mean() > (first == "Direct").mean()


def test_timestamps_inside_the_window():
    touches, journeys = synthesize(500, seed=1, start="2026-01-01", end="2026-04-01")
    lo = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    hi = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    for table, names in ((touches, ["ts"]), (journeys, [
            "lead_created_at", "opportunity_created_at", "closed_at"])):
        for name in names:
            col = table.column(name)
            assert lo <= pc.min(col).as_py() <= pc.max(col).as_py() <= hi


def test_zero_journeys():
    touches, journeys = synthesize(0)
    assert touches.num_rows == 0 and journeys.num_rows == 0
    assert touches.schema.equals(TOUCH_SCHEMA)


@pytest.mark.parametrize("bad", [-1, 2.5, "10", True])
def test_bad_n_journeys(bad):
    with pytest.raises(ValueError, match="n_journeys"):
        synthesize(bad)


def test_bad_window():
    with pytest.raises(ValueError, match="before"):
        synthesize(10, start="2026-01-01", end="2025-01-01")


def test_write_synthetic_store(tmp_path):
    out = write_synthetic_store(tmp_path / "store", 300, seed=2)
    assert out == tmp_path / "store"
    assert (out / "touches.parquet").is_file()
    assert (out / "journeys.parquet").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["synthetic"] == {"journeys": 300, "seed": 2}
    assert manifest["counts"]["journeys"] == 300
    store = open_store(out)
    touches, _ = synthesize(300, seed=2)
    assert store.columnar().n_journeys == 300
    assert store.columnar().n_touches == touches.num_rows


def test_write_synthetic_store_partitioned(tmp_path):
    out = write_synthetic_store(tmp_path / "store", 300, seed=2, partitions=3)
    assert (out / "manifest.json").is_file()
    for name in ("touches", "journeys"):
        parts = sorted(p.name for p in (out / name).glob("part-*.parquet"))
        assert parts == ["part-00000.parquet", "part-00001.parquet",
                         "part-00002.parquet"]
    store = open_store(out)
    assert store.columnar().n_journeys == 300
