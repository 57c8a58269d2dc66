"""Streaming benchmark: ``attribute --models all --target pipeline,revenue`` on
partitioned synthetic stores of 10M, 30M and 100M touches, peak RSS and seconds.

Usage (from the repository root)::

    python -m benchmarks.streaming --sizes 10M,30M,100M --out bench-streaming

Each store is built chunk by chunk (``synthesize`` per chunk of journeys, ids prefixed
by the chunk so they stay unique, every chunk split by the store's account hash into
the same parts, then each part merged and sorted), so building a 100M-touch store never
holds it whole. Each measurement runs in a fresh process (``_measure``) and reports
that process's peak resident memory, everything included, and the seconds of each
step of the streaming engine: the channel dictionary, the fit pass (Markov counts), the
credit pass (reading, crediting and writing ``credit.parquet``). Stores are kept in
``--work`` (default ``<out>/stores``) and reused when present.

A size runs only when the one-minute load average is below ``--max-load`` (the machine
may be shared); skipped sizes are listed as pending. Results go to ``results.json``
and ``results.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

TOUCHES_PER_JOURNEY = 15.4  # what `synthesize` draws on average
CHUNK_JOURNEYS = 250_000


def _size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def build_store(out: Path, n_touches: int, seed: int = 0) -> dict:
    """Write a partitioned synthetic store of about ``n_touches`` touches, by chunks."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from attribution.store import (
        SCHEMA_VERSION,
        TOUCHES_PER_PARTITION,
        _sort_journeys,
        _sort_touches,
        _write_parquet,
        partition_of,
    )
    from attribution.synth import synthesize

    n_journeys = round(n_touches / TOUCHES_PER_JOURNEY)
    parts = max(1, -(-n_touches // TOUCHES_PER_PARTITION))
    tmp = out.with_name(out.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "chunks").mkdir(parents=True)
    t0 = time.perf_counter()
    chunks = -(-n_journeys // CHUNK_JOURNEYS)
    touches_total = 0
    for k in range(chunks):
        n = min(CHUNK_JOURNEYS, n_journeys - k * CHUNK_JOURNEYS)
        touches, journeys = synthesize(n, seed=seed * 1000 + k)
        prefix = f"C{k:04d}-"

        def renamed(table: pa.Table, cols: tuple[str, ...], p: str = prefix
                    ) -> pa.Table:
            for c in cols:
                i = table.schema.get_field_index(c)
                table = table.set_column(i, c, pc.utf8_replace_slice(
                    table.column(c), 0, 0, p))
            return table

        touches = renamed(touches, ("journey_id", "person_id"))
        journeys = renamed(journeys, ("journey_id", "account_id"))
        key = pc.coalesce(journeys.column("account_id"), journeys.column("journey_id"))
        part_of_journey = partition_of(key, parts)
        idx = pc.index_in(touches.column("journey_id"),
                          value_set=journeys.column("journey_id"))
        part_of_touch = part_of_journey[idx.to_numpy(zero_copy_only=False)]
        touches_total += touches.num_rows
        for p in range(parts):
            pq.write_table(journeys.filter(pa.array(part_of_journey == p)),
                           tmp / "chunks" / f"j-{p:05d}-{k:04d}.parquet")
            pq.write_table(touches.filter(pa.array(part_of_touch == p)),
                           tmp / "chunks" / f"t-{p:05d}-{k:04d}.parquet")
        del touches, journeys, part_of_touch, idx
    (tmp / "touches").mkdir()
    (tmp / "journeys").mkdir()
    largest = 0
    for p in range(parts):
        t = _sort_touches(pa.concat_tables(
            [pq.read_table(f) for f in sorted((tmp / "chunks").glob(f"t-{p:05d}-*"))]))
        j = _sort_journeys(pa.concat_tables(
            [pq.read_table(f) for f in sorted((tmp / "chunks").glob(f"j-{p:05d}-*"))]))
        largest = max(largest, t.num_rows)
        _write_parquet(t, tmp / "touches" / f"part-{p:05d}.parquet")
        _write_parquet(j, tmp / "journeys" / f"part-{p:05d}.parquet")
        del t, j
    shutil.rmtree(tmp / "chunks")
    empty = {"source": pa.string(), "source_ref": pa.string(), "raw": pa.string(),
             "reason": pa.string()}
    _write_parquet(pa.table({k: pa.array([], v) for k, v in empty.items()}),
                   tmp / "rejects.parquet")
    info = {"journeys": n_journeys, "touches": touches_total, "partitions": parts,
            "largest_partition_touches": largest,
            "build_seconds": round(time.perf_counter() - t0, 1)}
    manifest = {"schema_version": SCHEMA_VERSION, "inputs": [], "layout": "partitioned",
                "counts": {"journeys": n_journeys, "touches": touches_total,
                           "rejects": 0, "spend": 0},
                "synthetic": {"journeys": n_journeys, "seed": seed,
                              "chunk_journeys": CHUNK_JOURNEYS},
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (tmp / "benchmark.json").write_text(json.dumps(info) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    del np
    return info


def _models(spec: str) -> list[str]:
    """``all``, ``streamed`` (every registered model that streams) or a list."""
    import attribution._streaming as streaming
    from attribution import get_model, registered_models

    if spec == "all":
        return ["all"]
    if spec == "streamed":
        return [m for m in registered_models()
                if streaming.model_plan(get_model(m)()) != "whole"]
    return [m.strip() for m in spec.split(",") if m.strip()]


def _measure(store: str, out: str, engine: str, models: str) -> dict:
    """One attribute run in this process, timed per step of the streaming engine."""
    import attribution._streaming as streaming
    from attribution import attribute_to_dir

    steps: dict[str, float] = {}
    real_reduce, real_ordered = (streaming.LocalExecutor.map_reduce,
                                 streaming.LocalExecutor.map_ordered)
    names = {"part_channels": "channels", "fit_partition": "fit pass"}

    def map_reduce(self, fn, *args, **kw):
        t0 = time.perf_counter()
        try:
            return real_reduce(self, fn, *args, **kw)
        finally:
            steps[names.get(fn.__name__, fn.__name__)] = time.perf_counter() - t0

    def map_ordered(self, fn, *args, **kw):
        t0 = time.perf_counter()
        try:
            yield from real_ordered(self, fn, *args, **kw)
        finally:
            steps["credit pass + write"] = time.perf_counter() - t0

    streaming.LocalExecutor.map_reduce = map_reduce
    streaming.LocalExecutor.map_ordered = map_ordered
    t0 = time.perf_counter()
    attribute_to_dir(store, out, _models(models), ["pipeline", "revenue"],
                     engine=engine)
    seconds = time.perf_counter() - t0
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(Path(out) / "credit.parquet").metadata.num_rows
    return {"seconds": round(seconds, 2),
            "steps": {k: round(v, 2) for k, v in steps.items()},
            "peak_rss_mb": _peak_rss_mb(),
            "credit_rows": rows}


def _peak_rss_mb() -> int:
    """Peak RSS of this process image: ``VmHWM`` (``ru_maxrss`` would include the
    parent's RSS at fork time, since Linux carries it across ``exec``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _fresh(store: Path, out: Path, engine: str, models: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.streaming", "_measure",
                           str(store), str(out), engine, models], capture_output=True,
                          text=True, check=False)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return result


def _load() -> float:
    return os.getloadavg()[0]


def _markdown(results: list[dict], machine: str) -> str:
    models = sorted({r.get("models", "") for r in results} - {""})
    lines = [f"Machine: {machine}; models: {', '.join(models)}; targets: pipeline, "
             "revenue", "",
             "| touches | journeys | parts | engine | seconds | s per 1M touches | "
             "channels s | fit pass s | credit pass + write s | peak RSS MB |",
             "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        if "pending" in r:
            lines.append(f"| {r['touches_target']:,} | | | | pending: {r['pending']} "
                         "| | | | | |")
            continue
        m, s = r["measure"], r["store"]
        if "error" in m:
            lines.append(f"| {s['touches']:,} | | | {r['engine']} | error: "
                         f"{m['error']} | | | | | |")
            continue
        st = m["steps"]
        lines.append(
            f"| {s['touches']:,} | {s['journeys']:,} | {s['partitions']} | "
            f"{r['engine']} | {m['seconds']:.1f} | "
            f"{m['seconds'] / s['touches'] * 1e6:.2f} | "
            f"{st.get('channels', float('nan')):.1f} | "
            f"{st.get('fit pass', float('nan')):.1f} | "
            f"{st.get('credit pass + write', float('nan')):.1f} | "
            f"{m['peak_rss_mb']:,} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_measure":
        print(json.dumps(_measure(argv[1], argv[2], argv[3], argv[4])))
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks.streaming",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10M,30M,100M",
                    help="comma-separated touch counts (10M, 30M, 100M)")
    ap.add_argument("--out", default="bench-streaming", help="results directory")
    ap.add_argument("--work", default=None, help="where stores are built and kept")
    ap.add_argument("--max-load", type=float, default=1.5,
                    help="skip a size while the 1-minute load average is above this")
    ap.add_argument("--wait", type=float, default=0,
                    help="seconds to wait for the load to drop before skipping a size")
    ap.add_argument("--models", default="streamed",
                    help="all, streamed (every model that streams; default) or a "
                    "comma-separated list")
    ap.add_argument("--memory-engine-up-to", default="10M",
                    help="also run the in-memory engine on stores up to this size")
    args = ap.parse_args(argv)
    out = Path(args.out)
    work = Path(args.work) if args.work else out / "stores"
    work.mkdir(parents=True, exist_ok=True)
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f}"
               f" GB RAM, Python {platform.python_version()}")
    results: list[dict] = []
    print(f"models: {args.models} = {', '.join(_models(args.models))}", file=sys.stderr)
    for text in args.sizes.split(","):
        n = _size(text)
        deadline = time.monotonic() + args.wait
        while (load := _load()) >= args.max_load and time.monotonic() < deadline:
            time.sleep(15)
        if load >= args.max_load:
            results.append({"touches_target": n,
                            "pending": f"load average {load:.2f} >= {args.max_load}"})
            print(f"{text}: pending (load average {load:.2f})", file=sys.stderr)
            continue
        store = work / f"store-{text.strip()}"
        if (store / "benchmark.json").exists():
            info = json.loads((store / "benchmark.json").read_text())
        else:
            print(f"{text}: building the store", file=sys.stderr)
            info = build_store(store, n)
        engines = ["streaming"]
        if n <= _size(args.memory_engine_up_to):
            engines.append("memory")
        for engine in engines:
            print(f"{text}: attribute ({engine})", file=sys.stderr)
            m = _fresh(store, work / f"credit-{text.strip()}", engine, args.models)
            results.append({"touches_target": n, "engine": engine, "store": info,
                            "models": args.models, "measure": m,
                            "load_before": round(load, 2)})
            print(json.dumps(results[-1]), file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine,
                                                  "results": results}, indent=2) + "\n")
    (out / "results.md").write_text(_markdown(results, machine))
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
