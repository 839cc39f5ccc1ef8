"""The dependency direction of STYLE.md: caseworker -> channels -> routing -> models, checked with ast."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("caseworker", "channels", "routing", "models")

# What each layer may not import (a prefix match on the imported module's dotted name).
FORBIDDEN = {
    "models": ("caseworker", "channels", "routing", "flask", "flask_login", "flask_wtf", "flask_socketio",
               "wtforms", "rq"),
    "routing": ("caseworker", "channels", "flask", "flask_login", "flask_wtf", "flask_socketio", "wtforms"),
    "channels": ("caseworker", "flask", "flask_login", "flask_wtf", "flask_socketio", "wtforms"),
    "caseworker": (),
}
SOCKETIO_MODULES = {"caseworker/extensions.py", "caseworker/realtime.py"}


def imported_modules(source: str, module_path: str) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in `source`; relative imports resolved against `module_path`."""
    package = module_path.removesuffix(".py").replace("/", ".").rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """Every import under `root` that breaks the rules, as 'path:line: message'."""
    found = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, name in imported_modules(path.read_text(), rel):
                found += [f"{rel}:{line}: {layer} imports {name}"
                          for prefix in FORBIDDEN[layer] if _matches(name, prefix)]
                if _matches(name, "flask_socketio") and rel not in SOCKETIO_MODULES:
                    found.append(f"{rel}:{line}: flask_socketio outside extensions.py and realtime.py")
                if layer == "channels" and _matches(name, "routing") and name.split(".")[:2] not in (
                        ["routing"], ["routing", "request_assignment"], ["routing", "ROUTING_QUEUE"]):
                    found.append(f"{rel}:{line}: channels uses routing other than through routing/__init__.py")
    return sorted(set(found))


def test_the_project_keeps_the_dependency_direction():
    assert violations(ROOT) == []


@pytest.mark.parametrize("layer, source, expected", [
    ("models", "from caseworker import create_app\n", "models imports caseworker"),
    ("models", "import flask\n", "models imports flask"),
    ("routing", "from channels.intake import ingest\n", "routing imports channels.intake"),
    ("channels", "from flask import request\n", "channels imports flask"),
    ("channels", "from routing.engine import assign\n", "other than through routing/__init__.py"),
    ("caseworker", "from flask_socketio import emit\n", "flask_socketio outside"),
    ("routing", "from ..caseworker import auth\n", "routing imports caseworker"),
])
def test_a_breaking_import_is_caught(tmp_path, layer, source, expected):
    for name in LAYERS:
        (tmp_path / name).mkdir()
    (tmp_path / layer / "bad.py").write_text(source)
    found = violations(tmp_path)
    assert len(found) >= 1 and expected in found[0], found


def test_allowed_imports_pass(tmp_path):
    for name in LAYERS:
        (tmp_path / name).mkdir()
    (tmp_path / "channels" / "ok.py").write_text("from routing import request_assignment\nfrom models import Case\n")
    (tmp_path / "caseworker" / "ok.py").write_text("from channels import intake\nfrom routing import engine\n")
    assert violations(tmp_path) == []
