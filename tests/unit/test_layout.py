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
