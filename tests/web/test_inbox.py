"""The inbox: what PharmSafe told a person, newest first; opening one marks it read and goes to its page."""
from __future__ import annotations

from sqlalchemy import select

from pharmsafe.runtime import runtime_of
from pharmsafe.scheduler import send_notifications
from tests.test_notifications import blocked_scene, notifications
from tests.web.conftest import text
from tests.web.seed import Seed


def test_the_inbox_shows_them_and_opening_one_marks_it_read(app, signed_in):
    seed = Seed(app)
    scene = blocked_scene(seed)
    send_notifications(app)
    doc = signed_in(scene["doctor"])
    home = doc.get("/prescriber/").get_data(as_text=True)
    assert 'data-inbox="1"' in home
    page = doc.get("/inbox/")
    assert f"Prescription #{scene['rx']} is blocked" in text(page)
    mine = notifications(app, user_id=_user_id(app, scene["doctor"]))[0]
    opened = doc.submit(f"/inbox/{mine.id}/open", page="/inbox/")
    assert opened.status_code == 303 and opened.headers["Location"] == f"/prescriber/prescriptions/{scene['rx']}"
    assert notifications(app, id=mine.id)[0].read_at is not None
    assert 'data-inbox="0"' in doc.get("/prescriber/").get_data(as_text=True)
    # Another person's notification is not theirs to open.
    other = notifications(app, user_id=_user_id(app, scene["other_doctor"]))[0]
    token = doc.csrf_token("/inbox/")
    assert doc.client.post(f"/inbox/{other.id}/open", data={"csrf_token": token}).status_code == 404
    assert notifications(app, id=other.id)[0].read_at is None


def _user_id(app, email: str) -> int:
    from pharmsafe.models import User
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(User.id).where(User.email == email))
