"""A run's progress: the one place that decides its checks are over and starts its final step."""

from __future__ import annotations

from collections.abc import Callable

from lapsewatch.sweep.records import RunRecord, RunStatus
from lapsewatch.sweep.store import RunStore


def finish_if_complete(run: RunRecord, store: RunStore, start_final: Callable[[str], None]) -> bool:
    """Start the final step once every shard of the run is done or dead, exactly once."""
    if run.status != RunStatus.CHECKING or run.shard_count is None:
        return False
    if run.shards_done + run.shards_dead < run.shard_count:
        return False
    if not store.transition(run, (RunStatus.CHECKING,), RunStatus.FINALIZING):
        return False
    start_final(run.run_id)
    return True
