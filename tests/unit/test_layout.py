"""The runtime package (the Lambda layer) stands apart from the tools around it."""

import ast
import subprocess
import sys
from collections.abc import Iterator
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


# Modules of one job: issue 18's limits. A module of the runtime over this many lines does several
# jobs; a function over this many does several steps, each of which can have a name.
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ROOT = Path(__file__).resolve().parents[2]
# The tools' bundled folder links to functions/ (checked below, through functions/ itself).
BUNDLED = ROOT / "tools" / "lapsewatch_tools" / "bundled"
LITERALS = (ast.Dict, ast.List, ast.Set, ast.Tuple)


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not path.is_relative_to(BUNDLED):
                yield path


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The function's lines, less those inside its data literals (a table, a document): a literal
    written out in full is data, however long, and splitting it would not make it simpler."""
    data: set[int] = set()
    for node in ast.walk(function):
        if isinstance(node, LITERALS) and node.end_lineno is not None:
            data.update(range(node.lineno + 1, node.end_lineno + 1))
    assert function.end_lineno is not None
    return len(set(range(function.lineno, function.end_lineno + 1)) - data)


def function_lengths() -> list[tuple[int, str]]:
    lengths = []
    for path in python_files("layers", "tools", "functions"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                lengths.append((code_lines(node), where))
    return sorted(lengths, reverse=True)


def test_code_lines_leave_out_data_literals_only():
    source = """
def table(rows):
    width = max(len(row) for row in rows)
    return {
        "width": width,
        "rows": [
            row.ljust(width)
            for row in rows
        ],
    }
"""
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    # The def, the width and the line that opens the literal: its other six lines are data.
    assert code_lines(function) == 3
    # A comprehension is code, however it is laid out.
    loop = ast.parse("def rows(rows):\n    return [\n        row\n        for row in rows\n    ]\n").body[0]
    assert isinstance(loop, ast.FunctionDef)
    assert code_lines(loop) == 5


def test_no_runtime_module_is_longer_than_its_limit():
    lengths = sorted(
        (
            (len(path.read_text(encoding="utf-8").splitlines()), str(path.relative_to(ROOT)))
            for path in python_files("layers")
        ),
        reverse=True,
    )
    print("longest modules in layers/:", *(f"{lines} {path}" for lines, path in lengths[:5]), sep="\n  ")
    too_long = [f"{lines} {path}" for lines, path in lengths if lines > MAX_MODULE_LINES]
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {', '.join(too_long)}"


def test_no_function_is_longer_than_its_limit():
    lengths = function_lengths()
    print("longest functions:", *(f"{lines} {where}" for lines, where in lengths[:5]), sep="\n  ")
    too_long = [f"{lines} {where}" for lines, where in lengths if lines > MAX_FUNCTION_LINES]
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {', '.join(too_long)}"
