"""Ingest benchmark: a large flat touch CSV through ``connectors.ingest``.

``python -m benchmarks.ingest --rows 15000000 --dir /tmp/bench-ingest`` writes a
touch CSV of that many rows once (from :func:`attribution.synth.synthesize`, in the
store's column names), then ingests it in a fresh process and prints one JSON line:
rows, CSV size, seconds of the ingest call and the peak resident memory of that
process. The issue's target is <= 60 s and <= 3 GB at 15M rows on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Touches per synthetic journey, on average (to size the generator).
_TOUCHES_PER_JOURNEY = 16.5
_COLUMNS = ["journey_id", "ts", "person_id", "channel", "campaign", "content",
            "interaction"]


def write_touch_csv(path: str | os.PathLike[str], rows: int, *, seed: int = 0) -> Path:
    """Write a synthetic touch log of exactly ``rows`` rows (if not already there)."""
    import pyarrow.csv as pacsv

    from attribution.synth import synthesize

    path = Path(path)
    done = path.with_suffix(path.suffix + ".rows")
    if path.exists() and done.exists() and done.read_text().strip() == str(rows):
        return path
    journeys = int(rows / _TOUCHES_PER_JOURNEY * 1.1) + 10
    touches, _ = synthesize(journeys, seed=seed)
    while touches.num_rows < rows:  # pragma: no cover - the margin is generous
        journeys = int(journeys * 1.2)
        touches, _ = synthesize(journeys, seed=seed)
    touches = touches.slice(0, rows).select(_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pacsv.CSVWriter(path, touches.schema) as writer:
        for batch in touches.to_batches(max_chunksize=1 << 20):
            writer.write_batch(batch)
    done.write_text(str(rows))
    return path


def measure_ingest(csv: str | os.PathLike[str], store: str | os.PathLike[str]
                   ) -> dict[str, Any]:
    """Ingest ``csv`` as a ``touches`` source in a fresh process; time and peak RSS."""
    if Path(store).exists():
        shutil.rmtree(store)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", "--measure", str(csv), str(store)],
        check=True, capture_output=True, text=True,
        cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_ingest_touch_csv(rows: int = 15_000_000, workdir: str = "bench-ingest"
                          ) -> dict[str, Any]:
    """Write (once) and ingest a touch CSV of ``rows`` rows; return the figures."""
    work = Path(workdir)
    csv = write_touch_csv(work / f"touches-{rows}.csv", rows)
    figures = measure_ingest(csv, work / "store")
    figures["csv_mb"] = round(csv.stat().st_size / 1e6, 1)
    return figures


def _measure(csv: str, store: str) -> None:
    from attribution import open_store
    from connectors import ingest

    t0 = time.perf_counter()
    ingest([("touches", csv)], store)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    manifest = open_store(store).manifest
    entry = manifest["inputs"][0]
    print(json.dumps({
        "rows": entry["rows_read"], "touches": manifest["counts"]["touches"],
        "journeys": manifest["counts"]["journeys"],
        "duplicates": entry["rows_duplicate"], "layout": manifest.get("layout"),
        "seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--rows N --dir DIR`` (or ``--measure CSV STORE``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest")
    parser.add_argument("--rows", type=int, default=15_000_000)
    parser.add_argument("--dir", default="bench-ingest")
    parser.add_argument("--measure", nargs=2, metavar=("CSV", "STORE"))
    args = parser.parse_args(argv)
    if args.measure:
        _measure(*args.measure)
        return 0
    print(json.dumps(time_ingest_touch_csv(args.rows, args.dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
