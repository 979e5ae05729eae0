"""Defaults for every environment. Override with the file named by PHARMSAFE_CONFIG, then with
PHARMSAFE_* environment variables (see README, "Configuration")."""

ENV = "production"
# Empty means SQLite under instance/ (the embedded default).
DATABASE_URL = ""
SECRET_KEY = ""
PROGRAM = "ipledge"
POLICY = ""
# Move versions' effective dates: "ipledge-2026=2026-10-01,ipledge-2023=2023-10-01". Empty: the dates
# shipped with each version (`pharmsafe policy list` shows the dates in force and where each came from).
POLICY_EFFECTIVE = ""
TIME_ZONE = "America/New_York"
SCHEDULER = "off"
EXPIRY_INTERVAL_SECONDS = 60
# Authorizations expired per transaction: a decision's audit append waits for at most one chunk
# (docs/benchmarks.md, expiry).
EXPIRY_CHUNK_SIZE = 200
CHECKPOINT_INTERVAL_SECONDS = 3600
HEARTBEAT_INTERVAL_SECONDS = 30
MAX_CONTENT_LENGTH = 1024 * 1024
# How many reverse proxies in front of PharmSafe append X-Forwarded-For (0: trust none).
TRUSTED_PROXY_HOPS = 0
# argon2id at argon2-cffi's defaults (t=3, m=64 MiB, p=4). "fast" (the test suite's) is refused in
# production.
PASSWORD_HASHING = "argon2id"
# The service's public address (absolute http or https, no trailing slash): the base of the FHIR
# facade's canonical URLs and identifier systems (INTEROP.md §1).
BASE_URL = "http://127.0.0.1:5000"
# Mail for notifications: smtp://[user:password@]host[:port][?from=address&starttls=1]. Empty: the
# inbox alone (every notification is still made and shown on the pages).
SMTP_URL = ""
# Audit anchors (docs/security.md, "Audit anchors"): the chain's head signed with an Ed25519 private
# key (`pharmsafe audit keygen --out DIR` writes one) and appended to the anchor file, kept outside the
# database. Empty signing key: anchoring is off. The verify key (a public key) lets a process or host
# check anchors without the private key; empty: the public half of the signing key.
AUDIT_SIGNING_KEY_FILE = ""
AUDIT_VERIFY_KEY_FILE = ""
AUDIT_ANCHOR_FILE = ""
AUDIT_ANCHOR_INTERVAL_SECONDS = 60
