"""The HTTP plumbing the status providers share, from `lapsewatch.net`: the names providers and
their tests have always imported from here."""

from lapsewatch.net.doubt import Doubt
from lapsewatch.net.failures import NetworkFailure, network_failure, unresolvable
from lapsewatch.net.fetch import HttpAnswer, HttpFetcher, lookup_deadline, new_session
from lapsewatch.net.strict_json import read_json
from lapsewatch.net.urls import is_loopback, url_allowed

__all__ = [
    "Doubt",
    "HttpAnswer",
    "HttpFetcher",
    "NetworkFailure",
    "is_loopback",
    "lookup_deadline",
    "network_failure",
    "new_session",
    "read_json",
    "unresolvable",
    "url_allowed",
]
