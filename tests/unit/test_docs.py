"""The documentation site: the generated CLI reference names every command and option, the README's
links reach pages that exist, and `mkdocs build --strict` passes (no broken link or anchor)."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import markdown
import pytest
import yaml

from lapsewatch_tools.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"


def _load_hooks():
    spec = importlib.util.spec_from_file_location(
        "lapsewatch_mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


# --- the CLI reference -------------------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every command path of the parser and its options, walked here independently of the hook."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                options = [s for a in sub._actions for s in a.option_strings if s not in ("-h", "--help")]
                yield (*path, name), options
                yield from _commands(sub, (*path, name))


def _sections(reference: str) -> dict[str, str]:
    """The reference's sections, by the command each heading names (`lapsewatch runs approve`)."""
    parts = re.split(r"^#{2,6} `(lapsewatch[^`]*)`.*$", reference, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def missing_from_reference(reference: str, parser: argparse.ArgumentParser) -> list[str]:
    """The commands, and the options of each, that the reference does not document."""
    sections = _sections(reference)
    missing = []
    for path, options in _commands(parser):
        name = " ".join(("lapsewatch", *path))
        section = sections.get(name)
        if section is None:
            missing.append(name)
            continue
        missing += [f"{name} {option}" for option in options if f"`{option}" not in section]
    return missing


def test_every_command_and_option_is_in_the_generated_reference():
    parser = build_parser()
    commands = [" ".join(path) for path, _ in _commands(parser)]
    # The tree itself, so that a walk that found nothing cannot pass.
    for expected in ("check", "run", "registry conformance", "runs approve", "completion"):
        assert expected in commands
    assert missing_from_reference(hooks.cli_reference(parser), parser) == []


def test_a_command_left_out_of_the_reference_is_found():
    parser = build_parser()
    reference = hooks.cli_reference(parser)
    without_serve = re.sub(
        r"^### `lapsewatch registry serve`.*?(?=^#)", "", reference, flags=re.MULTILINE | re.DOTALL
    )
    assert without_serve != reference
    assert missing_from_reference(without_serve, parser) == ["lapsewatch registry serve"]
    without_option = reference.replace("`--verified-at", "`--verified")
    assert missing_from_reference(without_option, parser) == ["lapsewatch check --verified-at"]


def test_the_reference_shows_usage_description_and_choices():
    reference = hooks.cli_reference(build_parser())
    check = _sections(reference)["lapsewatch check"]
    assert "usage: lapsewatch check" in check
    assert "Exit status: 0 all safe" in check
    completion = _sections(reference)["lapsewatch completion"]
    assert "one of `bash`, `zsh`" in completion
    # Usage is wrapped at a fixed width, whatever the terminal of whoever builds.
    usages = re.findall(r"^```text\n(.*?)^```$", reference, flags=re.MULTILINE | re.DOTALL)
    assert len(usages) == len(list(_commands(build_parser()))) + 1
    assert all(len(line) <= hooks.USAGE_WIDTH for usage in usages for line in usage.splitlines())


# --- pages, the nav and the README's links -----------------------------------------------------


def _nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _generated() -> set[str]:
    return {hooks.CLI_PAGE, hooks.WHOIS_PAGE}


def _page_text(page: str) -> str:
    if page == hooks.CLI_PAGE:
        return hooks.cli_reference(build_parser())
    if page == hooks.WHOIS_PAGE:
        return hooks.readme_section(README.read_text(encoding="utf-8"))
    return (DOCS / page).read_text(encoding="utf-8")


def _anchors(text: str) -> set[str]:
    """The ids of a page's headings, as MkDocs gives them (fenced code is not a heading)."""
    md = markdown.Markdown(extensions=["toc", "attr_list", "fenced_code", "tables"])
    md.convert(text)

    def walk(tokens):
        for token in tokens:
            yield token["id"]
            yield from walk(token["children"])

    return set(walk(md.toc_tokens))


def test_every_page_of_the_nav_exists():
    config = yaml.safe_load(MKDOCS_YML.read_text(encoding="utf-8"))
    pages = _nav_pages(config["nav"])
    assert "index.md" in pages and hooks.CLI_PAGE in pages
    missing = [page for page in pages if page not in _generated() and not (DOCS / page).is_file()]
    assert not missing, f"mkdocs.yml's nav names pages docs/ does not have: {missing}"
    assert "docs/benchmarks.md" not in pages and "benchmarks.md" in pages


def _readme_link_problems(readme: str) -> list[str]:
    config = yaml.safe_load(MKDOCS_YML.read_text(encoding="utf-8"))
    pages = set(_nav_pages(config["nav"]))
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, fragment = target.partition("#")
        if not path:
            text = readme
        else:
            file = ROOT / path
            if not file.is_file():
                problems.append(f"{target}: no such file")
                continue
            if not path.endswith(".md"):
                continue
            page = file.relative_to(DOCS).as_posix() if file.is_relative_to(DOCS) else None
            if path.startswith("docs/") and page not in pages:
                problems.append(f"{target}: not a page of the site's nav")
            text = file.read_text(encoding="utf-8")
        if fragment and fragment not in _anchors(text):
            problems.append(f"{target}: no heading with that anchor")
    return problems


def test_readme_links_reach_pages_that_exist():
    readme = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)\s]+)\)", readme)
    assert len(links) >= 10, "the README links to the docs pages"
    assert _readme_link_problems(readme) == []


def test_a_readme_link_to_a_missing_page_or_anchor_is_found():
    readme = (
        "[a](docs/deploying.md) [b](docs/no-such-page.md) [c](docs/sweep.md#no-such-heading) "
        "[d](docs/runbook.md#runheldalarm) [e](#nowhere) [f](https://example.org/x.md)"
    )
    assert _readme_link_problems(readme) == [
        "docs/no-such-page.md: no such file",
        "docs/sweep.md#no-such-heading: no heading with that anchor",
        "#nowhere: no heading with that anchor",
    ]


def test_the_readme_keeps_its_first_screen():
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen
    assert "lapsewatch" in first_screen.splitlines()[0]


def test_the_whois_page_is_the_readmes_section():
    readme = README.read_text(encoding="utf-8")
    page = hooks.readme_section(readme)
    assert page.startswith("# WHOIS")
    assert "**WHOIS**" in page
    assert "](docs/" not in page, "links are rewritten for a page inside docs/"
    with pytest.raises(ValueError):
        hooks.readme_section(readme, "## No such section")


def test_shell_completion_install_is_documented():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert "lapsewatch completion bash >" in index
    assert "lapsewatch completion zsh >" in index
    assert "shell-completion" in _anchors(index)


# --- the whole build ----------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path, monkeypatch):
    # What `make docs` runs: a broken link or anchor, a missing page or one left out of the nav
    # fails it. No network: no remote fonts, no social cards.
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    config = load_config(str(MKDOCS_YML), site_dir=str(tmp_path / "site"), strict=True)
    assert config.theme.name == "material"
    build(config)
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
    html = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'id="lapsewatch-runs-approve"' in html


def test_ci_builds_the_site_strictly():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make docs$", ci, flags=re.MULTILINE), ".ci/run builds the site"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^docs: .*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert recipe and "mkdocs build --strict" in recipe.group(1)
    assert "site/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
