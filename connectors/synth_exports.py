"""Synthetic raw exports of a B2B company, as an analyst downloads them.

:func:`write_exports` draws one company — accounts, contacts, leads, opportunities,
campaign responses, web sessions and ad spend — and writes it in the formats the
connectors read, consistent with each other and deterministic per seed::

    DIR/salesforce/Campaign.csv, CampaignMember.csv, Opportunity.csv,
                   OpportunityContactRole.csv, Contact.csv, Lead.csv
    DIR/ga4/events_YYYYMM.jsonl          GA4 BigQuery export rows (INT64 as strings)
    DIR/id_map.csv                        user_pseudo_id -> Contact/Lead Id
    DIR/spend/google_ads.csv              title and date-range lines, "Total:" footer
    DIR/spend/linkedin_ads.csv            UTF-16, tab-separated
    DIR/spend/meta_ads.csv
    DIR/spend/other_costs.csv             creative, agency, tools (touchline columns)
    DIR/totals.json                       what a correct ingest must find

The exports carry the dirt real ones do: a byte-order mark (``Opportunity.csv`` is
saved as Excel's "CSV UTF-8"), blank rows, a few dates as ``MM/DD/YYYY`` or Excel
serials (valid) and a few impossible dates (rejected), duplicate campaign members,
a member of an unknown campaign, a member of nobody, amounts with ``$`` and
thousands separators, GA4 events without a user or a session, campaign names in
spend that differ from the touches' only in case and white space.

Everything is drawn with numpy and written with pyarrow, vectorised over rows
(the JSON lines are built with pyarrow's string kernels), so a million
opportunities take seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from attribution.exceptions import ParameterError

__all__ = ["write_exports"]

_DAY_US = 86_400_000_000
_TS = pa.timestamp("us", tz="UTC")

# CRM campaigns: name, Type, responded statuses, other statuses, weight, ActualCost
_Campaign = tuple[str, str, tuple[str, ...], tuple[str, ...], float, float]
_CRM_CAMPAIGNS: list[_Campaign] = [
    ("Webinar - Zero Trust 101", "Webinar", ("Attended", "Registered"), ("Invited",),
     6, 8_000),
    ("Webinar - Cloud Posture Demo", "Webinar", ("Attended",), ("Invited",), 4, 6_000),
    ("Webinar - CISO Roundtable", "Webinar", ("Attended", "Registered"), ("Invited",),
     2, 12_000),
    ("Event - RSA Conference", "Trade Show", ("Visited Booth", "Attended"),
     ("Invited",), 3, 180_000),
    ("Event - AWS re:Invent", "Conference", ("Visited Booth", "Attended"),
     ("Invited",), 3, 220_000),
    ("Event - Field Dinner Series", "Seminar / Conference", ("Attended",),
     ("Invited",), 2, 60_000),
    ("Event - Regional Roadshow", "Seminar / Conference", ("Attended",), ("Invited",),
     2, 45_000),
    ("Newsletter - Monthly", "Email", ("Clicked",), ("Sent", "Opened"), 6, 0),
    ("Nurture - Cloud Security Track", "Email", ("Clicked",), ("Sent",), 5, 0),
    ("Nurture - Zero Trust Track", "Email", ("Clicked",), ("Sent",), 4, 0),
    ("CS - TechTarget", "Content Syndication", ("Downloaded",), (), 4, 90_000),
    ("CS - Integrate", "Content Syndication", ("Downloaded",), (), 3, 60_000),
    ("CS - NetLine", "Content Syndication", ("Downloaded",), (), 2, 30_000),
    ("Partner - AWS Marketplace", "Partner", ("Responded",), ("Sent",), 2, 25_000),
    ("Partner - Reseller MDF", "Partner", ("Responded",), (), 1, 15_000),
    ("Customer Referral Program", "Referral Program", ("Responded",), (), 1, 10_000),
    ("SDR - Outbound", "Telemarketing", ("Meeting Booked",), ("Called",), 4, 0),
    ("Direct Mail - Q4 Gifting", "Direct Mail", ("Responded",), ("Sent",), 1, 20_000),
]

# web traffic: source, medium, campaign, weight, platform ("google", "linkedin",
# "meta", "other" media, or "" for unpaid); a Google Ads click carries a gclid
_WEB: list[tuple[str, str, str | None, float, str]] = [
    ("google", "cpc", "PS - Brand - US", 8, "google"),
    ("google", "cpc", "PS - Brand - EMEA", 3, "google"),
    ("google", "cpc", "PS - NonBrand - Cloud Security", 6, "google"),
    ("google", "cpc", "PS - NonBrand - Zero Trust", 5, "google"),
    ("google", "cpc", "PS - Competitor - US", 2, "google"),
    ("linkedin", "paid_social", "LinkedIn - ABM Q3", 4, "linkedin"),
    ("linkedin", "paid_social", "LinkedIn - Thought Leadership", 4, "linkedin"),
    ("linkedin", "paid_social", "LinkedIn - Lead Gen Forms", 2, "linkedin"),
    ("facebook", "paid_social", "Meta - Retargeting", 2, "meta"),
    ("demandbase", "display", "Demandbase - ABM Display", 3, "other"),
    ("youtube", "cpv", "YouTube - Product Demos", 2, "other"),
    ("google", "organic", None, 14, ""),
    ("bing", "organic", None, 3, ""),
    ("linkedin.com", "referral", None, 4, ""),
    ("g2.com", "referral", None, 3, ""),
    ("newsletter", "email", "Newsletter - Monthly", 4, ""),
    ("(direct)", "(none)", None, 12, ""),
]
_CONTENT = ["ebook-cloud-security", "report-state-of-cloud-2026", "demo-request",
            "case-study-acme", None, None, None]
_PAGES = ["/", "/platform", "/pricing", "/blog/zero-trust-guide", "/demo",
          "/resources/ebook-cloud-security"]
_LEAD_SOURCES = ["Web", "Webinar", "Trade Show", "Content Syndication",
                 "Partner Referral", "Purchased List", "Employee Referral", ""]
_STAGES_OPEN = ["Prospecting", "Qualification", "Needs Analysis",
                "Proposal/Price Quote", "Negotiation/Review"]


def write_exports(out_dir: str | os.PathLike[str], *, opportunities: int = 3000,
                  seed: int = 0, start: str = "2025-01-01", end: str = "2026-06-30",
                  ga4: bool = True, dirt: bool = True) -> Path:
    """Write realistic raw exports of a synthetic B2B company to ``out_dir``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Created if needed; files of the same names are overwritten.
    opportunities : int, default=3000
        Opportunities in the CRM; everything else scales with it (about 0.7
        accounts, 2.5 contacts, 4 campaign members and, with ``ga4``, 15 GA4
        events per opportunity).
    seed : int, default=0
        The same seed writes the same bytes.
    start, end : str, default="2025-01-01", "2026-06-30"
        The period the company's data covers (dates, UTC).
    ga4 : bool, default=True
        Write the GA4 export and id map (off for CRM-only benchmarks).
    dirt : bool, default=True
        Sprinkle the dirt real exports carry (see the module docstring).

    Returns
    -------
    pathlib.Path
        ``out_dir``; ``totals.json`` there holds the figures a correct ingest must
        reproduce (opportunities, pipeline and revenue of the valid ones, rows that
        must be rejected or counted as duplicates, per file).

    Raises
    ------
    attribution.exceptions.ParameterError
        When ``opportunities`` is below 10 or ``end`` is less than 120 days after
        ``start``.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> out = write_exports(pathlib.Path(tempfile.mkdtemp()), opportunities=50, seed=1)
    >>> totals = json.loads((out / "totals.json").read_text())
    >>> totals["opportunities_valid"] <= 50
    True
    """
    if isinstance(opportunities, bool) or int(opportunities) < 10:
        raise ParameterError(f"write_exports: opportunities must be a whole number "
                             f">= 10; got {opportunities!r}")
    t0 = np.datetime64(start, "D")
    t1 = np.datetime64(end, "D")
    days = int((t1 - t0).astype(int))
    if days < 120:
        raise ParameterError(f"write_exports: end {end} must be at least 120 days "
                             f"after start {start}")
    out = Path(out_dir)
    (out / "salesforce").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base_us = int(t0.astype("datetime64[us]").astype(np.int64))
    world = _World(rng, int(opportunities), days, base_us)
    totals: dict[str, Any] = {"seed": seed, "start": start, "end": end}
    totals.update(_write_salesforce(out / "salesforce", world, rng, dirt))
    spend_totals = _write_spend(out / "spend", world, rng, dirt)
    totals["spend"] = spend_totals
    if ga4:
        totals["ga4"] = _write_ga4(out / "ga4", world, rng, dirt)
    (out / "totals.json").write_text(json.dumps(totals, indent=2, sort_keys=True)
                                     + "\n")
    return out


# ----------------------------------------------------------------------- the company
class _World:
    """Accounts, people, opportunities and campaign responses, as numpy arrays."""

    def __init__(self, rng: np.random.Generator, n_opps: int, days: int,
                 base_us: int) -> None:
        self.days, self.base_us = days, base_us
        n = n_opps
        n_acc_opp = max(1, int(np.ceil(n / 1.5)))
        n_acc = n_acc_opp + max(1, n // 3)  # prospects: accounts without deals
        self.n_acc = n_acc
        # contacts: 1 + Poisson(1.5) per account, numbered account by account
        per_acc = 1 + rng.poisson(1.5, n_acc)
        self.contact_account = np.repeat(np.arange(n_acc), per_acc)
        first_contact = np.concatenate([[0], np.cumsum(per_acc)[:-1]])
        n_con = len(self.contact_account)
        # opportunities on the first n_acc_opp accounts (bigger accounts, more deals)
        size = rng.lognormal(0.0, 0.8, n_acc_opp)
        acc = rng.choice(n_acc_opp, n, p=size / size.sum())
        created = rng.integers(90, days - 5, n)
        order = np.lexsort((acc, created))
        self.opp_account, self.opp_created_day = acc[order], created[order]
        self.opp_created_sec = rng.integers(8 * 3600, 19 * 3600, n)
        amount = np.round(rng.lognormal(np.log(30_000), 0.9, n) * (
            0.6 + 0.8 * size[self.opp_account] / size.max()), -2)
        self.amount = np.maximum(amount, 1_000.0)
        cycle = rng.integers(20, 240, n)
        self.close_day = self.opp_created_day + cycle
        self.closed = self.close_day <= days
        self.won = self.closed & (rng.random(n) < 0.34)
        # contact creation: before the first deal of the account when it has one
        first_opp = np.full(n_acc, days, dtype=np.int64)
        np.minimum.at(first_opp, self.opp_account, self.opp_created_day)
        limit = np.maximum(first_opp[self.contact_account] - 5, 1)
        self.contact_created_day = (rng.random(n_con) * limit).astype(np.int64)
        self.contact_created_sec = rng.integers(0, 86_400, n_con)
        # contact roles: 1-3 distinct contacts of the deal's account
        roles = 1 + rng.binomial(2, 0.45, n)
        roles = np.minimum(roles, per_acc[self.opp_account])
        role_opp = np.repeat(np.arange(n), roles)
        k = np.arange(len(role_opp)) - np.repeat(np.cumsum(roles) - roles, roles)
        shift = rng.integers(0, 1_000_000, n)[role_opp]
        count = per_acc[self.opp_account][role_opp]
        self.role_opp = role_opp
        self.role_contact = (first_contact[self.opp_account][role_opp]
                             + (shift + k) % count)
        self.role_primary = k == 0
        # leads: 60% of contacts came from a converted lead; 0.8 unconverted per deal
        converted = rng.random(n_con) < 0.6
        self.conv_contact = np.flatnonzero(converted)
        self.conv_lead_day = np.maximum(
            self.contact_created_day[self.conv_contact] - rng.integers(0, 60,
                                                                   len(self.conv_contact)),
            0)
        n_free = int(0.8 * n)
        self.free_lead_day = rng.integers(0, days - 1, n_free)
        self.free_lead_source = rng.integers(0, len(_LEAD_SOURCES), n_free)
        self.conv_lead_source = rng.integers(0, len(_LEAD_SOURCES),
                                             len(self.conv_contact))
        self.n_con, self.n_free = n_con, n_free
        self.n_conv = len(self.conv_contact)
        # a person's reference day: its first deal (role contacts) or its creation
        ref = self.contact_created_day.astype(np.int64) + 30
        has_role = np.zeros(n_con, dtype=bool)
        has_role[self.role_contact] = True
        role_first = np.full(n_con, days, dtype=np.int64)
        np.minimum.at(role_first, self.role_contact, self.opp_created_day[role_opp])
        self.contact_ref_day = np.where(has_role, role_first, ref)
        self.contact_has_role = has_role


# ----------------------------------------------------------------------- helpers
def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """Salesforce-looking 15-character ids: prefix + zero-padded number."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()),
                          15 - len(prefix), "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _iso(us: np.ndarray, *, date_only: bool = False) -> pa.Array:
    """Format like Data Loader: ``2026-01-31T10:15:00.000Z`` or ``2026-01-31``."""
    ts = pc.cast(pa.array(us // 1_000_000, pa.int64()), pa.timestamp("s", tz="UTC"))
    if date_only:
        return pc.strftime(ts, format="%Y-%m-%d")
    return pc.binary_join_element_wise(pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S"),
                                       ".000Z", "")


def _us(world: _World, day: np.ndarray, sec: np.ndarray | int = 0) -> np.ndarray:
    return world.base_us + day.astype(np.int64) * _DAY_US + np.asarray(
        sec, dtype=np.int64) * 1_000_000


def _set(arr: pa.Array, where: np.ndarray, values: list[str]) -> pa.Array:
    """Replace ``arr`` at positions ``where`` with ``values`` (dirt injection)."""
    py = arr.to_pylist() if len(arr) < 5000 else None
    if py is not None:
        for i, v in zip(where, values, strict=True):
            py[int(i)] = v
        return pa.array(py, pa.string())
    mask = np.zeros(len(arr), dtype=bool)
    mask[where] = True
    order = np.argsort(where)
    repl = pa.array([values[i] for i in order], pa.string())
    return pc.replace_with_mask(arr, pa.array(mask), repl)


def _write_csv(table: pa.Table, path: Path, *, bom: bool = False,
               blank_after: np.ndarray | None = None) -> None:
    """Write CSV quoted only where needed; optionally a BOM and blank rows."""
    buf = pa.BufferOutputStream()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(
        quoting_style="needed", batch_size=1 << 16))
    data = buf.getvalue().to_pybytes()
    if blank_after is not None and len(blank_after):
        lines = data.split(b"\n")
        blank = b"," * (table.num_columns - 1)
        for i, pos in enumerate(sorted(int(p) for p in blank_after)):
            lines.insert(pos + 1 + i + 1, blank if i % 2 else b"")
        data = b"\n".join(lines)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(k, n), replace=False)) if n else \
        np.zeros(0, np.int64)


# ----------------------------------------------------------------------- Salesforce
def _write_salesforce(folder: Path, w: _World, rng: np.random.Generator,
                      dirt: bool) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    n_camp = len(_CRM_CAMPAIGNS)
    camp_ids = _ids("701", np.arange(1, n_camp + 1))
    starts = rng.integers(0, w.days // 2, n_camp)
    ends = np.minimum(starts + rng.integers(30, w.days // 2, n_camp), w.days)
    cost = np.array([c[5] for c in _CRM_CAMPAIGNS])
    campaign = pa.table({
        "Id": camp_ids,
        "Name": pa.array([c[0] for c in _CRM_CAMPAIGNS]),
        "Type": pa.array([c[1] for c in _CRM_CAMPAIGNS]),
        "Status": pa.array(["Completed"] * n_camp),
        "StartDate": _iso(_us(w, starts), date_only=True),
        "EndDate": _iso(_us(w, ends), date_only=True),
        "ActualCost": pa.array([f"{c:.2f}" if c else "" for c in cost]),
        "BudgetedCost": pa.array([f"{c * 1.1:.2f}" if c else "" for c in cost]),
        "ParentId": pa.nulls(n_camp, pa.string()),
    })
    _write_csv(campaign, folder / "Campaign.csv")
    totals["campaign_actual_cost"] = float(cost.sum())
    totals["campaigns"] = n_camp

    # -- Contacts and Leads
    con_ids = _ids("003", np.arange(1, w.n_con + 1))
    acc_ids = _ids("001", np.arange(1, w.n_acc + 1))
    contact = pa.table({
        "Id": con_ids,
        "AccountId": acc_ids.take(pa.array(w.contact_account)),
        "CreatedDate": _iso(_us(w, w.contact_created_day, w.contact_created_sec)),
        "LeadSource": pa.array(np.array(_LEAD_SOURCES, dtype=object)[
            rng.integers(0, len(_LEAD_SOURCES), w.n_con)]),
    })
    contact_blank = _pick(rng, w.n_con, 3) if dirt else None
    _write_csv(contact, folder / "Contact.csv", blank_after=contact_blank)
    n_lead = w.n_conv + w.n_free
    lead_ids = _ids("00Q", np.arange(1, n_lead + 1))
    lead_day = np.concatenate([w.conv_lead_day, w.free_lead_day])
    lead_src = np.concatenate([w.conv_lead_source, w.free_lead_source])
    conv_to = np.concatenate([w.conv_contact, np.full(w.n_free, -1)])
    converted_contact = pc.if_else(pa.array(conv_to >= 0),
                                   con_ids.take(pa.array(np.maximum(conv_to, 0))),
                                   pa.scalar(None, pa.string()))
    conv_date = pc.if_else(
        pa.array(conv_to >= 0),
        _iso(_us(w, w.contact_created_day[np.maximum(conv_to, 0)]), date_only=True),
        pa.scalar(None, pa.string()))
    lead = pa.table({
        "Id": lead_ids,
        "CreatedDate": _iso(_us(w, lead_day, rng.integers(0, 86_400, n_lead))),
        "IsConverted": pa.array(np.where(conv_to >= 0, "true", "false")),
        "ConvertedContactId": converted_contact,
        "ConvertedDate": conv_date,
        "LeadSource": pa.array(np.array(_LEAD_SOURCES, dtype=object)[lead_src]),
    })
    _write_csv(lead, folder / "Lead.csv")

    # -- Opportunities
    n = len(w.amount)
    opp_ids = _ids("006", np.arange(1, n + 1))
    stage = np.where(w.won, "Closed Won", np.where(w.closed, "Closed Lost", ""))
    open_rows = np.flatnonzero(~w.closed)
    stage[open_rows] = np.array(_STAGES_OPEN)[rng.integers(0, len(_STAGES_OPEN),
                                                           len(open_rows))]
    amount_text = pc.cast(pa.array(w.amount), pa.string())
    amount_text = pc.if_else(pc.match_substring(amount_text, "."), amount_text,
                             pc.binary_join_element_wise(amount_text, ".00", ""))
    close_text = _iso(_us(w, w.close_day), date_only=True)
    created_text = _iso(_us(w, w.opp_created_day, w.opp_created_sec))
    bad_opps = np.zeros(0, np.int64)
    if dirt:
        # valid variants: $ and thousands separators, US dates, an Excel serial
        money = _pick(rng, n, max(3, n // 200))
        amount_text = _set(amount_text, money,
                           [f"${w.amount[i]:,.2f}" for i in money])
        us_dates = _pick(rng, n, max(2, n // 500))
        close_text = _set(close_text, us_dates, [
            str(np.datetime_as_string(np.datetime64(w.base_us + int(w.close_day[i])
                                                    * _DAY_US, "us"), unit="D"))
            for i in us_dates])
        close_text = _set(close_text, us_dates, [
            "{1}/{2}/{0}".format(*c.split("-")) for c in
            close_text.take(pa.array(us_dates)).to_pylist()])
        serial = _pick(rng, n, 2)
        serial_days = (w.base_us // _DAY_US + w.close_day[serial]
                       - (np.datetime64("1899-12-30", "D").astype(np.int64)))
        close_text = _set(close_text, serial, [str(int(d)) for d in serial_days])
        # impossible dates on closed deals: these rows must be rejected
        closed_rows = np.flatnonzero(w.closed)
        bad_opps = np.sort(rng.choice(closed_rows, size=min(2, len(closed_rows)),
                                      replace=False))
        close_text = _set(close_text, bad_opps, ["2025-02-30", "31/12/2025"][
            : len(bad_opps)])
    opportunity = pa.table({
        "Id": opp_ids,
        "AccountId": acc_ids.take(pa.array(w.opp_account)),
        "Name": pc.binary_join_element_wise(acc_ids.take(pa.array(w.opp_account)),
                                            pa.array(np.full(n, " - New Business")),
                                            ""),
        "Amount": amount_text,
        "StageName": pa.array(stage),
        "IsClosed": pa.array(np.where(w.closed, "true", "false")),
        "IsWon": pa.array(np.where(w.won, "true", "false")),
        "CreatedDate": created_text,
        "CloseDate": close_text,
    })
    _write_csv(opportunity, folder / "Opportunity.csv", bom=dirt)
    valid = np.ones(n, dtype=bool)
    valid[bad_opps] = False
    totals.update({
        "opportunities": n,
        "opportunities_valid": int(valid.sum()),
        "opportunities_rejected": len(bad_opps),
        "pipeline_total": float(w.amount[valid].sum()),
        "pipeline_rejected": float(w.amount[~valid].sum()),
        "revenue_total": float(w.amount[valid & w.won].sum()),
        "won_valid": int((valid & w.won).sum()),
        "open_valid": int((valid & ~w.closed).sum()),
    })

    # -- OpportunityContactRole
    role = pa.table({
        "OpportunityId": opp_ids.take(pa.array(w.role_opp)),
        "ContactId": con_ids.take(pa.array(w.role_contact)),
        "Role": pa.array(np.where(w.role_primary, "Decision Maker",
                                  "Evaluator")),
        "IsPrimary": pa.array(np.where(w.role_primary, "true", "false")),
    })
    _write_csv(role, folder / "OpportunityContactRole.csv")
    totals["contact_roles"] = role.num_rows
    totals.update(_write_members(folder, w, rng, dirt, camp_ids, con_ids, lead_ids))
    return totals


def _write_members(folder: Path, w: _World, rng: np.random.Generator, dirt: bool,
                   camp_ids: pa.Array, con_ids: pa.Array, lead_ids: pa.Array
                   ) -> dict[str, Any]:
    weights = np.array([c[4] for c in _CRM_CAMPAIGNS], dtype=float)
    p_camp = weights / weights.sum()
    # people: contacts 0..n_con-1, converted leads, free leads (as lead rows)
    resp_contact = np.where(w.contact_has_role, 1 + rng.poisson(2.0, w.n_con),
                            rng.poisson(0.8, w.n_con))
    free_resp = np.where(rng.random(w.n_free) < 0.7,
                         1 + rng.poisson(0.4, w.n_free), 0)
    # person index space: [0, n_con) contacts, [n_con, n_con + n_free) free leads
    person = np.concatenate([np.repeat(np.arange(w.n_con), resp_contact),
                             w.n_con + np.repeat(np.arange(w.n_free), free_resp)])
    m = len(person)
    is_contact = person < w.n_con
    cidx = np.where(is_contact, person, 0)
    fidx = np.where(is_contact, 0, person - w.n_con)
    ref = np.where(is_contact, w.contact_ref_day[cidx], w.free_lead_day[fidx] + 20)
    lo = np.maximum(ref - 200, 0)
    hi = np.minimum(ref + 25, w.days)
    day = lo + (rng.random(m) * np.maximum(hi - lo, 1)).astype(np.int64)
    camp = rng.choice(len(_CRM_CAMPAIGNS), m, p=p_camp)
    responded = np.ones(m, dtype=bool)
    # members who never responded (sent, invited)
    k = int(0.6 * (w.n_con + w.n_free))
    extra_person = rng.integers(0, w.n_con + w.n_free, k)
    extra_camp = rng.choice(len(_CRM_CAMPAIGNS), k, p=p_camp)
    has_other = np.array([bool(c[3]) for c in _CRM_CAMPAIGNS])
    keep = has_other[extra_camp]
    extra_person, extra_camp = extra_person[keep], extra_camp[keep]
    e_contact = extra_person < w.n_con
    e_ref = np.where(e_contact, w.contact_ref_day[np.where(e_contact, extra_person, 0)],
                     w.free_lead_day[np.where(e_contact, 0, extra_person - w.n_con)])
    extra_day = np.clip(e_ref + rng.integers(-150, 30, len(extra_person)), 0, w.days)
    person = np.concatenate([person, extra_person])
    camp = np.concatenate([camp, extra_camp])
    day = np.concatenate([day, extra_day])
    responded = np.concatenate([responded, np.zeros(len(extra_person), bool)])
    # one member per campaign and person (Salesforce enforces it)
    key = person.astype(np.int64) * len(_CRM_CAMPAIGNS) + camp
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)
    person, camp, day, responded = person[first], camp[first], day[first], \
        responded[first]
    order = np.lexsort((person, day))
    person, camp, day, responded = person[order], camp[order], day[order], \
        responded[order]
    m = len(person)
    is_contact = person < w.n_con
    sec = rng.integers(6 * 3600, 22 * 3600, m)
    added = np.maximum(day - rng.integers(0, 20, m), 0)
    # statuses
    status = np.empty(m, dtype=object)
    for c, (_, _, yes, no, _, _) in enumerate(_CRM_CAMPAIGNS):
        sel = camp == c
        pick_yes = np.array(yes, dtype=object)[rng.integers(0, len(yes), sel.sum())]
        pick_no = (np.array(no, dtype=object)[rng.integers(0, len(no), sel.sum())]
                   if no else pick_yes)
        status[sel] = np.where(responded[sel], pick_yes, pick_no)
    # who: contacts (some responses from their lead days: LeadId only), free leads
    conv_lead_of = np.full(w.n_con, -1, dtype=np.int64)
    conv_lead_of[w.conv_contact] = np.arange(w.n_conv)
    cidx = np.where(is_contact, person, 0)
    lead_era = is_contact & (conv_lead_of[cidx] >= 0) & (
        day < w.contact_created_day[cidx]) & (rng.random(m) < 0.5)
    contact_col = pc.if_else(pa.array(is_contact & ~lead_era),
                             con_ids.take(pa.array(cidx)), pa.scalar(None, pa.string()))
    lead_num = np.where(is_contact, conv_lead_of[cidx], w.n_conv + person - w.n_con)
    lead_col = pc.if_else(pa.array(~is_contact | lead_era),
                          lead_ids.take(pa.array(np.maximum(lead_num, 0))),
                          pa.scalar(None, pa.string()))
    first_resp = pc.if_else(pa.array(responded), _iso(_us(w, day, sec)),
                            pa.scalar(None, pa.string()))
    members = pa.table({
        "Id": _ids("00v", np.arange(1, m + 1)),
        "CampaignId": camp_ids.take(pa.array(camp)),
        "ContactId": contact_col,
        "LeadId": lead_col,
        "Status": pa.array(status, pa.string()),
        "HasResponded": pa.array(np.where(responded, "true", "false")),
        "FirstRespondedDate": first_resp,
        "CreatedDate": _iso(_us(w, added, sec // 2)),
    })
    totals: dict[str, Any] = {"members": m, "members_responded": int(responded.sum())}
    rejected = duplicates = 0
    blank = None
    if dirt:
        resp_rows = np.flatnonzero(responded)
        bad = np.sort(rng.choice(resp_rows, size=min(3, len(resp_rows)),
                                 replace=False))
        members = members.set_column(
            6, "FirstRespondedDate", _set(members.column("FirstRespondedDate")
                                          .combine_chunks(), bad,
                                          ["13/45/2025", "2025-02-29", "soon"][
                                              : len(bad)]))
        # a member of an unknown campaign and a member of nobody
        extra = members.take(pa.array(resp_rows[:2]))
        unknown = extra.slice(0, 1).set_column(1, "CampaignId",
                                               pa.array(["701999999999999"]))
        nobody = extra.slice(1, 1)
        nobody = nobody.set_column(2, "ContactId", pa.nulls(1, pa.string()))
        nobody = nobody.set_column(3, "LeadId", pa.nulls(1, pa.string()))
        # duplicates: repeated rows of responded members
        dup_rows = np.sort(rng.choice(resp_rows, size=max(2, len(resp_rows) // 200),
                                      replace=False))
        dups = members.take(pa.array(dup_rows))
        members = pa.concat_tables([members, unknown, nobody, dups])
        rejected = len(bad) + 2
        duplicates = len(dup_rows)
        blank = _pick(rng, members.num_rows, 4)
        totals["members_bad_dates"] = len(bad)
    _write_csv(members, folder / "CampaignMember.csv", blank_after=blank)
    totals.update({"members_written": members.num_rows,
                   "members_rejected": rejected, "members_duplicate": duplicates})
    return totals


# ----------------------------------------------------------------------- spend
def _spend_days(w: _World) -> np.ndarray:
    return np.arange(w.days + 1)


def _write_spend(folder: Path, w: _World, rng: np.random.Generator,
                 dirt: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    days = _spend_days(w)
    scale = max(1.0, len(w.amount) / 3000)
    totals: dict[str, float] = {}

    def daily(names: list[str], lo: float, hi: float) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
        d = np.tile(days, len(names))
        c = np.repeat(np.arange(len(names)), len(days))
        cost = np.round(rng.uniform(lo, hi, len(d)) * scale, 2)
        return d, c, cost

    dates = _iso(_us(w, days), date_only=True).to_numpy(zero_copy_only=False)
    # Google Ads: title, date range, header, rows, "Total:" footer
    g_names = [x[2] for x in _WEB if x[4] == "google"]
    d, c, cost = daily(g_names, 40, 400)
    lines = ["Campaign report",
             f"{_long_date(dates[0])} - {_long_date(dates[-1])}",
             "Day,Campaign,Currency code,Cost"]
    lines += [f"{dates[a]},{g_names[b]},USD,\"{v:,.2f}\"" for a, b, v in
              zip(d, c, cost, strict=True)] if len(d) < 200_000 else []
    if len(d) >= 200_000:  # pragma: no cover - very large companies
        lines += list(np.char.add(np.char.add(dates[d].astype(str), ","),
                                  np.array(g_names)[c]) + ",USD," + cost.astype(str))
    lines.append(f"Total: Account,,USD,\"{cost.sum():,.2f}\"")
    (folder / "google_ads.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    totals["google_ads"] = round(float(cost.sum()), 2)
    # LinkedIn Campaign Manager: UTF-16, tab-separated, M/D/YYYY dates
    l_names = [x[2] for x in _WEB if x[4] == "linkedin"]
    d, c, cost = daily(l_names, 30, 250)
    shown = [n.lower() + " " if i % 2 else n for i, n in enumerate(l_names)]
    us_dates = ["{1}/{2}/{0}".format(*x.split("-")) for x in dates]
    us_dates = [x.replace("/0", "/").lstrip("0") for x in us_dates]
    rows = ["Start Date (in UTC)\tCampaign Name\tCurrency\tTotal Spent"]
    rows += [f"{us_dates[a]}\t{shown[b]}\tUSD\t{v:.2f}" for a, b, v in
             zip(d, c, cost, strict=True)]
    (folder / "linkedin_ads.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode(
        "utf-16"))
    totals["linkedin_ads"] = round(float(cost.sum()), 2)
    # Meta Ads Manager
    m_names = [x[2] for x in _WEB if x[4] == "meta"]
    d, c, cost = daily(m_names, 10, 120)
    rows = ["Reporting starts,Reporting ends,Campaign name,Amount spent (USD)"]
    rows += [f"{dates[a]},{dates[a]},{m_names[b].upper()},{v:.2f}" for a, b, v in
             zip(d, c, cost, strict=True)]
    (folder / "meta_ads.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    totals["meta_ads"] = round(float(cost.sum()), 2)
    # other costs in touchline's spend columns: monthly creative, agency, tools, and
    # the media of platforms without an export here
    months = np.unique(dates.astype("datetime64[M]").astype("datetime64[D]").astype(
        str)) if len(dates) else np.array([])
    items = [("Paid Social", None, "creative", 2_500), ("Paid Search", None, "agency",
                                                        4_000),
             ("Email", None, "tools", 1_200), ("Display", "Demandbase - ABM Display",
                                               "media", 6_000),
             ("Paid Video", "YouTube - Product Demos", "media", 3_000)]
    rows = ["date,channel,campaign,cost,cost_type,currency"]
    total_other = 0.0
    for month in months:
        for channel, camp, kind, base in items:
            v = round(base * scale * rng.uniform(0.8, 1.2), 2)
            total_other += v
            rows.append(f"{month},{channel},{camp or ''},{v:.2f},{kind},USD")
    (folder / "other_costs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    totals["other_costs"] = round(total_other, 2)
    return totals


def _long_date(iso: str) -> str:
    d = np.datetime64(iso, "D").astype(object)
    return f"{d:%B} {d.day}, {d.year}"


# ----------------------------------------------------------------------- GA4
def _q(values: pa.Array) -> pa.Array:
    """JSON text of a string column: ``"value"`` or ``null``."""
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    return pc.fill_null(quoted, "null")


def _param(key: str, slot: str, values: pa.Array) -> pa.Array:
    """One ``event_params`` entry with all four value slots, or "" where null."""
    slots = {s: "null" for s in ("string_value", "int_value", "float_value",
                                 "double_value")}
    before = ", ".join(f'"{s}": {v}' for s, v in slots.items() if s != slot)
    entry = pc.binary_join_element_wise(
        f'{{"key": "{key}", "value": {{"{slot}": ', _q(values),
        f", {before}}}}}", "")
    return pc.if_else(values.is_valid(), entry, "")


def _write_ga4(folder: Path, w: _World, rng: np.random.Generator,
               dirt: bool) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    con_ids = _ids("003", np.arange(1, w.n_con + 1))
    lead_ids = _ids("00Q", np.arange(1, w.n_conv + w.n_free + 1))
    # web people: half of contacts and of unconverted leads, plus anonymous visitors
    web_con = np.flatnonzero(rng.random(w.n_con) < 0.5)
    web_free = np.flatnonzero(rng.random(w.n_free) < 0.5)
    n_anon = len(w.amount)
    crm_ids = pa.concat_arrays([con_ids.take(pa.array(web_con)),
                                lead_ids.take(pa.array(w.n_conv + web_free))])
    ref = np.concatenate([w.contact_ref_day[web_con], w.free_lead_day[web_free] + 10,
                          rng.integers(0, w.days, n_anon)])
    n_people = len(ref)
    crm = np.arange(n_people) < len(web_con) + len(web_free)
    # identity: user_id on events (40%), id map (30%), unknown (30%)
    how = rng.random(n_people)
    by_user_id = crm & (how < 0.4)
    by_map = crm & (how >= 0.4) & (how < 0.7)
    client = rng.integers(100_000_000, 2_000_000_000, n_people)
    first_seen = (w.base_us // 1_000_000 + np.maximum(ref - 200, 0) * 86_400)
    upid = pc.binary_join_element_wise(
        pc.cast(pa.array(client), pa.string()),
        pc.cast(pa.array(first_seen), pa.string()), ".")
    # sessions
    n_sess = np.where(crm, 1 + rng.poisson(2.0, n_people), 1 + rng.poisson(0.8,
                                                                           n_people))
    who = np.repeat(np.arange(n_people), n_sess)
    s = len(who)
    lo = np.maximum(ref[who] - 200, 0)
    hi = np.minimum(ref[who] + 40, w.days)
    sday = lo + (rng.random(s) * np.maximum(hi - lo, 1)).astype(np.int64)
    ssec = rng.integers(0, 86_400, s)
    start_us = w.base_us + sday * _DAY_US + ssec * 1_000_000
    order = np.lexsort((start_us, who))
    who, start_us = who[order], start_us[order]
    number = np.arange(s) - np.repeat(np.cumsum(n_sess) - n_sess, n_sess) + 1
    web_w = np.array([x[3] for x in _WEB], dtype=float)
    src_i = rng.choice(len(_WEB), s, p=web_w / web_w.sum())
    src = np.array([x[0] for x in _WEB], dtype=object)[src_i]
    med = np.array([x[1] for x in _WEB], dtype=object)[src_i]
    camp = np.array([x[2] for x in _WEB], dtype=object)[src_i]
    is_google_ads = np.array([x[4] == "google" for x in _WEB])[src_i]
    direct = src == "(direct)"
    content = np.array(_CONTENT, dtype=object)[rng.integers(0, len(_CONTENT), s)]
    content = np.where(direct | (med == "organic"), None, content)
    # lead events: the CRM person's session closest after its reference, 8% of anon
    lead = np.zeros(s, dtype=bool)
    first_of = np.concatenate([[0], np.cumsum(n_sess)[:-1]])
    lead[first_of[crm & (rng.random(n_people) < 0.5)]] = True
    anon_lead = (~crm) & (rng.random(n_people) < 0.08)
    lead[first_of[anon_lead]] = True
    buyer = (~crm) & (rng.random(n_people) < 0.03)
    purchase = np.zeros(s, dtype=bool)
    last_of = np.cumsum(n_sess) - 1
    purchase[last_of[buyer]] = True
    revenue = np.round(rng.uniform(500, 5000, s), 2)
    tx = _ids("T", np.arange(1, s + 1))
    # events: session_start, page_view, then generate_lead / purchase
    per = 2 + lead.astype(int) + purchase.astype(int)
    sess_of = np.repeat(np.arange(s), per)
    k = np.arange(len(sess_of)) - np.repeat(np.cumsum(per) - per, per)
    name = np.where(k == 0, "session_start", "page_view").astype(object)
    third = k == 2
    name[third] = np.where(lead[sess_of[third]], "generate_lead", "purchase")
    fourth = k == 3
    name[fourth] = "purchase"
    e = len(sess_of)
    ev_us = start_us[sess_of] + k * rng.integers(2, 90, e) * 1_000_000
    person_of = who[sess_of]
    sess_id = (start_us // 1_000_000)[sess_of]
    page = np.array(_PAGES, dtype=object)[rng.integers(0, len(_PAGES), e)]
    gclid = np.where(is_google_ads[sess_of] & (k <= 1),
                     "&gclid=Cj0KCQ"
                     + np.char.mod("%08d", sess_of % 10**8).astype(object),
                     "")
    utm = np.where((~direct[sess_of]) & (k <= 1) & (med[sess_of] != "organic"),
                   "?utm_source=" + src[sess_of].astype(str) + "&utm_medium="
                   + med[sess_of].astype(str), "")
    location = ("https://www.example-security.com" + page.astype(str) + utm
                + np.where(utm == "", np.where(gclid != "", "?" + np.char.lstrip(
                    gclid.astype(str), "&"), ""), gclid.astype(str)))
    first_ev = k == 0
    tagged = (k <= 1) & ~direct[sess_of]
    uid_on = by_user_id[person_of] & (k >= 1)
    user_id = pc.if_else(pa.array(uid_on), crm_ids.take(pa.array(
        np.where(crm[person_of], person_of, 0))), pa.scalar(None, pa.string()))
    ev_date = pc.strftime(pc.cast(pa.array(ev_us // 1_000_000), pa.timestamp(
        "s", tz="UTC")), format="%Y%m%d")

    def arr(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
        a = pa.array(values.astype(object) if values.dtype != object else values,
                     pa.string(), from_pandas=True)
        if mask is not None:
            a = pc.if_else(pa.array(mask), a, pa.scalar(None, pa.string()))
        return a

    s_src, s_med, s_camp = src[sess_of], med[sess_of], camp[sess_of]
    params = [
        _param("ga_session_id", "int_value", arr(sess_id.astype(str))),
        _param("ga_session_number", "int_value", arr(number[sess_of].astype(str))),
        _param("page_location", "string_value", arr(location)),
        _param("source", "string_value", arr(s_src, tagged)),
        _param("medium", "string_value", arr(s_med, tagged)),
        _param("campaign", "string_value", arr(s_camp, tagged & (s_camp != None))),  # noqa: E711
        _param("content", "string_value", arr(content[sess_of], tagged & (
            content[sess_of] != None))),  # noqa: E711
        _param("value", "double_value", arr(revenue[sess_of].astype(str),
                                            name == "purchase")),
        _param("currency", "string_value", arr(np.full(e, "USD", dtype=object),
                                               name == "purchase")),
    ]
    joined = pc.binary_join_element_wise(*[
        pc.if_else(pc.equal(p, ""), "", pc.binary_join_element_wise(p, ", ", ""))
        for p in params], "")
    params_json = pc.binary_join_element_wise(
        "[", pc.utf8_slice_codeunits(joined, 0, -2), "]", "")
    # user-level first touch (traffic_source): the user's first session
    first_sess = first_of[person_of]
    fs_src = np.where(direct[first_sess], "(direct)", src[first_sess])
    fs_med = np.where(direct[first_sess], "(none)", med[first_sess])
    fs_name = np.where(camp[first_sess] != None, camp[first_sess], "(organic)")  # noqa: E711
    traffic = pc.binary_join_element_wise(
        '{"name": ', _q(arr(fs_name)), ', "medium": ', _q(arr(fs_med)),
        ', "source": ', _q(arr(fs_src)), "}", "")
    collected = pc.binary_join_element_wise(
        '{"manual_campaign_id": null, "manual_campaign_name": ',
        _q(arr(s_camp, s_camp != None)),  # noqa: E711
        ', "manual_source": ', _q(arr(s_src)), ', "manual_medium": ', _q(arr(s_med)),
        ', "manual_term": null, "manual_content": ',
        _q(arr(content[sess_of], content[sess_of] != None)),  # noqa: E711
        ', "gclid": ', _q(arr(np.char.lstrip(gclid.astype(str), "&gclid="),
                              gclid != "")),
        ', "dclid": null, "srsltid": null}', "")
    collected = pc.if_else(pa.array(first_ev & tagged), collected, "null")
    is_purchase = name == "purchase"
    ecommerce = pc.binary_join_element_wise(
        '{"total_item_quantity": "1", "purchase_revenue_in_usd": ',
        _q(arr(revenue[sess_of].astype(str))), ', "purchase_revenue": ',
        _q(arr(revenue[sess_of].astype(str))), ', "transaction_id": ',
        _q(tx.take(pa.array(sess_of))), "}", "")
    ecommerce = pc.if_else(pa.array(is_purchase), ecommerce, "null")
    user_pseudo = _q(upid.take(pa.array(person_of)))
    session_param_ok = np.ones(e, dtype=bool)
    rejected = 0
    if dirt and e > 10:
        cookieless = _pick(rng, e, 2)
        user_pseudo = _set(user_pseudo, cookieless, ["null"] * len(cookieless))
        no_session = _pick(rng, e, 1)
        params_json = _set(params_json, no_session, ["[]"])
        session_param_ok[no_session] = False
        rejected = len(set(cookieless.tolist()) | set(no_session.tolist()))
    line = pc.binary_join_element_wise(
        '{"event_date": "', ev_date, '", "event_timestamp": "',
        pc.cast(pa.array(ev_us), pa.string()), '", "event_name": "',
        arr(name), '", "event_params": ', params_json,
        ', "event_previous_timestamp": null, "event_value_in_usd": null, '
        '"event_bundle_sequence_id": "1", "event_server_timestamp_offset": null, '
        '"user_id": ', _q(user_id), ', "user_pseudo_id": ', user_pseudo,
        ', "privacy_info": {"analytics_storage": "Yes", "ads_storage": "Yes", '
        '"uses_transient_token": "No"}, "user_properties": [], '
        '"user_first_touch_timestamp": "', pc.cast(pa.array(
            first_seen[person_of] * 1_000_000), pa.string()),
        '", "device": {"category": "desktop", "operating_system": "Windows", '
        '"language": "en-us", "web_info": {"browser": "Chrome", "hostname": '
        '"www.example-security.com"}}, "geo": {"country": "United States"}, '
        '"app_info": null, "traffic_source": ', traffic, ', "stream_id": "1234567890", '
        '"platform": "WEB", "collected_traffic_source": ', collected,
        ', "ecommerce": ', ecommerce, ', "items": []}', "")
    # one file per month, events in time order
    month = (ev_us // _DAY_US).astype("datetime64[D]").astype("datetime64[M]")
    order = np.lexsort((np.arange(e), ev_us))
    for mo in np.unique(month):
        sel = order[month[order] == mo]
        name_mo = str(mo).replace("-", "")
        data = "\n".join(line.take(pa.array(sel)).to_pylist()) + "\n"
        (folder / f"events_{name_mo}.jsonl").write_text(data, encoding="utf-8")
    # id map for the people matched that way
    mapped = np.flatnonzero(by_map)
    id_map = pa.table({"user_pseudo_id": upid.take(pa.array(mapped)),
                       "contact_id": crm_ids.take(pa.array(mapped))})
    _write_csv(id_map, folder.parent / "id_map.csv")
    bought = is_purchase & session_param_ok
    bought_users = np.unique(person_of[bought])
    return {
        "events": int(e), "sessions": int(s), "users": int(n_people),
        "events_rejected": int(rejected),
        "web_only_revenue_max": float(revenue[sess_of][bought].sum()),
        "buyers": len(bought_users),
        "users_with_user_id": int(by_user_id.sum()),
        "users_in_id_map": len(mapped),
    }
