"""Every screen: a title of its own, the one stylesheet, a label for every field, a Sign out button
when signed in; and the error pages in the same style."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.web.conftest import text


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields, self.labels, self.title, self.in_title, self.stylesheets = [], set(), "", False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append(a.get("id"))
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"])
        elif tag == "title":
            self.in_title = True
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href"))

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def parse(resp) -> Page:
    page = Page()
    page.feed(resp.get_data(as_text=True))
    return page


@pytest.fixture
def world(seed):
    scene = seed.scene(evaluate=True)
    scene["admin"] = seed.user("admin")
    scene["auditor"] = seed.user("auditor")
    scene["transfer"] = seed.transfer_in(scene["patient"], scene["pharmacy"])
    return scene


def screens(world) -> dict[str, list[str]]:
    patient, rx = world["patient"], world["rx"]
    return {
        "pharmacist": ["/pharmacist/", f"/pharmacist/prescriptions/{rx}",
                       f"/pharmacist/prescriptions/{rx}/transfers-in/new",
                       f"/pharmacist/prescriptions/{rx}/transfers-in/{world['transfer']}/entered-in-error"],
        "doctor": ["/prescriber/", "/prescriber/patients/new", f"/prescriber/patients/{patient}",
                   f"/prescriber/patients/{patient}/edit",
                   f"/prescriber/patients/{patient}/pregnancy-tests/new", f"/prescriber/patients/{patient}/lab-results/new",
                   f"/prescriber/patients/{patient}/attestations/new",
                   f"/prescriber/patients/{patient}/lab-results/1/entered-in-error",
                   "/prescriber/prescriptions/new", f"/prescriber/prescriptions/{rx}"],
        "auditor": ["/audit/", "/audit/verification"],
        "admin": ["/admin/", "/admin/pharmacies", "/admin/pharmacies/new", f"/admin/pharmacies/{world['pharmacy']}",
                  "/admin/prescribers", "/admin/prescribers/new", f"/admin/prescribers/{world['prescriber']}",
                  "/admin/users", "/admin/users/new", "/admin/users/1"],
    }


def test_every_screen_has_a_title_the_stylesheet_labels_and_sign_out(world, signed_in):
    for who, paths in screens(world).items():
        titles = set()
        pages = signed_in(world[who])
        for path in paths:
            resp = pages.get(path)
            assert resp.status_code == 200, path
            page = parse(resp)
            assert page.title.endswith(" · PharmSafe") and page.title not in titles, (path, page.title)
            titles.add(page.title)
            assert page.stylesheets == ["/static/pharmsafe.css"], path
            unlabelled = [f for f in page.fields if f is None or f not in page.labels]
            assert not unlabelled, (path, unlabelled)
            assert ">Sign out</button>" in resp.get_data(as_text=True), path


def test_the_stylesheet_is_served(client):
    with client.get("/static/pharmsafe.css") as resp:
        assert resp.status_code == 200 and resp.mimetype == "text/css"
        assert b"@media (max-width: 640px)" in resp.data


def test_a_500_page_is_in_the_same_style_and_says_nothing_was_saved(app):
    @app.get("/web-test-boom")
    def boom():
        raise RuntimeError("boom")

    resp = app.test_client().get("/web-test-boom", headers={"Accept": "text/html"})
    assert resp.status_code == 500 and resp.mimetype == "text/html"
    assert "Something went wrong" in text(resp) and "nothing was saved" in text(resp)
    assert "/static/pharmsafe.css" in resp.get_data(as_text=True)
    assert "boom" not in text(resp)


def test_a_404_page_for_an_anonymous_visitor_points_to_sign_in(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and "Go to the sign-in page" in text(resp)
