"""Speed and memory of ``incremental`` and of bootstrap intervals.

``python -m benchmarks.incremental [--journeys 100000] [--target pipeline]
[--intervals 200] [--out DIR]`` simulates ``b2b_mix`` journeys with known truth
(:mod:`benchmarks.truth`), then runs each step in a fresh process so peak memory is
honest: ``incremental`` (fit and credit) per target, and ``--intervals N`` for the
positional models (one sparse product for all resamples). Prints a Markdown table and
writes ``incremental.json`` into ``--out``.

Issue targets (2-core machine, 1M journeys): ``incremental`` <= 60 s and <= 3 GB peak
RSS per target; ``--intervals 200`` for the positional models <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

POSITIONAL = ["first_touch", "last_touch", "linear", "time_decay", "u_shaped",
              "w_shaped", "full_path"]


def _step(store: str, what: str, target: str, intervals: int) -> dict:
    """One measurement, run in this (fresh) process."""
    import warnings

    import attribution as at

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    s = at.open_store(store)
    s.columnar()
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    if what == "incremental":
        r = at.attribute(s, "incremental", targets=target)
        extra = {"stages": [st["stage"] for st in r.run["diagnostics"][0]["stages"]],
                 "auc": r.run["diagnostics"][0]["holdout"].get("auc")}
    elif what == "positional":
        at.attribute(s, POSITIONAL, targets=target)
        extra = {}
    else:  # positional with intervals
        at.attribute(s, POSITIONAL, targets=target, intervals=intervals)
        extra = {"intervals": intervals}
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"step": what, "target": target, "seconds": round(seconds, 2),
            "load_seconds": round(load, 2), "peak_rss_mb": round(rss), **extra}


def main(argv: list[str] | None = None) -> int:
    """Simulate, then measure each step in a fresh process."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.incremental")
    parser.add_argument("--journeys", type=int, default=100_000)
    parser.add_argument("--target", default="pipeline,revenue")
    parser.add_argument("--intervals", type=int, default=200)
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--step", nargs=3, metavar=("STORE", "WHAT", "TARGET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(_step(*args.step, args.intervals)))
        return 0
    from .truth import simulate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / f"truth-b2b_mix-{args.journeys}"
    if not store.exists():
        simulate("b2b_mix", args.journeys, seed=0).write_store(store)
    rows = []
    for target in args.target.split(","):
        for what in ("incremental", "positional", "positional+intervals"):
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.incremental", "--intervals",
                 str(args.intervals), "--step", str(store), what, target],
                capture_output=True, text=True, check=False)
            if proc.returncode:
                raise RuntimeError(f"{what} {target} failed:\n{proc.stderr}")
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    machine = {"cpu": platform.processor() or platform.machine(),
               "python": platform.python_version()}
    (out / "incremental.json").write_text(json.dumps(
        {"journeys": args.journeys, "machine": machine, "rows": rows}, indent=1) + "\n")
    print("| step | target | seconds | peak RSS (MB) |\n| --- | --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['step']} | {r['target']} | {r['seconds']} | {r['peak_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
