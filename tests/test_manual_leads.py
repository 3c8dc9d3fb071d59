"""Leads typed in by hand (webapp.leads.manual) on SQLite and PostgreSQL: stored like webhook leads, routed alike."""
import pytest
import sqlalchemy as sa

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import Lead
from webapp.leads.pipeline import InvalidChange, NotAllowed, create_manual_lead
from webapp.leads.routing import route_pending_leads


@pytest.fixture
def asha(app_context, make_user):
    return db.session.get(User, make_user("asha@raam.example", name="Asha Patil").id)


def test_a_walk_in_is_stored_with_its_source_as_platform_and_the_phone_normalised(asha):
    lead = create_manual_lead(asha, " Ravi Kumar ", "098765 43210", "MG Windsor EV", "walk_in")
    lead = db.session.get(Lead, lead.id)
    assert (lead.platform, lead.name, lead.phone_number, lead.phone_normalized, lead.car_model) == \
        ("Walk-in", "Ravi Kumar", "098765 43210", "+919876543210", "MG Windsor EV")
    assert lead.payload == {"name": "Ravi Kumar", "phone_number": "098765 43210", "car_model": "MG Windsor EV",
                            "source": "walk_in"}
    assert (lead.status, lead.owner_id, lead.routed_at, lead.first_contacted_at) == ("new", None, None, None)
    (created,) = pipeline.timeline(lead.id)
    assert (created.kind, created.user.name, created.details) == ("created", "Asha Patil", {"source": "walk_in"})


@pytest.mark.parametrize("source, platform", list(pipeline.MANUAL_SOURCES.items()))
def test_every_source_is_its_own_platform_never_cardekho(asha, source, platform):
    lead = create_manual_lead(asha, "Ravi", "9876543210", None, source)
    assert lead.platform == platform != "CarDekho" and lead.car_model is None


def test_a_note_typed_with_the_lead_is_in_its_timeline_and_is_the_first_contact(asha):
    lead = create_manual_lead(asha, "Ravi", "9876543210", "MG Hector", "phone_call", note=" Wants a test drive ")
    assert [(a.kind, a.details) for a in pipeline.timeline(lead.id)] == \
        [("note", {"body": "Wants a test drive"}), ("created", {"source": "phone_call"})]  # newest first
    assert db.session.get(Lead, lead.id).first_contacted_at is not None


def test_take_makes_it_the_typists_at_once_and_the_router_keeps_it_so(asha, app, make_user):
    make_user("ravi@raam.example", name="Ravi Rao")
    lead_id = create_manual_lead(asha, "Ravi", "9876543210", None, "referral", take=True).id
    lead = db.session.get(Lead, lead_id)
    assert lead.owner_id == asha.id and lead.assigned_at is not None
    route_pending_leads(app.config)
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).owner_id == asha.id


def test_without_take_the_router_gives_it_an_owner_in_turn(asha, app):
    lead_id = create_manual_lead(asha, "Ravi", "9876543210", None, "showroom_event").id
    route_pending_leads(app.config)
    db.session.expire_all()
    assert db.session.get(Lead, lead_id).owner_id == asha.id  # the only sales person on duty


@pytest.mark.parametrize("fields, message", [
    (("", "9876543210", None, "walk_in"), "Enter the name."),
    (("Ravi", "  ", None, "walk_in"), "Enter the phone number."),
    (("", "", None, "walk_in"), "Enter the name and the phone number."),
    (("Ravi", "9876543210", None, "cardekho"), "Choose where the lead came from"),
    (("Ravi\x00", "9876543210", None, "walk_in"), "NUL"),
    (("R" * 201, "9876543210", None, "walk_in"), "at most 200 characters"),
    (("Ravi", "9" * 41, None, "walk_in"), "at most 40 characters"),
    (("Ravi", "12345", None, "walk_in"), "a phone number the buyer can be called on"),
    (("Ravi", "N/A", None, "walk_in"), "a phone number the buyer can be called on"),
    (("Ravi", "99999 99999", None, "walk_in"), "a phone number the buyer can be called on"),
    (("Ravi", "+91 99999 99999", None, "walk_in"), "a phone number the buyer can be called on"),
    (("Ravi", "+91 1234567890", None, "walk_in"), "a phone number the buyer can be called on"),
])
def test_what_is_missing_or_wrong_is_said_and_nothing_is_stored(asha, fields, message):
    with pytest.raises(InvalidChange, match=message):
        create_manual_lead(asha, *fields)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


def test_a_switched_off_account_cannot_type_in_a_lead(app_context, make_user):
    gone = db.session.get(User, make_user("gone@raam.example", name="Gone", active=False).id)
    with pytest.raises(NotAllowed):
        create_manual_lead(gone, "Ravi", "9876543210", None, "walk_in")


def test_a_typed_model_takes_the_spelling_the_leads_already_use(asha):
    create_manual_lead(asha, "Ravi", "9876543210", "MG Hector", "walk_in")
    for typed in ("hector", "  mg   HECTOR ", "Hector"):
        assert create_manual_lead(asha, "Kavya", "9123456789", typed, "walk_in").car_model == "MG Hector"
    assert create_manual_lead(asha, "Kavya", "9123456789", "Cyberster", "walk_in").car_model == "Cyberster"  # new


def test_a_number_in_devanagari_digits_is_a_person_like_any_other(asha):
    lead = create_manual_lead(asha, "Ravi", "९८७६५ ४३२१०", None, "walk_in")
    assert db.session.get(Lead, lead.id).phone_normalized == "+919876543210"
