"""The live list's "anything new since lead N?" endpoint, on both databases; its query plan on PostgreSQL."""
import re

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLE_LEAD
from webapp.extensions import db
from webapp.leads.routing import route_pending_leads

LIVE = "/admin/mg-digital-leads/live"
LIST = "/admin/mg-digital-leads"


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
        from webapp.leads.live import MAX_NEW
        from webapp.leads.models import Lead
        from webapp.leads.search import LeadFilters, filter_conditions

        newest = db.session.scalar(sa.select(sa.func.max(Lead.id)))
        for args in ({}, {"car_model": "MG Hector", "status": "new"}, {"owner": "none"}, {"q": "ravi"}):
            filters = LeadFilters.from_args(args)
            query = (sa.select(Lead.id).where(Lead.id > newest - 1000, Lead.id <= newest, *filter_conditions(filters))
                     .order_by(Lead.id.desc()).limit(MAX_NEW))
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = "\n".join(db.session.scalars(sa.text(f"EXPLAIN {compiled}")))
            assert "Seq Scan" not in plan, (args, plan)
            assert "mg-digital-leads_pkey" in plan, (args, plan)
