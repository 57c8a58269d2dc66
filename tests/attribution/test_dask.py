"""The Dask engine: the same partition tasks on a two-worker LocalCluster."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from attribution import (
    TARGETS,
    TouchlineError,
    attribute,
    attribute_to_dir,
    registered_models,
    write_store,
)
from attribution.synth import synthesize
from touchline.cli import main

from .test_streaming import KEYS, QUARTERS, STREAMED, TEXT, assert_same

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")

MODELS = registered_models()
PARTS = 4


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask-stores")
    touches, journeys = synthesize(1200, seed=5)
    single = write_store(root / "single", touches, journeys)
    parted = write_store(root / "parted", touches, journeys, partitions=PARTS)
    return single, parted


@pytest.mark.parametrize("model", MODELS)
def test_dask_equals_local_for_every_model_and_target(model, stores, client):
    single, parted = stores
    whole = model not in STREAMED
    kw = dict(targets=list(TARGETS), quarters=QUARTERS[1:2] if whole else QUARTERS)
    local = attribute(single, model, **kw)
    remote = attribute(parted, model, engine="dask", client=client, **kw)
    assert remote.run["engine"] == "dask"
    assert_same(local, remote)


def test_a_client_alone_picks_dask(stores, client):
    single, parted = stores
    r = attribute(parted, ["linear", "markov"], "pipeline", client=client)
    assert r.run["engine"] == "dask"
    assert_same(attribute(single, ["linear", "markov"], "pipeline"), r)


def test_one_task_per_partition_and_a_tree_reduction(stores, client):
    _, parted = stores
    with distributed.get_task_stream(client) as ts:
        attribute(parted, ["linear", "markov"], ["pipeline", "revenue"], client=client)
    keys = [t["key"] for t in ts.data]
    names = [k if isinstance(k, str) else k[0] for k in keys]

    def count(prefix):
        return sum(n.startswith(f"touchline-{prefix}-") for n in names)

    assert count("part_channels") == PARTS
    assert count("fit_partition") == PARTS
    assert count("credit_partition") == PARTS
    # a binary tree over 4 parts: 2 + 1 combining tasks, per reduced map
    assert count("reduce-fit_partition") == PARTS - 1
    assert count("reduce-part_channels") == PARTS - 1


def test_reads_parts_through_fsspec_urls(stores, client):
    """Workers open the part files by URL (here fsspec's in-memory filesystem)."""
    single, parted = stores
    mem = fsspec.filesystem("memory")
    for f in parted.rglob("*.parquet"):
        mem.pipe(f"/store/{f.relative_to(parted).as_posix()}", f.read_bytes())
    kw = dict(targets=["pipeline", "revenue"], quarters=QUARTERS)
    remote = attribute("memory://store", STREAMED, engine="dask", client=client, **kw)
    assert remote.run["store"] == "memory://store"
    assert sorted(remote.run["inputs"]) == sorted(
        f.relative_to(parted).as_posix() for f in parted.rglob("*.parquet"))
    assert_same(attribute(single, STREAMED, **kw), remote)
    # the local streaming engine reads URLs too
    assert_same(attribute(single, STREAMED, **kw),
                attribute("memory://store", STREAMED, **kw))


def test_attribute_to_dir_and_cli_on_a_scheduler(stores, cluster, client, tmp_path,
                                                 capsys):
    single, parted = stores
    out = attribute_to_dir(parted, tmp_path / "dask", STREAMED, ["pipeline", "revenue"],
                           client=client)
    ref = attribute_to_dir(single, tmp_path / "memory", STREAMED,
                           ["pipeline", "revenue"])
    a = pq.read_table(ref / "credit.parquet").to_pandas().astype(
        {c: str for c in TEXT}).sort_values(KEYS).reset_index(drop=True)
    b = pq.read_table(out / "credit.parquet").to_pandas().astype(
        {c: str for c in TEXT}).sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, rtol=1e-9, atol=1e-9)
    code = main(["attribute", str(parted), "--engine", "dask", "--scheduler",
                 cluster.scheduler_address, "--models", "linear,markov", "--quiet",
                 "--out", str(tmp_path / "cli")])
    assert code == 0
    assert json.loads((tmp_path / "cli" / "run.json").read_text())["engine"] == "dask"
    got = pq.read_table(tmp_path / "cli" / "channel_credit.parquet").to_pandas()
    want = attribute(single, ["linear", "markov"]).channel_credit
    pd.testing.assert_frame_equal(want, got, rtol=1e-9)


def test_errors_in_a_partition_task_reach_the_caller(stores, client, tmp_path):
    _, parted = stores
    bad = tmp_path / "bad"
    import shutil

    shutil.copytree(parted, bad)
    (bad / "touches" / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(TouchlineError, match=r"part-00001\.parquet: cannot be read"):
        attribute(bad, "linear", engine="dask", client=client)


def test_missing_dask_is_one_clear_error(stores, monkeypatch):
    _, parted = stores
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(TouchlineError, match=r"pip install 'touchline\[dask\]'"):
        attribute(parted, "linear", engine="dask")
    assert main(["attribute", str(parted), "--engine", "dask", "--out",
                 str(parted.parent / "nodask")]) == 2
