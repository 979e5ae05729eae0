"""PharmSafe: dispensing-safety gates for isotretinoin.

create_app(config=None): config -> runtime (database, clock, program) -> the HTTP edge -> blueprints.
The scheduler is never started here: `pharmsafe serve` runs one beside gunicorn's workers
(PHARMSAFE_SCHEDULER=embedded), or `pharmsafe scheduler` runs it as its own process; starting it in
the factory would start one per worker."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from pharmsafe import fhir, http, ncpdp
from pharmsafe.api import api_bp
from pharmsafe.clock import Clock
from pharmsafe.config import instance_path, load_settings
from pharmsafe.runtime import Runtime
from pharmsafe.web import csrf, register_web


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    settings = load_settings(config)
    # Templates, static files and migrations live in the package, so that a wheel carries them.
    app = Flask(__name__, instance_path=str(instance_path()))
    app.config["PHARMSAFE"] = settings
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"] or None,
        MAX_CONTENT_LENGTH=settings["MAX_CONTENT_LENGTH"],
        TESTING=settings["ENV"] == "testing",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure everywhere but development (`make run` serves plain http on 127.0.0.1).
        SESSION_COOKIE_SECURE=settings["ENV"] != "development",
    )
    app.json.sort_keys = False
    Runtime.build(settings, clock).install(app)
    http.init_app(app, trusted_proxy_hops=settings["TRUSTED_PROXY_HOPS"])
    app.register_blueprint(api_bp)
    fhir.init_app(app)
    ncpdp.init_app(app)
    register_web(app)
    # The JSON API, the FHIR facade and NCPDP SCRIPT authenticate every request with a bearer token, never a cookie.
    csrf.exempt(api_bp)
    csrf.exempt(fhir.fhir_bp)
    csrf.exempt(ncpdp.ncpdp_bp)
    return app
