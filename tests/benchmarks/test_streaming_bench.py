"""The streaming benchmark at a tiny scale, so that it never rots."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from attribution import attribute, open_store
from benchmarks import streaming as bench


def test_chunked_store_is_a_valid_partitioned_store(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "CHUNK_JOURNEYS", 400)
    monkeypatch.setattr("attribution.store.TOUCHES_PER_PARTITION", 8_000)
    info = bench.build_store(tmp_path / "s", 20_000, seed=1)
    store = tmp_path / "s"
    parts = sorted((store / "touches").glob("part-*.parquet"))
    assert len(parts) == info["partitions"] == 3
    assert info["touches"] == sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    columnar = open_store(store).columnar()  # validates: sorted, unique ids, joins
    assert columnar.n_touches == info["touches"]
    assert columnar.n_journeys == info["journeys"]
    # a journey and its account stay in one part
    accounts = [set(pq.read_table(p, columns=["account_id"]).column(0).to_pylist())
                for p in sorted((store / "journeys").glob("part-*.parquet"))]
    assert not set.intersection(*accounts)


def test_measure_reports_steps_and_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "CHUNK_JOURNEYS", 500)
    monkeypatch.setattr("attribution.store.TOUCHES_PER_PARTITION", 6_000)
    bench.build_store(tmp_path / "s", 12_000)
    m = bench._fresh(tmp_path / "s", tmp_path / "out", "streaming", "linear,markov")
    assert set(m["steps"]) == {"channels", "fit pass", "credit pass + write"}
    assert m["peak_rss_mb"] > 0 and m["credit_rows"] > 0
    ref = attribute(tmp_path / "s", ["linear", "markov"], engine="memory")
    assert m["credit_rows"] == ref.credit_table.num_rows
    md = bench._markdown([{"touches_target": 12_000, "engine": "streaming",
                           "models": "linear,markov", "measure": m,
                           "store": json.loads((tmp_path / "s" / "benchmark.json")
                                               .read_text())}], "test machine")
    assert "| streaming |" in md
