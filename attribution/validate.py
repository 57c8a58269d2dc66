"""``touchline validate``: check a store's invariants and summarise what it holds."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._columnar import NAT
from .store import Store, open_store

__all__ = ["store_summary", "summarise_store"]


def store_summary(store: str | os.PathLike | Store) -> dict:
    """Validate a store and return its summary as a dict.

    Raises
    ------
    SchemaError
        When an invariant of DESIGN §2 fails.
    """
    store = open_store(store)
    c = store.columnar()
    lengths = c.lengths
    ts = c.ts[c.ts != NAT]
    counts = np.bincount(c.channel, minlength=len(c.channels))
    w = c.weight
    opp = c.opportunity_created_at != NAT
    summary = {
        "journeys": int(w.sum()),
        "journey_rows": int(c.n_journeys),
        "touches": int(c.n_touches),
        "touches_per_journey": {
            "p10": float(np.percentile(lengths, 10)) if len(lengths) else 0.0,
            "median": float(np.median(lengths)) if len(lengths) else 0.0,
            "p90": float(np.percentile(lengths, 90)) if len(lengths) else 0.0,
        },
        "opportunities": int(w[opp].sum()),
        "won": int(w[c.won].sum()),
        "pipeline_total": float((c.pipeline_amount * w)[opp].sum()),
        "revenue_total": float((c.revenue_amount * w)[c.won].sum()),
        "first_touch": _iso(ts.min()) if len(ts) else None,
        "last_touch": _iso(ts.max()) if len(ts) else None,
        "channels": {str(k): int(v) for k, v in zip(c.channels, counts, strict=True)},
        "unmapped": store.manifest.get("unmapped", {}),
    }
    rejects = store.read_optional("rejects")
    summary["rejects_by_reason"] = (
        {}
        if rejects is None or rejects.empty
        else {
            str(k): int(v)
            for k, v in rejects["reason"].value_counts().sort_index().items()
        }
    )
    return summary


def _iso(us: int) -> str:
    return pd.Timestamp(int(us), unit="us", tz="UTC").isoformat()


def summarise_store(store: str | os.PathLike | Store) -> str:
    """Validate a store and return a human-readable summary.

    Raises
    ------
    SchemaError
        When an invariant of DESIGN §2 fails.
    """
    s = store_summary(store)
    tpj = s["touches_per_journey"]
    lines = [
        f"journeys: {s['journeys']:,} ({s['journey_rows']:,} rows)",
        f"touches: {s['touches']:,}",
        f"touches per journey: p10 {tpj['p10']:g}, median {tpj['median']:g}, "
        f"p90 {tpj['p90']:g}",
        f"opportunities: {s['opportunities']:,}; won: {s['won']:,}",
        f"pipeline total: {s['pipeline_total']:,.2f}; revenue total: "
        f"{s['revenue_total']:,.2f}",
        f"touch dates: {s['first_touch'] or '-'} .. {s['last_touch'] or '-'}",
        "channels (touches):",
        *[f"  {name}: {n:,}" for name, n in sorted(s["channels"].items())],
    ]
    if s["unmapped"]:
        lines.append("unmapped values:")
        lines += [f"  {k}: {v}" for k, v in sorted(s["unmapped"].items())]
    if s["rejects_by_reason"]:
        lines.append("rejected rows by reason:")
        lines += [f"  {k}: {v:,}" for k, v in s["rejects_by_reason"].items()]
    else:
        lines.append("rejected rows: 0")
    return "\n".join(lines)
