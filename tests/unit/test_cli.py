"""The command line as a person meets it: --version, help for every option, the values options
take, a reader that stops reading, and the simulator's words."""

import argparse
import io
from importlib.metadata import version

import pytest

from lapsewatch.sweep.breaker import BreakerLimits
from lapsewatch.sweep.settings import SettingsError, SweepSettings
from lapsewatch_tools import cli
from lapsewatch_tools.cli import EXIT_BROKEN_PIPE, build_parser, main

TABLES = {"LAPSEWATCH_DOMAINS_TABLE": "domains", "LAPSEWATCH_RUNS_TABLE": "runs"}


def parsers(parser: argparse.ArgumentParser, path: str = "lapsewatch"):
    """Every parser and subparser, with the command that reaches it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from parsers(subparser, f"{path} {name}")


def options():
    """Every option and argument of every command: the command, its parser, the action."""
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                yield path, parser, action


def required(parser, action):
    """Whether the option must be given: by itself, or as one of a group of which one must be."""
    groups = parser._mutually_exclusive_groups
    return action.required or any(group.required and action in group._group_actions for group in groups)


def test_the_version_is_the_installed_distributions(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out == f"lapsewatch {version('lapsewatch')}\n"


def test_every_command_is_reached():
    paths = {path for path, _ in parsers(build_parser())}
    assert {
        "lapsewatch check",
        "lapsewatch coverage",
        "lapsewatch run",
        "lapsewatch registry serve",
        "lapsewatch registry demo-data",
        "lapsewatch registry conformance",
        "lapsewatch runs approve",
        "lapsewatch invoke",
        "lapsewatch simulate",
    } <= paths


def test_every_option_and_argument_of_every_command_has_help():
    missing = [
        f"{path} {'/'.join(action.option_strings) or action.dest}"
        for path, _, action in options()
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_every_option_that_takes_a_value_says_its_default():
    # A flag's default is its absence; a required option and a positional argument have none.
    silent = [
        f"{path} {'/'.join(action.option_strings)}"
        for path, parser, action in options()
        if action.option_strings
        and action.nargs != 0
        and not required(parser, action)
        and "default" not in (action.help or "")
    ]
    assert silent == []


def test_help_shows_no_none_defaults(capsys):
    for path, parser in parsers(build_parser()):
        help_text = parser.format_help()
        assert "(default: None)" not in help_text, path


@pytest.mark.parametrize("text", ["0", "0.0", "0.25", "1"])
def test_the_unverify_fraction_takes_0_to_1(text):
    args = build_parser().parse_args(["run", "--max-unverify-fraction", text])
    assert args.max_unverify_fraction == float(text)


@pytest.mark.parametrize("text", ["-0.1", "1.5", "nan", "inf", "a tenth"])
def test_the_unverify_fraction_refuses_the_rest(text, capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["run", "--max-unverify-fraction", text])
    assert raised.value.code == 2
    assert "--max-unverify-fraction" in capsys.readouterr().err


def test_a_fraction_of_0_leaves_the_count_alone_as_the_limit():
    settings = SweepSettings.from_env(TABLES | {"LAPSEWATCH_MAX_UNVERIFY_FRACTION": "0"})
    assert settings.max_unverify_fraction == 0
    limits = BreakerLimits(
        max_unverify=settings.max_unverify,
        max_unverify_fraction=0,
        max_addresses_per_domain=settings.max_addresses_per_domain,
        max_addresses_per_run=settings.max_addresses_per_run,
        protected=settings.protected_domains,
    )
    assert limits.limit(1_000_000) == settings.max_unverify == 50
    # The template's AllowedPattern takes "0" and "0.0"; what `lapsewatch run` writes is the latter.
    assert (
        SweepSettings.from_env(TABLES | {"LAPSEWATCH_MAX_UNVERIFY_FRACTION": "0.0"}).max_unverify_fraction
        == 0
    )


@pytest.mark.parametrize("value", ["-0.01", "1.01"])
def test_settings_refuse_a_fraction_outside_0_to_1(value):
    with pytest.raises(SettingsError, match="LAPSEWATCH_MAX_UNVERIFY_FRACTION"):
        SweepSettings.from_env(TABLES | {"LAPSEWATCH_MAX_UNVERIFY_FRACTION": value})


def test_serve_takes_a_seed_or_the_demo_not_both(capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["registry", "serve", "--demo", "--seed", "users.jsonl"])
    assert raised.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
    assert build_parser().parse_args(["registry", "serve", "--demo"]).demo is True


class _ClosedPipe(io.TextIOBase):
    """Standard output whose reader has gone: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no file descriptor")


def test_a_reader_that_stops_reading_ends_the_command_quietly(monkeypatch, capsys):
    monkeypatch.setattr(cli.sys, "stdout", _ClosedPipe())
    assert main(["registry", "demo-data"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_the_simulation_speaks_to_operators():
    from lapsewatch_tools.simulate import simulate

    report = simulate(domains=60, days=40, seed=3)
    ending = report.table().splitlines()[-4:]
    assert [line.split(":")[0] for line in ending] == [
        "Lapses caught before the drop",
        "Addresses unverified at domains that never left their holder",
        "Lookups",
        "Early warnings",
    ]
    assert "targets" not in report.table()
    assert "every_lapse_caught" not in report.table()
    # The figures benchmarks read keep their names.
    assert set(report.to_dict()["targets"]) == {
        "every_lapse_caught",
        "no_false_unverifications",
        "lookups_within_20_percent_of_daily",
    }


def test_loud_words_are_coloured_on_a_terminal_only(monkeypatch):
    import io

    from lapsewatch_tools.report import for_terminal

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert for_terminal("x  UNSAFE  y", Terminal()) == "x  \033[1;31mUNSAFE\033[0m  y"
    assert for_terminal("x  UNSAFE  y", io.StringIO()) == "x  UNSAFE  y"
    monkeypatch.setenv("NO_COLOR", "")
    assert for_terminal("WARNING", Terminal()) == "WARNING"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_completion_is_generated_from_the_parser(capsys, shell):
    from lapsewatch_tools.cli import main

    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "lapsewatch" in script and "--rdap-bootstrap" in script and "conformance" in script


@pytest.mark.parametrize(
    "command",
    [
        ["check", "x.test"],
        ["coverage", "-"],
        ["run"],
        ["invoke", "CheckerFunction"],
        ["runs", "approve", "r", "--state", "s"],
    ],
)
def test_every_command_that_looks_up_takes_the_dns_options(command, tmp_path):
    anchor = tmp_path / "a.ds"
    anchor.write_text(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
    args = build_parser().parse_args(
        [
            *command,
            "--dns-witness",
            "off",
            "--dns-root",
            "127.0.0.2:5353",
            "--dns-root",
            "127.0.0.3",
            "--dns-trust-anchor",
            str(anchor),
        ]
    )
    assert args.dns_witness is False
    assert args.dns_root == ["127.0.0.2:5353", "127.0.0.3"]
    assert args.dns_trust_anchor == str(anchor)


def test_the_dns_switch_is_on_or_off(capsys):
    assert build_parser().parse_args(["check", "x.test", "--dns-witness", "on"]).dns_witness is True
    with pytest.raises(SystemExit):
        build_parser().parse_args(["check", "x.test", "--dns-witness", "maybe"])
    assert "on or off" in capsys.readouterr().err
