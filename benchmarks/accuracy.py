"""Accuracy against known truth: ``python -m benchmarks.accuracy [--journeys N]``.

For every scenario of :data:`benchmarks.truth.SCENARIOS` and every registered model
(``attribution.registered_models()``, so new models join automatically), each
channel's credit share next to its true share (:mod:`benchmarks.truth`), and the
total variation distance between the two share vectors,

    TVD = 1/2 * sum over channels of |credit share - true share|,

0 when a model matches the truth, 1 when it credits only channels the truth gives
nothing. Credit shares are taken over channels (``(unattributed)`` left out, which
the truth stores never have) for the targets ``conversions``, ``pipeline`` and
``revenue``. Writes ``accuracy.json`` and ``accuracy.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .truth import SCENARIOS, TRUTH_TARGETS, Scenario, TruthData, get_scenario, simulate

__all__ = ["compare_shares", "run_accuracy", "to_markdown", "total_variation"]


def compare_shares(data: TruthData, channel_credit: pd.DataFrame) -> pd.DataFrame:
    """Put a run's channel credit shares next to the true shares.

    Parameters
    ----------
    data : TruthData
        The simulated journeys and their truth.
    channel_credit : pandas.DataFrame
        ``AttributionResult.channel_credit`` of a run on ``data`` (one quarter).

    Returns
    -------
    pandas.DataFrame
        ``scenario``, ``target``, ``model``, ``channel``, ``credit_share``,
        ``true_share``, ``expected_share``: one row per channel of the truth or the
        run, for every (model, target) of the run; channels a model does not credit
        get a share of 0.
    """
    from attribution import UNATTRIBUTED

    cc = channel_credit[channel_credit["channel"] != UNATTRIBUTED]
    parts = []
    for (model, target), g in cc.groupby(["model", "target"], sort=False):
        truth = data.truth[data.truth["target"] == target]
        credit = g.groupby("channel")["credit"].sum()
        total = credit.sum()
        share = credit / total if total > 0 else credit * np.nan
        channels = sorted(set(truth["channel"]) | set(share.index))
        t = truth.set_index("channel").reindex(channels)
        parts.append(pd.DataFrame({
            "scenario": data.scenario.name,
            "target": target,
            "model": model,
            "channel": channels,
            "credit_share": share.reindex(channels).fillna(0.0).to_numpy(),
            "true_share": t["true_share"].fillna(0.0).to_numpy(),
            "expected_share": t["expected_share"].fillna(0.0).to_numpy(),
        }))
    return pd.concat(parts, ignore_index=True)


def total_variation(shares: pd.DataFrame) -> pd.DataFrame:
    """Total variation distance of every (scenario, target, model).

    Parameters
    ----------
    shares : pandas.DataFrame
        The output of :func:`compare_shares` (several runs concatenated).

    Returns
    -------
    pandas.DataFrame
        ``scenario``, ``target``, ``model``, ``tvd`` (to ``true_share``) and
        ``tvd_expected`` (to ``expected_share``).
    """
    diff = shares.assign(
        d=(shares["credit_share"] - shares["true_share"]).abs(),
        de=(shares["credit_share"] - shares["expected_share"]).abs())
    out = diff.groupby(["scenario", "target", "model"], sort=False)[["d", "de"]].sum()
    out = (out / 2).rename(columns={"d": "tvd", "de": "tvd_expected"})
    return out.reset_index()


def _resolve(scenarios: Iterable[Scenario | str]) -> list[Scenario]:
    return [get_scenario(s) if isinstance(s, str) else s for s in scenarios]


def run_accuracy(n_journeys: int = 20_000, *, seed: int = 0,
                 out: str | Path | None = None,
                 scenarios: Iterable[Scenario | str] = SCENARIOS,
                 models: str | Sequence[str] = "all",
                 targets: Sequence[str] = TRUTH_TARGETS,
                 quiet: bool = False) -> dict[str, Any]:
    """Score every model against the truth of every scenario.

    Each model runs on its own (``attribute(store, [model], targets)``), so a model
    that fails is recorded with its error instead of stopping the benchmark.

    Parameters
    ----------
    n_journeys : int, default=20000
        Journeys per scenario.
    seed : int, default=0
        Seed of the simulations.
    out : path, optional
        Directory for ``accuracy.json`` and ``accuracy.md`` (nothing written when
        None).
    scenarios : iterable of Scenario or str, default=SCENARIOS
    models : "all" or list of str, default="all"
        Model names; ``"all"`` is every registered model.
    targets : list of str, default=("conversions", "pipeline", "revenue")
    quiet : bool, default=False
        No progress messages on standard error.

    Returns
    -------
    dict
        ``journeys``, ``seed``, ``models``, ``targets``, ``scenarios`` (name,
        description, identifiable, journeys, touches, seconds per model),
        ``tvd`` and ``shares`` (records of :func:`total_variation` and
        :func:`compare_shares`) and ``errors`` (scenario, model, error).
    """
    from attribution import attribute, registered_models

    names = registered_models() if models == "all" else list(models)
    shares, errors, info = [], [], []
    for scenario in _resolve(scenarios):
        t0 = time.perf_counter()
        data = simulate(scenario, n_journeys, seed)
        store = data.store()
        entry: dict[str, Any] = {
            "name": scenario.name, "description": scenario.description,
            "identifiable": scenario.identifiable, "journeys": len(data.journeys),
            "touches": len(data.touches),
            "simulate_seconds": round(time.perf_counter() - t0, 3), "seconds": {}}
        for name in names:
            if not quiet:
                print(f"accuracy: {scenario.name} / {name}", file=sys.stderr,
                      flush=True)
            t0 = time.perf_counter()
            try:
                result = attribute(store, [name], targets=list(targets))
            except Exception as exc:  # a broken model is reported, not fatal
                errors.append({"scenario": scenario.name, "model": name,
                               "error": f"{type(exc).__name__}: {exc}"})
                continue
            entry["seconds"][name] = round(time.perf_counter() - t0, 3)
            shares.append(compare_shares(data, result.channel_credit))
        info.append(entry)
    share_df = (pd.concat(shares, ignore_index=True) if shares else pd.DataFrame(
        columns=["scenario", "target", "model", "channel", "credit_share",
                 "true_share", "expected_share"]))
    tvd = total_variation(share_df) if shares else pd.DataFrame(
        columns=["scenario", "target", "model", "tvd", "tvd_expected"])
    result = {"journeys": int(n_journeys), "seed": int(seed), "models": names,
              "targets": list(targets), "scenarios": info,
              "tvd": _records(tvd), "shares": _records(share_df), "errors": errors}
    if out is not None:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "accuracy.json").write_text(json.dumps(result, indent=1) + "\n")
        (out_dir / "accuracy.md").write_text(to_markdown(result))
        if not quiet:
            print(f"wrote {out_dir / 'accuracy.md'}", file=sys.stderr)
    return result


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    rounded = df.copy()
    for col in rounded.select_dtypes("float").columns:
        rounded[col] = rounded[col].round(6)
    return rounded.to_dict("records")


def tvd_table(result: dict[str, Any], *, targets: Sequence[str] | None = None
              ) -> str:
    """Markdown table of TVD: a row per scenario and target, a column per model.

    Parameters
    ----------
    result : dict
        What :func:`run_accuracy` returns.
    targets : list of str, optional
        Only these targets (default: every target of the run).

    Returns
    -------
    str
        The table; the best model of each row in bold, failed models as ``error``.
    """
    models = result["models"]
    tvd = pd.DataFrame(result["tvd"])
    failed = {(e["scenario"], e["model"]) for e in result["errors"]}
    targets = list(targets or result["targets"])
    lines = ["| scenario | target | " + " | ".join(f"`{m}`" for m in models) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in models) + " |"]
    for sc in result["scenarios"]:
        name = sc["name"] + ("" if sc["identifiable"] else " †")
        for target in targets:
            row = tvd[(tvd["scenario"] == sc["name"]) & (tvd["target"] == target)] \
                if len(tvd) else tvd
            values = (dict(zip(row["model"], row["tvd"], strict=True)) if len(row)
                      else {})
            best = min(values.values()) if values else None
            cells = []
            for m in models:
                if (sc["name"], m) in failed:
                    cells.append("error")
                elif m not in values:
                    cells.append("")
                else:
                    v = f"{values[m]:.2f}"
                    cells.append(f"**{v}**" if values[m] == best else v)
            lines.append(f"| {name} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(result: dict[str, Any]) -> str:
    """Render the accuracy results as Markdown: TVD, then shares per scenario."""
    lines = [
        "# Accuracy against known truth", "",
        f"{result['journeys']:,} journeys per scenario, seed {result['seed']}. "
        "TVD = ½ Σ |credit share − true share| over channels (0 = the truth, "
        "1 = nothing in common). True shares: each channel's drop in the target "
        "when its touches are removed, re-simulated with common random numbers "
        "(benchmarks/truth.py). † = not identifiable from the touch log "
        "(touches caused by the decision).", "",
        "## Total variation distance to the truth", "", tvd_table(result)]
    tvd = pd.DataFrame(result["tvd"])
    if len(tvd):
        ident = {s["name"] for s in result["scenarios"] if s["identifiable"]}
        mean = tvd[tvd["scenario"].isin(ident)].groupby("model", sort=False)[
            "tvd"].mean().reindex(result["models"])
        lines += ["## Mean TVD over identifiable scenarios and targets", "",
                  "| model | mean TVD |", "| --- | ---: |"]
        lines += [f"| `{m}` | {v:.3f} |" for m, v in mean.items() if pd.notna(v)]
        lines.append("")
    if result["errors"]:
        lines += ["## Errors", ""]
        lines += [f"- {e['scenario']} / `{e['model']}`: {e['error']}"
                  for e in result["errors"]]
        lines.append("")
    shares = pd.DataFrame(result["shares"])
    lines += ["## Shares per scenario and target", ""]
    for sc in result["scenarios"]:
        lines += [f"### {sc['name']}", "", sc["description"], ""]
        for target in result["targets"]:
            part = shares[(shares["scenario"] == sc["name"])
                          & (shares["target"] == target)] if len(shares) else shares
            if not len(part):
                continue
            wide = part.pivot_table(index="channel", columns="model",
                                    values="credit_share", sort=False)
            truth = part.groupby("channel", sort=False)["true_share"].first()
            models = [m for m in result["models"] if m in wide.columns]
            order = truth.sort_values(ascending=False).index
            lines += [f"**{target}**", "",
                      "| channel | truth | " + " | ".join(f"`{m}`" for m in models)
                      + " |",
                      "| --- | ---: | " + " | ".join("---:" for _ in models) + " |"]
            for ch in order:
                cells = " | ".join(f"{wide.loc[ch, m]:.3f}" for m in models)
                lines.append(f"| {ch} | {truth[ch]:.3f} | {cells} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the accuracy benchmark from the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy")
    parser.add_argument("--journeys", type=int, default=20_000,
                        help="journeys per scenario (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default="all",
                        help="comma-separated scenario names, or all")
    parser.add_argument("--models", default="all",
                        help="comma-separated model names, or all")
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    scenarios = SCENARIOS if args.scenarios == "all" else args.scenarios.split(",")
    models = "all" if args.models == "all" else args.models.split(",")
    run_accuracy(args.journeys, seed=args.seed, out=args.out, scenarios=scenarios,
                 models=models, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
