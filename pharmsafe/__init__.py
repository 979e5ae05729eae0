"""PharmSafe: dispensing-safety gates for isotretinoin.

create_app(config=None): config -> db -> blueprints -> CLI -> scheduler."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from pharmsafe.config import PROJECT_ROOT, load_settings


def create_app(config: Mapping[str, Any] | None = None, *, clock=None) -> Flask:
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                instance_path=str(PROJECT_ROOT / "instance"))
    settings = load_settings(config)
    _configure(app, settings)
    _init_database(app, settings, clock)
    _register_blueprints(app)
    _register_cli(app)
    _start_scheduler(app, settings)
    return app


def _configure(app: Flask, settings: dict[str, Any]) -> None:
    from pharmsafe.routing import IdConverter

    app.config["PHARMSAFE"] = settings
    # Every <int:...> in a route is a database id: one past the databases' range is a 404, not a 500.
    app.url_map.converters["int"] = IdConverter
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
    if settings["TRUSTED_PROXY_HOPS"]:
        from pharmsafe.routing import trusted_proxy

        # The client address (sign-in limits per address) comes from X-Forwarded-For, trusting
        # exactly this many proxies in front and only when it is an IP address; without proxies it
        # is the peer address.
        hops = settings["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = trusted_proxy(app.wsgi_app, hops)


def _init_database(app: Flask, settings: dict[str, Any], clock) -> None:
    from pharmsafe.clock import SystemClock
    from pharmsafe.db import make_engine, make_session_factory
    from pharmsafe.services.context import ProgramConfig
    from pharmsafe import transactions

    engine = make_engine(settings["DATABASE_URL"])
    app.extensions["pharmsafe"] = {
        "engine": engine,
        "session_factory": make_session_factory(engine),
        "clock": clock or SystemClock(),
        "program": ProgramConfig.from_settings(settings),
    }
    transactions.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from pharmsafe.api import api_bp
    from pharmsafe.errors import register_error_handlers
    from pharmsafe.health import health_bp
    from pharmsafe import security
    from pharmsafe.web import register_web

    app.register_blueprint(health_bp)
    app.register_blueprint(api_bp)
    register_web(app)
    register_error_handlers(app)
    security.init_app(app)


def _register_cli(app: Flask) -> None:
    from pharmsafe.cli import main

    app.cli.add_command(main, "pharmsafe")


def _start_scheduler(app: Flask, settings: dict[str, Any]) -> None:
    """The scheduler is never started here: `pharmsafe serve` runs one beside gunicorn's workers
    (PHARMSAFE_SCHEDULER=embedded), or `pharmsafe scheduler` runs it as its own process. Starting it
    in the factory would start one per worker."""
    app.extensions["pharmsafe"]["scheduler_mode"] = settings["SCHEDULER"]
