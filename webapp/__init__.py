"""The Raam Lead Desk application factory: the dashboard, with the webhook's own app mounted in front."""
import os
import threading

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from config import load_config
from webapp.database import MAX_ROW_ID, add_engine
from webapp.extensions import csrf, db, limiter, login_manager, migrate
from webapp.intake import INTAKE_PREFIX, create_intake_app
from webapp.intake.parts import EXTENSION as INTAKE, intake_of
from webapp.leads.routing_thread import router_for
from webapp.request_ids import configure_logging, register_request_ids

MOUNTED_INTAKE_APP = "intake_app"


class RowId(IntegerConverter):
    """`<id:name>` in a route: a row id the database can compare, so a larger number is a 404, not a 500."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


class IntakeDispatcher:
    """WSGI: requests under `prefix` go to the intake app, the others to the dashboard; paths are left as they
    are, so the intake app routes the contract's full path (and serves the same URLs on its own)."""

    def __init__(self, dashboard, prefix: str, intake):
        self.dashboard, self.prefix, self.intake = dashboard, prefix, intake

    def __call__(self, environ, start_response):
        """Hand the request to the app its path belongs to."""
        if environ.get("PATH_INFO", "").startswith(self.prefix):
            return self.intake(environ, start_response)
        return self.dashboard(environ, start_response)


def create_app(overrides: dict | None = None) -> Flask:
    """The app for `APP_ENV` (or `overrides["APP_ENV"]`), with optional setting overrides.

    What runs for each request, in order (the one place it is stated):

    1. IntakeDispatcher: a path under INTAKE_PREFIX goes to the intake app, whose
       before_request hooks start this worker's spool drainer, lead router and
       mail sender, then its route answers and logs (webapp.intake); none of the
       hooks below.
    2. NothingNewShortcut: a signed-in list page's "anything new?" with nothing
       new gets its 204 here (webapp.dashboard.nothing_new); none of the hooks below.
    2b. ProxyFix, when TRUSTED_PROXY_HOPS is set (the intake app has its own).
    3. The dashboard's before_request hooks: the request id (webapp.request_ids),
       refuse_unusable_input (webapp.security), Flask-Limiter's limits, the CSRF
       check, this worker's lead router, mail sender and spool drainer started.
    4. The view (Flask-Login loads the account when the view or a template asks).
    5. after_request, last registered first: the security headers, Flask-Login's
       remember cookie, Flask-Limiter's headers, the X-Request-ID header.
    6. teardown: the log lines' request id is cleared, Flask-Limiter's context,
       the database session is removed.
    """
    overrides = overrides or {}
    app = Flask(__name__)
    app.config.from_object(load_config(overrides.get("APP_ENV")))
    app.config.update(overrides)
    configure_logging(app.config)
    app.url_map.converters["id"] = RowId
    register_request_ids(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    intake_app = attach_intake(app)
    from webapp.dashboard.nothing_new import NothingNewShortcut, can_answer_before_the_app

    if can_answer_before_the_app(app):
        app.wsgi_app = NothingNewShortcut(app, app.wsgi_app,
                                          [thread.ensure_running for thread in background_threads(app)])
    app.wsgi_app = IntakeDispatcher(app.wsgi_app, INTAKE_PREFIX, intake_app)
    return app


def attach_intake(app: Flask) -> Flask:
    """Build the webhook's app from `app`'s settings (its engine, spool, keys, limits; this worker's threads
    started by its requests too) and return it."""
    intake_app = create_intake_app(app.config)
    intake = intake_of(intake_app)
    app.extensions[INTAKE] = intake  # the pages and commands read the spool, the limits, the keys
    app.extensions[MOUNTED_INTAKE_APP] = intake_app
    add_engine(app, intake.engine, autocommit=True)
    add_engine(intake_app, intake.engine, autocommit=True)
    # Each worker's background threads start on its first request, whichever app serves it.
    app.before_request(intake.drainer.ensure_running)
    for thread in background_threads(app)[1:]:
        intake_app.before_request(thread.ensure_running)
    intake.after_store.append(router_for(app).nudge)  # each lead gets its owner within seconds
    return intake_app


def background_threads(app: Flask) -> list:
    """This worker's spool drainer, lead router and mail sender (each started by `ensure_running`)."""
    return [intake_of(app).drainer, router_for(app), app.extensions["mail_sender"]]


def mounted_intake_app(app: Flask) -> Flask:
    """The webhook's app that `app` sends INTAKE_PREFIX to (`run:intake_app` serves it alone)."""
    return app.extensions[MOUNTED_INTAKE_APP]


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions of `webapp.extensions`."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]) or ".",
                    exist_ok=True)
    from webapp import audit  # noqa: F401  (Alembic and the app see the tables)
    from webapp.database import ping_idle_connections
    from webapp.intake import intake_log, keyring  # noqa: F401
    from webapp.leads import models, outbox, report_days  # noqa: F401
    from webapp.security import refuse_unusable_input

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            ping_idle_connections(db.engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    app.before_request(refuse_unusable_input)  # before the limiter's and the CSRF check's hooks
    limiter.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app, add_context_processor=False)  # webapp.auth provides a lazy one
    from webapp.leads.live import init_live_list
    from webapp.leads.routing_thread import init_router
    from webapp.mailing import init_mailing

    init_router(app)
    init_live_list(app)
    init_mailing(app)
    app.extensions["export_slots"] = threading.BoundedSemaphore(app.config["EXPORTS_PER_WORKER"])


def register_blueprints(app: Flask) -> None:
    """One blueprint per audience of the pages (the webhook is an app of its own)."""
    from webapp import admin, auth, dashboard, health

    app.register_blueprint(auth.bp)  # also the `flask users` commands
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)


def register_commands(app: Flask) -> None:
    """Each package's operator commands: `flask spool|keys|intake …` (webhook), `flask leads|reports|mail …`."""
    from webapp.intake.cli import register_commands as register_intake_commands
    from webapp.leads.cli import register_commands as register_lead_commands
    from webapp.leads.report_cli import reports_cli
    from webapp.mailing import mail_cli

    register_intake_commands(app)
    register_lead_commands(app)
    app.cli.add_command(reports_cli)
    app.cli.add_command(mail_cli)


def register_error_handlers(app: Flask) -> None:
    """HTML error pages for people (JSON when asked), and the pages' security headers."""
    from webapp.errors import register_error_handlers as register_error_pages
    from webapp.security import register_security_headers

    register_error_pages(app)
    register_security_headers(app)
