"""Benchmark 3 (and 7): what one daily sweep at 1,000,000 addresses (10,000,000) costs on AWS.

A model, not a bill: the request counts, sizes and durations measured by benchmarks 1 and 2,
the template's own settings (memory sizes, batch size, event sources), and us-east-1 list
prices. Free tiers are left out. Two days are priced: one that checks every domain (the first
sweep, or `check_all`), and a typical day under the expiry-aware schedule.

    .venv/bin/python -m bench cost
    .venv/bin/python -m bench cost --addresses 10000000   # from benchmark 6's dispatcher
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import TEMPLATE, Result, Table, Target, command

# us-east-1 list prices, x86, as published on 2025-06-01 (DynamoDB on-demand after the
# 1 November 2024 price cut). Free tiers are not subtracted.
PRICES_AS_OF = "2025-06-01"
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6  # standard queue; each 64 KB of a request's payload is one request
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on-demand read request unit
DYNAMODB_STORAGE_GB_MONTH = 0.25
DYNAMODB_PITR_GB_MONTH = 0.20  # continuous backups: the template enables point-in-time recovery
SECRETS_API_CALL = 0.05 / 10_000
SECRET_MONTH = 0.40
LOGS_INGESTED_GB = 0.50  # CloudWatch Logs; EMF metrics arrive as log lines
CUSTOM_METRIC_MONTH = 0.30  # first 10,000 metrics, metered by the hour in which they are sent
XRAY_TRACE = 5.00 / 1e6  # traces recorded (the template sets Tracing: Active)
HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4

# Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB.
MB_PER_VCPU = 1769
# Lambda's own log lines per invocation (START, END, REPORT with X-Ray's segment id).
PLATFORM_LOG_BYTES = 420
# Long polling, as Lambda's SQS event sources do it when a queue is idle: five pollers, each
# asking once per 20 s wait, all day.
IDLE_POLLERS = 5
LONG_POLL_SECONDS = 20
# Assumptions for the parts no benchmark runs.
FINAL_SECONDS = 10.0  # the final step: read the shards' records, a few unverify calls, a summary
FINAL_LOG_BYTES = 8_000
DISPATCHER_LOG_BYTES = 4_000
METRICS_ONCE_A_DAY = 20  # run summary and dispatcher metrics, sent in one hour
METRICS_WHILE_CHECKING = 2  # ShardsReceived, DomainsLookedUp: every hour the checkers run
SHARD_RECORD_BYTES = 300
SECRETS_CALLS = 2  # the registry token, read by the dispatcher and by the final step (RDAP needs none)
DEFAULT_DUE_FRACTION = 1 / 7
# The most a day may cost, by the registry's size: (every domain checked, a typical day).
BUDGETS = {1_000_000: (0.50, 0.50), 10_000_000: (3.00, 0.75)}
# How long a day's checks may take, to recommend a CheckerMaxConcurrency: a typical day within
# an hour of the dispatch, a day that checks every domain (the first, or check_all) within half
# a day, both well inside the daily cycle and the check queue's retention.
TYPICAL_DAY_CHECKS_SECONDS = 3600
EVERY_DOMAIN_CHECKS_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Template:
    """What template.yaml sets that the bill depends on."""

    dispatcher_mb: int
    checker_mb: int
    final_mb: int
    batch_size: int
    checker_concurrency: int
    sqs_event_sources: int
    rdap_rate: float

    @classmethod
    def load(cls) -> Template:
        from lapsewatch_tools.local.aws import load_template

        template = load_template(TEMPLATE)
        resources, defaults = template["Resources"], template["Globals"]["Function"]
        parameters = template["Parameters"]

        def memory(name: str) -> int:
            return int(resources[name]["Properties"].get("MemorySize", defaults["MemorySize"]))

        sources = [
            event
            for resource in resources.values()
            if resource["Type"] == "AWS::Serverless::Function"
            for event in resource["Properties"].get("Events", {}).values()
            if event["Type"] == "SQS"
        ]
        shards = resources["CheckerFunction"]["Properties"]["Events"]["Shards"]["Properties"]
        return cls(
            dispatcher_mb=memory("DispatcherFunction"),
            checker_mb=memory("CheckerFunction"),
            final_mb=memory("FinalFunction"),
            batch_size=int(shards["BatchSize"]),
            checker_concurrency=int(parameters["CheckerMaxConcurrency"]["Default"]),
            sqs_event_sources=len(sources),
            rdap_rate=float(parameters["RdapRatePerServer"]["Default"]),
        )


@dataclass(frozen=True)
class Day:
    name: str
    checked: int  # domains looked up
    checker_seconds_per_domain: float
    dispatcher_run: str  # which of benchmark 1's runs this day's dispatcher is like


def lambda_seconds(cpu: float, wall: float, memory_mb: int) -> float:
    """A run measured here with a whole core, stretched to the CPU share `memory_mb` gets."""
    share = min(1.0, memory_mb / MB_PER_VCPU)
    return cpu / share + max(0.0, wall - cpu)


def price_day(
    day: Day, *, dispatcher: dict, checker: dict, template: Template
) -> list[tuple[str, str, float]]:
    """(service, item, dollars) for one day's sweep."""
    run = dispatcher[day.dispatcher_run]
    requests = run["requests"]
    distinct = run["started"]["distinct"]
    shard_size = run["shard_size"]
    per_shard = checker["storage"]["per_shard"]
    item_bytes = checker["storage"]["domain_item_bytes"]
    shards = math.ceil(day.checked / shard_size)
    invocations = math.ceil(shards / template.batch_size)
    # The dispatcher lists and reduces every domain whatever is due; it sends only the due ones.
    sent_fraction = day.checked / run["started"]["dispatched"]
    dispatcher_seconds = lambda_seconds(
        run["process_cpu_seconds"], run["wall_seconds"], template.dispatcher_mb
    )
    checker_seconds = day.checked * day.checker_seconds_per_domain
    sweep_hours = checker_seconds / template.checker_concurrency / 3600

    lines = []

    def add(service: str, item: str, dollars: float) -> None:
        lines.append((service, item, dollars))

    add(
        "Lambda",
        f"{2 + invocations:,} requests (dispatcher, {invocations:,} checker, final)",
        (2 + invocations) * LAMBDA_REQUEST,
    )
    add(
        "Lambda",
        f"dispatcher {dispatcher_seconds:,.0f} s x {template.dispatcher_mb / 1024:g} GB",
        dispatcher_seconds * template.dispatcher_mb / 1024 * LAMBDA_GB_SECOND,
    )
    add(
        "Lambda",
        f"checker {checker_seconds:,.0f} s x {template.checker_mb / 1024:g} GB",
        checker_seconds * template.checker_mb / 1024 * LAMBDA_GB_SECOND,
    )
    add(
        "Lambda",
        f"final {FINAL_SECONDS:g} s x {template.final_mb / 1024:g} GB (assumed)",
        FINAL_SECONDS * template.final_mb / 1024 * LAMBDA_GB_SECOND,
    )

    sends = math.ceil(requests["sqs_chunks"] * sent_fraction)
    polls = 2 * invocations + 2  # the event sources' receive and delete for each batch; the final's
    idle = template.sqs_event_sources * IDLE_POLLERS * 86_400 // LONG_POLL_SECONDS
    add("SQS", f"{sends:,} SendMessageBatch from the dispatcher", sends * SQS_REQUEST)
    add("SQS", f"{polls:,} receives and deletes for the checkers' batches", polls * SQS_REQUEST)
    add("SQS", f"{idle:,} idle long polls ({template.sqs_event_sources} event sources)", idle * SQS_REQUEST)

    writes = shards * per_shard["write_units"] + requests["dynamodb_write_units"] + 2
    # The daily scan of the domain table reads every item, in 4 KB units, eventually consistent.
    scan = distinct * item_bytes / 4096 * 0.5
    reads = (
        shards * per_shard["read_units"]
        + requests["dynamodb_read_units"]
        - 0.5 * requests["calls"].get("dynamodb.Scan", 0)  # priced from the table's size instead
        + scan
        + shards * SHARD_RECORD_BYTES / 4096 * 0.5
    )
    add(
        "DynamoDB",
        f"{writes:,.0f} write units ({per_shard['write_units']:.0f} a shard)",
        writes * DYNAMODB_WRITE_UNIT,
    )
    add(
        "DynamoDB",
        f"{reads:,.0f} read units (scan of {distinct:,} domains included)",
        reads * DYNAMODB_READ_UNIT,
    )
    stored_gb = distinct * item_bytes / 1e9
    add(
        "DynamoDB",
        f"storage and PITR, {stored_gb:.2f} GB, a day's share",
        stored_gb * (DYNAMODB_STORAGE_GB_MONTH + DYNAMODB_PITR_GB_MONTH) / DAYS_PER_MONTH,
    )

    add("Secrets Manager", f"{SECRETS_CALLS} GetSecretValue calls", SECRETS_CALLS * SECRETS_API_CALL)
    add("Secrets Manager", "the registry token's secret, a day's share", SECRET_MONTH / DAYS_PER_MONTH)

    log_bytes = (
        shards * per_shard["log_bytes"]
        + (invocations + 2) * PLATFORM_LOG_BYTES
        + DISPATCHER_LOG_BYTES
        + FINAL_LOG_BYTES
    )
    add(
        "CloudWatch",
        f"{log_bytes / 1e6:.1f} MB of logs and EMF metrics ingested",
        log_bytes / 1e9 * LOGS_INGESTED_GB,
    )
    metric_hours = METRICS_ONCE_A_DAY + METRICS_WHILE_CHECKING * max(1, math.ceil(sweep_hours))
    add(
        "CloudWatch",
        f"{metric_hours} custom metric-hours (EMF)",
        metric_hours * CUSTOM_METRIC_MONTH / HOURS_PER_MONTH,
    )
    add("X-Ray", f"{invocations + 2:,} traces (every invocation, at most)", (invocations + 2) * XRAY_TRACE)
    return lines


@dataclass(frozen=True)
class Checker:
    """How fast one checker instance goes, from benchmark 2, and what holds it."""

    budget: float  # the share of its per-server rate budget the checker function reaches
    rate: float  # domains/s against benchmark 2's registries
    cpu_per_domain: float  # seconds, on moto, with a whole core
    per_domain: float  # seconds an instance spends a domain: lookups or CPU, the slower
    cpu_share: float  # of a vCPU, for the checker's memory


def checker_speed(checker: dict, template: Template) -> Checker:
    """A checker is held by whichever is slower: its lookups, at the share of its rate budget its
    function reaches in benchmark 2 (its DynamoDB writes made meanwhile, by the same pool), or
    its CPU time on moto, stretched to the share of a vCPU its memory buys."""
    storage, function = checker["storage"], checker["phases"]["function"]
    share = min(1.0, template.checker_mb / MB_PER_VCPU)
    budget = function["share_of_budget"]
    rate = budget * checker["client_rate"] * checker["registries"]
    cpu_per_domain = storage["cpu_seconds"] / storage["domains"]
    return Checker(budget, rate, cpu_per_domain, max(1 / rate, cpu_per_domain / share), share)


def _due(simulator: dict | None) -> tuple[float, str]:
    if simulator is None:
        return DEFAULT_DUE_FRACTION, "assumed (the simulator was not run)"
    return simulator["lapsewatch"]["lookups_of_daily"], (
        f"the lifecycle simulator's figure ({simulator['parameters']['domains']:,} domains over "
        f"{simulator['parameters']['days']} days: lookups / (domains x days))"
    )


def run(dispatcher: dict, checker: dict, simulator: dict | None = None) -> Result:
    template = Template.load()
    distinct = dispatcher["first"]["started"]["distinct"]
    addresses = dispatcher["first"]["addresses"]
    speed = checker_speed(checker, template)
    due, due_source = _due(simulator)
    days = [
        Day("every domain", distinct, speed.per_domain, "first"),
        Day(f"expiry-aware ({due:.1%} due)", round(distinct * due), speed.per_domain, "steady"),
    ]
    priced = [price_day(day, dispatcher=dispatcher, checker=checker, template=template) for day in days]
    totals = [sum(dollars for _, _, dollars in lines) for lines in priced]
    # At the template's default RDAP rate a checker waits on the busiest registry instead: .com
    # holds `com_share` of the domains and is asked at `rdap_rate` a second per checker (of which
    # the function uses `budget`).
    slow = _com_share() / (template.rdap_rate * speed.budget)
    slow_days = [Day(day.name, day.checked, max(speed.per_domain, slow), day.dispatcher_run) for day in days]
    slow_totals = [
        sum(d for _, _, d in price_day(day, dispatcher=dispatcher, checker=checker, template=template))
        for day in slow_days
    ]
    witness_table, witness_note, witness_figures = dns_witness_cost(distinct, due)
    fleet_table, fleet_figures = fleet(slow_days, template, speed)
    budgets = dict(zip([d.name for d in days], BUDGETS.get(addresses, BUDGETS[min(BUDGETS)]), strict=True))
    scaled = addresses != min(BUDGETS)
    return Result(
        name="cost" if not scaled else f"cost-{addresses // 1_000_000}m",
        title=f"Cost per daily sweep at {addresses:,} addresses",
        command=command("cost") + (f" --addresses {addresses}" if scaled else ""),
        tables=[
            _bill(days, priced, totals),
            _sensitivity(checker, template, speed, slow, totals, slow_totals, days),
            fleet_table,
            witness_table,
        ],
        targets=[
            Target(
                f"cost per day, {day.name}",
                f"${total:.3f}",
                f"≤ ${budgets[day.name]:.2f}",
                total <= budgets[day.name],
            )
            for day, total in zip(days, totals, strict=True)
        ],
        notes=[*_notes(template, checker, speed, distinct, due, due_source, slow), witness_note],
        figures={
            "due_fraction": due,
            "totals": dict(zip([d.name for d in days], totals, strict=True)),
            "checker_seconds_per_domain": speed.per_domain,
            "default_rate_totals": dict(zip([d.name for d in days], slow_totals, strict=True)),
            "dns_witness": witness_figures,
            "fleet": fleet_figures,
        },
    )


def _bill(days: list[Day], priced: list[list[tuple[str, str, float]]], totals: list[float]) -> Table:
    rows = []
    for index, (service, item, _) in enumerate(priced[0]):
        rows.append([service, item, *(f"${lines[index][2]:.4f}" for lines in priced), priced[1][index][1]])
    rows.append(["**total**", "", *(f"**${total:.3f}**" for total in totals), ""])
    headers = ["service", f"item ({days[0].name})", *(day.name for day in days), f"item ({days[1].name})"]
    return Table(headers, rows)


def _sensitivity(
    checker: dict,
    template: Template,
    speed: Checker,
    slow: float,
    totals: list[float],
    slow_totals: list[float],
    days: list[Day],
) -> Table:
    rows = [
        [
            f"benchmark 2's registries: {checker['registries']} at {checker['client_rate']:g}/s each, "
            f"{speed.budget:.0%} of it used",
            f"{1 / speed.per_domain:.0f}",
            *(f"${t:.3f}" for t in totals),
        ],
        [
            f"template default: RdapRatePerServer {template.rdap_rate:g}/s, "
            f".com {_com_share():.0%} of domains",
            f"{1 / max(speed.per_domain, slow):.1f}",
            *(f"${t:.3f}" for t in slow_totals),
        ],
    ]
    return Table(
        ["checker", "domains/s per instance", *(day.name for day in days)],
        rows,
        title="Total per day, by what holds the checker",
    )


def fleet(days: list[Day], template: Template, speed: Checker) -> tuple[Table, dict]:
    """How long a day's checks take with the checker fleet at the template's defaults, against
    the RDAP servers' limits, and the CheckerMaxConcurrency that would end them in time.

    Every instance asks each RDAP server at most RdapRatePerServer a second, so the fleet asks
    one server at most CheckerMaxConcurrency times that: the summed limit. The busiest server
    (.com) holds `com_share` of the domains and reaches its limit first; the fleet then checks
    `concurrency x rate / com_share` domains a second (of which each instance uses `budget`)."""
    com_share = _com_share()

    def seconds(day: Day, concurrency: int) -> float:
        return day.checked * day.checker_seconds_per_domain / concurrency

    limits = (TYPICAL_DAY_CHECKS_SECONDS, EVERY_DOMAIN_CHECKS_SECONDS)
    every, typical = days
    needed = max(math.ceil(seconds(typical, 1) / limits[0]), math.ceil(seconds(every, 1) / limits[1]), 2)
    rows = []
    for concurrency in sorted({template.checker_concurrency, needed, 2 * needed}):
        com_load = concurrency * template.rdap_rate * speed.budget
        rows.append(
            [
                f"{concurrency}"
                + (" (template default)" if concurrency == template.checker_concurrency else "")
                + (" (recommended)" if concurrency == needed else ""),
                f"{concurrency * template.rdap_rate:g}/s",
                f"{com_load:.1f}/s ({speed.budget:.0%})",
                f"{com_load / com_share:.0f}/s",
                *(_duration(seconds(day, concurrency)) for day in (typical, every)),
            ]
        )
    table = Table(
        [
            "CheckerMaxConcurrency",
            "summed limit, per RDAP server",
            "lookups/s at .com (of the limit)",
            "domains/s, fleet",
            f"{typical.name}: {typical.checked:,} checks",
            f"{every.name}: {every.checked:,} checks",
        ],
        rows,
        title=f"A day's checks with the template's RdapRatePerServer ({template.rdap_rate:g}/s per checker)",
    )
    figures = {
        "recommended_concurrency": needed,
        "default_concurrency": template.checker_concurrency,
        "typical_seconds_at_default": seconds(typical, template.checker_concurrency),
        "every_domain_seconds_at_default": seconds(every, template.checker_concurrency),
    }
    return table, figures


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _notes(
    template: Template,
    checker: dict,
    speed: Checker,
    distinct: int,
    due: float,
    due_source: str,
    slow: float,
) -> list[str]:
    storage, function = checker["storage"], checker["phases"]["function"]
    return [
        f"Prices: us-east-1 list prices as of {PRICES_AS_OF}: Lambda (x86) $0.0000166667 a GB-s and "
        "$0.20 a million requests; SQS $0.40 a million requests (64 KB chunks); DynamoDB on-demand "
        "$0.625 a million write and $0.125 a million read request units (the prices after the "
        "1 November 2024 cut); Secrets Manager $0.05 per 10,000 calls and $0.40 a secret a month; "
        "CloudWatch Logs $0.50 a GB ingested and $0.30 a custom metric a month, metered by the hour; "
        "X-Ray $5 a million traces. Free tiers are not subtracted.",
        f"Domains checked: all {distinct:,} distinct domains of the dispatcher benchmark, or {due:.1%} "
        f"of them: {due_source}.",
        f"Dispatcher: the dispatcher benchmark's CPU time stretched to the share of a vCPU that "
        f"{template.dispatcher_mb} MB buys ({min(1, template.dispatcher_mb / MB_PER_VCPU):.2f}), "
        "plus its time waiting on SQS and DynamoDB; the first run for the day that checks every "
        "domain, the steady-state run (its scan included) for the typical day, its SQS sends scaled "
        "to the domains due.",
        f"Checker: {speed.per_domain * 1000:.1f} ms a domain, the slower of its lookups and its CPU "
        f"time. Lookups: benchmark 2's checker function uses {speed.budget:.1%} of its per-server rate "
        f"budget ({function['batch_size']} shards an invocation in one pool), here "
        f"{checker['registries']} registries at {checker['client_rate']:g}/s each: {speed.rate:.0f} "
        f"domains/s, {1000 / speed.rate:.2f} ms a domain, its DynamoDB writes made meanwhile. CPU: "
        f"{speed.cpu_per_domain * 1000:.2f} ms a domain (the function on moto, its writes included) on "
        f"the {speed.cpu_share:.2f} vCPU that {template.checker_mb} MB buys. {template.batch_size} "
        "shards an invocation (BatchSize).",
        "DynamoDB: benchmark 2's write and read units a shard, and a daily scan of every domain item "
        f"({storage['domain_item_bytes']:.0f} bytes on average, as the checker writes them) on both "
        "days.",
        f"Assumed, not measured: the final step ({FINAL_SECONDS:g} s, its shard records read), "
        f"the dispatcher's and final step's log bytes, {IDLE_POLLERS} idle long-pollers per SQS event "
        "source, and X-Ray tracing every invocation (its default sampling traces fewer).",
        f"The second table prices the same days with the template's default RdapRatePerServer "
        f"({template.rdap_rate:g}/s per server per checker): a checker then waits on the busiest "
        f"registry, .com with {_com_share():.0%} of the domains (the dispatcher benchmark's mix), of "
        f"whose budget it uses {speed.budget:.0%}: about {slow * 1000:.0f} ms a domain.",
        "The third table: the checker fleet at the template's RdapRatePerServer, at the template's "
        "CheckerMaxConcurrency and at the smallest that ends a typical day's checks within "
        f"{TYPICAL_DAY_CHECKS_SECONDS // 3600} h and a day that checks every domain within "
        f"{EVERY_DOMAIN_CHECKS_SECONDS // 3600} h (recommended; and twice that). The summed limit is "
        "what the fleet may ask of one RDAP server (instances x rate); .com, the busiest, reaches it "
        "first and holds the fleet, the other servers staying under theirs. More instances shorten "
        "the day without changing its cost (each domain takes an instance as long), but multiply the "
        "load on every server: raise CheckerMaxConcurrency only as far as the registries' published "
        "limits allow.",
    ]


def dns_witness_cost(distinct: int, due: float) -> tuple[Table, str, dict]:
    """The DNS witness's share of a typical day's lookups: it is asked only when a first lookup
    comes out unsafe, so its queries follow the lapses, not the domains. Queries per witness
    lookup are measured against the loopback root and TLD servers (a signed .com-like zone with
    opt-out NSEC3, and co.uk under uk, one zone cut more); lapses a day are the simulator's
    population shares of lapsing and early-deleted domains, spread over a year."""
    from lapsewatch.dns.roots import build_witness, parse_roots
    from lapsewatch_tools.local.dns_server import LoopbackDns
    from lapsewatch_tools.simulate.world import DEFAULT_SHARES

    with LoopbackDns() as server, tempfile.TemporaryDirectory(prefix="lapsewatch-bench-") as scratch:
        server.add_zone(".")
        server.add_zone("com", nsec3=True, opt_out=True)
        server.add_zone("uk")
        server.add_zone("co.uk", signed=False)
        anchor = server.trust_anchor_file(Path(scratch) / "root.ds")
        witness = build_witness(parse_roots(server.root), anchor, allow_loopback=True)
        per_lookup = {}
        for domain in ("lapsed.com", "lapsed.co.uk"):
            before = sum(server.queries.values())
            witness.delegation(domain)
            per_lookup[domain] = sum(server.queries.values()) - before
    lapses_a_day = distinct * (DEFAULT_SHARES.lapsed + DEFAULT_SHARES.deleted_early) / 365
    queries_a_day = lapses_a_day * per_lookup["lapsed.com"]
    status_lookups = distinct * due + lapses_a_day  # the lapses' confirming lookups
    share = queries_a_day / (status_lookups + queries_a_day)
    table = Table(
        ["DNS witness", "a typical day"],
        [
            [
                "queries per witness lookup (.com, .co.uk)",
                f"{per_lookup['lapsed.com']}, {per_lookup['lapsed.co.uk']}",
            ],
            ["witness lookups (first lookups that come out unsafe)", f"{lapses_a_day:,.0f}"],
            ["DNS queries per daily sweep", f"{queries_a_day:,.0f}"],
            ["status lookups per daily sweep", f"{status_lookups:,.0f}"],
            ["DNS queries, share of all lookups", f"{share:.2%}"],
        ],
        title="The DNS witness's cost (it is asked on the unsafe path only)",
    )
    note = (
        f"DNS witness: {per_lookup['lapsed.com']} queries per witness lookup (the root's and the TLD's "
        "DNSKEY sets, then the NS query at each; one or two more per zone cut, as for .co.uk), measured "
        "against the loopback servers; asked only when a first lookup comes out unsafe, about "
        f"{lapses_a_day:,.0f} domains a day ({DEFAULT_SHARES.lapsed:.0%} lapsing and "
        f"{DEFAULT_SHARES.deleted_early:.0%} deleted early a year, the simulator's shares). DNS queries "
        "cost no AWS charge beyond the checker's few milliseconds waiting on them."
    )
    figures = {"queries_per_lookup": per_lookup, "queries_a_day": queries_a_day, "share_of_lookups": share}
    return table, note, figures


def _com_share() -> float:
    """The share of .com among the company domains benchmark 1's registry double makes."""
    from bench.registry_double import SUFFIXES

    return SUFFIXES["com"] / sum(SUFFIXES.values())
