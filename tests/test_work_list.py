"""The lead list as a work list, on SQLite and PostgreSQL: badges, row buttons, "My new leads", bulk changes."""
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import add_lead
from tests.working import LIST, people, sign_in, stored  # noqa: F401  (fixtures)
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.routing import route_pending_leads

BULK = LIST + "/bulk"
MY_NEW_LEADS = f'href="{LIST}?status=new&amp;owner=me"'


def rows_of(html: str) -> list[str]:
    """The names in the list's table, top to bottom."""
    return re.findall(r'<td class="name" data-label="Name"><a href="[^"]+"><bdi>([^<]*)</bdi></a>', html)


def row_of(html: str, name: str) -> str:
    """The HTML of the list row showing `name`."""
    for row in html.split('<tr class="lead-row')[1:]:
        if f"<bdi>{name}</bdi>" in row:
            return row.split("</tr>")[0]
    raise AssertionError(f"no row for {name}")


@pytest.fixture
def work(app, people):
    """Leads owned by Asha, by Ravi and by nobody, received a few minutes ago; returns their ids by name."""
    now = datetime.now(UTC)
    with app.app_context():
        manager = db.session.get(User, people["manager"].id)
        ids = {}
        for minutes, name, owner in ((30, "Asha Old", "asha"), (20, "Ravi Lead", "ravi"),
                                     (10, "Nobody Lead", None), (5, "Asha New", "asha")):
            ids[name] = add_lead(received_at=now - timedelta(minutes=minutes), name=name,
                                 phone_number=f"98765{minutes:05}", car_model="MG Hector")
            if owner:
                pipeline.assign(ids[name], manager, people[owner].id)
        pipeline.set_status(ids["Asha Old"], manager, "contacted")
        return ids


def test_each_row_shows_status_owner_and_call_and_whatsapp_buttons(app, people, sign_in, work):
    html = sign_in(people["asha"]).page(LIST)
    assert rows_of(html) == ["Asha New", "Nobody Lead", "Ravi Lead", "Asha Old"]
    nobody = row_of(html, "Nobody Lead")
    assert "Unassigned" in nobody and ">New<" in nobody
    assert 'data-contact-href="tel:+919876500010"' in nobody and "https://wa.me/919876500010?text=" in nobody
    assert f'action="{LIST}/{work["Nobody Lead"]}/contact"' in nobody
    old = row_of(html, "Asha Old")
    assert "Asha Patil" in old and ">Contacted<" in old


def test_my_new_leads_is_one_click_away_on_every_page(app, people, sign_in, work):
    asha = sign_in(people["asha"])
    for path in (LIST, f"{LIST}/{work['Ravi Lead']}", LIST + "/new", "/account"):
        assert MY_NEW_LEADS in asha.page(path), path
    assert rows_of(asha.page(LIST + "?status=new&owner=me")) == ["Asha New"]
    assert len(rows_of(asha.page(LIST))) == 4  # the plain list still shows every lead


def test_the_new_filters_are_in_the_form_and_survive_a_reload(app, people, sign_in, work):
    asha = sign_in(people["asha"])
    html = asha.page(LIST + "?status=new&owner=none")
    assert rows_of(html) == ["Nobody Lead"]
    assert '<option value="new" selected>New</option>' in html
    assert '<option value="none" selected>Unassigned</option>' in html
    assert f'<option value="{people["ravi"].id}">Ravi Rao</option>' in html
    assert 'name="repeats" value="hide"' in html


def test_an_uncontacted_lead_shows_its_age_counting_amber_then_red(app_factory, make_user, auth):
    app = app_factory(BUSINESS_HOURS="00:00-23:59:59", FIRST_CONTACT_SLA_MINUTES=10)
    asha = make_user("asha@raam.example", name="Asha Patil")
    now = datetime.now(UTC)
    with app.app_context():
        for minutes, name in ((2, "Fresh"), (7, "Waiting"), (25, "Late"), (40, "Called")):
            lead_id = add_lead(received_at=now - timedelta(minutes=minutes, seconds=20), name=name)
        pipeline.record_contact(lead_id, db.session.get(User, asha.id), "call")
    client = app.test_client()
    auth.login("asha@raam.example", client=client)
    html = client.get(LIST).get_data(as_text=True)
    for name, state, shown in (("Fresh", "ok", "2 min"), ("Waiting", "amber", "7 min"), ("Late", "late", "25 min")):
        badge = re.search(r'<span class="age-badge age-(\w+)"([^>]*)>([^<]*)</span>', row_of(html, name))
        assert badge, name
        assert (badge.group(1), badge.group(3)) == (state, shown)
        assert 'data-amber-after="300"' in badge.group(2) and 'data-late-after="600"' in badge.group(2)
        assert 'data-counting="true"' in badge.group(2)
    assert "age-badge" not in row_of(html, "Called")


def test_repeats_get_an_enquiry_badge_and_can_be_hidden(app, people, sign_in):
    now = datetime.now(UTC)
    with app.app_context():
        for minutes in (30, 20, 10):
            add_lead(received_at=now - timedelta(minutes=minutes), name=f"Kavya {minutes}", phone_number="9876543210")
        route_pending_leads(app.config)
    asha = sign_in(people["asha"])
    html = asha.page(LIST)
    assert "3rd enquiry" in row_of(html, "Kavya 10") and "2nd enquiry" in row_of(html, "Kavya 20")
    assert "enquiry" not in row_of(html, "Kavya 30")
    assert rows_of(asha.page(LIST + "?repeats=hide")) == ["Kavya 30"]


def test_a_manager_bulk_assigns_three_leads(app, people, sign_in, work):
    meera = sign_in(people["manager"])
    page = meera.page(LIST)
    assert 'id="bulk-form"' in page and 'name="lead_ids"' in page and 'value="assign"' in page
    ids = [work["Nobody Lead"], work["Ravi Lead"], work["Asha New"]]
    response = meera.post(BULK, {"lead_ids": [str(i) for i in ids], "action": "assign",
                                 "owner_id": str(people["ravi"].id), "next": LIST + "?status=new"})
    assert response.status_code == 303 and response.headers["Location"] == LIST + "?status=new"
    assert "2 leads given to Ravi Rao" in meera.page(LIST)  # one was already his
    assert {stored(app, i)[0].owner_id for i in ids} == {people["ravi"].id}
    meera.post(BULK, {"lead_ids": [str(ids[0])], "action": "assign", "owner_id": "none"})
    assert "1 lead unassigned." in meera.page(LIST) and stored(app, ids[0])[0].owner_id is None


def test_bulk_by_htmx_re_renders_the_current_view(app, people, sign_in, work):
    meera = sign_in(people["manager"])
    response = meera.client.post(BULK, data={
        "csrf_token": meera.token, "lead_ids": [str(work["Nobody Lead"])], "action": "status",
        "status": "lost", "lost_reason": "unreachable"},
        headers={"HX-Request": "true", "HX-Target": "lead-results",
                 "HX-Current-URL": "http://localhost" + LIST + "?status=lost"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert rows_of(html) == ["Nobody Lead"]  # the view the manager was looking at, with the change in it
    assert "1 lead set to Lost" in html


def test_a_sales_person_bulk_sets_the_status_of_only_what_they_may_change(app, people, sign_in, work):
    asha = sign_in(people["asha"])
    page = asha.page(LIST)
    assert 'value="assign"' not in page  # no bulk assign for sales
    ids = [work["Asha New"], work["Nobody Lead"], work["Ravi Lead"]]
    response = asha.post(BULK, {"lead_ids": [str(i) for i in ids], "action": "status", "status": "contacted"})
    assert response.status_code == 303
    assert "2 leads set to Contacted; 1 left as it was" in asha.page(LIST)
    assert [stored(app, i)[0].status for i in ids] == ["contacted", "contacted", "new"]
    refused = asha.post(BULK, {"lead_ids": [str(ids[0])], "action": "assign", "owner_id": str(people["asha"].id)})
    assert refused.status_code == 403 and "Only a manager can assign leads." in refused.get_data(as_text=True)


@pytest.mark.parametrize("form, message", [
    ({"action": "status", "status": "contacted"}, "Tick at least one lead first."),
    ({"lead_ids": ["1", "x"], "action": "status", "status": "contacted"}, "not leads of this list"),
    ({"lead_ids": ["1"], "action": "delete"}, "Choose what to do with the ticked leads."),
    ({"lead_ids": ["1"], "action": "status", "status": "lost"}, "Choose why the lead was lost."),
    ({"lead_ids": ["1"], "action": "assign", "owner_id": "nobody"}, "Choose an owner from the list."),
    ({"lead_ids": ["1"], "action": "assign", "owner_id": ""}, "Choose who gets the ticked leads."),
])
def test_a_bulk_request_that_makes_no_sense_is_a_400_that_says_why(app, people, sign_in, work, form, message):
    response = sign_in(people["manager"]).post(BULK, form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_bulk_needs_the_csrf_token_and_a_safe_next_page(app, people, sign_in, work):
    meera = sign_in(people["manager"])
    form = {"lead_ids": [str(work["Nobody Lead"])], "action": "status", "status": "contacted"}
    assert meera.client.post(BULK, data=form).status_code == 400
    assert stored(app, work["Nobody Lead"])[0].status == "new"
    response = meera.post(BULK, {**form, "next": "//evil.example/x"})
    assert response.status_code == 303 and response.headers["Location"] == LIST
