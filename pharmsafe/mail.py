"""Sending one e-mail through the SMTP server PHARMSAFE_SMTP_URL names (the standard library's
smtplib and email: no dependency). Plain text, UTF-8."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

TIMEOUT_SECONDS = 15


def send_mail(smtp: dict[str, Any], to: str, subject: str, body: str) -> None:
    """Raises OSError or smtplib.SMTPException when the server cannot take it."""
    message = EmailMessage()
    message["From"] = smtp["sender"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=TIMEOUT_SECONDS) as server:
        if smtp["starttls"]:
            server.starttls()
        if smtp["username"]:
            server.login(smtp["username"], smtp["password"] or "")
        server.send_message(message)
