"""WHOIS answers in the shapes of a few registries' port-43 servers, for the loopback server.

Written for lapsewatch in the layout each registry uses (field names, alignment, banners,
"no match" wording), with made-up names and dates. `answer(tld, domain, state)` gives the text a
registry would send for a name in that state; `STATES[tld]` lists the states each can show.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

REGISTERED = "registered"
GRACE = "grace"
HOLD = "hold"
REDEMPTION = "redemption"
PENDING_DELETE = "pending_delete"
UNREGISTERED = "unregistered"

DEFAULT_CREATED = datetime(2009, 4, 1, 8, 30)


def _it(domain: str, state: str, created: datetime) -> str:
    banner = (
        "*" * 72
        + "\n* Please note that the following result could be a subgroup of      *\n"
        + "*" * 72
        + "\n\n"
    )
    if state == UNREGISTERED:
        return f"{banner}Domain:             {domain}\nStatus:             AVAILABLE\n"
    status = {
        REGISTERED: "ok",
        GRACE: "ok / autoRenewPeriod",
        HOLD: "clientHold",
        REDEMPTION: "pendingDelete / redemptionPeriod",
        PENDING_DELETE: "pendingDelete / pendingDelete",
    }[state]
    return (
        f"{banner}Domain:             {domain}\n"
        f"Status:             {status}\n"
        "Signed:             no\n"
        f"Created:            {created:%Y-%m-%d %H:%M:%S}\n"
        "Last Update:        2026-03-02 00:51:10\n"
        "Expire Date:        2027-02-14\n\n"
        "Registrant\n"
        "  Organization:     Esempio Rivendita S.r.l.\n"
        "  Created:          2026-01-05 10:00:00\n"
        "  Last Update:      2026-01-05 10:00:00\n\n"
        "Registrar\n"
        "  Organization:     Registrar Esempio S.p.A.\n"
        "  Name:             ESEMPIO-REG\n"
    )


def _jp(domain: str, state: str, created: datetime) -> str:
    banner = (
        "[ JPRS database provides information on network administration. Its use is    ]\n"
        "[ restricted to network administration purposes.                              ]\n\n"
    )
    if state == UNREGISTERED:
        return f"{banner}No match!!\n\nWith JPRS WHOIS, you can query registered JP domain names.\n"
    status = {
        REGISTERED: "Active",
        GRACE: "To be suspended",
        REDEMPTION: "Suspended",
        PENDING_DELETE: "Deleted",
    }[state]
    return (
        f"{banner}Domain Information:\n"
        f"[Domain Name]                   {domain.upper()}\n\n"
        "[Registrant]                    Reibun Shoji K.K.\n\n"
        "[Name Server]                   ns1.reibun.example\n"
        "[Signing Key]                   \n\n"
        f"[Created on]                    {created:%Y/%m/%d}\n"
        "[Expires on]                    2027/04/30\n"
        f"[Status]                        {status}\n"
        "[Last Updated]                  2026/05/01 01:05:03 (JST)\n\n"
        "Contact Information:\n"
        "[Name]                          Reibun Shoji K.K.\n"
    )


def _nz(domain: str, state: str, created: datetime) -> str:
    if state == UNREGISTERED:
        return f"Not found: {domain}\n\n>>> Last update of WHOIS database: 2026-06-01T00:00:00Z <<<\n"
    statuses = {
        REGISTERED: ["ok"],
        GRACE: ["autoRenewPeriod"],
        HOLD: ["serverHold"],
        REDEMPTION: ["pendingDelete", "redemptionPeriod"],
        PENDING_DELETE: ["pendingDelete"],
    }[state]
    lines = "".join(f"Domain Status: {status} https://icann.org/epp#{status}\n" for status in statuses)
    return (
        f"Domain Name: {domain}\n"
        "Registry Domain ID: 4411_0-NZ\n"
        "Updated Date: 2026-02-11T03:22:00Z\n"
        f"Creation Date: {created:%Y-%m-%dT%H:%M:%SZ}\n"
        "Original Created: 2001-07-19T00:00:00Z\n"
        f"{lines}"
        "Registrar: Example Registrar NZ Ltd\n"
        ">>> Last update of WHOIS database: 2026-06-01T00:00:00Z <<<\n"
    )


def _se(domain: str, state: str, created: datetime) -> str:
    banner = "# Copyright (c) 1997- The Swedish Internet Foundation.\n# All rights reserved.\n\n"
    if state == UNREGISTERED:
        return f'{banner}domain "{domain}" not found.\n'
    state_word, status = {
        REGISTERED: ("active", "ok"),
        HOLD: ("active", "serverHold"),
        REDEMPTION: ("deactivated", "serverHold"),
    }[state]
    return (
        f"{banner}state:            {state_word}\n"
        f"domain:           {domain}\n"
        "holder:           exmp0101-00001\n"
        f"created:          {created:%Y-%m-%d}\n"
        "expires:          2027-03-01\n"
        f"status:           {status}\n"
        "registrar:        Exempel Registrar AB\n"
    )


def _dk(domain: str, state: str, created: datetime) -> str:
    banner = "# Hello 127.0.0.1. Your session has been logged.\n#\n# Copyright (c) 2002 - 2026 Punktum dk\n\n"
    if state == UNREGISTERED:
        return f"{banner}No entries found for the selected source.\n"
    status = {REGISTERED: "Active", REDEMPTION: "Deactivated"}[state]
    return (
        f"{banner}Domain:               {domain}\n"
        f"DNS:                  {domain}\n"
        f"Registered:           {created:%Y-%m-%d}\n"
        "Expires:              2027-03-31\n"
        f"Status:               {status}\n\n"
        "Nameservers\nHostname:             ns1.eksempel.example\n"
    )


def _be(domain: str, state: str, created: datetime) -> str:
    banner = "% .be Whois Server 6.1\n%\n\n"
    if state == UNREGISTERED:
        return f"{banner}Domain:\t{domain}\nStatus:\tAVAILABLE\n"
    status = {REGISTERED: "NOT AVAILABLE", REDEMPTION: "QUARANTINE"}[state]
    return (
        f"{banner}Domain:\t{domain}\nStatus:\t{status}\nRegistered:\t{created:%a %b %d %Y}\n\n"
        "Registrar:\n\tName:\tVoorbeeld bv\n\nFlags:\n\tclientTransferProhibited\n"
    )


def _eu(domain: str, state: str, created: datetime) -> str:
    banner = "% The WHOIS service offered by EURid is provided for information purposes only.\n%\n\n"
    if state == UNREGISTERED:
        return f"{banner}Domain: {domain}\nScript: LATIN\nStatus: AVAILABLE\n"
    return f"{banner}Domain: {domain}\nScript: LATIN\n\nRegistrar:\n        Name: Example Registrar\n"


def _ru(domain: str, state: str, created: datetime) -> str:
    banner = "% TCI Whois Service. Terms of use:\n% https://tcinet.ru/documents/whois_ru_rf.pdf\n\n"
    if state == UNREGISTERED:
        return (
            f"{banner}No entries found for the selected source(s).\n\nLast updated on 2026-06-01T00:00:00Z\n"
        )
    return (
        f"{banner}domain:        {domain.upper()}\n"
        "nserver:       ns1.primer.example.\n"
        "state:         REGISTERED, DELEGATED, VERIFIED\n"
        "org:           Primer LLC\n"
        f"created:       {created:%Y-%m-%dT%H:%M:%SZ}\n"
        "paid-till:     2027-03-04T21:00:00Z\n"
        "source:        TCI\n"
    )


def _nixi(domain: str, state: str, created: datetime) -> str:
    """NIXI, .in's registry, answering for India's IDN ccTLDs in the ICANN layout."""
    if state == UNREGISTERED:
        # Its "no match" wording, which the table does not read: the answer is doubt.
        return f"Domain {domain} is available for registration\n"
    statuses = {
        REGISTERED: ["clientTransferProhibited"],
        HOLD: ["serverHold"],
        REDEMPTION: ["redemptionPeriod", "pendingDelete"],
        PENDING_DELETE: ["pendingDelete"],
    }[state]
    lines = "".join(f"Domain Status: {status} https://icann.org/epp#{status}\n" for status in statuses)
    return (
        f"Domain Name: {domain}\n"
        "Registry Domain ID: D7E3A90C41-IN\n"
        "Updated Date: 2026-04-02T05:06:07Z\n"
        f"Creation Date: {created:%Y-%m-%dT%H:%M:%SZ}\n"
        "Registry Expiry Date: 2027-04-02T05:06:07Z\n"
        "Registrar: Example Registrar of India Pvt. Ltd.\n"
        f"{lines}"
        "Name Server: ns1.udaharan.example\n"
        ">>> Last update of WHOIS database: 2026-06-01T00:00:00Z <<<\n"
    )


def _mk(domain: str, state: str, created: datetime) -> str:
    """MARnet (.mk, .мкд), on FRED: the domain's block, then its holder's."""
    banner = "% Domain Information over Whois protocol\n%\n% Whoisd Server Version: 3.9.0\n\n"
    if state == UNREGISTERED:
        return f"{banner}%ERROR:101: no entries found\n%\n% No entries found.\n"
    return (
        f"{banner}domain:       {domain}\n"
        "registrant:   MK-R0000101\n"
        "registrar:    MK-REG-EXAMPLE\n"
        f"registered:   {created:%d.%m.%Y %H:%M:%S}\n"
        "expire:       01.04.2027\n\n"
        "contact:      MK-R0000101\n"
        "org:          Пример ДООЕЛ\n"
        "created:      01.02.2021 10:00:00\n"
    )


def _ve(domain: str, state: str, created: datetime) -> str:
    """NIC.VE: a banner, the holder, the name indented under it, dates, the status."""
    banner = "\nServidor Whois de NIC-Venezuela (.VE)\n\n"
    if state == UNREGISTERED:
        return f'{banner}No match for "{domain}".\n\nNIC-Venezuela - CONATEL\n'
    status = {REGISTERED: "ACTIVO", HOLD: "SUSPENDIDO"}[state]
    return (
        f"{banner}Titular:\nEjemplo C.A.  ({domain}-dom)\t\tadmin@ejemplo.example\n\n"
        f"   Nombre de Dominio: {domain}\n\n"
        "   Fecha de Vencimiento: 2027-05-06 07:08:09\n"
        f"   Fecha de Creacion: {created:%Y-%m-%d %H:%M:%S}\n\n"
        f"   Estatus del dominio: {status}\n\n"
        "NIC-Venezuela - CONATEL\n"
    )


# India's IDN ccTLDs, all on NIXI's server.
INDIA_IDN = (
    "xn--2scrj9c",
    "xn--3hcrj9c",
    "xn--45br5cyl",
    "xn--45brj9c",
    "xn--fpcrj9c3d",
    "xn--gecrj9c",
    "xn--h2breg3eve",
    "xn--h2brj9c",
    "xn--h2brj9c8c",
    "xn--mgbbh1a",
    "xn--mgbbh1a71e",
    "xn--mgbgu82a",
    "xn--rvc1e0am3e",
    "xn--s9brj9c",
    "xn--xkc2dl3a5ee0h",
)

type Format = Callable[[str, str, datetime], str]

_FORMATS: dict[str, Format] = {
    "it": _it,
    "jp": _jp,
    "nz": _nz,
    "se": _se,
    "dk": _dk,
    "be": _be,
    "eu": _eu,
    "ru": _ru,
    "mk": _mk,
    "xn--d1alf": _mk,
    "ve": _ve,
    **dict.fromkeys(INDIA_IDN, _nixi),
}
STATES = {
    "it": (REGISTERED, GRACE, HOLD, REDEMPTION, PENDING_DELETE, UNREGISTERED),
    "jp": (REGISTERED, GRACE, REDEMPTION, PENDING_DELETE, UNREGISTERED),
    "nz": (REGISTERED, GRACE, HOLD, REDEMPTION, PENDING_DELETE, UNREGISTERED),
    "se": (REGISTERED, HOLD, REDEMPTION, UNREGISTERED),
    "dk": (REGISTERED, REDEMPTION, UNREGISTERED),
    "be": (REGISTERED, REDEMPTION, UNREGISTERED),
    "eu": (REGISTERED, UNREGISTERED),
    "ru": (REGISTERED, UNREGISTERED),
    "mk": (REGISTERED, UNREGISTERED),
    "xn--d1alf": (REGISTERED, UNREGISTERED),
    "ve": (REGISTERED, HOLD, UNREGISTERED),
    **dict.fromkeys(INDIA_IDN, (REGISTERED, HOLD, REDEMPTION, PENDING_DELETE, UNREGISTERED)),
}


def answer(tld: str, domain: str, state: str, created: datetime = DEFAULT_CREATED) -> str:
    """What `tld`'s registry answers for `domain` in `state` (a KeyError for one it cannot show)."""
    if state not in STATES[tld]:
        raise KeyError(f".{tld} answers cannot show {state}")
    return _FORMATS[tld](domain, state, created)
