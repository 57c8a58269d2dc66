"""One pass over the store for every report table: partial measures, then a finish.

A report table is a :class:`Table` of three steps:

* ``part(part, quarter)`` reduces one :class:`~reports._facts.Part` of the store to
  a :class:`Partial`: additive measures in frames indexed by *names* (channel,
  content, channel and campaign key, band, ...; never a part's dictionary codes,
  which differ from part to part), and rows that do not add up but are kept whole
  (the samples of a weighted median, the spellings of a campaign name);
* ``finish(facts, quarter, partial)`` turns the parts' partials, summed, into the
  quarter's table: shares, ratios, interval bounds, ``(unattributed)`` rows,
  medians and sorting;
* ``merge(facts, current, previous, quarter, compare)`` adds the compare columns.

:func:`run_tables` reads each part once for every table and quarter, so a report
of a partitioned store holds one part at a time (DESIGN §6), and an unpartitioned
or loaded store is one part: there is one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ._facts import Facts, Part

__all__ = ["Partial", "Table", "combine", "run_tables"]


@dataclass
class Partial:
    """Partial measures of one part (or, combined, of the store).

    Attributes
    ----------
    sums : dict of str to DataFrame
        Additive measures, indexed by names; parts are summed per index value.
    rows : dict of str to DataFrame
        Rows kept whole; parts are concatenated in part order.
    """

    sums: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """The steps of one report table (see the module docstring)."""

    name: str
    part: Callable[[Part, str], Partial]
    finish: Callable[[Facts, str, Partial], pd.DataFrame]
    merge: Callable[[Facts, pd.DataFrame, pd.DataFrame, str, str], pd.DataFrame]


def combine(partials: Sequence[Partial]) -> Partial:
    """Sum the parts' measures per name and concatenate their rows.

    Sums come back sorted by their index; the sum of one part is that part's
    values exactly.
    """
    out = Partial()
    if not partials:
        return out
    for name in partials[0].sums:
        whole = pd.concat([p.sums[name] for p in partials])
        out.sums[name] = whole.groupby(level=list(range(whole.index.nlevels)),
                                       sort=True).sum()
    for name in partials[0].rows:
        out.rows[name] = pd.concat([p.rows[name] for p in partials],
                                   ignore_index=True)
    return out


def run_tables(f: Facts, tables: Sequence[Table], quarter: str,
               compare: str | None = None) -> dict[str, pd.DataFrame]:
    """Build report tables of a quarter (and the compare quarter) in one pass.

    Parameters
    ----------
    f : Facts
        The run and its store.
    tables : sequence of Table
        The tables to build.
    quarter : str
        The report quarter.
    compare : str, optional
        The compare quarter (adds the compare columns).

    Returns
    -------
    dict of str to DataFrame
        Each table by name.
    """
    q = f.check_quarter(quarter)
    p = f.check_quarter(compare) if compare is not None else None
    quarters = list(dict.fromkeys([q] if p is None else [q, p]))
    partials: dict[tuple[str, str], list[Partial]] = {
        (t.name, x): [] for t in tables for x in quarters}
    for part in f.parts():
        for t in tables:
            for x in quarters:
                partials[t.name, x].append(t.part(part, x))
        del part  # let the part go before the next is read
    out = {}
    for t in tables:
        table = t.finish(f, q, combine(partials[t.name, q]))
        if p is not None:
            table = t.merge(f, table, t.finish(f, p, combine(partials[t.name, p])),
                            q, p)
        out[t.name] = table
    return out
