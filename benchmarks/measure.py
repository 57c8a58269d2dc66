"""One measurement in a fresh process: ``python -m benchmarks.measure TASK ARGS...``.

Prints one JSON line (the last line of standard output): ``seconds`` (wall time of
the measured part only) and ``peak_rss_mb`` (the process's peak resident memory,
everything included), or ``skipped`` with the reason when the step cannot run yet
(a connector or report that does not exist). Some tasks add fields (``check``).

Tasks
-----
``synth STORE N``                  write a synthetic store of N journeys (seed 0)
``touch_csv STORE DIR``            write touches.csv and journeys.csv (preparation)
``ingest DIR STORE``               ``connectors.ingest`` of the ``touches`` CSV
``load STORE``                     read and encode the store (``Store.columnar``)
``floor STORE``                    plain numpy: linear credit + transition counts
``model STORE NAME TARGET``        one model's fit and credit on a built problem
``attribute STORE OUT``            ``touchline attribute --models all`` with writing
``report STORE OUT``               ``reports.build`` (+ ``to_html``) of 2026Q3 vs 2026Q2
``tl_heuristics STORE``            first/last/linear on conversions and revenue
``tl_markov STORE``                Markov on conversions and revenue
``ca_paths STORE FILE``            ChannelAttribution input: path strings (pandas)
``ca_heuristics FILE``             ``ChannelAttribution.heuristic_models``
``ca_markov FILE``                 ``ChannelAttribution.markov_model`` (order 1)
``ca_check STORE FILE``            agreement of touchline and ChannelAttribution
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

HEURISTICS = ("first_touch", "last_touch", "linear")
CA_TARGETS = ("conversions", "revenue")  # ChannelAttribution: conversions and value
LOOKBACK_DAYS = 365
REPORT_QUARTER, COMPARE_QUARTER = "2026Q3", "2026Q2"
UNCUT_STEPS = 300  # ChannelAttribution max_step for the uncut comparison


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _numpy_floor(store: str) -> float:
    """Linear credit plus first-order transition counts on loaded arrays."""
    import numpy as np

    from attribution import build_problem, open_store

    problem = build_problem(open_store(store).columnar(), "pipeline")
    t0 = time.perf_counter()
    seg = problem.conv
    credit = problem.conv_value[seg.row] / seg.length_of_touch
    np.bincount(problem.conv_channel, weights=credit, minlength=problem.n_channels)
    ch = problem.columnar.channel[problem.paths.touch].astype(np.int64)
    same = np.ones(len(ch), bool)
    same[problem.paths.offsets[1:-1]] = False
    pairs = ch[:-1][same[1:]] * (problem.n_channels + 1) + ch[1:][same[1:]]
    np.bincount(pairs, minlength=(problem.n_channels + 1) ** 2)
    return time.perf_counter() - t0


def _models_on_targets(store: str, names: tuple[str, ...]) -> float:
    """Build the conversions and revenue problems and run ``names`` on each."""
    from attribution import build_problem, get_model, open_store

    columnar = open_store(store).columnar()
    t0 = time.perf_counter()
    for target in CA_TARGETS:
        problem = build_problem(columnar, target, lookback_days=LOOKBACK_DAYS)
        for name in names:
            get_model(name)().fit(problem).credit(problem)
    return time.perf_counter() - t0


# --------------------------------------------------------------- ingest and reports
def touches_reader() -> Any:
    """Return the ``touches`` connector, or None when it does not exist yet."""
    try:
        from connectors import SOURCES
    except ImportError:
        return None
    return SOURCES.get("touches")


def _touch_csv(store: str, out: str) -> None:
    import pyarrow.csv as pacsv

    from attribution import open_store

    s = open_store(store)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    touches = s.read_table("touches").drop_columns(["source", "source_ref"])
    pacsv.write_csv(touches.combine_chunks(), out_dir / "touches.csv")
    pacsv.write_csv(s.read_table("journeys").combine_chunks(), out_dir / "journeys.csv")


def _ingest(csv_dir: str, out: str) -> dict[str, Any]:
    reader = touches_reader()
    if reader is None:
        return {"skipped": "connector not available"}
    from connectors import ingest

    item: dict[str, Any] = {"kind": "touches",
                            "path": str(Path(csv_dir) / "touches.csv")}
    option = next((p for p in inspect.signature(reader).parameters
                   if "journey" in p), None)
    if option is not None:
        item[option] = str(Path(csv_dir) / "journeys.csv")
    t0 = time.perf_counter()
    ingest([item], out)
    seconds = time.perf_counter() - t0
    counts = json.loads((Path(out) / "manifest.json").read_text()).get("counts", {})
    return {"seconds": seconds, "touches_ingested": counts.get("touches")}


def _report(store: str, out: str) -> dict[str, Any]:
    import reports

    build = getattr(reports, "build", None)
    if build is None:
        return {"skipped": "reports.build not available"}
    from attribution import attribute, open_store

    params = inspect.signature(build).parameters
    kwargs: dict[str, Any] = {}
    quarters = None
    if "quarter" in params:  # the last two full quarters of synthetic stores
        kwargs["quarter"] = REPORT_QUARTER
        quarters = [REPORT_QUARTER]
        if "compare" in params:
            kwargs["compare"] = COMPARE_QUARTER
            quarters.insert(0, COMPARE_QUARTER)
    s = open_store(store)
    result = attribute(s, "all", ["pipeline", "revenue"], quarters=quarters)
    Path(out).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report = build(result, s, **kwargs)
    if hasattr(report, "to_html"):
        report.to_html(Path(out) / "report.html")
    return {"seconds": time.perf_counter() - t0}


# --------------------------------------------------------------- ChannelAttribution
def build_ca_paths(store: str) -> Any:
    """Build the ``revenue`` target's aggregated paths from the store with pandas.

    What a ChannelAttribution user writes: the eligible touches of every journey in
    play (DESIGN §3: won journeys convert, with touches from 365 days before the
    opportunity up to the close; lost and opportunity-less journeys are null, with
    the 365 days up to their last touch; open opportunities are left out) joined
    into ``a > b > c`` strings, then counted per path: ``total_conversions``
    (won journeys), ``total_conversion_value`` (revenue) and ``total_null``.
    """
    import pandas as pd

    from attribution import open_store

    s = open_store(store)
    t = s.read_table("touches", ["journey_id", "ts", "channel"]).to_pandas()
    j = s.read_table("journeys", ["journey_id", "opportunity_created_at", "closed_at",
                                  "won", "revenue_amount", "weight"]).to_pandas()
    j = j[~(j["opportunity_created_at"].notna() & j["closed_at"].isna() & ~j["won"])]
    last = t.groupby("journey_id", sort=False)["ts"].max()
    j_last = j["journey_id"].map(last)
    window = pd.Timedelta(days=LOOKBACK_DAYS)
    j = j.assign(
        moment=j["closed_at"].where(j["won"], j_last),
        start=j["opportunity_created_at"].fillna(j["closed_at"]).where(
            j["won"], j_last) - window)
    t = t.merge(j[["journey_id", "moment", "start"]], on="journey_id")
    t = t[t["ts"].isna() | ((t["ts"] >= t["start"]) & (t["ts"] <= t["moment"]))]
    paths = t.groupby("journey_id", sort=False)["channel"].agg(" > ".join)
    df = j.merge(paths.rename("path"), left_on="journey_id", right_index=True)
    w = df["weight"]
    df = pd.DataFrame({"path": df["path"], "total_conversions": df["won"] * w,
                       "total_conversion_value": df["revenue_amount"].where(
                           df["won"], 0.0) * w,
                       "total_null": (~df["won"]) * w})
    return df.groupby("path", as_index=False).sum()


def _ca_import() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a banner
        import ChannelAttribution
    return ChannelAttribution


def _ca_run(kind: str, paths_file: str, max_step: int | None = None,
            nsim: float = 1e5) -> Any:
    import pandas as pd

    ca = _ca_import()
    data = pd.read_parquet(paths_file)
    with contextlib.redirect_stdout(io.StringIO()):
        if kind == "heuristics":
            return ca.heuristic_models(data, "path", "total_conversions",
                                       var_value="total_conversion_value",
                                       flg_pro=False)
        return ca.markov_model(data, "path", "total_conversions",
                               var_value="total_conversion_value",
                               var_null="total_null", order=1, out_more=True,
                               max_step=max_step, nsim_start=nsim, ncore=1, seed=0,
                               verbose=False, flg_pro=False)


def _ca_check(store: str, paths_file: str) -> dict[str, Any]:
    """Compare touchline's heuristics and Markov with ChannelAttribution's."""
    import numpy as np

    from attribution import UNATTRIBUTED, attribute

    heur = _ca_run("heuristics", paths_file).set_index("channel_name")
    markov = _ca_run("markov", paths_file)
    # ChannelAttribution cuts simulated paths at the longest path of the data and
    # counts them as not converting, and simulates 10^5 paths by default; lifting
    # the cut and simulating more leaves less simulation noise
    markov_uncut = _ca_run("markov", paths_file, max_step=UNCUT_STEPS, nsim=1e6)
    result = attribute(store, [*HEURISTICS, "markov"], targets=list(CA_TARGETS))
    cc = result.channel_credit
    cc = cc[cc["channel"] != UNATTRIBUTED]
    worst, scale = 0.0, 0.0
    for name, ca_name in zip(HEURISTICS, ("first_touch", "last_touch", "linear_touch"),
                             strict=True):
        for target, suffix in zip(CA_TARGETS, ("conversions", "value"), strict=True):
            ours = cc[(cc["model"] == name) & (cc["target"] == target)].set_index(
                "channel")["credit"]
            theirs = heur[f"{ca_name}_{suffix}"]
            idx = ours.index.union(theirs.index)
            a = ours.reindex(idx, fill_value=0.0).to_numpy()
            b = theirs.reindex(idx, fill_value=0.0).to_numpy()
            total = max(float(np.abs(b).sum()), 1.0)
            worst = max(worst, float(np.abs(a - b).max()) / total)
            scale = max(scale, total)
    eff = result.removal_effects.set_index(["target", "channel"])["removal_effect"]

    def max_diff(run: Any) -> float:
        re_ca = run["removal_effects"].set_index("channel_name")
        diffs = []
        columns = ("removal_effects_conversion", "removal_effects_conversion_value")
        for target, col in zip(CA_TARGETS, columns, strict=True):
            ours = eff.xs(target)
            idx = ours.index.union(re_ca.index)
            diffs.append(float(np.abs(ours.reindex(idx, fill_value=0.0)
                                      - re_ca[col].reindex(idx, fill_value=0.0)).max()))
        return max(diffs)

    return {"heuristics_max_rel_diff": worst,
            "heuristics_agree": bool(worst <= 1e-6),
            "markov_removal_effect_max_abs_diff": max_diff(markov),
            "markov_removal_effect_max_abs_diff_uncut": max_diff(markov_uncut),
            "uncut_max_step": UNCUT_STEPS}


# --------------------------------------------------------------- main
def run_task(task: str, args: list[str]) -> dict[str, Any]:
    """Run one task in this process and return its measurement."""
    if task == "synth":
        from attribution.synth import write_synthetic_store

        t0 = time.perf_counter()
        write_synthetic_store(args[0], int(args[1]), seed=0)
        return {"seconds": time.perf_counter() - t0}
    if task == "touch_csv":
        t0 = time.perf_counter()
        _touch_csv(args[0], args[1])
        return {"seconds": time.perf_counter() - t0}
    if task == "ingest":
        return _ingest(args[0], args[1])
    if task == "load":
        from attribution import open_store

        t0 = time.perf_counter()
        open_store(args[0]).columnar()
        return {"seconds": time.perf_counter() - t0}
    if task == "floor":
        return {"seconds": _numpy_floor(args[0])}
    if task == "model":
        from attribution import build_problem, get_model, open_store

        name, target = args[1], args[2]
        problem = build_problem(open_store(args[0]).columnar(), target)
        t0 = time.perf_counter()
        model = get_model(name)().fit(problem)
        model.credit(problem)
        return {"seconds": time.perf_counter() - t0}
    if task == "intervals":
        import attribution

        store = attribution.open_store(args[0])
        store.columnar()  # loading is measured by "load"
        models = args[1].split(",")
        t0 = time.perf_counter()
        attribution.attribute(store, models, targets="pipeline",
                              intervals=int(args[2]))
        return {"seconds": time.perf_counter() - t0}
    if task == "attribute":
        from touchline.cli import main as cli

        t0 = time.perf_counter()
        models = args[2] if len(args) > 2 else "all"
        code = cli(["attribute", args[0], "--models", models, "--target",
                    "pipeline,revenue", "--out", args[1], "--quiet"])
        if code:
            raise RuntimeError(f"touchline attribute exited with {code}")
        return {"seconds": time.perf_counter() - t0}
    if task == "report":
        return _report(args[0], args[1])
    if task == "tl_heuristics":
        return {"seconds": _models_on_targets(args[0], HEURISTICS)}
    if task == "tl_markov":
        return {"seconds": _models_on_targets(args[0], ("markov",))}
    if task == "ca_paths":
        t0 = time.perf_counter()
        paths = build_ca_paths(args[0])
        seconds = time.perf_counter() - t0
        paths.to_parquet(args[1], index=False)
        return {"seconds": seconds, "paths": len(paths)}
    if task in ("ca_heuristics", "ca_markov"):
        _ca_import()
        t0 = time.perf_counter()
        _ca_run(task[3:], args[0])
        return {"seconds": time.perf_counter() - t0}
    if task == "ca_check":
        return _ca_check(args[0], args[1])
    raise ValueError(f"unknown task {task!r}")


def serve() -> int:
    """Answer measurement requests, each in a child forked from this process.

    ``python -m benchmarks.measure --serve`` imports the libraries once and then
    reads one JSON list (``[TASK, ARGS...]``) per line from standard input. For each
    it forks a child, which runs the task and hands back its measurement through a
    pipe; the answer goes to standard output as one JSON line. This process holds no
    data, so every child is a fresh process whose peak RSS counts the imports and
    its own work, as a new interpreter's would, without paying the start-up and the
    imports (about a second) again for every step.
    """
    import os
    import warnings

    import pandas  # noqa: F401 - preloaded for the children
    import pyarrow.parquet  # noqa: F401

    import attribution  # noqa: F401

    for line in sys.stdin:
        argv = json.loads(line)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: measure, answer through the pipe, leave
            try:
                os.close(read)
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # keep stdout clean
                warnings.simplefilter("ignore")  # models' warnings are for users
                try:
                    out = run_task(argv[0], argv[1:])
                    out["peak_rss_mb"] = _peak_rss_mb()
                except BaseException as exc:  # the parent records the failed step
                    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
                    out = {"error": text[0] if text else type(exc).__name__}
                with os.fdopen(write, "w") as fh:
                    fh.write(json.dumps(out))
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as fh:
            answer = fh.read()
        _, status = os.waitpid(pid, 0)
        if not answer:
            answer = json.dumps({"error": f"the measuring process died (wait "
                                          f"status {status})"})
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    """Run ``TASK ARGS...`` and print its JSON line."""
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    if argv == ["--serve"]:
        return serve()
    try:
        out = run_task(argv[0], argv[1:])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    out["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
