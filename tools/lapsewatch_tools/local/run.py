"""`lapsewatch run`: one whole daily sweep on this machine, through the Lambda handlers.

AWS is moto's server on loopback with the template's queues and tables; the dispatcher gets a
schedule event, an event source mapping feeds the checkers SQS batches, and the final function
runs when the shards are done. With no --registry-url the sweep runs on the demo: the reference
registry with the demo data set, and (with no --rdap-bootstrap) a loopback RDAP server that
answers for the demo's domains.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import boto3

from lapsewatch.domains import tld
from lapsewatch.sweep.records import RunStatus, run_id_for
from lapsewatch.sweep.store import RunStore
from lapsewatch_tools.bundled import bundled
from lapsewatch_tools.local.aws import LocalAws
from lapsewatch_tools.local.lambdas import EventSourceMapping, LocalFunction
from lapsewatch_tools.report import for_terminal, key_values

# Our own loopback RDAP server can take far more than a real registry's 5 requests a second.
DEMO_RDAP_RATE = 200.0
FINISHED = (RunStatus.DONE, RunStatus.HELD, RunStatus.DISCARDED)
# The demo registry's database, in the state folder when there is one.
DEMO_DATABASE = "registry.sqlite3"
_STALL_SECONDS = 10.0


class Backdated(ValueError):
    """A --now before the state's latest run: days run backwards. Refused without --force."""


class SweepError(RuntimeError):
    """The sweep could not run; the message says why."""


@dataclass(frozen=True, slots=True)
class SweepOptions:
    registry_url: str | None = None
    registry_token: str | None = None
    rdap_bootstrap: Path | None = None
    rdap_extra: Path | None = None
    rdap_rate: float | None = None
    # The provider chain ("rdap,fastly"); the template's default when None.
    providers: str | None = None
    # "grace,hold" by default (the template's); "" turns notices off.
    notice_stages: str | None = None
    dry_run: bool = False
    max_unverify: int | None = None
    max_unverify_fraction: float | None = None
    check_all: bool = False
    # Run a --now earlier than the state's latest run all the same.
    force: bool = False
    # Kept between runs (the tables, and the demo registry), so that runs follow each other
    # like days in AWS.
    state_dir: Path | None = None
    # The schedule occurrence: the run's id, and the clock its functions see, start here.
    now: datetime | None = None
    # Where the functions' log is kept: <state_dir>/logs by default, else a temporary folder.
    log_dir: Path | None = None
    # The WHOIS table, and TLD=HOST[:PORT] overrides of its servers (loopback stand-ins).
    whois_table: Path | None = None
    whois_servers: tuple[str, ...] = ()
    # The DNS witness: on or off (the template's default, on, when None), and the loopback
    # servers standing in for the root (the demo's own with the demo's RDAP server).
    dns_witness: bool | None = None
    dns_roots: tuple[str, ...] | None = None
    dns_trust_anchor: Path | None = None


def project_root() -> Path:
    """The folder holding template.yaml and functions/: shipped in the package
    (`lapsewatch_tools.bundled`), so that an installed lapsewatch runs anywhere."""
    root = bundled("template.yaml").parent
    if not ((root / "template.yaml").is_file() and (root / "functions").is_dir()):
        raise SweepError(f"this installation of lapsewatch lacks template.yaml and functions/ in {root}")
    return root


# In the state folder: the options its runs were made with, for `lapsewatch runs` and `invoke`.
REMEMBERED_OPTIONS = "run-options.json"


def remember_options(options: SweepOptions) -> None:
    """Keep the registry and the providers a run used, so that an approval days later reaches
    the same ones (its fresh lookups above all)."""
    if options.state_dir is None:
        return
    remembered = {
        "registry_url": options.registry_url,
        "rdap_bootstrap": str(options.rdap_bootstrap.resolve()) if options.rdap_bootstrap else None,
        "rdap_extra": str(options.rdap_extra.resolve()) if options.rdap_extra else None,
        "rdap_rate": options.rdap_rate,
        "providers": options.providers,
        "dns_witness": options.dns_witness,
        "dns_roots": list(options.dns_roots) if options.dns_roots else None,
        "dns_trust_anchor": str(options.dns_trust_anchor.resolve()) if options.dns_trust_anchor else None,
    }
    (options.state_dir / REMEMBERED_OPTIONS).write_text(json.dumps(remembered, indent=1) + "\n")


def remembered_options(state_dir: Path) -> dict:
    try:
        remembered = json.loads((state_dir / REMEMBERED_OPTIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return remembered if isinstance(remembered, dict) else {}


def _state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "lapsewatch"


def default_log_dir() -> Path:
    """Where a command without --state keeps the functions' log (XDG's state folder)."""
    return _state_home() / "logs"


def default_state_dir() -> Path:
    """Where `lapsewatch run` without --state keeps its run's state: emptied before each such run
    (every run starts afresh), kept after it, so that `lapsewatch runs show` can look at it."""
    return _state_home() / "last-run"


def next_steps(summary: dict, state_dir: Path) -> list[str]:
    """The commands that look at a run kept in `state_dir`, and settle it when it is held."""
    run, where = summary["run_id"], f"--state {shlex.quote(str(state_dir))}"
    steps = [f"lapsewatch runs show {run} {where}"]
    if summary["held"]:
        domain = (summary.get("held_domains") or ["DOMAIN"])[0]
        steps += [
            f"lapsewatch runs approve {run} --domain {domain} {where}",
            f"lapsewatch runs discard {run} {where}",
        ]
    return steps


def run_sweep_command(args) -> int:
    state_dir = Path(args.state) if args.state else default_state_dir()
    options = SweepOptions(
        registry_url=args.registry_url,
        registry_token=os.environ.get("LAPSEWATCH_REGISTRY_TOKEN"),
        rdap_bootstrap=Path(args.rdap_bootstrap) if args.rdap_bootstrap else None,
        rdap_extra=Path(args.rdap_extra) if args.rdap_extra else None,
        providers=args.provider,
        notice_stages=args.notice_stages,
        rdap_rate=args.rdap_rate,
        dry_run=args.dry_run,
        max_unverify=args.max_unverify,
        max_unverify_fraction=args.max_unverify_fraction,
        check_all=args.all,
        force=args.force,
        state_dir=state_dir,
        now=args.now,
        whois_table=Path(args.whois_table) if args.whois_table else None,
        whois_servers=tuple(args.whois_server or ()),
        **dns_options(args),
    )
    if options.whois_table or options.whois_servers:
        from lapsewatch.providers.factory import ProviderSettings

        try:  # the functions would refuse them at their cold start: say so before the run
            ProviderSettings.from_env(
                {},
                whois_table=options.whois_table,
                whois_servers=options.whois_servers,
                credentials_later=True,
            )
        except ValueError as exc:
            print(f"lapsewatch run: {exc}", file=sys.stderr)
            return 2
    if not args.state:
        shutil.rmtree(state_dir, ignore_errors=True)
    progress = _Progress(sys.stderr)
    try:
        summary = run_local_sweep(options, progress=progress.update, log=progress.log)
    except SweepError as exc:
        progress.done()
        print(f"lapsewatch run: {exc}", file=sys.stderr)
        return 1
    except Backdated as exc:
        progress.done()
        print(f"lapsewatch run: error: {exc}", file=sys.stderr)
        return 2
    progress.done()
    # With --json, standard output holds JSON Lines alone; the table goes to standard error.
    tables = sys.stderr if args.json else sys.stdout
    print(for_terminal(summary_table(summary), tables), file=tables)
    held = "HELD: it waits for an operator; " if summary["held"] else ""
    print(f"\n{held}the run's state is kept in {state_dir}; next:", file=tables)
    for step in next_steps(summary, state_dir):
        print(f"  {step}", file=tables)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")), flush=True)
    return 0


def dns_options(args, remembered: dict | None = None) -> dict:
    """The DNS witness's flags as SweepOptions takes them; what earlier runs used otherwise."""
    remembered = remembered or {}
    switch = (
        args.dns_witness if getattr(args, "dns_witness", None) is not None else remembered.get("dns_witness")
    )
    roots = getattr(args, "dns_root", None) or remembered.get("dns_roots")
    anchor = getattr(args, "dns_trust_anchor", None) or remembered.get("dns_trust_anchor")
    return {
        "dns_witness": switch,
        "dns_roots": tuple(roots) if roots else None,
        "dns_trust_anchor": Path(anchor) if anchor else None,
    }


def run_local_sweep(
    options: SweepOptions,
    *,
    progress: Callable[[int, int], None] = lambda done, total: None,
    log: Callable[[str], None] = lambda line: None,
    root: Path | None = None,
) -> dict:
    """Run one sweep and return its summary."""
    if options.now is not None:
        occurrence = options.now.astimezone(UTC).replace(microsecond=0)
    else:
        occurrence = datetime.now(UTC).replace(second=0, microsecond=0)
    with local_functions(options, log=log, root=root, log_name=run_id_for(occurrence)) as local:
        _check_the_day(local.store(), run_id_for(occurrence), force=options.force, log=log)
        remember_options(options)
        functions = local.functions
        sqs = boto3.client("sqs")
        shards = EventSourceMapping(
            sqs, local.aws.sqs_source("CheckerFunction"), functions["CheckerFunction"].invoke
        )
        finals = EventSourceMapping(
            sqs, local.aws.sqs_source("FinalFunction"), functions["FinalFunction"].invoke
        )
        continuations = EventSourceMapping(
            sqs, local.aws.sqs_source("DispatcherFunction"), functions["DispatcherFunction"].invoke
        )
        try:
            started = functions["DispatcherFunction"].invoke(_schedule_event(occurrence, options.check_all))
        except Exception as exc:
            raise SweepError(f"the dispatcher failed: {exc}") from exc
        run_id = started["run_id"]
        log(f"run {run_id}: {started.get('shards', 'more')} shards of domains to check")
        return _drive(run_id, shards, [finals, continuations], progress)


def _check_the_day(store: RunStore, run_id: str, *, force: bool, log: Callable[[str], None]) -> None:
    """Say so when the day is in the state already (the run is a repeat: its result is shown as
    stored), and refuse a day before the state's latest unless forced."""
    if store.get_run(run_id) is not None:
        log(f"{run_id} is in the state already: a repeat of that day, its stored result follows")
        return
    latest = max((run.run_id for run in store.recent_runs(10_000)), default=None)
    if latest is not None and latest > run_id and not force:
        raise Backdated(
            f"{run_id} is before the state's latest run, {latest}: days would run backwards "
            "(due dates, decision ages); give --force to run it all the same"
        )


@dataclass
class LocalFunctions:
    """The template's functions on this machine, on local AWS, ready to invoke."""

    aws: LocalAws
    functions: dict[str, LocalFunction]
    registry_url: str
    log_path: Path
    log_file: TextIO

    def quietly(self) -> AbstractContextManager:
        """The functions' stdout (their log lines) to the log file while inside."""
        return redirect_stdout(self.log_file)

    def store(self) -> RunStore:
        return RunStore(
            domains_table=os.environ["LAPSEWATCH_DOMAINS_TABLE"],
            runs_table=os.environ["LAPSEWATCH_RUNS_TABLE"],
        )


FUNCTIONS = ("DispatcherFunction", "CheckerFunction", "FinalFunction", "ManualFunction")


@contextmanager
def local_functions(
    options: SweepOptions,
    *,
    log: Callable[[str], None] = lambda line: None,
    root: Path | None = None,
    log_name: str = "functions",
    demo_must_exist: bool = False,
    with_registry: bool = True,
    capture_stdout: bool = True,
) -> Iterator[LocalFunctions]:
    """Local AWS (with the state of `options.state_dir`), the registry (the demo's unless
    `options.registry_url`; none without `with_registry`), and every function loaded with its
    deployed environment. The functions log as in CloudWatch, to `<log dir>/<log_name>.log`:
    stdout is theirs meanwhile, or (without `capture_stdout`) inside `LocalFunctions.quietly()`."""
    root = root or project_root()
    if with_registry and options.registry_url and not options.registry_token:
        raise SweepError("with --registry-url, set LAPSEWATCH_REGISTRY_TOKEN to the registry's token")
    if options.rdap_bootstrap and not options.rdap_bootstrap.is_file():
        raise SweepError(f"RDAP bootstrap file not found: {options.rdap_bootstrap}")
    if options.state_dir is not None:
        try:
            options.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"cannot use {options.state_dir} for the state: {exc.strerror}") from None
    kept_demo = options.state_dir is not None and (options.state_dir / DEMO_DATABASE).is_file()
    if demo_must_exist and options.registry_url is None and not kept_demo:
        raise SweepError("give --registry-url: the state holds no demo registry to use")

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lapsewatch-run-")))
        registry_url, token = options.registry_url, options.registry_token
        bootstrap, rate, extra = options.rdap_bootstrap, options.rdap_rate, options.rdap_extra
        whois_table: Path | None = None
        dns_environment = _dns_environment(options)
        if not with_registry:
            # Nothing it runs calls the registry (a discard, a listing): a closed port stands in.
            registry_url = "http://127.0.0.1:9"
        elif registry_url is None:
            registry_url, token, demo_bootstrap, demo_dns = stack.enter_context(
                _demo(
                    workdir,
                    with_rdap=bootstrap is None,
                    with_dns=bootstrap is None and options.dns_roots is None,
                    state_dir=options.state_dir,
                )
            )
            dns_environment.update(demo_dns)
            if bootstrap is None:
                bootstrap, rate = demo_bootstrap, rate or DEMO_RDAP_RATE
                # The demo's loopback RDAP server serves the demo's own TLDs alone; the bundled
                # extra file would send its .de and .io domains to the real registries.
                if extra is None:
                    extra = workdir / "rdap_extra.json"
                    extra.write_text('{"services": []}')
                # Nor may the WHOIS table send the demo's other TLDs (例え.jp) to real servers.
                if not (
                    options.whois_table or options.whois_servers or os.environ.get("LAPSEWATCH_WHOIS_TABLE")
                ):
                    whois_table = workdir / "whois.json"
                    whois_table.write_text('{"tlds": {}}')
            log(f"demo registry at {registry_url}")

        aws = stack.enter_context(LocalAws(root / "template.yaml", state_dir=options.state_dir))
        environment = aws.function_environment("DispatcherFunction")
        environment.update(
            LAPSEWATCH_REGISTRY_URL=registry_url,
            LAPSEWATCH_REGISTRY_TOKEN=token or "",
            LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN="",
            LAPSEWATCH_DRY_RUN="true" if options.dry_run else "false",
            # The demo's and the tests' servers speak plain http on loopback; deployed, never.
            LAPSEWATCH_ALLOW_LOOPBACK_HTTP="true",
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_DEV="false",
        )
        if options.now is not None:
            now = options.now.astimezone(UTC).replace(microsecond=0)
            environment["LAPSEWATCH_LOCAL_NOW"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        if bootstrap is not None:
            environment["LAPSEWATCH_RDAP_BOOTSTRAP"] = str(bootstrap)
        if extra is not None:
            environment["LAPSEWATCH_RDAP_EXTRA"] = str(extra)
        whois_table = options.whois_table or whois_table
        if whois_table is not None:
            environment["LAPSEWATCH_WHOIS_TABLE"] = str(whois_table)
        if options.whois_servers:
            environment["LAPSEWATCH_WHOIS_SERVERS"] = ",".join(options.whois_servers)
        environment.update(dns_environment)
        if options.providers is not None:
            environment["LAPSEWATCH_PROVIDERS"] = options.providers
        if options.notice_stages is not None:
            environment["LAPSEWATCH_NOTICE_STAGES"] = options.notice_stages
        if rate is not None:
            environment["LAPSEWATCH_RDAP_RATE"] = str(rate)
        if options.max_unverify is not None:
            environment["LAPSEWATCH_MAX_UNVERIFY"] = str(options.max_unverify)
        if options.max_unverify_fraction is not None:
            environment["LAPSEWATCH_MAX_UNVERIFY_FRACTION"] = str(options.max_unverify_fraction)
        stack.enter_context(_environment(environment))

        log_dir = options.log_dir or (options.state_dir / "logs" if options.state_dir else workdir)
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            log_path = log_dir / f"{log_name}.log"
            log_file = stack.enter_context(log_path.open("a", encoding="utf-8"))
        except OSError as exc:
            raise SweepError(f"cannot write the functions' log in {log_dir}: {exc.strerror}") from None
        if log_dir != workdir:
            log(f"the functions' log: {log_path}")
        # The functions log (JSON lines, as in CloudWatch) to a file; the terminal shows progress.
        if capture_stdout:
            stack.enter_context(redirect_stdout(log_file))
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="No application metrics to publish")

        functions = {name: LocalFunction(aws, name, root) for name in FUNCTIONS}
        for function in functions.values():
            function.load()
        yield LocalFunctions(
            aws=aws, functions=functions, registry_url=registry_url, log_path=log_path, log_file=log_file
        )


def _drive(
    run_id: str,
    shards: EventSourceMapping,
    others: list[EventSourceMapping],
    progress: Callable[[int, int], None],
) -> dict:
    store = RunStore(
        domains_table=os.environ["LAPSEWATCH_DOMAINS_TABLE"], runs_table=os.environ["LAPSEWATCH_RUNS_TABLE"]
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll(mapping: EventSourceMapping) -> None:
        try:
            while not stop.is_set():
                if not mapping.poll_once():
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)
            stop.set()

    pollers = [
        threading.Thread(target=poll, args=(shards,), daemon=True)
        for _ in range(shards.source.max_concurrency)
    ]
    pollers += [threading.Thread(target=poll, args=(mapping,), daemon=True) for mapping in others]
    for poller in pollers:
        poller.start()
    idle_since = None
    try:
        while True:
            run = store.get_run(run_id)
            if run is None:
                raise SweepError(f"run {run_id} was not recorded")
            progress(int(run.shards_done or 0) + int(run.shards_dead or 0), int(run.shard_count or 0))
            if run.status in FINISHED and run.summary:
                return dict(run.summary)
            if errors:
                raise SweepError(f"polling the queues failed: {errors[0]!r}")
            if all(mapping.depth() == 0 for mapping in (shards, *others)):
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > _STALL_SECONDS:
                    raise SweepError(f"run {run_id} stalled in state {run.status!r} with its queues empty")
            else:
                idle_since = None
            time.sleep(0.1)
    finally:
        stop.set()
        for poller in pollers:
            poller.join(timeout=60)


def _schedule_event(occurrence: datetime, check_all: bool) -> dict:
    """The event EventBridge's daily rule sends (events/schedule.json) at `occurrence`."""
    event: dict[str, object] = {
        "version": "0",
        "id": secrets.token_hex(16),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": occurrence.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/lapsewatch-daily"],
        "detail": {},
    }
    if check_all:
        event["check_all"] = True
    return event


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _dns_environment(options: SweepOptions) -> dict[str, str]:
    environment = {}
    if options.dns_witness is not None:
        environment["LAPSEWATCH_DNS_WITNESS"] = "true" if options.dns_witness else "false"
    if options.dns_roots:
        environment["LAPSEWATCH_DNS_ROOT"] = ",".join(options.dns_roots)
    if options.dns_trust_anchor is not None:
        environment["LAPSEWATCH_DNS_TRUST_ANCHOR"] = str(options.dns_trust_anchor)
    return environment


@contextmanager
def _demo(
    workdir: Path, *, with_rdap: bool, with_dns: bool, state_dir: Path | None
) -> Iterator[tuple[str, str, Path | None, dict[str, str]]]:
    """The reference registry with the demo data set, and a loopback RDAP server for it, and a
    loopback DNS (a root and the demo's TLDs) that delegates the demo's held domains and no
    lapsed one. With a state folder the registry's database is kept there, seeded on the first
    run only."""
    from lapsewatch_tools.local.rdap_server import DomainAnswer, LoopbackRdap
    from lapsewatch_tools.registry.app import RegistryApp
    from lapsewatch_tools.registry.demo import demo_population
    from lapsewatch_tools.registry.server import RegistryServer

    population = demo_population()
    db_path = (state_dir or workdir) / DEMO_DATABASE
    token_path = (state_dir or workdir) / "registry-token"
    first_run = not db_path.exists()
    if first_run or not token_path.is_file():
        token_path.write_text(secrets.token_urlsafe(24))
    with ExitStack() as stack:
        app = RegistryApp(db_path, token=token_path.read_text().strip(), address_reads=True)
        registry = stack.enter_context(RegistryServer(app))
        if first_run:
            registry.load_seed(json.dumps(record) for record in population.records)
        bootstrap = None
        if with_rdap:
            rdap = stack.enter_context(LoopbackRdap())
            served = sorted({tld(d) for d, spec in population.domains.items() if spec.lifecycle != "unknown"})
            # A name the data set does not know (example.com in a hand-made event) is a held name
            # here: the demo must never call free what it was not told is free.
            rdap.add_registry("demo", tlds=served, default=DomainAnswer.for_lifecycle("active"))
            for domain, spec in population.domains.items():
                if spec.lifecycle != "unknown":
                    answer = DomainAnswer.for_lifecycle(
                        spec.lifecycle, registered_at=spec.registered_at, expires_at=spec.expires_at
                    )
                    rdap.set_domain(domain, answer)
            bootstrap = rdap.bootstrap_file(workdir / "dns.json")
        dns_environment = {}
        if with_dns:
            dns_environment = stack.enter_context(_demo_dns(population, workdir))
        yield registry.url, registry.token, bootstrap, dns_environment


# Out of their TLD's zone: what the DNS witness must see denied for the demo's lapses.
_OUT_OF_ZONE = ("redemption", "pending_delete", "unregistered", "unknown")


@contextmanager
def _demo_dns(population, workdir: Path) -> Iterator[dict[str, str]]:
    from dns.name import from_text as dns_name

    from lapsewatch_tools.local.dns_server import LoopbackDns

    server = LoopbackDns()
    server.add_zone(".")
    for suffix in sorted({tld(domain) for domain in population.domains}):
        server.add_zone(suffix, nsec3=True, opt_out=True)
    # A public suffix below its TLD (co.uk) is a zone of its own, as in the real DNS: the witness
    # finds its zone cut by the referrals.
    for domain in population.domains:
        suffix = domain.split(".", 1)[1]
        if suffix != tld(domain) and dns_name(suffix) not in server.zones:
            server.add_zone(suffix, signed=False)
    for domain, spec in population.domains.items():
        if spec.lifecycle not in _OUT_OF_ZONE:
            server.delegate(domain)
    with server:
        yield server.environment(workdir / "dns-root.ds")


def summary_table(summary: dict) -> str:
    domains, unverify = summary["domains"], summary["unverify"]
    rows: list[tuple[str, object]] = [
        ("run", summary["run_id"]),
        ("status", summary["status"] + (" (dry run)" if summary["dry_run"] else "")),
    ]
    rows += [("WARNING", warning) for warning in summary.get("warnings", [])]
    # The counts add up: each indented group sums to the line above it.
    rows += [
        ("email domains listed", domains["listed"]),
        ("  invalid", domains["invalid"]),
        ("  merged into a listed domain", domains.get("merged", 0)),
        ("  registrable domains", domains["distinct"]),
        ("    not due", domains["skipped_not_due"]),
        ("    checked", domains["checked"]),
    ]
    rows += [(f"      {lifecycle}", count) for lifecycle, count in summary["by_lifecycle"].items()]
    rows += [
        (f"    {label}", domains.get(key, 0))
        for key, label in (
            ("refused", "refused (not registrable)"),
            ("dead_lettered", "in dead-lettered shards"),
            ("not_checked", "never reported"),
        )
        if domains.get(key)
    ]
    withheld = summary["withheld"]
    rows += [
        ("unsafe domains", _some(summary["unsafe"], summary.get("unsafe_count")) or "none"),
        ("unverify calls", unverify["requested"]),
        ("addresses unverified", unverify["emails_unverified"]),
        ("unverify calls failed", unverify["failed"]),
        ("decisions cancelled (stale)", withheld["cancelled"]),
        ("decisions deferred", withheld["deferred"]),
    ]
    rows += [
        (label, withheld.get(key, 0))
        for key, label in (
            ("superseded", "decisions superseded (a later one sent)"),
            ("held", "decisions held at sending"),
            ("unsent", "decisions left for the next run (time)"),
            ("errors", "decisions the final step failed on"),
        )
        if withheld.get(key)
    ]
    rows += [
        ("held", "no" if not summary["held"] else _some(summary["held_domains"], summary.get("held_count"))),
        ("unprotected domains", _unprotected(summary["unprotected"])),
        ("unknown for days on end", summary["unknown_streaks"]["count"]),
        ("notices", _notices(summary["notices"])),
    ]
    rows += [
        ("  held because", f"{group['reason']} ({group.get('count', len(group['domains']))} domains)")
        for group in summary["held_groups"]
    ]
    return key_values(rows)


def _some(domains: list[str], count: int | None) -> str:
    """A summary's bounded list of domains, and how many it leaves out."""
    more = (count or len(domains)) - len(domains)
    return ", ".join(domains) + (f" and {more} more (lapsewatch runs show)" if more > 0 else "")


def _notices(notices: dict) -> str:
    told = f"{notices['sent']} sent, {notices['failed']} failed"
    return told + (", not supported by the registry" if notices["unsupported"] else "")


def _unprotected(unprotected: dict) -> str:
    if not unprotected["domains"]:
        return "none"
    tlds = ", ".join(f".{entry['tld']}" for entry in unprotected["top_tlds"])
    return f"{unprotected['domains']} ({unprotected['addresses']} addresses; {tlds}): no provider serves them"


class _Progress:
    """A progress bar on a terminal; a line now and then otherwise."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last = (-1, -1)

    def update(self, done: int, total: int) -> None:
        if (done, total) == self._last or total <= 0:
            return
        self._last = (done, total)
        if self.tty:
            width = 30
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\rchecking [{bar}] {done}/{total} shards")
            self.stream.flush()
        elif done == total or done % max(1, total // 10) == 0:
            self.stream.write(f"checking: {done}/{total} shards\n")

    def log(self, line: str) -> None:
        if self.tty and self._last != (-1, -1):
            self.stream.write("\n")
        self.stream.write(line + "\n")

    def done(self) -> None:
        if self.tty and self._last != (-1, -1):
            self.stream.write("\n")
        self.stream.flush()
