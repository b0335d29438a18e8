"""The lock and the layer's requirements agree with pyproject.toml, and neither is edited by hand."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("lapsewatch_lock_script", ROOT / "scripts" / "lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


lock = _load_script()


def _pins(path: Path) -> dict:
    return lock.parse_lock(path.read_text(encoding="utf-8"))


def test_layer_requirements_are_what_the_lock_gives():
    # On failure: run `make lock` (never edit layers/lapsewatch/requirements.txt by hand).
    assert lock.LAYER_REQUIREMENTS.read_text(encoding="utf-8") == lock.layer_requirements()


def test_every_runtime_dependency_is_pinned_alike_in_the_lock_and_the_layer():
    locked = _pins(lock.LOCK)
    layer = _pins(lock.LAYER_REQUIREMENTS)
    runtime, _ = lock.project_requirements()
    for requirement in runtime:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name].version, prereleases=True), requirement
        if name in lock.PROVIDED_BY_LAMBDA:
            assert name not in layer, f"{name} comes with the Lambda runtime"
        else:
            assert layer.get(name) == locked[name], f"{name}: the layer and the lock differ"
    # Everything the layer pins, the lock pins the same way (versions and hashes).
    for name, pin in layer.items():
        assert locked.get(name) == pin, name


def test_every_extra_dependency_is_in_the_lock():
    locked = _pins(lock.LOCK)
    _, extras = lock.project_requirements()
    for requirement in (r for specs in extras.values() for r in specs):
        name = canonicalize_name(requirement.name)
        if name == "lapsewatch":
            continue
        assert name in locked, f"{requirement} is not in requirements.lock"
        assert requirement.specifier.contains(locked[name].version, prereleases=True), requirement


def test_every_pin_is_exact_and_hashed():
    for path in (lock.LOCK, lock.LAYER_REQUIREMENTS):
        pins = _pins(path)
        assert pins, path
        for pin in pins.values():
            assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), (path, pin.name)


def test_parse_lock_reads_continuations_comments_and_hashes():
    text = (
        "# header\n"
        "Foo_Bar==1.2 \\\n"
        "    --hash=sha256:bb \\\n"
        "    --hash=sha256:aa\n"
        "    # via\n"
        "    #   lapsewatch (pyproject.toml)\n"
        "baz==3.0 ; python_version >= '3.13' \\\n"
        "    --hash=sha256:cc\n"
        "    # via foo-bar\n"
    )
    pins = lock.parse_lock(text)
    assert pins == {
        "foo-bar": lock.Pin("foo-bar", "1.2", ("sha256:aa", "sha256:bb")),
        "baz": lock.Pin("baz", "3.0", ("sha256:cc",)),
    }


def test_parse_lock_refuses_a_range():
    with pytest.raises(lock.LockError):
        lock.parse_lock("requests>=2.32\n")


def test_the_license_is_apache_2():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
