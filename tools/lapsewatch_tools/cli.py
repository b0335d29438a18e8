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
from collections.abc import Iterator, Sequence
from pathlib import Path

from lapsewatch_tools.errors import EXIT_USAGE, UsageError
from lapsewatch_tools.options import (
    FROM_STATE,
    FROM_TEMPLATE,
    SweepSettingOption,
    add_dns_options,
    add_local_now_option,
    add_provider_option,
    add_rdap_options,
    add_whois_options,
    dns_arguments,
    fraction,
    installed_version,
    iso_time,
    notice_stages_list,
    port_number,
    positive_whole_number,
    run_id_arg,
    whole_number,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lapsewatch",
        description="Find the lapsing domains behind verified email addresses.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"lapsewatch {installed_version()}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check_parser(commands)
    _add_coverage_parser(commands)
    _add_run_parser(commands)
    _add_registry_parser(commands)
    _add_runs_parser(commands)
    _add_invoke_parser(commands)
    _add_simulate_parser(commands)
    _add_completion_parser(commands)
    return parser


def _add_check_parser(commands: argparse._SubParsersAction) -> None:
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
    add_provider_option(check)
    add_rdap_options(check)
    add_whois_options(check)
    add_dns_options(check)
    check.add_argument(
        "--verified-at",
        metavar="ISO8601",
        type=iso_time,
        default=None,
        help="when the address was verified: a registration after it means re-registered "
        "(default: none; a registration is then no evidence)",
    )
    check.set_defaults(func=_cmd_check)


def _add_coverage_parser(commands: argparse._SubParsersAction) -> None:
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
        "--psl",
        action="store_true",
        help="count the TLDs of the Public Suffix List's ICANN section instead of an address file "
        "(default: off)",
    )
    coverage.add_argument(
        "--registry-url",
        metavar="URL",
        default=None,
        help="read the registry's listing instead of FILE, token in LAPSEWATCH_REGISTRY_TOKEN "
        "(default: none; give FILE or this)",
    )
    add_provider_option(coverage)
    add_rdap_options(coverage)
    add_whois_options(coverage)
    add_dns_options(coverage)
    coverage.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per TLD per line, then one of totals (default: a table)",
    )
    coverage.set_defaults(func=_cmd_coverage)


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
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
    add_provider_option(run, FROM_TEMPLATE)
    add_rdap_options(run, FROM_TEMPLATE)
    add_whois_options(run)
    add_dns_options(run)
    _add_run_decision_options(run)
    _add_run_state_options(run)
    run.set_defaults(func=_cmd_run)


def _add_run_decision_options(run: argparse.ArgumentParser) -> None:
    """What a run checks and what it may do about it: the breaker, the notices."""
    run.add_argument("--dry-run", action="store_true", help="decide, but unverify nothing")
    run.add_argument(
        "--max-unverify",
        metavar="N",
        type=whole_number,
        default=None,
        help="circuit breaker: a run that finds more unsafe domains than the larger of N and "
        "--max-unverify-fraction of the domains checked waits for approval",
        action=SweepSettingOption,
        setting="max_unverify",
    )
    run.add_argument(
        "--max-unverify-fraction",
        metavar="F",
        type=fraction,
        default=None,
        help="circuit breaker, relative part: a fraction of the domains checked, from 0 to 1; 0 leaves "
        "--max-unverify alone as the limit",
        action=SweepSettingOption,
        setting="max_unverify_fraction",
    )
    run.add_argument("--all", action="store_true", help="check every domain, due or not")
    run.add_argument(
        "--notice-stages",
        metavar="STAGES",
        type=notice_stages_list,
        default=None,
        help='stages that earn an early-warning notice; "" turns notices off',
        action=SweepSettingOption,
        setting="notice_stages",
    )


def _add_run_state_options(run: argparse.ArgumentParser) -> None:
    """Where a run keeps its state between runs, and when it takes place."""
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
        type=iso_time,
        default=None,
        help="the time of the schedule occurrence: the run's id and the functions' clock follow it "
        "(default: the current time)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="run a --now earlier than the latest run in --state all the same (default: refused)",
    )


def _add_registry_parser(commands: argparse._SubParsersAction) -> None:
    registry = commands.add_parser(
        "registry",
        help="the reference registry",
        description="The reference registry: the registry API v1 (docs/registry-api.yaml) served "
        "from SQLite, its demo data set, and a conformance check for your own registry.",
    )
    registry_commands = registry.add_subparsers(dest="registry_command", required=True, metavar="COMMAND")
    _add_registry_serve_parser(registry_commands)
    _add_registry_demo_parser(registry_commands)
    _add_registry_conformance_parser(registry_commands)


def _add_registry_serve_parser(registry_commands: argparse._SubParsersAction) -> None:
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
        "--port", metavar="PORT", type=port_number, default=8080, help="port to listen on (default: 8080)"
    )
    serve.add_argument(
        "--token",
        metavar="TOKEN",
        default=os.environ.get("LAPSEWATCH_REGISTRY_TOKEN"),
        help="the bearer token clients must send (default: $LAPSEWATCH_REGISTRY_TOKEN, else a new "
        "random one, printed)",
    )
    serve.set_defaults(func=_cmd_registry_serve)


def _add_registry_demo_parser(registry_commands: argparse._SubParsersAction) -> None:
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


def _add_registry_conformance_parser(registry_commands: argparse._SubParsersAction) -> None:
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


def _add_invoke_parser(commands: argparse._SubParsersAction) -> None:
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
    add_provider_option(invoke, FROM_STATE)
    add_rdap_options(invoke, FROM_STATE)
    add_dns_options(invoke)
    add_local_now_option(invoke)
    invoke.set_defaults(func=_cmd_invoke)


def _add_simulate_parser(commands: argparse._SubParsersAction) -> None:
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
        "--domains",
        metavar="N",
        type=whole_number,
        default=2000,
        help="domains in the population (default: 2000)",
    )
    simulate.add_argument(
        "--days", metavar="D", type=whole_number, default=365, help="days simulated (default: 365)"
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
        type=fraction,
        default=0.005,
        help="share of lookups that fail, from 0 to 1 (default: 0.005)",
    )
    simulate.add_argument(
        "--pypi-batch-limit",
        metavar="N",
        type=whole_number,
        default=1000,
        help="addresses the PyPI model checks per daily task run (default: 1000)",
    )
    simulate.add_argument(
        "--json", action="store_true", help="the report as one JSON line; the table goes to standard error"
    )
    simulate.set_defaults(func=_cmd_simulate)


def _add_completion_parser(commands: argparse._SubParsersAction) -> None:
    completion = commands.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description="Print a completion script for SHELL, generated from this command line's own "
        "parser. bash: lapsewatch completion bash > ~/.local/share/bash-completion/completions/lapsewatch; "
        'zsh: lapsewatch completion zsh > "${fpath[1]}/_lapsewatch".',
    )
    completion.add_argument("shell", metavar="SHELL", choices=("bash", "zsh"), help="bash or zsh")
    completion.set_defaults(func=_cmd_completion)


def _add_runs_parser(commands: argparse._SubParsersAction) -> None:
    runs = commands.add_parser(
        "runs",
        help="list and show runs; approve or discard what a held run waits for",
        description="The runs of a deployed stack (--stack, with your own AWS credentials) or of "
        "`lapsewatch run --state DIR` (--state). Exit status: 0 success, 1 nothing matched, 2 usage error.",
    )
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")
    _add_runs_list_parser(runs_commands)
    _add_runs_show_parser(runs_commands)
    for name, verb in (("approve", "send"), ("discard", "drop")):
        _add_runs_decision_parser(runs_commands, name, verb)


def _add_runs_place_options(parser: argparse.ArgumentParser) -> None:
    """Where the runs are: a deployed stack, or a local state folder."""
    place = parser.add_mutually_exclusive_group(required=True)
    place.add_argument("--stack", metavar="NAME", help="a deployed lapsewatch stack's name")
    place.add_argument("--state", metavar="DIR", help="the state folder of `lapsewatch run --state DIR`")
    parser.add_argument(
        "--region",
        metavar="R",
        default=None,
        help="the stack's region (default: your AWS configuration's)",
    )


def _add_runs_list_parser(runs_commands: argparse._SubParsersAction) -> None:
    listing = runs_commands.add_parser("list", help="recent runs: status, counts, held or not")
    _add_runs_place_options(listing)
    listing.add_argument(
        "--limit",
        metavar="N",
        type=positive_whole_number,
        default=20,
        help="runs shown, newest first (default: 20)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per run per line")
    listing.set_defaults(func=_cmd_runs)


def _add_runs_show_parser(runs_commands: argparse._SubParsersAction) -> None:
    show = runs_commands.add_parser(
        "show", help="a run's counts, and every domain waiting for approval with its evidence"
    )
    show.add_argument(
        "run_id",
        metavar="RUN_ID",
        type=run_id_arg,
        help='the run, as `runs list` names it ("run-" may be left out)',
    )
    _add_runs_place_options(show)
    show.add_argument("--json", action="store_true", help="the run as one JSON object")
    show.set_defaults(func=_cmd_runs)


def _add_runs_decision_parser(runs_commands: argparse._SubParsersAction, name: str, verb: str) -> None:
    """`runs approve` (verb: send) or `runs discard` (verb: drop)."""
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
        type=run_id_arg,
        help='the held run, as `runs list` names it ("run-" may be left out)',
    )
    _add_runs_place_options(action)
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
        add_provider_option(action, FROM_STATE)
        add_rdap_options(action, FROM_STATE)
        add_dns_options(action)
    add_local_now_option(action)
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


def _cmd_check(args: argparse.Namespace) -> int:
    from lapsewatch.check import DomainChecker, exit_status
    from lapsewatch.providers.factory import ProviderSettings
    from lapsewatch_tools.report import check_table, for_terminal

    try:
        # An operator's own machine: plain http to loopback (a test server) is theirs to use.
        settings = ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_extra=args.rdap_extra,
            rdap_rate=args.rdap_rate,
            allow_loopback_http=True,
            whois_table=args.whois_table,
            whois_servers=args.whois_server,
            **dns_arguments(args),
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
        print(for_terminal(check_table(results), sys.stdout))
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


def _cmd_coverage(args: argparse.Namespace) -> int:
    from lapsewatch_tools.coverage import coverage_command

    return coverage_command(args)


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
    from lapsewatch.providers.factory import ProviderSettings
    from lapsewatch_tools.local.run import run_sweep_command

    # Before anything starts: the chain's credentials and files, as the functions will read them.
    try:
        ProviderSettings.from_env(
            provider=args.provider,
            rdap_bootstrap=args.rdap_bootstrap,
            rdap_extra=args.rdap_extra,
            allow_loopback_http=True,
            whois_table=args.whois_table,
            whois_servers=args.whois_server,
            **dns_arguments(args),
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


def _cmd_completion(args: argparse.Namespace) -> int:
    _require_local_extra("completion", "shtab")
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0


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
