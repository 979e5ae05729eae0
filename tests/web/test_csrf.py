"""Every form is protected: a post without its CSRF token (or with a forged one) is refused with a
400 page, and nothing is written."""
from __future__ import annotations

import re

import pytest

from pharmsafe.models import AuditEvent, User
from tests.web.conftest import Pages, text

WEB_BLUEPRINTS = ("auth", "pharmacist", "prescriber", "audit", "admin")


def web_post_rules(app) -> list[str]:
    rules = []
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint.split(".")[0] in WEB_BLUEPRINTS:
            path = re.sub(r"<any\(([^)]*)\):[^>]+>", lambda m: m.group(1).split(",")[0].strip(" '\""), rule.rule)
            rules.append(re.sub(r"<int:[^>]+>", "1", path))
    return sorted(rules)


def test_every_web_form_route_is_covered(app):
    posts = web_post_rules(app)
    assert "/login" in posts and "/logout" in posts and "/pharmacist/prescriptions/1/dispense" in posts
    assert len(posts) >= 15, posts


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_form_posted_without_its_csrf_token_is_refused(app, seed, signed_in, count, token):
    admin = signed_in(seed.user("admin"))
    before = count(AuditEvent), count(User)
    for path in web_post_rules(app):
        data = {"email": "x@example.test", "password": "whatever-password", "reason": "r", "active": "no"}
        if token:
            data["csrf_token"] = token
        resp = admin.client.post(path, data=data)
        assert resp.status_code == 400, (path, resp.status_code)
        assert resp.mimetype == "text/html"
        assert "security token is missing or out of date" in text(resp), path
    assert (count(AuditEvent), count(User)) == before
    # The session is intact: the refusal did not sign anyone out.
    assert admin.get("/admin/").status_code == 200


def test_a_token_from_another_session_is_refused(app, seed):
    email = seed.user("auditor")
    other = Pages(app.test_client())
    foreign = other.csrf_token("/login")
    resp = app.test_client().post("/login", data={"email": email, "password": "x", "csrf_token": foreign})
    assert resp.status_code == 400
