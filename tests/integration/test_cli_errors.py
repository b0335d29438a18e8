"""What a person reads when a lookup gets no answer, and the command line around it.

Network failures come out in plain words, naming the host ("could not resolve nxdomain.invalid",
"connection refused by 127.0.0.1:PORT"), never urllib3's wrappers; a name that does not resolve
is asked once, not three times; and every such failure stays `unknown`. Then: a pipe closed by
its reader, and `registry serve --demo`. No traffic leaves this machine: `.invalid` is reserved
(RFC 6761), and the in-process tests answer for its resolution themselves.
"""

import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from lapsewatch.lifecycle import Lifecycle
from lapsewatch.providers.rdap import RdapProvider
from lapsewatch.providers.rdap_bootstrap import Bootstrap
from lapsewatch.ratelimit import RateLimiter
from lapsewatch.registry import RegistryClient, TransientRegistryError
from lapsewatch_tools.cli import EXIT_BROKEN_PIPE, main

pytestmark = pytest.mark.integration

UNRESOLVABLE = "nxdomain.invalid"
COMMAND = Path(sys.executable).parent / "lapsewatch"
# What urllib3's and requests' own messages would have shown.
INTERNALS = ("Connection(", "ConnectionPool", "Max retries", "Caused by", "Errno", "object at 0x")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("LAPSEWATCH_PROVIDERS", "LAPSEWATCH_RDAP_BOOTSTRAP", "LAPSEWATCH_RDAP_EXTRA"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def resolutions(monkeypatch):
    """The names looked up, in order; UNRESOLVABLE fails as a resolver says "no such name"."""
    asked = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        if host == UNRESOLVABLE:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def bootstrap_file(tmp_path, *services):
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"version": "1.0", "services": [[[tld], [url]] for tld, url in services]}))
    return path


def provider_for(tmp_path, url, **kwargs):
    provider = RdapProvider(
        Bootstrap.load(bootstrap_file(tmp_path, ("test", url))),
        limiter=RateLimiter(1000),
        allow_loopback_http=True,
        **kwargs,
    )
    provider.http.backoff = 0.01
    return provider


def plain(reason):
    return not any(internal in reason for internal in INTERNALS)


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A name that does not resolve


def test_check_says_which_host_did_not_resolve_and_asks_once(tmp_path, resolutions, capsys):
    bootstrap = bootstrap_file(tmp_path, ("test", f"https://{UNRESOLVABLE}/rdap/"))
    assert main(["check", "--json", "--rdap-bootstrap", str(bootstrap), "example.test"]) == 3
    result = json.loads(capsys.readouterr().out)
    assert result["lifecycle"] == "unknown"  # doubt never unverifies
    assert result["unsafe"] is False
    assert result["error"] == f"could not resolve {UNRESOLVABLE}"
    assert result["reason"] == f"could not tell the state of example.test: could not resolve {UNRESOLVABLE}"
    assert resolutions.count(UNRESOLVABLE) == 1


def test_the_human_table_says_it_too(tmp_path, resolutions, capsys):
    bootstrap = bootstrap_file(tmp_path, ("test", f"https://{UNRESOLVABLE}/rdap/"))
    assert main(["check", "--rdap-bootstrap", str(bootstrap), "someone@example.test"]) == 3
    out = capsys.readouterr().out
    assert f"could not resolve {UNRESOLVABLE}" in out
    assert plain(out), out


def test_a_resolver_that_fails_for_now_is_asked_again(tmp_path, monkeypatch):
    asked = []

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    observation = provider_for(tmp_path, f"https://{UNRESOLVABLE}/rdap/").lookup("example.test")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error == (
        f"could not resolve {UNRESOLVABLE}: temporary failure in name resolution; gave up after 3 tries"
    )
    assert asked == [UNRESOLVABLE] * 3


def test_the_installed_command_with_the_real_resolver(tmp_path):
    # Whatever this machine's resolver answers for a reserved name, it is said in plain words.
    bootstrap = bootstrap_file(tmp_path, ("test", f"https://{UNRESOLVABLE}/rdap/"))
    done = subprocess.run(
        [str(COMMAND), "check", "--json", "--rdap-bootstrap", str(bootstrap), "example.test"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["lifecycle"] == "unknown"
    assert result["error"].startswith(f"could not resolve {UNRESOLVABLE}")
    assert plain(result["reason"]), result["reason"]
    assert "Traceback" not in done.stderr


def test_the_registry_client_asks_once_too(resolutions):
    with (
        RegistryClient(f"https://{UNRESOLVABLE}", "token", retries=3, backoff_factor=0.01) as client,
        pytest.raises(TransientRegistryError) as raised,
    ):
        client.page()
    assert str(raised.value) == f"GET /v1/email-domains failed: could not resolve {UNRESOLVABLE}"
    assert resolutions.count(UNRESOLVABLE) == 1


# Other failures, in plain words


def test_a_refused_connection_names_the_host_and_port(tmp_path, closed_port):
    observation = provider_for(tmp_path, f"http://127.0.0.1:{closed_port}/").lookup("example.test")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error == f"connection refused by 127.0.0.1:{closed_port}; gave up after 3 tries"


def test_the_registry_client_says_refused_too(closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    with (
        RegistryClient(url, "token", retries=1, backoff_factor=0.01, allow_loopback_http=True) as client,
        pytest.raises(TransientRegistryError) as raised,
    ):
        client.page()
    assert str(raised.value) == f"GET /v1/email-domains failed: connection refused by 127.0.0.1:{closed_port}"


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_server_that_never_answers_times_out_in_plain_words(tmp_path, silent_server):
    provider = provider_for(tmp_path, f"http://127.0.0.1:{silent_server}/", request_timeout=0.3, max_tries=1)
    observation = provider.lookup("example.test")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    # The socket's timeout or the watchdog's, whichever comes first: the same words.
    assert observation.error.startswith("timed out after 0.3 s reading from 127.0.0.1"), observation.error


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A TLS server on loopback whose certificate no one vouches for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rdap.example")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    handshakes = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            handshakes.append(1)
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused the certificate
            finally:
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], handshakes
    listener.close()


def test_a_certificate_that_does_not_verify_is_said_so_and_not_retried(tmp_path, self_signed):
    port, handshakes = self_signed
    handshakes.clear()
    observation = provider_for(tmp_path, f"https://127.0.0.1:{port}/").lookup("example.test")
    assert observation.lifecycle is Lifecycle.UNKNOWN
    assert observation.error.startswith("TLS certificate not valid for 127.0.0.1: "), observation.error
    assert plain(observation.error), observation.error
    assert len(handshakes) == 1


# The command line around it


def test_a_pipe_closed_by_its_reader_ends_without_a_traceback():
    # `lapsewatch registry demo-data | head -1`: far more than a pipe's buffer, so the writer
    # meets the closed pipe.
    writer = subprocess.Popen(
        [str(COMMAND), "registry", "demo-data"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    reader = subprocess.run(["head", "-1"], stdin=writer.stdout, capture_output=True, timeout=60)
    writer.stdout.close()
    errors = writer.stderr.read().decode()
    writer.stderr.close()
    assert writer.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert errors == ""
    assert len(reader.stdout.decode().splitlines()) == 1
    assert json.loads(reader.stdout)["email"]


def test_registry_serve_demo_serves_the_demo_data_set():
    process = subprocess.Popen(
        [str(COMMAND), "registry", "serve", "--demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "LAPSEWATCH_REGISTRY_TOKEN"},
    )
    try:
        url = process.stdout.readline().split()[-1]
        token_line = process.stdout.readline()
        assert url.startswith("http://127.0.0.1:")
        assert token_line.startswith("token: ")
        token = token_line.split()[-1]
        answer = requests.get(
            f"{url}/v1/email-domains", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert answer.status_code == 200
        assert "gmail.com" in [item["domain"] for item in answer.json()["items"]]
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "loaded the demo data set" in process.stderr.read()
    process.stdout.close()
    process.stderr.close()
