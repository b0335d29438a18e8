"""The command line's argument types and the options several commands share."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lapsewatch.providers.factory import ProviderSettings, parse_switch
from lapsewatch.setting import declaration, from_env_words, from_template_words, shown_default
from lapsewatch.timefmt import parse_time


def iso_time(text: str):
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1, both included."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:  # NaN included
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1: {text!r}")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535 (0: any free port): {text!r}")
    return value


def positive_whole_number(text: str) -> int:
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def notice_stages_list(text: str) -> str:
    from lapsewatch.registry.contract import NOTICE_STAGES

    for stage in filter(None, (part.strip() for part in text.split(","))):
        if stage not in NOTICE_STAGES:
            raise argparse.ArgumentTypeError(
                f"{stage!r} is not a notice stage; choose from {', '.join(sorted(NOTICE_STAGES))}, "
                'or "" for none'
            )
    return text


def run_id_arg(text: str) -> str:
    """A run's id as `runs list` names it, with or without its "run-" prefix."""
    text = text.strip()
    return text if text.startswith("run-") else f"run-{text}"


def whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _env(name: str) -> str:
    """The variable a provider setting is read from."""
    return declaration(ProviderSettings, name).env


def _help(name: str) -> str:
    return declaration(ProviderSettings, name).help


def _from_env(name: str, *, listed: bool = False) -> str:
    return from_env_words(ProviderSettings, name, listed=listed)


# Where an unset option's value comes from: the environment for the commands that look things
# up themselves; template.yaml's parameters for those that run the Lambda functions locally,
# which get the template's environment (and the demo's own RDAP server on the demo registry);
# and for those that act on a `lapsewatch run --state DIR`, what its runs used. The names and
# defaults are the settings' own (ProviderSettings).
FROM_ENV = {
    "provider": _from_env("providers"),
    "rate": _from_env("rdap_rate"),
    "bootstrap": _from_env("rdap_bootstrap"),
    "extra": _from_env("rdap_extra"),
}
FROM_TEMPLATE = {
    "provider": from_template_words(ProviderSettings, "providers"),
    "rate": from_template_words(ProviderSettings, "rdap_rate") + "; 200 for the demo's own RDAP server",
    "bootstrap": f"${_env('rdap_bootstrap')}, else the demo's own RDAP server on the demo registry, "
    f"else {shown_default(ProviderSettings, 'rdap_bootstrap')}",
    "extra": f"{_from_env('rdap_extra')}; none with the demo's own RDAP server",
}
FROM_STATE = {
    "provider": f"what the runs in --state used, else {shown_default(ProviderSettings, 'providers')}",
    "rate": f"what the runs in --state used, else {shown_default(ProviderSettings, 'rdap_rate')}",
    "bootstrap": f"${_env('rdap_bootstrap')}, else what the runs in --state used",
    "extra": f"${_env('rdap_extra')}, else what the runs in --state used",
}


def add_rdap_options(parser: argparse.ArgumentParser, defaults: Mapping[str, str] = FROM_ENV) -> None:
    parser.add_argument(
        "--rdap-bootstrap",
        metavar="PATH",
        default=os.environ.get(_env("rdap_bootstrap")),
        help=f"{_help('rdap_bootstrap')} (default: {defaults['bootstrap']})",
    )
    parser.add_argument(
        "--rdap-extra",
        metavar="PATH",
        default=os.environ.get(_env("rdap_extra")),
        help=f"{_help('rdap_extra')} (default: {defaults['extra']})",
    )
    parser.add_argument(
        "--rdap-rate",
        metavar="N",
        type=positive_number,
        default=None,
        help=f"{_help('rdap_rate')} (default: {defaults['rate']})",
    )


def add_whois_options(parser: argparse.ArgumentParser) -> None:
    """The WHOIS provider's table and server overrides (local only, like --now)."""
    parser.add_argument(
        "--whois-table",
        metavar="PATH",
        default=os.environ.get(_env("whois_table")),
        help=f"{_help('whois_table')} (default: {_from_env('whois_table')})",
    )
    parser.add_argument(
        "--whois-server",
        metavar="TLD=HOST[:PORT]",
        action="append",
        default=None,
        help=f"{_help('whois_servers')} (default: {_from_env('whois_servers', listed=True)})",
    )


def add_provider_option(parser: argparse.ArgumentParser, defaults: Mapping[str, str] = FROM_ENV) -> None:
    parser.add_argument(
        "--provider",
        metavar="CHAIN",
        default=None,
        help=f"{_help('providers')} (default: {defaults['provider']})",
    )


def installed_version() -> str:
    """The installed distribution's version; the package's own when it is run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lapsewatch")
    except PackageNotFoundError:
        from lapsewatch import __version__

        return __version__


def add_local_now_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        metavar="ISO8601",
        type=iso_time,
        default=None,
        help="local state only: the time the functions' clock starts at, as `lapsewatch run --now` "
        "(default: the real time)",
    )


def dns_switch(text: str) -> bool:
    try:
        return parse_switch(text, "--dns-witness")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def dns_root_arg(text: str) -> str:
    from lapsewatch.dns.roots import parse_roots

    try:
        parse_roots(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def trust_anchor_arg(text: str) -> str:
    from lapsewatch.dns.roots import parse_trust_anchor

    try:
        parse_trust_anchor(Path(text).read_text("utf-8"))
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"{text} is not a trust anchor: {exc}") from None
    return text


def add_dns_options(parser: argparse.ArgumentParser) -> None:
    """The DNS witness's options (issue 19), the same on every command that looks domains up."""
    parser.add_argument(
        "--dns-witness",
        metavar="on|off",
        type=dns_switch,
        default=None,
        help=f"{_help('dns_witness')} (default: {_from_env('dns_witness')})",
    )
    parser.add_argument(
        "--dns-root",
        metavar="ADDR[:PORT]",
        type=dns_root_arg,
        action="append",
        default=None,
        help=f"{_help('dns_roots')} (repeatable; default: {_from_env('dns_roots', listed=True)})",
    )
    parser.add_argument(
        "--dns-trust-anchor",
        metavar="FILE",
        type=trust_anchor_arg,
        default=None,
        help=f"{_help('dns_trust_anchor')} (default: {_from_env('dns_trust_anchor')})",
    )


def dns_arguments(args: argparse.Namespace) -> dict:
    """The DNS options as ProviderSettings.from_env takes them."""
    return {
        "dns_witness": args.dns_witness,
        "dns_roots": args.dns_root,
        "dns_trust_anchor": args.dns_trust_anchor,
    }


class SweepSettingOption(argparse._StoreAction):
    """An option of `lapsewatch run` whose help ends with its sweep setting's declared default.
    The declaration is looked up only when the help is shown: its module imports what the
    functions need, too slow for every command's start."""

    def __init__(self, *args: Any, setting: str, **kwargs: Any) -> None:
        self._setting = setting
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def help(self) -> str | None:
        if self._help is None:
            return None
        from lapsewatch.sweep.settings import SweepSettings

        return f"{self._help} (default: {from_template_words(SweepSettings, self._setting)})"

    @help.setter
    def help(self, value: str | None) -> None:
        self._help = value
