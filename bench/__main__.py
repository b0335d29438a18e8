"""Run lapsewatch's benchmarks and write docs/benchmarks.md.

    .venv/bin/python -m bench                      # all of them (what `make bench` runs)
    .venv/bin/python -m bench dispatcher|checker|cost|simulator|seed ...
    .venv/bin/python -m bench dispatcher cost --addresses 10000000   # benchmarks 6 and 7

Each benchmark prints its figures as it finishes. docs/benchmarks.md is rewritten whole; a
benchmark not run this time keeps its section (and its date) from the file as it was, read back
from the results the file carries at its end. The cost model needs benchmarks 1 and 2: with
neither this run's nor the file's figures, it runs them first. It also uses the simulator's
due fraction, so a full run computes the simulator before the cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import ROOT, Result, Target, command

DOC = ROOT / "docs" / "benchmarks.md"
ORDER = ["dispatcher", "checker", "cost", "simulator", "seed", "dispatcher-10m", "cost-10m"]
NUMBERS = {name: number for number, name in enumerate(ORDER, start=1)}
ADDRESSES = 1_000_000
# The benchmarks that run at another size (`--addresses N`), and the names their results take.
SCALABLE = ("dispatcher", "cost")
SCALED = {"dispatcher-10m": ("dispatcher", 10_000_000), "cost-10m": ("cost", 10_000_000)}
_RESULTS = re.compile(r"<!-- bench-results\n(.*?)\n-->", re.S)
SIMULATED_DOMAINS = 10_000
SIMULATED_DAYS = 365
SIMULATION_SEED = 7


def simulator() -> Result:
    """Benchmark 4: the lifecycle simulator (lapsewatch_tools.simulate), when it is there."""
    started = time.perf_counter()
    try:
        from lapsewatch_tools.simulate import simulate
    except ImportError as exc:
        return Result(
            name="simulator",
            title="Lifecycle simulator",
            command=command("simulator"),
            notes=[f"Skipped: lapsewatch_tools.simulate cannot be imported ({exc})."],
            figures={"skipped": True},
        )
    report = simulate(domains=SIMULATED_DOMAINS, days=SIMULATED_DAYS, seed=SIMULATION_SEED)
    data = report.to_dict()
    for policy in ("lapsewatch", "pypi"):
        # Each lapse's warning is for `lapsewatch simulate --json`; the figures keep the counts.
        del data[policy]["lapse_warnings"]
    targets = [
        Target(name.replace("_", " "), "yes" if ok else "no", "yes", ok)
        for name, ok in report.targets.items()
    ]
    return Result(
        name="simulator",
        title="Lifecycle simulator",
        command=command("simulator"),
        blocks=[report.table()],
        targets=targets,
        notes=[
            f"`lapsewatch_tools.simulate.simulate(domains={SIMULATED_DOMAINS:,}, days={SIMULATED_DAYS}, "
            f"seed={SIMULATION_SEED})`, its own error rate and population shares; the lapsewatch column is "
            "the sweep's schedule, the PyPI column the policy it is compared with. Benchmark 3 takes the "
            "share of domains due on a typical day from it.",
        ],
        figures=data,
        seconds=time.perf_counter() - started,
    )


def scaled_name(name: str, addresses: int) -> str:
    """The result's name for benchmark `name` run at `addresses`: "dispatcher-10m" at ten million."""
    if addresses == ADDRESSES or name not in SCALABLE:
        return name
    for scaled, (base, size) in SCALED.items():
        if (base, size) == (name, addresses):
            return scaled
    raise SystemExit(f"no benchmark {name} at {addresses:,} addresses: choose 1000000 or 10000000")


def run(key: str, results: dict[str, Result]) -> Result:
    started = time.perf_counter()
    name, addresses = SCALED.get(key, (key, ADDRESSES))
    if name == "dispatcher":
        from bench import dispatcher

        result = dispatcher.run(addresses)
    elif name == "checker":
        from bench import checker

        result = checker.run()
    elif name == "simulator":
        result = simulator()
    elif name == "seed":
        from bench import seed

        result = seed.run()
    else:
        from bench import cost

        simulated = results.get("simulator")
        result = cost.run(
            results[scaled_name("dispatcher", addresses)].figures,
            results["checker"].figures,
            None if simulated is None or simulated.figures.get("skipped") else simulated.figures,
        )
    result.seconds = time.perf_counter() - started
    result.figures["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return result


# Output ----------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": model,
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
        "Python": platform.python_version(),
        "OS": platform.platform(),
        "commit": commit,
    }


def text_tables(result: Result) -> str:
    from lapsewatch_tools.report import table

    parts = [f"== {NUMBERS[result.name]}. {result.title} ({result.seconds:.0f} s) =="]
    for block in result.tables:
        if block.title:
            parts.append(block.title)
        parts.append(table(block.headers, [[cell.replace("**", "") for cell in row] for row in block.rows]))
    parts += result.blocks
    for target in result.targets:
        parts.append(
            f"{'PASS' if target.passed else 'FAIL'}  {target.name}: {target.measured} (target {target.goal})"
        )
    parts += [f"note: {note}" for note in result.notes if note.startswith("Skipped")]
    return "\n\n".join(parts)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(row) for row in rows)])


def markdown(results: dict[str, Result], host: dict[str, str]) -> str:
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes = max(1, round(sum(result.seconds for result in results.values()) / 60))
    out = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`.venv/bin/python -m bench`) on {written}. Do not edit by hand: "
        "run it again. Each section gives the command that reproduces it alone; `make bench` runs "
        f"them all, in about {minutes} minutes on the machine below.",
        "",
        "## Machine",
        "",
        markdown_table(["", ""], [[name, value] for name, value in host.items()]),
        "",
        "## Targets",
        "",
        markdown_table(
            ["benchmark", "target", "measured", "goal", "result"],
            [
                [
                    f"{NUMBERS[r.name]}. {r.title}",
                    t.name,
                    t.measured,
                    t.goal,
                    "PASS" if t.passed else "**FAIL**",
                ]
                for r in (results[name] for name in ORDER if name in results)
                for t in r.targets
            ],
        ),
    ]
    for name in ORDER:
        result = results.get(name)
        if result is None:
            continue
        out += [
            "",
            f"## {NUMBERS[name]}. {result.title}",
            "",
            f"`{result.command}` — measured {result.figures.get('measured_at', '?')}, "
            f"{result.seconds:.0f} s.",
        ]
        for block in result.tables:
            out.append("")
            if block.title:
                out += [f"**{block.title}**", ""]
            out.append(markdown_table(block.headers, block.rows))
        for text in result.blocks:
            out += ["", "```", text, "```"]
        if result.targets:
            out += [""] + [
                f"- {'PASS' if t.passed else '**FAIL**'}: {t.name} — {t.measured} (target {t.goal})"
                for t in result.targets
            ]
        if result.notes:
            out += ["", "Notes:", ""] + [f"- {note}" for note in result.notes]
    stored = {name: result.to_json() for name, result in results.items()}
    out += ["", "<!-- bench-results", json.dumps(stored, separators=(",", ":")), "-->", ""]
    return "\n".join(out)


def previous() -> dict[str, Result]:
    """The results docs/benchmarks.md carries, for the benchmarks not run this time."""
    try:
        match = _RESULTS.search(DOC.read_text(encoding="utf-8"))
    except OSError:
        return {}
    if not match:
        return {}
    try:
        return {name: Result.from_json(data) for name, data in json.loads(match.group(1)).items()}
    except (ValueError, TypeError):
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", metavar="benchmark", help=f"any of {', '.join(ORDER)} (default: all)"
    )
    parser.add_argument(
        "--addresses",
        type=int,
        default=ADDRESSES,
        help="run dispatcher and cost at this many addresses (1000000, the default, or 10000000)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(ORDER))
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}: choose from {', '.join(ORDER)}")
    wanted = [scaled_name(name, args.addresses) for name in args.names or ORDER]
    results = previous()
    # A cost needs its dispatcher benchmark and benchmark 2; on a full run it waits for the
    # simulator too.
    for cost in ("cost", "cost-10m"):
        if cost in wanted:
            dispatcher = "dispatcher" if cost == "cost" else "dispatcher-10m"
            wanted = [name for name in wanted if name != cost]
            wanted += [name for name in (dispatcher, "checker") if name not in results and name not in wanted]
            wanted.append(cost)
    todo = sorted(wanted, key=lambda name: (name.startswith("cost"), ORDER.index(name)))

    for name in todo:
        print(f"running benchmark {NUMBERS[name]}: {name} …", file=sys.stderr, flush=True)
        results[name] = run(name, results)
        print(text_tables(results[name]) + "\n", flush=True)

    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(markdown(results, machine()), encoding="utf-8")
    failed = [f"{name}: {t.name}" for name in todo for t in results[name].targets if not t.passed]
    print(
        f"wrote {DOC.relative_to(ROOT)}; {len(failed)} target(s) failed"
        + (": " + "; ".join(failed) if failed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
