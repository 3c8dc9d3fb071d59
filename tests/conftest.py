"""Shared fixtures: an app on SQLite and on a throwaway PostgreSQL database, clients, helpers.

Every test that touches SQL runs on both backends (the `app` fixture is
parametrized). PostgreSQL comes from `TEST_DATABASE_URL` (default: the local
server); when it does not answer the PostgreSQL tests skip, except under
`CI=true`, where that is a failure.
"""
import os
import uuid

import psycopg2
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from config import GUIDE_API_KEY, normalize_database_url
from webapp import create_app
from webapp.extensions import db

WEBHOOK = "/admin/mg-digital-leads/source/cardekho"
SAMPLE_LEAD = {  # the guide's sample body
    "name": "Ravi Kumar",
    "phone_number": "9876543210",
    "car_model": "Tata Nexon EV",
    "lead_url": "https://cardekho.com/leads/123",
    "campaign": "EV Awareness Q4",
    "utm_source": "cardekho_ads",
}
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str):
    """A missing real dependency skips a test on a laptop and fails it in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def _admin_connection(url: str):
    dsn = url.replace("postgresql+psycopg2://", "postgresql://").replace("postgres://", "postgresql://")
    connection = psycopg2.connect(dsn, connect_timeout=3)
    connection.autocommit = True
    return connection


@pytest.fixture(scope="session")
def postgresql_url():
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    try:
        admin = _admin_connection(TEST_DATABASE_URL)
    except psycopg2.OperationalError as error:
        skip_or_fail(f"PostgreSQL not reachable at TEST_DATABASE_URL={TEST_DATABASE_URL}: {error}".strip())
    name = f"raam_leads_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = normalize_database_url(sa.engine.make_url(TEST_DATABASE_URL).set(database=name)
                                 .render_as_string(hide_password=False))
    _migrate(url)
    yield url
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    """A SQLite file for this test session, built by the same migrations."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "leads.db")
    _migrate(url)
    return url


def _migrate(url: str) -> None:
    """Build the schema with Alembic, exactly as `flask db upgrade` does in production."""
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": {}})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def make_app(url: str, **overrides):
    """A testing app on the database at `url`, with setting overrides."""
    from config import engine_options

    settings = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "CARDEKHO_API_KEYS": [GUIDE_API_KEY],
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """The URL of a migrated database, once for each backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def app_factory(database_url):
    """Build apps on this test's database; their rows are deleted afterwards."""
    apps = []

    def build(**overrides):
        app = make_app(database_url, **overrides)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    """The app with default test settings."""
    return app_factory()


@pytest.fixture
def client(app):
    """A test client for `app`."""
    return app.test_client()


@pytest.fixture
def post_lead(client):
    """POST a body to the webhook; a dict is sent as JSON with the guide's key."""

    def post(body=None, *, key=GUIDE_API_KEY, data=None, content_type="application/json", headers=None,
             using=None):
        all_headers = {} if key is None else {"X-API-Key": key}
        all_headers.update(headers or {})
        if data is None:
            import json
            data = json.dumps(body if body is not None else SAMPLE_LEAD)
        return (using or client).post(WEBHOOK, data=data, content_type=content_type, headers=all_headers)

    return post


@pytest.fixture
def leads(app):
    """A function returning every stored lead, oldest first."""
    from webapp.leads.models import Lead

    def all_leads():
        with app.app_context():
            rows = db.session.scalars(sa.select(Lead).order_by(Lead.id)).all()
            db.session.expunge_all()
            return rows

    return all_leads
