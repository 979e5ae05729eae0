"""Notifications: made by the scheduler's job once per event and person (across two workers and a
restart), shown in the inbox, and mailed once through a real SMTP server running in this process
(aiosmtpd), with no evidence values in the mail, only what to do and a link."""
from __future__ import annotations

import threading
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from pharmsafe import create_app
from pharmsafe.models import AuditEvent, Notification
from pharmsafe.runtime import runtime_of
from pharmsafe.scheduler import send_notifications
from tests.test_scheduler import free_port
from tests.web.seed import Seed


class Inbox:
    """What the SMTP server received."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def mailing(settings, clock, smtp):
    """The app with PHARMSAFE_SMTP_URL naming the test's SMTP server."""
    controller, _ = smtp
    app = create_app(dict(settings, SMTP_URL=f"smtp://127.0.0.1:{controller.port}?from=alerts@pharmsafe.test"),
                     clock=clock)
    yield app
    runtime_of(app).engine.dispose()


def notifications(app, **where) -> list[Notification]:
    with runtime_of(app).session_factory() as s:
        stmt = select(Notification).order_by(Notification.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Notification, key) == value)
        return s.scalars(stmt).all()


def sent_events(app) -> int:
    with runtime_of(app).session_factory() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "notification.sent"))


def blocked_scene(seed: Seed) -> dict:
    """A prescription blocked by an 8-day-old test (the lab value 130 U/L is evidence that must
    never travel by mail), with its prescriber's login and the pharmacy's."""
    scene = seed.scene(test_day=-8)
    scene["other_doctor"] = seed.user("prescriber", prescriber_id=scene["prescriber"])
    assert seed.evaluate(scene["rx"]) is None
    return scene


def test_a_blocked_prescription_is_told_to_its_prescriber_once_by_inbox_and_mail(mailing, smtp):
    _, received = smtp
    seed = Seed(mailing)
    scene = blocked_scene(seed)
    assert send_notifications(mailing) == (2, 2)  # the prescriber's two logins
    assert send_notifications(mailing) == (0, 0)  # told already
    rows = notifications(mailing, kind="blocked")
    assert len(rows) == 2 and {r.mail_state for r in rows} == {"sent"}
    assert "Pregnancy test:" in rows[0].body and "To unblock:" in rows[0].body
    assert sent_events(mailing) == 2
    assert sorted(to for tos, _ in received.messages for to in tos) == sorted([scene["doctor"], scene["other_doctor"]])
    _, mail = received.messages[0]
    body = mail.get_payload(decode=True).decode()
    assert mail["Subject"] == f"PharmSafe: prescription #{scene['rx']} is blocked"
    assert mail["From"] == "alerts@pharmsafe.test"
    assert f"http://127.0.0.1:5000/prescriber/prescriptions/{scene['rx']}" in body
    assert "Pregnancy test" in body
    # No evidence values and no names: not the test's date, not the patient's name, not "negative".
    for secret in ("2026-11-18", "Mia", "Park", "negative", "05D1234567"):
        assert secret not in body and secret not in mail["Subject"], secret


def test_new_reasons_tell_again_the_same_reasons_do_not(app, clock):
    seed = Seed(app)
    scene = blocked_scene(seed)
    assert send_notifications(app) == (2, 0)  # no SMTP configured: the inbox alone
    assert {r.mail_state for r in notifications(app)} == {None}
    clock.advance(minutes=5)
    seed.evaluate(scene["rx"])  # blocked again for the same reason
    assert send_notifications(app) == (0, 0)
    clock.advance(minutes=5)
    seed.pregnancy_test(scene["patient"], 0, result="positive")  # now locked as well
    made, _ = send_notifications(app)
    kinds = sorted(r.kind for r in notifications(app))
    assert made == 5 and kinds == ["blocked"] * 4 + ["patient_locked"] * 3  # 2 prescribers + 1 pharmacist


def test_a_window_closing_within_24_hours_is_told_to_the_pharmacy_and_the_prescriber(app, clock):
    seed = Seed(app)
    scene = seed.scene(test_day=-6, evaluate=True)  # dispense by today 23:59:59 New York: 14 h away
    later = seed.scene(test_day=-5, evaluate=True)  # tomorrow 23:59:59: 38 h away
    send_notifications(app)
    closing = notifications(app, kind="window_closing")
    assert len(closing) == 2 and {r.subject for r in closing} == {f"prescription:{scene['rx']}"}
    assert {r.link for r in closing} == {f"/prescriber/prescriptions/{scene['rx']}",
                                         f"/pharmacist/prescriptions/{scene['rx']}"}
    # The other's deadline is 2026-11-28 04:59:59 UTC: one second more than 24 hours away it is not
    # closing yet; exactly 24 hours away it is.
    clock.advance(hours=13, minutes=59, seconds=58)
    send_notifications(app)
    assert {r.subject for r in notifications(app, kind="window_closing")} == {f"prescription:{scene['rx']}"}
    clock.advance(seconds=1)
    send_notifications(app)
    assert f"prescription:{later['rx']}" in {r.subject for r in notifications(app, kind="window_closing")}


def test_an_expired_authorization_is_told(app, clock):
    from pharmsafe.scheduler import run_expiry_sweep
    seed = Seed(app)
    scene = seed.scene(test_day=-6, evaluate=True)
    clock.advance(days=1)
    assert run_expiry_sweep(app) == 1
    send_notifications(app)
    expired = notifications(app, kind="expired")
    assert len(expired) == 2 and expired[0].title == f"The authorization for prescription #{scene['rx']} expired undispensed"


def test_two_workers_and_a_restart_tell_each_person_once(mailing, smtp, settings, clock):
    """Two processes' apps on one database run the job at the same moment, then a third, fresh one."""
    controller, received = smtp
    seed = Seed(mailing)
    blocked_scene(seed)
    url = f"smtp://127.0.0.1:{controller.port}"
    second = create_app(dict(settings, SMTP_URL=url), clock=clock)
    results, errors = [], []

    def run(app):
        try:
            results.append(send_notifications(app))
        except Exception as exc:  # a worker that fails is a failure of the test, shown below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in (mailing, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    restarted = create_app(dict(settings, SMTP_URL=url), clock=clock)
    try:
        results.append(send_notifications(restarted))
    finally:
        for app in (second, restarted):
            runtime_of(app).engine.dispose()
    assert errors == [], errors
    assert len(notifications(mailing)) == 2 and sent_events(mailing) == 2
    assert len(received.messages) == 2
    assert sum(made for made, _ in results) == 2 and sum(mailed for _, mailed in results) == 2


def test_a_mail_server_that_is_down_keeps_the_notification_for_the_next_run(settings, clock, smtp):
    controller, received = smtp
    down = free_port()  # nothing listens there
    app = create_app(dict(settings, SMTP_URL=f"smtp://127.0.0.1:{down}"), clock=clock)
    try:
        seed = Seed(app)
        blocked_scene(seed)
        assert send_notifications(app) == (2, 0)
        assert {(r.mail_state, r.mail_attempts) for r in notifications(app)} == {("pending", 1)}
    finally:
        runtime_of(app).engine.dispose()
    up = create_app(dict(settings, SMTP_URL=f"smtp://127.0.0.1:{controller.port}"), clock=clock)
    try:
        assert send_notifications(up) == (0, 2)
        assert {r.mail_state for r in notifications(up)} == {"sent"} and len(received.messages) == 2
    finally:
        runtime_of(up).engine.dispose()


def test_a_bad_smtp_url_stops_start_up_with_a_sentence(settings, clock):
    from pharmsafe.config import ConfigError
    for bad in ("http://mail.example.org", "smtp://", "smtp://h?colour=blue", "smtp://h:port"):
        with pytest.raises(ConfigError, match="PHARMSAFE_SMTP_URL must be"):
            create_app(dict(settings, SMTP_URL=bad), clock=clock)
