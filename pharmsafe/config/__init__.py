"""Configuration in layers: pharmsafe/config/default.py -> the file named by PHARMSAFE_CONFIG ->
PHARMSAFE_* environment variables -> an explicit mapping (tests). Every value is checked once,
here; a bad one stops start-up with a sentence that names it."""
from __future__ import annotations

import os
import re
import runpy
import sys
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The shipped files: default.py, and development.py and testing.py that PHARMSAFE_CONFIG may name
# as config/development.py (read relative to the current folder first, then to the package).
CONFIG_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = CONFIG_DIR.parent
DEFAULT_FILE = CONFIG_DIR / "default.py"

ENVIRONMENTS = ("development", "testing", "production")
PROGRAMS = ("ipledge", "eu-ppp")
PASSWORD_PROFILES = ("argon2id", "fast")
SCHEDULER_MODES = ("embedded", "off")
INT_KEYS = (
    "EXPIRY_INTERVAL_SECONDS",
    "EXPIRY_CHUNK_SIZE",
    "CHECKPOINT_INTERVAL_SECONDS",
    "HEARTBEAT_INTERVAL_SECONDS",
    "MAX_CONTENT_LENGTH",
    "AUDIT_ANCHOR_INTERVAL_SECONDS",
)


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names it."""


_EFFECTIVE_ITEM = re.compile(r"(?P<name>[^=\s]+)\s*=\s*(?P<day>\S+)")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_EFFECTIVE_SHAPE = "NAME=YYYY-MM-DD items separated by commas (ipledge-2026=2026-10-01,ipledge-2023=2023-10-01)"


def _iso_day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not _ISO_DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def policy_effective_overrides(raw: Any) -> dict[str, date]:
    """PHARMSAFE_POLICY_EFFECTIVE read and checked, as version name -> effective date.

    The text is ``NAME=YYYY-MM-DD`` items separated by commas; a configuration file may also give a
    mapping of name to date (or to such a string). An unknown version, a bad date, a name given
    twice, or dates that would reorder a program's versions stop start-up with a sentence naming
    the setting."""
    from pharmsafe.gates.policies import EffectiveDateError, with_effective_dates

    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, Mapping):
        items = [(str(name).strip(), value) for name, value in raw.items()]
    elif isinstance(raw, str):
        items = []
        for item in filter(None, (part.strip() for part in raw.split(","))):
            match = _EFFECTIVE_ITEM.fullmatch(item)
            if not match:
                raise ConfigError(f"PHARMSAFE_POLICY_EFFECTIVE must be {_EFFECTIVE_SHAPE}, and {item!r} is not one.")
            items.append((match["name"], match["day"]))
    else:
        raise ConfigError(f"PHARMSAFE_POLICY_EFFECTIVE must be {_EFFECTIVE_SHAPE}, not {raw!r}.")
    overrides: dict[str, date] = {}
    for name, value in items:
        day = _iso_day(value)
        if day is None:
            raise ConfigError(f"PHARMSAFE_POLICY_EFFECTIVE gives {name} {str(value)!r}, which is not a date "
                              f"written YYYY-MM-DD.")
        if name in overrides:
            raise ConfigError(f"PHARMSAFE_POLICY_EFFECTIVE names {name} more than once.")
        overrides[name] = day
    try:
        with_effective_dates(overrides)
    except EffectiveDateError as exc:
        raise ConfigError(f"PHARMSAFE_POLICY_EFFECTIVE {exc}.") from None
    return overrides


def _module_settings(path: Path, setting: str = "PHARMSAFE_CONFIG") -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{setting} names {path}, which is not a readable file.")
    return {k: v for k, v in runpy.run_path(str(path)).items() if k.isupper()}


def _base_url(raw: Any) -> str:
    from urllib.parse import urlsplit

    value = str(raw or "").strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        fine = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        fine = False
    if not fine or value.endswith("/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError(f"PHARMSAFE_BASE_URL must be the service's absolute http or https address with no "
                          f"trailing slash, such as https://pharmsafe.example.org, not {raw!r}.")
    return value


SMTP_SHAPE = "smtp://[user:password@]host[:port][?from=address&starttls=1], such as smtp://mail.example.org:587?starttls=1"


def smtp_settings(raw: Any) -> dict[str, Any] | None:
    """PHARMSAFE_SMTP_URL read and checked: None (the inbox alone) or host, port, credentials, the
    sender's address and whether to STARTTLS."""
    from urllib.parse import parse_qs, unquote, urlsplit

    value = str(raw or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port or 25
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
    except ValueError:
        parts, port, query = None, 0, {}
    unknown = set(query) - {"from", "starttls"}
    if (parts is None or parts.scheme != "smtp" or not parts.hostname or unknown or parts.path not in ("", "/")
            or parts.fragment or any(len(v) != 1 for v in query.values())
            or query.get("starttls", ["0"])[0] not in ("0", "1")):
        raise ConfigError(f"PHARMSAFE_SMTP_URL must be {SMTP_SHAPE}; empty for the inbox alone.")
    sender = query.get("from", [f"pharmsafe@{parts.hostname}"])[0]
    if "@" not in sender or any(c in sender for c in "\r\n"):
        raise ConfigError("PHARMSAFE_SMTP_URL's from= must be an e-mail address.")
    return {"host": parts.hostname, "port": port, "username": unquote(parts.username or "") or None,
            "password": unquote(parts.password or "") or None, "sender": sender,
            "starttls": query.get("starttls", ["0"])[0] == "1"}


def instance_path() -> Path:
    """Where the default SQLite database and the demo's logins live: ``instance/`` of a checkout, else
    (an installed package) Flask's place for an installed app, ``<prefix>/var/pharmsafe-instance``."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "pharmsafe").resolve() == PACKAGE_DIR:
        return checkout / "instance"
    return Path(sys.prefix) / "var" / "pharmsafe-instance"


def shipped_secret_keys() -> frozenset[str]:
    """Every SECRET_KEY written in the shipped config files (never fit for production)."""
    keys = set()
    for path in sorted(CONFIG_DIR.glob("*.py")):
        if path.name == "__init__.py":  # the loader itself, not a settings file
            continue
        value = _module_settings(path).get("SECRET_KEY")
        if isinstance(value, str) and value:
            keys.add(value)
    return frozenset(keys)


def load_settings(overrides: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    settings = _module_settings(DEFAULT_FILE, "The package's own default settings file")
    if environ.get("PHARMSAFE_CONFIG"):
        path = Path(environ["PHARMSAFE_CONFIG"])
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else PACKAGE_DIR / path
        settings.update(_module_settings(path))
    for name, value in environ.items():
        if name.startswith("PHARMSAFE_") and name not in ("PHARMSAFE_CONFIG",):
            key = name[len("PHARMSAFE_"):]
            if key in settings:
                settings[key] = value
    if overrides:
        settings.update(overrides)
    return validate(settings)


def validate(settings: dict[str, Any]) -> dict[str, Any]:
    env = str(settings["ENV"]).strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PHARMSAFE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {settings['ENV']!r}.")
    settings["ENV"] = env
    program = str(settings["PROGRAM"]).strip().lower()
    if program not in PROGRAMS:
        raise ConfigError(f"PHARMSAFE_PROGRAM must be one of {', '.join(PROGRAMS)}, not {settings['PROGRAM']!r}.")
    settings["PROGRAM"] = program
    mode = str(settings["SCHEDULER"]).strip().lower()
    if mode not in SCHEDULER_MODES:
        raise ConfigError(f"PHARMSAFE_SCHEDULER must be 'embedded' or 'off', not {settings['SCHEDULER']!r}.")
    settings["SCHEDULER"] = mode
    for key in INT_KEYS:
        raw = settings[key]
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"PHARMSAFE_{key} must be a whole number of at least 1, not {raw!r}.") from None
        if value < 1:
            raise ConfigError(f"PHARMSAFE_{key} must be a whole number of at least 1, not {raw!r}.")
        settings[key] = value
    raw = settings["TRUSTED_PROXY_HOPS"]
    try:
        settings["TRUSTED_PROXY_HOPS"] = int(str(raw).strip())
        if settings["TRUSTED_PROXY_HOPS"] < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"PHARMSAFE_TRUSTED_PROXY_HOPS must be a whole number of at least 0, not {raw!r}.") from None
    try:
        ZoneInfo(str(settings["TIME_ZONE"]))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"PHARMSAFE_TIME_ZONE must be an IANA time zone such as America/New_York, "
                          f"not {settings['TIME_ZONE']!r}.") from None
    secret = str(settings.get("SECRET_KEY") or "")
    if env == "production" and len(secret) < 32:
        raise ConfigError("PHARMSAFE_SECRET_KEY must be set to at least 32 characters in production.")
    if env == "production" and secret in shipped_secret_keys():
        # Anyone can read these in the repository and forge a session cookie with them.
        raise ConfigError("PHARMSAFE_SECRET_KEY is a key shipped in the repository's config/ files; "
                          "production needs a secret of its own.")
    settings["BASE_URL"] = _base_url(settings.get("BASE_URL"))
    settings["SMTP"] = smtp_settings(settings.get("SMTP_URL"))
    hashing = str(settings.get("PASSWORD_HASHING") or "").strip().lower()
    if hashing not in PASSWORD_PROFILES:
        raise ConfigError(f"PHARMSAFE_PASSWORD_HASHING must be 'argon2id' (or 'fast', never in production), "
                          f"not {settings.get('PASSWORD_HASHING')!r}.")
    if hashing != "argon2id" and env == "production":
        raise ConfigError("PHARMSAFE_PASSWORD_HASHING=fast is for the test suite; production hashes passwords "
                          "with argon2id at full cost.")
    settings["PASSWORD_HASHING"] = hashing
    try:
        from pharmsafe.gates.policies import POLICIES
    except ValueError as exc:  # a policy data file that cannot be used (PolicyDataError)
        raise ConfigError(str(exc)) from None
    policy = str(settings.get("POLICY") or "").strip()
    if policy:
        if policy not in POLICIES:
            raise ConfigError(f"PHARMSAFE_POLICY must name a known policy version "
                              f"({', '.join(sorted(POLICIES))}), not {policy!r}.")
        if POLICIES[policy].program != program:
            raise ConfigError(f"PHARMSAFE_POLICY {policy!r} belongs to program "
                              f"{POLICIES[policy].program!r}, not to PHARMSAFE_PROGRAM {program!r}.")
    settings["POLICY"] = policy
    settings["POLICY_EFFECTIVE"] = policy_effective_overrides(settings.get("POLICY_EFFECTIVE"))
    _validate_audit_anchoring(settings)
    if not settings.get("DATABASE_URL"):
        settings["DATABASE_URL"] = "sqlite:///" + str(instance_path() / "pharmsafe.db")
    _check_database_driver(str(settings["DATABASE_URL"]))
    return settings


def _check_database_driver(url: str) -> None:
    """A URL whose engine or driver is not installed stops start-up with one sentence (PostgreSQL's
    driver is the `postgres` extra), instead of a traceback at the first connection."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect().import_dbapi()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise ConfigError("PHARMSAFE_DATABASE_URL is not a database URL PharmSafe can use; give "
                          "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.") from None
    except ImportError as exc:
        raise ConfigError(f"PHARMSAFE_DATABASE_URL needs the database driver {exc.name or 'its driver'}, which "
                          "is not installed; for PostgreSQL install PharmSafe with its postgres extra "
                          "(pip install 'pharmsafe[postgres]').") from None


def _validate_audit_anchoring(settings: dict[str, Any]) -> None:
    """The PHARMSAFE_AUDIT_* key and file settings: the keys are loaded once here, so that a missing,
    unreadable or wrong key stops start-up instead of leaving the trail unanchored."""
    from pharmsafe.audit.anchor import AnchorError, anchoring_from_settings

    for key in ("AUDIT_SIGNING_KEY_FILE", "AUDIT_VERIFY_KEY_FILE", "AUDIT_ANCHOR_FILE"):
        settings[key] = str(settings.get(key) or "").strip()
    try:
        anchoring_from_settings(settings)
    except AnchorError as exc:
        raise ConfigError(str(exc)) from None
