"""Writing anchors: verify what follows the latest anchor, sign the chain's head and append it to the
anchor file (pharmsafe.audit.anchor reads and checks them)."""
from __future__ import annotations

import fcntl
import logging
import os
from datetime import datetime

from pharmsafe.audit.anchor import (
    Anchor,
    AnchorError,
    Anchoring,
    AnchorRefused,
    count_lines,
    latest_from_fd,
    parse_line,
    sign_line,
)
from pharmsafe.audit.chain import chain_head
from pharmsafe.audit.verify import verify_chain
from pharmsafe.db import read_only_session

log = logging.getLogger("pharmsafe.audit")


def write_anchor(anchoring: Anchoring, factory, now: datetime, *, only_if_changed: bool = False,
                 number_lines: bool = False) -> Anchor | None:
    """Verify the events since the latest anchor, sign the head and append it to the anchor file.

    Returns the new anchor; None when the trail is empty, or with ``only_if_changed`` when the head
    is the one the latest anchor already vouches for. Raises AnchorRefused when the chain does not
    verify (nothing is signed), AnchorFileError when the file's last line is not a valid anchor (a
    tampered file is not extended). The new anchor's ``line`` is counted only with
    ``number_lines`` (that reads the whole file), else 0."""
    if anchoring.private_key is None:
        raise AnchorError("PHARMSAFE_AUDIT_SIGNING_KEY_FILE is not set: this process can check anchors but "
                          "not write them.")
    try:
        fd = os.open(anchoring.anchor_file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AnchorError(f"PHARMSAFE_AUDIT_ANCHOR_FILE {anchoring.anchor_file} cannot be opened for appending "
                          f"({exc.strerror or exc}).") from None
    try:
        # One writer at a time (scheduler, exports, shutdown, the command), so that lines only grow.
        fcntl.flock(fd, fcntl.LOCK_EX)
        latest = latest_from_fd(fd, anchoring, numbered=False)
        with read_only_session(factory) as session:
            try:
                if only_if_changed and latest is not None and \
                        chain_head(session) == (latest.head_event_id, latest.head_hash):
                    return None
                result = verify_chain(session, anchoring, since_anchor=True, _latest=latest)
            finally:
                session.rollback()
        if not result.intact:
            raise AnchorRefused(result)
        if result.events == 0:
            return None
        line = sign_line(anchoring.private_key, count=result.events, head_event_id=result.events,
                         head_hash=result.head, anchored_at=now)
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
        return parse_line(line, count_lines(fd) if number_lines else 0, anchoring)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def anchor_quietly(anchoring: Anchoring | None, factory, now: datetime, *, why: str) -> Anchor | None:
    """write_anchor for the places where anchoring follows something else (an export, a shutdown, a
    scheduler tick): a failure is logged, never raised. Returns the new anchor, if any."""
    if anchoring is None or not anchoring.can_sign:
        return None
    try:
        anchor = write_anchor(anchoring, factory, now, only_if_changed=True)
    except AnchorError as exc:
        log.error("audit anchor after %s not written: %s", why, exc)
        return None
    except Exception as exc:  # a database error: logged without data, retried at the next occasion
        log.error("audit anchor after %s not written: %s", why, type(exc).__name__)
        return None
    if anchor is not None:
        log.info("audit anchor written after %s: %s events, head %s", why, anchor.count, anchor.head_hash[:12])
    return anchor
