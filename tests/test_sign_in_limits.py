"""Limits on password guessing, without lockouts, on SQLite and on PostgreSQL: what people and guessers see.

Every attempt is counted before its password is checked. A browser that signed
in to an account before (it holds a device cookie for it) is limited on its
own; everyone else is limited per address, per account and address, and per
account (OWASP's device cookies).
"""
import sqlalchemy as sa

from tests.conftest import TEST_PASSWORD, AuthActions, csrf_token_in
from webapp.audit import AuditEvent
from webapp.extensions import db

WRONG = "Email or password is incorrect."
TOO_MANY = "Too many sign-in attempts"
SHOWROOM = "198.51.100.7"  # one address for everyone at work


def browser(app, views) -> AuthActions:
    """A new browser: no cookies yet."""
    return AuthActions(app.test_client(), views)


def from_address(address: str) -> dict:
    """Request arguments for a client at `address`."""
    return {"environ_base": {"REMOTE_ADDR": address}}


def signed_in(auth: AuthActions) -> bool:
    """Whether this browser can open a page that needs sign-in."""
    return auth.client.get(auth.views.page).status_code == 200


def audited(app, action: str) -> int:
    """How many audit rows record `action`."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == action))


def test_failed_sign_ins_from_one_address_are_limited_with_a_429_page(app_factory, make_user, protected_views):
    app = app_factory(LOGIN_RATE_LIMIT_PER_IP="3 per minute")
    auth = browser(app, protected_views)
    for attempt in range(3):
        assert auth.login(email=f"guess{attempt}@raam.example").status_code == 200
    refused = auth.login(email="guess9@raam.example")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert TOO_MANY in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    make_user()
    assert browser(app, protected_views).login(**from_address("10.1.2.3")).status_code == 302


def test_an_attacker_elsewhere_cannot_lock_a_person_out_of_her_own_browser(app, make_user, protected_views):
    make_user()
    asha = browser(app, protected_views)
    assert asha.login(**from_address(SHOWROOM)).status_code == 302  # yesterday, at work
    asha.logout()
    attacker = browser(app, protected_views)
    answers = [attacker.login(password=f"guess {n}", **from_address(f"203.0.113.{n // 2}")).status_code
               for n in range(16)]  # eight addresses, two guesses from each
    # 10 attempts an hour at one account from browsers it never signed in from, her first sign-in included
    assert answers == [200] * 9 + [429] * 7
    assert asha.login(**from_address(SHOWROOM)).status_code == 302  # her browser still gets in
    asha.logout()
    assert asha.login(**from_address("100.64.0.9")).status_code == 302  # from her phone's mobile data too
    assert audited(app, "sign_in_failed") == 9


def test_the_guesser_stays_limited_with_the_right_password_or_a_device_cookie_of_its_own(
        app_factory, make_user, protected_views):
    app = app_factory(LOGIN_RATE_LIMIT_PER_ACCOUNT="3 per hour")
    make_user()
    make_user("mallory@raam.example", name="Mallory")
    mallory = browser(app, protected_views)
    assert mallory.login("mallory@raam.example").status_code == 302  # her own account: a device cookie for it
    mallory.logout()
    answers = [mallory.login(password="guess", **from_address(f"203.0.113.{n}")).status_code for n in range(4)]
    assert answers == [200, 200, 200, 429]  # her cookie vouches for her account, not for Asha's
    fresh = browser(app, protected_views)
    assert fresh.login(**from_address("192.0.2.1")).status_code == 429  # even the right password: no check
    forged = browser(app, protected_views)
    forged.client.set_cookie("raam_device", mallory.client.get_cookie("raam_device", path="/login").value + "x",
                             path="/login")
    assert forged.login(**from_address("192.0.2.2")).status_code == 429  # a cookie we did not sign is no device
    assert not signed_in(fresh) and not signed_in(forged)
    assert audited(app, "sign_in_failed") == 3


def test_guesses_from_one_address_are_limited_per_account(app, make_user, protected_views):
    make_user()
    make_user("kiran@raam.example", name="Kiran")
    attacker = browser(app, protected_views)
    answers = [attacker.login(password="guess", **from_address("203.0.113.9")).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]  # 5 in 15 minutes per account and address
    assert attacker.login(password="guess", **from_address("203.0.113.9")).status_code == 429
    kiran = browser(app, protected_views)
    assert kiran.login("kiran@raam.example", **from_address("203.0.113.9")).status_code == 302


def test_a_showroom_of_ten_signs_in_at_shift_start_from_one_address(app, make_user, protected_views):
    people = [make_user(f"sales{n}@raam.example", name=f"Sales {n}") for n in range(10)]
    browsers = [browser(app, protected_views) for _ in people]
    assert browsers[3].login("sales3@raam.example", password="a typo", **from_address(SHOWROOM)).status_code == 200
    answers = [auth.login(person.email, **from_address(SHOWROOM)).status_code
               for auth, person in zip(browsers, people)]
    assert answers == [302] * 10


def test_a_trusted_browser_is_limited_per_device_and_not_by_its_address(app_factory, make_user, protected_views):
    app = app_factory(LOGIN_RATE_LIMIT_PER_IP="2 per minute", LOGIN_RATE_LIMIT_PER_DEVICE="2 per 15 minutes")
    make_user()
    asha = browser(app, protected_views)
    assert asha.login().status_code == 302  # a new browser: 1 of the address's 2
    asha.logout()
    colleague = browser(app, protected_views)  # the same showroom address
    assert colleague.login("nobody@raam.example", password="guess").status_code == 200
    assert colleague.login("nobody@raam.example", password="guess").status_code == 429  # the address is used up
    assert asha.login(password="a typo").status_code == 200  # her browser is counted on its own: 1 of 2
    assert asha.login().status_code == 302  # 2 of 2
    asha.logout()
    assert asha.login().status_code == 429  # a stolen device cookie buys no more guesses than an address


def test_the_device_cookie_is_httponly_signed_and_only_sent_to_the_sign_in_page(app, make_user, protected_views):
    make_user()
    cookies = browser(app, protected_views).login().headers.getlist("Set-Cookie")
    [device] = [cookie for cookie in cookies if cookie.startswith("raam_device=")]
    assert "HttpOnly" in device and "SameSite=Lax" in device and "Path=/login" in device
    assert "Max-Age=" in device and "asha" not in device.lower()


def test_a_json_sign_in_is_refused_and_checks_no_password(app, client, auth, make_user):
    make_user()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    fields = {"email": "asha@raam.example", "password": TEST_PASSWORD, "csrf_token": token}
    for headers in ({"X-CSRFToken": token}, {}):
        refused = client.post("/login", json=fields, headers=headers)
        assert refused.status_code == 415, headers
        assert "Sign in with the form on the sign-in page" in refused.get_data(as_text=True)
    assert not signed_in(auth)
    assert audited(app, "sign_in_failed") == 0 and audited(app, "sign_in") == 0
    assert client.post("/login", data=fields, content_type="multipart/form-data").status_code == 302


def test_sign_ins_beyond_the_hashing_slots_get_a_busy_page_and_the_slot_comes_back(
        app_factory, make_user, protected_views):
    app = app_factory(PASSWORD_HASHES_PER_WORKER=1, PASSWORD_HASH_WAIT_SECONDS=0.2)
    make_user()
    make_user("broken@raam.example", name="Broken", password_hash="bogus$salt$hash")  # a hash nobody can read
    auth = browser(app, protected_views)
    with app.extensions["password_slots"].hold():  # another sign-in of this worker is hashing
        busy = auth.login()
    assert busy.status_code == 503 and busy.mimetype == "text/html"
    assert "Sign-in is busy" in busy.get_data(as_text=True) and int(busy.headers["Retry-After"]) > 0
    assert not signed_in(auth)
    assert WRONG in auth.login("broken@raam.example").get_data(as_text=True)  # its check failed: no 500
    assert auth.login().status_code == 302  # the one slot came back after both
