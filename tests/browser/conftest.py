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
from playwright.sync_api import expect

from config import GUIDE_API_KEY
from tests.conftest import WEBHOOK
from tests.servers import ROOT, free_port, run_flask, scratch_database, start_gunicorn, stop

ARTIFACTS = os.path.join(ROOT, "test-artifacts")
PASSWORD = "showroom-floor-2026"
# Playwright's default of 5 s must cover a sign-in (scrypt) and a page drawn on two busy cores; a check whose
# time is a promise (a new lead within 5 s) passes its own timeout.
expect.set_options(timeout=15_000)


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
        # Each test signs in from a fresh browser (no device cookie) at one address, more often than the
        # sign-in limits allow a stranger in 15 minutes; those limits have tests of their own (test_auth.py).
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "browser-test-secret",
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": database_url,
               "RATELIMIT_STORAGE_URI": "memory://", "WEBHOOK_RATE_LIMIT": "1000 per minute",
               **{f"LOGIN_RATE_LIMIT_{scope}": "1000 per minute"
                  for scope in ("PER_IP", "PER_ACCOUNT_AND_IP", "PER_ACCOUNT", "PER_DEVICE")}}
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
    """Sign a Playwright page in with a role's account; fails with the sign-in page's message if refused."""

    def as_role(page, role="sales"):
        page.goto(live_server.url + "/admin/mg-digital-leads")
        page.fill("input[name=email]", f"{role}@raam.example")
        page.fill("input[name=password]", live_server.password)
        page.click("button[type=submit]")
        signed_in = page.get_by_role("button", name="Sign out")
        refused = page.locator(".alert-error")  # the sign-in form's message
        expect(signed_in.or_(refused)).to_be_visible()
        assert not refused.is_visible(), f"sign-in as {role} refused: {refused.inner_text()}"
        expect(page).to_have_url(live_server.url + "/admin/mg-digital-leads")

    return as_role
