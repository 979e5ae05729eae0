"""Browser tests: real headless Chromium (Debian's package, never a downloaded build) driven by
Playwright, against a real server started here on 127.0.0.1, one per module, on a SQLite file built
by the migrations, with a fixed clock the tests can move.

Without Chromium the tests are skipped with one sentence saying what to install, unless
PHARMSAFE_REQUIRE_BROWSER=1 (CI), which makes a missing browser a failure."""
from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from pharmsafe import create_app
from pharmsafe.clock import FixedClock
from pharmsafe.runtime import runtime_of
from tests.conftest import DEFAULT_NOW, TEST_SETTINGS
from tests.web.seed import PASSWORD, Seed

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "tests" / "screenshots"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = ("Chromium not found: install Debian's chromium package (apt-get install chromium) or set "
               "PHARMSAFE_REQUIRE_BROWSER=1 to make this a failure")
NO_PLAYWRIGHT = ("Playwright for Python not found: install the test extra (pip install -e '.[test]') or set "
                 "PHARMSAFE_REQUIRE_BROWSER=1 to make this a failure")


def chromium_or_skip() -> str:
    """Debian's Chromium and Playwright, or a skip of the whole browser module with one sentence
    (a failure under PHARMSAFE_REQUIRE_BROWSER=1)."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    reason = NO_CHROMIUM if path is None else None
    if reason is None:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = NO_PLAYWRIGHT
    if reason is not None:
        if os.environ.get("PHARMSAFE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason.split(" or set ")[0] + " (PHARMSAFE_REQUIRE_BROWSER=1 makes this a failure).",
                        pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return chromium_or_skip()


class _QuietHandler(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


@dataclass
class LiveServer:
    url: str
    app: object
    clock: FixedClock
    seed: Seed


@pytest.fixture(scope="module")
def live(sqlite_template, tmp_path_factory, chromium_path):
    path = tmp_path_factory.mktemp("live") / "pharmsafe.db"
    shutil.copy(sqlite_template, path)
    clock = FixedClock(DEFAULT_NOW)
    app = create_app(dict(TEST_SETTINGS, DATABASE_URL=f"sqlite:///{path}"), clock=clock)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="pharmsafe-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, clock=clock, seed=Seed(app))
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        runtime_of(app).engine.dispose()


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def person(browser, live):
    """person(email, width=1280) -> a page in a browser context of its own, signed in as that user."""
    contexts = []

    def open_as(email: str | None, *, width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                      base_url=live.url)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if email:
            sign_in(page, email)
        return page

    yield open_as
    for context in contexts:
        context.close()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def screenshot(page, name: str) -> Path:
    """A PNG of the whole screen in tests/screenshots/ (ignored by git), for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
