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
import warnings
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
            raise _UsageError(
                f"--param {item!r}: write it as MODEL.NAME=VALUE, "
                "e.g. time_decay.half_life=14D"
            )
        if model not in names:
            raise _UsageError(f"--param {item!r}: model {model!r} is not in --models")
        params.setdefault(model, {})[name] = _parse_value(value)
    # "all" stays "all" so the engine knows which models were asked for by name;
    # a configured model replaces its default
    out: list[Any] = ["all"] if args.models == ["all"] else []
    for name in params if args.models == ["all"] else names:
        cls = get_model(name)
        try:
            out.append(cls(**params.get(name, {})))
        except TypeError as exc:
            raise _UsageError(f"--param for {name}: {exc}") from None
    return out


# ----------------------------------------------------------------------------- verbs
def _cmd_synth(args: argparse.Namespace) -> int:
    from attribution.synth import write_synthetic_store

    if args.exports:
        from connectors.synth_exports import write_exports

        where = write_exports(
            args.exports, opportunities=args.opportunities, seed=args.seed
        )
        _say(
            args,
            f"wrote synthetic raw exports ({args.opportunities:,} "
            f"opportunities) to {where}",
        )
        if not args.out:
            return 0
    if not args.out:
        raise _UsageError("synth: give --out STORE or --exports DIR")
    out = write_synthetic_store(
        args.out, args.journeys, seed=args.seed, partitions=args.partitions
    )
    _say(args, f"wrote synthetic store with {args.journeys:,} journeys to {out}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from connectors import ingest

    if not args.source:
        raise _UsageError("ingest: give at least one --source KIND PATH")
    touches: dict[str, Any] = {}
    for item in args.map or []:
        store_name, sep, theirs = item.partition("=")
        if not sep or not store_name.strip() or not theirs.strip():
            raise _UsageError(
                f"--map {item!r}: write it as STORE_COLUMN=YOUR_COLUMN, "
                "e.g. ts=event_time"
            )
        touches.setdefault("column_map", {})[store_name.strip()] = theirs.strip()
    if args.journeys:
        if sum(kind == "touches" for kind, _ in args.source) != 1:
            raise _UsageError("--journeys goes with exactly one --source touches PATH")
        touches["journeys"] = args.journeys
    if touches and not any(kind == "touches" for kind, _ in args.source):
        raise _UsageError("--map and --journeys apply to --source touches inputs")
    options: dict[str, dict[str, Any]] = {"touches": touches} if touches else {}
    for kind, flag, key, value in (
        ("ga4", "--id-map", "id_map", args.id_map),
        ("ga4", "--key-events", "key_events", args.key_events),
        (
            "salesforce",
            "--account-contacts",
            "account_contacts",
            args.account_contacts or None,
        ),
    ):
        if value is not None:
            if not any(k == kind for k, _ in args.source):
                raise _UsageError(f"{flag} applies to --source {kind} inputs")
            options.setdefault(kind, {})[key] = value
    out = ingest(
        [(kind, path) for kind, path in args.source],
        args.out,
        partitions=args.partitions,
        options=options or None,
        channel_map=args.channel_map,
        tz=args.tz,
        currency=args.currency,
        fx=args.fx,
    )
    from attribution import open_store

    manifest = open_store(out).manifest
    counts = manifest.get("counts", {})
    _say(
        args,
        f"wrote store {out}: {counts.get('journeys', 0):,} journeys, "
        f"{counts.get('touches', 0):,} touches, {counts.get('rejects', 0):,} "
        "rejected rows (see rejects.parquet)",
    )
    return 0


def _cmd_attribute(args: argparse.Namespace) -> int:
    from attribution import attribute_to_dir
    from attribution._atomic import check_output_dir

    check_output_dir(args.out)
    models = _models(args)
    out = attribute_to_dir(
        args.store,
        args.out,
        models=models,
        targets=args.target,
        engine=args.engine,
        scheduler=args.scheduler,
        lookback_days=args.lookback_days,
        quarters=args.quarter,
        reporting_tz=args.reporting_tz,
        fiscal_year_start=args.fiscal_year_start,
        exclude_channels=args.exclude_channels or (),
        progress=not args.quiet,
        **_interval_options(args),
    )
    _say(args, f"wrote credit for {', '.join(args.target)} to {out}")
    return 0


def _interval_options(args: argparse.Namespace) -> dict[str, Any]:
    if not args.intervals:
        return {}
    return {
        "intervals": args.intervals,
        "interval_level": args.interval_level,
        "seed": args.seed,
    }


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


def _cmd_report(args: argparse.Namespace) -> int:
    import reports
    from attribution import attribute
    from attribution._atomic import check_output_dir

    check_output_dir(args.out)
    if args.credit and args.intervals:
        raise _UsageError(
            "--intervals applies when report attributes itself; run "
            "`touchline attribute --intervals N` and give its --out as "
            "--credit (its intervals are shown)"
        )
    if args.credit:
        result = reports.open_credit(args.credit, for_report=True)
        models = None if args.models == ["all"] else args.models
    else:
        quarters = [args.quarter] + ([args.compare] if args.compare else [])
        result = attribute(
            args.store,
            models=_models(args),
            targets=["pipeline", "revenue"],
            quarters=quarters,
            lookback_days=args.lookback_days,
            reporting_tz=args.reporting_tz or "UTC",
            fiscal_year_start=args.fiscal_year_start or 1,
            exclude_channels=args.exclude_channels or (),
            progress=not args.quiet,
            **_interval_options(args),
        )
        models = None
    report = reports.build(
        result,
        args.store,
        quarter=args.quarter,
        compare=args.compare,
        models=models,
        pipeline_target=args.pipeline_target,
        reporting_tz=args.reporting_tz,
        fiscal_year_start=args.fiscal_year_start,
    )
    out = report.write(args.out)
    _say(
        args, f"wrote the {report.quarter} report to {out}; open {out / 'report.html'}"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    html = run_demo(
        args.out,
        opportunities=args.opportunities,
        seed=args.seed,
        say=lambda message: _say(args, message),
    )
    print(f"report: {html}")
    return 0


# ----------------------------------------------------------------------------- parser
def _add_interval_options(p: argparse.ArgumentParser, intervals_help: str) -> None:
    """Add ``--intervals``, ``--interval-level`` and ``--seed`` to a verb."""
    p.add_argument("--intervals", type=int, default=0, metavar="N", help=intervals_help)
    p.add_argument(
        "--interval-level",
        type=float,
        default=0.95,
        metavar="LEVEL",
        help="coverage of the intervals (default 0.95)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the bootstrap resamples (default 0)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the ``touchline`` argument parser (every verb with its help text)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--quiet", action="store_true", help="no messages and no progress bar"
    )
    common.add_argument(
        "--debug", action="store_true", help="show the full traceback on errors"
    )
    parser = _Parser(
        prog="touchline",
        description="Multi-touch attribution for B2B "
        "marketing: exact Markov, positional models, reconciled credit.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "synth",
        parents=[common],
        help="write a synthetic B2B journey store",
        description="Write a synthetic B2B journey store (deterministic per seed).",
    )
    p.add_argument("--journeys", type=int, default=10_000, help="number of journeys")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="write the partitioned layout with this many parts",
    )
    p.add_argument(
        "--out",
        default=None,
        help="store directory to write (not needed with --exports)",
    )
    p.add_argument(
        "--exports",
        default=None,
        metavar="DIR",
        help="write raw exports instead (Salesforce CSVs, GA4 JSON lines, "
        "ad-spend CSVs) of a synthetic company to DIR",
    )
    p.add_argument(
        "--opportunities",
        type=int,
        default=3000,
        help="opportunities in the synthetic exports (default 3000)",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "ingest",
        parents=[common],
        help="turn exports into a journey store",
        description="Normalise exports into a journey store (DESIGN §2).",
    )
    p.add_argument(
        "--source",
        nargs=2,
        action="append",
        metavar=("KIND", "PATH"),
        help="an input: KIND is one of the connectors (e.g. paths); repeatable",
    )
    p.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="write the partitioned layout with this many parts",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="STORE=YOURS",
        help="read a store column of a touches input from your column, "
        "e.g. --map ts=event_time --map journey_id=opportunity_id; "
        "repeatable",
    )
    p.add_argument(
        "--journeys",
        metavar="FILE",
        help="journeys file of the touches input (same columns as "
        "journeys.parquet, mapped with --map); without it, journeys are "
        "derived from the touches (non-converting)",
    )
    p.add_argument(
        "--channel-map",
        metavar="FILE",
        help="your channel rules (CSV or TOML: match columns + regex -> "
        "channel), tried before the default GA4-style grouping",
    )
    p.add_argument(
        "--tz",
        metavar="ZONE",
        help="time zone of timestamps written without one (default UTC)",
    )
    p.add_argument(
        "--fx",
        metavar="FILE",
        help="exchange rates CSV (currency,rate_to_store_currency) to "
        "convert amounts in other currencies",
    )
    p.add_argument(
        "--currency",
        metavar="CODE",
        help="the store's currency (default: the one found, or the one "
        "with rate 1 in --fx)",
    )
    p.add_argument(
        "--id-map",
        metavar="FILE",
        help="ga4: CSV of web id (user_pseudo_id or user_id) -> Contact or "
        "Lead Id, joining web sessions to CRM people",
    )
    p.add_argument(
        "--key-events",
        type=_csv,
        default=None,
        metavar="NAMES",
        help="ga4: comma-separated events that make a web-only journey "
        "convert (default purchase)",
    )
    p.add_argument(
        "--account-contacts",
        action="store_true",
        help="salesforce: every contact of an opportunity's account is one "
        "of its people, not only its contact roles",
    )
    p.add_argument("--out", required=True, help="store directory to write")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser(
        "attribute",
        parents=[common],
        help="credit touches with models",
        description="Credit pipeline, revenue or conversions to touches.",
    )
    p.add_argument("store", help="journey store directory")
    p.add_argument(
        "--models",
        type=_csv,
        default=["all"],
        help="comma-separated model names, or 'all' (default)",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="MODEL.NAME=VALUE",
        help="a model parameter, e.g. time_decay.half_life=14D; repeatable",
    )
    p.add_argument(
        "--target",
        type=_csv,
        default=["pipeline", "revenue"],
        help="comma-separated targets: pipeline, revenue, conversions",
    )
    p.add_argument(
        "--lookback-days",
        type=float,
        default=365.0,
        help="lookback window in days (default 365)",
    )
    p.add_argument(
        "--quarter",
        action="append",
        help="restrict to a quarter such as 2026Q3; repeatable",
    )
    p.add_argument(
        "--reporting-tz", default="UTC", help="time zone of quarter boundaries"
    )
    p.add_argument(
        "--fiscal-year-start",
        type=int,
        default=1,
        help="first month of the fiscal year (1-12; default 1)",
    )
    p.add_argument(
        "--exclude-channels",
        type=_csv,
        default=None,
        help="comma-separated channels to remove before crediting",
    )
    p.add_argument(
        "--engine",
        choices=["auto", "memory", "streaming", "dask"],
        default="auto",
        help="auto (default) streams partitioned stores one partition at a "
        "time; dask runs the partitions on a Dask cluster",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler to use with --engine dask, e.g. "
        "tcp://host:8786 (default: a local cluster)",
    )
    _add_interval_options(
        p,
        "bootstrap resamples for credit_lo/credit_hi confidence "
        "intervals in channel_credit (e.g. 200; default 0: none)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_attribute)

    p = sub.add_parser(
        "validate",
        parents=[common],
        help="check a store and summarise it",
        description="Check a store's invariants and print a summary; "
        "exit 1 when an invariant fails.",
    )
    p.add_argument("store", help="journey store directory")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="write the quarter's report",
        description="Write the report tables (Parquet and CSV) and a "
        "self-contained report.html for a quarter (DESIGN §5).",
    )
    p.add_argument("store", help="journey store directory")
    p.add_argument(
        "--credit",
        default=None,
        metavar="DIR",
        help="the --out of `touchline attribute` (run with --quarter for "
        "the report and compare quarters); attributes itself when omitted",
    )
    p.add_argument("--quarter", required=True, help="report quarter, e.g. 2026Q3")
    p.add_argument(
        "--compare", default=None, help="previous quarter to compare with, e.g. 2026Q2"
    )
    p.add_argument(
        "--models",
        type=_csv,
        default=["all"],
        help="comma-separated model names, or 'all' (default)",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="MODEL.NAME=VALUE",
        help="a model parameter when attributing; repeatable",
    )
    p.add_argument(
        "--pipeline-target",
        type=float,
        default=None,
        help="the quarter's pipeline target, for pipeline coverage",
    )
    p.add_argument(
        "--lookback-days",
        type=float,
        default=365.0,
        help="lookback window in days when attributing (default 365)",
    )
    p.add_argument(
        "--reporting-tz",
        default=None,
        help="time zone of quarter boundaries (default UTC)",
    )
    p.add_argument(
        "--fiscal-year-start",
        type=int,
        default=None,
        help="first month of the fiscal year (1-12; default 1)",
    )
    p.add_argument(
        "--exclude-channels",
        type=_csv,
        default=None,
        help="comma-separated channels to remove when attributing",
    )
    _add_interval_options(
        p,
        "when attributing: bootstrap resamples for confidence "
        "intervals on credit and ROAS/ROAC (e.g. 200; default 0: none); "
        "with --credit, the credit directory's intervals are shown",
    )
    p.add_argument("--out", required=True, help="report directory to write")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the whole chain on synthetic data",
        description="Synthetic Salesforce, GA4 and "
        "ad-spend exports, ingest, every model on pipeline and "
        "revenue, and the report of the latest full quarter compared "
        "with the one before; prints where report.html is.",
    )
    p.add_argument(
        "--opportunities",
        type=int,
        default=3000,
        help="opportunities of the synthetic company (default 3,000)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "bench",
        parents=[common],
        help="run the benchmarks",
        description="Measure speed and memory on synthetic stores "
        "(same as `python -m benchmarks`).",
    )
    p.add_argument(
        "--scale", default="small", help="small, medium, large or a number of journeys"
    )
    p.add_argument(
        "--out",
        default="bench-out",
        help="directory for results.json/.md and accuracy.json/.md",
    )
    p.set_defaults(func=_cmd_bench)
    return parser


def _cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.__main__ import failed_steps, run

    failed = failed_steps(run(scale=args.scale, out=args.out, quiet=args.quiet))
    if failed:
        print(
            f"Error: benchmark step(s) failed: {', '.join(failed)}; see "
            f"{args.out}/results.md",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``touchline`` command and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    quiet = "--quiet" in argv

    def show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
        if not quiet:
            print(f"Warning: {message}", file=sys.stderr)

    parser = build_parser()
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        return _run(parser, argv, debug)


def _run(parser: argparse.ArgumentParser, argv: list[str], debug: bool) -> int:
    from attribution.exceptions import TouchlineError

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
