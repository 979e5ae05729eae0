"""Hostile input that once answered 500: bodies nested far deeper than any schema, dates at the end of
the calendar, digits that are not ASCII, and NUL characters that PostgreSQL refuses. Each must get a
clear 4xx (the API's error shape with field messages; a page's 400 or the page with its message) and
write nothing, on both engines. Then two things a hostile neighbour reaches for: SQLite files other
local users could read, and an X-Forwarded-For header that is not an address."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pharmsafe.api.openapi import OPERATIONS
from pharmsafe.db import Base
from pharmsafe.runtime import runtime_of
from tests.support import World
from tests.web.conftest import Pages, field_error, text
from tests.web.seed import Seed


@pytest.fixture
def world(app, client):
    return World(app, client)


def footprint(app) -> dict[str, int]:
    """Row counts of every table."""
    with runtime_of(app).session_factory() as s:
        return {name: s.scalar(select(func.count()).select_from(table))
                for name, table in sorted(Base.metadata.tables.items())}


def assert_error(resp, status, code=None, field=None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.is_json, resp.get_data(as_text=True)[:200]
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert body["error"].get("fields", {}).get(field), body


# --- JSON nested far deeper than any request body -----------------------------------------------------

@pytest.fixture
def scene(world):
    """Something for every path id to name, and the role each body-reading operation needs."""
    pharmacy, rph = world.pharmacist_api()
    prescriber, doc = world.prescriber_api()
    patient = world.patient(doc)
    ids = world.ready_evidence(doc, patient)
    rx = world.prescription(doc, patient, pharmacy)
    decision = rph.ok("POST", f"/prescriptions/{rx['id']}/evaluations")
    transfer = rph.ok("POST", f"/patients/{patient['id']}/transfers-in", {
        "dispensed_on": world.day(-40), "days_supply": 30, "quantity": 60, "source_ncpdp_id": "7654321",
        "rma_number": "RMA-T1"})
    user, _ = world.user("auditor")
    path_ids = {"user_id": user["id"], "pharmacy_id": pharmacy["id"], "prescriber_id": prescriber["id"],
                "patient_id": patient["id"], "prescription_id": rx["id"],
                "authorization_id": decision["authorization"]["id"]}
    callers = {"admin": world.admin, "prescriber": doc, "pharmacist": rph}
    return path_ids, callers, {"pregnancy-tests": ids["confirmatory"], "transfers-in": transfer["id"]}


BODY_OPERATIONS = [(method, path, roles.split()[0].rstrip(",")) for method, path, roles, _s, body, *_ in OPERATIONS
                   if body is not None]


def _deep(depth: int, *, inside: str | None = None) -> str:
    nested = "[" * depth + "1" + "]" * depth
    return nested if inside is None else '{"' + inside + '": ' + nested + "}"


def _fill(path: str, path_ids: dict, evidence_ids: dict) -> str:
    for collection, evidence_id in evidence_ids.items():
        if f"/{collection}/" in path:
            path = path.replace("{evidence_id}", str(evidence_id))
    path = path.replace("{evidence_id}", "1")
    for name, value in path_ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path


@pytest.mark.parametrize("method,path,role", BODY_OPERATIONS, ids=[f"{m} {p}" for m, p, _ in BODY_OPERATIONS])
def test_json_nested_1000_deep_is_refused_by_every_body(app, scene, method, path, role):
    path_ids, callers, evidence_ids = scene
    url = _fill(path, path_ids, evidence_ids)
    before = footprint(app)
    for body in (_deep(1000), _deep(1000, inside="reason"), _deep(100_000)):
        resp = callers[role].call(method.upper(), url, data=body, headers={"Content-Type": "application/json"})
        assert_error(resp, 400, "bad_request", "_schema")
    assert footprint(app) == before


def test_nested_json_under_an_idempotency_key_is_refused_and_replayed(app, scene):
    """The 400 is the key's answer (below 500, so kept and replayed, DESIGN.md §5); nothing else is written."""
    path_ids, callers, _ = scene
    url = f"/authorizations/{path_ids['authorization_id']}/dispense"
    before = footprint(app)
    for n, body in enumerate((_deep(1000), _deep(1000, inside="quantity"))):
        for attempt in (1, 2):
            resp = callers["pharmacist"].call("POST", url, data=body, headers={
                "Content-Type": "application/json", "Idempotency-Key": f"deep-{n}"})
            assert_error(resp, 400, "bad_request", "_schema")
            assert (resp.headers.get("Idempotent-Replayed") == "true") == (attempt == 2)
    after = footprint(app)
    assert after.pop("idempotency_records") == before.pop("idempotency_records") + 2
    assert after == before


def test_moderate_nesting_is_still_a_field_error(world, app):
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    before = footprint(app)
    resp = doc.call("POST", f"/patients/{patient['id']}/attestations", data=_deep(20, inside="note"),
                    headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "validation_error", "note")
    assert footprint(app) == before


def test_a_deep_body_never_reaches_the_parser(world, app, monkeypatch):
    """A parser recursing a thousand levels raises RecursionError, and on CPython 3.11 that can leave
    the interpreter's recursion count off, so that a later template compile fails ("AST constructor
    recursion depth mismatch"): the depth is read from the bytes first."""
    import pharmsafe.api.common as common

    real = common.json.loads
    parsed = []

    body = _deep(1000)

    def loads(raw, **kw):
        parsed.append(raw == body or raw == body.encode() if isinstance(body, str) else raw == body)
        return real(raw, **kw)

    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    monkeypatch.setattr(common.json, "loads", loads)
    resp = doc.call("POST", f"/patients/{patient['id']}/attestations", data=body,
                    headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_request", "_schema")
    assert True not in parsed


@pytest.mark.parametrize("raw,deep", [
    ("[" * 33 + "]" * 33, True), ("[" * 32 + "]" * 32, False),
    ('{"a": "' + "[" * 100 + '"}', False),  # brackets in a string do not nest
    ('{"a": "\\\\"' + ", " + "[" * 40 + "]" * 40 + "}", True),  # an escaped backslash ends no string
    ('{"a": "\\\\"[[[["}', False), ("{" * 40, True), ("", False),
    ('"' + "[" * 40, False),  # a string never closed runs to the end
    ('"\\' , False), ("[" * 40 + '"\\', True),  # a lone backslash at the very end
])
def test_the_depth_is_read_before_parsing(raw, deep):
    from pharmsafe.api.common import nested_too_deep

    assert nested_too_deep(raw) is deep


def test_the_depth_check_is_one_pass_over_a_hostile_body():
    """A quote followed by escaped quotes to the end of a 1 MiB body once made the check retry from
    every quote (about an hour of one core per request); now the body is read once."""
    from pharmsafe.api.common import nested_too_deep

    body = '"' + '\\"' * (512 * 1024 - 1)
    assert len(body) > 1024 * 1024 - 2 and nested_too_deep(body) is False
    assert nested_too_deep('"\\' * 300_000 + "[" * 33) is False  # all inside one string never closed


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_deep_body_in_utf16_or_utf32_is_refused_too(world, app, encoding):
    """json.loads reads UTF-16 and -32 too: the depth is read from the decoded text, so a character
    whose UTF-16 bytes hold a quote byte (U+0122 is 22 01) cannot hide the brackets from it."""
    _, doc = world.prescriber_api()
    patient = world.patient(doc)
    before = footprint(app)
    body = ('{"note": ["\u0122", ' + "[" * 3000 + "]" * 3000 + ', "\u0122"]}').encode(encoding)
    resp = doc.call("POST", f"/patients/{patient['id']}/attestations", data=body,
                    headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "bad_request", "_schema")
    assert footprint(app) == before


def test_a_deep_body_under_an_idempotency_key_never_reaches_a_parser(app, scene, monkeypatch):
    import json

    path_ids, callers, _ = scene
    body = _deep(1000)
    real, parsed = json.loads, []

    def loads(raw, **kw):
        parsed.append(raw in (body, body.encode()))
        return real(raw, **kw)

    monkeypatch.setattr(json, "loads", loads)  # the module both the view and the key's hash use
    resp = callers["pharmacist"].call("POST", f"/authorizations/{path_ids['authorization_id']}/dispense",
                                      data=body, headers={"Content-Type": "application/json",
                                                          "Idempotency-Key": "deep-parsed"})
    assert_error(resp, 400, "bad_request", "_schema")
    assert True not in parsed


# --- audit filters at the edge of the calendar, and NUL ------------------------------------------------

@pytest.mark.parametrize("query,field", [
    ("until=9999-12-31", "until"),
    ("since=9999-12-31&until=9999-12-31", "until"),
    ("until=9999-12-31T23:59:59-05:00", "until"),
    ("since=9999-12-31T23:59:59-05:00", "since"),
    ("since=0001-01-01T00:00:00%2B14:00", "since"),
    ("until=0001-01-01", "until"),
    ("subject=patient:1%00", "subject"),
    ("subject=patient:%00", "subject"),
    ("action=user.login%00", "action"),
    ("since=2026-11-01T%00", "since"),
])
@pytest.mark.parametrize("endpoint", ["/audit-events", "/audit-events/export"])
def test_audit_filters_refuse_what_no_instant_or_column_can_hold(world, app, endpoint, query, field):
    _, auditor = world.user("auditor")
    before = footprint(app)
    assert_error(auditor.get(f"{endpoint}?{query}"), 422, "validation_error", field)
    assert footprint(app) == before


def test_audit_filters_at_the_edges_that_fit_still_work(world):
    _, auditor = world.user("auditor")
    assert auditor.ok("GET", "/audit-events?until=9998-12-31")["items"]
    assert auditor.ok("GET", "/audit-events?since=1900-01-01&until=9998-12-31T23:59:59Z")["items"]
    assert auditor.get("/audit-events/export?until=9998-12-31&format=ndjson").status_code == 200


# --- digits that are not ASCII in path ids --------------------------------------------------------------

@pytest.mark.parametrize("raw", ["\uff11\uff12", "\u00b2", "\u0661", "\U0001d7d9", "1\u00b2"])
def test_path_ids_are_ascii_digits_only(world, app, raw):
    rph, doc, patient, rx, decision = world.authorized()
    before = footprint(app)
    for caller, method, path in ((rph, "GET", f"/prescriptions/{raw}"), (doc, "GET", f"/patients/{raw}"),
                                 (rph, "POST", f"/prescriptions/{raw}/evaluations"),
                                 (world.admin, "PATCH", f"/pharmacies/{raw}"),
                                 (rph, "GET", f"/authorizations/{raw}")):
        resp = caller.call(method, path, json={} if method == "PATCH" else None)
        assert_error(resp, 404, "not_found")
    assert footprint(app) == before


def test_full_width_digits_never_name_a_record(world, app):
    rph, doc, patient, rx, decision = world.authorized()
    full_width = "".join(chr(0xFF10 + int(d)) for d in str(rx["id"]))
    assert rph.get(f"/prescriptions/{rx['id']}").status_code == 200
    assert_error(rph.get(f"/prescriptions/{full_width}"), 404, "not_found")


# --- pages --------------------------------------------------------------------------------------------

@pytest.fixture
def seed(app):
    return Seed(app)


def _signed_in(app, email) -> Pages:
    pages = Pages(app.test_client())
    assert pages.login(email).status_code == 302
    return pages


@pytest.fixture
def pharmacist_pages(app, seed):
    scene = seed.scene()
    return _signed_in(app, scene["pharmacist"])


@pytest.fixture
def auditor_pages(app, seed):
    seed.scene()
    return _signed_in(app, seed.user("auditor"))


@pytest.mark.parametrize("page", ["\u00b2", "\uff12", "\u0663", "2x", "-1", "1e3", "2\u00b2"])
def test_queue_page_number_that_is_not_a_number_is_a_400_page(app, pharmacist_pages, page):
    before = footprint(app)
    resp = pharmacist_pages.get("/pharmacist/", query_string={"page": page})
    assert resp.status_code == 400, text(resp)[:300]
    assert "page number" in text(resp)
    assert footprint(app) == before


@pytest.mark.parametrize("page", ["", "0", "2", "99999999999999999999", "9" * 5000])
def test_queue_page_numbers_in_digits_still_work(pharmacist_pages, page):
    """Out of range is clamped (1 to 10,000), as before; 5,000 digits are more than int() reads."""
    assert pharmacist_pages.get("/pharmacist/", query_string={"page": page}).status_code == 200


@pytest.mark.parametrize("q", ["\x00", "Park\x00", "a\x01b", "\x7f"])
def test_queue_search_with_a_control_character_is_a_400_page(app, pharmacist_pages, q):
    before = footprint(app)
    resp = pharmacist_pages.get("/pharmacist/", query_string={"q": q})
    assert resp.status_code == 400, text(resp)[:300]
    assert "control characters" in text(resp)
    assert footprint(app) == before


def test_queue_search_keeps_working_for_ordinary_text(pharmacist_pages):
    assert pharmacist_pages.get("/pharmacist/", query_string={"q": "Park\tMia"}).status_code == 200


@pytest.mark.parametrize("before_id", ["\u00b2", "\uff11\uff12", "12a", "-3"])
def test_audit_page_before_that_is_not_a_number_shows_the_page_with_a_message(app, auditor_pages, before_id):
    before = footprint(app)
    resp = auditor_pages.get("/audit/", query_string={"before": before_id})
    assert resp.status_code == 400, text(resp)[:300]
    assert "Audit trail" in text(resp) and "before" in text(resp)
    assert footprint(app) == before


@pytest.mark.parametrize("query,field", [({"until": "9999-12-31"}, "until"), ({"subject": "patient:1\x00"}, "subject"),
                                         ({"since": "9999-12-31T23:00:00-05:00"}, "since")])
@pytest.mark.parametrize("endpoint", ["/audit/", "/audit/export"])
def test_audit_page_filters_that_cannot_be_held_are_field_errors(app, auditor_pages, endpoint, query, field):
    before = footprint(app)
    resp = auditor_pages.get(endpoint, query_string=query)
    assert resp.status_code == 422, text(resp)[:300]
    assert field_error(resp, f"f-{field}"), text(resp)[:500]
    assert footprint(app) == before


# --- a local reader of the SQLite files -----------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_sqlite_files_are_created_readable_by_the_owner_only(tmp_path, umask):
    import os
    import stat

    from sqlalchemy import text as sql

    from pharmsafe.db import make_engine

    path = tmp_path / "fresh" / "pharmsafe.db"
    previous = os.umask(umask)
    try:
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:  # a write: WAL mode makes the -wal and -shm files
            conn.execute(sql("CREATE TABLE t (x INTEGER)"))
            conn.execute(sql("INSERT INTO t VALUES (1)"))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        modes = {f.name: oct(stat.S_IMODE(os.stat(f).st_mode)) for f in files}
        engine.dispose()
    finally:
        os.umask(previous)
    assert modes == {f.name: "0o600" for f in files}


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path):
    import os
    import stat

    from pharmsafe.db import make_engine

    path = tmp_path / "given.db"
    path.touch()
    os.chmod(path, 0o640)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect():
        pass
    engine.dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


# --- X-Forwarded-For behind PHARMSAFE_TRUSTED_PROXY_HOPS ------------------------------------------------

FORWARDED = [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:DB8:0:0::1", "2001:db8::1"),
    ("198.51.100.1, 203.0.113.9", "203.0.113.9"),  # one trusted hop: the address it saw
    ("evil", "127.0.0.1"),
    ("203.0.113.9:4711", "127.0.0.1"),
    ("[2001:db8::1]", "127.0.0.1"),
    ("<script>alert(1)</script>", "127.0.0.1"),
    ("203.0.113.9, not-an-address", "127.0.0.1"),
    ("1" * 300, "127.0.0.1"),
    ("999.1.1.1", "127.0.0.1"),
    ("\u0661.2.3.4", "127.0.0.1"),
]


@pytest.fixture
def proxied_app(settings, clock):
    """The app behind one trusted proxy, with a route that shows what it takes for the client."""
    from flask import jsonify, request

    from pharmsafe import create_app

    app = create_app(dict(settings, TRUSTED_PROXY_HOPS=1), clock=clock)
    app.add_url_rule("/_client", "client_seen", lambda: jsonify(addr=request.remote_addr, scheme=request.scheme))
    yield app
    runtime_of(app).engine.dispose()


@pytest.mark.parametrize("header,expected", FORWARDED)
def test_forwarded_for_is_taken_only_when_it_is_an_ip_address(proxied_app, header, expected):
    seen = proxied_app.test_client().get("/_client", headers={"X-Forwarded-For": header},
                                         environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert seen.get_json()["addr"] == expected


@pytest.mark.parametrize("proto,expected", [("https", "https"), ("http", "http"), ("javascript", "http"),
                                            ("HTTPS, https", "https")])
def test_forwarded_proto_is_taken_only_when_it_is_http_or_https(proxied_app, proto, expected):
    seen = proxied_app.test_client().get("/_client", headers={"X-Forwarded-Proto": proto})
    assert seen.get_json()["scheme"] == expected


@pytest.mark.parametrize("header,expected", FORWARDED)
def test_the_middleware_alone(header, expected):
    from pharmsafe.http.routing import trusted_proxy

    seen = {}

    def inner(environ, start_response):
        seen["addr"] = environ["REMOTE_ADDR"]
        start_response("204 No Content", [])
        return []

    wrapped = trusted_proxy(inner, 1)
    wrapped({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": header, "wsgi.url_scheme": "http",
             "REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *a: None)
    assert seen["addr"] == expected
