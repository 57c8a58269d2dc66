"""The ``touchline`` command: argument parsing and wiring only.

Each verb parses its arguments and makes one library call; every piece of logic lives
in ``attribution``, ``connectors`` or ``reports`` where a notebook can call it too.
Exit codes: 0 on success; 2 when the command cannot do its work (usage error or input
it cannot use), with one ``Error: ...`` line; 1 when ``validate`` finds a broken
invariant. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise _UsageError(f"{message} (see `{self.prog} --help`)")


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _models(args: argparse.Namespace) -> list[Any]:
    from attribution import get_model, registered_models

    names = registered_models() if args.models == ["all"] else args.models
    params: dict[str, dict[str, Any]] = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        model, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise _UsageError(f"--param {item!r}: write it as MODEL.NAME=VALUE, "
                              "e.g. time_decay.half_life=14D")
        if model not in names:
            raise _UsageError(f"--param {item!r}: model {model!r} is not in --models")
        params.setdefault(model, {})[name] = _parse_value(value)
    out = []
    for name in names:
        cls = get_model(name)
        try:
            out.append(cls(**params.get(name, {})))
        except TypeError as exc:
            raise _UsageError(f"--param for {name}: {exc}") from None
    return out


# ----------------------------------------------------------------------------- verbs
def _cmd_synth(args: argparse.Namespace) -> int:
    from attribution.synth import write_synthetic_store

    out = write_synthetic_store(args.out, args.journeys, seed=args.seed,
                                partitions=args.partitions)
    _say(args, f"wrote synthetic store with {args.journeys:,} journeys to {out}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from connectors import ingest

    if not args.source:
        raise _UsageError("ingest: give at least one --source KIND PATH")
    out = ingest([(kind, path) for kind, path in args.source], args.out,
                 partitions=args.partitions)
    from attribution import open_store

    manifest = open_store(out).manifest
    counts = manifest.get("counts", {})
    _say(args, f"wrote store {out}: {counts.get('journeys', 0):,} journeys, "
               f"{counts.get('touches', 0):,} touches, {counts.get('rejects', 0):,} "
               "rejected rows (see rejects.parquet)")
    return 0


def _cmd_attribute(args: argparse.Namespace) -> int:
    from attribution import attribute
    from attribution._atomic import check_output_dir

    check_output_dir(args.out)
    result = attribute(args.store, models=_models(args), targets=args.target,
                       lookback_days=args.lookback_days, quarters=args.quarter,
                       reporting_tz=args.reporting_tz,
                       fiscal_year_start=args.fiscal_year_start,
                       exclude_channels=args.exclude_channels or (),
                       progress=not args.quiet)
    out = result.to_dir(args.out)
    _say(args, f"wrote credit for {len(result.run['model_columns'])} model(s) x "
               f"{len(args.target)} target(s) to {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from attribution.exceptions import SchemaError
    from attribution.validate import summarise_store

    try:
        summary = summarise_store(args.store)
    except SchemaError as exc:
        print(f"Invalid store: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0


# ----------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``touchline`` argument parser (every verb with its help text)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true",
                        help="no messages and no progress bar")
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback on errors")
    parser = _Parser(prog="touchline", description="Multi-touch attribution for B2B "
                     "marketing: exact Markov, positional models, reconciled credit.",
                     parents=[common])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("synth", parents=[common], help="write a synthetic B2B journey store",
                       description="Write a synthetic B2B journey store (deterministic "
                       "per seed).")
    p.add_argument("--journeys", type=int, default=10_000, help="number of journeys")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--partitions", type=int, default=None,
                   help="write the partitioned layout with this many parts")
    p.add_argument("--out", required=True, help="store directory to write")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("ingest", parents=[common], help="turn exports into a journey store",
                       description="Normalise exports into a journey store (DESIGN §2).")
    p.add_argument("--source", nargs=2, action="append", metavar=("KIND", "PATH"),
                   help="an input: KIND is one of the connectors (e.g. paths); repeatable")
    p.add_argument("--partitions", type=int, default=None,
                   help="write the partitioned layout with this many parts")
    p.add_argument("--out", required=True, help="store directory to write")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("attribute", parents=[common], help="credit touches with models",
                       description="Credit pipeline, revenue or conversions to touches.")
    p.add_argument("store", help="journey store directory")
    p.add_argument("--models", type=_csv, default=["all"],
                   help="comma-separated model names, or 'all' (default)")
    p.add_argument("--param", action="append", metavar="MODEL.NAME=VALUE",
                   help="a model parameter, e.g. time_decay.half_life=14D; repeatable")
    p.add_argument("--target", type=_csv, default=["pipeline", "revenue"],
                   help="comma-separated targets: pipeline, revenue, conversions")
    p.add_argument("--lookback-days", type=float, default=365.0,
                   help="lookback window in days (default 365)")
    p.add_argument("--quarter", action="append",
                   help="restrict to a quarter such as 2026Q3; repeatable")
    p.add_argument("--reporting-tz", default="UTC", help="time zone of quarter boundaries")
    p.add_argument("--fiscal-year-start", type=int, default=1,
                   help="first month of the fiscal year (1-12; default 1)")
    p.add_argument("--exclude-channels", type=_csv, default=None,
                   help="comma-separated channels to remove before crediting")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_attribute)

    p = sub.add_parser("validate", parents=[common], help="check a store and summarise it",
                       description="Check a store's invariants and print a summary; "
                       "exit 1 when an invariant fails.")
    p.add_argument("store", help="journey store directory")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("bench", parents=[common], help="run the benchmarks",
                       description="Measure speed and memory on synthetic stores "
                       "(same as `python -m benchmarks`).")
    p.add_argument("--scale", default="small",
                   help="small, medium, large or a number of journeys")
    p.add_argument("--out", default="bench-out", help="directory for results.json/.md")
    p.set_defaults(func=_cmd_bench)
    return parser


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.__main__ import run

    run(scale=args.scale, out=args.out, quiet=args.quiet)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``touchline`` command and return its exit code."""
    from attribution.exceptions import TouchlineError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args))
    except (_UsageError, TouchlineError) as exc:
        if debug:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Error: interrupted; no output was written", file=sys.stderr)
        return 130
    except OSError as exc:
        if debug:
            raise
        print(f"Error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
