"""The benchmark harness end to end at a tiny scale, so that it never rots.

Every step runs in its own process as in a real run; 2,000 journeys, one timing per
step and two accuracy scenarios of 1,000 journeys keep it short. The test checks the
files, that every registered model was measured on both targets and scored against
the truth, and that no step failed.
"""

from __future__ import annotations

import json

import pytest

from attribution import registered_models
from benchmarks.__main__ import channel_attribution_version, failed_steps, run


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = run("2000", str(out), quiet=True, repeat=1, accuracy_journeys=1_000,
                 accuracy_scenarios=["b2b_mix", "branded_search"])
    return out, result


def test_writes_every_file(bench):
    out, _ = bench
    for name in ("results.json", "results.md", "accuracy.json", "accuracy.md"):
        assert (out / name).is_file(), name
    assert json.loads((out / "results.json").read_text())["journeys"] == 2_000
    assert not (out / "work-2000").exists()  # intermediate files are removed


def test_no_step_failed(bench):
    _, result = bench
    assert failed_steps(result) == []


def test_every_model_is_measured_and_scored(bench):
    out, result = bench
    md = (out / "results.md").read_text()
    accuracy = (out / "accuracy.md").read_text()
    header = next(line for line in accuracy.splitlines()
                  if line.startswith("| scenario"))
    steps = {r["step"] for r in result["rows"]}
    for model in registered_models():
        for target in ("pipeline", "revenue"):
            assert f"{model} / {target}" in steps
            assert f"| {model} / {target} |" in md
        assert f"`{model}`" in header
        assert f"track_tvd_{model}_b2b_mix_pipeline" in result["asv"]
    for row in result["rows"]:
        assert "skipped" in row or row["seconds_median"] >= 0


def test_skipped_steps_say_why(bench):
    _, result = bench
    for row in result["rows"]:
        if "skipped" in row:
            assert "not available" in row["skipped"]


def test_channelattribution_side_by_side(bench):
    out, result = bench
    if channel_attribution_version() is None:
        pytest.skip("ChannelAttribution is not installed")
    ca = result["channel_attribution"]
    assert ca["check"]["heuristics_agree"], ca["check"]
    tasks = [c["task"] for c in result["comparison"]]
    assert len(tasks) == 4
    assert "ChannelAttribution" in (out / "results.md").read_text()
