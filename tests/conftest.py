import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent / "socket_guard"))

import guard

# Nothing a test runs reaches beyond loopback, in this process or any it starts (sitecustomize).
_GUARD_LOG = Path(tempfile.mkdtemp(prefix="lapsewatch-guard-")) / "violations.log"
_GUARD_LOG.touch()
os.environ["LAPSEWATCH_SOCKET_GUARD_LOG"] = str(_GUARD_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(Path(__file__).parent / "socket_guard"), os.environ.get("PYTHONPATH")])
)
guard.install()  # this process records in memory; the processes it starts, in the log

# What the tools keep between runs (`lapsewatch run`'s last run, logs) stays out of the home folder
# and apart for each test worker, which runs its tests one after another.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="lapsewatch-state-")

# Tests never reach AWS: fake credentials, one region, before anything builds a client.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LapsewatchTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "lapsewatch")

# The DNS witness never asks a real name server: every process the tests start resolves from a
# loopback root (signed, denying every name below it) unless a test names servers of its own.
from lapsewatch_tools.local.dns_server import LoopbackDns  # noqa: E402

_DNS = LoopbackDns()
_DNS.add_zone(".")
_DNS.start()
os.environ.update(_DNS.environment(Path(tempfile.mkdtemp(prefix="lapsewatch-dns-")) / "root.ds"))

# Hypothesis's per-example deadline is a timing assertion, which a loaded CI machine breaks.
settings.register_profile("lapsewatch", deadline=None)
settings.load_profile("lapsewatch")


@pytest.fixture
def sweep(tmp_path):
    """A sweep's world: moto with the template's tables and queues, the reference registry, and a
    loopback RDAP server answering for the TLDs `test` and `example` (404 for unknown names)."""
    from lapsewatch_tools.local.aws import LocalAws
    from lapsewatch_tools.local.rdap_server import LoopbackRdap
    from lapsewatch_tools.registry.server import RegistryServer
    from sweep_harness import TEMPLATE, Sweep

    with LocalAws(TEMPLATE) as aws, RegistryServer() as registry, LoopbackRdap() as rdap:
        rdap.add_registry("testreg", tlds=["test", "example"])
        yield Sweep(aws, registry, rdap, rdap.bootstrap_file(tmp_path / "dns.json"))


@pytest.fixture(autouse=True)
def socket_guard():
    """Fails the test if it, or a process it started, tried to reach beyond loopback."""
    before = _GUARD_LOG.stat().st_size
    guard.take_violations()
    yield
    with _GUARD_LOG.open(encoding="utf-8") as log:
        log.seek(before)
        attempts = [*guard.take_violations(), *log.read().splitlines()]
    if attempts:
        pytest.fail(f"the test tried to reach beyond loopback: {sorted(set(attempts))[:5]}")
