"""The streaming engine: partition by partition, identical to the in-memory engine."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attribution._streaming as streaming
from attribution import (
    TARGETS,
    Markov,
    Model,
    SchemaError,
    TouchlineError,
    attribute,
    attribute_to_dir,
    get_model,
    open_store,
    registered_models,
    write_store,
)
from attribution.models import ModelCredit
from attribution.models import base as model_base
from attribution.synth import synthesize
from touchline.cli import main

from .conftest import random_stores

MODELS = registered_models()
#: Models that stream (not falling back to the whole store): the slow fitted ones
#: are checked once each, by the per-model test, and left out of the other tests.
STREAMED = [m for m in MODELS if streaming.model_plan(get_model(m)()) != "whole"]
QUARTERS = ["2025Q4", "2026Q1", "2026Q2"]
KEYS = ["quarter", "target", "journey_id", "touch_index"]
TEXT = ["journey_id", "channel", "campaign", "content", "interaction", "target",
        "quarter"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The same synthetic data as one file and as 5 partitions."""
    root = tmp_path_factory.mktemp("stores")
    touches, journeys = synthesize(1500, seed=11)
    single = write_store(root / "single", touches, journeys)
    parted = write_store(root / "parted", touches, journeys, partitions=5)
    return single, parted


def canonical_credit(result) -> pd.DataFrame:
    frame = result.credit.astype({c: str for c in TEXT})
    return frame.sort_values(KEYS).reset_index(drop=True)


def assert_same(a, b) -> None:
    """Every table of two runs agrees to 1e-9 (credit rows in any order)."""
    pd.testing.assert_frame_equal(a.channel_credit, b.channel_credit, rtol=1e-9,
                                  atol=1e-9)
    pd.testing.assert_frame_equal(a.removal_effects, b.removal_effects, rtol=1e-9,
                                  atol=1e-12)
    pd.testing.assert_frame_equal(a.totals, b.totals, rtol=1e-9)
    pd.testing.assert_frame_equal(canonical_credit(a), canonical_credit(b), rtol=1e-9,
                                  atol=1e-9)
    assert set(a.models) == set(b.models)
    assert a.run["model_columns"] == b.run["model_columns"]


def test_partitioned_store_is_partitioned(stores):
    single, parted = stores
    assert (single / "touches.parquet").is_file()
    assert len(list((parted / "touches").glob("part-*.parquet"))) == 5
    assert streaming.pick_engine(parted) == "streaming"
    assert streaming.pick_engine(single) == "memory"
    assert streaming.pick_engine(str(parted), "memory") == "memory"


@pytest.mark.parametrize("model", MODELS)
def test_streaming_equals_memory_for_every_model_and_target(model, stores):
    single, parted = stores
    whole = streaming.model_plan(get_model(model)()) == "whole"
    # fitted models that fall back to the whole store are slow: one quarter is enough
    kw = dict(targets=list(TARGETS), quarters=QUARTERS[1:2] if whole else QUARTERS)
    memory = attribute(single, model, **kw)
    streamed = attribute(parted, model, **kw)
    assert streamed.run["engine"] == "streaming"
    assert streamed.run["partitions"] == 5
    assert streamed.run["whole_store_models"] == ([model] if whole else [])
    assert_same(memory, streamed)


def test_all_models_together_with_options(stores):
    single, parted = stores
    kw = dict(targets=["pipeline", "revenue"], lookback_days=60,
              exclude_channels=["Direct", "Paid Search"],
              reporting_tz="America/New_York",
              fiscal_year_start=2, quarters=["2026Q1", "2026Q2"])
    models = ["all", Markov(order=2), Markov(order=1, collapse_repeats=False)]
    with pytest.raises(TouchlineError, match="given twice"):
        attribute(parted, models, **kw)
    models = [*(m for m in STREAMED if m != "markov"), Markov(order=2)]
    assert_same(attribute(single, models, **kw), attribute(parted, models, **kw))


def test_streaming_engine_on_a_single_file_and_in_memory_store(stores, hand_store):
    single, _ = stores
    assert_same(attribute(single, STREAMED, engine="memory"),
                attribute(single, STREAMED, engine="streaming"))
    a = attribute(hand_store, "all", engine="memory")
    b = attribute(hand_store, "all", engine="streaming")
    assert b.run["partitions"] == 1
    assert_same(a, b)


def test_one_partition_in_memory_at_a_time(stores, monkeypatch):
    """No columnar build ever sees more touches than the largest part."""
    _, parted = stores
    largest = max(pq.ParquetFile(f).metadata.num_rows
                  for f in (parted / "touches").glob("part-*.parquet"))
    seen = []
    real = streaming.build_columnar

    def spy(touches, journeys, **kw):
        seen.append(touches.num_rows)
        return real(touches, journeys, **kw)

    monkeypatch.setattr(streaming, "build_columnar", spy)
    models = [m for m in MODELS if streaming.model_plan(get_model(m)()) != "whole"]
    attribute(parted, models, targets=list(TARGETS))
    assert seen and max(seen) == largest
    # fit pass (global models only) + credit pass: one read of each partition each
    assert len(seen) == (10 if "markov" in models else 5)


def test_attribute_to_dir_streams_the_same_files(stores, tmp_path):
    single, parted = stores
    kw = dict(models=STREAMED, targets=["pipeline", "revenue"], quarters=QUARTERS)
    memory = attribute_to_dir(single, tmp_path / "memory", **kw)
    streamed = attribute_to_dir(parted, tmp_path / "streamed", **kw)
    for name in ("credit.parquet", "channel_credit.parquet", "removal_effects.parquet"):
        a = pq.read_table(memory / name).to_pandas()
        b = pq.read_table(streamed / name).to_pandas()
        if name == "credit.parquet":
            a, b = (x.astype({c: str for c in TEXT}).sort_values(KEYS).reset_index(
                drop=True) for x in (a, b))
        pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)
    assert pq.read_schema(memory / "credit.parquet") == pq.read_schema(
        streamed / "credit.parquet")
    run = json.loads((streamed / "run.json").read_text())
    assert run["engine"] == "streaming" and run["partitions"] == 5
    assert sorted(run["inputs"]) == sorted(
        str(p.relative_to(parted)) for p in parted.rglob("*.parquet"))
    # a rerun is byte-identical
    again = attribute_to_dir(parted, tmp_path / "again", **kw)
    assert (again / "credit.parquet").read_bytes() == (
        streamed / "credit.parquet").read_bytes()


SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frames=random_stores(max_journeys=16), parts=st.integers(1, 6))
def test_partitioning_changes_no_credit(frames, parts):
    """Random stores (weights, timeless paths, journeys with no touch, open deals,
    empty partitions) give the same credit whole and in parts."""
    models = [m for m in STREAMED
              if not (get_model(m).needs_time and frames[0]["ts"].isna().all())]
    models.append(_TouchShare())  # the whole-store fallback, on the same edge cases
    with tempfile.TemporaryDirectory() as tmp:
        path = write_store(Path(tmp) / "s", *frames, partitions=parts)
        a = attribute(frames, models, targets=list(TARGETS))
        b = attribute(path, models, targets=list(TARGETS))
        assert_same(a, b)


def test_time_decay_refuses_timeless_paths_when_streaming(tmp_path):
    frames = (pd.DataFrame({"journey_id": ["a", "a"], "channel": ["x", "y"],
                            "seq": [0, 1]}),
              pd.DataFrame({"journey_id": ["a"], "won": [True],
                            "revenue_amount": [10.0]}))
    path = write_store(tmp_path / "s", *frames, partitions=2)
    with pytest.raises(TouchlineError, match="timeless"):
        attribute(path, "time_decay", "revenue")


# ----------------------------------------------------------------- models of each plan
def _share_stats(problem):
    """Attributable amount, Σw over converting touches, and Σw per channel."""
    w = problem.weight[problem.conv_rows][problem.conv.row].astype(float)
    by = np.bincount(problem.conv_channel, weights=w, minlength=problem.n_channels)
    return np.concatenate([[problem.total - problem.unattributed, w.sum()], by])


class _TouchShare(Model):
    """A global model for tests: every eligible converting touch in the store gets
    the same share of the attributable total. It learns in ``fit``, so it must see
    every partition."""

    name = "_test_touch_share"
    per_journey = False

    def __init__(self) -> None:
        pass

    def fit(self, problem):
        super().fit(problem)
        self.stats_ = _share_stats(problem)
        return self

    def _credit(self, problem):
        per = self.stats_[0] / self.stats_[1] if self.stats_[1] else 0.0
        touch = per * problem.weight[problem.conv_rows][problem.conv.row]
        return ModelCredit(touch=touch, by_channel=np.bincount(
            problem.conv_channel, weights=touch, minlength=problem.n_channels))


model_base._REGISTRY.pop(_TouchShare.name)  # test-only: keep the registry clean


class _TouchSharePartitioned(_TouchShare):
    """The same model with partition support (the PartitionedModel protocol)."""

    def partition_stats(self, problem):
        return _share_stats(problem)

    def fit_partitions(self, stats, channels, target):
        self.stats_, self.fitted_target_ = stats, target
        return self

    def partition_credit(self, problem):
        return self._credit(problem).touch

    def channel_totals(self):
        per = self.stats_[0] / self.stats_[1] if self.stats_[1] else 0.0
        return self.stats_[2:] * per, 0.0


model_base._REGISTRY.pop(_TouchSharePartitioned.name)


def test_models_are_planned_by_what_they_support():
    assert streaming.model_plan(get_model("linear")()) == "journey"
    assert streaming.model_plan(Markov(order=2)) == "partitioned"
    assert streaming.model_plan(_TouchShare()) == "whole"
    assert streaming.model_plan(_TouchSharePartitioned()) == "partitioned"
    assert isinstance(_TouchSharePartitioned(), streaming.PartitionedModel)
    assert streaming.model_plan(get_model("incremental")()) == "sampled"


def test_incremental_fits_the_same_sample_on_both_engines(stores):
    single, parted = stores
    model = get_model("incremental")(fit_sample=600, baseline=True)
    kw = dict(targets=["pipeline", "revenue"])
    memory = attribute(single, model, **kw)
    streamed = attribute(parted, model, **kw)
    assert streamed.run["whole_store_models"] == []
    assert_same(memory, streamed)
    assert "(baseline)" in set(streamed.channel_credit["channel"])
    for run in (memory.run, streamed.run):
        assert [d["fit_sample"] for d in run["diagnostics"]] == [
            {"journeys": 600, "of": 1500}] * 2


def test_journey_samples_add_up_in_any_order(stores):
    from attribution._columnar import smallest_hashes

    single, parted = stores
    whole = open_store(single).columnar()
    parts = [streaming.read_partition(p, whole.channels)
             for p in streaming.list_parts(parted)]
    samples = [streaming.JourneySample.of(c, 250) for c in parts]
    forward = samples[0]
    for s in samples[1:]:
        forward = forward + s
    backward = samples[-1]
    for s in reversed(samples[:-1]):
        backward = s + backward
    expect = whole.journey_ids.take(smallest_hashes(whole.journey_ids, 250))
    for total in (forward, backward):
        got = total.columnar.journey_ids
        assert got.take(smallest_hashes(got, 250)).equals(expect)
        assert total.seen == whole.n_journeys


@pytest.mark.parametrize("cls", [_TouchShare, _TouchSharePartitioned],
                         ids=["whole_store_fallback", "partition_protocol"])
def test_global_models_with_and_without_partition_support(cls, stores):
    single, parted = stores
    kw = dict(targets=["pipeline", "revenue"], quarters=QUARTERS)
    models = ["linear", _TouchShare(), "markov"]
    a = attribute(single, models, **kw)
    b = attribute(parted, ["linear", cls(), "markov"], **kw)
    expect = ["_test_touch_share"] if cls is _TouchShare else []
    assert b.run["whole_store_models"] == expect
    assert_same(a, b)


# ----------------------------------------------------------------- layout and errors
def test_write_store_partitions_large_stores_automatically(tmp_path, monkeypatch):
    touches, journeys = synthesize(300, seed=2)
    monkeypatch.setattr("attribution.store.AUTO_PARTITION_TOUCHES", 1000)
    monkeypatch.setattr("attribution.store.TOUCHES_PER_PARTITION", 1500)
    path = write_store(tmp_path / "auto", touches, journeys)
    parts = sorted((path / "touches").glob("part-*.parquet"))
    assert len(parts) == -(-touches.num_rows // 1500)
    assert json.loads((path / "manifest.json").read_text())["layout"] == "partitioned"
    small = write_store(tmp_path / "small", *synthesize(20, seed=2))
    assert (small / "touches.parquet").is_file()


def test_unknown_engine_and_mismatched_parts(stores, tmp_path):
    _, parted = stores
    with pytest.raises(TouchlineError, match="not an engine; choose from auto, memory"):
        attribute(parted, "linear", engine="spark")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(parted, broken)
    (broken / "journeys" / "part-00002.parquet").unlink()
    with pytest.raises(SchemaError, match=r"part-00002\.parquet on one side only"):
        attribute(broken, "linear")
    with pytest.raises(TouchlineError, match="not supported by the streaming"):
        attribute_to_dir(parted, tmp_path / "x", "linear", engine="streaming",
                         intervals=100)


def test_cli_attribute_streams_partitioned_stores(stores, tmp_path, capsys):
    single, parted = stores
    out = tmp_path / "credit"
    code = main(["attribute", str(parted), "--models", "linear,markov", "--target",
                 "pipeline", "--quarter", "2026Q1", "--out", str(out)])
    assert code == 0
    message = capsys.readouterr().err.strip()
    assert message.startswith("wrote credit") and message.endswith(f" to {out}")
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "streaming"
    ref = attribute(single, ["linear", "markov"], "pipeline", quarters="2026Q1")
    got = pq.read_table(out / "channel_credit.parquet").to_pandas()
    pd.testing.assert_frame_equal(ref.channel_credit, got, rtol=1e-9)
    code = main(["attribute", str(parted), "--engine", "memory", "--models", "linear",
                 "--out", str(tmp_path / "mem"), "--quiet"])
    assert code == 0
    assert "engine" not in json.loads((tmp_path / "mem" / "run.json").read_text())
    code = main(["attribute", str(parted), "--engine", "spark", "--out",
                 str(tmp_path / "bad")])
    assert code == 2
    assert "argument --engine: invalid choice: 'spark'" in capsys.readouterr().err


def test_markov_graph_and_effects_come_from_the_summed_counts(stores):
    single, parted = stores
    a = attribute(single, "markov", "pipeline")
    b = attribute(parted, "markov", "pipeline")
    ga, gb = a.graph, b.graph
    assert set(ga.edges) == set(gb.edges)
    for u, v in ga.edges:
        assert ga[u][v]["count"] == pytest.approx(gb[u][v]["count"], rel=1e-12)
    assert open_store(parted).columnar().n_touches == open_store(
        single).columnar().n_touches


def test_all_on_timeless_paths_leaves_out_time_decay_as_in_memory(tmp_path):
    from attribution import TouchlineWarning

    frames = (pd.DataFrame({"journey_id": ["a", "a", "b"], "channel": ["x", "y", "x"],
                            "seq": [0, 1, 0]}),
              pd.DataFrame({"journey_id": ["a", "b"], "won": [True, False],
                            "revenue_amount": [10.0, 0.0]}))
    path = write_store(tmp_path / "s", *frames, partitions=2)
    with pytest.warns(TouchlineWarning, match="time_decay left out"):
        a = attribute(frames, "all", "revenue")
    with pytest.warns(TouchlineWarning, match="time_decay left out"):
        b = attribute(path, "all", "revenue")
    assert "time_decay" not in b.run["model_columns"]
    assert_same(a, b)


def test_samples_sharing_pieces_can_each_be_read(stores):
    _, parted = stores
    channels = open_store(parted).columnar().channels
    a, b = (streaming.JourneySample.of(streaming.read_partition(p, channels), 10_000)
            for p in streaming.list_parts(parted)[:2])
    one = a + b
    streaming.JourneySample._last_sum = None  # as when another process added them
    two = a + b
    assert one is not two and one.pieces[0] is two.pieces[0]
    assert one.columnar.journey_ids.equals(two.columnar.journey_ids)
    assert one.columnar.n_touches == a.columnar.n_touches + b.columnar.n_touches
