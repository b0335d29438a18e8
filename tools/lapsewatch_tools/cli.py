"""The `lapsewatch` command line: check, run, registry serve, simulate.

Each subcommand parses its arguments here and calls one function of the package; the work
itself lives in the modules named below.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from lapsewatch.timefmt import parse_time

EXIT_USAGE = 2


def _time_arg(text: str):
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _add_rdap_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rdap-bootstrap",
        metavar="PATH",
        default=os.environ.get("LAPSEWATCH_RDAP_BOOTSTRAP"),
        help="IANA RDAP bootstrap file (dns.json) to use instead of the bundled snapshot "
        "[env LAPSEWATCH_RDAP_BOOTSTRAP]",
    )
    parser.add_argument(
        "--rdap-rate",
        metavar="N",
        type=_positive_float,
        default=None,
        help="requests per second per RDAP server (default 5) [env LAPSEWATCH_RDAP_RATE]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lapsewatch",
        description="Find the lapsing domains behind verified email addresses.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check email addresses or domains",
        description="Check whether the domains behind email addresses are still safe for account "
        "recovery. Exit status: 0 all safe, 1 any unsafe, 3 some unknown or invalid, 2 usage error.",
    )
    check.add_argument("targets", nargs="+", metavar="TARGET", help="an email address or a domain")
    check.add_argument("--json", action="store_true", help="one JSON object per target per line")
    check.add_argument("--provider", choices=("rdap", "domainr"), default=None)
    _add_rdap_options(check)
    check.add_argument(
        "--verified-at",
        metavar="ISO8601",
        type=_time_arg,
        default=None,
        help="when the address was verified: a registration after it means re-registered",
    )
    check.set_defaults(func=_cmd_check)

    run = commands.add_parser(
        "run",
        help="run one whole sweep on this machine (AWS embedded with moto)",
        description="Run one daily sweep through the Lambda handlers, with AWS embedded. With no "
        "--registry-url, on the demo registry and a loopback RDAP server.",
    )
    run.add_argument("--json", action="store_true", help="end with one JSON summary line")
    run.add_argument("--registry-url", metavar="URL", default=None)
    _add_rdap_options(run)
    run.add_argument("--dry-run", action="store_true", help="decide, but unverify nothing")
    run.add_argument("--max-unverify", metavar="N", type=_count, default=None)
    run.add_argument("--max-unverify-fraction", metavar="F", type=_fraction, default=None)
    run.add_argument("--all", action="store_true", help="check every domain, due or not")
    run.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="keep the local AWS state (the tables; and the demo registry) in DIR between runs, "
        "so that consecutive runs behave like consecutive days",
    )
    run.add_argument(
        "--now",
        metavar="ISO8601",
        type=_time_arg,
        default=None,
        help="the time of the schedule occurrence: the run's id and the functions' clock follow it",
    )
    run.set_defaults(func=_cmd_run)

    registry = commands.add_parser("registry", help="the reference registry")
    registry_commands = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    serve = registry_commands.add_parser("serve", help="serve the registry API (v1) from SQLite")
    serve.add_argument("--db", metavar="PATH", default=":memory:")
    serve.add_argument("--seed", metavar="FILE", default=None, help="JSON Lines of users to load")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--token", default=os.environ.get("LAPSEWATCH_REGISTRY_TOKEN"))
    serve.set_defaults(func=_cmd_registry_serve)
    demo = registry_commands.add_parser("demo-data", help="write the demo data set as JSON Lines")
    demo.add_argument("--output", metavar="FILE", default="-")
    demo.set_defaults(func=_cmd_registry_demo)

    simulate = commands.add_parser(
        "simulate",
        help="simulate a year of domain lifecycles: lapsewatch beside a model of PyPI's policy",
        description="Run lapsewatch's real checker and schedule, and a model of PyPI's policy, over a "
        "seeded population of domains on a simulated clock, and compare what each catches and costs.",
    )
    simulate.add_argument("--domains", metavar="N", type=_count, default=2000)
    simulate.add_argument("--days", metavar="D", type=_count, default=365)
    simulate.add_argument("--seed", metavar="S", type=int, default=7)
    simulate.add_argument(
        "--error-rate", metavar="R", type=float, default=0.005, help="share of lookups that fail"
    )
    simulate.add_argument(
        "--pypi-batch-limit", metavar="N", type=_count, default=1000, help="PyPI's addresses per task run"
    )
    simulate.add_argument("--json", action="store_true", help="end with the report as one JSON line")
    simulate.set_defaults(func=_cmd_simulate)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"lapsewatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


class UsageError(Exception):
    """A problem with what the user asked for; exits 2 with the message."""


def _cmd_check(args: argparse.Namespace) -> int:
    from lapsewatch.check import DomainChecker, exit_status
    from lapsewatch.config import ProviderSettings
    from lapsewatch_tools.report import check_table

    try:
        # An operator's own machine: plain http to loopback (a test server) is theirs to use.
        settings = ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_rate=args.rdap_rate,
            allow_loopback_http=True,
        )
        provider = settings.build()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    checker = DomainChecker(provider)
    results = checker.check_many(args.targets, verified_at=args.verified_at)
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(check_table(results))
    return exit_status(results)


def _cmd_run(args: argparse.Namespace) -> int:
    from lapsewatch_tools.local.run import run_sweep_command

    return run_sweep_command(args)


def _cmd_registry_serve(args: argparse.Namespace) -> int:
    from lapsewatch_tools.registry.server import serve_command

    return serve_command(args)


def _cmd_registry_demo(args: argparse.Namespace) -> int:
    from lapsewatch_tools.registry.demo import demo_data_command

    return demo_data_command(args)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from lapsewatch_tools.simulate import simulate

    try:
        report = simulate(
            domains=args.domains,
            days=args.days,
            seed=args.seed,
            error_rate=args.error_rate,
            pypi_batch_limit=args.pypi_batch_limit,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(report.table(), flush=True)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
