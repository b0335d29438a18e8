import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

# Tests never reach AWS: fake credentials, one region, before anything builds a client.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LapsewatchTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "lapsewatch")

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
