"""Schemathesis against the served OpenAPI document, with a token per role (and none): no 500, no
response that breaks its own documented schema, no undocumented status code, and no refused request
that left a row behind, for every operation. Then the document is run as an outside fuzzer runs it:
over HTTP, with an admin token, through Schemathesis's coverage and stateful phases.

`make test` runs the quick profile; `make fuzz` runs a longer one (PHARMSAFE_FUZZ_EXAMPLES)."""
from __future__ import annotations

import os
import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.engine import Status, events, from_schema
from sqlalchemy import text
from werkzeug.serving import make_server

from pharmsafe.api.openapi import OPERATIONS
from pharmsafe.db import Base
from pharmsafe.runtime import runtime_of
from tests.fuzz.conftest import SENT
from tests.support import World

# Thousands of generated requests: part of `make test`, not of the fast loop (`make check`).
pytestmark = pytest.mark.slow

# 60 in the quick profile: the outside-fuzzer run below adds about 1,850 boundary and negative cases.
EXAMPLES = int(os.environ.get("PHARMSAFE_FUZZ_EXAMPLES", "60"))
ROLES = ("admin", "prescriber", "pharmacist", "auditor", None)
# A request valid by the schema alone may still be refused for a business rule OpenAPI cannot say
# (a pharmacist needs a pharmacy_id, an id must exist, a date may not be in the future): 422 is the
# right answer there, so schema-valid data is not required to be accepted. Everything else is checked.
EXCLUDED = [checks.positive_data_acceptance]
LABELS = [f"{method.upper()} {path}" for method, path, *_ in OPERATIONS]


def seed(app, client) -> dict:
    """One authorized prescription with its pharmacy, prescriber and patient, and a token per role."""
    world = World(app, client)
    rph, doc, patient, rx, decision = world.authorized()
    _, auditor = world.user("auditor")
    return {"admin": world.admin.token, "prescriber": doc.token, "pharmacist": rph.token, "auditor": auditor.token,
            None: None}


@pytest.fixture
def tokens(app, client):
    return seed(app, client)


@pytest.mark.parametrize("label", LABELS)
def test_operation(app, tokens, label):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases, role=st.sampled_from(ROLES))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case, role):
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role and not headers_mutated(case) else {}
        SENT["operation"] += 1
        before = footprint(app)
        response = case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)
        if response.status_code >= 400 and not recorded_refusal(label, response):
            # A refused request is rolled back whole: not one row added or removed anywhere, but for
            # the answer kept under its Idempotency-Key, to be replayed (DESIGN.md §5).
            after = footprint(app)
            if any(name.lower() == "idempotency-key" for name in response.request.headers):
                before.pop("idempotency_records"), after.pop("idempotency_records")
            assert after == before, (label, response.status_code, response.text)

    run()


def headers_mutated(case) -> bool:
    """A negative case whose headers were made invalid may lack the bearer token the document
    requires (the long profile found such a case accepted once the token was added back): send it
    as generated, without the role's token."""
    info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    return info is not None and info.mode is GenerationMode.NEGATIVE


def footprint(app) -> dict[str, int]:
    """Row counts of every table, in one statement."""
    with runtime_of(app).session_factory() as session:
        tables = sorted(Base.metadata.tables)
        counts = session.execute(text("SELECT " + ", ".join(
            f"(SELECT count(*) FROM {name})" for name in tables))).one()
        return dict(zip(tables, counts, strict=True))


def recorded_refusal(label: str, response) -> bool:
    """A dispense refused by its gates is recorded (a decision and its audit event) with its 409 or
    422: the documented exception, so that a refused dispense leaves a trace."""
    return label == "POST /authorizations/{authorization_id}/dispense" and response.status_code in (409, 422)


@pytest.mark.parametrize("role", ["admin", "prescriber"])
def test_stateful_links(app, reset_database, role):
    """Create, then read and act on what was created, following the document's links. Each scenario
    starts from the same freshly seeded database, so that replaying one (as Hypothesis does to
    shrink a failure) meets the same answers."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    token = {}
    calls: list[tuple[str, int]] = []

    class Machine(schema.as_state_machine()):
        def setup(self):
            reset_database()
            token["value"] = seed(app, app.test_client())[role]

        def after_call(self, response, case):
            SENT["stateful"] += 1
            calls.append((case.operation.label, response.status_code))

        def before_call(self, case):
            if not headers_mutated(case):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token['value']}"}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            # The token is put on each case here, so the ignored-auth probe would take it for a
            # generated (invalid) one; authentication is fuzzed without it in test_operation. A
            # scenario step may fill a negative case's body from an earlier response, making it valid
            # (the long profile found one), so negative data is checked per operation, not here.
            case.validate_response(response, excluded_checks=[*EXCLUDED, checks.ignored_auth,
                                                              checks.negative_data_rejection],
                                   transport_kwargs=kwargs or None)

    Machine.run(settings=settings(max_examples=max(EXAMPLES // 4, 5), stateful_step_count=6, deadline=None,
                                  database=None, suppress_health_check=list(HealthCheck)))
    # The scenarios went past the creating calls to operations that act on an existing id.
    followed = {label for label, _ in calls} & LINKED[role]
    assert followed, sorted(set(calls))


# For each role, operations that act on something it may create (the targets of the links).
LINKED = {
    "admin": {"PATCH /pharmacies/{pharmacy_id}", "PATCH /prescribers/{prescriber_id}", "PATCH /users/{user_id}",
              "POST /users/{user_id}/tokens", "GET /patients/{patient_id}", "PATCH /patients/{patient_id}"},
    "prescriber": {"GET /patients/{patient_id}", "PATCH /patients/{patient_id}",
                   "POST /patients/{patient_id}/pregnancy-tests", "POST /patients/{patient_id}/lab-results",
                   "POST /patients/{patient_id}/attestations", "GET /prescriptions/{prescription_id}"},
}


# What an outside fuzzer runs against the document (`st run URL --checks ... -H "Authorization: ..."`).
OUTSIDE_CHECKS = ("not_a_server_error", "response_schema_conformance", "negative_data_rejection", "ignored_auth")


@pytest.fixture
def served(app):
    """The app on a loopback port, as a client outside the process reaches it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="fuzz-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_as_an_outside_fuzzer(app, client, served):
    """The document read over HTTP and run with an admin token through Schemathesis's own engine:
    the coverage phase (boundary values, every required property left out in turn: the negative
    cases that found the PATCH bodies declaring required fields the service does not require) and
    the stateful phase (create, then follow the links), checked with exactly the checks above.
    The token belongs to an admin made last, so that boundary ids (1, 2) never deactivate it or
    revoke its token halfway through the run."""
    seed(app, client)
    _, admin = World(app, client).user("admin")
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {admin.token}"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in OUTSIDE_CHECKS}},
        "generation": {"max-examples": max(EXAMPLES // 6, 10), "mode": "all"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": False}, "stateful": {"enabled": True}},
    })
    schema = schemathesis.openapi.from_url(f"{served}/api/v1/openapi.json", config=config)
    failures, errors, statuses = set(), [], {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            SENT["outside"] += len(event.recorder.interactions)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    statuses.setdefault(interaction.response.status_code // 100, 0)
                    statuses[interaction.response.status_code // 100] += 1
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    if node.status == Status.FAILURE and node.failure_info is not None:
                        failure = node.failure_info.failure
                        failures.add((event.label, node.name, failure.title,
                                      (failure.message or "")[:300], node.failure_info.code_sample[:300]))
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(repr(getattr(event, "value", None) or getattr(event, "exception", None)))
    assert not errors, errors[:3]
    assert not failures, "\n\n".join(" | ".join(f) for f in sorted(failures))
    # The run reached the service as the admin to the end (2xx answers), and refused what it should.
    assert statuses.get(2, 0) > 100 and statuses.get(4, 0) > 100, statuses
    assert admin.get("/pharmacies").status_code == 200
