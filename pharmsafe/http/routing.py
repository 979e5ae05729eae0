"""URL converters, and the client address behind trusted proxies."""
from __future__ import annotations

import ipaddress
import logging

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

log = logging.getLogger("pharmsafe")

# The largest id every table stores on both engines (PostgreSQL INTEGER is signed 32-bit).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """A positive id within MAX_ID, in ASCII digits; anything else does not match the route (404).
    Python's int() reads the digits of every script ("１２", "١٢"): no id is written that way, so such
    a path names no record."""

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str):
        if not (value.isascii() and value.isdigit()):
            raise ValidationError()
        return super().to_python(value)


def trusted_proxy(wsgi_app, hops: int):
    """The client address and scheme from X-Forwarded-For and X-Forwarded-Proto, trusting exactly
    ``hops`` proxies in front (werkzeug's ProxyFix), but only when the forwarded value is an IP
    address (v4 or v6) and http or https: anything else (a name, a port, text) falls back to the
    peer address and scheme. The sign-in limits count per client address, so an address a client
    could choose freely would let it spread its guesses over as many counters as it likes: the
    service must be reachable only through the proxies, which overwrite the header."""
    return ProxyFix(ForwardedValues(wsgi_app), x_for=hops, x_proto=hops)


class ForwardedValues:
    """WSGI middleware inside ProxyFix: undoes what ProxyFix took from a header that does not hold an
    IP address (REMOTE_ADDR) or a known scheme (wsgi.url_scheme)."""

    SCHEMES = ("http", "https")

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        original = environ.get("werkzeug.proxy_fix.orig") or {}
        if "REMOTE_ADDR" in original and environ.get("REMOTE_ADDR") != original["REMOTE_ADDR"]:
            address = ip_address(environ.get("REMOTE_ADDR"))
            if address is None:
                log.warning("X-Forwarded-For did not end in an IP address; using the peer address")
                environ["REMOTE_ADDR"] = original["REMOTE_ADDR"]
            else:
                environ["REMOTE_ADDR"] = address
        if "wsgi.url_scheme" in original and environ.get("wsgi.url_scheme") not in self.SCHEMES:
            environ["wsgi.url_scheme"] = original["wsgi.url_scheme"]
        return self.wsgi_app(environ, start_response)


def ip_address(value) -> str | None:
    """The address in its normal form ("2001:db8::1"), or None when ``value`` is not one."""
    if not isinstance(value, str) or not value or len(value) > 64 or not value.isascii():
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
