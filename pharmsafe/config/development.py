"""Used by `make run` (PHARMSAFE_CONFIG=config/development.py)."""

ENV = "development"
SCHEDULER = "embedded"
# Development only: a fixed key so that `make run` works on a fresh machine. Production refuses to
# start without PHARMSAFE_SECRET_KEY.
SECRET_KEY = "development-only-secret-key-not-for-production-use"
