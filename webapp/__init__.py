"""The Raam Lead Desk application factory."""
import logging
import os
import threading

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from config import load_config
from webapp.extensions import csrf, db, limiter, login_manager, migrate
from webapp.leads.models import MAX_ROW_ID


class RowId(IntegerConverter):
    """`<id:name>` in a route: a row id the database can compare, so a larger number is a 404, not a 500."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app for `APP_ENV` (or `overrides["APP_ENV"]`), with optional setting overrides."""
    overrides = overrides or {}
    app = Flask(__name__)
    app.config.from_object(load_config(overrides.get("APP_ENV")))
    app.config.update(overrides)
    configure_logging(app)
    app.url_map.converters["id"] = RowId
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def configure_logging(app: Flask) -> None:
    """Log our lines to stderr (gunicorn captures them) and repeat any config warnings."""
    from webapp.request_log import RequestIdFilter

    logger = logging.getLogger("webapp")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s request_id=%(request_id)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logging.getLogger("flask-limiter").addHandler(handler)  # its Redis warnings get a request id too
    for warning in app.config.get("CONFIG_WARNINGS", []):
        logger.warning(warning)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions of `webapp.extensions`."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]) or ".",
                    exist_ok=True)
    from webapp import audit, keyring  # noqa: F401  (Alembic and the app see the tables)
    from webapp.leads import intake_log, models, report_days  # noqa: F401

    from webapp.connections import AUTOCOMMIT_BIND, autocommit_bind, ping_idle_connections

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    on_postgresql = uri.startswith("postgresql")
    if on_postgresql:
        app.config["SQLALCHEMY_BINDS"] = {**app.config.get("SQLALCHEMY_BINDS", {}),
                                          AUTOCOMMIT_BIND: autocommit_bind(uri, app.config["SQLALCHEMY_ENGINE_OPTIONS"])}
    db.init_app(app)
    if on_postgresql:
        with app.app_context():
            for engine in db.engines.values():
                ping_idle_connections(engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    from webapp.security import refuse_unusable_input

    app.before_request(refuse_unusable_input)  # before the limiter's and the CSRF check's hooks
    limiter.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app, add_context_processor=False)  # webapp.auth provides a lazy one
    from webapp.intake.rate_limit import WebhookLimits
    from webapp.keyring import KeyRing
    from webapp.leads.routing_thread import init_router
    from webapp.spooling import init_spool

    init_spool(app)
    init_router(app)
    app.extensions["webhook_limits"] = WebhookLimits(app.config)
    app.extensions["export_slots"] = threading.BoundedSemaphore(app.config["EXPORTS_PER_WORKER"])
    app.extensions["keyring"] = KeyRing(app.config["CARDEKHO_API_KEYS"], app.config["API_KEY_CACHE_SECONDS"],
                                        os.path.join(app.config["SPOOL_DIR"], "api-keys.json"))


def register_blueprints(app: Flask) -> None:
    """One blueprint per audience."""
    from webapp import admin, auth, dashboard, health, intake

    app.register_blueprint(auth.bp)  # also the `flask users` commands
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(intake.bp)
    csrf.exempt(intake.bp)  # CarDekho authenticates with its API key, not a session
    app.session_interface = intake.SessionInterface()


def register_commands(app: Flask) -> None:
    """`flask spool ...`, `flask leads ...` and the other operator commands."""
    from webapp.commands import intake_cli, keys_cli, spool_cli
    from webapp.leads.cli import leads_cli
    from webapp.leads.report_cli import reports_cli

    for group in (spool_cli, keys_cli, intake_cli, leads_cli, reports_cli):
        app.cli.add_command(group)


def register_error_handlers(app: Flask) -> None:
    """JSON errors on the webhook, HTML for people, and one log line per webhook call."""
    from webapp.errors import API_PREFIX, register_error_handlers as install
    from webapp.request_log import register_request_log
    from webapp.security import register_security_headers

    install(app)
    register_request_log(app, API_PREFIX)
    register_security_headers(app)
