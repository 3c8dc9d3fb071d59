"""Signing in and out (webapp.auth), on SQLite and on PostgreSQL: what a person sees."""
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from tests.conftest import TEST_PASSWORD, csrf_token_in, make_app
from webapp.auth.accounts import change_password, find_user, set_active
from webapp.auth.models import User
from webapp.database import dispose_engines
from webapp.extensions import db

WRONG = "Email or password is incorrect."


def signed_in(client, views) -> bool:
    """Whether `client` can open a page that needs sign-in."""
    return client.get(views.page).status_code == 200


def without_tokens(html: str) -> str:
    """A page with its CSRF tokens blanked, to compare two answers."""
    return re.sub(r'(csrf[-_]token"[^>]*?(content|value)=")[^"]+', r"\1", html).replace(
        re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1), "")


def next_of(location: str) -> str | None:
    """The `next` parameter of a redirect to /login."""
    assert urlsplit(location).path == "/login"
    return parse_qs(urlsplit(location).query).get("next", [None])[0]


# --- The sign-in form --------------------------------------------------------------------------

def test_login_page_has_the_email_and_password_fields_and_a_csrf_token(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'type="email"' in html and 'name="email"' in html
    assert 'type="password"' in html and 'name="password"' in html
    assert 'autocomplete="current-password"' in html
    assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', html)
    assert "Raam Lead Desk" in html and "Sign out" not in html


def test_sign_in_goes_to_the_lead_list_and_the_header_shows_the_name(client, auth, make_user):
    make_user(name="Asha Patil")
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/admin/mg-digital-leads"
    page = client.get(auth.views.page).get_data(as_text=True)
    assert "Asha Patil" in page and "Sign out" in page


def test_wrong_password_and_unknown_email_get_the_same_answer(client, auth, make_user):
    make_user()
    wrong_password = auth.login(password="not the password")
    unknown_email = auth.login(email="nobody@raam.example")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 200
        assert WRONG in response.get_data(as_text=True)
    assert without_tokens(wrong_password.get_data(as_text=True)).replace("asha@raam.example", "") == \
        without_tokens(unknown_email.get_data(as_text=True)).replace("nobody@raam.example", "")
    assert not signed_in(client, auth.views)


def test_an_unknown_email_costs_the_same_scrypt_check_as_a_wrong_password():
    # Timing is not asserted (shared machines are noisy): the unknown-email path checks a real
    # hash made with exactly the parameters of a stored password, so it does the same work.
    from webapp.auth.passwords import DUMMY_HASH, hash_password, verify_password

    method = hash_password("any password at all").split("$")[0]
    assert method == "scrypt:131072:8:1"
    assert DUMMY_HASH.split("$")[0] == method
    assert verify_password(None, "not the password") is False


def test_a_deactivated_account_gets_the_same_message_even_with_the_right_password(client, auth, make_user):
    make_user(active=False)
    response = auth.login()
    assert WRONG in response.get_data(as_text=True)
    assert not signed_in(client, auth.views)


def test_email_is_matched_in_any_case_and_with_spaces_around(client, auth, make_user):
    make_user("asha@raam.example")
    assert auth.login(email="  ASHA@Raam.Example ").status_code == 302
    assert signed_in(client, auth.views)


def test_empty_fields_are_asked_for_without_a_sign_in_attempt(client, auth):
    html = auth.login(email="", password="").get_data(as_text=True)
    assert "Enter your email." in html and "Enter your password." in html and WRONG not in html


def test_sign_in_records_the_time(app, auth, make_user):
    make_user()
    auth.login()
    with app.app_context():
        last_login = find_user("asha@raam.example").last_login_at
    assert last_login is not None and abs(datetime.now(UTC) - last_login) < timedelta(minutes=1)


def test_a_weaker_stored_hash_is_upgraded_at_sign_in(app, auth, make_user):
    make_user(password_hash=generate_password_hash(TEST_PASSWORD))  # Werkzeug's default, N=2^15
    assert auth.login().status_code == 302
    with app.app_context():
        assert find_user("asha@raam.example").password_hash.startswith("scrypt:131072:8:1$")


def test_a_signed_in_person_opening_login_goes_on(client, auth, make_user):
    make_user()
    auth.login()
    assert client.get("/login").headers["Location"] == "/"
    assert client.get("/login?next=/test/leads").headers["Location"] == "/test/leads"


def test_home_sends_people_to_the_lead_list(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/mg-digital-leads"


# --- Where sign-in leads ----------------------------------------------------------------------

def test_a_page_sends_people_to_sign_in_and_back_to_the_same_url(client, auth, make_user):
    make_user()
    response = client.get("/test/leads?q=ravi&page=2")
    assert response.status_code == 302
    assert next_of(response.headers["Location"]) == "/test/leads?q=ravi&page=2"
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please sign in to continue." in login_page
    signed = auth.login(next="/test/leads?q=ravi&page=2")
    assert signed.headers["Location"] == "/test/leads?q=ravi&page=2"


HOSTILE_NEXT = ["//evil.example", "https://evil.example/", "http:evil.example", "/\\evil.example",
                "\\\\evil.example", "/\t/evil.example", "/\n/evil.example", " //evil.example",
                "javascript:alert(1)", "evil.example", "/\r\nSet-Cookie: x=1", "///evil.example"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_leaving_the_site_is_dropped_from_the_sign_in_form(client, target):
    html = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'action="/login"' in html and "evil.example" not in html and "alert(1)" not in html


def test_next_leaving_the_site_is_ignored_after_sign_in(client, auth, make_user):
    make_user()
    assert auth.login(next="https://evil.example/").headers["Location"] == "/"
    for target in HOSTILE_NEXT:  # a signed-in person opening /login?next=… goes on the same way
        assert client.get("/login", query_string={"next": target}).headers["Location"] == "/", target


# --- CSRF ---------------------------------------------------------------------------------------

def test_sign_in_without_the_forms_csrf_token_is_refused(client, auth, make_user):
    make_user()
    response = client.post("/login", data={"email": "asha@raam.example", "password": TEST_PASSWORD})
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert "The sign-in form expired" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert not signed_in(client, auth.views)


def test_htmx_requests_carry_the_pages_csrf_token_in_a_header(client, auth, make_user):
    make_user()
    auth.login()
    token = csrf_token_in(client.get(auth.views.page).get_data(as_text=True))
    assert client.post(auth.views.note, headers={"HX-Request": "true"}).status_code == 400
    response = client.post(auth.views.note, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200 and "Noted" in response.get_data(as_text=True)


# --- Signing out, and sessions that end for real ----------------------------------------------

def test_sign_out_ends_the_session_and_a_copied_cookie_stops_working(app, client, auth, make_user):
    make_user()
    auth.login()
    copied = client.get_cookie("session").value
    response = auth.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert not signed_in(client, auth.views)
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get(auth.views.page).status_code == 302


def test_sign_out_needs_post_with_the_csrf_token(client, auth, make_user):
    make_user()
    auth.login()
    assert client.get("/logout").status_code == 405
    refused = client.post("/logout")
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert "reload the page and try again" in refused.get_data(as_text=True)
    assert signed_in(client, auth.views)


@pytest.mark.parametrize("change", ["password", "deactivation"])
def test_a_password_change_or_deactivation_ends_copied_sessions(app, client, auth, make_user, change):
    make_user()
    auth.login()
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert signed_in(copy, auth.views)
    with app.app_context():
        user = find_user("asha@raam.example")
        if change == "password":
            change_password(user, "a brand new passphrase")
        else:
            set_active(user, False)
    assert not signed_in(copy, auth.views)
    assert not signed_in(client, auth.views)


def test_a_session_cookie_without_a_version_is_not_accepted(app, client, make_user, protected_views):
    user = make_user()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # how a plain Flask-Login session would look
    assert not signed_in(client, protected_views)


# --- Pages that need sign-in --------------------------------------------------------------------

def test_an_htmx_request_without_a_session_gets_401_and_hx_redirect(client, protected_views):
    response = client.get(protected_views.rows, headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/test/leads?q=ra"})
    assert response.status_code == 401
    assert next_of(response.headers["HX-Redirect"]) == "/test/leads?q=ra"
    assert response.get_data(as_text=True) == ""  # nothing for htmx to swap into the table


def test_an_htmx_post_whose_session_expired_also_gets_hx_redirect(client, protected_views):
    response = client.post(protected_views.note, headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/test/leads"})
    assert response.status_code == 401
    assert next_of(response.headers["HX-Redirect"]) == "/test/leads"


def test_the_wrong_role_gets_a_403_page_and_the_right_role_gets_in(app, client, auth, make_user):
    make_user()
    make_user("meera@raam.example", name="Meera", role="manager")
    auth.login()
    refused = client.get(auth.views.export)
    assert refused.status_code == 403 and refused.mimetype == "text/html"
    assert "for manager and admin accounts; yours is a sales account" in refused.get_data(as_text=True)
    manager = app.test_client()
    auth.login("meera@raam.example", client=manager)
    assert manager.get(auth.views.export).get_data(as_text=True) == "export for managers"


def test_role_required_refuses_a_role_that_does_not_exist():
    from webapp.auth.access import role_required

    with pytest.raises(ValueError):
        role_required("managr")


def test_a_signed_in_person_sees_a_503_page_while_the_database_is_down(app, client, auth, make_user,
                                                                       database_url, tmp_path):
    from webapp.auth.access import login_required

    make_user()
    auth.login()
    dead = ("sqlite:///" + str(tmp_path) if database_url.startswith("sqlite")  # a directory: cannot open
            else "postgresql+psycopg2://postgres@127.0.0.1:1/nothing-listens")
    down = make_app(dead, SECRET_KEY=app.config["SECRET_KEY"])
    down.add_url_rule("/test/leads", "leads", login_required(lambda: "leads"))
    visitor = down.test_client()
    visitor.set_cookie("session", client.get_cookie("session").value)
    response = visitor.get("/test/leads")
    html = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Database temporarily unavailable" in html and "Sign out" not in html
    with down.app_context():
        dispose_engines()


# --- Session cookie -----------------------------------------------------------------------------

def test_the_session_cookie_is_httponly_and_samesite_lax(client, auth, make_user):
    make_user()
    cookie = auth.login().headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_the_session_cookie_is_secure_in_production(app_factory, database_url, make_user, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "x" * 64)
    monkeypatch.setenv("CARDEKHO_API_KEYS", "production-key")
    app = app_factory(APP_ENV="production")
    assert not app.testing
    make_user()
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    headers = {"Referer": "https://localhost/login"}  # Flask-WTF checks it on HTTPS
    response = client.post("/login", base_url="https://localhost", headers=headers, data={
        "email": "asha@raam.example", "password": TEST_PASSWORD,
        "csrf_token": csrf_token_in(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    cookies = response.headers.getlist("Set-Cookie")  # the session, and the browser's device cookie
    assert {cookie.split("=", 1)[0] for cookie in cookies} == {"session", "raam_device"}
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- The users table ------------------------------------------------------------------------------

def test_the_users_migration_matches_the_model(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": False})
        differences = [d for d in compare_metadata(context, db.metadata) if "users" in repr(d)]
    assert differences == []


def test_emails_are_unique_in_the_database_itself(app, make_user):
    make_user()
    with app.app_context():
        db.session.add(User(email="asha@raam.example", name="Again", role="sales", password_hash="x"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(User(email="new@raam.example", name="Odd role", role="owner", password_hash="x"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_the_migration_goes_down_and_up_again(tmp_path):
    from flask_migrate import downgrade, upgrade

    app = make_app("sqlite:///" + str(tmp_path / "roundtrip.db"))
    with app.app_context():
        upgrade()
        downgrade(revision="0001")
        assert "users" not in sa.inspect(db.engine).get_table_names()
        upgrade()
        assert "users" in sa.inspect(db.engine).get_table_names()
        dispose_engines()


def test_a_sign_in_expires_after_the_session_lifetime(app_factory, make_user, protected_views):
    import time as clock
    from tests.conftest import AuthActions

    # Cookie ages are counted in whole seconds: 3 s leaves room for a slow machine between the requests below.
    app = app_factory(PERMANENT_SESSION_LIFETIME=timedelta(seconds=3))
    make_user()
    client = app.test_client()
    auth = AuthActions(client, protected_views)
    assert auth.login().status_code == 302
    assert client.get("/admin/mg-digital-leads").status_code == 200
    clock.sleep(4.1)  # the signed cookie is now older than the lifetime
    assert client.get("/admin/mg-digital-leads").headers["Location"].startswith("/login")
