"""HTML pages for people: sign-in, the pharmacist's workbench, the prescriber's forms, the audit and
admin pages. Server-rendered Jinja templates, no JavaScript build step.

The pages call the same services as the JSON API and share its ownership rules
(pharmsafe.services.access); every rule lives in the gates and the services, never in a view."""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFError, CSRFProtect

from pharmsafe.http.respond import error_response
from pharmsafe.web import admin, audit, auth, inbox, manager, pharmacist, prescriber, present, session
from pharmsafe.web.session import SESSION_MAX_AGE

# Created unbound; register_web binds it to each app.
csrf = CSRFProtect()


def register_web(app: Flask) -> None:

    # A form's token lives as long as the sign-in it belongs to.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(SESSION_MAX_AGE.total_seconds()))
    # Pages send no Referer (Referrer-Policy: no-referrer), so over HTTPS the token and the SameSite
    # session cookie are the check, not a Referer comparison that would refuse every form.
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    csrf.init_app(app)
    for blueprint in (auth.bp, pharmacist.bp, prescriber.bp, audit.bp, admin.bp, inbox.bp, manager.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.context_processor(session.template_context)
    present.register_filters(app)


def _csrf_refused(_exc: CSRFError):
    return error_response(400, "csrf_failed",
                          "This form was refused because its security token is missing or out of date. "
                          "Go back, reload the page and send the form again.")
