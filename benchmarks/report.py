"""The whole report at scale: ``python -m benchmarks.report [--journeys N]``.

Writes a synthetic store with spend, attributes every model on pipeline and revenue
for its latest full quarter and the one before (``touchline attribute``), then
measures ``touchline report --credit`` in a fresh process: wall seconds of the
report (loading the store and credit, every table, the charts, the HTML and writing
every file) and the process's peak RSS, with a split by phase. Writes
``report-bench.json`` and ``report-bench.md`` into ``--out``. Target (issue 5): at
1,000,000 journeys, at most 20 s and 3 GB peak RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# media cost per touch, by channel (USD); channels not listed have no media cost
_COST_PER_TOUCH = {"Paid Search": 38.0, "Paid Social": 55.0, "Display": 9.0,
                   "Video": 14.0, "Content Syndication": 95.0, "Review Sites": 60.0}
# monthly non-media costs: (channel, campaign or None, cost type, USD per month)
_MONTHLY = [
    ("Paid Search", None, "agency", 6_000.0),
    ("Paid Social", None, "creative", 4_500.0),
    ("Display", None, "creative", 2_500.0), ("Video", None, "creative", 9_000.0),
    ("Email", None, "tools", 3_200.0), ("Webinar", None, "tools", 1_800.0),
    ("Events", None, "other", 22_000.0), ("Partner", None, "other", 5_000.0),
    ("Paid Search", "PS - Brand - APAC (no traffic)", "media", 2_000.0),
]


def synthetic_spend(touches: pa.Table) -> pd.DataFrame:
    """Draw a plausible monthly spend table for a synthetic store's touches.

    Media spend per campaign and month is its touches times a channel's cost per
    touch; agency, creative, tools and other costs are monthly per channel; one
    campaign has spend but no touches.

    Parameters
    ----------
    touches : pyarrow.Table
        Touches with ``ts``, ``channel`` and ``campaign``.

    Returns
    -------
    pandas.DataFrame
        In the columns of ``spend.parquet``.
    """
    t = touches.select(["ts", "channel", "campaign"])
    month = pc.strftime(t.column("ts"), format="%Y-%m-01")
    df = pd.DataFrame({"month": month.to_numpy(zero_copy_only=False),
                       "channel": t.column("channel").to_numpy(zero_copy_only=False),
                       "campaign": t.column("campaign").to_numpy(zero_copy_only=False)})
    df = df[df["channel"].isin(list(_COST_PER_TOUCH))]
    media = df.groupby(["month", "channel", "campaign"], dropna=False).size() \
        .rename("touches").reset_index()
    per_touch = media["channel"].map(_COST_PER_TOUCH)
    media["cost"] = np.round(media["touches"] * per_touch, 2)
    media["cost_type"] = "media"
    months = sorted(set(month.to_pylist()) - {None})
    monthly = pd.DataFrame([{"month": m, "channel": c, "campaign": k, "cost_type": ct,
                             "cost": cost} for m in months
                            for c, k, ct, cost in _MONTHLY])
    out = pd.concat([media.drop(columns="touches"), monthly], ignore_index=True)
    out["date"] = pd.to_datetime(out.pop("month")).dt.date
    out["currency"] = "USD"
    out["source"] = "synth"
    out["source_ref"] = [f"synth:spend:{i}" for i in range(len(out))]
    return out[["date", "channel", "campaign", "cost", "cost_type", "currency",
                "source", "source_ref"]]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(store: str, credit: str, out: str, quarter: str, compare: str) -> int:
    """Measure one report in this (fresh) process; print one JSON line."""
    import reports
    from attribution import open_store

    t0 = time.perf_counter()
    store_obj = open_store(store)
    result = reports.open_credit(credit)
    store_obj.columnar()
    t1 = time.perf_counter()
    report = reports.build(result, store_obj, quarter=quarter, compare=compare)
    t2 = time.perf_counter()
    html = report.render_html()
    t3 = time.perf_counter()
    from attribution._atomic import atomic_directory

    with atomic_directory(out) as tmp:
        report.write_files(tmp, html=html)
    t4 = time.perf_counter()
    print(json.dumps({"seconds": t4 - t0, "load": t1 - t0, "tables": t2 - t1,
                      "html": t3 - t2, "write": t4 - t3,
                      "peak_rss_mb": _peak_rss_mb(),
                      "rows": {k: len(v) for k, v in report.tables.items()}}))
    return 0


def _prepare(n: int, out: Path, quiet: bool, models: str = "all"
             ) -> tuple[Path, Path, str, str]:
    import pyarrow.parquet as pq

    import reports
    from attribution import write_store
    from attribution.synth import synthesize

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    store, credit = out / f"store-{n}", out / f"credit-{n}"
    if not (store / "manifest.json").is_file():
        log(f"synth {n:,} journeys with spend")
        touches, journeys = synthesize(n, seed=0)
        spend = synthetic_spend(touches)
        write_store(store, touches, journeys, spend=spend)
        del touches, journeys, spend
    quarter = reports.latest_full_quarter(store)
    compare = reports.previous_quarter(quarter)
    run = credit / "run.json"
    if not run.is_file() or set(json.loads(run.read_text())["quarters"]) != {quarter,
                                                                             compare}:
        log(f"touchline attribute --models {models} --quarter {compare} --quarter "
            f"{quarter}")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "touchline", "attribute", str(store),
                        "--models", models, "--target", "pipeline,revenue", "--quarter",
                        compare, "--quarter", quarter, "--out", str(credit),
                        "--quiet"], check=True)
        log(f"  {time.perf_counter() - t0:.1f}s")
    rows = pq.ParquetFile(credit / "credit.parquet").metadata.num_rows
    log(f"credit rows: {rows:,}")
    return store, credit, quarter, compare


def run(n: int, out: str = "bench-out", repeat: int = 1, quiet: bool = False,
        models: str = "all") -> dict:
    """Prepare the store and credit, measure the report, write JSON and Markdown."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    store, credit, quarter, compare = _prepare(n, out_dir, quiet, models)
    target = out_dir / f"report-{n}"
    runs = []
    for _ in range(repeat):
        if target.exists():
            shutil.rmtree(target)
        proc = subprocess.run([sys.executable, "-m", "benchmarks.report", "--child",
                               str(store), str(credit), str(target), quarter, compare],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"report benchmark failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import pyarrow.parquet as pq

    from benchmarks.__main__ import _machine

    best = min(runs, key=lambda r: r["seconds"])
    run_info = json.loads((credit / "run.json").read_text())
    result = {"journeys": n, "quarter": quarter, "compare": compare,
              "models": run_info["model_columns"],
              "touches": json.loads((store / "manifest.json").read_text())["counts"][
                  "touches"],
              "credit_rows": pq.ParquetFile(credit / "credit.parquet").metadata
              .num_rows,
              "machine": _machine(), "runs": runs, "best": best,
              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    (out_dir / "report-bench.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "report-bench.md").write_text(to_markdown(result))
    if not quiet:
        print(to_markdown(result), file=sys.stderr)
    return result


def to_markdown(result: dict) -> str:
    """The report benchmark as a Markdown table."""
    m, b = result["machine"], result["best"]
    lines = [f"`touchline report --credit` for {result['quarter']} vs "
             f"{result['compare']}: {result['journeys']:,} journeys, "
             f"{result['touches']:,} touches, {result['credit_rows']:,} credit rows, "
             f"{len(result['models'])} models — "
             f"{m['cpu']}, {m['cores']} cores, Python {m['python']}", "",
             "| phase | seconds |", "| --- | ---: |"]
    for key, label in (("load", "load store and credit"), ("tables", "six tables"),
                       ("html", "charts and report.html"),
                       ("write", "write Parquet, CSV, HTML")):
        lines.append(f"| {label} | {b[key]:.2f} |")
    lines.append(f"| **whole report** | **{b['seconds']:.2f}** |")
    lines += ["", f"Peak RSS: {result['peak_rss_mb']:,.0f} MB."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return _child(*argv[1:6])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--models", default="all",
                        help="models of the attribution run the report reads")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    run(args.journeys, args.out, args.repeat, args.quiet, args.models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
