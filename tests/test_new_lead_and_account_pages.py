"""A lead typed in by hand (walk-in, phone call...) and a person's own page with the on-duty switch.

On SQLite and PostgreSQL.
"""
import pytest
import sqlalchemy as sa

from tests.working import LIST, people, sign_in, stored  # noqa: F401  (fixtures)
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.models import Lead

NEW = LIST + "/new"


def only_lead(app) -> Lead:
    """The one stored lead."""
    with app.app_context():
        [lead] = db.session.scalars(sa.select(Lead)).all()
        db.session.expunge_all()
        return lead


def test_the_form_asks_for_name_phone_model_source_and_note(app, people, sign_in):
    html = sign_in(people["asha"]).page(NEW)
    for field in ('name="name"', 'name="phone_number"', 'name="car_model"', '<select name="platform"',
                  '<textarea name="note"', 'name="take"', 'name="csrf_token"'):
        assert field in html, field
    assert '<option value="walk_in">Walk-in</option>' in html and "CarDekho</option>" not in html


def test_a_walk_in_is_stored_normalised_and_opens_on_its_page(app, people, sign_in):
    asha = sign_in(people["asha"])
    response = asha.post(NEW, {"name": " Kavya Menon ", "phone_number": "098765 43210", "car_model": "MG Windsor EV",
                               "platform": "walk_in", "note": "Came with her father; wants a test drive"})
    lead = only_lead(app)
    assert response.status_code == 303 and response.headers["Location"] == f"{LIST}/{lead.id}"
    assert (lead.platform, lead.name, lead.phone_normalized, lead.owner_id) == (
        "Walk-in", "Kavya Menon", "+919876543210", None)  # the router gives it an owner
    assert stored(app, lead.id)[1] == ["note", "created"] or stored(app, lead.id)[1] == ["created", "note"]
    page = asha.page(f"{LIST}/{lead.id}")
    assert "Lead added." in page and "Came with her father" in page and "Walk-in" in page


def test_a_number_that_is_not_indian_is_kept_with_a_warning_and_the_form_offers_the_known_models(
        app, people, sign_in):
    asha = sign_in(people["asha"])
    asha.post(NEW, {"name": "Kavya", "phone_number": "9876543210", "car_model": "MG Astor", "platform": "walk_in"})
    assert '<datalist id="car-models"><option value="MG Astor"></datalist>' in asha.page(NEW)
    asha.post(NEW, {"name": "Visitor", "phone_number": "+44 20 7946 0958", "platform": "walk_in"})
    with app.app_context():
        visitor = db.session.scalar(sa.select(Lead).where(Lead.name == "Visitor"))
        assert (visitor.phone_number, visitor.phone_normalized) == ("+44 20 7946 0958", None)
    page = asha.page(f"{LIST}/{visitor.id}")
    assert "+44 20 7946 0958 is not an Indian mobile or landline number: check it with the buyer." in page


def test_the_person_who_types_it_may_take_it(app, people, sign_in):
    asha = sign_in(people["asha"])
    asha.post(NEW, {"name": "Kavya", "phone_number": "9876543210", "platform": "phone_call", "take": "on"})
    lead = only_lead(app)
    assert (lead.owner_id, lead.platform) == (people["asha"].id, "Phone call")


@pytest.mark.parametrize("form, message", [
    ({"name": "", "phone_number": "9876543210", "platform": "walk_in"}, "Enter the name."),
    ({"name": "Kavya", "phone_number": " ", "platform": "walk_in"}, "Enter the phone number."),
    ({"name": "Kavya", "phone_number": "9876543210", "platform": "CarDekho"}, "Choose where the lead came from"),
])
def test_a_form_missing_something_says_what_and_keeps_what_was_typed(app, people, sign_in, form, message):
    response = sign_in(people["asha"]).post(NEW, {"car_model": "MG <Astor>", **form})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert 'value="MG &lt;Astor&gt;"' in html  # kept, as text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


def test_the_form_needs_the_csrf_token(app, people, sign_in):
    asha = sign_in(people["asha"])
    response = asha.client.post(NEW, data={"name": "Kavya", "phone_number": "9876543210", "platform": "walk_in"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


def on_duty(app, user) -> bool:
    with app.app_context():
        return db.session.get(User, user.id).on_duty


def test_a_person_switches_themselves_off_and_on_duty(app, people, sign_in):
    asha = sign_in(people["asha"])
    html = asha.page("/account")
    assert "Asha Patil" in html and "asha@raam.example" in html and "On duty" in html
    response = asha.post("/account", {"on_duty": "off"})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert on_duty(app, people["asha"]) is False
    assert "You are off duty: new leads go to others." in asha.page("/account")
    asha.post("/account", {"on_duty": "on"})
    assert on_duty(app, people["asha"]) is True
    assert on_duty(app, people["ravi"]) is True  # only their own switch


def test_the_duty_switch_needs_the_csrf_token_and_a_valid_value(app, people, sign_in):
    asha = sign_in(people["asha"])
    assert asha.client.post("/account", data={"on_duty": "off"}).status_code == 400
    assert asha.post("/account", {"on_duty": "maybe"}).status_code == 400
    assert on_duty(app, people["asha"]) is True


def test_the_account_page_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
