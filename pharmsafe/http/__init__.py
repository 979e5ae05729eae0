"""The HTTP edge shared by the API and the pages: the unit of work per request, the error map and
error bodies, the response headers, liveness and readiness, the URL converters and the client
address behind trusted proxies."""
from __future__ import annotations

from flask import Flask

from pharmsafe.http import errors, headers, unit
from pharmsafe.http.health import health_bp
from pharmsafe.http.routing import IdConverter, trusted_proxy


def init_app(app: Flask, *, trusted_proxy_hops: int = 0) -> None:
    # Every <int:...> in a route is a database id: one past the databases' range is a 404, not a 500.
    app.url_map.converters["int"] = IdConverter
    if trusted_proxy_hops:
        # The client address (sign-in limits per address) comes from X-Forwarded-For, trusting exactly
        # this many proxies in front and only when it is an IP address; without proxies it is the peer.
        app.wsgi_app = trusted_proxy(app.wsgi_app, trusted_proxy_hops)
    unit.init_app(app)
    errors.register_error_handlers(app)
    headers.init_app(app)
    app.register_blueprint(health_bp)
