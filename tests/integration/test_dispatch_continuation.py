"""A dispatch continued over many invocations sends exactly what one invocation sends: the same
shards, numbered alike, with the same domains, counts and dates (benchmark 6 proves it at ten
million addresses)."""

import re

import pytest

from lapsewatch.sweep.messages import Shard
from lapsewatch.sweep.segments import parallel_pages
from sweep_harness import user

pytestmark = pytest.mark.integration


def _recording(dispatcher) -> list[tuple[int, str]]:
    """Every shard the dispatcher sends, as (number, body without its run id)."""
    sent: list[tuple[int, str]] = []
    send = dispatcher.queue.send

    def record(shards):
        shards = list(shards)
        sent.extend((s.number, re.sub(r'"run_id":"[^"]*"', "", s.to_body())) for s in shards)
        return send(shards)

    dispatcher.queue.send = record
    return sent


def test_a_dispatch_continued_in_many_invocations_sends_the_shards_of_one_invocation(sweep):
    users = [
        user(f"u{i}", f"u{i}@company{i:03d}.example", f"2020-0{1 + i % 9}-15T00:00:00Z") for i in range(150)
    ]
    # The same domains again under other email domains, later and earlier, in other cases.
    users += [
        user(f"v{i}", f"v{i}@Mail.Company{i:03d}.example", "2019-05-01T00:00:00Z") for i in range(0, 150, 7)
    ]
    users += [
        user(f"w{i}", f"w{i}@{letter}{i}.example", "2021-01-01T00:00:00Z") for i, letter in enumerate("zyx0")
    ]
    sweep.seed(*users)
    runtime = sweep.configure(LAPSEWATCH_PAGE_SIZE="20", LAPSEWATCH_SHARD_SIZE="3")
    dispatcher = runtime.dispatcher
    sent = _recording(dispatcher)

    whole = dispatcher.start("run-whole")
    in_one = list(sent)
    sent.clear()
    # Every invocation believes it is about to time out: one page, or one chunk of shards, each.
    step = dispatcher.start("run-continued", time_left=lambda: 0)
    invocations = 1
    while step["status"] == "continuing":
        step = dispatcher.resume("run-continued", step["generation"], time_left=lambda: 0)
        invocations += 1

    assert invocations > 8  # 154 email domains at 20 a page, then 52 shards 100 at a time
    assert sent == in_one
    assert len(in_one) == whole["shards"] == step["shards"] == 52
    assert {k: step[k] for k in ("listed", "distinct", "dispatched")} == {
        k: whole[k] for k in ("listed", "distinct", "dispatched")
    }
    domains = [d for _, body in in_one for d in Shard.from_body(body.replace(",,", ',"run_id":"x",')).domains]
    first = next(d for d in domains if d.domain == "company000.example")
    assert first.addresses == 2 and len(first.email_domains) == 2


def test_a_parallel_scan_hands_over_every_page_and_its_readers_errors():
    def read_page(segment, start_key):
        page = (start_key or 0) + 1
        return [f"{segment}-{page}"], (page if page < 3 else None)

    assert sorted(n for page in parallel_pages(read_page, 4) for n in page) == sorted(
        f"{s}-{p}" for s in range(4) for p in (1, 2, 3)
    )

    def failing(segment, start_key):
        if segment == 2:
            raise OSError("the table is gone")
        return ["x"], start_key

    with pytest.raises(OSError, match="the table is gone"):
        list(parallel_pages(failing, 3))
