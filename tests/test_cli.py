"""The CLI: exact exit codes and messages, calling ``main(argv)``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from attribution import write_store
from touchline.cli import main

from .attribution.conftest import day


@pytest.fixture
def store(tmp_path):
    t = pd.DataFrame(
        {
            "journey_id": ["a", "a", "b"],
            "ts": [day(1), day(2), day(1)],
            "seq": [0, 1, 0],
            "channel": ["Email", "Search", "Email"],
            "campaign": ['=HYPERLINK("x")', "<b>brand</b>", None],
        }
    )
    j = pd.DataFrame(
        {
            "journey_id": ["a", "b"],
            "opportunity_created_at": [day(3), None],
            "closed_at": [day(40), None],
            "won": [True, False],
            "pipeline_amount": [100.0, 0.0],
            "revenue_amount": [80.0, 0.0],
        }
    )
    return write_store(tmp_path / "store", t, j)


def test_attribute_writes_every_table(store, tmp_path, capsys):
    out = tmp_path / "credit"
    code = main(
        [
            "attribute",
            str(store),
            "--models",
            "linear,markov",
            "--target",
            "pipeline,revenue",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "channel_credit.parquet",
        "credit.parquet",
        "removal_effects.parquet",
        "run.json",
    ]
    credit = pd.read_parquet(out / "credit.parquet")
    assert list(credit.columns[-2:]) == ["linear", "markov"]
    assert credit.groupby("target", observed=True)["linear"].sum().to_dict() == {
        "pipeline": 100.0,
        "revenue": 80.0,
    }
    run = json.loads((out / "run.json").read_text())
    assert run["targets"] == ["pipeline", "revenue"]
    assert run["models"][0] == {"name": "linear", "params": {}}
    assert "touches.parquet" in run["inputs"]
    assert "wrote credit" in capsys.readouterr().err


def test_attribute_quarter_and_params(store, tmp_path):
    out = tmp_path / "q"
    assert (
        main(
            [
                "attribute",
                str(store),
                "--models",
                "time_decay",
                "--param",
                "time_decay.half_life=14D",
                "--quarter",
                "2026Q1",
                "--target",
                "pipeline",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    cc = pd.read_parquet(out / "channel_credit.parquet")
    assert set(cc.quarter) == {"2026Q1"}
    run = json.loads((out / "run.json").read_text())
    assert run["models"][0]["params"] == {"half_life": "14D"}


def test_unknown_model_lists_registered(store, tmp_path, capsys):
    code = main(
        ["attribute", str(store), "--models", "lineer", "--out", str(tmp_path / "o")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "Error: unknown model 'lineer'; registered models: first_touch"
    )
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_bad_store_exit_2_one_line(tmp_path, store, capsys):
    bad = pd.read_parquet(store / "journeys.parquet")
    bad.loc[0, "revenue_amount"] = float("nan")
    bad.to_parquet(store / "journeys.parquet")
    code = main(["attribute", str(store), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "journeys.parquet: column revenue_amount must be a finite amount" in err
    assert not (tmp_path / "o").exists()


def test_refuses_foreign_out_dir(store, tmp_path, capsys):
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["attribute", str(store), "--out", str(foreign)]) == 2
    assert "touchline did not write" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep"


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["attribute"]) == 2
    err = capsys.readouterr().err
    assert "Error: the following arguments are required" in err


def test_bad_quarter_and_target(store, tmp_path, capsys):
    assert (
        main(
            [
                "attribute",
                str(store),
                "--quarter",
                "Q3-2026",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "write it like 2026Q3" in capsys.readouterr().err
    assert (
        main(
            ["attribute", str(store), "--target", "leads", "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "'leads' is not a credit target" in capsys.readouterr().err


def test_validate(store, capsys):
    assert main(["validate", str(store)]) == 0
    out = capsys.readouterr().out
    assert "journeys: 2" in out and "Email: 2" in out


def test_validate_broken_store_exit_1(store, capsys):
    t = pd.read_parquet(store / "touches.parquet")
    t.loc[0, "channel"] = None
    t.to_parquet(store / "touches.parquet")
    assert main(["validate", str(store)]) == 1
    assert "channel is null" in capsys.readouterr().err


def test_synth_then_attribute(tmp_path):
    s = tmp_path / "s"
    assert (
        main(["synth", "--journeys", "300", "--seed", "3", "--out", str(s), "--quiet"])
        == 0
    )
    assert main(["attribute", str(s), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    cc = pd.read_parquet(tmp_path / "c" / "channel_credit.parquet")
    j = pd.read_parquet(s / "journeys.parquet")
    pipeline = j.loc[j.opportunity_created_at.notna(), "pipeline_amount"].sum()
    per_model = cc[cc.target == "pipeline"].groupby("model").credit.sum()
    assert per_model.to_numpy() == pytest.approx([pipeline] * len(per_model))


def test_all_models_on_paths_leave_out_time_decay(tmp_path, capsys):
    paths = tmp_path / "paths.csv"
    paths.write_text("path,total_conversions,total_conversion_value,total_null\n"
                     "a > b,2,30.0,1\nb,1,5.0,0\n")
    assert main(["ingest", "--source", "paths", str(paths), "--out",
                 str(tmp_path / "s"), "--quiet"]) == 0
    assert main(["attribute", str(tmp_path / "s"), "--target", "conversions",
                 "--out", str(tmp_path / "c")]) == 0
    assert "Warning: time_decay left out of 'all'" in capsys.readouterr().err
    credit = pd.read_parquet(tmp_path / "c" / "credit.parquet")
    assert "time_decay" not in credit.columns and "markov" in credit.columns
    # asked for by name, it is an error
    assert main(["attribute", str(tmp_path / "s"), "--models", "time_decay",
                 "--target", "conversions", "--out", str(tmp_path / "d")]) == 2
    assert "needs touch timestamps" in capsys.readouterr().err
