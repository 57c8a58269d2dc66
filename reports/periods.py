"""Which quarter to report: the latest full quarter of a store, and the one before."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from attribution import Store, open_store
from attribution.exceptions import TouchlineError
from attribution.quarters import parse_quarter, quarter_bounds, quarter_labels

__all__ = ["latest_full_quarter", "previous_quarter"]

_DAY_US = 86_400 * 1_000_000


def previous_quarter(quarter: str) -> str:
    """Return the quarter before ``quarter``.

    Examples
    --------
    >>> previous_quarter("2026Q1")
    '2025Q4'
    """
    q = parse_quarter(quarter)
    year, n = int(q[:4]), int(q[5])
    return f"{year - 1}Q4" if n == 1 else f"{year}Q{n - 1}"


def latest_full_quarter(store: Store | str | os.PathLike, *, reporting_tz: str = "UTC",
                        fiscal_year_start: int = 1) -> str:
    """Return the latest quarter the store's data covers to its last day.

    The data ends at the latest timestamp of any touch or journey milestone; a
    quarter is full when the data reaches its last day.

    Parameters
    ----------
    store : Store or path
        The journey store.
    reporting_tz : str, default="UTC"
        Time zone of quarter boundaries.
    fiscal_year_start : int, default=1
        First month of the fiscal year.

    Returns
    -------
    str
        A quarter such as ``"2026Q3"``.

    Raises
    ------
    TouchlineError
        When the store holds no timestamp.
    """
    s = open_store(store)
    latest = []
    for name, cols in (("touches", ["ts"]), ("journeys", ["lead_created_at",
                                                          "opportunity_created_at",
                                                          "closed_at"])):
        table = s.read_table(name, cols)
        for col in table.column_names:
            m = pc.max(table.column(col).cast(pa.timestamp("us", tz="UTC"))).as_py()
            if m is not None:
                latest.append(m)
    if not latest:
        raise TouchlineError("quarter: the store holds no timestamp; give --quarter")
    end = max(latest)
    end_us = int(np.datetime64(end.replace(tzinfo=None), "us").astype(np.int64))
    label = quarter_labels(np.array([end_us]), tz=reporting_tz,
                           fiscal_year_start=fiscal_year_start)[0]
    _, q_end = quarter_bounds(label, tz=reporting_tz,
                              fiscal_year_start=fiscal_year_start)
    if q_end.value // 1000 <= end_us + _DAY_US:
        return str(label)
    return previous_quarter(str(label))
