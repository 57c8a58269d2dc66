"""Docs: every CLI verb has help text and appears in the README."""

from __future__ import annotations

import argparse
from pathlib import Path

from touchline.cli import build_parser

README = (Path(__file__).parents[1] / "README.md").read_text()


def verbs():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub, sub.choices


def test_every_verb_has_help_and_is_in_readme():
    sub, choices = verbs()
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name in choices:
        assert helps.get(name), f"`touchline {name}` has no help text"
        assert f"touchline {name}" in README, f"`touchline {name}` is not in README.md"


def test_readme_quickstart_matches_ci():
    ci = (
        (Path(__file__).parents[1] / ".ci" / "run").read_text().strip().splitlines()[-1]
    )
    assert ci.replace(" -q", "") in README
