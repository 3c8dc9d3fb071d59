"""Shared fixtures: an app on SQLite and on a throwaway PostgreSQL database, clients, helpers.

Every test that touches SQL runs on both backends (the `app` fixture is
parametrized). PostgreSQL comes from `TEST_DATABASE_URL` (default: the local
server); when it does not answer the PostgreSQL tests skip, except under
`CI=true`, where that is a failure.
"""
import atexit
import os
import shutil
import tempfile
import uuid

import psycopg2
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from config import GUIDE_API_KEY, normalize_database_url
from webapp import create_app
from webapp.database import dispose_engines
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
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, headless, making no calls home (pytest-playwright cannot download a browser here)."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]}


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
    migrate_database(url)
    yield url
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    """A SQLite file for this test session, built by the same migrations."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "leads.db")
    migrate_database(url)
    return url


def migrate_database(url: str) -> None:
    """Build the schema with Alembic, exactly as `flask db upgrade` does in production."""
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": {}})
    with app.app_context():
        upgrade()
        dispose_engines()


def make_app(url: str, **overrides):
    """A testing app on the database at `url`, with setting overrides."""
    from config import engine_options

    settings = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "CARDEKHO_API_KEYS": [GUIDE_API_KEY],
        "RATELIMIT_STORAGE_URI": "memory://",
        "SPOOL_DRAIN_INTERVAL": 0,  # tests that want the background drainer turn it on
        "ROUTE_INTERVAL": 0,  # likewise the router thread
        "MAIL_INTERVAL": 0,  # and the mail sender's
    }
    if "SPOOL_DIR" not in overrides:
        settings["SPOOL_DIR"] = tempfile.mkdtemp(prefix="raam-spool-")
        atexit.register(shutil.rmtree, settings["SPOOL_DIR"], True)
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """The URL of a migrated database, once for each backend."""
    return request.getfixturevalue(f"{request.param}_url")


def empty_tables(app) -> None:
    """Delete every row of every table."""
    with app.app_context():
        db.session.remove()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        dispose_engines()


@pytest.fixture
def app_factory(database_url):
    """Build apps on this test's database, which starts empty; their rows are deleted afterwards."""
    apps = []

    def build(**overrides):
        app = make_app(database_url, **overrides)
        if not apps:  # tests that run their own servers (gunicorn, the README's) may have left rows
            empty_tables(app)
        apps.append(app)
        return app

    yield build
    for app in apps:
        empty_tables(app)


@pytest.fixture
def app(app_factory):
    """The app with default test settings."""
    return app_factory()


@pytest.fixture
def client(app):
    """A test client for `app`."""
    return app.test_client()


@pytest.fixture
def app_context(app):
    """`app`'s application context, open for the whole test (for calling domain functions directly)."""
    with app.app_context():
        yield


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


# --- Accounts and sign-in (webapp.auth) ----------------------------------------------------------

TEST_PASSWORD = "correct horse battery"
_hashes_by_password: dict[str, str] = {}  # scrypt at OWASP cost takes ~0.3 s: hash each password once


@pytest.fixture
def make_user(app):
    """Store an account in this test's database and return it (detached, attributes loaded)."""
    from webapp.auth.models import User
    from webapp.auth.passwords import hash_password

    def make(email="asha@raam.example", *, name="Asha Patil", role="sales", password=TEST_PASSWORD,
             active=True, password_hash=None, on_duty=True):
        if password_hash is None:
            if password not in _hashes_by_password:
                _hashes_by_password[password] = hash_password(password)
            password_hash = _hashes_by_password[password]
        with app.app_context():
            user = User(email=email.lower(), name=name, role=role, password_hash=password_hash,
                        active=active, session_version=1, on_duty=on_duty)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        return user

    return make


@pytest.fixture
def protected_views(app):
    """Test-only pages behind `login_required` and `role_required`, so the real URL map holds no stub."""
    from types import SimpleNamespace

    from flask import Blueprint, render_template_string

    from webapp.auth.access import login_required, role_required

    bp = Blueprint("placeholder", __name__, url_prefix="/test")
    page = """{% extends "base.html" %}{% block content %}<h1>Leads placeholder</h1>
      <button class="button" hx-get="/test/leads/rows" hx-target="#rows">Load rows</button>
      <button class="button" hx-post="/test/leads/note" hx-target="#rows">Add a note</button>
      <div class="table-wrap"><table><tbody id="rows"></tbody></table></div>{% endblock %}"""

    bp.add_url_rule("/leads", "leads", login_required(lambda: render_template_string(page)))
    bp.add_url_rule("/leads/rows", "rows", login_required(
        lambda: render_template_string("<tr><td>Rows for {{ current_user.name }}</td></tr>")))
    bp.add_url_rule("/leads/note", "note", login_required(lambda: "<tr><td>Noted</td></tr>"), methods=["POST"])
    bp.add_url_rule("/export", "export", role_required("manager", "admin")(lambda: "export for managers"))
    app.register_blueprint(bp)
    return SimpleNamespace(page="/test/leads", rows="/test/leads/rows", note="/test/leads/note",
                           export="/test/export")


def csrf_token_in(html: str) -> str:
    """The CSRF token a page carries (the `csrf-token` meta tag of base.html)."""
    import re

    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "no csrf-token meta tag on the page"
    return match.group(1)


class AuthActions:
    """Sign in and out the way a browser does: read the form's CSRF token, then POST."""

    def __init__(self, client, views):
        self.client, self.views = client, views

    def login(self, email="asha@raam.example", password=TEST_PASSWORD, next=None, client=None, **kwargs):
        """Open /login (with `next`), then submit the form; returns the POST's response."""
        from urllib.parse import urlencode

        client = client or self.client
        url = "/login" + ("?" + urlencode({"next": next}) if next else "")
        token = csrf_token_in(client.get(url, **kwargs).get_data(as_text=True))
        return client.post(url, data={"email": email, "password": password, "csrf_token": token}, **kwargs)

    def logout(self, client=None):
        """Press "Sign out" on a signed-in page."""
        client = client or self.client
        token = csrf_token_in(client.get(self.views.page).get_data(as_text=True))
        return client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client, protected_views):
    """Sign-in helpers bound to `client`."""
    return AuthActions(client, protected_views)


@pytest.fixture
def signed_in_client(client, auth, make_user):
    """`client`, signed in as a sales account."""
    make_user()
    assert auth.login().status_code == 302
    return client


@pytest.fixture
def admin_client(auth, make_user):
    """`client`, signed in as an admin."""
    make_user("root@raam.example", name="Ravi Admin", role="admin")
    assert auth.login("root@raam.example").status_code == 302
    return auth.client


@pytest.fixture
def sign_in_as(make_user, auth):
    """A function that makes an account of a role, signs `client` in as it, and returns the `auth` helpers."""

    def sign_in(role="sales"):
        make_user(f"{role}@raam.example", name=f"{role.title()} Person", role=role)
        assert auth.login(f"{role}@raam.example").status_code == 302
        return auth

    return sign_in


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free loopback port, stopped at the end; `.messages` are what it got."""
    from tests.servers import free_port
    from tests.smtp import SmtpServer

    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()
