"""Channel grouping: GA4-style defaults, the user's mapping file, unmapped values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from attribution import open_store
from attribution.exceptions import SchemaError
from attribution.validate import summarise_store
from connectors import ingest
from connectors.channels import (
    DEFAULT_RULES,
    UNASSIGNED,
    ChannelMapping,
    assign_channels,
    load_channel_mapping,
    source_categories,
)
from touchline.cli import main

from . import REAL, needs_real

# (source, medium, campaign, campaign_type, interaction) -> channel
DEFAULTS = [
    (("(direct)", "(none)", None, None, None), "Direct"),
    (("(direct)", "(not set)", None, None, None), "Direct"),
    (("google", "cpc", "brand", None, None), "Paid Search"),
    (("bing", "ppc", None, None, None), "Paid Search"),
    (("google", "organic", None, None, None), "Organic Search"),
    (("DuckDuckGo", "referral", None, None, None), "Organic Search"),
    (("linkedin", "paid_social", None, None, None), "Paid Social"),
    (("facebook", "paid", None, None, None), "Paid Social"),
    (("linkedin.com", "referral", None, None, None), "Organic Social"),
    (("newsletter", "social", None, None, None), "Organic Social"),
    (("youtube.com", "cpv", None, None, None), "Paid Video"),
    (("m.youtube.com", "referral", None, None, None), "Organic Video"),
    (("partner-site", "cpm", None, None, None), "Display"),
    (("dsp", "display", None, None, None), "Display"),
    (("dsp", "retargeting", None, None, None), "Paid Other"),
    (("google", "cpc", "Cross-network PMax", None, None), "Cross-network"),
    (("IGShopping", "cpc", None, None, None), "Paid Shopping"),
    (("blog.example.com", "referral", None, None, None), "Referral"),
    (("marketo", "email", None, None, None), "Email"),
    (("e-mail", None, None, None, None), "Email"),
    (("awin", "affiliate", None, None, None), "Affiliates"),
    (("firebase", None, None, None, None), "Mobile Push Notifications"),
    (("sms", None, None, None, None), "SMS"),
    # B2B additions
    (("zoom", "webinar", None, None, None), "Webinar"),
    ((None, None, None, None, "webinar_attended"), "Webinar"),
    (("rsa", "trade-show", None, None, None), "Events"),
    ((None, None, None, None, "event_attended"), "Events"),
    (("outreach.io", "sales_email", None, None, None), "Sales Outreach"),
    ((None, None, None, None, "meeting"), "Sales Outreach"),
    (("techtarget", "content-syndication", None, None, None), "Content Syndication"),
    (("acme", "partner", None, None, None), "Partner"),
    ((None, "direct_mail", None, None, None), "Direct Mail"),
    # Salesforce Campaign.Type
    ((None, None, "Q1 Webinar", "Webinar", None), "Webinar"),
    ((None, None, "RSA", "Trade Show", None), "Events"),
    ((None, None, "Dreamforce", "Conference", None), "Events"),
    ((None, None, "Nurture", "Email", None), "Email"),
    ((None, None, "Ads", "Advertisement", None), "Paid Other"),
    ((None, None, "Mailer", "Direct Mail", None), "Direct Mail"),
    ((None, None, "Resellers", "Partners", None), "Partner"),
    ((None, None, "Refer a friend", "Referral Program", None), "Referral"),
    ((None, None, "GDN", "Banner Ads", None), "Display"),
    ((None, None, "Misc", "Other", None), "Other"),
    # nothing to go on
    (("mystery", "thing", None, None, None), UNASSIGNED),
    ((None, None, None, None, None), UNASSIGNED),
]


@pytest.mark.parametrize(("values", "expected"), DEFAULTS,
                         ids=[f"{e}-{i}" for i, (_, e) in enumerate(DEFAULTS)])
def test_default_rules(values: tuple, expected: str) -> None:
    columns = ("source", "medium", "campaign", "campaign_type", "interaction")
    data = {c: pa.array([v], pa.string()) for c, v in zip(columns, values, strict=True)}
    assert assign_channels(data).to_pylist() == [expected]


def test_defaults_are_case_insensitive_and_trimmed() -> None:
    data = {"source": pa.array([" Google ", "LINKEDIN"]),
            "medium": pa.array(["CPC", " Paid "])}
    assert assign_channels(data).to_pylist() == ["Paid Search", "Paid Social"]


def test_source_category_table_is_packaged_with_its_licence() -> None:
    categories = source_categories()
    assert set(categories) == {"SEARCH", "SHOPPING", "SOCIAL", "VIDEO"}
    assert sum(len(v) for v in categories.values()) == 819
    assert {"google", "bing", "duckduckgo"} <= categories["SEARCH"]
    assert {"linkedin", "facebook", "instagram"} <= categories["SOCIAL"]
    data = Path(__file__).parents[2] / "connectors" / "data"
    licence = (data / "ga4_source_categories.LICENSE.txt").read_text()
    assert "MIT License" in licence and "Velir/dbt-ga4" in licence


@needs_real
def test_packaged_table_is_the_fixture_unchanged() -> None:
    data = Path(__file__).parents[2] / "connectors" / "data"
    packaged = (data / "ga4_source_categories.csv").read_bytes()
    fixture = REAL / "ga4" / "velir" / "ga4_source_categories.csv"
    assert packaged == fixture.read_bytes()


def test_existing_channel_is_kept_and_empty_one_is_grouped() -> None:
    data = pa.table({"channel": ["Events", None, "  ", "Email"],
                     "source": ["google", "google", "zzz", None],
                     "medium": ["cpc", "cpc", "zzz", None]})
    unmapped: dict[str, int] = {}
    got = assign_channels(data, unmapped=unmapped)
    assert got.to_pylist() == ["Events", "Paid Search", UNASSIGNED, "Email"]
    assert unmapped == {"zzz / zzz": 1}


def test_unmapped_counts_add_up_across_calls_and_name_the_type() -> None:
    unmapped: dict[str, int] = {}
    data = {"source": pa.array(["x", "x", None]), "medium": pa.array(["y", "y", None]),
            "campaign_type": pa.array([None, None, "Roadkill"])}
    assign_channels(data, unmapped=unmapped)
    assign_channels({"source": pa.array(["x"]), "medium": pa.array(["y"])},
                    unmapped=unmapped)
    assert unmapped == {"x / y": 3, "(not set) / (not set) / type Roadkill": 1}


def test_dataframe_in_series_out_aligned() -> None:
    df = pd.DataFrame({"source": ["google", "bing"], "medium": ["cpc", "organic"]},
                      index=[10, 20])
    got = assign_channels(df)
    assert isinstance(got, pd.Series)
    assert got.to_dict() == {10: "Paid Search", 20: "Organic Search"}


def test_many_rows_are_grouped_once_per_distinct_combination() -> None:
    rng = np.random.default_rng(0)
    n = 300_000
    sources = np.array(["google", "linkedin", "(direct)", "zzz"], dtype=object)
    media = np.array(["cpc", "organic", "(none)", "zzz"], dtype=object)
    s = sources[rng.integers(0, 4, n)]
    m = media[rng.integers(0, 4, n)]
    got = assign_channels({"source": pa.array(s), "medium": pa.array(m)})
    small = assign_channels({"source": pa.array(s[:1000]),
                             "medium": pa.array(m[:1000])})
    assert got.slice(0, 1000).equals(small)
    assert got.null_count == 0
    expected = {("google", "cpc"): "Paid Search", ("linkedin", "organic"):
                "Organic Social", ("(direct)", "(none)"): "Direct"}
    for i in range(50):
        key = (s[i], m[i])
        if key in expected:
            assert got[i].as_py() == expected[key]


# --------------------------------------------------------------------------- mapping
def test_csv_mapping_first_match_wins_before_defaults(tmp_path: Path) -> None:
    f = tmp_path / "channels.csv"
    f.write_text("source,medium,campaign,channel\n"
                 "^linkedin$,^paid,,LinkedIn Ads\n"
                 ",,^abm-,ABM\n"
                 "linkedin,,,Never (the first rule took it)\n")
    mapping = load_channel_mapping(f)
    data = {"source": pa.array(["linkedin", "linkedin", "google", "google"]),
            "medium": pa.array(["paid_social", "organic", "cpc", "cpc"]),
            "campaign": pa.array(["x", "abm-q1", "abm-q1", "brand"])}
    got = assign_channels(data, mapping).to_pylist()
    assert got == ["LinkedIn Ads", "ABM", "ABM", "Paid Search"]


def test_mapping_renames_an_input_channel(tmp_path: Path) -> None:
    f = tmp_path / "channels.csv"
    f.write_text("input_channel,channel\n^paid_search$,Paid Search\n")
    data = pa.table({"channel": ["paid_search", "Email", None],
                     "source": [None, None, "bing"], "medium": [None, None, "organic"]})
    got = assign_channels(data, load_channel_mapping(f)).to_pylist()
    assert got == ["Paid Search", "Email", "Organic Search"]


def test_toml_mapping_can_turn_defaults_off(tmp_path: Path) -> None:
    f = tmp_path / "channels.toml"
    f.write_text('defaults = false\n\n[[rule]]\nsource = "^google$"\nmedium = "^cpc$"\n'
                 'channel = "Google Ads"\n')
    mapping = load_channel_mapping(f)
    assert mapping.defaults is False
    unmapped: dict[str, int] = {}
    got = assign_channels({"source": pa.array(["google", "bing"]),
                           "medium": pa.array(["cpc", "organic"])}, mapping,
                          unmapped=unmapped)
    assert got.to_pylist() == ["Google Ads", UNASSIGNED]
    assert unmapped == {"bing / organic": 1}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("m.csv", "source,medium\n^a,^b\n", "missing column channel"),
    ("m.csv", "source,colour,channel\n^a,red,X\n", "colour is not a match column"),
    ("m.csv", "source,channel\n([,X\n", r"row 2: source pattern '\(\[' is not a valid"),
    ("m.csv", "source,channel\n^a,\n", "row 2: channel is empty"),
    ("m.csv", "source,channel\n,X\n", "row 2: the rule for 'X' has no condition"),
    ("m.csv", "", "channel-mapping file is empty"),
    ("m.toml", "[[rule]]\nsource = 1\nchannel = 'X'\n", "rule 1: source must be text"),
    ("m.toml", "[[rule]\n", "is not valid TOML"),
    ("m.toml", "defaults = 'no'\n", "defaults must be true or false"),
])
def test_bad_mapping_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(SchemaError, match=message):
        load_channel_mapping(f)


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no such channel-mapping file"):
        load_channel_mapping(tmp_path / "nope.csv")


def test_manifest_records_mapping_and_unmapped(tmp_path: Path) -> None:
    log = tmp_path / "touches.csv"
    log.write_text("journey_id,ts,source,medium\n"
                   "J1,2026-01-01T10:00:00Z,linkedin,paid_social\n"
                   "J1,2026-01-02T10:00:00Z,mystery,thing\n"
                   "J2,2026-01-02T10:00:00Z,mystery,thing\n")
    rules = tmp_path / "channels.csv"
    rules.write_text("source,channel\n^linkedin$,LinkedIn Ads\n")
    store = ingest([("touches", log)], tmp_path / "store", channel_map=rules)
    manifest = open_store(store).manifest
    mapping = manifest["channel_mapping"]
    assert mapping["file"] == str(rules)
    assert len(mapping["sha256"]) == 64
    assert mapping["rules"] == [{"source": "^linkedin$", "channel": "LinkedIn Ads"}]
    assert mapping["defaults"] and len(mapping["default_rules"]) == len(DEFAULT_RULES)
    assert manifest["unmapped"] == {"mystery / thing": 2}
    summary = summarise_store(store)
    assert "unmapped values:\n  mystery / thing: 2" in summary
    assert open_store(store).touches["channel"].tolist() == [
        "LinkedIn Ads", UNASSIGNED, UNASSIGNED]
    json.dumps(manifest)  # JSON-ready


def test_default_mapping_is_recorded_without_a_file(tmp_path: Path) -> None:
    log = tmp_path / "touches.csv"
    log.write_text("journey_id,channel\nJ1,Email\n")
    store = ingest([("touches", log)], tmp_path / "store")
    mapping = open_store(store).manifest["channel_mapping"]
    assert mapping["file"] is None and mapping["rules"] == []
    assert mapping == ChannelMapping().to_manifest()


def test_cli_channel_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "touches.csv"
    log.write_text("journey_id,source,medium\nJ1,google,cpc\n")
    rules = tmp_path / "channels.toml"
    rules.write_text('[[rule]]\nsource = "google"\nchannel = "Google"\n')
    code = main(["ingest", "--source", "touches", str(log), "--channel-map", str(rules),
                 "--out", str(tmp_path / "store"), "--quiet"])
    assert code == 0
    assert open_store(tmp_path / "store").touches["channel"].tolist() == ["Google"]
    rules.write_text('[[rule]]\nsource = "(["\nchannel = "Google"\n')
    code = main(["ingest", "--source", "touches", str(log), "--channel-map", str(rules),
                 "--out", str(tmp_path / "store2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"Error: {rules}: rule 1: source pattern")
