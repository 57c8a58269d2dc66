"""Quarters: parsing ``2026Q3`` and labelling timestamps, calendar or fiscal.

A fiscal year is named by the calendar year it ends in: with ``fiscal_year_start=2``
the year that starts in February 2026 is FY2027, so February–April 2026 is ``2027Q1``.
Labels are always ``YYYYQn``; with a fiscal start they are read in the fiscal calendar.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .exceptions import TouchlineError

__all__ = ["parse_quarter", "quarter_bounds", "quarter_labels"]

_QUARTER = re.compile(r"^(?:FY)?(\d{4})-?Q([1-4])$", re.IGNORECASE)


def parse_quarter(text: str) -> str:
    """Normalise a quarter name such as ``2026Q3``, ``2026-q3`` or ``FY2027Q1``.

    Examples
    --------
    >>> parse_quarter("2026-q3")
    '2026Q3'
    """
    m = _QUARTER.match(str(text).strip())
    if not m:
        raise TouchlineError(
            f"--quarter: {text!r} is not a quarter; write it like 2026Q3"
        )
    return f"{m.group(1)}Q{m.group(2)}"


def _check_month(fiscal_year_start: int) -> None:
    if not 1 <= int(fiscal_year_start) <= 12:
        raise TouchlineError(
            f"fiscal_year_start must be a month number 1..12; got {fiscal_year_start!r}"
        )


def quarter_labels(
    ts_us: np.ndarray,
    *,
    tz: str = "UTC",
    fiscal_year_start: int = 1,
    nat: int = np.iinfo(np.int64).min,
) -> np.ndarray:
    """Label int64 microsecond UTC timestamps with their quarter (``None`` for null).

    Parameters
    ----------
    ts_us : ndarray of int64
        Microseconds since the epoch, UTC; ``nat`` marks a missing value.
    tz : str, default="UTC"
        The reporting time zone in which quarter boundaries fall.
    fiscal_year_start : int, default=1
        First month of the fiscal year (1 = calendar quarters).

    Examples
    --------
    >>> ts = pd.to_datetime(["2026-01-31", "2026-02-01"]).as_unit("us").asi8
    >>> quarter_labels(ts, fiscal_year_start=2).tolist()
    ['2026Q4', '2027Q1']
    """
    _check_month(fiscal_year_start)
    ts_us = np.asarray(ts_us, dtype=np.int64)
    valid = ts_us != nat
    out = np.full(len(ts_us), None, dtype=object)
    if not valid.any():
        return out
    try:
        local = pd.DatetimeIndex(
            pd.to_datetime(ts_us[valid], unit="us", utc=True)
        ).tz_convert(tz)
    except Exception as exc:  # unknown zone names
        raise TouchlineError(
            f"--reporting-tz: {tz!r} is not a time zone ({exc})"
        ) from None
    year, month = local.year.to_numpy(), local.month.to_numpy()
    shifted = (month - fiscal_year_start) % 12
    fy = year + ((month >= fiscal_year_start) & (fiscal_year_start != 1))
    q = shifted // 3 + 1
    codes = fy * 10 + q
    uniq, inv = np.unique(codes, return_inverse=True)
    names = np.array([f"{c // 10}Q{c % 10}" for c in uniq], dtype=object)
    out[valid] = names[inv]
    return out


def quarter_bounds(
    quarter: str, *, tz: str = "UTC", fiscal_year_start: int = 1
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Return the quarter's [start, end) as UTC timestamps.

    Examples
    --------
    >>> start, end = quarter_bounds("2026Q3")
    >>> str(start), str(end)
    ('2026-07-01 00:00:00+00:00', '2026-10-01 00:00:00+00:00')
    """
    _check_month(fiscal_year_start)
    q = parse_quarter(quarter)
    fy, n = int(q[:4]), int(q[5])
    start_year = fy if fiscal_year_start == 1 else fy - 1
    month0 = fiscal_year_start - 1 + 3 * (n - 1)
    year = start_year + month0 // 12
    start = pd.Timestamp(year=year, month=month0 % 12 + 1, day=1, tz=tz)
    end = start + pd.DateOffset(months=3)
    return start.tz_convert("UTC"), end.tz_convert("UTC")
