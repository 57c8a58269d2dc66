"""touchline against ChannelAttribution (the reference for aggregated paths).

Runs only where ChannelAttribution is installed (the ``bench`` extra; GPL-3, never a
runtime dependency). One aggregated-path file in ChannelAttribution's format goes
through ``touchline ingest --source paths`` and ``touchline attribute``; the
first/last/linear credits must equal ``heuristic_models`` exactly, and the Markov
removal effects must be close to ``markov_model``'s simulated ones.

ChannelAttribution simulates paths of at most ``max_step`` steps, by default the
longest path of the data; paths cut there count as not converting, which biases its
removal effects (by about 0.04-0.05 on this file, always below the exact values).
The comparison lifts the cap (``max_step=100``) and simulates 10^6 paths, which
leaves only simulation noise (observed within 0.004).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from touchline.cli import main

CHANNELS = ["alpha", "beta", "gamma", "delta", "epsilon"]
HEURISTICS = [("first_touch", "first_touch"), ("last_touch", "last_touch"),
              ("linear", "linear_touch")]
TARGETS = [("conversions", "conversions", "removal_effects_conversion"),
           ("revenue", "value", "removal_effects_conversion_value")]


@pytest.fixture(scope="module")
def ca():
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner on import
        return pytest.importorskip("ChannelAttribution")


@pytest.fixture(scope="module")
def paths() -> pd.DataFrame:
    """150 distinct paths of 1-7 touches (repeats included); delta converts more."""
    rng = np.random.default_rng(7)
    rows: dict[str, tuple[int, float, int]] = {}
    while len(rows) < 150:
        k = int(rng.integers(1, 8))
        path = " > ".join(rng.choice(CHANNELS, size=k, p=[0.3, 0.25, 0.2, 0.15, 0.1]))
        conv = int(rng.poisson(3 if "delta" in path else 1))
        null = max(int(rng.poisson(6)), 0 if conv else 1)
        value = round(float(conv * rng.uniform(50, 150)), 2) if conv else 0.0
        rows[path] = (conv, value, null)
    return pd.DataFrame([(p, *v) for p, v in rows.items()],
                        columns=["path", "total_conversions", "total_conversion_value",
                                 "total_null"])


@pytest.fixture(scope="module")
def credit(paths, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ca")
    paths.to_csv(tmp / "paths.csv", index=False)
    assert main(["ingest", "--source", "paths", str(tmp / "paths.csv"), "--out",
                 str(tmp / "store"), "--quiet"]) == 0
    assert main(["attribute", str(tmp / "store"), "--models",
                 "first_touch,last_touch,linear,markov", "--target",
                 "conversions,revenue", "--out", str(tmp / "credit"), "--quiet"]) == 0
    return (pd.read_parquet(tmp / "credit" / "channel_credit.parquet"),
            pd.read_parquet(tmp / "credit" / "removal_effects.parquet"))


def test_heuristic_credits_equal_channelattribution(ca, paths, credit):
    channel_credit, _ = credit
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = ca.heuristic_models(paths, "path", "total_conversions",
                                     var_value="total_conversion_value",
                                     flg_pro=False).set_index("channel_name")
    for model, ca_model in HEURISTICS:
        for target, suffix, _ in TARGETS:
            ours = channel_credit[(channel_credit["model"] == model)
                                  & (channel_credit["target"] == target)
                                  & (channel_credit["channel"] != "(unattributed)")]
            ours = ours.set_index("channel")["credit"].sort_index()
            expected = theirs[f"{ca_model}_{suffix}"].reindex(ours.index)
            assert sorted(ours.index) == sorted(theirs.index)
            np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(),
                                       rtol=1e-9, atol=1e-9,
                                       err_msg=f"{model} / {target}")


def test_markov_removal_effects_close_to_channelattribution(ca, paths, credit):
    _, effects = credit
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = ca.markov_model(paths, "path", "total_conversions",
                                 var_value="total_conversion_value",
                                 var_null="total_null", order=1, out_more=True,
                                 nsim_start=1e6, max_step=100, seed=1, verbose=False,
                                 flg_pro=False)["removal_effects"]
    theirs = theirs.set_index("channel_name")
    for target, _, column in TARGETS:
        ours = effects[effects["target"] == target].set_index("channel")[
            "removal_effect"]
        assert sorted(ours.index) == sorted(theirs.index)
        diff = (ours - theirs[column].reindex(ours.index)).abs()
        assert diff.max() < 0.02, f"{target}: {diff.round(4).to_dict()}"
