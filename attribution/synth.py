"""Synthetic B2B journeys: realistic, seeded, and fast enough for benchmarks.

:func:`synthesize` draws accounts, people, journeys and touches with numpy only
(vectorised over all journeys and touches; loops run over digits or string chunks,
never over rows), and returns two pyarrow tables in the store's schema.
:func:`write_synthetic_store` writes them as a journey store.

How a journey is drawn
----------------------
1. Each journey belongs to an account (bigger accounts have more journeys and bigger
   deals) and has a primary person; other people of the account touch it too.
2. Pre-opportunity touches are split into stages: *awareness* touches, the *lead*
   touch (usually a ``form_fill``; absent for anonymous journeys, about a third)
   and *nurture* touches. Each stage has its own channel mix, and the mix shifts
   within a stage from early to late (Display, Paid Social and Video early; Paid
   Search, Direct and Sales Outreach late).
3. Whether a lead becomes an opportunity is a logistic draw whose log-odds add a
   per-channel lift for every pre-opportunity touch (Events, Referral, Partner and
   Webinar help; Content Syndication and Display do not), so channels truly differ
   in value and attribution models disagree. The intercept is solved so that about
   30% of all journeys reach an opportunity.
4. Opportunities get sales-stage touches (mostly Sales Outreach: ``sales_email``,
   ``sales_call``, ``meeting``) after ``opportunity_created_at``; the win draw
   (about 30% of closed deals) has its own channel lifts, and won deals have longer
   sales cycles than lost ones. Deals whose close falls after ``end`` stay open.

Times are whole seconds, UTC, inside ``[start, end]``. Touch ``ts`` never decreases
within a journey; ``lead_created_at`` equals the lead touch's ``ts``; every
pre-opportunity touch is at or before ``opportunity_created_at`` and every sales-stage
touch after it and at or before ``closed_at``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .exceptions import ParameterError
from .store import JOURNEY_SCHEMA, TOUCH_SCHEMA, write_store

__all__ = ["synthesize", "write_synthetic_store"]

_SOURCE = "synth"
_CHUNK = 1 << 22  # rows per string chunk: bounds temporaries, keeps offsets in int32
_DAY_S = 86_400
_TS = pa.timestamp("us", tz="UTC")

# ---------------------------------------------------------------- channel tables
#: Stage rows of the channel mix.
_AWARE_EARLY, _AWARE_LATE, _LEAD, _NURTURE_EARLY, _NURTURE_LATE, _SALES = range(6)

# name: (weights per stage row, opportunity lift, win lift)
_CHANNEL_TABLE: dict[str, tuple[tuple[float, ...], float, float]] = {
    "Paid Search": ((4, 8, 14, 6, 12, 5), 0.04, 0.00),
    "Organic Search": ((12, 12, 12, 8, 8, 4), 0.05, 0.00),
    "Paid Social": ((16, 12, 10, 5, 3, 2), 0.00, 0.00),
    "Organic Social": ((10, 7, 2, 3, 2, 1), -0.02, 0.00),
    "Display": ((18, 10, 1, 4, 2, 2), -0.04, 0.00),
    "Email": ((2, 5, 8, 18, 12, 8), 0.02, 0.02),
    "Webinar": ((2, 4, 10, 12, 8, 4), 0.12, 0.05),
    "Events": ((2, 3, 6, 5, 7, 5), 0.22, 0.15),
    "Content Syndication": ((8, 8, 14, 3, 1, 0.5), -0.08, -0.05),
    "Referral": ((5, 5, 5, 3, 3, 1), 0.18, 0.10),
    "Direct": ((5, 7, 6, 8, 14, 10), 0.06, 0.02),
    "Partner": ((3, 3, 4, 3, 4, 3), 0.15, 0.15),
    "Review Sites": ((3, 6, 4, 6, 7, 4), 0.10, 0.10),
    "Sales Outreach": ((0, 0, 0, 6, 10, 42), 0.20, 0.06),
    "Video": ((10, 10, 1, 3, 2, 2), 0.00, 0.00),
}
_CHANNELS = list(_CHANNEL_TABLE)
_N_CH = len(_CHANNELS)

# campaigns per channel: (name, weight early, weight late); early = awareness stage
_CAMPAIGNS: dict[str, list[tuple[str | None, float, float]]] = {
    "Paid Search": [
        ("PS - Brand - US", 1, 6),
        ("PS - Brand - EMEA", 0.5, 2),
        ("PS - NonBrand - Cloud Security", 4, 2),
        ("PS - NonBrand - Zero Trust", 3, 1.5),
        ("PS - Competitor - US", 1.5, 1.5),
    ],
    "Organic Search": [(None, 1, 1)],
    "Paid Social": [
        ("LinkedIn - ABM Q3", 3, 3),
        ("LinkedIn - Thought Leadership", 4, 1),
        ("LinkedIn - Lead Gen Forms", 2, 3),
        ("Meta - Retargeting", 1, 2),
    ],
    "Organic Social": [
        ("LinkedIn - Organic", 3, 3),
        ("X - Organic", 1, 1),
        (None, 1, 1),
    ],
    "Display": [
        ("GDN - Prospecting", 4, 1),
        ("Demandbase - ABM Display", 3, 2),
        ("GDN - Retargeting", 1, 3),
    ],
    "Email": [
        ("Newsletter - Monthly", 3, 2),
        ("Nurture - Cloud Security Track", 2, 4),
        ("Nurture - Zero Trust Track", 1, 3),
        ("Product Update", 1, 1),
    ],
    "Webinar": [
        ("Webinar - Zero Trust 101", 3, 2),
        ("Webinar - Cloud Posture Demo", 1, 3),
        ("Webinar - CISO Roundtable", 1, 2),
    ],
    "Events": [
        ("Event - RSA Conference", 2, 2),
        ("Event - AWS re:Invent", 2, 2),
        ("Event - Field Dinner Series", 1, 3),
        ("Event - Regional Roadshow", 1, 2),
    ],
    "Content Syndication": [
        ("CS - TechTarget", 3, 2),
        ("CS - Integrate", 2, 2),
        ("CS - NetLine", 1, 1),
    ],
    "Referral": [(None, 3, 3), ("Customer Referral Program", 1, 2)],
    "Direct": [(None, 1, 1)],
    "Partner": [
        ("Partner - AWS Marketplace", 2, 2),
        ("Partner - Reseller MDF", 2, 2),
        ("Partner - SI Co-Marketing", 1, 1),
    ],
    "Review Sites": [
        ("G2 - Category Page", 3, 2),
        ("G2 - Buyer Intent", 1, 2),
        ("Capterra - PPC", 1, 1),
    ],
    "Sales Outreach": [
        ("SDR - Outbound", 2, 1),
        ("AE - Opportunity Follow-up", 0, 4),
        (None, 1, 1),
    ],
    "Video": [
        ("YouTube - Brand Awareness", 4, 2),
        ("YouTube - Product Demos", 1, 3),
        ("CTV - Brand", 2, 0.5),
    ],
}

# content assets per channel: probability of no content, then asset weights
_CONTENT: dict[str, tuple[float, dict[str, float]]] = {
    "Paid Search": (
        0.7,
        {"ebook-cloud-security": 2, "demo-request": 3, "pricing-page": 2},
    ),
    "Organic Search": (
        0.4,
        {
            "blog-zero-trust-guide": 4,
            "blog-cspm-vs-cnapp": 3,
            "blog-soc2-checklist": 3,
            "pricing-page": 1,
        },
    ),
    "Paid Social": (
        0.5,
        {
            "ebook-cloud-security": 3,
            "report-state-of-cloud-2025": 3,
            "video-product-tour": 1,
        },
    ),
    "Organic Social": (
        0.5,
        {
            "blog-zero-trust-guide": 2,
            "report-state-of-cloud-2025": 2,
            "case-study-acme": 1,
        },
    ),
    "Display": (0.7, {"report-state-of-cloud-2025": 2, "ebook-cloud-security": 1}),
    "Email": (
        0.3,
        {
            "case-study-acme": 3,
            "case-study-globex": 2,
            "whitepaper-zero-trust-architecture": 3,
            "blog-soc2-checklist": 1,
            "webinar-zero-trust-101": 2,
        },
    ),
    "Webinar": (
        0.0,
        {
            "webinar-zero-trust-101": 3,
            "webinar-cloud-posture-demo": 2,
            "webinar-ciso-roundtable": 1,
        },
    ),
    "Events": (0.8, {"datasheet-platform": 1}),
    "Content Syndication": (
        0.0,
        {
            "ebook-cloud-security": 3,
            "whitepaper-zero-trust-architecture": 2,
            "report-state-of-cloud-2025": 3,
            "analyst-report-forrester-wave": 1,
        },
    ),
    "Referral": (0.7, {"case-study-acme": 1, "analyst-report-forrester-wave": 1}),
    "Direct": (0.6, {"pricing-page": 3, "datasheet-platform": 1, "demo-request": 2}),
    "Partner": (0.6, {"datasheet-platform": 2, "case-study-initech": 1}),
    "Review Sites": (0.6, {"analyst-report-forrester-wave": 1, "case-study-globex": 1}),
    "Sales Outreach": (
        0.7,
        {
            "case-study-acme": 2,
            "case-study-initech": 2,
            "roi-calculator": 2,
            "datasheet-platform": 1,
        },
    ),
    "Video": (0.2, {"video-product-tour": 3, "video-customer-story-acme": 2}),
}

_INTERACTIONS = [
    "ad_click",
    "web_visit",
    "form_fill",
    "email_click",
    "event_attended",
    "webinar_attended",
    "sales_email",
    "sales_call",
    "meeting",
]

# interaction weights per channel: (ordinary touch, lead-creating touch); before the
# lead exists, touches are never form fills (a form fill would create the lead)
_INTERACTION_MIX: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "Paid Search": ({"ad_click": 8, "form_fill": 1}, {"form_fill": 1}),
    "Organic Search": ({"web_visit": 9, "form_fill": 1}, {"form_fill": 1}),
    "Paid Social": ({"ad_click": 8, "form_fill": 1}, {"form_fill": 1}),
    "Organic Social": ({"web_visit": 1}, {"form_fill": 1}),
    "Display": ({"ad_click": 1}, {"form_fill": 1}),
    "Email": ({"email_click": 9, "form_fill": 1}, {"form_fill": 1}),
    "Webinar": (
        {"webinar_attended": 7, "form_fill": 3},
        {"form_fill": 7, "webinar_attended": 3},
    ),
    "Events": ({"event_attended": 8, "meeting": 2}, {"event_attended": 1}),
    "Content Syndication": ({"form_fill": 1}, {"form_fill": 1}),
    "Referral": ({"web_visit": 8, "form_fill": 2}, {"form_fill": 1}),
    "Direct": ({"web_visit": 8, "form_fill": 2}, {"form_fill": 1}),
    "Partner": (
        {"web_visit": 5, "form_fill": 2, "meeting": 3},
        {"form_fill": 3, "meeting": 1},
    ),
    "Review Sites": ({"web_visit": 8, "form_fill": 2}, {"form_fill": 1}),
    "Sales Outreach": (
        {"sales_email": 6, "sales_call": 3, "meeting": 2},
        {"meeting": 1},
    ),
    "Video": ({"ad_click": 4, "web_visit": 6}, {"form_fill": 1}),
}

_OPP_RATE = 0.30  # share of journeys that reach an opportunity
_WIN_RATE = 0.34  # won share of opportunities before ``end`` censors the long cycles
_LEAD_RATE = 0.68  # share of journeys with a lead (only leads become opportunities)
_MAX_TOUCHES = 80


def _probability_table(rows: list[dict[int, float]], k: int) -> np.ndarray:
    """Stack sparse weight rows into a row-normalised (rows, k) probability matrix."""
    p = np.zeros((len(rows), k))
    for r, weights in enumerate(rows):
        for j, w in weights.items():
            p[r, j] += w
    sums = p.sum(axis=1, keepdims=True)
    return np.divide(p, sums, out=np.full_like(p, 1.0 / k), where=sums > 0)


def _sample_rows(
    rng: np.random.Generator, rows: np.ndarray, table: np.ndarray
) -> np.ndarray:
    """Draw one category per element; ``rows`` picks the row of ``table`` to draw from.

    Inverse-CDF sampling with a guide table (Devroye's indexed search): a uniform
    ``u`` starts at the first category whose cumulative probability passes the
    start of u's 1/256 cell and steps forward while ``u`` is past it, so the draw
    is exact and costs a few vectorised passes whatever the table size.
    """
    k = table.shape[1]
    cells = 256
    cum = np.cumsum(table, axis=1)
    cum[:, -1] = 1.0  # exact row ends: u < 1 always stops inside the row
    grid = np.arange(cells) / cells
    guide = (cum[:, None, :] <= grid[None, :, None]).sum(axis=2).astype(np.int32)
    u = rng.random(len(rows), dtype=np.float32)
    at = (u * np.float32(cells)).astype(np.int32)
    at += rows.astype(np.int32) * cells
    cat = guide.ravel()[at]
    del at
    flat = cum.ravel()
    todo = np.flatnonzero(u >= flat[rows.astype(np.int32) * k + cat])
    while todo.size:
        cat[todo] += 1
        todo = todo[u[todo] >= flat[rows[todo].astype(np.int32) * k + cat[todo]]]
    return cat.astype(np.int16 if k > 127 else np.int8)


def _digits(lo: int, hi: int, place: int) -> np.ndarray:
    """Return the ASCII digit at 10**place of every number in range(lo, hi)."""
    n = hi - lo
    if place == 0:
        ring = np.arange(48, 58, dtype=np.uint8)
        return np.tile(ring, n // 10 + 2)[lo % 10 : lo % 10 + n]
    step = 10**place
    first, last = lo // step, (hi - 1) // step
    blocks = np.arange(first, last + 1, dtype=np.int64)
    runs = np.full(len(blocks), step, dtype=np.int64)
    runs[0] -= lo - first * step
    runs[-1] -= (last + 1) * step - hi
    if len(blocks) == 1:
        runs[0] = n
    return np.repeat((48 + blocks % 10).astype(np.uint8), runs)


def _id_strings(prefix: str, start: int, stop: int, width: int = 0) -> pa.ChunkedArray:
    """Strings ``prefix + number`` for every number in ``range(start, stop)``.

    Numbers are zero-padded to ``width`` digits (wider numbers keep all digits);
    ``width=0`` writes them unpadded. Built straight into Arrow buffers; the range
    is contiguous, so every digit column is a repeat or a tile, never a division.
    """
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chunks = []
    lo = start
    while lo < stop:
        digits = max(width, len(str(lo)))
        hi = min(stop, lo + _CHUNK, 10**digits)  # same digit count within a chunk
        n, w = hi - lo, len(head) + digits
        buf = np.empty((n, w), dtype=np.uint8)
        buf[:, : len(head)] = head
        for place in range(digits):
            buf[:, w - 1 - place] = _digits(lo, hi, place)
        offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
        chunks.append(
            pa.Array.from_buffers(
                pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)]
            )
        )
        lo = hi
    return pa.chunked_array(chunks, type=pa.string())


def _constant_strings(value: str, n: int) -> pa.ChunkedArray:
    """``n`` copies of ``value`` as a string column."""
    data = value.encode()
    chunks = []
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        offsets = np.arange(0, (m + 1) * len(data), len(data), dtype=np.int32)
        chunks.append(
            pa.Array.from_buffers(
                pa.string(), m, [None, pa.py_buffer(offsets), pa.py_buffer(data * m)]
            )
        )
    return pa.chunked_array(chunks, type=pa.string())


def _decode(codes: np.ndarray, dictionary: list[str | None]) -> pa.ChunkedArray:
    """Turn integer codes into a string column; dictionary entries of None are null."""
    is_null = np.array([v is None for v in dictionary])
    values = pa.array([v or "" for v in dictionary], type=pa.string())
    chunks = []
    for lo in range(0, len(codes), _CHUNK):
        part = codes[lo : lo + _CHUNK]
        indices = pa.array(part, mask=is_null[part] if is_null.any() else None)
        chunks.append(pa.DictionaryArray.from_arrays(indices, values).cast(pa.string()))
    return pa.chunked_array(chunks, type=pa.string())


def _timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch as a UTC timestamp column (null where not valid)."""
    if valid is None:
        us = np.ascontiguousarray(us, dtype=np.int64)
        return pa.Array.from_buffers(_TS, len(us), [None, pa.py_buffer(us)])
    return pa.array(us, mask=~valid).cast(_TS)


def _utc_us(value: str | pd.Timestamp, name: str) -> int:
    """Read a date or timestamp as microseconds since the epoch (naive means UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        ts = pd.NaT
    if ts is pd.NaT:
        raise ParameterError(
            f"synthesize: {name}={value!r} is not a date; give an ISO "
            "date such as '2025-01-01'"
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "us"))


def _segment_ids(counts: np.ndarray) -> np.ndarray:
    """Segment number of every element when segment i holds ``counts[i]`` elements."""
    dtype = np.int32 if len(counts) < 2**31 else np.int64
    return np.repeat(np.arange(len(counts), dtype=dtype), counts)


def _solve_intercept(logit: np.ndarray, rate: float) -> float:
    """Find the shift c with mean(sigmoid(logit + c)) equal to ``rate`` (bisection)."""
    if len(logit) == 0:
        return 0.0
    lo, hi = -30.0, 30.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _tables() -> dict[str, tuple[np.ndarray, list[str | None]]]:
    """Probability tables (rows by condition) and the dictionaries they draw from."""
    weights = np.array([_CHANNEL_TABLE[c][0] for c in _CHANNELS], dtype=float).T
    out: dict[str, tuple[np.ndarray, list[str | None]]] = {
        "channel": (weights / weights.sum(axis=1, keepdims=True), list(_CHANNELS))
    }

    names: list[str | None] = []
    rows: list[dict[int, float]] = []
    k = max(len(v) for v in _CAMPAIGNS.values())
    for ci, name in enumerate(_CHANNELS):  # rows: channel * 2 + (after awareness)
        entries = _CAMPAIGNS[name]
        rows.append({ci * k + j: e[1] for j, e in enumerate(entries)})
        rows.append({ci * k + j: e[2] for j, e in enumerate(entries)})
        names += [e[0] for e in entries] + [None] * (k - len(entries))
    out["campaign"] = (_probability_table(rows, len(names)), names)

    assets = sorted({a for _, mix in _CONTENT.values() for a in mix})
    rows = []
    for name in _CHANNELS:  # rows: channel
        p_none, mix = _CONTENT[name]
        total = sum(mix.values())
        row = {0: p_none}
        row.update(
            {1 + assets.index(a): (1 - p_none) * w / total for a, w in mix.items()}
        )
        rows.append(row)
    out["content"] = (_probability_table(rows, len(assets) + 1), [None, *assets])

    rows = []
    for name in _CHANNELS:  # rows: channel * 3 + (before lead, lead touch, after)
        ordinary, lead = _INTERACTION_MIX[name]
        anonymous = {k: w for k, w in ordinary.items() if k != "form_fill"}
        for mix in (anonymous or {"web_visit": 1}, lead, ordinary):
            rows.append({_INTERACTIONS.index(k): w for k, w in mix.items()})
    out["interaction"] = (
        _probability_table(rows, len(_INTERACTIONS)),
        list(_INTERACTIONS),
    )
    return out


def synthesize(
    n_journeys: int,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2025-01-01",
    end: str | pd.Timestamp = "2026-10-01",
) -> tuple[pa.Table, pa.Table]:
    """Draw a realistic synthetic B2B journey store.

    About 30% of journeys reach an opportunity, about 30% of closed opportunities
    are won, deals closing after ``end`` stay open, and the rest of the journeys
    never convert. Buyers touch 13-17 times (median) with a long tail up to 80
    touches. Channels carry different true lifts on opportunity creation and on
    winning, and their mix shifts from awareness to sales, so attribution models
    disagree the way they do on real data. See the module docstring for the full
    generative story. Identical arguments give identical tables.

    Parameters
    ----------
    n_journeys : int
        Number of journeys (rows of the journeys table), at least 0.
    seed : int, default=0
        Seed of ``numpy.random.default_rng``, the only source of randomness.
    start, end : str or pandas.Timestamp, default="2025-01-01", "2026-10-01"
        The time window (naive values are read as UTC); every timestamp falls
        inside it.

    Returns
    -------
    touches : pyarrow.Table
        In :data:`~attribution.store.TOUCH_SCHEMA`, sorted by ``journey_id``, ``ts``,
        ``seq``: ``journey_id`` (``J0000001``...), ``ts``, ``seq`` (0-based in the
        journey), ``person_id`` (``P0000001``...), ``channel``, ``campaign``,
        ``content``, ``interaction``, ``source`` (``"synth"``) and ``source_ref``
        (``"synth:touch:<row>"``, the 0-based row of the touch in this table).
    journeys : pyarrow.Table
        In :data:`~attribution.store.JOURNEY_SCHEMA`, sorted by ``journey_id``:
        ``account_id`` (``A000001``...), ``lead_created_at``,
        ``opportunity_created_at``, ``closed_at``, ``won``, ``pipeline_amount``
        (USD, median about 30k, 0 without an opportunity), ``revenue_amount``
        (USD, won deals only: the pipeline amount less a discount, mostly small),
        ``currency`` (``"USD"``) and ``weight`` (1).

    Raises
    ------
    ParameterError
        When ``n_journeys`` is negative or not an integer, ``start`` or ``end``
        is not a date, or ``start`` is not at least a day before ``end``.

    See Also
    --------
    write_synthetic_store : Write the tables as a journey store.

    Examples
    --------
    >>> touches, journeys = synthesize(5, seed=1)
    >>> journeys.num_rows, journeys.column("journey_id")[0].as_py()
    (5, 'J0000001')
    >>> touches.schema.names[:4]
    ['journey_id', 'ts', 'seq', 'person_id']
    >>> synthesize(5, seed=1)[0].equals(touches)
    True
    """
    if (
        isinstance(n_journeys, bool)
        or not isinstance(n_journeys, int | np.integer)
        or n_journeys < 0
    ):
        raise ParameterError(
            f"synthesize: n_journeys must be an integer >= 0, got {n_journeys!r}"
        )
    n = int(n_journeys)
    t_start, t_end = _utc_us(start, "start"), _utc_us(end, "end")
    if t_end - t_start < 1_000_000 * _DAY_S:
        raise ParameterError(
            f"synthesize: start ({start}) must be at least a day before end ({end})"
        )
    end_s = (t_end - t_start) // 1_000_000  # the window in whole seconds
    window = end_s / _DAY_S  # and in days
    rng = np.random.default_rng(seed)
    tables = _tables()
    channel_table = tables["channel"][0]

    # ------------------------------------------------------------ accounts, people
    n_acc = max(1, -(-n // 3))
    acc_size = rng.lognormal(0.0, 0.6, n_acc)
    acc_cum = np.cumsum(acc_size)
    account = np.minimum(
        np.searchsorted(acc_cum, rng.random(n) * acc_cum[-1]), n_acc - 1
    ).astype(np.int32)
    n_people = np.minimum(1 + rng.poisson(2.0, n_acc), 8).astype(np.int32)
    people_start = (np.cumsum(n_people) - n_people).astype(np.int32)
    primary = people_start[account] + (rng.random(n) * n_people[account]).astype(
        np.int32
    )

    # ------------------------------------------------------------ pre-opportunity
    # segments per journey: awareness, the lead touch (0 or 1), nurture
    n_pre = np.clip(np.rint(rng.lognormal(np.log(13.0), 0.5, n)), 1, _MAX_TOUCHES - 10)
    n_pre = n_pre.astype(np.int64)
    has_lead = rng.random(n) < _LEAD_RATE
    k_lead = np.minimum((rng.beta(2.2, 2.5, n) * n_pre).astype(np.int64), n_pre - 1)
    pre_counts = np.stack(
        [
            np.where(has_lead, k_lead, n_pre),
            has_lead.astype(np.int64),
            np.where(has_lead, n_pre - 1 - k_lead, 0),
        ],
        axis=1,
    ).ravel()
    seg = _segment_ids(pre_counts)
    # a touch is late in its segment from the segment's middle on
    middle = np.cumsum(pre_counts) - pre_counts // 2
    stage = (seg % 3).astype(np.int8)
    row = np.array([_AWARE_EARLY, _LEAD, _NURTURE_EARLY], dtype=np.int8)[stage]
    index = np.arange(len(seg), dtype=np.int32 if len(seg) < 2**31 else np.int64)
    row += (index >= middle[seg]) & (stage != 1)
    del index, stage, middle
    pre_channel = _sample_rows(rng, row, channel_table)
    del row

    # opportunity: a logistic draw with a lift per pre-opportunity touch
    opp_lift = np.array([_CHANNEL_TABLE[c][1] for c in _CHANNELS])
    logit = np.bincount(
        seg // 3, weights=opp_lift[pre_channel], minlength=n
    ) + 0.3 * rng.standard_normal(n)
    del seg
    shift = _solve_intercept(logit[has_lead], min(_OPP_RATE / _LEAD_RATE, 0.99))
    opp = has_lead & (rng.random(n) < _sigmoid(logit + shift))

    # ------------------------------------------------------------ all touches
    n_post = np.where(opp, 1 + rng.negative_binomial(2, 2 / 7, n), 0)  # mean 6
    n_post = np.minimum(n_post, _MAX_TOUCHES - n_pre)
    counts = np.concatenate([pre_counts.reshape(n, 3), n_post[:, None]], axis=1).ravel()
    del pre_counts
    lengths = counts.reshape(n, 4).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n_t = int(offsets[-1])
    seg = _segment_ids(counts)
    journey = seg >> 2
    stage = (seg & 3).astype(np.int8)
    is_post = stage == 3
    channel = np.empty(n_t, dtype=np.int8)
    channel[~is_post] = pre_channel
    del pre_channel
    channel[is_post] = _sample_rows(
        rng, np.full(int(is_post.sum()), _SALES, np.int8), channel_table
    )
    del is_post

    # won: a logistic draw with a win lift per touch of the opportunity
    win_lift = np.array([_CHANNEL_TABLE[c][2] for c in _CHANNELS])
    wlogit = np.bincount(
        journey, weights=win_lift[channel], minlength=n
    ) + 0.5 * rng.standard_normal(n)
    shift = _solve_intercept(wlogit[opp], _WIN_RATE)
    won_latent = opp & (rng.random(n) < _sigmoid(wlogit + shift))

    # ------------------------------------------------------------ timeline (days)
    d_aware = rng.lognormal(np.log(35.0), 0.7, n) * np.sqrt((counts[0::4] + 1) / 6)
    d_nurture = np.where(
        has_lead,
        rng.lognormal(np.log(40.0), 0.7, n) * np.sqrt((counts[2::4] + 1) / 6),
        0.0,
    )
    d_cycle = np.where(
        won_latent,
        rng.lognormal(np.log(90.0), 0.45, n),
        rng.lognormal(np.log(60.0), 0.55, n),
    )
    span = d_aware + d_nurture
    shrink = np.minimum(1.0, 0.95 * window / np.maximum(span, 1e-9))
    d_aware *= shrink
    d_nurture *= shrink
    span *= shrink
    t0 = rng.random(n) * (window - span)
    t_lead = t0 + d_aware
    t_opp = t_lead + d_nurture
    t_close = t_opp + d_cycle
    closed = opp & (t_close <= window)
    d_post = np.where(closed, d_cycle, window - t_opp)
    lead_s = np.floor(t_lead * _DAY_S).astype(np.int64)
    opp_s = np.floor(t_opp * _DAY_S).astype(np.int64)
    close_s = np.maximum(np.floor(t_close * _DAY_S).astype(np.int64), opp_s + 1)

    # touch times: bursty positions inside each segment, in seconds from start
    starts = np.cumsum(counts) - counts
    run = np.empty(n_t + 1)
    run[0] = 0.0
    gaps = run[1:]
    rng.standard_exponential(out=gaps)
    np.square(gaps, out=gaps)
    np.cumsum(gaps, out=gaps)
    before = run[starts]
    total = run[starts + counts] - before
    total += np.square(rng.standard_exponential(4 * n))  # a trailing gap per segment
    seg_begin = np.stack([t0, t_lead, t_lead, t_opp], axis=1).ravel()
    seg_len = np.stack([d_aware, np.zeros(n), d_nurture, d_post], axis=1).ravel()
    secs = gaps  # reuse the buffer: position -> days -> seconds, in place
    secs -= before[seg]
    secs *= (seg_len / total)[seg]
    secs += seg_begin[seg]
    secs *= _DAY_S
    np.floor(secs, out=secs)
    del before, total, seg_begin, seg_len
    # clamp into each segment's bounds (guards float rounding; sales touches come
    # strictly after opportunity creation); clamping keeps the order of touches
    lo = np.stack([np.zeros(n, np.int64), lead_s, lead_s, opp_s + 1], axis=1).ravel()
    hi = np.stack(
        [
            np.where(has_lead, lead_s, end_s),
            lead_s,
            opp_s,
            np.where(closed, close_s, end_s),
        ],
        axis=1,
    ).ravel()
    ts = secs.astype(np.int64)
    del secs, gaps, run
    np.clip(ts, lo[seg], hi[seg], out=ts)
    np.minimum(ts, end_s, out=ts)
    ts *= 1_000_000
    ts += t_start
    del seg, lo, hi

    # ------------------------------------------------------------ touch attributes
    after_awareness = stage != 0
    campaign = _sample_rows(rng, channel * 2 + after_awareness, tables["campaign"][0])
    del after_awareness
    content = _sample_rows(rng, channel, tables["content"][0])
    interaction = _sample_rows(
        rng, channel * 3 + np.minimum(stage, 2), tables["interaction"][0]
    )
    del stage

    # people: the journey's primary person for most touches, a colleague otherwise
    person = primary[journey]
    other = np.flatnonzero(rng.random(n_t, dtype=np.float32) < 0.3)
    acc_t = account[journey[other]]
    person[other] = people_start[acc_t] + (
        rng.random(len(other), dtype=np.float32) * n_people[acc_t]
    ).astype(np.int32)
    del other, acc_t

    # ------------------------------------------------------------ amounts
    # journeys are drawn in proportion to account size, so size over journeys is
    # lognormal(0.6**2, 0.6): divide that out to keep the median deal near 30k USD
    deal = 30_000.0 * np.exp(-0.36) * acc_size[account] * rng.lognormal(0.0, 0.7, n)
    pipeline = np.where(opp, np.round(deal, -1), 0.0)
    won = won_latent & closed
    discount = 1.0 - rng.beta(1.2, 8.0, n)  # mostly small discounts, mean about 13%
    revenue = np.where(won, np.round(pipeline * discount, 2), 0.0)

    # ------------------------------------------------------------ arrow tables
    journey_ids = _id_strings("J", 1, n + 1, 7)
    seq = np.arange(n_t, dtype=np.int64)
    seq -= offsets[:-1][journey]
    columns = [journey_ids.take(pa.array(journey)), _timestamps(ts), pa.array(seq)]
    del journey, ts, seq
    columns.append(
        _id_strings("P", 1, int(n_people.sum()) + 1, 7).take(pa.array(person))
    )
    del person
    for codes, name in (
        (channel, "channel"),
        (campaign, "campaign"),
        (content, "content"),
        (interaction, "interaction"),
    ):
        columns.append(_decode(codes, tables[name][1]))
    del channel, campaign, content, interaction
    columns.append(_constant_strings(_SOURCE, n_t))
    columns.append(_id_strings(f"{_SOURCE}:touch:", 0, n_t))
    touches = pa.Table.from_arrays(columns, schema=TOUCH_SCHEMA)
    del columns
    journeys = pa.Table.from_arrays(
        [
            journey_ids,
            _id_strings("A", 1, n_acc + 1, 6).take(pa.array(account)),
            _timestamps(t_start + lead_s * 1_000_000, has_lead),
            _timestamps(t_start + opp_s * 1_000_000, opp),
            _timestamps(t_start + close_s * 1_000_000, closed),
            pa.array(won),
            pa.array(pipeline),
            pa.array(revenue),
            _constant_strings("USD", n),
            pa.array(np.ones(n, dtype=np.int64)),
        ],
        schema=JOURNEY_SCHEMA,
    )
    return touches, journeys


def write_synthetic_store(
    out: str | os.PathLike,
    n_journeys: int,
    *,
    seed: int = 0,
    partitions: int | None = None,
) -> Path:
    """Write a synthetic journey store (see :func:`synthesize`) and return its path.

    Parameters
    ----------
    out : path
        A new path, or an existing touchline store to replace.
    n_journeys : int
        Number of journeys.
    seed : int, default=0
        Random seed; the same seed gives the same data.
    partitions : int, optional
        Write the partitioned layout with this many parts.

    Returns
    -------
    pathlib.Path
        The store directory. Its ``manifest.json`` records
        ``{"synthetic": {"journeys": n_journeys, "seed": seed}}``.

    See Also
    --------
    synthesize : The tables, without writing them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_synthetic_store(pathlib.Path(tmp) / "store", 20, seed=3)
    ...     (path / "manifest.json").exists()
    True
    """
    touches, journeys = synthesize(n_journeys, seed=seed)
    return write_store(
        out,
        touches,
        journeys,
        partitions=partitions,
        extra={"synthetic": {"journeys": int(n_journeys), "seed": seed}},
    )
