"""The `lapsewatch` command line: check, coverage, run, runs, registry, simulate.

Each subcommand parses its arguments here and calls one function of the package; the work
itself lives in the modules named below.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

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
    """A number from 0 to 1, both included."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:  # NaN included
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535 (0: any free port): {text!r}")
    return value


def _at_least_one(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _notice_stages(text: str) -> str:
    from lapsewatch.registry.contract import NOTICE_STAGES

    for stage in filter(None, (part.strip() for part in text.split(","))):
        if stage not in NOTICE_STAGES:
            raise argparse.ArgumentTypeError(
                f"{stage!r} is not a notice stage; choose from {', '.join(sorted(NOTICE_STAGES))}, "
                'or "" for none'
            )
    return text


def _run_id(text: str) -> str:
    """A run's id as `runs list` names it, with or without its "run-" prefix."""
    text = text.strip()
    return text if text.startswith("run-") else f"run-{text}"


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


# Where an unset option's value comes from: the environment for the commands that look things
# up themselves; template.yaml's parameters for those that run the Lambda functions locally,
# which get the template's environment (and the demo's own RDAP server on the demo registry);
# and for those that act on a `lapsewatch run --state DIR`, what its runs used.
_FROM_ENV = {
    "provider": "$LAPSEWATCH_PROVIDERS, else rdap",
    "rate": "$LAPSEWATCH_RDAP_RATE, else 5",
    "bootstrap": "$LAPSEWATCH_RDAP_BOOTSTRAP, else the bundled snapshot",
    "extra": "$LAPSEWATCH_RDAP_EXTRA, else the bundled list",
}
_FROM_TEMPLATE = {
    "provider": "template.yaml's StatusProviders, rdap",
    "rate": "template.yaml's RdapRatePerServer, 5; 200 for the demo's own RDAP server",
    "bootstrap": "$LAPSEWATCH_RDAP_BOOTSTRAP, else the demo's own RDAP server on the demo registry, "
    "else the bundled snapshot",
    "extra": "$LAPSEWATCH_RDAP_EXTRA, else the bundled list; none with the demo's own RDAP server",
}
_FROM_STATE = {
    "provider": "what the runs in --state used, else rdap",
    "rate": "what the runs in --state used, else 5",
    "bootstrap": "$LAPSEWATCH_RDAP_BOOTSTRAP, else what the runs in --state used",
    "extra": "$LAPSEWATCH_RDAP_EXTRA, else what the runs in --state used",
}


def _add_rdap_options(parser: argparse.ArgumentParser, defaults: Mapping[str, str] = _FROM_ENV) -> None:
    parser.add_argument(
        "--rdap-bootstrap",
        metavar="PATH",
        default=os.environ.get("LAPSEWATCH_RDAP_BOOTSTRAP"),
        help="IANA RDAP bootstrap file (dns.json) to use instead of the bundled snapshot "
        f"(default: {defaults['bootstrap']})",
    )
    parser.add_argument(
        "--rdap-extra",
        metavar="PATH",
        default=os.environ.get("LAPSEWATCH_RDAP_EXTRA"),
        help="RDAP servers for TLDs missing from IANA's file, in the same shape; IANA's file wins "
        f"where both name one (default: {defaults['extra']})",
    )
    parser.add_argument(
        "--rdap-rate",
        metavar="N",
        type=_positive_float,
        default=None,
        help=f"requests per second per RDAP server (default: {defaults['rate']})",
    )


def _add_provider_option(parser: argparse.ArgumentParser, defaults: Mapping[str, str] = _FROM_ENV) -> None:
    parser.add_argument(
        "--provider",
        metavar="CHAIN",
        default=None,
        help="status providers, in order, each domain answered by the first that serves its TLD: "
        f"rdap, fastly, domainr, comma-separated, e.g. rdap,fastly (default: {defaults['provider']})",
    )


def _switch(text: str) -> bool:
    from lapsewatch.config import parse_switch

    try:
        return parse_switch(text, "--dns-witness")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dns_root(text: str) -> str:
    from lapsewatch.dns_witness import parse_roots

    try:
        parse_roots(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _trust_anchor(text: str) -> str:
    from lapsewatch.dns_witness import parse_trust_anchor

    try:
        parse_trust_anchor(Path(text).read_text("utf-8"))
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{text} is not a trust anchor: {exc}") from None
    return text


def _add_dns_options(parser: argparse.ArgumentParser) -> None:
    """The DNS witness's options (issue 19), the same on every command that looks domains up."""
    parser.add_argument(
        "--dns-witness",
        metavar="on|off",
        type=_switch,
        default=None,
        help="ask the zone above a domain whether it still delegates it before a lapse is believed "
        "(default: $LAPSEWATCH_DNS_WITNESS, else on)",
    )
    parser.add_argument(
        "--dns-root",
        metavar="ADDR[:PORT]",
        type=_dns_root,
        action="append",
        default=None,
        help="local only: a root name server to start resolution from, instead of the bundled root "
        "hints; with a port, every server reached is asked at that port (repeatable; default: "
        "$LAPSEWATCH_DNS_ROOT, comma-separated, else the bundled hints)",
    )
    parser.add_argument(
        "--dns-trust-anchor",
        metavar="FILE",
        type=_trust_anchor,
        default=None,
        help="local only: the root's DS records, one a line as dig prints them, instead of the "
        "bundled root trust anchor (default: $LAPSEWATCH_DNS_TRUST_ANCHOR, else the bundled anchor)",
    )


def _dns_arguments(args: argparse.Namespace) -> dict:
    """The DNS options as ProviderSettings.from_env takes them."""
    return {
        "dns_witness": args.dns_witness,
        "dns_roots": args.dns_root,
        "dns_trust_anchor": args.dns_trust_anchor,
    }


def _version() -> str:
    """The installed distribution's version; the package's own when it is run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lapsewatch")
    except PackageNotFoundError:
        from lapsewatch import __version__

        return __version__


def _add_local_now_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        metavar="ISO8601",
        type=_time_arg,
        default=None,
        help="local state only: the time the functions' clock starts at, as `lapsewatch run --now` "
        "(default: the real time)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lapsewatch",
        description="Find the lapsing domains behind verified email addresses.",
    )
    parser.add_argument(
        "--version", action="version", version=f"lapsewatch {_version()}", help="print the version and exit"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check email addresses or domains",
        description="Check whether the domains behind email addresses are still safe for account "
        "recovery. Exit status: 0 all safe, 1 any unsafe, 3 some unknown or invalid, 2 usage error.",
    )
    check.add_argument(
        "targets",
        nargs="+",
        metavar="TARGET",
        help="an email address or a domain; a file of them, one a line, or - for standard input",
    )
    check.add_argument(
        "--json", action="store_true", help="one JSON object per target per line (default: a table)"
    )
    _add_provider_option(check)
    _add_rdap_options(check)
    _add_dns_options(check)
    check.add_argument(
        "--verified-at",
        metavar="ISO8601",
        type=_time_arg,
        default=None,
        help="when the address was verified: a registration after it means re-registered "
        "(default: none; a registration is then no evidence)",
    )
    check.set_defaults(func=_cmd_check)

    coverage = commands.add_parser(
        "coverage",
        help="which TLDs the provider chain serves, weighed by addresses (offline)",
        description="Count the addresses and domains at each TLD, and name the provider of the chain "
        "that serves it; domains no provider serves are unprotected. No lookups are made. Input: FILE "
        "(one email address or domain a line; - for standard input), or with no FILE the registry's "
        "listing (--registry-url and LAPSEWATCH_REGISTRY_TOKEN). Exit status: 0; 1 the registry's "
        "listing failed; 2 usage error.",
    )
    coverage.add_argument(
        "file", nargs="?", metavar="FILE", default=None, help="one email address or domain a line"
    )
    coverage.add_argument(
        "--registry-url",
        metavar="URL",
        default=None,
        help="read the registry's listing instead of FILE, token in LAPSEWATCH_REGISTRY_TOKEN "
        "(default: none; give FILE or this)",
    )
    _add_provider_option(coverage)
    _add_rdap_options(coverage)
    _add_dns_options(coverage)
    coverage.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per TLD per line, then one of totals (default: a table)",
    )
    coverage.set_defaults(func=_cmd_coverage)

    run = commands.add_parser(
        "run",
        help="run one whole sweep on this machine (AWS embedded with moto)",
        description="Run one daily sweep through the Lambda handlers, with AWS embedded. With no "
        "--registry-url, on the demo registry and a loopback RDAP server. Settings not given here "
        "are template.yaml's defaults. Exit status: 0 the run ended, 1 it could not run, 2 usage error.",
    )
    run.add_argument(
        "--json", action="store_true", help="the summary as one JSON line; the table goes to standard error"
    )
    run.add_argument(
        "--registry-url",
        metavar="URL",
        default=None,
        help="the registry to sweep, token in LAPSEWATCH_REGISTRY_TOKEN (default: the demo registry, "
        "with the demo data set)",
    )
    _add_provider_option(run, _FROM_TEMPLATE)
    _add_rdap_options(run, _FROM_TEMPLATE)
    _add_dns_options(run)
    run.add_argument("--dry-run", action="store_true", help="decide, but unverify nothing")
    run.add_argument(
        "--max-unverify",
        metavar="N",
        type=_count,
        default=None,
        help="circuit breaker: a run that finds more unsafe domains than the larger of N and "
        "--max-unverify-fraction of the domains checked waits for approval "
        "(default: template.yaml's MaxUnverify, 50)",
    )
    run.add_argument(
        "--max-unverify-fraction",
        metavar="F",
        type=_fraction,
        default=None,
        help="circuit breaker, relative part: a fraction of the domains checked, from 0 to 1; 0 leaves "
        "--max-unverify alone as the limit (default: template.yaml's MaxUnverifyFraction, 0.01)",
    )
    run.add_argument("--all", action="store_true", help="check every domain, due or not")
    run.add_argument(
        "--notice-stages",
        metavar="STAGES",
        type=_notice_stages,
        default=None,
        help='stages that earn an early-warning notice; "" turns notices off '
        "(default: template.yaml's NoticeStages, grace,hold)",
    )
    run.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="keep the local AWS state (the tables; and the demo registry) in DIR between runs, "
        "so that consecutive runs behave like consecutive days (default: none, a fresh state each run)",
    )
    run.add_argument(
        "--now",
        metavar="ISO8601",
        type=_time_arg,
        default=None,
        help="the time of the schedule occurrence: the run's id and the functions' clock follow it "
        "(default: the current time)",
    )
    run.set_defaults(func=_cmd_run)

    registry = commands.add_parser(
        "registry",
        help="the reference registry",
        description="The reference registry: the registry API v1 (docs/registry-api.yaml) served "
        "from SQLite, its demo data set, and a conformance check for your own registry.",
    )
    registry_commands = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    serve = registry_commands.add_parser(
        "serve",
        help="serve the registry API (v1) from SQLite",
        description="Serve the registry API v1 in the foreground until Ctrl-C, with the users of "
        "--seed or --demo, and print its URL and token. Exit status: 0 stopped, 2 usage error.",
    )
    serve.add_argument(
        "--db",
        metavar="PATH",
        default=":memory:",
        help="the SQLite database; kept between runs when a file (default: :memory:, gone at exit)",
    )
    data = serve.add_mutually_exclusive_group()
    data.add_argument(
        "--seed", metavar="FILE", default=None, help="JSON Lines of users to load (default: none)"
    )
    data.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data set (`lapsewatch registry demo-data`); with a --db file, only "
        "when the file is new",
    )
    serve.add_argument(
        "--host", metavar="HOST", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port", metavar="PORT", type=_port, default=8080, help="port to listen on (default: 8080)"
    )
    serve.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get("LAPSEWATCH_REGISTRY_TOKEN"),
        help="the bearer token clients must send (default: $LAPSEWATCH_REGISTRY_TOKEN, else a new "
        "random one, printed)",
    )
    serve.set_defaults(func=_cmd_registry_serve)
    demo = registry_commands.add_parser(
        "demo-data",
        help="write the demo data set as JSON Lines",
        description="Write the demo data set (the users `lapsewatch run` sweeps with no "
        "--registry-url) as JSON Lines, one user's address a line, fit for `registry serve --seed`.",
    )
    demo.add_argument(
        "--output", metavar="FILE", default="-", help="where to write (default: -, standard output)"
    )
    demo.set_defaults(func=_cmd_registry_demo)
    conformance = registry_commands.add_parser(
        "conformance",
        help="check a registry's implementation of the v1 API contract",
        description="Check a registry's own implementation of the v1 contract (docs/registry-api.yaml) "
        "and print a pass/fail line per check. Read-only unless --write-domain is given. The token "
        "comes from LAPSEWATCH_REGISTRY_TOKEN. Exit status: 0 all checks pass, 1 any fails, 2 usage "
        "error or the URL cannot be reached.",
    )
    conformance.add_argument("--url", metavar="URL", required=True, help="the registry API's base URL")
    conformance.add_argument(
        "--write-domain",
        metavar="D",
        default=None,
        help="a test domain you own: also check unverify's semantics on it (replay, key reuse, junk) "
        "(default: none, read-only checks)",
    )
    conformance.add_argument(
        "--json", action="store_true", help="one JSON object per check per line (default: a table)"
    )
    conformance.set_defaults(func=_cmd_registry_conformance)

    _add_runs_parser(commands)

    invoke = commands.add_parser(
        "invoke",
        help="invoke one Lambda function's handler on this machine, like `sam local invoke` without Docker",
        description="Invoke FUNCTION (a logical id of template.yaml: ManualFunction, FinalFunction, "
        "DispatcherFunction, CheckerFunction) with an event, through its real handler, on the local AWS "
        "state of `lapsewatch run --state DIR` (or an empty one), and print what it returns as JSON. "
        "Exit status: 0 the handler returned, 1 it raised, 2 usage error.",
    )
    invoke.add_argument("function", metavar="FUNCTION", help="e.g. ManualFunction")
    invoke.add_argument(
        "--event", metavar="FILE", default="-", help="the event, a JSON file (default: -, standard input)"
    )
    invoke.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="the state folder of `lapsewatch run --state DIR` (default: none, an empty state)",
    )
    invoke.add_argument(
        "--registry-url",
        metavar="URL",
        default=None,
        help="the registry, token in LAPSEWATCH_REGISTRY_TOKEN (default: the demo registry kept in --state)",
    )
    _add_provider_option(invoke, _FROM_STATE)
    _add_rdap_options(invoke, _FROM_STATE)
    _add_dns_options(invoke)
    _add_local_now_option(invoke)
    invoke.set_defaults(func=_cmd_invoke)

    simulate = commands.add_parser(
        "simulate",
        help="simulate a year of domain lifecycles: lapsewatch beside a model of PyPI's policy",
        description="Run lapsewatch's real checker and schedule, and a model of PyPI's policy, over a "
        "seeded population of domains on a simulated clock (no lookup leaves this machine), and "
        "compare them: how many lapsed domains each unverifies before the drop, how many addresses "
        "it unverifies while the domain is still its owner's, how many lookups it makes beside "
        "checking every domain every day, and how much warning its notices give.",
    )
    simulate.add_argument(
        "--domains", metavar="N", type=_count, default=2000, help="domains in the population (default: 2000)"
    )
    simulate.add_argument(
        "--days", metavar="D", type=_count, default=365, help="days simulated (default: 365)"
    )
    simulate.add_argument(
        "--seed",
        metavar="S",
        type=int,
        default=7,
        help="the random seed: the same seed, the same population and report (default: 7)",
    )
    simulate.add_argument(
        "--error-rate",
        metavar="R",
        type=_fraction,
        default=0.005,
        help="share of lookups that fail, from 0 to 1 (default: 0.005)",
    )
    simulate.add_argument(
        "--pypi-batch-limit",
        metavar="N",
        type=_count,
        default=1000,
        help="addresses the PyPI model checks per daily task run (default: 1000)",
    )
    simulate.add_argument(
        "--json", action="store_true", help="the report as one JSON line; the table goes to standard error"
    )
    simulate.set_defaults(func=_cmd_simulate)

    return parser


def _add_runs_parser(commands) -> None:
    runs = commands.add_parser(
        "runs",
        help="list and show runs; approve or discard what a held run waits for",
        description="The runs of a deployed stack (--stack, with your own AWS credentials) or of "
        "`lapsewatch run --state DIR` (--state). Exit status: 0 success, 1 nothing matched, 2 usage error.",
    )
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")

    def where(parser: argparse.ArgumentParser) -> None:
        place = parser.add_mutually_exclusive_group(required=True)
        place.add_argument("--stack", metavar="NAME", help="a deployed lapsewatch stack's name")
        place.add_argument("--state", metavar="DIR", help="the state folder of `lapsewatch run --state DIR`")
        parser.add_argument(
            "--region",
            metavar="R",
            default=None,
            help="the stack's region (default: your AWS configuration's)",
        )

    listing = runs_commands.add_parser("list", help="recent runs: status, counts, held or not")
    where(listing)
    listing.add_argument(
        "--limit", metavar="N", type=_at_least_one, default=20, help="runs shown, newest first (default: 20)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per run per line")
    listing.set_defaults(func=_cmd_runs)

    show = runs_commands.add_parser(
        "show", help="a run's counts, and every domain waiting for approval with its evidence"
    )
    show.add_argument(
        "run_id",
        metavar="RUN_ID",
        type=_run_id,
        help='the run, as `runs list` names it ("run-" may be left out)',
    )
    where(show)
    show.add_argument("--json", action="store_true", help="the run as one JSON object")
    show.set_defaults(func=_cmd_runs)

    for name, verb in (("approve", "send"), ("discard", "drop")):
        action = runs_commands.add_parser(
            name,
            help=f"{verb} a held run's decisions, for the domains named or every held one",
            description=f"{verb.capitalize()} the held decisions of RUN_ID for each --domain, or for every "
            "held domain when none is given"
            + (
                ", each re-checked against its domain's latest state first. With --stack the final "
                "function sends them; with --state the registry at --registry-url (token in "
                "LAPSEWATCH_REGISTRY_TOKEN; the demo registry kept in DIR when omitted)."
                if name == "approve"
                else ", recording who dropped them and when."
            ),
        )
        action.add_argument(
            "run_id",
            metavar="RUN_ID",
            type=_run_id,
            help='the held run, as `runs list` names it ("run-" may be left out)',
        )
        where(action)
        action.add_argument(
            "--domain",
            metavar="D",
            action="append",
            default=None,
            help="a held domain (repeat for more; default: every held domain)",
        )
        if name == "approve":
            action.add_argument(
                "--registry-url",
                metavar="URL",
                default=None,
                help="with --state: the registry to unverify at (default: the demo registry kept in DIR)",
            )
            _add_provider_option(action, _FROM_STATE)
            _add_rdap_options(action, _FROM_STATE)
            _add_dns_options(action)
        _add_local_now_option(action)
        action.add_argument(
            "--json",
            action="store_true",
            help="the run's summary as one JSON line; the tables go to standard error",
        )
        action.set_defaults(func=_cmd_runs)


# The status of a program that SIGPIPE ended (128 + 13), as `seq 1000 | head -1` leaves seq.
EXIT_BROKEN_PIPE = 141


def _leaf_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _leaf_parsers(sub)
            return
    yield parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an option no command knows is reported with the usage of the command it
    was given to, and the closest option it has."""
    parser = build_parser()
    for leaf in _leaf_parsers(parser):
        leaf.set_defaults(parser=leaf)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = getattr(args, "parser", parser)
        options = [o for action in command._actions for o in action.option_strings]
        words = []
        for word in unknown:
            close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.6)
            words.append(f"{word} (did you mean {close[0]}?)" if close else word)
        command.error(f"unrecognized arguments: {' '.join(words)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        status = args.func(args)
        # Whatever is still buffered goes out here, where a closed pipe can still be caught.
        sys.stdout.flush()
        return status
    except UsageError as exc:
        print(f"lapsewatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`lapsewatch registry demo-data | head`): stop quietly. Python
        # would flush stdout again at exit and complain; standard output now leads nowhere.
        # Not 0: output was cut short, and `lapsewatch check … | head` must not pass for "all
        # safe" under `set -o pipefail`.
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _stdout_to_devnull() -> None:
    """Python's own recipe for SIGPIPE (the signal module's documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no file (a test's capture): nothing to flush at exit
        pass


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
            rdap_extra=args.rdap_extra,
            rdap_rate=args.rdap_rate,
            allow_loopback_http=True,
            **_dns_arguments(args),
        )
        provider = settings.build()
        witness = settings.build_witness()
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    checker = DomainChecker(provider, witness=witness)
    results = checker.check_many(_targets(args.targets), verified_at=args.verified_at)
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(check_table(results))
    return exit_status(results)


def _targets(given: Sequence[str]) -> list[str]:
    """The targets to check: each as given, but "-" reads standard input and a file's name reads
    the file, one target a line (blank lines skipped), as `coverage` reads them."""
    from lapsewatch_tools.coverage import read_address_file

    targets = []
    for target in given:
        if target == "-" or Path(target).is_file():
            try:
                targets += [line for line, _ in read_address_file(target)]
            except (OSError, UnicodeDecodeError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise UsageError(f"cannot read the targets in {target}: {why}") from None
        else:
            targets.append(target)
    if not targets:
        raise UsageError("no targets to check")
    return targets


_NO_LOOKUPS = "placeholder: coverage makes no lookups"


def _cmd_coverage(args: argparse.Namespace) -> int:
    from lapsewatch.config import ProviderSettings
    from lapsewatch.registry import RegistryClient, RegistryError
    from lapsewatch_tools.coverage import coverage, read_address_file, registry_entries

    try:
        settings = ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_extra=args.rdap_extra,
            allow_loopback_http=True,
            credentials_later=True,
            **_dns_arguments(args),
        )
        # The chain is asked which provider serves each domain and never looks anything up, so a
        # provider needs no credentials here; the Fastly and Domainr classes refuse to be built
        # without, so a missing key is stood in for by a placeholder that is never sent.
        settings = replace(
            settings,
            fastly_api_key=settings.fastly_api_key or _NO_LOOKUPS,
            domainr_api_key=settings.domainr_api_key or (None if settings.domainr_client_id else _NO_LOOKUPS),
        )
        chain = settings.build()
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    def provider_for(domain: str) -> str | None:
        provider = chain.provider_for(domain)
        return None if provider is None else provider.name

    if args.file is not None:
        if args.registry_url:
            raise UsageError("give FILE or --registry-url, not both")
        try:
            entries = read_address_file(args.file)
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"cannot read the address list {args.file}: {why}") from None
        result = coverage(entries, provider_for, chain=chain.name, why_unserved=chain.why_unserved)
    else:
        if not args.registry_url:
            raise UsageError("give FILE (an address list), or --registry-url to read the registry's listing")
        token = os.environ.get("LAPSEWATCH_REGISTRY_TOKEN")
        if not token:
            raise UsageError("with --registry-url, set LAPSEWATCH_REGISTRY_TOKEN to the registry's token")
        try:
            client = RegistryClient(args.registry_url, token)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            with client:
                result = coverage(
                    registry_entries(client), provider_for, chain=chain.name, why_unserved=chain.why_unserved
                )
        except RegistryError as exc:
            print(f"lapsewatch: error: reading the registry's listing failed: {exc}", file=sys.stderr)
            return 1
    if args.json:
        for line in result.json_lines():
            print(line, flush=True)
    else:
        print(result.table(), flush=True)
    return 0


def _require_local_extra(command: str, *modules: str) -> None:
    """The tools that embed AWS (moto) or read the API contract (PyYAML) come with the `local`
    extra; an install without it says so instead of failing on an import."""
    import importlib.util

    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise UsageError(
            f"`lapsewatch {command}` needs the local extra ({', '.join(missing)} is not installed): "
            "pip install 'lapsewatch[local]'"
        )


def _cmd_run(args: argparse.Namespace) -> int:
    _require_local_extra("run", "moto")
    from lapsewatch.config import ProviderSettings
    from lapsewatch_tools.local.run import run_sweep_command

    # Before anything starts: the chain's credentials and files, as the functions will read them.
    try:
        ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_extra=args.rdap_extra,
            allow_loopback_http=True,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None

    return run_sweep_command(args)


def _cmd_registry_serve(args: argparse.Namespace) -> int:
    from lapsewatch_tools.registry.server import serve_command

    return serve_command(args)


def _cmd_registry_demo(args: argparse.Namespace) -> int:
    from lapsewatch_tools.registry.demo import demo_data_command

    return demo_data_command(args)


def _cmd_registry_conformance(args: argparse.Namespace) -> int:
    _require_local_extra("registry conformance", "yaml")
    from lapsewatch_tools.conformance import conformance_command

    return conformance_command(args)


def _cmd_runs(args: argparse.Namespace) -> int:
    if args.state:
        _require_local_extra("runs --state", "moto")
    from lapsewatch_tools.runs import runs_command

    return runs_command(args)


def _cmd_invoke(args: argparse.Namespace) -> int:
    _require_local_extra("invoke", "moto")
    from lapsewatch_tools.runs import invoke_command

    return invoke_command(args)


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
    # With --json, standard output holds JSON Lines alone; the table goes to standard error.
    print(report.table(), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
