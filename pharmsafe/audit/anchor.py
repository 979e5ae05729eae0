"""Anchors: the chain's count and head, signed with the operator's Ed25519 key and appended as one
line to a file outside the database.

The hash chain alone cannot stop someone who can write to the database: they can edit an event and
re-hash every event after it, or cut the newest events and the checkpoints that counted them. An
anchor is signed with a key the database never sees, so the chain up to an anchor cannot be rewritten
or cut without verification noticing, as long as the anchor file itself is kept out of reach (shipped
to write-once storage).

One line per anchor, JSON with sorted keys and no spaces:

    {"anchored_at":"2026-11-26T15:00:00Z","count":1234,"head_event_id":1234,"head_hash":"<64 hex>",
     "key_id":"<16 hex>","signature":"<base64>","v":1}

The signature is Ed25519 over ``SIGNED_PREFIX`` followed by the same JSON without ``signature``.
``key_id`` is the first 16 hex digits of the SHA-256 of the raw 32-byte public key. Lines are only
appended, under an exclusive lock on the file, after the events since the previous anchor have been
verified; so the file's last line is its latest anchor and vouches for the whole chain up to it.

Verification uses PHARMSAFE_AUDIT_VERIFY_KEY_FILE (a public key) when it is set, else the public half
of PHARMSAFE_AUDIT_SIGNING_KEY_FILE."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pharmsafe.audit.chain import format_instant

log = logging.getLogger("pharmsafe.audit")

PRIVATE_KEY_NAME = "audit-signing-key.pem"
PUBLIC_KEY_NAME = "audit-signing-key.pub.pem"
SIGNED_PREFIX = b"pharmsafe audit anchor v1\n"
VERSION = 1
FIELDS = ("anchored_at", "count", "head_event_id", "head_hash", "key_id", "v")
# A line is a few hundred bytes; anything much longer is not one of ours.
MAX_LINE = 4096
OFF_NOTICE = ("audit anchoring is off: PHARMSAFE_AUDIT_SIGNING_KEY_FILE is not set, so someone holding the "
              "database's own credentials can rewrite or cut the audit trail and re-hash it without "
              "'pharmsafe audit verify' noticing (docs/security.md, \"Audit anchors\")")


class AnchorError(Exception):
    """Anchoring cannot be done as configured; the message is one sentence for the operator."""


class AnchorFileError(AnchorError):
    """A line of the anchor file is not an anchor signed with the configured key: tampering, or a
    file written with another key."""

    def __init__(self, line: int, problem: str):
        super().__init__(f"anchor file {f'line {line}' if line else 'last line'}: {problem}")
        self.line = line
        self.problem = problem


class AnchorRefused(AnchorError):
    """The chain does not verify, so it is not signed."""

    def __init__(self, verification):
        super().__init__(f"the audit chain does not verify (event {verification.first_broken}: "
                         f"{verification.reason}); no anchor was written")
        self.verification = verification


@dataclass(frozen=True)
class Anchor:
    line: int
    count: int
    head_event_id: int
    head_hash: str
    anchored_at: str
    key_id: str

    @property
    def instant(self) -> datetime:
        return datetime.fromisoformat(self.anchored_at.replace("Z", "+00:00"))

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "count": self.count, "head_event_id": self.head_event_id,
                "head_hash": self.head_hash, "anchored_at": self.anchored_at, "key_id": self.key_id}


@dataclass(frozen=True)
class Anchoring:
    """The anchoring configuration: where anchors go, the key that signs them (None where this
    process only verifies) and the key that checks them."""

    anchor_file: Path
    private_key: Ed25519PrivateKey | None
    public_key: Ed25519PublicKey
    key_id: str

    @property
    def can_sign(self) -> bool:
        return self.private_key is not None


# --- keys ----------------------------------------------------------------------------------------

def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _read_key_file(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AnchorError(f"{setting} names {path}, which cannot be read ({exc.strerror or exc}).") from None


def load_private_key(path: str | Path, setting: str = "PHARMSAFE_AUDIT_SIGNING_KEY_FILE") -> Ed25519PrivateKey:
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(_read_key_file(path, setting), password=None)
    except (ValueError, TypeError):
        raise AnchorError(f"{setting} names {path}, which is not an unencrypted PEM private key "
                          f"('pharmsafe audit keygen' writes one).") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError(f"{setting} names {path}, which is not an Ed25519 key.")
    return key


def load_public_key(path: str | Path, setting: str = "PHARMSAFE_AUDIT_VERIFY_KEY_FILE") -> Ed25519PublicKey:
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(_read_key_file(path, setting))
    except (ValueError, TypeError):
        raise AnchorError(f"{setting} names {path}, which is not a PEM public key "
                          f"('pharmsafe audit keygen' writes one).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorError(f"{setting} names {path}, which is not an Ed25519 key.")
    return key


def generate_keypair(out_dir: str | Path) -> tuple[Path, Path]:
    """Write a new key pair into ``out_dir``: the private key readable by its owner alone (0600),
    the public key by anyone (0644). Existing files are never overwritten."""
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = out / PRIVATE_KEY_NAME, out / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise AnchorError(f"{path} already exists; move it away first (a key is never overwritten).")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode (O_EXCL: never through an existing file or link); fchmod undoes the
    # umask, which could only have narrowed it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- configuration -------------------------------------------------------------------------------

def anchoring_from_settings(settings: Mapping[str, Any]) -> Anchoring | None:
    """None when no anchor file is configured (anchoring is off). Raises AnchorError with a sentence
    naming the setting at fault."""
    anchor_file = str(settings.get("AUDIT_ANCHOR_FILE") or "").strip()
    signing = str(settings.get("AUDIT_SIGNING_KEY_FILE") or "").strip()
    verifying = str(settings.get("AUDIT_VERIFY_KEY_FILE") or "").strip()
    if not anchor_file:
        if signing or verifying:
            which = "PHARMSAFE_AUDIT_SIGNING_KEY_FILE" if signing else "PHARMSAFE_AUDIT_VERIFY_KEY_FILE"
            raise AnchorError(f"PHARMSAFE_AUDIT_ANCHOR_FILE must be set when {which} is: it names the file "
                              f"the anchors are appended to.")
        return None
    if not (signing or verifying):
        raise AnchorError("PHARMSAFE_AUDIT_ANCHOR_FILE is set but no key is: set PHARMSAFE_AUDIT_SIGNING_KEY_FILE "
                          "to write anchors, or PHARMSAFE_AUDIT_VERIFY_KEY_FILE to check them.")
    private_key = load_private_key(signing) if signing else None
    public_key = load_public_key(verifying) if verifying else private_key.public_key()
    if private_key is not None and key_id_of(private_key.public_key()) != key_id_of(public_key):
        raise AnchorError("PHARMSAFE_AUDIT_VERIFY_KEY_FILE is not the public half of "
                          "PHARMSAFE_AUDIT_SIGNING_KEY_FILE.")
    path = Path(anchor_file).expanduser()
    if private_key is not None and not path.parent.is_dir():
        raise AnchorError(f"PHARMSAFE_AUDIT_ANCHOR_FILE names {path}, whose folder does not exist.")
    return Anchoring(anchor_file=path, private_key=private_key, public_key=public_key, key_id=key_id_of(public_key))


def off_notice(settings: Mapping[str, Any]) -> str | None:
    """The start-up notice of a production deployment without an anchoring key, else None."""
    if settings.get("ENV") == "production" and not str(settings.get("AUDIT_SIGNING_KEY_FILE") or "").strip():
        return OFF_NOTICE
    return None


# --- lines ---------------------------------------------------------------------------------------

def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sign_line(private_key: Ed25519PrivateKey, *, count: int, head_event_id: int, head_hash: str,
              anchored_at: datetime) -> str:
    body = {"anchored_at": format_instant(anchored_at), "count": count, "head_event_id": head_event_id,
            "head_hash": head_hash, "key_id": key_id_of(private_key.public_key()), "v": VERSION}
    signature = private_key.sign(SIGNED_PREFIX + _canonical(body).encode("ascii"))
    return _canonical({**body, "signature": base64.b64encode(signature).decode("ascii")}) + "\n"


def parse_line(text: str, line: int, anchoring: Anchoring) -> Anchor:
    """One line checked: its shape, its key and its signature. Raises AnchorFileError."""
    try:
        data = json.loads(text)
    except ValueError:
        raise AnchorFileError(line, "not a JSON anchor line") from None
    if not isinstance(data, dict) or set(data) != {*FIELDS, "signature"}:
        raise AnchorFileError(line, "not an anchor line (its fields are not those of an anchor)")
    signature = data.pop("signature")
    if data["v"] != VERSION:
        raise AnchorFileError(line, f"anchor format version {data['v']!r} is not {VERSION}")
    if data["key_id"] != anchoring.key_id:
        raise AnchorFileError(line, f"signed with key {data['key_id']}, not with the configured key "
                                    f"{anchoring.key_id}")
    try:
        anchoring.public_key.verify(base64.b64decode(str(signature), validate=True),
                                    SIGNED_PREFIX + _canonical(data).encode("ascii"))
    except (InvalidSignature, ValueError):
        raise AnchorFileError(line, "the signature does not verify with the public key") from None
    ints_ok = all(isinstance(data[k], int) and not isinstance(data[k], bool) and data[k] >= 1
                  for k in ("count", "head_event_id"))
    if not ints_ok or not isinstance(data["head_hash"], str) or not isinstance(data["anchored_at"], str):
        raise AnchorFileError(line, "a field has the wrong type")
    return Anchor(line=line, count=data["count"], head_event_id=data["head_event_id"], head_hash=data["head_hash"],
                  anchored_at=data["anchored_at"], key_id=data["key_id"])


def read_anchors(anchoring: Anchoring) -> list[Anchor]:
    """Every line of the anchor file, each one's signature checked (none when there is no file yet).
    Raises AnchorFileError at the first line that is not a signed anchor, or when one vouches for
    fewer events than the line before it."""
    try:
        handle = open(anchoring.anchor_file, "rb")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AnchorError(f"PHARMSAFE_AUDIT_ANCHOR_FILE {anchoring.anchor_file} cannot be read "
                          f"({exc.strerror or exc}).") from None
    anchors: list[Anchor] = []
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                raise AnchorFileError(number, "an incomplete line (no line end)")
            anchor = parse_line(raw.decode("utf-8", "replace"), number, anchoring)
            if anchors and anchor.head_event_id < anchors[-1].head_event_id:
                raise AnchorFileError(number, f"vouches for {anchor.count} events, fewer than line "
                                              f"{anchors[-1].line} before it ({anchors[-1].count})")
            anchors.append(anchor)
    return anchors


def count_lines(fd: int) -> int:
    count, offset, size = 0, 0, os.fstat(fd).st_size
    while offset < size:
        block = os.pread(fd, min(1 << 20, size - offset), offset)
        count += block.count(b"\n")
        offset += len(block)
    return count


def latest_from_fd(fd: int, anchoring: Anchoring, *, numbered: bool = True) -> Anchor | None:
    """The file's last line, read from its end, checked. Its line number is counted only when
    ``numbered`` (else 0): that reads the whole file."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    want = min(size, MAX_LINE + 1)
    tail = os.pread(fd, want, size - want)
    complete = tail.endswith(b"\n")
    body = tail[:-1] if complete else tail
    cut = body.rfind(b"\n")
    lines = count_lines(fd) if numbered else 0
    number = lines if complete else lines + 1
    if cut < 0 and want < size:
        raise AnchorFileError(number, "not an anchor line (too long)")
    if not complete:
        raise AnchorFileError(number, "an incomplete line (no line end)")
    return parse_line(body[cut + 1:].decode("utf-8", "replace"), number, anchoring)


def latest_anchor(anchoring: Anchoring, *, numbered: bool = True) -> Anchor | None:
    """The file's last line, its signature checked; None when there is no anchor yet."""
    try:
        fd = os.open(anchoring.anchor_file, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AnchorError(f"PHARMSAFE_AUDIT_ANCHOR_FILE {anchoring.anchor_file} cannot be read "
                          f"({exc.strerror or exc}).") from None
    try:
        return latest_from_fd(fd, anchoring, numbered=numbered)
    finally:
        os.close(fd)


def anchor_age_seconds(anchor: Anchor, now: datetime) -> float:
    return round((now.astimezone(UTC) - anchor.instant).total_seconds(), 1)
