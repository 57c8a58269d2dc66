"""``touchline demo``: the whole chain on synthetic data, ending in ``report.html``.

The chain — synthetic raw exports, ingest, attribute, report — spans
``connectors``, ``attribution`` and ``reports``, so it lives here, in the one
package that sees all three, as a function a notebook can call too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_demo"]

def run_demo(out: str | os.PathLike, *, opportunities: int = 3000, seed: int = 7,
             say: Callable[[str], None] | None = None) -> Path:
    """Run synthetic exports, ingest, attribute and report into ``out``.

    ``out`` receives ``exports/`` (raw Salesforce, GA4 and ad-spend exports of a
    synthetic company, see :func:`connectors.write_exports`), ``store/`` (the
    journey store ingested from them), ``credit/`` (every model on pipeline and
    revenue for the latest full quarter and the one before) and the report files,
    ``report.html`` among them. It must be a new path or a previous demo's output.

    Parameters
    ----------
    out : path
        Output directory.
    opportunities : int, default=3000
        Opportunities of the synthetic company (its leads, contacts, campaign
        responses, web sessions and spend scale with them).
    seed : int, default=7
        Random seed.
    say : callable, optional
        Receives one progress line per step.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.
    """
    import attribution as at
    import reports
    from attribution._atomic import atomic_directory
    from connectors import ingest, write_exports

    say = say or (lambda _msg: None)
    clock = time.perf_counter()

    def step(n: int, text: str) -> None:
        say(f"[{n}/4] {text} ({time.perf_counter() - clock:.1f}s)")

    with atomic_directory(out) as tmp:
        exports = write_exports(tmp / "exports", opportunities=opportunities, seed=seed)
        step(1, f"wrote synthetic Salesforce, GA4 and ad-spend exports of "
                f"{opportunities:,} opportunities (exports/)")
        store_dir = ingest([("salesforce", exports / "salesforce"),
                            {"kind": "ga4", "path": exports / "ga4",
                             "id_map": exports / "id_map.csv"},
                            ("spend", exports / "spend")], tmp / "store")
        store = at.open_store(store_dir)
        counts = store.manifest.get("counts", {})
        step(2, f"ingested {counts.get('journeys', 0):,} journeys, "
                f"{counts.get('touches', 0):,} touches and {counts.get('spend', 0):,} "
                f"spend rows; {counts.get('rejects', 0):,} rows rejected (store/)")
        quarter = reports.latest_full_quarter(store)
        compare = reports.previous_quarter(quarter)
        result = at.attribute(store, "all", ["pipeline", "revenue"],
                              quarters=[compare, quarter])
        result.to_dir(tmp / "credit")
        n_models = len(result.run["model_columns"])
        step(3, f"attributed pipeline and revenue with {n_models} models for "
                f"{quarter} and {compare} (credit/)")
        report = reports.build(result, store, quarter=quarter, compare=compare)
        report.settings["store"] = str(Path(out) / "store")
        report.write_files(tmp)
        step(4, f"wrote the {quarter} report, compared with {compare}")
    return Path(out) / "report.html"
