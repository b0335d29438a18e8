"""MkDocs hooks (mkdocs.yml `hooks:`): the pages generated at build time, so that they cannot drift.

- `reference/cli.md`: the command-line reference, rendered from `lapsewatch_tools.cli.build_parser()`
  itself: every command and subcommand with its usage, description and options.
- `whois.md`: the README's section on WHOIS, the TLDs still unprotected and the bundled data,
  which stays in README.md for now; the site shows it as a page of its own.

`tests/unit/test_docs.py` checks both against the parser and the README.
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

CLI_PAGE = "reference/cli.md"
WHOIS_PAGE = "whois.md"
# The README section the WHOIS page is made of: from this level-2 heading to the next one.
WHOIS_HEADING = "## WHOIS, the TLDs still unprotected, and the bundled data"
# A fixed width, so that the usage lines do not depend on the terminal of whoever builds.
USAGE_WIDTH = 92


def command_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every parser of the tree, depth first: (its command path, the parser, its one-line help)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from command_parsers(sub, (*path, name))


def _text(value: str) -> str:
    """Help text as Markdown: HTML escaped, table pipes and emphasis stars kept literal."""
    return html.escape(value, quote=False).replace("|", "\\|").replace("*", "\\*")


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    rows = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(
            action, argparse._HelpAction | argparse._SubParsersAction
        ):
            continue
        invocation = formatter._format_action_invocation(action)
        help_text = formatter._expand_help(action) if action.help else ""
        notes = []
        if action.option_strings and action.required:
            notes.append("required")
        if action.choices is not None and not isinstance(action.choices, dict):
            notes.append("one of " + ", ".join(f"`{choice}`" for choice in action.choices))
        if notes:
            help_text = f"{help_text} ({'; '.join(notes)})" if help_text else "; ".join(notes)
        rows.append(f"| `{invocation}` | {_text(help_text)} |")
    if not rows:
        return []
    return ["| option | what it does |", "| --- | --- |", *rows]


def _subcommand_list(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    lines = []
    for sub_path, _sub, help_text in command_parsers(parser, path):
        if len(sub_path) == len(path) + 1:
            name = " ".join(("lapsewatch", *sub_path))
            lines.append(f"- [`{name}`](#{anchor(sub_path)}): {_text(help_text or '')}")
    return lines


def anchor(path: tuple[str, ...]) -> str:
    """The id of a command's heading (set explicitly, so that links to it never depend on slugs)."""
    return "lapsewatch-" + "-".join(path)


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The command-line reference page, in Markdown."""
    if parser is None:
        from lapsewatch_tools.cli import build_parser

        parser = build_parser()
    lines = [
        "# Command-line reference",
        "",
        "Generated from the `lapsewatch` command's own parser (`lapsewatch_tools.cli.build_parser()`)",
        "each time the site is built, so it is always what `--help` prints. `lapsewatch --help`, and",
        "`--help` after any command, shows the same on the command line; `lapsewatch --version` prints",
        "the installed version. Shell completion for bash and zsh: [`lapsewatch completion`]"
        f"(#{anchor(('completion',))}), and [how to install it](../index.md#shell-completion).",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        _text(parser.description or ""),
        "",
        *_subcommand_list(parser, ()),
        "",
    ]
    for path, sub, help_text in command_parsers(parser):
        name = " ".join(("lapsewatch", *path))
        level = "#" * (len(path) + 1)
        lines += [f"{level} `{name}` {{#{anchor(path)}}}", ""]
        description = sub.description or help_text or ""
        if description:
            lines += [_text(description), ""]
        lines += ["```text", _usage(sub), "```", ""]
        subcommands = _subcommand_list(sub, path)
        if subcommands:
            lines += ["Commands:", "", *subcommands, ""]
        table = _options_table(sub)
        if table:
            lines += [*table, ""]
    return "\n".join(lines)


def readme_section(readme: str, heading: str = WHOIS_HEADING) -> str:
    """The README's section under `heading`, up to the next heading of its level, as a page."""
    lines = readme.splitlines()
    try:
        start = lines.index(heading)
    except ValueError:
        raise ValueError(f"README.md has no heading {heading!r}") from None
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"## ", lines[i])),
        len(lines),
    )
    body = "\n".join(lines[start + 1 : end]).strip("\n")
    # The README links to docs/PAGE.md; the page sits in docs/ itself.
    body = body.replace("](docs/", "](")
    return f"# {heading.removeprefix('## ')}\n\n{body}\n"


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    files.append(File.generated(config, WHOIS_PAGE, content=readme_section(README.read_text("utf-8"))))
    return files
