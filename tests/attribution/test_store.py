"""Reading and validating stores: both layouts, bad stores, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attribution import SchemaError, attribute, open_store, write_store
from attribution.exceptions import OutputPathError

from .conftest import day


def good():
    t = pd.DataFrame(
        {
            "journey_id": ["b", "a", "a"],
            "ts": [day(1), day(2), day(1)],
            "seq": [0, 1, 0],
            "channel": ["x", "y", "z"],
            "account_id": None,
        }
    )
    j = pd.DataFrame(
        {
            "journey_id": ["b", "a"],
            "account_id": ["acc1", None],
            "opportunity_created_at": [day(3), day(3)],
            "pipeline_amount": [10.0, 20.0],
        }
    )
    return t.drop(columns="account_id"), j


def test_unsorted_input_is_sorted():
    c = open_store(good()).columnar()
    assert c.journey_ids.to_pylist() == ["a", "b"]
    assert c.offsets.tolist() == [0, 2, 3]
    assert c.channels[c.channel].tolist() == ["z", "y", "x"]


def test_write_and_read_back_both_layouts(tmp_path):
    t, j = good()
    single = write_store(tmp_path / "s", t, j)
    parts = write_store(tmp_path / "p", t, j, partitions=3)
    assert (single / "touches.parquet").exists()
    assert (
        sorted(p.name for p in (parts / "touches").iterdir())[0] == "part-00000.parquet"
    )
    manifest = json.loads((single / "manifest.json").read_text())
    assert manifest["schema_version"] == 1
    a = attribute(single, "linear", targets="pipeline").channel_credit
    b = attribute(parts, "linear", targets="pipeline").channel_credit
    pd.testing.assert_frame_equal(a, b)


def test_rewrite_is_byte_identical(tmp_path):
    t, j = good()
    write_store(tmp_path / "a", t, j)
    write_store(tmp_path / "b", t, j)
    for name in ("touches.parquet", "journeys.parquet", "rejects.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (
            tmp_path / "b" / name
        ).read_bytes()


def test_never_replaces_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("precious")
    t, j = good()
    with pytest.raises(OutputPathError, match="did not write"):
        write_store(tmp_path / "mine", t, j)
    assert (tmp_path / "mine" / "thesis.docx").read_text() == "precious"


def test_failed_write_leaves_previous_store(tmp_path):
    t, j = good()
    out = write_store(tmp_path / "s", t, j)
    before = (out / "touches.parquet").read_bytes()
    bad = j.assign(pipeline_amount=[np.nan, 1.0])
    with pytest.raises(SchemaError):
        write_store(out, t, bad)
    assert (out / "touches.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary left behind


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t, j: (t.drop(columns="channel"), j), r"missing column\(s\) channel"),
        (lambda t, j: (t, pd.concat([j, j.iloc[:1]])), r"duplicate values: 'b'"),
        (lambda t, j: (t.assign(journey_id=["b", "a", "zz"]), j), r"no row in .*'zz'"),
        (
            lambda t, j: (t, j.assign(pipeline_amount=[np.inf, 1.0])),
            r"pipeline_amount must be a finite amount >= 0 .*; found inf",
        ),
        (lambda t, j: (t, j.assign(pipeline_amount=[-5.0, 1.0])), r"found -5.0"),
        (lambda t, j: (t, j.assign(won=[True, False])), r"closed_at is null for won"),
        (lambda t, j: (t.assign(channel=["x", None, "z"]), j), r"channel is null"),
        (
            lambda t, j: (t.assign(ts=["2026-01-01", "x", "y"]), j),
            r"column ts has type",
        ),
        (lambda t, j: (t, j.assign(weight=[0, 1])), r"weight must be a whole number"),
    ],
)
def test_bad_stores_name_file_column_and_values(tmp_path, change, match):
    t, j = change(*good())
    with pytest.raises(SchemaError, match=match):
        open_store((t, j)).columnar()
    # the writer checks the same rules in either layout, writing nothing
    for partitions in (None, 3):
        with pytest.raises(SchemaError, match=match):
            write_store(tmp_path / "out", t, j, partitions=partitions)
        assert not list(tmp_path.iterdir())


def test_partitioned_writer_finds_an_id_repeated_across_parts(tmp_path):
    t, j = good()
    twice = pd.concat([j, j.iloc[1:].assign(account_id="elsewhere")])
    with pytest.raises(SchemaError, match=r"journeys: column journey_id has duplicate "
                                          r"values: 'a'"):
        write_store(tmp_path / "out", t, twice, partitions=4)
    assert not list(tmp_path.iterdir())


def test_partitioned_writer_keeps_dictionary_columns_as_strings(tmp_path):
    t, j = good()
    t["channel"] = t["channel"].astype("category")  # arrives dictionary-encoded
    out = write_store(tmp_path / "p", t, j, partitions=2)
    plain = write_store(tmp_path / "q", *good(), partitions=2)
    for name in ("touches/part-00000.parquet", "touches/part-00001.parquet"):
        assert (out / name).read_bytes() == (plain / name).read_bytes()


def test_bad_store_on_disk_names_the_file(tmp_path):
    t, j = good()
    out = write_store(tmp_path / "s", t, j)
    bad = pd.read_parquet(out / "journeys.parquet")
    bad.loc[0, "pipeline_amount"] = -1.0
    bad.to_parquet(out / "journeys.parquet")
    with pytest.raises(SchemaError, match=r"journeys.parquet: column pipeline_amount"):
        open_store(out).columnar()


def test_not_a_store(tmp_path):
    with pytest.raises(SchemaError, match="no such store"):
        open_store(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match="not a touchline store"):
        open_store(tmp_path / "empty").columnar()


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_partitioned_columnar_equals_the_single_layout(tmp_path, partitions):
    from dataclasses import fields

    from attribution.synth import synthesize

    touches, journeys = synthesize(300, seed=partitions)
    single = open_store(write_store(tmp_path / "s", touches, journeys)).columnar()
    parted = open_store(write_store(tmp_path / "p", touches, journeys,
                                    partitions=partitions)).columnar()
    for f in fields(single):
        if f.name.startswith("_"):
            continue
        a, b = getattr(single, f.name), getattr(parted, f.name)
        if f.name == "journey_ids":
            assert a.equals(b)
        else:
            np.testing.assert_array_equal(a, b, err_msg=f.name)


def test_partitioned_store_with_an_id_in_two_parts_is_refused(tmp_path):
    t, j = good()
    out = write_store(tmp_path / "p", t, j, partitions=2)
    parts = sorted((out / "journeys").iterdir())
    a, b = (pd.read_parquet(p) for p in parts)
    moved = pd.concat([b, a.iloc[:1]]) if len(a) else pd.concat([a, b.iloc[:1]])
    target = parts[1] if len(a) else parts[0]
    moved.to_parquet(target)
    with pytest.raises(SchemaError, match="duplicate values"):
        open_store(out).columnar()
