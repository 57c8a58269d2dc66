"""`touchline report` and `touchline demo`: exact exit codes and messages."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from touchline.cli import main


@pytest.fixture
def store_dir(hand_store):
    return str(hand_store.path)


def test_report_attributes_itself(store_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["report", store_dir, "--quarter", "2026Q3", "--compare", "2026Q2",
                 "--models", "linear,first_touch", "--pipeline-target", "4000",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0
    assert err.strip().splitlines()[-1] == (
        f"wrote the 2026Q3 report to {out}; open {out / 'report.html'}")
    assert (out / "report.html").is_file() and (out / "report.json").is_file()
    funnel = pd.read_parquet(out / "funnel_kpis.parquet")
    assert (funnel.pipeline_created[0], funnel.pipeline_coverage[0]) == (2000, 0.5)
    ci = pd.read_parquet(out / "channel_influence.parquet")
    assert set(ci.model) == {"linear", "first_touch"}
    assert json.loads((out / "report.json").read_text())["compare"] == "2026Q2"


def test_report_from_credit_dir(store_dir, tmp_path, capsys):
    credit = tmp_path / "credit"
    assert main(["attribute", store_dir, "--models", "linear,markov", "--quarter",
                 "2026Q2", "--quarter", "2026Q3", "--out", str(credit), "--quiet"]) == 0
    out = tmp_path / "rep"
    code = main(["report", store_dir, "--credit", str(credit), "--quarter", "2026Q3",
                 "--compare", "2026Q2", "--models", "markov", "--out", str(out),
                 "--quiet"])
    assert code == 0
    assert capsys.readouterr().err == ""
    mt = pd.read_csv(out / "middle_touch.csv")
    assert set(mt.model) == {"markov"}


def test_report_errors_are_one_line_exit_2(store_dir, tmp_path, capsys):
    credit = tmp_path / "credit"
    main(["attribute", store_dir, "--models", "linear", "--quarter", "2026Q3",
          "--out", str(credit), "--quiet"])
    capsys.readouterr()
    cases = [
        (["--credit", str(credit), "--quarter", "2026Q3", "--compare", "2026Q2"],
         "Error: quarter: the attribution run holds quarter(s) 2026Q3, not 2026Q2; "
         "run `touchline attribute --quarter 2026Q2`"),
        (["--credit", str(credit), "--quarter", "2026Q3", "--fiscal-year-start", "2"],
         "Error: --fiscal-year-start: the attribution run used 1, not 2;"),
        (["--credit", str(credit), "--quarter", "2026Q3", "--models", "markov"],
         "Error: models: markov not in the attribution run (it holds linear)"),
        (["--credit", str(tmp_path), "--quarter", "2026Q3"],
         f"Error: {tmp_path}: not a credit directory (missing credit.parquet, "
         "channel_credit.parquet, run.json)"),
        (["--quarter", "Q9"], "Error: --quarter: 'Q9' is not a quarter; write it like "
                              "2026Q3"),
        (["--models", "lineer", "--quarter", "2026Q3"],
         "Error: unknown model 'lineer'"),
    ]
    for extra, message in cases:
        out = tmp_path / "rep"
        code = main(["report", store_dir, *extra, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, extra
        assert err.startswith(message), err
        assert err.count("\n") == 1, err
        assert not out.exists()


def test_report_usage_and_foreign_out(store_dir, tmp_path, capsys):
    assert main(["report", store_dir, "--out", str(tmp_path / "r")]) == 2
    assert "the following arguments are required: --quarter" in capsys.readouterr().err
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "a.txt").write_text("x")
    assert main(["report", store_dir, "--quarter", "2026Q3", "--out",
                 str(foreign)]) == 2
    assert "touchline did not write" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope"), "--quarter", "2026Q3", "--out",
                 str(tmp_path / "r")]) == 2
    assert "no such store directory" in capsys.readouterr().err


def test_demo_runs_the_chain(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--opportunities", "300", "--seed",
                 "3"]) == 0
    cap = capsys.readouterr()
    assert cap.out == f"report: {out / 'report.html'}\n"
    steps = [line.split("]")[0] + "]" for line in cap.err.strip().splitlines()
             if line.startswith("[")]  # models may add warnings
    assert steps == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert "wrote the 2026Q2 report, compared with 2026Q1" in cap.err
    assert (out / "exports" / "salesforce" / "Opportunity.csv").is_file()
    assert (out / "store" / "manifest.json").is_file()
    assert (out / "credit" / "run.json").is_file()
    html = (out / "report.html").read_text()
    assert "Marketing attribution report — 2026Q2" in html
    roas = pd.read_parquet(out / "roas_roac.parquet")
    assert (roas.total_cost > 0).any()
    # a demo directory can be written again; --quiet leaves only the result line
    assert main(["demo", "--out", str(out), "--opportunities", "300",
                 "--quiet"]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and cap.out.startswith("report: ")
