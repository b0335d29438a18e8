"""`lapsewatch run`: one whole daily sweep on this machine, through the Lambda handlers.

AWS is moto's server on loopback with the template's queues and tables; the dispatcher gets a
schedule event, an event source mapping feeds the checkers SQS batches, and the final function
runs when the shards are done. With no --registry-url the sweep runs on the demo: the reference
registry with the demo data set, and (with no --rdap-bootstrap) loopback stand-ins for the RDAP,
WHOIS and DNS servers the demo's domains would reach (`demo_world`).
"""

from __future__ import annotations

import io
import json
import logging
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
from typing import TextIO, cast

import boto3

from lapsewatch.registry.retry import retries_log
from lapsewatch.sweep.records import RunStatus, run_id_for
from lapsewatch.sweep.settings import SettingsError, SweepSettings
from lapsewatch.sweep.store import RunStore
from lapsewatch_tools.bundled import bundled
from lapsewatch_tools.decisions import domain_rows
from lapsewatch_tools.local import environ
from lapsewatch_tools.local.aws import LocalAws
from lapsewatch_tools.local.demo_world import DEMO_DATABASE, DemoWorld, demo_world
from lapsewatch_tools.local.lambdas import EventSourceMapping, LocalFunction
from lapsewatch_tools.progress import RunProgress
from lapsewatch_tools.report import domain_sections, for_terminal, summary_table

FINISHED = (RunStatus.DONE, RunStatus.HELD, RunStatus.DISCARDED)
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
    options = _sweep_options(args, state_dir)
    if (refusal := _whois_refusal(options)) is not None:
        print(f"lapsewatch run: {refusal}", file=sys.stderr)
        return 2
    if not args.state:
        shutil.rmtree(state_dir, ignore_errors=True)
    progress = RunProgress(sys.stderr)
    try:
        finished = run_local_sweep(options, progress=progress.update, log=progress.log)
    except SweepError as exc:
        progress.done()
        print(f"lapsewatch run: {exc}", file=sys.stderr)
        return 1
    except Backdated as exc:
        progress.done()
        print(f"lapsewatch run: error: {exc}", file=sys.stderr)
        return 2
    progress.done()
    _report(finished, state_dir, as_json=args.json)
    return 0


def _sweep_options(args, state_dir: Path) -> SweepOptions:
    return SweepOptions(
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


def _whois_refusal(options: SweepOptions) -> str | None:
    """Why the WHOIS options are refused, said before the run: the functions would refuse them
    at their cold start."""
    if not (options.whois_table or options.whois_servers):
        return None
    from lapsewatch.providers.factory import ProviderSettings

    try:
        ProviderSettings.from_env(
            {}, whois_table=options.whois_table, whois_servers=options.whois_servers, credentials_later=True
        )
    except ValueError as exc:
        return str(exc)
    return None


def _report(finished: FinishedRun, state_dir: Path, *, as_json: bool) -> None:
    """The run's summary and its domains, one row each, then the commands to look at it. With
    --json, standard output holds JSON Lines alone (the domains' rows, then the summary); the
    tables go to standard error."""
    summary, tables = finished.summary, sys.stderr if as_json else sys.stdout
    print(for_terminal(summary_table(summary), tables), file=tables)
    if finished.domains:
        print(f"\n{for_terminal(domain_sections(finished.domains), tables)}", file=tables)
    held = "HELD: it waits for an operator; " if summary["held"] else ""
    print(f"\n{held}the run's state is kept in {state_dir}; next:", file=tables)
    for step in next_steps(summary, state_dir):
        print(f"  {step}", file=tables)
    if as_json:
        for row in finished.domains:
            print(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
        print(json.dumps(summary, ensure_ascii=False, separators=(",", ":")), flush=True)


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
) -> FinishedRun:
    """Run one sweep: its summary, and its domains' rows."""
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
        log("listing the registry's email domains")
        try:
            started = functions["DispatcherFunction"].invoke(_schedule_event(occurrence, options.check_all))
        except Exception as exc:
            raise SweepError(f"the dispatcher failed: {exc}") from exc
        run_id = started["run_id"]
        log(f"run {run_id}: {started.get('shards', 'more')} shards of domains to check")
        summary = _drive(run_id, shards, [finals, continuations], progress)
        return FinishedRun(summary, domain_rows(local.store(), run_id))


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A local run's summary, and a row for each domain it decided about (`decisions`)."""

    summary: dict
    domains: list[dict]


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
    retries: Callable[[str], None] | None = None,
) -> Iterator[LocalFunctions]:
    """Local AWS (with the state of `options.state_dir`), the registry (the demo's unless
    `options.registry_url`; none without `with_registry`), and every function loaded with its
    deployed environment. The functions log as in CloudWatch, to `<log dir>/<log_name>.log`:
    stdout is theirs meanwhile, or (without `capture_stdout`) inside `LocalFunctions.quietly()`.
    Each retry of a registry call is told to `retries` (`log` by default) as it happens."""
    root = root or project_root()
    _check_options(options, with_registry=with_registry, demo_must_exist=demo_must_exist)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lapsewatch-run-")))
        world = _registry_world(stack, options, workdir, with_registry=with_registry, log=log)
        log("starting local AWS and the functions")
        aws = stack.enter_context(LocalAws(root / "template.yaml", state_dir=options.state_dir))
        environment = aws.function_environment("DispatcherFunction")
        # The demo's stand-ins first: what the command's own options say wins over them.
        environment.update(world.environment)
        environment.update(_options_environment(options, world))
        environment.update(_settings_environment(environment))
        stack.enter_context(environ.environment(environment))
        log_path, log_file = _open_log(stack, options, workdir, log_name, log)
        # The functions log (JSON lines, as in CloudWatch) to a file; the terminal shows progress.
        if capture_stdout:
            stack.enter_context(redirect_stdout(log_file))
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        functions = {name: LocalFunction(aws, name, root) for name in FUNCTIONS}
        for function in functions.values():
            function.load()
        # After the loads: a function's cold start hands the package's loggers to Powertools.
        stack.enter_context(_retries_told(retries or log))
        yield LocalFunctions(
            aws=aws,
            functions=functions,
            registry_url=world.registry_url,
            log_path=log_path,
            log_file=log_file,
        )


@contextmanager
def _retries_told(log: Callable[[str], None]) -> Iterator[None]:
    """Each retry of a registry call the functions make, as a line for the operator: an
    unreachable registry is seconds of retries, never a silent wait."""

    class Told(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log(f"registry: {record.getMessage()}")

    handler = Told(logging.INFO)
    retries_log.addHandler(handler)
    try:
        yield
    finally:
        retries_log.removeHandler(handler)


def _check_options(options: SweepOptions, *, with_registry: bool, demo_must_exist: bool) -> None:
    """Refuse, before anything starts, what the functions could not run with."""
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


def _registry_world(
    stack: ExitStack, options: SweepOptions, workdir: Path, *, with_registry: bool, log: Callable[[str], None]
) -> DemoWorld:
    """The registry the functions call: the one named, or the demo's with its stand-ins for
    whatever the options do not name themselves."""
    if not with_registry:
        # Nothing it runs calls the registry (a discard, a listing): a closed port stands in.
        return DemoWorld("http://127.0.0.1:9", "")
    if options.registry_url is not None:
        return DemoWorld(options.registry_url, options.registry_token or "")
    own_rdap = options.rdap_bootstrap is not None
    own_whois = bool(options.whois_table or options.whois_servers or os.environ.get("LAPSEWATCH_WHOIS_TABLE"))
    world = stack.enter_context(
        demo_world(
            workdir,
            state_dir=options.state_dir,
            with_rdap=not own_rdap,
            # The demo's names never reach a real WHOIS server: with the demo's RDAP, its WHOIS.
            with_whois=not own_rdap and not own_whois,
            with_dns=not own_rdap and options.dns_roots is None,
        )
    )
    log(f"demo registry at {world.registry_url}")
    return world


def _options_environment(options: SweepOptions, world: DemoWorld) -> dict[str, str]:
    """The functions' environment as the command's options set it."""
    environment = {
        "LAPSEWATCH_REGISTRY_URL": world.registry_url,
        "LAPSEWATCH_REGISTRY_TOKEN": world.token,
        "LAPSEWATCH_REGISTRY_TOKEN_SECRET_ARN": "",
        "LAPSEWATCH_DRY_RUN": "true" if options.dry_run else "false",
        # The demo's and the tests' servers speak plain http on loopback; deployed, never.
        "LAPSEWATCH_ALLOW_LOOPBACK_HTTP": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }
    if options.now is not None:
        now = options.now.astimezone(UTC).replace(microsecond=0)
        environment["LAPSEWATCH_LOCAL_NOW"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    named = {
        "LAPSEWATCH_RDAP_BOOTSTRAP": options.rdap_bootstrap,
        "LAPSEWATCH_RDAP_EXTRA": options.rdap_extra,
        "LAPSEWATCH_RDAP_RATE": options.rdap_rate,
        "LAPSEWATCH_WHOIS_TABLE": options.whois_table,
        "LAPSEWATCH_WHOIS_SERVERS": ",".join(options.whois_servers) or None,
        "LAPSEWATCH_PROVIDERS": options.providers,
        "LAPSEWATCH_NOTICE_STAGES": options.notice_stages,
        "LAPSEWATCH_MAX_UNVERIFY": options.max_unverify,
        "LAPSEWATCH_MAX_UNVERIFY_FRACTION": options.max_unverify_fraction,
    }
    environment.update({name: str(value) for name, value in named.items() if value is not None})
    environment.update(_dns_environment(options))
    return environment


def _settings_environment(environment: dict[str, str]) -> dict[str, str]:
    """The sweep's settings as the functions will read them, written back from their one
    declaration: a value they would refuse stops the run here, before any function starts."""
    try:
        # The functions inherit this process's environment (a provider's key, say) beneath it.
        settings = SweepSettings.from_env({**os.environ, **environment})
    except SettingsError as exc:
        raise SweepError(f"the functions' settings: {exc}") from None
    return settings.to_env()


def _open_log(
    stack: ExitStack, options: SweepOptions, workdir: Path, log_name: str, log: Callable[[str], None]
) -> tuple[Path, TextIO]:
    """The functions' log file: in the state's logs/ (or `options.log_dir`), else the workdir's."""
    log_dir = options.log_dir or (options.state_dir / "logs" if options.state_dir else workdir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"cannot write the functions' log in {log_dir}: {exc.strerror}") from None
    if not os.access(log_dir, os.W_OK):
        raise SweepError(f"cannot write the functions' log in {log_dir}: permission denied")
    log_path = log_dir / f"{log_name}.log"
    if log_dir != workdir:
        log(f"the functions' log: {log_path}")
    return log_path, cast(TextIO, stack.enter_context(_LazyLog(log_path)))


class _LazyLog(io.TextIOBase):
    """A log file created at its first line: a command that runs no function (asked about a run
    that does not exist, say) leaves no empty log behind."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            return self._file.write(text)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        super().close()


def _drive(
    run_id: str,
    shards: EventSourceMapping,
    others: list[EventSourceMapping],
    progress: Callable[[int, int], None],
) -> dict:
    """Feed the functions from their queues until the run is finished; its summary."""
    store = RunStore(
        domains_table=os.environ["LAPSEWATCH_DOMAINS_TABLE"], runs_table=os.environ["LAPSEWATCH_RUNS_TABLE"]
    )
    with _Pollers(shards, others) as pollers:
        idle = _IdleWatch(run_id)
        while True:
            run = store.get_run(run_id)
            if run is None:
                raise SweepError(f"run {run_id} was not recorded")
            progress(int(run.shards_done or 0) + int(run.shards_dead or 0), int(run.shard_count or 0))
            if run.status in FINISHED and run.summary:
                return dict(run.summary)
            pollers.raise_any()
            idle.check(run.status, all(mapping.depth() == 0 for mapping in (shards, *others)))
            time.sleep(0.1)


class _Pollers:
    """Threads polling the queues as Lambda's event source mappings do: as many on the shards'
    queue as its maximum concurrency, one on each other queue."""

    def __init__(self, shards: EventSourceMapping, others: list[EventSourceMapping]) -> None:
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        mappings = [shards] * shards.source.max_concurrency + list(others)
        self._threads = [threading.Thread(target=self._poll, args=(m,), daemon=True) for m in mappings]

    def _poll(self, mapping: EventSourceMapping) -> None:
        try:
            while not self._stop.is_set():
                if not mapping.poll_once():
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced by the main thread
            self._errors.append(exc)
            self._stop.set()

    def raise_any(self) -> None:
        if self._errors:
            raise SweepError(f"polling the queues failed: {self._errors[0]!r}")

    def __enter__(self) -> _Pollers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


class _IdleWatch:
    """A run whose queues stay empty for _STALL_SECONDS without it finishing has stalled."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._since: float | None = None

    def check(self, status: str, queues_empty: bool) -> None:
        if not queues_empty:
            self._since = None
            return
        self._since = self._since or time.monotonic()
        if time.monotonic() - self._since > _STALL_SECONDS:
            raise SweepError(f"run {self.run_id} stalled in state {status!r} with its queues empty")


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


def _dns_environment(options: SweepOptions) -> dict[str, str]:
    environment = {}
    if options.dns_witness is not None:
        environment["LAPSEWATCH_DNS_WITNESS"] = "true" if options.dns_witness else "false"
    if options.dns_roots:
        environment["LAPSEWATCH_DNS_ROOT"] = ",".join(options.dns_roots)
    if options.dns_trust_anchor is not None:
        environment["LAPSEWATCH_DNS_TRUST_ANCHOR"] = str(options.dns_trust_anchor)
    return environment
