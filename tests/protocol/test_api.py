"""Completeness checks on the protocol package's public surface (httpx tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import protocol
from protocol import errors

PUBLIC_MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(protocol.__path__) if not name.startswith("_")
)
KNOWN_MODULES = {"advert", "bluezone", "errors", "export", "keyfile", "keys", "publish"}
ERROR_CLASSES = [
    obj for obj in vars(errors).values() if inspect.isclass(obj) and issubclass(obj, BaseException)
]
FORBIDDEN_IMPORTS = {"beacon", "tracer_server", "sim", "fastapi", "sqlalchemy"}


def module(name: str) -> ModuleType:
    return importlib.import_module(f"protocol.{name}")


def test_every_spec_module_is_present() -> None:
    assert set(PUBLIC_MODULES) >= KNOWN_MODULES


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_public_module_declares_all(name: str) -> None:
    assert isinstance(getattr(module(name), "__all__", None), list | tuple), f"protocol.{name} has no __all__"


@pytest.mark.parametrize("name", [*PUBLIC_MODULES, None], ids=lambda name: name or "protocol")
def test_every_name_in_all_exists(name: str | None) -> None:
    mod = protocol if name is None else module(name)
    missing = [member for member in mod.__all__ if not hasattr(mod, member)]
    assert not missing, f"{mod.__name__}.__all__ names what it does not define: {missing}"
    assert len(set(mod.__all__)) == len(mod.__all__), f"{mod.__name__}.__all__ repeats a name"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_function_and_class_is_in_all(name: str) -> None:
    mod = module(name)
    defined = {
        member
        for member, obj in vars(mod).items()
        if not member.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == mod.__name__
    }
    assert not defined - set(mod.__all__), f"public in {mod.__name__} but not in __all__"


@pytest.mark.parametrize("error", ERROR_CLASSES, ids=lambda e: e.__name__)
def test_every_error_derives_from_protocol_error_and_value_error(error: type[BaseException]) -> None:
    assert issubclass(error, errors.ProtocolError)
    if error is not errors.ProtocolError:
        assert issubclass(error, ValueError)


def test_every_error_class_is_in_errors_all() -> None:
    assert {error.__name__ for error in ERROR_CLASSES} == set(errors.__all__)


def test_errors_module_docstring_draws_every_error() -> None:
    for error in ERROR_CLASSES:
        assert error.__name__ in (errors.__doc__ or ""), error.__name__


def raised_error_names(mod: ModuleType) -> set[str]:
    """Names of protocol.errors classes that appear in a ``raise`` statement of the module."""
    tree = ast.parse(Path(inspect.getfile(mod)).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                names.add(target.id)
            elif isinstance(target, ast.Attribute):
                names.add(target.attr)
    return names & set(errors.__all__)


@pytest.mark.parametrize("name", [name for name in PUBLIC_MODULES if name != "errors"])
def test_every_error_a_module_raises_is_exported_by_it(name: str) -> None:
    mod = module(name)
    raised = raised_error_names(mod)
    assert not raised - set(mod.__all__), f"{mod.__name__} raises errors it does not export"
    for error in raised:
        assert getattr(mod, error) is getattr(errors, error)


def test_export_exports_every_export_error() -> None:
    from protocol import export

    export_errors = {e.__name__ for e in ERROR_CLASSES if issubclass(e, errors.ExportError)}
    assert export_errors <= set(export.__all__)


def test_protocol_imports_no_beacon_server_or_simulator_code() -> None:
    imports = "; ".join(f"import protocol.{name}" for name in PUBLIC_MODULES)
    code = (
        f"{imports}; import sys; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN_IMPORTS)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(protocol.__file__).parent.parent,
    )
    assert result.stdout.strip() == "[]"


def test_tests_run_without_bluezone_environment_variables() -> None:
    """tests/conftest.py strips BLUEZONE_* so a developer's shell cannot change results."""
    assert not [name for name in os.environ if name.startswith("BLUEZONE_")]
