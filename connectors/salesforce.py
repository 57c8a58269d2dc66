"""The ``salesforce`` connector: standard object exports into journeys and touches.

A folder holds one CSV per object, with API field names (``CampaignId``) as Data
Loader, Workbench or the REST API write them, or the snake_case names of a warehouse
sync tool (``campaign_id``, Fivetran's ``sf_campaign_member_data.csv``); names are
compared without case or underscores. Each file's object is found from its name
(``CampaignMember.csv``, ``sf_opportunity_data.csv``, ``opportunity-2026.csv``) or,
when the name says nothing, from its header. Files of other objects
(``OpportunityHistory``, line items) are listed in the manifest as ignored.

How the store is built (DESIGN §2)
----------------------------------
- **Journeys.** Every Opportunity is a converting journey: ``journey_id`` = its
  ``Id``, ``account_id`` = ``AccountId``, ``opportunity_created_at`` =
  ``CreatedDate``, ``pipeline_amount`` = ``Amount`` (0 when empty), ``won`` =
  ``IsWon``, ``closed_at`` = ``CloseDate`` only when ``IsClosed`` (an open deal's
  close date is a forecast; a date without a time means the end of that day, UTC),
  ``revenue_amount`` = ``Amount`` when won, else 0. Every responded lead or contact
  that belongs to no opportunity becomes a non-converting journey of its own with
  ``journey_id`` = the person's id (a lead converted into a contact is that contact).
- **People of an opportunity.** Its OpportunityContactRole contacts, and the leads
  converted into them (``Lead.ConvertedContactId``). With ``account_contacts=True``
  every contact of the opportunity's account (``Contact.AccountId``) counts too.
  ``lead_created_at`` is the earliest ``CreatedDate`` among those contacts and
  leads.
- **Touches.** A CampaignMember row is a touch when ``HasResponded`` is true (when
  the column is missing: when ``FirstRespondedDate`` is set); it becomes a touch of
  every journey of its person. ``ts`` = ``FirstRespondedDate``, or the member's
  ``CreatedDate`` when that is empty (the response date is the better moment: the
  member may have been added long before responding). ``person_id`` is the member's
  ``ContactId``, else its ``LeadId``; ``campaign`` is ``Campaign.Name``; ``channel``
  comes from the channel grouping of ``Campaign.Type`` (and ``Lead.LeadSource``);
  ``interaction`` from ``Campaign.Type`` and the member ``Status``
  (``webinar_attended``, ``event_attended``, ``email_click``, ``form_fill``, ...).
- **Accounting.** Every row of every file is counted once in the manifest:
  *used* (an Opportunity that is a journey, a CampaignMember that is a touch),
  *looked up* (Campaign, Contact, Lead and OpportunityContactRole rows, and members
  that never responded: read, checked, not touches by design), *duplicate*
  (a repeated ``Id``, a repeated member of the same campaign, a repeated contact
  role) or *rejected* into ``rejects.parquet`` with ``file:row``, the raw values and
  a reason.

Values: dates in ISO, ``MM/DD/YYYY`` or Excel serials (see
:func:`connectors._values.parse_timestamps`); amounts with thousands separators or
currency symbols; booleans ``true``/``TRUE``/``1``. Rows marked deleted
(``IsDeleted``, ``_fivetran_deleted``) or superseded (``_fivetran_active`` false)
are rejected unless ``include_deleted=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from attribution._memory import release_unused_memory
from attribution.exceptions import SchemaError
from attribution.store import JOURNEY_SCHEMA, TOUCH_MEMORY_SCHEMA, TOUCH_SCHEMA

from ._stream import Input, NotUtf8, iter_batches
from ._values import (
    CsvTable,
    Rejects,
    as_latin1,
    canonical,
    date_hint,
    open_csv_strings,
    parse_amounts,
    parse_bools,
    parse_timestamps,
    read_csv_strings,
    read_header,
    reasons_of,
    text,
)
from .channels import UNASSIGNED, ChannelMapping, assign_channels, load_channel_mapping
from .spend import campaign_costs, load_fx_rates

__all__ = ["OBJECTS", "SalesforceResult", "read_salesforce"]

SOURCE = "salesforce"

#: The objects read, with their required and optional fields (canonical names).
OBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Campaign": (("id",), ("name", "type", "startdate", "enddate", "actualcost",
                           "budgetedcost", "parentid", "currencyisocode")),
    "CampaignMember": (("campaignid",), ("contactid", "leadid", "status",
                                         "hasresponded", "firstrespondeddate",
                                         "createddate", "id")),
    "Opportunity": (("id", "createddate"), ("accountid", "amount", "stagename",
                                            "isclosed", "iswon", "closedate",
                                            "currencyisocode")),
    "OpportunityContactRole": (("opportunityid", "contactid"), ("role", "isprimary")),
    "Contact": (("id",), ("accountid", "createddate")),
    "Lead": (("id",), ("createddate", "convertedcontactid", "converteddate",
                       "leadsource")),
}

# file-name patterns, tried in order (longer object names first)
_NAME_PATTERNS = (
    ("CampaignMember", "campaignmember"),
    ("OpportunityContactRole", "opportunitycontactrole"),
    ("OpportunityContactRole", "contactrole"),
    ("Campaign", "campaign"),
    ("Opportunity", "opportunit"),
    ("Contact", "contact"),
    ("Lead", "lead"),
)
_IGNORED_NAME = re.compile(r"history|lineitem|share|feed|split|partner|teammember")
_SUFFIXES = (".csv", ".tsv", ".txt")

_USED, _LOOKED_UP, _DUPLICATE, _REJECTED = 1, 2, 3, 4

# interaction from member Status (regex, lower case), then from Campaign.Type
_STATUS_INTERACTION = (
    (r"attend|joined|visited|showed", None),  # attendance: by type below
    (r"click", "email_click"),
    (r"open", "email_open"),
    (r"regist|download|submit|fill|sign|request|form", "form_fill"),
    (r"meet|demo", "meeting"),
)
_TYPE_INTERACTION = (
    (r"webinar|webcast|virtual", "webinar_attended"),
    (r"event|conference|trade ?show|seminar|roadshow|dinner|field", "event_attended"),
    (r"e-?mail|newsletter|nurture", "email_click"),
    (r"advert|paid|banner|ppc|cpc|display|social|search", "ad_click"),
    (r"direct ?mail", "direct_mail"),
    (r"syndication|content|ebook|whitepaper|web|referral|partner", "form_fill"),
    (r"telemarket|outbound|sdr|call", "sales_call"),
)


@dataclass(frozen=True)
class SalesforceResult:
    """What :func:`read_salesforce` returns.

    Attributes
    ----------
    touches, journeys, rejects : pyarrow.Table
        In the store schemas of :mod:`attribution.store`.
    spend : pyarrow.Table or None
        ``Campaign.ActualCost`` as ``other`` cost spread over the campaign's dates
        (:func:`connectors.spend.campaign_costs`), when the Campaign export has
        that column.
    inputs : list of dict
        One manifest entry per file (``rows_read = rows_used + rows_looked_up +
        rows_duplicate + rows_rejected``), plus ``object`` and ``encoding``.
    people : pyarrow.Table
        ``person_id``, ``journey_id``: every contact and lead id of every journey,
        so that another source (GA4) can attach the touches of a matched person.
    unmapped : dict of str to int
        Members and campaign costs whose channel the grouping could not place,
        by ``"source / medium / type T"``.
    """

    touches: pa.Table
    journeys: pa.Table
    rejects: pa.Table
    inputs: list[dict[str, Any]]
    people: pa.Table
    spend: pa.Table | None = None
    unmapped: dict[str, int] = field(default_factory=dict)


@dataclass
class _File:
    """One input file: its table (read when first needed), per-row status, rejects.

    Files are read one object at a time and released once their rows are
    classified (:meth:`release`), so only one export's text is in memory at once.
    The largest export, CampaignMember, is instead read a batch at a time
    (:meth:`batches`), so its whole text never is.
    """

    path: Path
    obj: str
    header: list[str]
    rejects: Rejects
    include_deleted: bool = False
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    _csv: CsvTable | None = None
    _summary: dict[str, Any] | None = None
    _input: Input | None = None

    @property
    def csv(self) -> CsvTable:
        if self._csv is None:
            if self._summary is not None:  # pragma: no cover - a programming error
                raise AssertionError(f"{self.path}: read again after release")
            self._csv = read_csv_strings(self.path)
            self.status = np.zeros(self._csv.table.num_rows, np.int8)
            self.rejects.add_invalid(self._csv.invalid,
                                     len(self._csv.table.column_names))
            _check_deleted(self, self.include_deleted)
        return self._csv

    def batches(self, batch_bytes: int) -> Iterator[tuple[int, _File]]:
        """Read the file a batch at a time: ``(offset, view)`` per batch, in order.

        A view is a :class:`_File` of the batch's rows sharing this file's rejects;
        ``offset`` is the position of its first row among the file's rows (blank
        rows left out, as in :attr:`csv`). The first reading checks rows as
        :attr:`csv` does (rows of the wrong width and deleted rows are rejected)
        and keeps the manifest summary; each view has a status of its own, and the
        file's ``status`` is gathered from them when the reading ends. A later
        reading gives views whose status is a slice of ``status``.

        Raises
        ------
        NotUtf8
            When the first reading meets text that is not UTF-8: call
            :meth:`read_as_latin1` and read again.
        """
        first = self._summary is None
        if self._input is None:
            self._input = open_csv_strings(self.path)
        inp = replace(self._input, invalid=[], blank=0)
        statuses = []
        offset = 0
        for batch in iter_batches(inp, batch_bytes=batch_bytes):
            n = batch.table.num_rows
            status = (np.zeros(n, np.int8) if first
                      else self.status[offset:offset + n])
            csv = CsvTable(path=self.path, table=batch.table, rows=batch.rows,
                           encoding=inp.encoding or "utf-8",
                           delimiter=inp.delimiter or ",")
            view = _File(path=self.path, obj=self.obj, header=self.header,
                         rejects=self.rejects, status=status, _csv=csv)
            if first:
                _check_deleted(view, self.include_deleted)
                statuses.append(status)
            yield offset, view
            offset += n
        if first:
            self.status = (np.concatenate(statuses) if statuses
                           else np.zeros(0, np.int8))
            self.rejects.add_invalid(inp.invalid, len(inp.header))
            self._summary = {"rows_read": offset + len(inp.invalid),
                             "invalid": len(inp.invalid),
                             "encoding": inp.encoding, "delimiter": inp.delimiter}
        elif offset != len(self.status):  # pragma: no cover - the file changed
            raise SchemaError(f"{self.path}: changed while it was being read "
                              f"({len(self.status)} rows, then {offset})")

    def read_as_latin1(self) -> None:
        """Forget a first reading stopped by NotUtf8; read as Latin-1 next time."""
        if self._input is None:  # pragma: no cover - a programming error
            raise AssertionError(f"{self.path}: not opened")
        self._input = as_latin1(self._input)
        self.rejects = Rejects(SOURCE, self.path.name)
        self.status = np.zeros(0, np.int8)
        self._summary = None

    def release(self) -> None:
        """Drop the file's text, keeping what the manifest needs."""
        if self._csv is not None:
            c = self._csv
            self._summary = {"rows_read": c.rows_read, "invalid": len(c.invalid),
                             "encoding": c.encoding, "delimiter": c.delimiter}
            self._csv = None

    def col(self, key: str) -> pa.Array:
        return text(self.csv.column(key), self.csv.table.num_rows)

    def reject(self, mask: np.ndarray, reasons: np.ndarray | str) -> None:
        mask = mask & (self.status == 0)
        self.rejects.add_rows(self.csv.table, self.csv.rows, mask, reasons)
        self.status[mask] = _REJECTED

    def entry(self) -> dict[str, Any]:
        if self._summary is None:
            self.csv  # noqa: B018 - a file no step needed is still read and counted
        self.release()
        summary = self._summary or {}
        counts = np.bincount(self.status, minlength=5)
        if counts[0]:  # pragma: no cover - every row is classified below
            raise AssertionError(f"{self.path}: {counts[0]} rows not accounted for")
        return {
            "path": str(self.path), "source": SOURCE, "object": self.obj,
            "rows_read": summary["rows_read"],
            "rows_used": int(counts[_USED]),
            "rows_looked_up": int(counts[_LOOKED_UP]),
            "rows_duplicate": int(counts[_DUPLICATE]),
            "rows_rejected": int(counts[_REJECTED]) + summary["invalid"],
            "encoding": summary["encoding"], "delimiter": summary["delimiter"],
        }


def read_salesforce(
    path: str | os.PathLike[str],
    *,
    account_contacts: bool = False,
    currency: str | None = None,
    fx: str | os.PathLike[str] | Mapping[str, float] | None = None,
    tz: str | None = None,
    include_deleted: bool = False,
    channel_map: ChannelMapping | str | os.PathLike[str] | None = None,
) -> SalesforceResult:
    r"""Read a folder of Salesforce object exports into store tables.

    See the module docstring for how journeys, touches and the manifest counts are
    built; the README's "Connectors: Salesforce and GA4" section says the same for
    analysts.

    Parameters
    ----------
    path : str or os.PathLike
        A folder of CSV exports (or one CSV file): Campaign, CampaignMember,
        Opportunity, OpportunityContactRole, Contact and Lead. Opportunity or
        CampaignMember must be there; Campaign must be there when CampaignMember is.
    account_contacts : bool, default=False
        Take every contact of an opportunity's account as its people, not only its
        contact roles.
    currency : str, optional
        The store's currency. By default the one with rate 1 in ``fx``, else the
        only (or most frequent) ``CurrencyIsoCode``; without that column the
        journeys name no currency (the store's, whatever it is).
    fx : path or mapping of str to float, optional
        Exchange rates into the store currency (see
        :func:`connectors.spend.load_fx_rates`: one unit of ``currency`` is worth
        ``rate`` units of the store's). Opportunities in another currency are
        converted; without ``fx`` they are rejected, with their reason.
    tz : str, optional
        IANA zone of date-times written without one (default UTC).
    include_deleted : bool, default=False
        Keep rows marked deleted or superseded instead of rejecting them.
    channel_map : ChannelMapping, str or os.PathLike, optional
        The analyst's channel rules (see :func:`connectors.load_channel_mapping`).

    Returns
    -------
    SalesforceResult

    Raises
    ------
    SchemaError
        When the folder holds no Opportunity or CampaignMember export, when
        CampaignMember comes without Campaign, when a file misses a required column
        (named, with the columns found), or a file cannot be read.

    See Also
    --------
    connectors.ingest : Write inputs, merged, as a journey store.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "Opportunity.csv").write_text(
    ...     "Id,AccountId,Amount,IsClosed,IsWon,CreatedDate,CloseDate\n"
    ...     "006A,001A,\"$1,200.00\",true,true,2026-01-05,2026-03-31\n")
    >>> result = read_salesforce(d)
    >>> result.journeys.select(["journey_id", "pipeline_amount", "won"]).to_pylist()
    [{'journey_id': '006A', 'pipeline_amount': 1200.0, 'won': True}]
    """
    files, ignored = _discover(Path(path), include_deleted)
    by_obj: dict[str, list[_File]] = {k: [] for k in OBJECTS}
    for f in files:
        by_obj[f.obj].append(f)
    if not by_obj["Opportunity"] and not by_obj["CampaignMember"]:
        found = ", ".join(f"{f.path.name} ({f.obj})" for f in files) or "none"
        raise SchemaError(f"{path}: no Opportunity or CampaignMember export found "
                          f"(files read: {found}); name files like Opportunity.csv "
                          "and CampaignMember.csv")
    if by_obj["CampaignMember"] and not by_obj["Campaign"]:
        raise SchemaError(f"{path}: CampaignMember export without a Campaign export; "
                          "add Campaign.csv (Id, Name, Type) so members get channels")
    mapping = (load_channel_mapping(channel_map)
               if isinstance(channel_map, (str, os.PathLike)) else channel_map)
    unmapped: dict[str, int] = {}
    # one object at a time; each file's text is released once its rows are sorted
    campaigns, spend = _campaigns(by_obj["Campaign"], tz, mapping, unmapped)
    contacts = _contacts(by_obj["Contact"], tz)
    leads = _leads(by_obj["Lead"], tz)
    opps = _opportunities(by_obj["Opportunity"], tz, currency, fx)
    roles = _roles(by_obj["OpportunityContactRole"], opps)
    _release(files)
    members = _members(by_obj["CampaignMember"], campaigns, leads, tz, mapping,
                       unmapped)
    _release(files)

    people_of_opp = roles
    if account_contacts and contacts.num_rows and opps.num_rows:
        by_account = opps.select(["journey_id", "account_id"]).join(
            contacts.select(["contact_id", "account_id"]), "account_id",
            join_type="inner", use_threads=False)
        extra = by_account.select(["journey_id", "contact_id"])
        people_of_opp = _distinct(pa.concat_tables([roles, extra]),
                                  ["journey_id", "contact_id"])
    roles = people_of_opp.filter(pc.is_in(people_of_opp.column("journey_id"),
                                          value_set=opps.column("journey_id")))
    del people_of_opp

    # each table is dropped once the last step that needs it is done
    created = _person_created(contacts, leads)
    index = _RoleIndex.of(roles)
    member_codes = index.codes(members.column("person"))
    alone_people = pc.unique(members.column("person").filter(
        pa.array(member_codes < 0)).combine_chunks())
    journeys = _journeys(opps, roles, alone_people, created, contacts)
    del opps, created, contacts
    release_unused_memory()
    people = _people(roles, index, alone_people, leads)
    del leads, alone_people
    release_unused_memory()
    touches = _touches(members, member_codes, roles, index)
    del members, member_codes
    release_unused_memory()
    for f in files:
        f.status[f.status == 0] = _LOOKED_UP  # whatever served joins only
    rejects = pa.concat_tables([f.rejects.table() for f in files])
    inputs = [f.entry() for f in files] + ignored
    return SalesforceResult(touches=touches, journeys=journeys, rejects=rejects,
                            inputs=inputs, people=people, spend=spend,
                            unmapped=dict(sorted(unmapped.items())))


# ----------------------------------------------------------------------- discovery
def object_of(name: str, header: list[str]) -> str | None:
    """Return the Salesforce object of a file, from its name or else its header.

    Parameters
    ----------
    name : str
        The file name (``sf_campaign_member_data.csv``).
    header : list of str
        Its column names.

    Returns
    -------
    str or None
        A key of :data:`OBJECTS`, or None when neither tells.
    """
    stem = canonical(Path(name).stem)
    if _IGNORED_NAME.search(stem):
        return None
    for obj, pattern in _NAME_PATTERNS:
        if pattern in stem:
            return obj
    keys = {canonical(h) for h in header}
    if "campaignid" in keys and ({"hasresponded", "firstrespondeddate"} & keys):
        return "CampaignMember"
    if {"opportunityid", "contactid"} <= keys:
        return "OpportunityContactRole"
    if "id" in keys and ({"stagename", "iswon", "isclosed"} & keys):
        return "Opportunity"
    if "id" in keys and ({"actualcost", "budgetedcost"} & keys):
        return "Campaign"
    if "id" in keys and ({"convertedcontactid", "isconverted"} & keys):
        return "Lead"
    if {"id", "accountid"} <= keys and "amount" not in keys:
        return "Contact"
    return None


def _discover(path: Path, include_deleted: bool
              ) -> tuple[list[_File], list[dict[str, Any]]]:
    """Find each file's object from its name or header (files are read later)."""
    if path.is_file():
        candidates = [path]
    elif path.is_dir():
        candidates = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in _SUFFIXES)
    else:
        raise SchemaError(f"{path}: no such folder; give the folder holding the "
                          "Salesforce exports (Opportunity.csv, CampaignMember.csv, "
                          "...)")
    files, ignored = [], []
    for p in candidates:
        header = read_header(p)
        obj = object_of(p.name, header)
        if obj is None:
            ignored.append({"path": str(p), "source": SOURCE, "object": None,
                            "ignored": "not an object this connector reads",
                            "rows_read": 0, "rows_used": 0, "rows_looked_up": 0,
                            "rows_duplicate": 0, "rows_rejected": 0})
            continue
        keys = {canonical(h) for h in header}
        required, _ = OBJECTS[obj]
        missing = [k for k in required if k not in keys]
        if obj == "CampaignMember" and not ({"contactid", "leadid"} & keys):
            missing.append("ContactId or LeadId")
        if obj == "CampaignMember" and not ({"firstrespondeddate", "createddate"}
                                            & keys):
            missing.append("FirstRespondedDate or CreatedDate")
        if missing:
            raise SchemaError(
                f"{p}: {obj} export lacks column(s) {', '.join(missing)} (found: "
                f"{', '.join(header)})")
        files.append(_File(path=p, obj=obj, header=header,
                           rejects=Rejects(SOURCE, p.name),
                           include_deleted=include_deleted))
    return files, ignored


def _check_deleted(f: _File, include_deleted: bool) -> None:
    if include_deleted:
        return
    for key, label in (("isdeleted", "IsDeleted"), ("fivetrandeleted",
                                                    "_fivetran_deleted")):
        col = f.csv.column(key)
        if col is not None:
            flag = parse_bools(col).values
            f.reject(flag, f"deleted in Salesforce ({label} is true); "
                           "include_deleted=True keeps it")
    col = f.csv.column("fivetranactive")
    if col is not None:
        b = parse_bools(col)
        f.reject(b.ok & ~b.values, "an old version of the record (_fivetran_active "
                                   "is false); include_deleted=True keeps it")


# ----------------------------------------------------------------------- objects
def _release(files: list[_File]) -> None:
    for f in files:
        f.release()
    release_unused_memory()


def _origin(i: int, n: int) -> dict[str, pa.Array]:
    """Return the ``_file`` and ``_pos`` columns: which file and row each came from."""
    return {"_file": pa.array(np.full(n, i)), "_pos": pa.array(np.arange(n))}


def _id_checks(ident: pa.Array) -> list[tuple[np.ndarray, str]]:
    """Return the checks of a record's ``Id``, to which its dates add theirs."""
    return [(ident.is_null().to_numpy(zero_copy_only=False), "Id is empty")]


def _refs(f: _File) -> pa.Array:
    return pa.array([f"{f.path.name}:{r}" for r in f.csv.rows], pa.string()) \
        if f.csv.table.num_rows < 64 else pc.binary_join_element_wise(
            f.path.name, pc.cast(pa.array(f.csv.rows), pa.string()), ":")


def _dates(f: _File, key: str, label: str, tz: str | None,
           checks: list[tuple[np.ndarray, str]]) -> Any:
    col = f.csv.column(key)
    if col is None:
        return None
    parsed = parse_timestamps(col, tz=tz)
    checks.append((parsed.bad, date_hint(label)))
    return parsed


def _apply(f: _File, checks: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """Reject rows failing a check; return the rows still valid."""
    n = f.csv.table.num_rows
    bad = np.zeros(n, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    if bad.any():
        f.reject(bad, reasons_of(n, checks))
    return f.status == 0


def _dedupe(f: _File, keys: list[pa.Array], valid: np.ndarray,
            seen: set[tuple[Any, ...]] | None = None) -> np.ndarray:
    """Mark repeated keys among valid rows as duplicates (first one wins)."""
    n = len(valid)
    if not n:
        return valid
    table = pa.table({f"k{i}": pc.fill_null(k, "") for i, k in enumerate(keys)})
    table = table.append_column("pos", pa.array(np.arange(n)))
    table = table.filter(pa.array(valid))
    firsts = table.group_by([f"k{i}" for i in range(len(keys))],
                            use_threads=False).aggregate([("pos", "min")])
    first = np.zeros(n, dtype=bool)
    first[firsts.column("pos_min").to_numpy()] = True
    dup = valid & ~first
    f.status[dup] = _DUPLICATE
    return valid & first


def _concat(parts: list[pa.Table], schema: pa.Schema) -> pa.Table:
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _dedupe_across(table: pa.Table, files: list[_File], key: str) -> pa.Table:
    """Keep the first row of each ``key`` across files; mark the rest duplicates.

    The bookkeeping columns ``_file`` and ``_pos`` are dropped from the result.
    """
    if not table.num_rows or len(files) < 2:
        return table.drop_columns(["_file", "_pos"])
    pos = pa.array(np.arange(table.num_rows))
    t = table.select([key]).append_column("_at", pos)
    firsts = t.group_by([key], use_threads=False).aggregate([("_at", "min")])
    keep = np.zeros(table.num_rows, dtype=bool)
    keep[firsts.column("_at_min").to_numpy()] = True
    fi = table.column("_file").to_numpy()
    rp = table.column("_pos").to_numpy()
    for i in np.unique(fi[~keep]):
        sel = ~keep & (fi == i)
        files[i].status[rp[sel]] = _DUPLICATE
    return table.filter(pa.array(keep)).drop_columns(["_file", "_pos"])


_CAMPAIGN_SCHEMA = pa.schema([("campaign_id", pa.string()), ("name", pa.string()),
                              ("type", pa.string()), ("_ref", pa.string()),
                              ("_file", pa.int64()), ("_pos", pa.int64())])


def _campaigns(files: list[_File], tz: str | None, mapping: ChannelMapping | None,
               unmapped: dict[str, int]) -> tuple[pa.Table, pa.Table | None]:
    """Return valid campaigns (for joins) and their ``ActualCost`` as spend."""
    parts = []
    spends = []
    for i, f in enumerate(files):
        n = f.csv.table.num_rows
        ident = f.col("id")
        checks = _id_checks(ident)
        start = _dates(f, "startdate", "StartDate", tz, checks)
        end = _dates(f, "enddate", "EndDate", tz, checks)
        if f.csv.column("actualcost") is not None:
            # the checks of spend.campaign_costs, so that a campaign whose cost
            # cannot be placed is rejected here, once, with its reason
            cost = parse_amounts(f.csv.column("actualcost"))
            none = np.zeros(n, bool)
            s_ok, s_bad = (start.ok, start.bad) if start is not None else (none, none)
            e_ok, e_bad = (end.ok, end.bad) if end is not None else (none, none)
            s_us = start.us if start is not None else np.zeros(n, np.int64)
            e_us = end.us if end is not None else np.zeros(n, np.int64)
            has_cost = cost.ok & (cost.values > 0)
            checks += [
                (cost.bad, "ActualCost is not an amount"),
                (cost.ok & (cost.values < 0), "ActualCost is negative"),
                (has_cost & ~s_ok & ~e_ok & ~s_bad & ~e_bad,
                 "ActualCost has no StartDate or EndDate to spread it over"),
                (has_cost & s_ok & e_ok & (e_us < s_us), "EndDate is before StartDate")]
        valid = _apply(f, checks)
        valid = _dedupe(f, [ident], valid)
        if f.csv.column("actualcost") is not None and valid.any():
            where = pa.array(np.flatnonzero(valid))
            spend = campaign_costs(f.csv.table.take(where), name=f.path.name,
                                   rows=f.csv.rows[valid], source=SOURCE,
                                   channel_map=mapping, unmapped=unmapped)
            if spend is not None:
                spends.append(spend)
        sel = pa.array(valid)
        parts.append(pa.table({
            "campaign_id": ident, "name": f.col("name"), "type": f.col("type"),
            "_ref": _refs(f), **_origin(i, n)}).filter(sel))
    table = _concat(parts, _CAMPAIGN_SCHEMA)
    return (_dedupe_across(table, files, "campaign_id"),
            pa.concat_tables(spends) if spends else None)


def _contacts(files: list[_File], tz: str | None) -> pa.Table:
    parts = []
    for i, f in enumerate(files):
        n = f.csv.table.num_rows
        ident = f.col("id")
        checks = _id_checks(ident)
        created = _dates(f, "createddate", "CreatedDate", tz, checks)
        valid = _apply(f, checks)
        valid = _dedupe(f, [ident], valid)
        parts.append(pa.table({
            "contact_id": ident, "account_id": f.col("accountid"),
            "created": _ts_or_null(created, n),
            **_origin(i, n)}).filter(pa.array(valid)))
    schema = pa.schema([("contact_id", pa.string()), ("account_id", pa.string()),
                        ("created", pa.timestamp("us", tz="UTC")),
                        ("_file", pa.int64()), ("_pos", pa.int64())])
    return _dedupe_across(_concat(parts, schema), files, "contact_id")


def _leads(files: list[_File], tz: str | None) -> pa.Table:
    parts = []
    for i, f in enumerate(files):
        n = f.csv.table.num_rows
        ident = f.col("id")
        checks = _id_checks(ident)
        created = _dates(f, "createddate", "CreatedDate", tz, checks)
        _dates(f, "converteddate", "ConvertedDate", tz, checks)
        valid = _apply(f, checks)
        valid = _dedupe(f, [ident], valid)
        parts.append(pa.table({
            "lead_id": ident, "converted_contact_id": f.col("convertedcontactid"),
            "lead_source": f.col("leadsource"),
            "created": _ts_or_null(created, n),
            **_origin(i, n)}).filter(pa.array(valid)))
    schema = pa.schema([("lead_id", pa.string()), ("converted_contact_id", pa.string()),
                        ("lead_source", pa.string()),
                        ("created", pa.timestamp("us", tz="UTC")),
                        ("_file", pa.int64()), ("_pos", pa.int64())])
    return _dedupe_across(_concat(parts, schema), files, "lead_id")


def _ts_or_null(parsed: Any, n: int) -> pa.Array:
    if parsed is None:
        return pa.nulls(n, pa.timestamp("us", tz="UTC"))
    return parsed.to_arrow()


def _read_fx(fx: str | os.PathLike[str] | Mapping[str, float] | None
             ) -> dict[str, float] | None:
    if fx is None:
        return None
    if isinstance(fx, Mapping):
        return {str(k).strip().upper(): float(v) for k, v in fx.items()}
    return load_fx_rates(fx)


def _store_currency(files: list[_File], currency: str | None,
                    rates: dict[str, float] | None) -> str | None:
    """Given, else the rate-1 currency of ``fx``, else the most frequent code."""
    if currency:
        return currency.strip().upper()
    if rates:
        base = sorted(k for k, v in rates.items() if v == 1.0)
        if len(base) == 1:
            return base[0]
    codes: dict[str, int] = {}
    for f in files:
        col = f.csv.column("currencyisocode")
        if col is not None:
            vc = pc.value_counts(pc.utf8_upper(text(col, len(col)))).to_pylist()
            for item in vc:
                if item["values"] is not None:
                    code = item["values"]
                    codes[code] = codes.get(code, 0) + item["counts"]
    if not codes:
        return None
    return sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


_OPP_SCHEMA = pa.schema([
    ("journey_id", pa.string()), ("account_id", pa.string()),
    ("opportunity_created_at", pa.timestamp("us", tz="UTC")),
    ("closed_at", pa.timestamp("us", tz="UTC")), ("won", pa.bool_()),
    ("pipeline_amount", pa.float64()), ("revenue_amount", pa.float64()),
    ("currency", pa.string()), ("_file", pa.int64()), ("_pos", pa.int64())])


def _opportunities(files: list[_File], tz: str | None, currency: str | None,
                   fx: str | os.PathLike[str] | Mapping[str, float] | None
                   ) -> pa.Table:
    rates = _read_fx(fx)
    store_currency = _store_currency(files, currency, rates)
    parts = []
    for i, f in enumerate(files):
        n = f.csv.table.num_rows
        ident = f.col("id")
        checks = _id_checks(ident)
        created = _dates(f, "createddate", "CreatedDate", tz, checks)
        checks.append((created.empty, "CreatedDate is empty (an opportunity needs "
                                      "its creation date)"))
        close = _dates(f, "closedate", "CloseDate", tz, checks)
        amount = parse_amounts(f.col("amount")) if f.csv.column("amount") else None
        if amount is not None:
            checks.append((amount.bad, "Amount is not a number"))
            checks.append((amount.ok & (amount.values < 0), "Amount is negative"))
        stage = pc.utf8_lower(f.col("stagename"))
        stage_won = pc.fill_null(pc.equal(stage, "closed won"), False).to_numpy(
            zero_copy_only=False)
        stage_closed = pc.fill_null(pc.starts_with(stage, "closed"), False).to_numpy(
            zero_copy_only=False)
        won = _flag(f, "iswon", "IsWon", stage_won, checks)
        closed = _flag(f, "isclosed", "IsClosed", stage_closed, checks) | won
        if close is not None:
            checks.append((closed & close.empty & won,
                           "IsWon is true but CloseDate is empty"))
        else:
            checks.append((won, "IsWon is true but there is no CloseDate column"))
        values = amount.values if amount is not None else np.zeros(n)
        cur_col = f.csv.column("currencyisocode")
        cur = (pc.utf8_upper(text(cur_col, n)) if cur_col is not None
               else pa.nulls(n, pa.string()))
        cur_np = pc.fill_null(cur, store_currency or "").to_numpy(
            zero_copy_only=False)
        foreign = (cur_np != (store_currency or "")) & (cur_np != "")
        if foreign.any():
            if rates is None:
                checks.append((foreign & (values != 0),
                               f"CurrencyIsoCode differs from the store currency "
                               f"{store_currency}; give fx rates to convert it"))
            else:
                rate = np.array([rates.get(c, np.nan) for c in cur_np.astype(object)])
                missing = foreign & np.isnan(rate)
                checks.append((missing, "CurrencyIsoCode has no rate in the fx table"))
                values = np.where(foreign & ~missing, values * rate, values)
        valid = _apply(f, checks)
        valid = _dedupe(f, [ident], valid)
        close_us = close.us if close is not None else np.zeros(n, np.int64)
        # a date without a time of day closes at the end of that day
        if close is not None:
            end_of_day = close_us + 86_400_000_000 - 1
            close_us = np.where(close.date_only, end_of_day, close_us)
        closed_at = pa.array(close_us, pa.int64(), mask=~(
            closed & (close.ok if close is not None else False))).cast(
            pa.timestamp("us", tz="UTC"))
        parts.append(pa.table({
            "journey_id": ident, "account_id": f.col("accountid"),
            "opportunity_created_at": created.to_arrow(), "closed_at": closed_at,
            "won": pa.array(won), "pipeline_amount": pa.array(values, pa.float64()),
            "revenue_amount": pa.array(np.where(won, values, 0.0), pa.float64()),
            "currency": pa.array([store_currency] * n, pa.string()),
            **_origin(i, n),
        }, schema=_OPP_SCHEMA).filter(pa.array(valid)))
        f.status[valid] = _USED
    table = _concat(parts, _OPP_SCHEMA)
    return _dedupe_across(table, files, "journey_id")


def _flag(f: _File, key: str, label: str, default: np.ndarray,
          checks: list[tuple[np.ndarray, str]]) -> np.ndarray:
    col = f.csv.column(key)
    if col is None:
        return default
    b = parse_bools(col)
    checks.append((b.bad, f"{label} is not true or false"))
    return np.where(b.empty, default, b.values)


def _roles(files: list[_File], opps: pa.Table) -> pa.Table:
    parts = []
    known = opps.column("journey_id")
    for f in files:
        opp, contact = f.col("opportunityid"), f.col("contactid")
        checks = [
            (opp.is_null().to_numpy(zero_copy_only=False), "OpportunityId is empty"),
            (contact.is_null().to_numpy(zero_copy_only=False), "ContactId is empty")]
        valid = _apply(f, checks)
        unknown = ~pc.is_in(opp, value_set=known).to_numpy(zero_copy_only=False)
        f.reject(valid & unknown, "OpportunityId is not in the Opportunity export (or "
                                  "that row was rejected)")
        valid = f.status == 0
        valid = _dedupe(f, [opp, contact], valid)
        parts.append(pa.table({"journey_id": opp, "contact_id": contact}).filter(
            pa.array(valid)))
    schema = pa.schema([("journey_id", pa.string()), ("contact_id", pa.string())])
    return _distinct(_concat(parts, schema), ["journey_id", "contact_id"])


def _distinct(table: pa.Table, keys: list[str]) -> pa.Table:
    out = table.group_by(keys, use_threads=False).aggregate([]).select(keys)
    release_unused_memory()
    return out


_DICT = pa.dictionary(pa.int32(), pa.string())
# member touches; low-cardinality columns stay dictionary-encoded until the end
_MEMBER_SCHEMA = pa.schema([
    ("person", pa.string()), ("person_id", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")), ("seq", pa.int64()),
    ("channel", _DICT), ("campaign", _DICT), ("interaction", _DICT),
    ("source_ref", pa.string())])


#: The CampaignMember export is read in batches of about this many bytes of text,
#: so memory holds one batch's text and the temporaries of checking it, never the
#: whole file's.
_MEMBER_BATCH_BYTES = 1 << 24


def _members(files: list[_File], campaigns: pa.Table, leads: pa.Table,
             tz: str | None, mapping: ChannelMapping | None,
             unmapped: dict[str, int]) -> pa.Table:
    """Responded campaign members as touches keyed by their canonical person.

    Each file is read twice, a batch at a time: the first reading checks every row
    (rejects) and keeps the member keys of valid rows for the duplicate check
    across the whole file; the second turns the members that responded into
    touches.
    """
    parts = []
    seq0 = 0
    converted = leads.filter(pc.is_valid(leads.column("converted_contact_id")))
    for f in files:
        try:
            ts_us, responded, keys = _check_member_file(f, campaigns, tz)
        except NotUtf8:  # met after the first batches: start again as Latin-1
            f.read_as_latin1()
            ts_us, responded, keys = _check_member_file(f, campaigns, tz)
        if keys.num_rows:  # a repeated member (same campaign and person): first wins
            firsts = keys.group_by(["c", "k", "l"], use_threads=False).aggregate(
                [("pos", "min")]).column("pos_min").to_numpy()
            valid_pos = keys.column("pos").to_numpy()
            del keys
            release_unused_memory()
            dup = np.setdiff1d(valid_pos, firsts, assume_unique=True)
            f.status[dup] = _DUPLICATE
            keep = np.setdiff1d(valid_pos, dup, assume_unique=True)
            # members who never responded are looked up (read, checked), not touches
            f.status[keep[~responded[keep]]] = _LOOKED_UP
            f.status[keep[responded[keep]]] = _USED
        used = [_used_members(view, start, campaigns)
                for start, view in f.batches(_MEMBER_BATCH_BYTES)
                if (view.status == _USED).any()]
        if used:
            parts.append(_member_touches(f.path.name, _concat(used, _USED_SCHEMA),
                                         ts_us, seq0, campaigns, leads, converted,
                                         mapping, unmapped))
        del used
        seq0 += len(f.status)
    return _concat(parts, _MEMBER_SCHEMA).unify_dictionaries()


def _check_member_file(f: _File, campaigns: pa.Table, tz: str | None
                       ) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """First reading of a member file: check every row, reject the bad ones.

    Returns each row's touch time (microseconds) and whether it responded, and the
    duplicate-check keys of the valid rows: ``c`` (the campaign's position in
    ``campaigns``), ``k`` and ``l`` (contact and lead id, empty when none) and
    ``pos`` (the row's position in the file).
    """
    ts_parts, responded_parts, keys = [], [], []
    for start, view in f.batches(_MEMBER_BATCH_BYTES):
        valid, ts_us, responded = _check_members(view, campaigns, tz)
        ts_parts.append(ts_us)
        responded_parts.append(responded)
        where = np.flatnonzero(valid)
        if len(where):
            sel = pa.array(where)
            keys.append(pa.table({
                "c": pc.index_in(view.col("campaignid").take(sel),
                                 value_set=campaigns.column("campaign_id")),
                "k": pc.fill_null(view.col("contactid").take(sel), ""),
                "l": pc.fill_null(view.col("leadid").take(sel), ""),
                "pos": pa.array(where + start)}))
    schema = pa.schema([("c", pa.int32()), ("k", pa.string()), ("l", pa.string()),
                        ("pos", pa.int64())])
    return (np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64),
            np.concatenate(responded_parts) if responded_parts else np.zeros(0, bool),
            _concat(keys, schema))


def _check_members(f: _File, campaigns: pa.Table, tz: str | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check members, reject bad rows; return valid rows, touch times, responded."""
    n = f.csv.table.num_rows
    camp, contact, lead = f.col("campaignid"), f.col("contactid"), f.col("leadid")
    checks: list[tuple[np.ndarray, str]] = [
        (camp.is_null().to_numpy(zero_copy_only=False), "CampaignId is empty"),
        ((contact.is_null().to_numpy(zero_copy_only=False)
          & lead.is_null().to_numpy(zero_copy_only=False)),
         "member of nobody: ContactId and LeadId are both empty")]
    first = _dates(f, "firstrespondeddate", "FirstRespondedDate", tz, checks)
    created = _dates(f, "createddate", "CreatedDate", tz, checks)
    responded_col = f.csv.column("hasresponded")
    if responded_col is not None:
        b = parse_bools(responded_col)
        checks.append((b.bad, "HasResponded is not true or false"))
        responded = b.values
    else:
        responded = first.ok if first is not None else np.zeros(n, bool)
    none = np.zeros(n, bool)
    first_ok, first_bad = (first.ok, first.bad) if first is not None else (none, none)
    created_ok, created_bad = ((created.ok, created.bad) if created is not None
                               else (none, none))
    checks.append((responded & ~first_ok & ~created_ok & ~first_bad & ~created_bad,
                   "responded but FirstRespondedDate and CreatedDate are empty"))
    in_campaigns = pc.is_in(camp, value_set=campaigns.column("campaign_id")
                            ).to_numpy(zero_copy_only=False)
    checks.append((~in_campaigns & ~camp.is_null().to_numpy(zero_copy_only=False),
                   "CampaignId is not in the Campaign export (or that row was "
                   "rejected)"))
    valid = _apply(f, checks)
    ts_us = np.where(first_ok, first.us if first is not None else 0,
                     created.us if created is not None else 0).astype(np.int64)
    return valid, ts_us, np.asarray(responded, dtype=bool)


# the used members of a file, as read: campaign (position in the campaigns), ids,
# status, position in the file and record number
_USED_SCHEMA = pa.schema([("campaign", pa.int32()), ("contact", pa.string()),
                          ("lead", pa.string()), ("status", _DICT),
                          ("pos", pa.int64()), ("row", pa.int64())])


def _used_members(f: _File, start: int, campaigns: pa.Table) -> pa.Table:
    """Return the members of a batch that are touches, as :data:`_USED_SCHEMA`."""
    where = np.flatnonzero(f.status == _USED)
    rows = pa.array(where)
    return pa.table({
        "campaign": pc.index_in(f.col("campaignid").take(rows),
                                value_set=campaigns.column("campaign_id")),
        "contact": f.col("contactid").take(rows), "lead": f.col("leadid").take(rows),
        "status": pc.dictionary_encode(f.col("status").take(rows)),
        "pos": pa.array(where + start), "row": pa.array(f.csv.rows[where]),
    }, schema=_USED_SCHEMA)


def _member_touches(name: str, used: pa.Table, ts_us: np.ndarray, seq0: int,
                    campaigns: pa.Table, leads: pa.Table, converted: pa.Table,
                    mapping: ChannelMapping | None, unmapped: dict[str, int]
                    ) -> pa.Table:
    """Build the touches of the used members of the file ``name``.

    They are built all at once, not a batch at a time: each lookup in the leads
    builds a hash table of every lead.
    """
    m = used.num_rows
    pos = used.column("pos").to_numpy()
    contact = used.column("contact").combine_chunks()
    lead = used.column("lead").combine_chunks()
    person_id = pc.coalesce(contact, lead)
    # a lead converted into a contact is that contact
    idx = pc.index_in(lead, value_set=converted.column("lead_id"))
    lead_as_contact = converted.column("converted_contact_id").combine_chunks() \
        .take(idx) if converted.num_rows else pa.nulls(m, pa.string())
    del idx
    person = pc.coalesce(contact, lead_as_contact, lead)
    del lead_as_contact
    info = _campaign_info(used.column("campaign").combine_chunks(), campaigns)
    status = used.column("status").combine_chunks()
    interaction = _interactions(info.column("type"), status.cast(pa.string()))
    lead_idx = pc.index_in(lead, value_set=leads.column("lead_id"))
    lead_source = (leads.column("lead_source").combine_chunks().take(lead_idx)
                   if leads.num_rows else pa.nulls(m, pa.string()))
    del lead_idx
    channel = member_channels(info.column("type"), info.column("name"), interaction,
                              lead_source, mapping, unmapped=unmapped)
    rows = used.column("row").combine_chunks()
    refs = (pa.array([f"{name}:{r}" for r in rows.to_pylist()], pa.string())
            if m < 64 else pc.binary_join_element_wise(name, pc.cast(rows, pa.string()),
                                                       ":"))
    return pa.table({
        "person": person, "person_id": person_id,
        "ts": pa.array(ts_us[pos], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "seq": pa.array(pos + seq0),
        "channel": pc.dictionary_encode(channel),
        "campaign": info.column("name"), "interaction": interaction,
        "source_ref": refs,
    }, schema=_MEMBER_SCHEMA)


def _campaign_info(idx: pa.Array, campaigns: pa.Table) -> pa.Table:
    """Name and type of each member's campaign, from its position in ``campaigns``."""
    names = campaigns.column("name").combine_chunks()
    types = campaigns.column("type").combine_chunks()
    name = pa.DictionaryArray.from_arrays(pc.cast(idx, pa.int32()), names)
    return pa.table({"name": name, "type": types.take(idx)})


def member_channels(campaign_type: pa.Array, campaign: pa.Array,
                    interaction: pa.Array, lead_source: pa.Array,
                    mapping: ChannelMapping | None = None, *,
                    unmapped: dict[str, int] | None = None,
                    use: np.ndarray | None = None) -> pa.Array:
    """Return the channel of each campaign member, via the channel grouping.

    ``Campaign.Type``, the campaign name and the member's interaction are grouped
    by :func:`connectors.channels.assign_channels`; a member the grouping leaves
    ``Unassigned`` (an empty type) takes the channel of its lead's ``LeadSource``
    (read as both source and medium: ``Trade Show`` is Events, ``Webinar`` is
    Webinar).

    Parameters
    ----------
    campaign_type, campaign, interaction, lead_source : pyarrow.Array
        One value per member (null where unknown).
    mapping : ChannelMapping, optional
        The analyst's rules.
    unmapped : dict, optional
        Members left ``Unassigned`` are counted here (``"source / medium / type
        T"``, the lead source as source and medium).
    use : numpy.ndarray, optional
        Only these members are counted in ``unmapped`` (the ones that are touches).

    Returns
    -------
    pyarrow.Array
        One channel per member, never null.
    """
    channel = assign_channels({"campaign_type": campaign_type, "campaign": campaign,
                               "interaction": interaction}, mapping)
    unassigned = pc.and_(pc.equal(channel, UNASSIGNED), lead_source.is_valid())
    if pc.any(unassigned).as_py():
        rows = pc.indices_nonzero(unassigned)
        ls = lead_source.take(rows)
        fallback = assign_channels({"source": ls, "medium": ls}, mapping)
        channel = pc.replace_with_mask(channel, unassigned, fallback)
    if unmapped is not None:
        left = pc.equal(channel, UNASSIGNED).to_numpy(zero_copy_only=False)
        if use is not None:
            left &= use
        if left.any():
            rows = pa.array(np.flatnonzero(left))
            assign_channels({"source": lead_source.take(rows),
                             "medium": lead_source.take(rows),
                             "campaign_type": campaign_type.take(rows)},
                            ChannelMapping(rules=(), defaults=False),
                            unmapped=unmapped)
    return channel


def _interactions(types: pa.Array, status: pa.Array) -> pa.Array:
    """Interaction per member from its campaign type and status (mapped per pair)."""
    key = pc.binary_join_element_wise(pc.utf8_lower(pc.fill_null(types, "")),
                                      pc.utf8_lower(pc.fill_null(status, "")), "\x1f")
    encoded = pc.dictionary_encode(key).combine_chunks() if isinstance(
        key, pa.ChunkedArray) else pc.dictionary_encode(key)
    mapped = [_interaction(*k.split("\x1f", 1)) for k in encoded.dictionary.to_pylist()]
    return pa.DictionaryArray.from_arrays(encoded.indices,
                                          pa.array(mapped, pa.string()))


def _interaction(ctype: str, status: str) -> str:
    by_type = next((v for p, v in _TYPE_INTERACTION if re.search(p, ctype)),
                   "campaign_response")
    for pattern, value in _STATUS_INTERACTION:
        if re.search(pattern, status):
            if value is None:
                return by_type if by_type in ("webinar_attended", "event_attended") \
                    else "event_attended"
            return value
    return by_type


def _person_created(contacts: pa.Table, leads: pa.Table) -> pa.Table:
    """Earliest creation per canonical person (a converted lead counts for its contact).

    Returns ``person`` and ``created`` (null when unknown).
    """
    person = pc.coalesce(leads.column("converted_contact_id"), leads.column("lead_id"))
    both = pa.concat_tables([
        pa.table({"person": contacts.column("contact_id"),
                  "created": contacts.column("created")}),
        pa.table({"person": person, "created": leads.column("created")})])
    out = both.group_by(["person"], use_threads=False).aggregate(
        [("created", "min")]).rename_columns(["person", "created"])
    release_unused_memory()
    return out


@dataclass(frozen=True)
class _RoleIndex:
    """The contact-role rows of each contact, for joins on integer codes.

    A contact's code is its position in ``contacts``; ``order`` lists the role rows
    grouped by code (in row order within a contact), the rows of code ``c`` being
    ``order[starts[c]:starts[c] + counts[c]]``.
    """

    contacts: pa.Array
    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, roles: pa.Table) -> _RoleIndex:
        """Index the ``contact_id`` of ``roles``."""
        contact = roles.column("contact_id").combine_chunks()
        encoded = pc.dictionary_encode(contact)
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        counts = np.bincount(codes, minlength=len(encoded.dictionary))
        return cls(contacts=encoded.dictionary,
                   order=np.argsort(codes, kind="stable"),
                   starts=np.cumsum(counts) - counts, counts=counts)

    def codes(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Return the code of each id, -1 for ids with no role (and for null)."""
        at = pc.index_in(ids, value_set=self.contacts)
        return pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)

    def pairs(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Join ids (by their codes) to role rows: ``(id position, role row)`` pairs.

        In id order, then role row order; ids with no role give none.
        """
        rows = np.flatnonzero(codes >= 0)
        per = self.counts[codes[rows]]
        left = np.repeat(rows, per)
        ends = np.cumsum(per)
        within = np.arange(len(left)) - np.repeat(ends - per, per)
        right = self.order[np.repeat(self.starts[codes[rows]], per) + within]
        return left, right


def _journeys(opps: pa.Table, roles: pa.Table, alone_people: pa.Array,
              created: pa.Table, contacts: pa.Table) -> pa.Table:
    """Return the journeys, sorted by ``journey_id``.

    One per opportunity (``lead_created_at`` the earliest creation among its
    people), then one per responded person with no opportunity.
    """
    ts_type = pa.timestamp("us", tz="UTC")
    n = opps.num_rows
    # the earliest creation of each opportunity's people (null when none is known)
    at = pc.fill_null(pc.index_in(roles.column("contact_id"),
                                  value_set=created.column("person")), -1
                      ).to_numpy(zero_copy_only=False)
    known = created.column("created")
    known_us = pc.fill_null(known.cast(pa.int64()), 0).to_numpy()
    ok = at >= 0
    ok[ok] = known.is_valid().to_numpy(zero_copy_only=False)[at[ok]]
    journey = pc.index_in(roles.column("journey_id"), value_set=opps.column(
        "journey_id")).to_numpy(zero_copy_only=False)[ok]
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, journey, known_us[at[ok]])
    has = np.zeros(n, dtype=bool)
    has[journey] = True
    opp_j = pa.table({
        "journey_id": opps.column("journey_id"),
        "account_id": opps.column("account_id"),
        "lead_created_at": pa.array(first, pa.int64(), mask=~has).cast(ts_type),
        "opportunity_created_at": opps.column("opportunity_created_at"),
        "closed_at": opps.column("closed_at"), "won": opps.column("won"),
        "pipeline_amount": opps.column("pipeline_amount"),
        "revenue_amount": opps.column("revenue_amount"),
        "currency": opps.column("currency"),
        "weight": pa.array(np.ones(n, np.int64)),
    })
    # people with no opportunity: journeys of their own
    m = len(alone_people)
    acc = pc.index_in(alone_people, value_set=contacts.column("contact_id"))
    alone_created = pc.index_in(alone_people, value_set=created.column("person"))
    currency = opps.column("currency")[0].as_py() if n else None
    zeros = pa.array(np.zeros(m))
    alone_j = pa.table({
        "journey_id": alone_people,
        "account_id": contacts.column("account_id").combine_chunks().take(acc)
        if contacts.num_rows else pa.nulls(m, pa.string()),
        "lead_created_at": known.combine_chunks().take(alone_created)
        if created.num_rows else pa.nulls(m, ts_type),
        "opportunity_created_at": pa.nulls(m, ts_type),
        "closed_at": pa.nulls(m, ts_type),
        "won": pa.array(np.zeros(m, bool)),
        "pipeline_amount": zeros, "revenue_amount": zeros,
        "currency": pa.array([currency] * m, pa.string()),
        "weight": pa.array(np.ones(m, np.int64)),
    })
    columns = [f.name for f in JOURNEY_SCHEMA]
    journeys = pa.concat_tables([opp_j.select(columns).cast(JOURNEY_SCHEMA),
                                 alone_j.select(columns).cast(JOURNEY_SCHEMA)])
    return journeys.take(pc.sort_indices(journeys, [("journey_id", "ascending")]))


def _people(roles: pa.Table, index: _RoleIndex, alone_people: pa.Array,
            leads: pa.Table) -> pa.Table:
    """Return every contact and lead id of every journey, sorted, without repeats.

    ``person_id``, ``journey_id``: an opportunity's contacts and the leads converted
    into them; a person with no opportunity and the leads converted into it.
    """
    conv = leads.filter(pc.is_valid(leads.column("converted_contact_id")))
    lead_id = conv.column("lead_id").combine_chunks()
    into = conv.column("converted_contact_id").combine_chunks()
    left, right = index.pairs(index.codes(into))
    alone_at = pc.index_in(into, value_set=alone_people)
    of_alone = alone_at.is_valid()
    person = pa.chunked_array([
        *roles.column("contact_id").chunks, lead_id.take(pa.array(left)),
        alone_people, lead_id.filter(of_alone)], pa.string())
    journey = pa.chunked_array([
        *roles.column("journey_id").chunks,
        roles.column("journey_id").take(pa.array(right)), alone_people,
        alone_people.take(alone_at.filter(of_alone))], pa.string())
    del left, right, alone_at
    people = pa.table({"person_id": person, "journey_id": journey})
    people = people.take(pc.sort_indices(people, [("person_id", "ascending"),
                                                  ("journey_id", "ascending")]))
    # a pair may come twice (an id that is both a role contact and a lead, say):
    # once sorted, a repeat follows its first
    n = people.num_rows
    if n < 2:
        return people
    p, j = people.column("person_id"), people.column("journey_id")
    same = pc.and_(pc.equal(p.slice(1), p.slice(0, n - 1)),
                   pc.equal(j.slice(1), j.slice(0, n - 1)))
    repeat = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    if not repeat.any():
        return people
    return people.filter(pa.array(np.r_[True, ~repeat]))


def _touches(members: pa.Table, member_codes: np.ndarray, roles: pa.Table,
             index: _RoleIndex) -> pa.Table:
    """Return the touches: each member as a touch of every journey of its person.

    First the touches of opportunities (in member order, then role order), then
    those of people with no opportunity, whose journey is the person.
    """
    left, right = index.pairs(member_codes)
    opp = members.take(pa.array(left)).append_column(
        "journey_id", roles.column("journey_id").take(pa.array(right)))
    del left, right
    alone = members.filter(pa.array(member_codes < 0))
    alone = alone.append_column("journey_id", alone.column("person"))
    # (the store writer sorts touches; a sort here would only copy them)
    return pa.concat_tables([_as_touches(opp), _as_touches(alone)])


def _as_touches(t: pa.Table) -> pa.Table:
    """Member rows with their ``journey_id`` in :data:`TOUCH_MEMORY_SCHEMA`."""
    n = t.num_rows
    return pa.table({
        "journey_id": t.column("journey_id"), "ts": t.column("ts"),
        "seq": t.column("seq"), "person_id": t.column("person_id"),
        "channel": t.column("channel"), "campaign": t.column("campaign"),
        "content": pa.nulls(n, pa.string()), "interaction": t.column("interaction"),
        "source": pa.array([SOURCE] * n, pa.string()) if n < 64 else
        pa.repeat(pa.scalar(SOURCE), n),
        "source_ref": t.column("source_ref")}).select(
            [f.name for f in TOUCH_SCHEMA]).cast(TOUCH_MEMORY_SCHEMA)
