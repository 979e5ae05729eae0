"""Page tests with Flask's test client: a signed-in client per role, forms posted with the CSRF
token read from the form's own page (CSRF protection stays on in tests)."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from pharmsafe.runtime import runtime_of
from tests.web.seed import PASSWORD, Seed

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Pages:
    """One person's browser session, through the test client."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def csrf_token(self, page: str, action: str | None = None) -> str:
        """The token of the form on ``page`` (whose action must be ``action`` when given)."""
        html = self.client.get(page).get_data(as_text=True)
        if action is not None:
            assert f'action="{action}"' in html, f"{page} offers no form posting to {action}"
        match = _CSRF.search(html)
        assert match, f"{page} has no CSRF token"
        return match.group(1)

    def submit(self, action: str, data: dict | None = None, *, page: str | None = None, **kw):
        """Post ``data`` the way the form on ``page`` (default: ``action`` itself) would."""
        token = self.csrf_token(page or action, action)
        return self.client.post(action, data={**(data or {}), "csrf_token": token}, **kw)

    def login(self, email: str, password: str = PASSWORD, **kw):
        return self.submit("/login", {"email": email, "password": password}, **kw)


def text(resp) -> str:
    """The page's text with tags removed and whitespace collapsed, for assertions on what people read."""
    html = resp.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def field_error(resp, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">(.*?)</p>',
                      resp.get_data(as_text=True), flags=re.S)
    return unescape(match.group(1)).strip() if match else ""


def input_value(resp, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*?value="([^"]*)"', resp.get_data(as_text=True))
    return unescape(match.group(1)) if match else None


@pytest.fixture
def seed(app):
    return Seed(app)


@pytest.fixture
def signed_in(app):
    """signed_in(email) -> Pages for a new client signed in as that user."""
    def sign_in(email: str) -> Pages:
        pages = Pages(app.test_client())
        resp = pages.login(email)
        assert resp.status_code == 302, text(resp)[:300]
        return pages
    return sign_in


@pytest.fixture
def count(app):
    """count(Model, *criteria) -> rows in the database now."""
    def counter(model, *criteria) -> int:
        with runtime_of(app).session_factory() as session:
            return session.scalar(select(func.count()).select_from(model).where(*criteria))
    return counter


@pytest.fixture
def eu_app(settings, clock):
    """The app under the eu-ppp program (no RMA), on the same database and clock."""
    from pharmsafe import create_app

    eu = create_app(dict(settings, PROGRAM="eu-ppp"), clock=clock)
    yield eu
    runtime_of(eu).engine.dispose()


def eu_dispensable(app) -> tuple[object, dict]:
    """Under eu-ppp: a Paris pharmacy's authorized prescription for a patient who cannot get pregnant."""
    from tests.web.seed import Seed

    seed = Seed(app)
    pharmacy = seed.pharmacy(time_zone="Europe/Paris")
    prescriber = seed.prescriber()
    patient = seed.patient(prescriber, can_get_pregnant=False)
    seed.ready_evidence(patient, can_get_pregnant=False)
    rx = seed.prescription(prescriber, patient, pharmacy)
    return seed, {"pharmacy": pharmacy, "rx": rx, "auth": seed.evaluate(rx)}
