"""The documents the loopback RDAP server sends: domain objects in the shapes real registries
and registrars send them, the status lists each lifecycle shows, and RDAP error objects."""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from lapsewatch.timefmt import rfc3339

RDAP_MEDIA_TYPE = "application/rdap+json"

# What each lifecycle looks like in a registry's status list (RFC 8056 spellings).
LIFECYCLE_STATUSES = {
    "active": ["client delete prohibited", "client transfer prohibited", "client update prohibited"],
    "reregistered": ["client transfer prohibited"],
    "grace": ["auto renew period", "client transfer prohibited"],
    "hold": ["client hold", "client transfer prohibited"],
    "redemption": ["redemption period", "pending delete"],
    "pending_delete": ["pending delete"],
}


def rdap_domain_json(
    domain: str,
    statuses: Iterable[str],
    registered_at: datetime | None = None,
    expires_at: datetime | None = None,
    *,
    shape: str = "thick",
) -> dict:
    """An RDAP domain object in the shape a kind of server sends.

    thick     a gTLD registry such as Verisign's: upper-case ldhName, registrar entity with its
              IANA id, events, nameservers, secureDNS, notices and a "related" registrar link
    cctld     a ccTLD registry such as DENIC: lower-case, no events, few notices
    registrar the registrar's answer a registry refers to: events, a redacted registrant
    nomulus   Google's registry software (.app, .dev): lower-case, and the last renewal, a year
              before the expiration, reported as a "reregistration" event
    """
    statuses = list(statuses)
    name = domain.lower()
    if shape == "nomulus":
        return _nomulus_domain_json(name, statuses, registered_at, expires_at)
    if shape == "cctld":
        return _cctld_domain_json(name, statuses)
    events = _events(registered_at, expires_at, shape)
    if shape == "registrar":
        return _registrar_domain_json(name, statuses, events)
    if shape != "thick":
        raise ValueError(f"unknown RDAP shape {shape!r}: choose thick, cctld, registrar or nomulus")
    return _thick_domain_json(name, statuses, events)


def _cctld_domain_json(name: str, statuses: list[str]) -> dict:
    return {
        "rdapConformance": ["rdap_level_0"],
        "objectClassName": "domain",
        "handle": name,
        "ldhName": name,
        "status": statuses,
        "nameservers": [_nameserver(f"ns1.{name}"), _nameserver(f"ns2.{name}")],
        "secureDNS": {"delegationSigned": False},
        "notices": [
            {
                "title": "Disclaimer",
                "description": ["This answer has no events: the registry publishes none."],
            }
        ],
    }


def _events(registered_at: datetime | None, expires_at: datetime | None, shape: str) -> list[dict]:
    events = []
    if registered_at:
        events.append({"eventAction": "registration", "eventDate": rfc3339(registered_at)})
    if expires_at:
        # Registrars report their own expiration date, under another name.
        action = "registrar expiration" if shape == "registrar" else "expiration"
        events.append({"eventAction": action, "eventDate": rfc3339(expires_at)})
    events.append({"eventAction": "last update of RDAP database", "eventDate": rfc3339(datetime.now(UTC))})
    return events


_REGISTRAR = {
    "objectClassName": "entity",
    "handle": "292",
    "roles": ["registrar"],
    "publicIds": [{"type": "IANA Registrar ID", "identifier": "292"}],
    "vcardArray": [
        "vcard",
        [["version", {}, "text", "4.0"], ["fn", {}, "text", "Example Registrar Inc."]],
    ],
    "entities": [
        {
            "objectClassName": "entity",
            "roles": ["abuse"],
            "vcardArray": [
                "vcard",
                [
                    ["version", {}, "text", "4.0"],
                    ["fn", {}, "text", ""],
                    ["tel", {"type": "voice"}, "uri", "tel:+1.2083895740"],
                    ["email", {}, "text", "abusecomplaints@registrar.example"],
                ],
            ],
        }
    ],
}


def _registrar_domain_json(name: str, statuses: list[str], events: list[dict]) -> dict:
    return {
        "rdapConformance": ["rdap_level_0", "icann_rdap_response_profile_1", "redacted"],
        "objectClassName": "domain",
        "handle": f"{name.upper()}-REGISTRAR",
        "ldhName": name,
        "status": statuses,
        "events": events,
        "entities": [
            copy.deepcopy(_REGISTRAR),
            {
                "objectClassName": "entity",
                "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", ""]]],
            },
        ],
        "redacted": [{"name": {"type": "Registrant Name"}, "method": "emptyValue"}],
        "nameservers": [_nameserver(f"ns1.{name}")],
    }


def _thick_domain_json(name: str, statuses: list[str], events: list[dict]) -> dict:
    upper = name.upper()
    tld = name.rsplit(".", 1)[-1]
    return {
        "objectClassName": "domain",
        "handle": f"{zlib.crc32(name.encode())}_DOMAIN_{tld.upper()}-VRSN",
        "ldhName": upper,
        "links": [
            {
                "value": f"https://rdap.registry.example/domain/{upper}",
                "rel": "self",
                "href": f"https://rdap.registry.example/domain/{upper}",
                "type": RDAP_MEDIA_TYPE,
            },
            {
                "value": f"https://rdap.registrar.example/domain/{upper}",
                "rel": "related",
                "href": f"https://rdap.registrar.example/domain/{upper}",
                "type": RDAP_MEDIA_TYPE,
            },
        ],
        "status": statuses,
        "entities": [copy.deepcopy(_REGISTRAR)],
        "events": events,
        "secureDNS": {"delegationSigned": False},
        "nameservers": [_nameserver(f"NS1.{upper}"), _nameserver(f"NS2.{upper}")],
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_technical_implementation_guide_1",
            "icann_rdap_response_profile_1",
        ],
        "notices": [
            {
                "title": "Terms of Service",
                "description": ["Service subject to Terms of Use."],
                "links": [{"href": "https://www.registry.example/rdap-terms", "type": "text/html"}],
            },
            {
                "title": "Status Codes",
                "description": [
                    "For more information on domain status codes, please visit https://icann.org/epp"
                ],
                "links": [{"href": "https://icann.org/epp", "type": "text/html"}],
            },
        ],
    }


def _nomulus_domain_json(
    name: str, statuses: list[str], registered_at: datetime | None, expires_at: datetime | None
) -> dict:
    now = datetime.now(UTC)
    events = []
    if registered_at:
        events.append(
            {"eventAction": "registration", "eventActor": "TheRegistrar", "eventDate": rfc3339(registered_at)}
        )
    # Nomulus reports renewals (and autorenewals) as "reregistration": the holder is the same.
    renewed = expires_at - timedelta(days=365) if expires_at else None
    if renewed and (registered_at is None or registered_at < renewed) and renewed < now:
        events.append(
            {"eventAction": "reregistration", "eventActor": "TheRegistrar", "eventDate": rfc3339(renewed)}
        )
    if expires_at:
        events.append({"eventAction": "expiration", "eventDate": rfc3339(expires_at)})
    events.append({"eventAction": "last update of RDAP database", "eventDate": rfc3339(now)})
    return {
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_response_profile_1",
            "icann_rdap_technical_implementation_guide_1",
        ],
        "objectClassName": "domain",
        "handle": f"{zlib.crc32(name.encode()):X}-{name.rsplit('.', 1)[-1].upper()}",
        "ldhName": name,
        "status": statuses or ["active"],
        "events": events,
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "1",
                "roles": ["registrar"],
                "publicIds": [{"type": "IANA Registrar ID", "identifier": "1"}],
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", "The Registrar"]],
                ],
            }
        ],
        "nameservers": [_nameserver(f"ns1.{name}")],
        "secureDNS": {"delegationSigned": False, "zoneSigned": True},
    }


def _nameserver(name: str) -> dict:
    return {"objectClassName": "nameserver", "ldhName": name}


def error_json(status: int, title: str) -> bytes:
    """An RDAP error object (RFC 9083), encoded."""
    return json.dumps({"errorCode": status, "title": title, "rdapConformance": ["rdap_level_0"]}).encode()
