"""The CarDekho webhook, a WSGI app of its own: the whole path from the request to the row is in this folder.

Read it in this order:

- `routes.py`       POST /admin/mg-digital-leads/source/cardekho, step by step
- `outcome.py`      what became of one request (`IntakeOutcome`) and its JSON answer
- `keyring.py`      the X-API-Key check; the keys (`CARDEKHO_API_KEYS` and the api_keys table)
- `rate_limit.py`   the guide's 120/minute per key, and a limit on failed keys per address
- `request_body.py` the body as sent: framing, size, compression, JSON media types
                    (`webapp.leads.submission` then validates it, as the dashboard's recovery does)
- `store.py`        the lead and its intake-log row in one statement, or the spool
- `breaker.py`      after a database failure, leads go straight to the spool for a while
- `spool.py`, `drain.py`  the spool's files; moving them into the table when the database is back
- `request_log.py`, `intake_log.py`  the log line and the intake_log row of every answer
- `errors.py`       a status and an `{"error": …}` for every refusal and failure
- `parts.py`        the parts a request works with, one of each per process
- `cli.py`          `flask spool|keys|intake …`

It has only what a machine-to-machine API needs: no session, no CSRF check, no
Flask-Login, no Flask-Limiter, no page headers. `webapp.create_app` mounts it
in front of the dashboard at `INTAKE_PREFIX`, paths unchanged;
`gunicorn run:intake_app` serves it alone, at the same URLs.
"""
from collections.abc import Mapping

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.intake.parts import EXTENSION, Intake
from webapp.intake.routes import WEBHOOK_PATH, answer_unrouted, receive_cardekho_lead
from webapp.request_ids import configure_logging, stop_logging_as

INTAKE_PREFIX = "/admin/mg-digital-leads/source/"


class NoSession(SessionInterface):
    """CarDekho authenticates with its key and sends no cookie: no session is read or written."""

    def open_session(self, app, request):
        """Flask then uses its read-only null session."""
        return None

    def save_session(self, app, session, response):
        """Nothing to save."""


def create_intake_app(settings: Mapping) -> Flask:
    """The webhook app for `settings` (the same settings as the dashboard's: `config.py` and overrides)."""
    app = Flask(__name__)
    app.config.update(settings)
    app.session_interface = NoSession()
    configure_logging(app.config)
    app.extensions[EXTENSION] = Intake.from_settings(app.config)
    app.add_url_rule(WEBHOOK_PATH, view_func=receive_cardekho_lead, methods=["POST"])
    app.register_error_handler(HTTPException, answer_unrouted)  # another path or method
    app.register_error_handler(Exception, answer_unrouted)  # a failure outside the route
    app.before_request(app.extensions[EXTENSION].drainer.ensure_running)
    app.teardown_request(stop_logging_as)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app
