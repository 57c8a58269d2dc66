"""Ingest benchmark: the synthetic Salesforce export through ``connectors.ingest``.

``python -m benchmarks.ingest_salesforce --opportunities 1000000 --dir /tmp/bench-sf``
writes the Salesforce CSVs of a synthetic company once
(:func:`connectors.synth_exports.write_exports` without GA4), then ingests the
folder as a ``salesforce`` source in a fresh process and prints one JSON line:
opportunities, rows and megabytes read, journeys and touches written, seconds of
the ingest call and the peak resident memory of that process. The issue's target is
<= 60 s and <= 3 GB at 1M opportunities on a 2-core machine.
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
from typing import Any


def write_export(folder: Path, opportunities: int, *, seed: int = 0) -> Path:
    """Write (once) the Salesforce CSVs of ``opportunities`` opportunities."""
    from connectors.synth_exports import write_exports

    done = folder / "done"
    if done.exists() and done.read_text().strip() == str(opportunities):
        return folder / "salesforce"
    if folder.exists():
        shutil.rmtree(folder)
    write_exports(folder, opportunities=opportunities, seed=seed, ga4=False)
    done.write_text(str(opportunities))
    return folder / "salesforce"


def measure_ingest(salesforce: Path, store: Path) -> dict[str, Any]:
    """Ingest the folder as a ``salesforce`` source in a fresh process."""
    if store.exists():
        shutil.rmtree(store)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest_salesforce", "--measure",
         str(salesforce), str(store)],
        check=True, capture_output=True, text=True,
        cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_ingest_salesforce(opportunities: int = 1_000_000,
                           workdir: str = "bench-salesforce") -> dict[str, Any]:
    """Write (once) and ingest the export; return the figures."""
    work = Path(workdir)
    t0 = time.perf_counter()
    folder = write_export(work / "exports", opportunities)
    written = time.perf_counter() - t0
    figures = measure_ingest(folder, work / "store")
    figures["opportunities"] = opportunities
    figures["csv_mb"] = round(sum(p.stat().st_size for p in folder.iterdir()) / 1e6, 1)
    figures["write_seconds"] = round(written, 1)
    return figures


def _measure(folder: str, store: str) -> None:
    from attribution import open_store
    from connectors import ingest

    t0 = time.perf_counter()
    ingest([("salesforce", folder)], store)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    manifest = open_store(store).manifest
    inputs = manifest["inputs"]
    print(json.dumps({
        "rows_read": sum(e["rows_read"] for e in inputs),
        "rows_rejected": sum(e["rows_rejected"] for e in inputs),
        "journeys": manifest["counts"]["journeys"],
        "touches": manifest["counts"]["touches"],
        "seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1)}))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--opportunities N --dir DIR`` (or ``--measure FOLDER STORE``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_salesforce")
    parser.add_argument("--opportunities", type=int, default=1_000_000)
    parser.add_argument("--dir", default="bench-salesforce")
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "STORE"))
    args = parser.parse_args(argv)
    if args.measure:
        _measure(*args.measure)
        return 0
    print(json.dumps(time_ingest_salesforce(args.opportunities, args.dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
