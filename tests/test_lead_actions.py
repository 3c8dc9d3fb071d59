"""Working one lead from its page, on SQLite and PostgreSQL: status, owner, notes, Call and WhatsApp, the timeline.

Each action is tried as htmx sends it (the page's panel comes back, to swap in
place) and as a plain form without JavaScript (a redirect back with a message).
"""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from tests.working import LIST, people, sign_in, stored  # noqa: F401  (fixtures)
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import LeadActivity


@pytest.fixture
def new_lead(app, people):
    """Store a lead (optionally owned by someone); returns its id."""

    def store(owner=None, **body):
        with app.app_context():
            lead_id = add_lead(**{"name": "Kavya Menon", "phone_number": "9876543210",
                                  "car_model": "MG Windsor EV", **body})
            if owner is not None:
                pipeline.assign(lead_id, db.session.get(User, people["manager"].id), owner.id)
            return lead_id

    return store


def timeline_of(html: str) -> list[str]:
    """The kinds of the timeline's entries on a page, top to bottom."""
    return re.findall(r'<li class="activity activity-(\w+)"', html)


def test_the_lead_page_offers_status_owner_note_and_contact_controls(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    html = sign_in(people["asha"]).page(f"{LIST}/{lead_id}")
    assert '<select name="status"' in html and '<select name="lost_reason"' in html
    assert '<option value="test_drive">Test drive booked</option>' in html
    assert '<option value="new" selected>New</option>' in html
    assert '<option value="bought_elsewhere">Bought elsewhere</option>' in html
    assert '<textarea name="body"' in html
    assert "Owner" in html and "Asha Patil" in html
    assert f'action="{LIST}/{lead_id}/contact"' in html
    assert 'data-contact-href="tel:+919876543210"' in html
    whatsapp = re.search(r'data-contact-href="(https://wa\.me/919876543210\?text=[^"]+)"', html).group(1)
    greeting = parse_qs(urlsplit(whatsapp.replace("&amp;", "&")).query)["text"][0]
    assert "MG Windsor EV" in greeting and "Kavya" in greeting


def test_setting_a_status_without_javascript_redirects_back_with_a_message(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    asha = sign_in(people["asha"])
    response = asha.post(f"{LIST}/{lead_id}/status", {"status": "contacted", "lost_reason": ""})
    assert response.status_code == 303 and response.headers["Location"] == f"{LIST}/{lead_id}"
    html = asha.page(f"{LIST}/{lead_id}")
    assert "Status: Contacted" in html  # the flash
    assert '<option value="contacted" selected>Contacted</option>' in html
    assert timeline_of(html)[0] == "status" and "Asha Patil" in html
    lead, kinds = stored(app, lead_id)
    assert (lead.status, lead.first_contacted_at is not None, kinds[0]) == ("contacted", True, "status")


def test_htmx_gets_the_panel_back_to_swap_in_place(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    response = sign_in(people["asha"]).post(f"{LIST}/{lead_id}/status", {"status": "test_drive"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="lead-work"') and "<html" not in html
    assert '<option value="test_drive" selected>Test drive booked</option>' in html
    assert timeline_of(html) == ["status", "assigned"]


def test_lost_needs_a_reason_and_the_person_is_told_so(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    asha = sign_in(people["asha"])
    plain = asha.post(f"{LIST}/{lead_id}/status", {"status": "lost", "lost_reason": ""})
    assert plain.status_code == 400 and "Choose why the lead was lost." in plain.get_data(as_text=True)
    assert '<select name="status"' in plain.get_data(as_text=True)  # the lead's page, with the message on it
    swapped = asha.post(f"{LIST}/{lead_id}/status", {"status": "lost"}, htmx=True)
    assert swapped.status_code == 400 and "Choose why the lead was lost." in swapped.get_data(as_text=True)
    assert stored(app, lead_id)[0].status == "new"
    done = asha.post(f"{LIST}/{lead_id}/status", {"status": "lost", "lost_reason": "budget"}, htmx=True)
    assert done.status_code == 200 and "Lost" in done.get_data(as_text=True)
    assert "Budget" in done.get_data(as_text=True)
    assert (stored(app, lead_id)[0].status, stored(app, lead_id)[0].lost_reason) == ("lost", "budget")


@pytest.mark.parametrize("action, data", [
    ("status", {"status": "contacted"}),
    ("notes", {"body": "Called, wants a test drive"}),
    ("owner", {"owner_id": "me"}),
])
def test_a_sales_person_gets_403_changing_another_persons_lead(app, people, sign_in, new_lead, action, data):
    lead_id = new_lead(owner=people["ravi"])
    asha = sign_in(people["asha"])
    for htmx in (False, True):
        response = asha.post(f"{LIST}/{lead_id}/{action}", data, htmx=htmx)
        assert response.status_code == 403
        assert "Ravi Rao" in response.get_data(as_text=True)  # says whose lead it is
    lead, kinds = stored(app, lead_id)
    assert (lead.status, lead.owner_id, kinds) == ("new", people["ravi"].id, ["assigned"])
    page = asha.page(f"{LIST}/{lead_id}")
    assert '<select name="status"' not in page and '<textarea name="body"' not in page  # no controls offered


def test_a_manager_changes_anyones_lead_and_gives_it_to_someone_else(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["ravi"])
    meera = sign_in(people["manager"])
    assert meera.post(f"{LIST}/{lead_id}/status", {"status": "booked"}).status_code == 303
    assert meera.post(f"{LIST}/{lead_id}/notes", {"body": "Booked by phone"}).status_code == 303
    response = meera.post(f"{LIST}/{lead_id}/owner", {"owner_id": str(people["asha"].id)}, htmx=True)
    assert response.status_code == 200 and "Asha Patil" in response.get_data(as_text=True)
    lead, kinds = stored(app, lead_id)
    assert (lead.status, lead.owner_id) == ("booked", people["asha"].id)
    assert kinds == ["assigned", "note", "status", "assigned"]
    page = meera.page(f"{LIST}/{lead_id}")
    assert f'<option value="{people["ravi"].id}">Ravi Rao</option>' in page  # managers get the owner select
    assert meera.post(f"{LIST}/{lead_id}/owner", {"owner_id": ""}).status_code == 303  # unassign
    assert stored(app, lead_id)[0].owner_id is None


def test_a_sales_person_takes_an_unassigned_lead(app, people, sign_in, new_lead):
    lead_id = new_lead()
    asha = sign_in(people["asha"])
    page = asha.page(f"{LIST}/{lead_id}")
    assert "Unassigned" in page and "Take it" in page
    response = asha.post(f"{LIST}/{lead_id}/owner", {"owner_id": "me"})
    assert response.status_code == 303
    assert "You took this lead." in asha.page(f"{LIST}/{lead_id}")
    assert stored(app, lead_id)[0].owner_id == people["asha"].id
    ravi = sign_in(people["ravi"])
    assert "Take it" not in ravi.page(f"{LIST}/{lead_id}")
    refused = ravi.post(f"{LIST}/{lead_id}/owner", {"owner_id": "me"})
    assert refused.status_code == 403 and "Asha Patil has already taken this lead." in refused.get_data(as_text=True)
    nobody_else = asha.post(f"{LIST}/{lead_id}/owner", {"owner_id": str(people["ravi"].id)})
    assert nobody_else.status_code == 403  # a sales person cannot give a lead away


def test_notes_are_kept_as_typed_and_shown_newest_first_with_their_author(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    asha = sign_in(people["asha"])
    asha.post(f"{LIST}/{lead_id}/notes", {"body": "First: no answer"})
    response = asha.post(f"{LIST}/{lead_id}/notes", {"body": "  Second: wants a test drive\non Saturday  "},
                         htmx=True)
    html = response.get_data(as_text=True)
    assert timeline_of(html)[:2] == ["note", "note"]
    assert html.index("Second: wants a test drive\non Saturday") < html.index("First: no answer")
    assert '<textarea name="body"' in html and "Second" not in html.split('<textarea name="body"')[1].split(
        "</textarea>")[0]  # the box is empty again after a note is saved


def test_an_empty_or_too_long_note_is_refused_and_the_draft_is_kept(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"])
    asha = sign_in(people["asha"])
    empty = asha.post(f"{LIST}/{lead_id}/notes", {"body": "   "}, htmx=True)
    assert empty.status_code == 400 and "Write something in the note first." in empty.get_data(as_text=True)
    long_note = "x" * 2001
    too_long = asha.post(f"{LIST}/{lead_id}/notes", {"body": long_note})
    html = too_long.get_data(as_text=True)
    assert too_long.status_code == 400 and "at most 2,000 characters" in html
    assert long_note in html  # nothing typed is lost
    assert stored(app, lead_id)[1] == ["assigned"]


@pytest.mark.parametrize("channel, target", [
    ("call", "tel:+919876543210"),
    ("whatsapp", "https://wa.me/919876543210?text="),
])
def test_call_and_whatsapp_are_recorded_before_the_phone_opens(app, people, sign_in, new_lead, channel, target):
    lead_id = new_lead(owner=people["ravi"])
    asha = sign_in(people["asha"])  # not her lead: the call happens anyway, and the timeline says so
    response = asha.post(f"{LIST}/{lead_id}/contact", {"channel": channel})
    assert response.status_code == 303 and response.headers["Location"].startswith(target)
    lead, kinds = stored(app, lead_id)
    assert kinds[0] == channel and lead.first_contacted_at is not None
    swapped = asha.post(f"{LIST}/{lead_id}/contact", {"channel": channel}, htmx=True)
    assert swapped.status_code == 200 and timeline_of(swapped.get_data(as_text=True))[:2] == [channel, channel]
    from_list = asha.client.post(f"{LIST}/{lead_id}/contact", data={"channel": channel, "csrf_token": asha.token},
                                 headers={"HX-Request": "true", "HX-Target": f"lead-{lead_id}"})
    assert from_list.status_code == 204  # a list row only needs to know it was recorded
    assert stored(app, lead_id)[1][:3] == [channel] * 3


def test_a_lead_without_a_valid_number_still_gets_a_call_button_with_its_digits(app, people, sign_in, new_lead):
    lead_id = new_lead(phone_number="(0)12-345 javascript:alert()")
    html = sign_in(people["asha"]).page(f"{LIST}/{lead_id}")
    assert 'data-contact-href="tel:012345"' in html
    assert "wa.me" not in html  # WhatsApp needs a number with its country code
    assert "javascript:alert" not in html.split("data-contact-href")[1][:60]


@pytest.mark.parametrize("sent", ["917607892115", "07607892115", "+91-76078-92115"])
def test_the_call_button_on_the_lead_page_reads_the_number_as_people_do(app, people, sign_in, new_lead, sent):
    html = sign_in(people["asha"]).page(f"{LIST}/{new_lead(phone_number=sent)}")
    assert re.search(r'<button type="submit" class="button button-call">Call \+91 76078 92115</button>', html)


def test_an_unknown_channel_is_a_400(app, people, sign_in, new_lead):
    lead_id = new_lead()
    response = sign_in(people["asha"]).post(f"{LIST}/{lead_id}/contact", {"channel": "sms"})
    assert response.status_code == 400 and "Choose Call or WhatsApp." in response.get_data(as_text=True)


@pytest.mark.parametrize("action, data", [
    ("status", {"status": "contacted"}), ("notes", {"body": "hi"}), ("owner", {"owner_id": "me"}),
    ("contact", {"channel": "call"}),
])
def test_every_action_needs_the_csrf_token(app, people, sign_in, new_lead, action, data):
    lead_id = new_lead()
    asha = sign_in(people["asha"])
    response = asha.client.post(f"{LIST}/{lead_id}/{action}", data=data)
    assert response.status_code == 400 and "This form expired" in response.get_data(as_text=True)
    assert stored(app, lead_id)[1] == []


def test_actions_need_a_signed_in_account(client, new_lead):
    lead_id = new_lead()
    response = client.post(f"{LIST}/{lead_id}/contact", data={"channel": "call"})
    assert response.status_code in (302, 400)  # to sign-in, or refused for want of a token: never stored
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadActivity)) == 0


@pytest.mark.parametrize("action", ["status", "notes", "owner", "contact"])
def test_an_action_on_a_lead_that_does_not_exist_is_a_404(app, people, sign_in, action):
    response = sign_in(people["manager"]).post(f"{LIST}/987654321/{action}", {"channel": "call", "body": "x",
                                                                              "status": "new", "owner_id": "me"})
    assert response.status_code == 404


@pytest.mark.parametrize("owner_id", ["somebody", "-1", "99999999999999999999", "\u0663"])
def test_an_odd_owner_id_is_a_400_not_a_500(app, people, sign_in, new_lead, owner_id):
    lead_id = new_lead()
    response = sign_in(people["manager"]).post(f"{LIST}/{lead_id}/owner", {"owner_id": owner_id})
    assert response.status_code == 400


def test_the_timeline_says_who_did_what_newest_first_and_lists_every_enquiry(app, people, sign_in, new_lead):
    first = new_lead(owner=people["asha"], car_model="MG Hector")
    second = new_lead(phone_number="+91 98765 43210", car_model="MG Astor")
    with app.app_context():
        from webapp.leads.routing import route_pending_leads
        route_pending_leads(app.config)
    asha = sign_in(people["asha"])
    asha.post(f"{LIST}/{first}/contact", {"channel": "whatsapp"})
    asha.post(f"{LIST}/{first}/status", {"status": "contacted"})
    html = asha.page(f"{LIST}/{first}")
    assert timeline_of(html) == ["status", "whatsapp", "repeat", "assigned"]
    assert "Asha Patil opened WhatsApp" in html and "Meera Nair gave the lead to Asha Patil" in html
    assert "New → Contacted" in html
    assert f'href="{LIST}/{second}"' in html  # the repeat entry and the enquiries link to the second lead
    enquiries = html.split('id="enquiries"')[1]
    assert enquiries.index("MG Hector") < enquiries.index("MG Astor")  # oldest first, this one included
    assert "2nd enquiry" in asha.page(f"{LIST}/{second}")


HOSTILE = ('<img src=x onerror=alert(1)><script>alert(2)</script>'
           '<a hx-post="/logout" hx-trigger="load">x</a> \u202eevil {{ 7*7 }}')


def every_override_is_isolated(html: str) -> bool:
    """Whether each right-to-left override on the page is isolated, so it cannot flip the text beside it: inside a
    <bdi>, between the isolate marks FSI and PDI (the page title, where no element may go), in a select's option
    (drawn on its own) or in an attribute's value (not drawn)."""
    for at in (index for index, char in enumerate(html) if char == "\u202e"):
        before = html[:at]
        isolated = (before.rfind("<bdi") > before.rfind("</bdi>") or before.rfind("\u2068") > before.rfind("\u2069")
                    or before.rfind("<option") > before.rfind("</option>") or before.rfind("<") > before.rfind(">"))
        if not isolated:
            return False
    return True


def test_markup_rtl_overrides_and_htmx_attributes_in_a_note_or_name_are_text(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["asha"], name=HOSTILE, car_model=HOSTILE)
    asha = sign_in(people["asha"])
    for htmx in (False, True):
        asha.post(f"{LIST}/{lead_id}/notes", {"body": HOSTILE}, htmx=htmx)
    for html in (asha.page(f"{LIST}/{lead_id}"), asha.page(LIST)):
        for live in ("<script>alert(2)", "<img src=x", 'hx-post="/logout"', "<a hx-"):
            assert live not in html
        assert "&lt;a hx-post=&#34;/logout&#34; hx-trigger=&#34;load&#34;&gt;" in html
        assert "{{ 7*7 }}" in html  # not a template
        assert every_override_is_isolated(html)
    page = asha.page(f"{LIST}/{lead_id}")
    assert page.count('<bdi class="note-body">&lt;img src=x') == 2  # each note isolated: the override stays inside
    assert page.count("\u202eevil") >= 3  # the name, the model and the notes, as typed


def test_a_lead_whose_owner_was_switched_off_shows_them_not_unassigned(app, people, sign_in, new_lead):
    lead_id = new_lead(owner=people["ravi"])
    with app.app_context():
        from webapp.auth.accounts import set_active
        set_active(db.session.get(User, people["ravi"].id), False)
    page = sign_in(people["manager"]).page(f"{LIST}/{lead_id}")
    owner_select = page.split('<select name="owner_id">')[1].split("</select>")[0]
    assert f'<option value="{people["ravi"].id}" selected>Ravi Rao (switched off)</option>' in owner_select
    assert '<option value="" selected' not in owner_select  # pressing Assign as it stands unassigns nobody
