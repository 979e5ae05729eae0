"""Every route the app registers, API and web, against every role and anonymous.

The table below is the access policy; a route the app registers without an entry here fails the
test, so no route ships without a decision about who may use it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pharmsafe.models import ApiToken, LabResult, SignInCounter, User
from pharmsafe.runtime import runtime_of
from pharmsafe.services.users import open_web_session
from tests.support import World
from tests.web.conftest import Pages

ANON, ADMIN, DOC, OTHER_DOC, RPH, OTHER_RPH, AUDITOR, TECH, MANAGER = (
    "anonymous", "admin", "prescriber", "other_prescriber", "pharmacist", "other_pharmacist", "auditor",
    "technician", "manager")
SIGNED_IN = {ADMIN, DOC, OTHER_DOC, RPH, OTHER_RPH, AUDITOR, TECH, MANAGER}
PRESCRIBERS, PHARMACISTS = {DOC, OTHER_DOC}, {RPH, OTHER_RPH}
PUBLIC = SIGNED_IN | {ANON}

# (method, rule) -> the actors who get past authentication, role and ownership. `DOC` owns the
# patient and the prescription; `RPH` works at the pharmacy it is routed to.
POLICY = {
    ("POST", "/api/v1/users"): {ADMIN},
    ("PATCH", "/api/v1/users/<int:user_id>"): {ADMIN},
    ("POST", "/api/v1/users/<int:user_id>/tokens"): {ADMIN},
    ("DELETE", "/api/v1/tokens/<int:token_id>"): {ADMIN},
    ("POST", "/api/v1/pharmacies"): {ADMIN},
    ("GET", "/api/v1/pharmacies"): SIGNED_IN,
    ("PATCH", "/api/v1/pharmacies/<int:pharmacy_id>"): {ADMIN},
    ("POST", "/api/v1/prescribers"): {ADMIN},
    ("GET", "/api/v1/prescribers"): {ADMIN} | PHARMACISTS,
    ("PATCH", "/api/v1/prescribers/<int:prescriber_id>"): {ADMIN},
    ("POST", "/api/v1/patients"): {ADMIN} | PRESCRIBERS,
    ("GET", "/api/v1/patients"): {ADMIN} | PRESCRIBERS | PHARMACISTS,
    ("GET", "/api/v1/patients/<int:patient_id>"): {ADMIN, DOC, RPH},
    ("PATCH", "/api/v1/patients/<int:patient_id>"): {ADMIN, DOC},
    **{("POST", f"/api/v1/patients/<int:patient_id>/{c}"): {DOC}
       for c in ("pregnancy-tests", "lab-results", "attestations")},
    **{("POST", f"/api/v1/patients/<int:patient_id>/{c}/<int:evidence_id>/entered-in-error"): {DOC}
       for c in ("pregnancy-tests", "lab-results", "attestations")},
    ("POST", "/api/v1/patients/<int:patient_id>/transfers-in"): {RPH},
    ("POST", "/api/v1/patients/<int:patient_id>/transfers-in/<int:evidence_id>/entered-in-error"): {RPH},
    ("POST", "/api/v1/prescriptions"): PRESCRIBERS,
    **{(m, r): {RPH} for m in ("GET", "POST") for r in (
        "/pharmacist/prescriptions/<int:prescription_id>/transfers-in/new",
        "/pharmacist/prescriptions/<int:prescription_id>/transfers-in/<int:evidence_id>/entered-in-error")},
    **{(m, "/prescriber/patients/<int:patient_id>/edit"): {DOC} for m in ("GET", "POST")},
    **{(m, "/prescriber/patients/<int:patient_id>/visit"): {DOC} for m in ("GET", "POST")},
    ("GET", "/api/v1/prescriptions"): PRESCRIBERS | PHARMACISTS,
    ("GET", "/api/v1/prescriptions/<int:prescription_id>"): {DOC, RPH},
    ("POST", "/api/v1/prescriptions/<int:prescription_id>/evaluations"): {RPH},
    ("GET", "/api/v1/authorizations/<int:authorization_id>"): {ADMIN, RPH},
    ("POST", "/api/v1/authorizations/<int:authorization_id>/dispense"): {RPH},
    ("POST", "/api/v1/authorizations/<int:authorization_id>/reversal"): {RPH},
    ("GET", "/api/v1/audit-events"): {ADMIN, AUDITOR},
    ("GET", "/api/v1/audit-events/export"): {ADMIN, AUDITOR},
    ("GET", "/api/v1/audit-events/verification"): {ADMIN, AUDITOR},
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/fhir/R4/metadata"): PUBLIC,
    ("GET", "/fhir/R4/GuidanceResponse/<int:decision_id>"): {ADMIN, DOC, RPH},
    ("POST", "/fhir/R4/MedicationRequest/<int:prescription_id>/$evaluate"): {RPH},
    ("GET", "/fhir/R4/MedicationDispense/<string:logical_id>"): {ADMIN, DOC, RPH},
    # Anyone of these roles may ask; what they may not see answers "failure", never 403 (INTEROP.md §4.2).
    ("POST", "/fhir/R4/GuidanceResponse/$rems-etasu"): {ADMIN, DOC, RPH, OTHER_DOC, OTHER_RPH},
    ("GET", "/fhir/R4/Questionnaire/isotretinoin-attestation"): PUBLIC,
    # Writes are a prescriber's (own patients: judged once the body names them); the search answers
    # each caller with what they may see.
    ("POST", "/fhir/R4"): PRESCRIBERS,
    ("POST", "/fhir/R4/<any(Observation, QuestionnaireResponse, MedicationRequest):resource_type>"): PRESCRIBERS,
    ("PUT", "/fhir/R4/<any(Observation, QuestionnaireResponse):resource_type>"): PRESCRIBERS,
    ("PUT", "/fhir/R4/<any(Observation, QuestionnaireResponse):resource_type>/<string:logical_id>"): PRESCRIBERS,
    ("GET", "/fhir/R4/MedicationDispense"): {ADMIN, DOC, RPH, OTHER_DOC, OTHER_RPH},
    ("POST", "/ncpdp/script"): PRESCRIBERS,
    ("GET", "/static/<path:filename>"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    # A one-time password link is its own credential: anyone holding it (here an unknown token: 404).
    ("GET", "/account/set-password/<token>"): PUBLIC,
    ("POST", "/account/set-password/<token>"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): SIGNED_IN,
    ("GET", "/"): SIGNED_IN,
    # A person's own sessions and password; another's session is a 404 to everyone but its owner.
    ("GET", "/account/sessions"): SIGNED_IN,
    ("POST", "/account/sessions/<int:session_id>/end"): SIGNED_IN,
    ("POST", "/account/sessions/end-others"): SIGNED_IN,
    ("GET", "/account/password"): SIGNED_IN,
    # A person's own inbox; another's notification is a 404 to everyone but its owner.
    ("GET", "/inbox/"): SIGNED_IN,
    # The dashboard: a manager of the pharmacy (their own alone), an admin (every pharmacy).
    ("GET", "/manager/"): {ADMIN, MANAGER},
    ("POST", "/inbox/<int:notification_id>/open"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("GET", "/api/v1/sign-in-locks"): {ADMIN},
    ("DELETE", "/api/v1/sign-in-locks/<int:lock_id>"): {ADMIN},
    ("GET", "/admin/sign-in-locks"): {ADMIN},
    ("POST", "/admin/sign-in-locks/<int:lock_id>/lift"): {ADMIN},
    **{(m, r): {ADMIN} for m, r in (
        ("GET", "/admin/"), ("GET", "/admin/pharmacies"), ("GET", "/admin/pharmacies/new"),
        ("POST", "/admin/pharmacies/new"), ("GET", "/admin/pharmacies/<int:pharmacy_id>"),
        ("POST", "/admin/pharmacies/<int:pharmacy_id>"), ("GET", "/admin/prescribers"),
        ("GET", "/admin/prescribers/new"), ("POST", "/admin/prescribers/new"),
        ("GET", "/admin/prescribers/<int:prescriber_id>"), ("POST", "/admin/prescribers/<int:prescriber_id>"),
        ("GET", "/admin/users"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
        ("GET", "/admin/users/<int:user_id>"), ("POST", "/admin/users/<int:user_id>/active"),
        ("POST", "/admin/users/<int:user_id>/password-link"),
        ("POST", "/admin/users/<int:user_id>/tokens"), ("POST", "/admin/tokens/<int:token_id>/revoke"))},
    **{(m, r): {ADMIN, AUDITOR} for m, r in (
        ("GET", "/audit/"), ("GET", "/audit/export"), ("GET", "/audit/verification"),
        ("GET", "/audit/prescriptions/<int:prescription_id>"))},
    ("GET", "/pharmacist/"): PHARMACISTS,
    **{(m, r): {RPH} for m, r in (
        ("GET", "/pharmacist/prescriptions/<int:prescription_id>"),
        ("GET", "/pharmacist/prescriptions/<int:prescription_id>/course"),
        ("POST", "/pharmacist/prescriptions/<int:prescription_id>/prepare"),
        ("POST", "/pharmacist/prescriptions/<int:prescription_id>/dispense"),
        ("POST", "/pharmacist/prescriptions/<int:prescription_id>/evaluate"),
        ("POST", "/pharmacist/prescriptions/<int:prescription_id>/reverse"),
        ("POST", "/pharmacist/prescriptions/<int:prescription_id>/dispense-reversal"))},
    ("GET", "/prescriber/"): PRESCRIBERS,
    ("GET", "/prescriber/patients/new"): PRESCRIBERS,
    ("POST", "/prescriber/patients/new"): PRESCRIBERS,
    ("GET", "/prescriber/prescriptions/new"): PRESCRIBERS,
    ("POST", "/prescriber/prescriptions/new"): PRESCRIBERS,
    **{(m, r): {DOC} for m, r in (
        ("GET", "/prescriber/patients/<int:patient_id>"),
        ("GET", "/prescriber/patients/<int:patient_id>/course"),
        ("GET", "/prescriber/prescriptions/<int:prescription_id>"),
        ("POST", "/prescriber/prescriptions/<int:prescription_id>/readiness"),
        ("GET", "/prescriber/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>/new"),
        ("POST", "/prescriber/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>/new"),
        ("GET", "/prescriber/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>/<int:evidence_id>/entered-in-error"),
        ("POST", "/prescriber/patients/<int:patient_id>/<any('pregnancy-tests', 'lab-results', 'attestations'):collection>/<int:evidence_id>/entered-in-error"))},
}

# `TECH` works at RPH's pharmacy: reads and searches as its pharmacists do, records transfers-in,
# never evaluates, dispenses, reverses or withdraws (DESIGN.md §5).
for _key in [("GET", "/api/v1/prescribers"), ("GET", "/api/v1/patients"), ("GET", "/api/v1/patients/<int:patient_id>"),
             ("POST", "/api/v1/patients/<int:patient_id>/transfers-in"), ("GET", "/api/v1/prescriptions"),
             ("GET", "/api/v1/prescriptions/<int:prescription_id>"), ("GET", "/api/v1/authorizations/<int:authorization_id>"),
             ("GET", "/fhir/R4/GuidanceResponse/<int:decision_id>"),
             ("GET", "/fhir/R4/MedicationDispense/<string:logical_id>"), ("GET", "/fhir/R4/MedicationDispense"),
             ("GET", "/pharmacist/"), ("GET", "/pharmacist/prescriptions/<int:prescription_id>"),
             ("GET", "/pharmacist/prescriptions/<int:prescription_id>/course"),
             ("POST", "/pharmacist/prescriptions/<int:prescription_id>/prepare"),
             ("GET", "/pharmacist/prescriptions/<int:prescription_id>/transfers-in/new"),
             ("POST", "/pharmacist/prescriptions/<int:prescription_id>/transfers-in/new")]:
    POLICY[_key] = POLICY[_key] | {TECH}


def registered_routes(app) -> set[tuple[str, str]]:
    return {(m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}


def test_every_registered_route_has_a_policy(app):
    assert registered_routes(app) == set(POLICY)


@pytest.fixture
def scene(app, client):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own tests; this one is about who may act
    world = World(app, client)
    rph, doc, patient, rx, decision = world.authorized()
    _, other_doc = world.prescriber_api()
    _, other_rph = world.pharmacist_api()
    _, auditor = world.user("auditor")
    _, tech = world.user("technician", pharmacy_id=rx["pharmacy_id"])
    _, manager = world.user("manager", pharmacy_id=rx["pharmacy_id"])
    spare, _ = world.user("auditor")
    lab = next(r for r in doc.ok("GET", f"/patients/{patient['id']}")["lab_results"])
    # A refused dispense attempt (no RMA: recorded, the authorization stays active): a MedicationDispense.
    refused = rph.post(f"/authorizations/{decision['authorization']['id']}/dispense",
                       json={"quantity": 60, "rma_number": "", "rma_do_not_dispense_after": "2027-12-31"})
    assert refused.status_code == 409
    refused_decision = refused.get_json()["error"]["decision_id"]
    # A sign-in lock's row (one failure on the spare account) and a session of the spare user.
    Pages(app.test_client()).login(spare["email"], "not the password")
    with runtime_of(app).session_factory() as s:
        lock_id = s.scalar(select(SignInCounter.id).order_by(SignInCounter.id))
        spare_session, _sid = open_session(app, s, spare["id"])
        s.commit()
    with runtime_of(app).session_factory() as s:
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == spare["id"]))
        users = {t: s.scalar(select(User.id).join(ApiToken).where(ApiToken.token_hash == _hash(a.token)))
                 for t, a in ((ADMIN, world.admin), (DOC, doc), (OTHER_DOC, other_doc), (RPH, rph),
                              (OTHER_RPH, other_rph), (AUDITOR, auditor), (TECH, tech), (MANAGER, manager))}
        assert s.get(LabResult, lab["id"]) is not None
    apis = {ADMIN: world.admin, DOC: doc, OTHER_DOC: other_doc, RPH: rph, OTHER_RPH: other_rph, AUDITOR: auditor,
            TECH: tech, MANAGER: manager, ANON: world.anon}
    values = {"user_id": spare["id"], "token_id": token_id, "pharmacy_id": rx["pharmacy_id"],
              "prescriber_id": rx["prescriber_id"], "patient_id": patient["id"], "evidence_id": lab["id"],
              "prescription_id": rx["id"], "authorization_id": decision["authorization"]["id"],
              "decision_id": decision["id"], "logical_id": f"decision-{refused_decision}",
              "collection": "lab-results", "filename": "pharmsafe.css", "lock_id": lock_id,
              "session_id": spare_session.id, "resource_type": "Observation", "notification_id": 1, "token": "no-such-token"}
    return apis, users, values


def _hash(token):
    from pharmsafe.services.users import hash_token
    return hash_token(token)


def concrete(rule: str, values: dict) -> str:
    import re

    return re.sub(r"<(?:[^:>]+(?:\([^)]*\))?:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule)


def open_session(app, session, user_id):
    ext = runtime_of(app)
    ctx = ext.ctx(session, f"user:{user_id}")
    return open_web_session(ctx, session.get(User, user_id), client_address="127.0.0.1", user_agent="matrix")


def web_client(app, user_id):
    client = app.test_client()
    if user_id is not None:
        with runtime_of(app).session_factory() as s:
            _row, sid = open_session(app, s, user_id)
            s.commit()
        with client.session_transaction() as sess:
            sess["sid"] = sid
    return client


def test_access_matrix(app, scene):
    apis, users, values = scene
    problems = []
    for (method, rule), allowed in sorted(POLICY.items()):
        path = concrete(rule, values)
        for actor in [ANON, AUDITOR, OTHER_DOC, OTHER_RPH, TECH, MANAGER, ADMIN, DOC, RPH]:
            if path.startswith("/api/"):
                resp = apis[actor].call(method, path.removeprefix("/api/v1"), json={})
            elif path.startswith(("/fhir/", "/ncpdp/")):  # bearer tokens, as the API
                api = apis[actor]
                resp = api.client.open(path, method=method,
                                       headers={"Authorization": f"Bearer {api.token}"} if api.token else {})
            else:
                resp = web_client(app, users.get(actor)).open(path, method=method, data={})
            status = resp.status_code
            resp.close()
            to_login = status == 302 and "/login" in resp.headers.get("Location", "")
            if status >= 500:
                problems.append((method, path, actor, status, "server error"))
            elif actor in allowed:
                signed_out = to_login and (method, rule) == ("POST", "/logout")
                if status in (401, 403) or (to_login and not signed_out):
                    problems.append((method, path, actor, status, "refused but allowed"))
            elif actor == ANON:
                expected_ok = status == 401 if path.startswith(("/api/", "/fhir/", "/ncpdp/")) else to_login
                if not expected_ok:
                    problems.append((method, path, actor, status, "anonymous not refused"))
            elif status != 403:
                problems.append((method, path, actor, status, "not 403"))
    assert problems == [], "\n".join(map(str, problems))
