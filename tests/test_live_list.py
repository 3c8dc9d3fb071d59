"""The live list's "anything new since lead N?" endpoint, on both databases; its query plan on PostgreSQL."""
import re

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import request, request_started

from tests.conftest import SAMPLE_LEAD
from webapp.auth.accounts import find_user, set_active
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.routing import route_pending_leads

LIVE = "/admin/mg-digital-leads/live"
LIST = "/admin/mg-digital-leads"
AS_THE_PAGE_ASKS = {"HX-Request": "true"}  # live.js asks as htmx does: signed out is a 401, not the sign-in page


@pytest.fixture
def app(app_factory):
    """The app answering from the database at every ask (a worker reuses its answer for 1 s by default)."""
    return app_factory(LIVE_ANSWER_SECONDS=0)


@pytest.fixture
def desk(app, make_user, auth, post_lead):
    """Asha (sales, on duty) signed in; one lead already on her list."""
    asha = make_user("asha@raam.example", name="Asha Patil")
    auth.login()
    post_lead({**SAMPLE_LEAD, "name": "Old Lead", "car_model": "MG Hector"})
    with app.app_context():
        route_pending_leads(app.config)
    return asha


def after_of(page_html: str) -> int:
    """The id the drawn list asks from (data-after)."""
    return int(re.search(r'data-after="(\d+)"', page_html).group(1))


def arrive(app, post_lead, **fields) -> None:
    """A lead arrives through the webhook and the router gives it an owner."""
    assert post_lead({**SAMPLE_LEAD, **fields}).status_code == 201
    with app.app_context():
        route_pending_leads(app.config)


def test_nothing_new_is_a_bodiless_204(client, desk):
    after = after_of(client.get(LIST).get_data(as_text=True))
    response = client.get(LIVE, query_string={"after": after})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["X-Newest-Id"] == str(after)


def test_a_new_lead_comes_back_as_its_row_once(app, client, desk, post_lead):
    after = after_of(client.get(LIST).get_data(as_text=True))
    arrive(app, post_lead, name="Meera <b>Nair</b>", car_model="MG Windsor EV")
    response = client.get(LIVE, query_string={"after": after})
    assert response.status_code == 200
    assert response.headers["X-New-Leads"] == "1"
    html = response.get_data(as_text=True)
    assert 'class="lead-row lead-new"' in html
    assert "Meera &lt;b&gt;Nair&lt;/b&gt;" in html  # text, like every row
    assert "Asha Patil" in html  # already routed to its owner
    assert "age-badge" in html  # and counting
    again = client.get(LIVE, query_string={"after": response.headers["X-Newest-Id"]})
    assert again.status_code == 204


def test_only_leads_matching_the_views_filters_count(app, client, desk, post_lead, make_user):
    after = after_of(client.get(LIST, query_string={"car_model": "MG Hector", "owner": "me"}).get_data(as_text=True))
    arrive(app, post_lead, name="Other Model", car_model="MG Astor")
    assert client.get(LIVE, query_string={"after": after, "car_model": "MG Hector", "owner": "me"}).status_code == 204
    arrive(app, post_lead, name="Hector Buyer", car_model="MG Hector", phone_number="9123456780")
    response = client.get(LIVE, query_string={"after": after, "car_model": "MG Hector", "owner": "me"})
    assert response.headers["X-New-Leads"] == "1"
    assert "Hector Buyer" in response.get_data(as_text=True)


def test_a_lead_waiting_for_the_router_is_answered_once_it_has_its_owner(app, client, desk, post_lead):
    after = after_of(client.get(LIST, query_string={"owner": "me"}).get_data(as_text=True))
    assert post_lead({**SAMPLE_LEAD, "name": "Not Routed Yet"}).status_code == 201
    waiting = client.get(LIVE, query_string={"after": after, "owner": "me"})
    assert waiting.status_code == 204
    assert waiting.headers["X-Newest-Id"] == str(after)  # the view does not move past it
    with app.app_context():
        route_pending_leads(app.config)
    routed = client.get(LIVE, query_string={"after": waiting.headers["X-Newest-Id"], "owner": "me"})
    assert routed.headers["X-New-Leads"] == "1"
    assert "Not Routed Yet" in routed.get_data(as_text=True)


def test_a_made_up_or_ancient_id_costs_a_bounded_answer(app, client, desk, post_lead):
    for number in range(3):
        arrive(app, post_lead, name=f"Lead {number}", phone_number=f"900000000{number}")
    response = client.get(LIVE, query_string={"after": "0"})
    assert response.status_code == 200
    assert response.headers["X-New-Leads"] == "4"


@pytest.mark.parametrize("after", ["", "abc", "-1", "1.5", "١٢", "99999999999999999999999", "1\x00"])
def test_an_unusable_id_is_a_400_saying_so(client, desk, after):
    response = client.get(LIVE, query_string={"after": after})
    assert response.status_code == 400
    if "\x00" not in after:  # a NUL is refused, with its own reason, before any view runs
        assert "must be a lead id" in response.get_data(as_text=True)


def test_signed_out_polling_gets_401_not_the_sign_in_page(app):
    response = app.test_client().get(LIVE, query_string={"after": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 401


def test_the_list_carries_the_live_url_with_its_filters_and_the_notify_button(client, desk):
    html = client.get(LIST, query_string={"status": "new", "owner": "me"}).get_data(as_text=True)
    assert re.search(r'data-live-url="/admin/mg-digital-leads/live\?[^"]*owner=me', html)
    assert 'data-first-page="true"' in html
    assert 'id="notify-button" hidden' in html  # shown by live.js only where the browser can notify
    assert '<script src="/static/js/live.js">' in html


# --- The usual 204 is given in front of the dashboard app (webapp.dashboard.nothing_new) ------------------------

def test_nothing_new_is_answered_before_the_dashboard_app_and_anything_else_by_its_view(app, client, desk,
                                                                                     post_lead):
    views_run = []
    after = after_of(client.get(LIST, query_string={"car_model": "MG Hector"}).get_data(as_text=True))
    with request_started.connected_to(lambda sender, **_: views_run.append(request.full_path), app):
        nothing = client.get(LIVE, query_string={"after": after, "car_model": "MG Hector"},
                             headers={"X-Request-ID": "desk-7"})
        assert (nothing.status_code, nothing.get_data(), views_run) == (204, b"", [])
        assert nothing.headers["X-Newest-Id"] == str(after)
        assert nothing.headers["X-Request-ID"] == "desk-7"
        for name, value in {"Cache-Control": "no-store", "Vary": "Cookie", "X-Content-Type-Options": "nosniff",
                            "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}.items():
            assert nothing.headers[name] == value
        assert "default-src 'self'" in nothing.headers["Content-Security-Policy"]
        arrive(app, post_lead, name="Astor Buyer", car_model="MG Astor")  # new, but not on this view
        other_model = client.get(LIVE, query_string={"after": after, "car_model": "MG Hector"})
        assert (other_model.status_code, views_run) == (204, [])
        assert int(other_model.headers["X-Newest-Id"]) > after
        arrive(app, post_lead, name="Hector Buyer", car_model="MG Hector", phone_number="9123456780")
        shown = client.get(LIVE, query_string={"after": after, "car_model": "MG Hector"})
        assert shown.status_code == 200 and "Hector Buyer" in shown.get_data(as_text=True)
        assert "Astor Buyer" not in shown.get_data(as_text=True)
        assert len(views_run) == 1 and views_run[0].startswith(LIVE)  # the rows are drawn by the view


def _copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


@pytest.mark.parametrize("ended_by", ["signing out", "deactivation", "switched off in SQL"])
def test_a_session_ended_elsewhere_is_refused_not_told_nothing_new(app, client, desk, auth, ended_by):
    copy = _copy_of(app, client)
    after = after_of(client.get(LIST).get_data(as_text=True))
    assert copy.get(LIVE, query_string={"after": after}).status_code == 204
    if ended_by == "signing out":
        auth.logout()  # ends the account's sessions everywhere, copies included
    with app.app_context():
        if ended_by == "deactivation":
            set_active(find_user("asha@raam.example"), False)
        elif ended_by == "switched off in SQL":  # active = false with the session version left as it was
            db.session.execute(sa.update(User).values(active=False))
            db.session.commit()
    assert copy.get(LIVE, query_string={"after": after}, headers=AS_THE_PAGE_ASKS).status_code == 401


def test_a_tampered_session_cookie_is_refused(app, client, desk):
    cookie = client.get_cookie("session").value
    for forged in (cookie[:-3] + ("abc" if not cookie.endswith("abc") else "xyz"), "x" + cookie, "", "a.b.c"):
        browser = app.test_client()
        browser.set_cookie("session", forged)
        assert browser.get(LIVE, query_string={"after": "1"}, headers=AS_THE_PAGE_ASKS).status_code == 401, forged


@pytest.mark.parametrize("account", ["", "abc", "{id}", "{id}:", ":1", "²:1", "{id}:²", "{id}:1:1", "{id}:2",
                                     "{id}:99999999999999999999999", "99999999999999999999:1", "-1:1"])
def test_a_session_signed_by_us_naming_no_current_account_is_refused(client, desk, account):
    after = after_of(client.get(LIST).get_data(as_text=True))
    with client.session_transaction() as session:  # signed with our key: only its content is wrong
        session["_user_id"] = account.format(id=desk.id)
    assert client.get(LIVE, query_string={"after": after}, headers=AS_THE_PAGE_ASKS).status_code == 401
    with client.session_transaction() as session:
        session["_user_id"] = f"{desk.id}:1"  # what this account's session holds
    assert client.get(LIVE, query_string={"after": after}).status_code == 204


def test_a_sign_in_older_than_the_session_lifetime_is_refused(app_factory, make_user, auth):
    app = app_factory(LIVE_ANSWER_SECONDS=0, PERMANENT_SESSION_LIFETIME=timedelta(seconds=3))
    make_user()
    client = app.test_client()
    assert auth.login(client=client).status_code == 302
    assert client.get(LIVE, query_string={"after": "0"}).status_code == 204
    time.sleep(4.1)  # cookie ages are whole seconds: the signed cookie is now older than the lifetime
    assert client.get(LIVE, query_string={"after": "0"}, headers=AS_THE_PAGE_ASKS).status_code == 401


def test_strong_session_protection_set_in_the_config_is_kept_by_the_live_answer_too(app_factory, make_user, auth):
    app = app_factory(LIVE_ANSWER_SECONDS=0, SESSION_PROTECTION="strong")
    make_user()
    client = app.test_client()
    assert auth.login(client=client).status_code == 302
    assert client.get(LIVE, query_string={"after": "0"}).status_code == 204
    # The cookie used from another browser: Flask-Login ends the session.
    refused = client.get(LIVE, query_string={"after": "0"}, headers={**AS_THE_PAGE_ASKS, "User-Agent": "curl/8"})
    assert refused.status_code == 401


def test_the_live_answer_is_left_to_the_app_where_flask_refuses_hosts(app_factory):
    from webapp.dashboard.nothing_new import can_answer_before_the_app

    assert can_answer_before_the_app(app_factory())
    assert not can_answer_before_the_app(app_factory(TRUSTED_HOSTS=["desk.raam.example"]))
    assert not can_answer_before_the_app(app_factory(SESSION_PROTECTION="strong"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # query plans are PostgreSQL's
def test_the_new_leads_question_is_an_index_seek_on_postgresql(app, client, desk):
    with app.app_context():
        # 50,000 older leads, so the planner's choice is the one it makes on a real table.
        db.session.execute(sa.text(
            """INSERT INTO "mg-digital-leads" (platform, name, phone_number, car_model, payload, routed_at)
               SELECT 'CarDekho', 'n' || g, '9' || lpad(g::text, 9, '0'), 'MG Hector', '{}', now()
               FROM generate_series(1, 50000) g"""))
        db.session.execute(sa.text('ANALYZE "mg-digital-leads"'))
        db.session.commit()
        from webapp.leads.live import new_leads_query
        from webapp.leads.models import Lead
        from webapp.leads.search import LeadFilters

        newest = db.session.scalar(sa.select(sa.func.max(Lead.id)))
        for args in ({}, {"car_model": "MG Hector", "status": "new"}, {"owner": "none"}, {"q": "ravi"}):
            rows = new_leads_query(LeadFilters.from_args(args), 0, newest)  # an ancient id: LOOKBACK bounds it
            for query in (rows, sa.select(sa.exists(rows))):  # the rows (the view), "any?" (nothing_new)
                compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
                plan = "\n".join(db.session.scalars(sa.text(f"EXPLAIN {compiled}")))
                assert "Seq Scan" not in plan, (args, plan)
                assert "mg-digital-leads_pkey" in plan, (args, plan)
