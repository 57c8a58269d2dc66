"""``python -m benchmarks [--scale small|medium|large|N] [--out DIR]``.

Generates a synthetic store per scale and measures, each in a fresh process so peak
memory is honest: synth, load of the needed columns, a plain numpy floor (linear
credit plus first-order transition counts on loaded arrays), each model per target,
and the whole ``touchline attribute --models all --target pipeline,revenue`` with
writing. Timings are repeated; the tables show min and median. Writes
``results.json`` and ``results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

SCALES = {"small": 10_000, "medium": 100_000, "large": 1_000_000}


def _measure(args: list[str], repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", *args],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"benchmark {' '.join(args)} failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    secs = [r["seconds"] for r in runs]
    return {"seconds_min": min(secs), "seconds_median": statistics.median(secs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "repeat": repeat}


def _machine() -> dict:
    import os

    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = fh.readline().split(":")[1].strip()
    except OSError:
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "platform": platform.platform()}


def run(scale: str = "small", out: str = "bench-out", quiet: bool = False,
        repeat: int | None = None) -> dict:
    """Run the benchmarks at one scale and write results.json and results.md."""
    from attribution import registered_models

    n = SCALES.get(scale) or int(scale)
    repeat = repeat or (3 if n <= 100_000 else 2)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / f"store-{n}"
    credit = out_dir / f"credit-{n}"
    for p in (store, credit):
        if p.exists():
            shutil.rmtree(p)

    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    rows = []
    log(f"synth {n:,} journeys")
    rows.append({"step": "synth", **_measure(["synth", str(store), str(n)], 1)})
    import pyarrow.parquet as pq

    touches = pq.ParquetFile(store / "touches.parquet").metadata.num_rows
    for step, args in [("load", ["load", str(store)]),
                       ("numpy floor (linear + transition counts)",
                        ["floor", str(store)])]:
        log(step)
        rows.append({"step": step, **_measure(args, repeat)})
    for target in ("pipeline", "revenue"):
        for model in registered_models():
            log(f"{model} / {target}")
            rows.append({"step": f"{model} / {target}",
                         **_measure(["model", str(store), model, target], repeat)})
    log("touchline attribute --models all --target pipeline,revenue")
    rows.append({"step": "attribute all models x 2 targets (CLI, with writing)",
                 **_measure(["attribute", str(store), str(credit)], 1)})
    result = {"journeys": n, "touches": touches, "machine": _machine(), "rows": rows}
    (out_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "results.md").write_text(to_markdown(result))
    log(f"wrote {out_dir / 'results.md'}")
    return result


def to_markdown(result: dict) -> str:
    """The results as a Markdown table."""
    m = result["machine"]
    lines = [f"{result['journeys']:,} journeys, {result['touches']:,} touches — "
             f"{m['cpu']}, {m['cores']} cores, {m['memory']}, Python {m['python']}", "",
             "| step | seconds (min) | seconds (median) | peak RSS (MB) |",
             "| --- | ---: | ---: | ---: |"]
    for r in result["rows"]:
        lines.append(f"| {r['step']} | {r['seconds_min']:.3f} | {r['seconds_median']:.3f}"
                     f" | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--scale", default="small")
    parser.add_argument("--out", default="bench-out")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    run(args.scale, args.out, args.quiet, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
