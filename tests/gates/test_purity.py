"""pharmsafe/gates/ is the pure rules core: stdlib only, no clock (DESIGN.md §1, STYLE.md habit 5)."""
import ast
from pathlib import Path

import pytest

import pharmsafe.gates

GATES_DIR = Path(pharmsafe.gates.__file__).parent
MODULES = sorted(GATES_DIR.rglob("*.py"))

FORBIDDEN_TOP = {"flask", "sqlalchemy", "werkzeug", "alembic", "apscheduler", "marshmallow", "jinja2"}
FORBIDDEN_PHARMSAFE = {"models", "services", "api", "web", "db", "audit", "clock", "schemas", "scheduler", "cli",
                       "config"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "localtime"), ("time", "gmtime")}


def imported_modules(tree: ast.AST, module_path: Path) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module_path.relative_to(GATES_DIR.parent.parent).with_suffix("").parts[:-node.level]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(name: str) -> bool:
    parts = name.split(".")
    if parts[0] in FORBIDDEN_TOP:
        return True
    return parts[0] == "pharmsafe" and len(parts) > 1 and parts[1] in FORBIDDEN_PHARMSAFE


def clock_calls(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if (owner_name, node.func.attr) in CLOCK_CALLS:
                found.append(f"{owner_name}.{node.func.attr}() at line {node.lineno}")
    return found


def test_the_modules_are_found():
    names = {p.name for p in MODULES}
    assert {"__init__.py", "facts.py", "results.py", "policy.py", "pregnancy.py", "labs.py"} <= names
    assert any(p.parent.name == "policies" for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(GATES_DIR)))
def test_no_framework_or_clock(path):
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    bad_imports = [n for n in imported_modules(tree, path) if is_forbidden(n)]
    assert not bad_imports, f"{path.name} imports {bad_imports}"
    assert not clock_calls(tree), f"{path.name} reads the clock: {clock_calls(tree)}"


@pytest.mark.parametrize(("source", "bad"), [
    ("import flask", True),
    ("from sqlalchemy.orm import Session", True),
    ("from pharmsafe.models import Patient", True),
    ("from pharmsafe import clock", True),
    ("import pharmsafe.services.dispense", True),
    ("from werkzeug.exceptions import NotFound", True),
    ("from pharmsafe.gates.results import Status", False),
    ("import datetime", False),
])
def test_the_import_check_itself(source, bad):
    tree = ast.parse(source)
    assert any(is_forbidden(n) for n in imported_modules(tree, GATES_DIR / "x.py")) is bad


@pytest.mark.parametrize(("source", "bad"), [
    ("datetime.now(timezone.utc)", True),
    ("datetime.datetime.now()", True),
    ("date.today()", True),
    ("time.time()", True),
    ("datetime.utcnow()", True),
    ("now.astimezone(zone)", False),
    ("datetime.combine(day, t)", False),
])
def test_the_clock_check_itself(source, bad):
    assert bool(clock_calls(ast.parse(source))) is bad
