"""Ingest: read one or more source files and write them as one journey store."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from attribution.exceptions import TouchlineError
from attribution.store import write_store

from . import _merge
from ._identity import attach_web_sessions
from .channels import ChannelMapping, load_channel_mapping
from .ga4 import read_ga4
from .paths import read_paths
from .salesforce import read_salesforce
from .spend import convert_currencies, load_fx_rates, read_spend
from .touches import read_touches

__all__ = ["SOURCES", "ingest"]

#: Source kinds by name, each a reader ``reader(path, **options)``. A reader returns
#: an object with ``touches``, ``journeys`` and ``rejects`` (pyarrow Tables in the
#: schemas of :mod:`attribution.store`), an optional ``spend`` table, and its
#: manifest entry as ``input`` (a dict), or as ``inputs`` (a list of dicts) when it
#: reads several files. Its options are keyword-only parameters; :func:`ingest`
#: checks option names against the reader's signature. Add a connector here.
SOURCES: dict[str, Callable[..., Any]] = {
    "paths": read_paths,
    "salesforce": read_salesforce,
    "ga4": read_ga4,
    "touches": read_touches,
    "spend": read_spend,
}

Input = tuple[str, str | os.PathLike[str]] | Mapping[str, Any]


def ingest(
    inputs: Sequence[Input],
    store_dir: str | os.PathLike[str],
    *,
    partitions: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    channel_map: str | os.PathLike[str] | ChannelMapping | None = None,
    tz: str | None = None,
    currency: str | None = None,
    fx: str | os.PathLike[str] | Mapping[str, float] | None = None,
) -> Path:
    r"""Read source files and write them, merged, as one journey store.

    Re-ingesting the same inputs gives a byte-identical store: every Parquet file
    is the same, and ``manifest.json`` differs only in ``written_at``. Readers are
    deterministic, the store is sorted by ``journey_id`` and inputs are merged in
    the order given.

    When two inputs yield the same ``journey_id`` (two paths files both start at
    ``P000000002-c``), every input's ids are prefixed with its 1-based position in
    ``inputs``: ``"1:P000000002-c"``, ``"2:P000000002-c"``. Without a collision the
    ids are the readers' own.

    Parameters
    ----------
    inputs : sequence of (kind, path) or of dict
        The files to read, in order. ``kind`` names a reader of :data:`SOURCES`
        (``"paths"``). A dict holds ``kind`` and ``path`` and, optionally, options
        for that one file, e.g. ``{"kind": "paths", "path": "p.csv",
        "separator": ">"}``.
    store_dir : str or os.PathLike
        A new path, or an existing touchline store (it is replaced atomically).
    partitions : int, optional
        Write the partitioned layout (``touches/part-NNNNN.parquet``, ...) with this
        many parts; by default one file per table.
    options : mapping of str to mapping, optional
        Reader options by kind, applied to every input of that kind, e.g.
        ``{"paths": {"delimiter": ";"}}``. Options in an input's dict win.
    channel_map : path or ChannelMapping, optional
        The analyst's channel rules (CSV or TOML, see
        :func:`connectors.load_channel_mapping`), given to every reader that
        groups channels; recorded in the manifest as ``channel_mapping``. Values
        the grouping leaves ``Unassigned`` are counted in the manifest's
        ``unmapped`` (``"source / medium"`` -> rows).
    tz : str, optional
        IANA zone of timestamps written without one (default UTC), for the readers
        that take it.
    currency : str, optional
        The store's currency (default: the one currency found, or the one with rate
        1 in ``fx``); recorded in the manifest as ``currency``.
    fx : path or mapping of str to float, optional
        Exchange rates into the store currency (a CSV ``currency,
        rate_to_store_currency``, see :func:`connectors.load_fx_rates`). Spend and
        journey amounts in other currencies are converted; without it, a store
        whose inputs name two currencies is refused.

    Touches that arrive twice (same ``journey_id``, ``person_id``, ``ts``,
    ``channel`` and ``campaign``; timeless touches excepted) are kept once, the
    first in input order; the input row that lost counts as ``rows_duplicate`` in
    the manifest. A journey that a reader derived from touches alone (a touch log
    without a journeys file) yields to the same ``journey_id`` from another input.

    Returns
    -------
    pathlib.Path
        The store directory.

    Raises
    ------
    TouchlineError
        For an unknown kind (the message lists :data:`SOURCES`), an option the
        reader does not take, no inputs, or a bad ``partitions``.
    SchemaError
        When a file cannot be read (see the readers).

    See Also
    --------
    connectors.read_paths : The ``paths`` reader.
    attribution.store.write_store : The writer used here.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "paths.csv").write_text("path,total_conversions,total_null\n"
    ...                                    "email > search,4,10\n")
    >>> store = ingest([("paths", tmp / "paths.csv")], tmp / "store")
    >>> sorted(p.name for p in store.iterdir())
    ['journeys.parquet', 'manifest.json', 'rejects.parquet', 'touches.parquet']
    """
    single = (isinstance(inputs, tuple) and len(inputs) == 2
              and isinstance(inputs[0], str) and inputs[0] in SOURCES)
    if isinstance(inputs, (str, os.PathLike)) or single:
        raise TouchlineError("inputs must be a list of (kind, path) pairs, e.g. "
                             "[('paths', 'paths.csv')]")
    if not inputs:
        raise TouchlineError("ingest needs at least one input, e.g. "
                             "[('paths', 'paths.csv')]")
    if partitions is not None and (isinstance(partitions, bool)
                                   or not isinstance(partitions, (int, np.integer))
                                   or partitions < 1):
        raise TouchlineError(f"ingest: partitions must be a whole number >= 1 or None; "
                             f"got {partitions!r}")
    options = dict(options or {})
    for kind in options:
        _reader(kind)
    mapping = load_channel_mapping(channel_map) if channel_map is not None else None
    rates = load_fx_rates(fx) if isinstance(fx, (str, os.PathLike)) else fx
    shared = {"channel_map": mapping, "tz": tz, "currency": currency, "fx": rates}

    results = []
    kinds = []
    for item in inputs:
        kind, path, own = _normalise(item)
        reader = _reader(kind)
        kwargs = {**_merge.global_options(reader, shared), **options.get(kind, {}),
                  **own}
        _check_options(kind, reader, kwargs)
        results.append(reader(path, **kwargs))
        kinds.append(kind)

    touches = [r.touches for r in results]
    journeys = [r.journeys for r in results]
    # web sessions of CRM people join that person's journeys (see _identity)
    touches, journeys = attach_web_sessions(results, touches, journeys)
    journeys = _merge.drop_derived_journeys(results, journeys)
    if len(results) > 1 and _collide(journeys):
        touches = [_prefix(t, f"{k}:") for k, t in enumerate(touches, start=1)]
        journeys = [_prefix(j, f"{k}:") for k, j in enumerate(journeys, start=1)]
    spends = [s for s in (getattr(r, "spend", None) for r in results) if s is not None]
    per_result: list[list[dict[str, Any]]] = []
    for r in results:
        many = getattr(r, "inputs", None)
        per_result.append([dict(e) for e in (many if many is not None else [r.input])])
    # touches that arrive twice are kept once (see _merge.dedupe_touches)
    all_touches, lost = _merge.dedupe_touches(touches)
    for own_entries, own_lost in zip(per_result, lost, strict=True):
        _merge.count_duplicates(own_entries, own_lost)
    entries = [e for own_entries in per_result for e in own_entries]
    spend = pa.concat_tables(spends) if spends else None
    spend, journeys, store_currency = convert_currencies(
        spend, journeys, currency=currency, fx=rates,
        names=_merge.spend_origins(spend))
    used = (mapping or ChannelMapping()).to_manifest()
    grouped = any(k != "paths" for k in kinds)
    return write_store(
        store_dir,
        all_touches,
        pa.concat_tables(journeys),
        rejects=pa.concat_tables([r.rejects for r in results]),
        spend=spend,
        inputs=entries,
        channel_mapping=used if grouped else None,
        partitions=partitions,
        extra={"unmapped": _merge.merge_unmapped(results), "currency": store_currency},
    )


def _reader(kind: object) -> Callable[..., Any]:
    if not isinstance(kind, str) or kind not in SOURCES:
        raise TouchlineError(f"unknown source kind {kind!r}; supported: "
                             f"{', '.join(sorted(SOURCES))}")
    return SOURCES[kind]


def _normalise(item: Input) -> tuple[str, str | os.PathLike[str], dict[str, Any]]:
    """Split an input into kind, path and its own reader options."""
    if isinstance(item, Mapping):
        missing = [k for k in ("kind", "path") if k not in item]
        if missing:
            raise TouchlineError(f"input {dict(item)!r} lacks {', '.join(missing)}; "
                                 "give {'kind': ..., 'path': ..., options...}")
        own = {k: v for k, v in item.items() if k not in ("kind", "path")}
        return item["kind"], item["path"], own
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1], {}
    raise TouchlineError(f"input {item!r} is neither a (kind, path) pair nor a dict "
                         "with kind and path")


def _check_options(kind: str, reader: Callable[..., Any], kwargs: Mapping[str, Any]
                   ) -> None:
    """Refuse options the reader does not take, naming those it does."""
    accepted = [p.name for p in inspect.signature(reader).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TouchlineError(f"source {kind!r} takes no option(s) {', '.join(unknown)};"
                             f" accepted: {', '.join(accepted) or 'none'}")


def _collide(journeys: list[pa.Table]) -> bool:
    ids = pa.chunked_array([j.column("journey_id") for j in journeys], pa.string())
    return len(pc.unique(ids)) != len(ids)


def _prefix(table: pa.Table, prefix: str) -> pa.Table:
    i = table.schema.get_field_index("journey_id")
    ids = pc.binary_join_element_wise(prefix, table.column("journey_id"), "")
    return table.set_column(i, table.schema.field(i), ids)
