"""Every option of every command, given a bad value, fails with one line and exit 2: never a
traceback, and never after something was started (issue 21)."""

import argparse

import pytest

from lapsewatch_tools.cli import build_parser, main

pytestmark = pytest.mark.integration

# A value each kind of option refuses.
BAD = {
    "--rdap-rate": "fast",
    "--max-unverify": "-1",
    "--max-unverify-fraction": "2",
    "--now": "yesterday",
    "--verified-at": "soon",
    "--port": "99999",
    "--limit": "0",
    "--domains": "many",
    "--days": "-3",
    "--seed": "x",
    "--error-rate": "1.5",
    "--pypi-batch-limit": "lots",
    "--provider": "bogus",
    "--notice-stages": "foo",
    "--dns-witness": "maybe",
    "--dns-root": "a.root-servers.net",
    "--dns-trust-anchor": "/no/such/anchor.ds",
}


def _commands(parser, prefix=()):
    """(the words naming a subcommand, its parser) for every leaf subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
            return
    yield prefix, parser


def _required(parser):
    """Arguments that make the command line otherwise complete."""
    words = []
    for action in parser._actions:
        if not action.option_strings and action.dest not in ("help",) and action.nargs != "?":
            words.append("example.com" if action.nargs == "+" else "run-x")
        elif action.required:
            words += [action.option_strings[0], "http://127.0.0.1:9" if "url" in action.dest else "x"]
    return words


def _status(argv):
    """The exit status of `lapsewatch ARGV`, whether argparse exits or the command returns."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


CASES = [
    (words, option)
    for words, parser in _commands(build_parser())
    for action in parser._actions
    for option in action.option_strings
    if option in BAD
]


@pytest.mark.parametrize(("words", "option"), CASES, ids=[f"{' '.join(w)} {o}" for w, o in CASES])
def test_a_bad_value_is_one_line_and_exit_2(capsys, words, option):
    parser = dict(_commands(build_parser()))[words]
    assert _status([*words, *_required(parser), option, BAD[option]]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{option}" in err or "error" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--provider", "fastly"],
        ["run", "--provider", ""],
        ["check", "--provider", "", "example.com"],
        ["registry", "serve", "--port", "99999"],
        ["runs", "list", "--state", "x", "--limit", "0"],
    ],
)
def test_the_mistakes_the_issue_names(capsys, monkeypatch, argv):
    monkeypatch.delenv("LAPSEWATCH_FASTLY_API_KEY", raising=False)
    assert _status(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # argparse's usage lines, perhaps, then the one error line.
    assert [line for line in err.splitlines() if "error:" in line] == [err.strip().splitlines()[-1]]


def test_an_address_with_two_at_signs_is_invalid(capsys):
    assert main(["check", "--json", "a@b@c.com"]) == 3
    assert '"lifecycle": "invalid"' in capsys.readouterr().out


def test_a_mistyped_option_shows_the_commands_usage_and_the_closest_option(capsys):
    assert _status(["check", "--jsno", "example.com"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lapsewatch check")
    assert "--jsno (did you mean --json?)" in err


def test_check_reads_targets_from_a_file_or_standard_input(capsys, tmp_path, monkeypatch):
    import io
    import json

    listed = tmp_path / "addresses.txt"
    listed.write_text("a@x.invalid\n\nb@y.invalid\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("c@z.invalid\n"))
    assert main(["check", "--json", str(listed), "-", "d@w.invalid"]) == 3
    inputs = [json.loads(line)["input"] for line in capsys.readouterr().out.splitlines()]
    assert inputs == ["a@x.invalid", "b@y.invalid", "c@z.invalid", "d@w.invalid"]


def test_runs_take_an_id_without_its_prefix():
    from lapsewatch_tools.cli import build_parser

    args = build_parser().parse_args(["runs", "show", "2026-12-04T00:00:00Z", "--state", "x"])
    assert args.run_id == "run-2026-12-04T00:00:00Z"
