"""A built wheel runs: installed into a fresh virtual environment outside the checkout, its
`pharmsafe db upgrade`, `pharmsafe demo load` and `pharmsafe serve` work, and the pages, the
stylesheet and the migrations come from the wheel itself."""
from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.test_scheduler import free_port, stop, wait_for

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parent.parent
SOURCE_FILES = ("pyproject.toml", "README.md", "constraints.txt", "pharmsafe")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def run(args, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def get(port: int, path: str) -> tuple[int | None, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return None, b""
    finally:
        conn.close()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, work folder): the wheel built from a copy of the sources, installed in a new venv."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCE_FILES:
        path = CHECKOUT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=IGNORED)
        else:
            shutil.copy2(path, source / name)
    dist = root / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(source)])
    [wheel] = dist.glob("pharmsafe-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-c", str(CHECKOUT / "constraints.txt"),
         str(wheel)])
    work = root / "elsewhere"
    work.mkdir()
    return bin_dir, work


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHARMSAFE_") and k != "VIRTUAL_ENV"}
    return {**env, **extra}


def test_the_wheel_holds_the_templates_static_files_migrations_and_config(installed):
    bin_dir, work = installed
    code = ("import pathlib, pharmsafe; root = pathlib.Path(pharmsafe.__file__).parent; "
            "print(root); print(*(p.relative_to(root) for p in sorted(root.rglob('*')) if p.is_file()), sep='\\n')")
    out = run([str(bin_dir / "python"), "-c", code], cwd=work, env=clean_env()).stdout.splitlines()
    root, files = Path(out[0]), set(out[1:])
    assert CHECKOUT not in root.parents, "the test imported the checkout, not the wheel"
    assert {"templates/base.html", "templates/pharmacist/queue.html", "static/pharmsafe.css",
            "migrations/env.py", "migrations/script.py.mako", "migrations/versions/0001_initial_schema.py",
            "config/default.py", "config/development.py", "gates/policies/ipledge-2026.json",
            "reference/isotretinoin-products.csv"} <= files


def test_upgrade_demo_and_serve_from_the_wheel(installed):
    bin_dir, work = installed
    env = clean_env(PHARMSAFE_CONFIG="config/development.py")
    upgraded = run([str(bin_dir / "pharmsafe"), "db", "upgrade"], cwd=work, env=env)
    assert "Traceback" not in upgraded.stderr
    demo = run([str(bin_dir / "pharmsafe"), "demo", "load"], cwd=work, env=env)
    instance = bin_dir.parent / "var" / "pharmsafe-instance"
    assert (instance / "pharmsafe.db").is_file() and (instance / "demo-credentials.txt").is_file(), demo.stdout
    port = free_port()
    proc = subprocess.Popen([str(bin_dir / "pharmsafe"), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: get(port, "/healthz")[0] == 200, timeout=60)
        status, body = get(port, "/readyz")
        assert status == 200 and b'"ready"' in body
        status, body = get(port, "/login")
        assert status == 200 and b"<title>Sign in" in body
        status, body = get(port, "/static/pharmsafe.css")
        assert status == 200 and body
        status, body = get(port, "/api/v1/openapi.json")
        assert status == 200 and b'"openapi"' in body
    finally:
        stop(proc)
    assert not (CHECKOUT / "build").exists()
