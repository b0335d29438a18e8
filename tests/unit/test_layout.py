"""The runtime package (the Lambda layer) stands apart from the tools around it."""

import ast
import subprocess
import sys
from pathlib import Path

import lapsewatch

RUNTIME = Path(lapsewatch.__file__).parent
# `python -m lapsewatch` starts the command line, a tool; it never runs in a Lambda function.
ENTRY_POINT = RUNTIME / "__main__.py"


def runtime_modules():
    for path in sorted(RUNTIME.rglob("*.py")):
        if path != ENTRY_POINT:
            yield path


def test_no_runtime_module_names_the_tools():
    for path in runtime_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "lapsewatch_tools" for name in names), path


def test_every_runtime_module_imports_without_the_tools():
    modules = [
        ".".join(path.relative_to(RUNTIME.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in runtime_modules()
    ]
    # As in a Lambda function: the tools are not installed.
    program = "import importlib, sys\nsys.modules['lapsewatch_tools'] = None\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in modules
    )
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def test_the_tools_ship_the_files_they_read_as_links_to_the_one_copy():
    from lapsewatch_tools.bundled import bundled

    root = Path(__file__).resolve().parents[2]
    assert bundled("template.yaml").resolve() == root / "template.yaml"
    assert bundled("functions").resolve() == root / "functions"
    assert bundled("registry-api.yaml").resolve() == root / "docs" / "registry-api.yaml"


def test_a_command_that_needs_the_local_extra_says_which_to_install(monkeypatch, capsys):
    import importlib.util

    from lapsewatch_tools.cli import main

    real = importlib.util.find_spec

    def without_moto(name, *args):
        return None if name == "moto" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_moto)
    assert main(["run"]) == 2
    assert "pip install 'lapsewatch[local]'" in capsys.readouterr().err
