"""`lapsewatch runs` and `lapsewatch invoke`: an operator's view of the runs, and their answer to
what a held run waits for, against a deployed stack or the local state of `lapsewatch run --state`.

Both places read the runs table the same way (`RunStore`) and act through the same handler: an
approve or a discard is the final function invoked with `{"approve_run": id, "domains": [...],
"by": who}`, in AWS with Lambda's Invoke and locally through `local_functions`, so that the
audit trail (the function's log, each decision's `operator` and `settled_at`) is the same one
and each decision is re-checked against its domain's latest state before it goes out.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lapsewatch.domains import InvalidDomain, to_ascii
from lapsewatch.sweep.records import Decision, DecisionState, RunRecord
from lapsewatch.sweep.store import RunStore
from lapsewatch.timefmt import rfc3339
from lapsewatch_tools.decisions import domain_rows
from lapsewatch_tools.local.environ import environment
from lapsewatch_tools.progress import Ticker
from lapsewatch_tools.report import (
    domain_sections,
    domains_table,
    for_terminal,
    key_values,
    summary_table,
    table,
)

EXIT_OK, EXIT_NOTHING_MATCHED, EXIT_USAGE = 0, 1, 2
# The stack outputs the commands read (template.yaml's Outputs).
STACK_OUTPUTS = ("RunsTableName", "DomainsTableName", "FinalFunctionName")


class RunsError(Exception):
    """Cannot reach the runs (no such stack or state, no credentials): exits 2 with the message."""


class ActionFailed(Exception):
    """The final function refused or failed an approve or a discard: exits 1 with the message."""


@dataclass
class Place:
    """Where the runs are: the store to read them from, how to invoke the final function, and
    who the operator is."""

    store: RunStore
    invoke_final: Callable[[dict], dict]
    operator: Callable[[], str]


def runs_command(args) -> int:
    try:
        with _place(args) as place:
            if args.runs_command == "list":
                return _list(place, args)
            if args.runs_command == "show":
                return _show(place, args)
            return _act(place, args)
    except RunsError as exc:
        print(f"lapsewatch runs: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _place(args) -> AbstractContextManager[Place]:
    if args.stack:
        if getattr(args, "registry_url", None) or getattr(args, "now", None):
            raise RunsError(
                "--registry-url and --now are for --state: with --stack the deployed function acts"
            )
        return _stack_place(args.stack, args.region)
    return _local_place(args)


# Listing and showing ------------------------------------------------------------------------------
def _list(place: Place, args) -> int:
    runs = place.store.recent_runs(args.limit)
    rows = [run_line(run) for run in runs]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False), flush=True)
    elif rows:
        print(
            table(
                ("run", "status", "started", "checked", "unsafe", "unverified", "held"),
                [
                    (
                        row["run_id"],
                        row["status"] + (" (dry run)" if row["dry_run"] else ""),
                        row["started_at"],
                        row["checked"],
                        row["unsafe"],
                        row["addresses_unverified"],
                        f"{row['held_count']} domains" if row["held"] else "no",
                    )
                    for row in rows
                ],
            )
        )
    else:
        print("no runs")
    return EXIT_OK if rows else EXIT_NOTHING_MATCHED


def run_line(run: RunRecord) -> dict:
    """One run, as `runs list` shows it."""
    summary = run.summary or {}
    return {
        "run_id": run.run_id,
        "status": run.status,
        "dry_run": bool(run.dry_run),
        "started_at": rfc3339(run.created_at),
        "finished_at": rfc3339(run.finished_at),
        "listed": int(run.listed or 0),
        "checked": summary.get("domains", {}).get("checked"),
        "unsafe": summary.get("unsafe_count", len(summary.get("unsafe", []))) if summary else None,
        "addresses_unverified": summary.get("unverify", {}).get("emails_unverified"),
        "held": bool(summary.get("held")),
        "held_domains": summary.get("held_domains", []),
        "held_count": summary.get("held_count", len(summary.get("held_domains", []))),
        "warnings": summary.get("warnings", []),
    }


def _show(place: Place, args) -> int:
    run = place.store.get_run(args.run_id)
    if run is None:
        print(f"lapsewatch runs: no run {args.run_id}", file=sys.stderr)
        return EXIT_NOTHING_MATCHED
    decisions = sorted(place.store.decisions(run.run_id), key=lambda d: d.domain)
    rows = domain_rows(place.store, run.run_id)
    shown = {
        "run": run_line(run),
        "summary": run.summary,
        "waiting": [decision_line(d) for d in decisions if d.state == DecisionState.HELD],
        "decisions": [decision_line(d) for d in decisions],
        # One row per domain the run decided about, and per notice (`lapsewatch run --json`'s).
        "domains": rows,
    }
    if args.json:
        print(json.dumps(shown, ensure_ascii=False), flush=True)
        return EXIT_OK
    print(for_terminal(_run_table(run), sys.stdout))
    print()
    if not any(row["kind"] == "decision" and row["state"] == DecisionState.HELD for row in rows):
        print("nothing waits for approval\n")
    if rows:
        print(for_terminal(domain_sections(rows), sys.stdout))
    return EXIT_OK


def decision_line(decision: Decision) -> dict:
    evidence = dict(decision.evidence or {})
    return {
        "domain": decision.domain,
        "lifecycle": decision.lifecycle,
        "addresses": int(decision.addresses or 0),
        "state": decision.state,
        "hold_reason": decision.hold_reason,
        "evidence": evidence,
        "decided_at": rfc3339(decision.decided_at),
        "settled_at": rfc3339(decision.settled_at),
        "operator": decision.operator,
        "error": decision.error,
        "superseded_by": decision.superseded_by,
    }


def _run_table(run: RunRecord) -> str:
    if run.summary:
        return summary_table(dict(run.summary))
    return key_values(
        [
            ("run", run.run_id),
            ("status", run.status),
            ("email domains listed", int(run.listed or 0)),
            ("shards", f"{int(run.shards_done or 0)} of {run.shard_count or '?'} done"),
        ]
    )


# Approving and discarding -------------------------------------------------------------------------
def _act(place: Place, args) -> int:
    verb = args.runs_command  # approve | discard
    run = place.store.get_run(args.run_id)
    if run is None:
        print(f"lapsewatch runs: no run {args.run_id}", file=sys.stderr)
        return EXIT_NOTHING_MATCHED
    try:
        named = None if not args.domain else [to_ascii(d.strip().rstrip(".")) for d in args.domain]
    except InvalidDomain as exc:
        print(f"lapsewatch runs: error: --domain: {exc}", file=sys.stderr)
        return EXIT_USAGE
    held = [d for d in place.store.decisions(run.run_id) if d.state == DecisionState.HELD]
    chosen = held if named is None else [d for d in held if d.domain in named]
    if run.status != "held" or not chosen:
        waiting = ", ".join(sorted(d.domain for d in held)) or "none"
        what = "its held decisions" if named is None else ", ".join(named)
        print(
            f"lapsewatch runs: nothing to {verb}: run {run.run_id} is {run.status}; asked for {what}; "
            f"waiting: {waiting}",
            file=sys.stderr,
        )
        return EXIT_NOTHING_MATCHED
    for domain in sorted(set(named or []) - {d.domain for d in chosen}):
        print(f"lapsewatch runs: {domain} is not waiting in run {run.run_id}: left alone", file=sys.stderr)

    event: dict[str, Any] = {f"{verb}_run": run.run_id, "by": place.operator()}
    if named is not None:
        event["domains"] = sorted(d.domain for d in chosen)
    domains = {d.domain for d in chosen}

    def settled() -> str:
        states = [d.state for d in place.store.decisions(run.run_id) if d.domain in domains]
        return f"{sum(state != DecisionState.HELD for state in states)} of {len(domains)} settled"

    try:
        with Ticker(f"{_DOING[verb]} {len(domains)} decisions of {run.run_id}", sys.stderr, count=settled):
            summary = place.invoke_final(event)
    except ActionFailed as exc:
        print(f"lapsewatch runs: {verb} failed: {exc}", file=sys.stderr)
        return EXIT_NOTHING_MATCHED

    outcome = [row for row in domain_rows(place.store, run.run_id) if row["domain"] in domains]
    # With --json, standard output holds JSON Lines alone (the domains' rows, then the run's
    # summary); the tables go to standard error.
    tables = sys.stderr if args.json else sys.stdout
    print(for_terminal(domains_table(outcome), tables), file=tables)
    print(file=tables)
    print(for_terminal(summary_table(summary), tables), file=tables)
    if args.json:
        for row in outcome:
            print(json.dumps(row, ensure_ascii=False))
        print(json.dumps(summary, ensure_ascii=False), flush=True)
    return EXIT_OK


_DOING = {"approve": "approving", "discard": "discarding"}


# The deployed stack -------------------------------------------------------------------------------
@contextmanager
def _stack_place(stack: str, region: str | None) -> Iterator[Place]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    try:
        session = boto3.Session(region_name=region)
        if session.region_name is None:
            raise RunsError("no AWS region: give --region or configure one (AWS_REGION, ~/.aws/config)")
        described = session.client("cloudformation").describe_stacks(StackName=stack)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    except (BotoCoreError, ClientError) as exc:
        raise RunsError(f"cannot read the stack {stack}: {exc}") from None
    missing = [name for name in STACK_OUTPUTS if name not in outputs]
    if missing:
        raise RunsError(f"the stack {stack} has no output {', '.join(missing)}: is it a lapsewatch stack?")

    invoke_final = final_invoker(session, outputs["FinalFunctionName"])

    def operator() -> str:
        try:
            return session.client("sts").get_caller_identity()["Arn"]
        except (BotoCoreError, ClientError):
            return f"{getpass.getuser()}@{socket.gethostname()}"

    # PynamoDB takes its region from the environment, as botocore does.
    with environment({"AWS_DEFAULT_REGION": session.region_name}):
        try:
            yield Place(
                store=RunStore(
                    domains_table=outputs["DomainsTableName"], runs_table=outputs["RunsTableName"]
                ),
                invoke_final=invoke_final,
                operator=operator,
            )
        except (BotoCoreError, ClientError, PynamoDBException) as exc:
            raise RunsError(f"reading the stack's tables failed: {exc}") from None


def final_invoker(session, function_name: str) -> Callable[[dict], dict]:
    """The deployed final function, invoked and answered synchronously."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # An approval may take the final function minutes; it is sent once, never retried blindly.
    client = session.client("lambda", config=Config(read_timeout=900, retries={"total_max_attempts": 1}))

    def invoke(event: dict) -> dict:
        try:
            response = client.invoke(
                FunctionName=function_name,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise ActionFailed(f"invoking {function_name}: {exc}") from None
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            message = body.get("errorMessage") if isinstance(body, dict) else body
            raise ActionFailed(f"the final function answered {message}")
        return body

    return invoke


# The local state ---------------------------------------------------------------------------------
@contextmanager
def _local_place(args) -> Iterator[Place]:
    from lapsewatch_tools.local.run import SweepError, local_functions

    state_dir = Path(args.state)
    if not (state_dir / "dynamodb").is_dir():
        raise RunsError(
            f"{state_dir} holds no lapsewatch state (made by `lapsewatch run --state {state_dir}`)"
        )
    options = _local_options(args, state_dir)
    acting = args.runs_command in ("approve", "discard")
    try:
        with ExitStack() as stack:
            # Local AWS and the functions take seconds to start on a large state: not in silence.
            with Ticker(f"starting local AWS on the state of {state_dir}", sys.stderr):
                local = stack.enter_context(
                    local_functions(
                        options,
                        retries=_say,
                        log_name=f"{args.runs_command}-{args.run_id}" if acting else "runs",
                        # Listing and discarding need no registry; an approval sends to one.
                        demo_must_exist=args.runs_command == "approve",
                        with_registry=args.runs_command == "approve",
                        capture_stdout=False,
                    )
                )
            yield Place(
                store=local.store(),
                invoke_final=_final_invoker(local),
                operator=lambda: f"{getpass.getuser()}@{socket.gethostname()}",
            )
    except SweepError as exc:
        raise RunsError(str(exc)) from None


def _final_invoker(local) -> Callable[[dict], dict]:
    """The final function on local AWS, its log lines to the log file, its errors as Lambda's."""
    final = local.functions["FinalFunction"]

    def invoke_final(event: dict) -> dict:
        try:
            with local.quietly():
                return final.invoke(event)
        except Exception as exc:  # the handler's error, as Lambda would report it
            raise ActionFailed(f"{type(exc).__name__}: {exc}") from None

    return invoke_final


def _say(line: str) -> None:
    """A line for the operator (a registry call retried), on a line of its own: a live progress
    line on the terminal is cleared first, and drawn again at its next tick."""
    sys.stderr.write(("\r\033[K" if sys.stderr.isatty() else "") + line + "\n")
    sys.stderr.flush()


def _local_options(args, state_dir: Path | None):
    """The command's own flags, then the options of the runs kept in `state_dir` (`lapsewatch
    run` remembers them). Without a state folder the log goes where `lapsewatch run`'s does."""
    from lapsewatch_tools.local.run import SweepOptions, default_log_dir, dns_options, remembered_options

    remembered = remembered_options(state_dir) if state_dir else {}
    registry_url = getattr(args, "registry_url", None) or remembered.get("registry_url")

    def path(flag: str, key: str) -> Path | None:
        value = getattr(args, flag, None) or remembered.get(key)
        return Path(value) if value else None

    return SweepOptions(
        registry_url=registry_url,
        registry_token=os.environ.get("LAPSEWATCH_REGISTRY_TOKEN"),
        rdap_bootstrap=path("rdap_bootstrap", "rdap_bootstrap"),
        rdap_extra=path("rdap_extra", "rdap_extra"),
        rdap_rate=getattr(args, "rdap_rate", None) or remembered.get("rdap_rate"),
        providers=getattr(args, "provider", None) or remembered.get("providers"),
        state_dir=state_dir,
        log_dir=None if state_dir else default_log_dir(),
        now=getattr(args, "now", None),
        **dns_options(args, remembered),
    )


def invoke_command(args) -> int:
    """`lapsewatch invoke FUNCTION`: one handler on the local state, its answer as JSON."""
    from lapsewatch_tools.local.run import FUNCTIONS, SweepError, local_functions

    if args.function not in FUNCTIONS:
        print(f"lapsewatch invoke: error: FUNCTION is one of {', '.join(FUNCTIONS)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
        event = json.loads(text)
    except OSError as exc:
        print(f"lapsewatch invoke: error: cannot read {args.event}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except json.JSONDecodeError as exc:
        print(f"lapsewatch invoke: error: the event is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    state_dir = Path(args.state) if args.state else None
    options = _local_options(args, state_dir)
    try:
        with ExitStack() as stack:
            with Ticker("starting local AWS and the functions", sys.stderr):
                local = stack.enter_context(
                    local_functions(
                        options,
                        log_name=f"invoke-{args.function}",
                        retries=_say,
                        capture_stdout=False,
                        demo_must_exist=state_dir is not None,
                    )
                )
            print(f"the functions' log: {local.log_path}", file=sys.stderr)
            try:
                with local.quietly():
                    answer = local.functions[args.function].invoke(event)
            except Exception as exc:  # the handler's error, as Lambda reports it
                failure = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                print(json.dumps(failure, ensure_ascii=False), flush=True)
                return 1
            print(json.dumps(answer, ensure_ascii=False, default=str), flush=True)
    except SweepError as exc:
        print(f"lapsewatch invoke: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
