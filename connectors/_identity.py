"""Identity: attach web sessions of known CRM people to their CRM journeys (internal).

A CRM reader (``salesforce``) returns ``people``: every contact and lead id of
every journey it built. A web reader (``ga4``) returns ``identities``: the CRM ids
each web-only journey may belong to, best first. :func:`attach_web_sessions`
matches them inside one ``ingest`` call: every touch of a matched web journey is
copied onto each CRM journey of that person (with ``person_id`` = the CRM id), and
the web journey itself is dropped, key events and all: the CRM says whether that
person's deal converted. Unmatched web journeys stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from attribution.store import TOUCH_MEMORY_SCHEMA

__all__ = ["attach_web_sessions"]


def attach_web_sessions(results: Sequence[Any], touches: list[pa.Table],
                        journeys: list[pa.Table]
                        ) -> tuple[list[pa.Table], list[pa.Table]]:
    """Move the touches of web users matched to a CRM person onto its journeys.

    Parameters
    ----------
    results : sequence of reader results
        In input order; a result may carry ``people`` (``person_id``,
        ``journey_id``) or ``identities`` (``journey_id``, ``person_id``,
        ``priority``).
    touches, journeys : list of pyarrow.Table
        The touches and journeys of each result, in the same order.

    Returns
    -------
    (list of pyarrow.Table, list of pyarrow.Table)
        New lists: moved touches are appended to the touches of the CRM input that
        owns the journey; matched web journeys and their own touches are removed.
    """
    crm = [(k, r.people) for k, r in enumerate(results)
           if getattr(r, "people", None) is not None and r.people.num_rows]
    web = [k for k, r in enumerate(results)
           if getattr(r, "identities", None) is not None and r.identities.num_rows]
    if not crm or not web:
        return touches, journeys
    people = pa.concat_tables([
        p.select(["person_id", "journey_id"]).append_column(
            "owner", pa.array([k] * p.num_rows, pa.int64()))
        for k, p in crm])
    touches, journeys = list(touches), list(journeys)
    added: dict[int, list[pa.Table]] = {}
    for k in web:
        ids = results[k].identities
        known = ids.filter(pc.is_in(ids.column("person_id"),
                                    value_set=people.column("person_id")))
        if not known.num_rows:
            continue
        known = known.take(pc.sort_indices(known, [("journey_id", "ascending"),
                                                   ("priority", "ascending"),
                                                   ("person_id", "ascending")]))
        best = known.group_by(["journey_id"], use_threads=False).aggregate(
            [("person_id", "first")]).rename_columns(["web_journey", "crm_person"])
        matched = best.column("web_journey")
        t = touches[k]
        hit = pc.is_in(t.column("journey_id"), value_set=matched)
        moving = t.filter(hit).rename_columns(
            ["web_journey" if c == "journey_id" else c for c in t.column_names])
        moving = moving.join(best, keys="web_journey", join_type="inner",
                             use_threads=False)
        moving = moving.join(people, keys="crm_person", right_keys="person_id",
                             join_type="inner", use_threads=False)
        for owner in pc.unique(moving.column("owner")).to_pylist():
            part = moving.filter(pc.equal(moving.column("owner"), owner))
            part = part.set_column(part.schema.get_field_index("person_id"),
                                   "person_id", part.column("crm_person"))
            part = part.select(TOUCH_MEMORY_SCHEMA.names).cast(TOUCH_MEMORY_SCHEMA)
            part = part.take(pc.sort_indices(part, [("journey_id", "ascending"),
                                                    ("seq", "ascending")]))
            added.setdefault(owner, []).append(part)
        touches[k] = t.filter(pc.invert(hit))
        j = journeys[k]
        journeys[k] = j.filter(pc.invert(pc.is_in(j.column("journey_id"),
                                                  value_set=matched)))
    for owner, parts in added.items():
        touches[owner] = pa.concat_tables([touches[owner].cast(TOUCH_MEMORY_SCHEMA),
                                            *parts])
    return touches, journeys
