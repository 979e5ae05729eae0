"""docs/walkthrough-fhir.sh against the real server: a prescription authorized through FHIR alone,
dispensed through the JSON API and read back as FHIR; every answer it kept passes its R4B model,
here and in a fresh virtual environment that holds fhir.resources alone (tests/fhir/outside.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.conftest import TEST_SETTINGS
from tests.fhir.outside import validate_outside
from tests.support import admin_token
from tests.test_scheduler import free_port, stop, wait_for
from tests.test_served import status

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ("transaction-response", "rems-etasu", "guidance-response", "guidance-response-read",
           "medication-dispense", "medication-dispense-search")


@pytest.fixture
def walked(app, db_url, tmp_path):
    """Run the script against `pharmsafe serve` on the test database; (its stdout, the answers)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, **{f"PHARMSAFE_{k}": str(v) for k, v in TEST_SETTINGS.items()})
    env.update(PHARMSAFE_DATABASE_URL=db_url, PHARMSAFE_SCHEDULER="off", PHARMSAFE_BASE_URL=base)
    env.pop("PHARMSAFE_CONFIG", None)
    creds = tmp_path / "credentials.txt"
    creds.write_text(f"admin       email=admin@example.com password=- api_token={admin_token(app)}\n")
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pharmsafe.cli", "serve", "--port", str(port), "--workers",
                                 "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: status(port, "/healthz") == 200)
        out = tmp_path / "answers"
        run = subprocess.run(["bash", str(ROOT / "docs" / "walkthrough-fhir.sh")], capture_output=True, text=True,
                             env=dict(os.environ, BASE=base, CREDS=str(creds), OUT=str(out)), timeout=120)
    finally:
        stop(proc)
    assert run.returncode == 0, run.stderr + (tmp_path / "serve.log").read_text()
    return run.stdout, {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def test_the_walkthrough_authorizes_and_dispenses_through_fhir(walked):
    stdout, answers = walked
    assert set(answers) == set(ANSWERS)
    lines = stdout.split()
    assert "success" in lines and "completed" in lines
    entries = answers["transaction-response"]["entry"]
    # The patient, the laboratory (resolved, not stored), two tests, four labs, their report (not
    # stored), three attestations and the prescription.
    assert [e["response"]["status"] for e in entries] == ["201 Created"] + ["200 OK"] + ["201 Created"] * 6 + \
        ["200 OK"] + ["201 Created"] * 4
    assert answers["rems-etasu"]["parameter"][0]["resource"]["status"] == "success"
    assert answers["guidance-response"]["status"] == "success"
    assert answers["medication-dispense"]["status"] == "completed"
    assert answers["medication-dispense-search"]["entry"][0]["resource"]["id"] == answers["medication-dispense"]["id"]
    for name, resource in answers.items():
        assert get_fhir_model_class(resource["resourceType"]).model_validate(resource).id == resource.get("id"), name


def test_every_answer_of_the_walkthrough_validates_outside(walked, tmp_path):
    _, answers = walked
    resources = [answers[name] for name in ANSWERS]
    result = validate_outside(tmp_path / "outside", resources)
    assert result.returncode == 0 and result.failures == [], result.output
    assert result.validated == len(ANSWERS) and "outside-venv" in result.location, result.output
