"""Through the real server (`pharmsafe serve`, gunicorn) and a real HTTP client: an audit export
that breaks midway reaches the client as a broken transfer, and the access log keeps no query string
(the queue's search holds patient names)."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from pharmsafe.models import AuditEvent
from pharmsafe.runtime import runtime_of
from tests.conftest import TEST_SETTINGS
from tests.support import World
from tests.test_scheduler import add_logins, free_port, stop, wait_for

pytestmark = pytest.mark.slow

# Run by the server's master before it forks its worker: a disk that fails under the export's
# fifth event, once the first chunks are out.
BREAKING_EXPORT = textwrap.dedent("""
    import sys
    import pharmsafe.audit.export as export

    export.BATCH = 2
    real = export.ndjson_line

    def failing(row):
        if row[0] == 5:
            raise RuntimeError("disk read error")
        return real(row)

    export.ndjson_line = failing
    from pharmsafe.cli import main
    sys.argv = ["pharmsafe", "serve", "--port", sys.argv[1], "--workers", "1"]
    main()
""")


@pytest.fixture
def served(app, db_url, tmp_path):
    """serve(code=None) -> (port, log path): a server on the test database, its log in a file."""
    env = dict(os.environ, **{f"PHARMSAFE_{k}": str(v) for k, v in TEST_SETTINGS.items()})
    env.update(PHARMSAFE_DATABASE_URL=db_url, PHARMSAFE_SCHEDULER="off")
    env.pop("PHARMSAFE_CONFIG", None)
    procs = []

    def serve(code: str | None = None):
        port, log = free_port(), tmp_path / f"serve-{len(procs)}.log"
        args = ["-c", code, str(port)] if code else ["-m", "pharmsafe.cli", "serve", "--port", str(port),
                                                     "--workers", "1"]
        with open(log, "wb") as out:
            procs.append(subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT))
        wait_for(lambda: status(port, "/healthz") == 200)
        return port, log

    yield serve
    for proc in procs:
        stop(proc)


def status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def exported(app) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.count()).where(AuditEvent.action == "audit.exported"))


def test_an_export_broken_midway_is_a_broken_transfer_for_a_real_client(app, served):
    world = World(app, app.test_client())
    token = world.user("auditor")[1].token
    add_logins(app, 6)
    port, _log = served(BREAKING_EXPORT)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/v1/audit-events/export?format=ndjson", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
        # The first four events arrive; then the connection closes without the last chunk.
        with pytest.raises(http.client.IncompleteRead) as cut:
            resp.read()
        assert cut.value.partial.count(b"\n") == 4
    finally:
        conn.close()
    assert exported(app) == 0


def test_a_complete_export_through_the_server_is_whole_and_recorded(app, served):
    world = World(app, app.test_client())
    token = world.user("auditor")[1].token
    add_logins(app, 3)
    port, _log = served()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/v1/audit-events/export?format=ndjson", headers={"Authorization": f"Bearer {token}"})
        body = conn.getresponse().read()
    finally:
        conn.close()
    with runtime_of(app).session_factory() as s:
        before = s.scalar(select(func.max(AuditEvent.id)))
    assert body.count(b"\n") == before - 1  # every event but the audit.exported that followed it
    assert exported(app) == 1


def test_the_access_log_keeps_no_query_string(app, served):
    port, log = served()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/pharmacist/?q=Zelda+Quillfeather&page=2",
                     headers={"Referer": "http://pharmacy.example/pharmacist/?q=Zelda+Quillfeather"})
        assert conn.getresponse().status == 302  # not signed in: to /login
    finally:
        conn.close()
    # The line is written after the answer: wait for it.
    wait_for(lambda: "GET /pharmacist/ " in log.read_text())
    written = log.read_text()
    assert "Zelda" not in written and "Quillfeather" not in written and "q=" not in written
