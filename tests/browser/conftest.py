"""Browser tests: Debian's Chromium driven by Playwright against the real app under gunicorn on PostgreSQL.

The server is a real process on 127.0.0.1 with its own throwaway database;
accounts are made with the `flask users create` command and leads arrive
through the webhook, as in production. Screenshots go to test-artifacts/.
"""
import json
import os
import urllib.request
from types import SimpleNamespace

import pytest

from config import GUIDE_API_KEY
from tests.conftest import WEBHOOK
from tests.servers import ROOT, free_port, run_flask, scratch_database, start_gunicorn, stop

ARTIFACTS = os.path.join(ROOT, "test-artifacts")
PASSWORD = "showroom-floor-2026"


@pytest.fixture(scope="session")
def artifacts():
    """The git-ignored folder screenshots are saved in."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def live_server(postgresql_url):
    """gunicorn serving the app on a fresh PostgreSQL database, with a sales and a manager account."""
    with scratch_database(postgresql_url, "browser") as database_url:
        # Development settings (plain http on loopback, so no Secure cookie), every secret given.
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "browser-test-secret",
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": database_url,
               "RATELIMIT_STORAGE_URI": "memory://", "WEBHOOK_RATE_LIMIT": "1000 per minute"}
        run_flask(env, "db", "upgrade")
        for role in ("sales", "manager"):
            run_flask(env, "users", "create", f"{role}@raam.example", "--name", f"{role.title()} Person",
                      "--role", role, stdin=f"{PASSWORD}\n{PASSWORD}\n")
        port = free_port()
        server = start_gunicorn(port, env, workers=2)
        try:
            yield SimpleNamespace(url=f"http://127.0.0.1:{port}", env=env, password=PASSWORD)
        finally:
            stop(server)


@pytest.fixture(scope="session")
def send_lead(live_server):
    """POST a lead to the live webhook, as CarDekho does."""

    def send(**body):
        request = urllib.request.Request(
            live_server.url + WEBHOOK, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-API-Key": GUIDE_API_KEY})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
        return body

    return send


@pytest.fixture
def sign_in(live_server):
    """Sign a Playwright page in with a role's account."""

    def as_role(page, role="sales"):
        page.goto(live_server.url + "/admin/mg-digital-leads")
        page.fill("input[name=email]", f"{role}@raam.example")
        page.fill("input[name=password]", live_server.password)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/mg-digital-leads")

    return as_role
