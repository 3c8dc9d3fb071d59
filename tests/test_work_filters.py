"""The list's status, owner and repeats filters, enquiry numbers and the export's new columns, on both databases."""
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import add_lead
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.export import export_csv
from webapp.leads.repeats import enquiries_of, ordinal
from webapp.leads.routing import route_pending_leads
from webapp.leads.search import LeadFilters, assignable_users, count_leads, sales_people, search_leads

T0 = datetime(2026, 11, 28, 8, 35, tzinfo=UTC)  # 14:05 IST


@pytest.fixture
def desk(app, make_user):
    """Two sales people and a manager; five leads: Asha's new and contacted, Ravi's new, an unassigned repeat."""
    asha = make_user("asha@raam.example", name="Asha Patil")
    ravi = make_user("ravi@raam.example", name="=Ravi Rao")  # a name a spreadsheet would run
    boss = make_user("boss@raam.example", name="Boss", role="manager")
    make_user("gone@raam.example", name="Gone", active=False)
    with app.app_context():
        ids = {
            "asha_new": add_lead(T0, name="asha new", phone_number="9000000001"),
            "asha_contacted": add_lead(T0 + timedelta(minutes=1), name="asha contacted", phone_number="9000000002"),
            "ravi_new": add_lead(T0 + timedelta(minutes=2), name="ravi new", phone_number="9000000003"),
            "first": add_lead(T0 + timedelta(minutes=3), name="first", phone_number="9000000004"),
            "repeat": add_lead(T0 + timedelta(minutes=4), name="repeat", phone_number="+91 90000 00004"),
        }
        db.session.execute(User.__table__.update().values(on_duty=False))  # nobody takes leads by turn
        db.session.commit()
        route_pending_leads(app.config)
        manager = db.session.get(User, boss.id)
        pipeline.assign(ids["asha_new"], manager, asha.id)
        pipeline.assign(ids["asha_contacted"], manager, asha.id)
        pipeline.set_status(ids["asha_contacted"], manager, "contacted")
        pipeline.assign(ids["ravi_new"], manager, ravi.id)
        db.session.remove()
    return {"asha": asha, "ravi": ravi, "boss": boss, **ids}


def names(filters: LeadFilters) -> list[str]:
    return [lead.name for lead in search_leads(filters).leads]


def test_my_new_leads(app_context, desk):
    mine = LeadFilters.from_args({"status": "new", "owner": "me"}, current_user_id=desk["asha"].id)
    assert names(mine) == ["asha new"]
    assert count_leads(mine) == (1, False)
    assert mine.to_args() == {"status": "new", "owner": "me"}  # a link Ravi opens shows Ravi's
    assert names(LeadFilters.from_args(mine.to_args(), current_user_id=desk["ravi"].id)) == ["ravi new"]


def test_owner_none_a_user_id_and_status_filters(app_context, desk):
    assert names(LeadFilters(owner="none")) == ["repeat", "first"]
    assert names(LeadFilters(owner=str(desk["ravi"].id))) == ["ravi new"]
    assert names(LeadFilters(status="contacted")) == ["asha contacted"]
    assert names(LeadFilters(status="new", owner="none", q="rep")) == ["repeat"]


def test_repeats_hide_shows_first_enquiries_only(app_context, desk):
    assert "repeat" in names(LeadFilters())
    assert names(LeadFilters.from_args({"repeats": "hide"})) == ["first", "ravi new", "asha contacted", "asha new"]


@pytest.mark.parametrize("args", [{"status": "sold"}, {"owner": "everyone"}, {"owner": "-1"}, {"owner": "٣"},
                                  {"owner": "9" * 30}, {"repeats": "all"}])
def test_unknown_filter_values_are_ignored_not_an_error(app_context, desk, args):
    filters = LeadFilters.from_args(args)
    assert filters.to_args() == {} and not filters.active
    assert len(names(filters)) == 5


def test_owner_me_without_a_person_matches_nothing(app_context, desk):
    assert names(LeadFilters.from_args({"owner": "me"})) == []


def test_enquiry_numbers_for_a_page_and_the_persons_enquiries(app_context, desk):
    page = search_leads(LeadFilters()).leads
    numbers = pipeline.enquiry_numbers(page)
    assert {lead.name: numbers[lead.id] for lead in page} == {"repeat": 2, "first": 1, "ravi new": 1,
                                                              "asha contacted": 1, "asha new": 1}
    repeat = db.session.get(pipeline.Lead, desk["repeat"])
    assert pipeline.enquiry_number(repeat) == 2 and ordinal(2) == "2nd"
    assert [ordinal(n) for n in (1, 3, 4, 11, 12, 13, 21, 22, 111)] == \
        ["1st", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "111th"]
    assert [lead.name for lead in enquiries_of(repeat)] == ["first", "repeat"]


def test_assignable_users_and_sales_people(app_context, desk):
    assert [user.name for user in assignable_users()] == ["=Ravi Rao", "Asha Patil", "Boss"]
    assert [user.name for user in sales_people()] == ["=Ravi Rao", "Asha Patil"]
    assert sales_people(on_duty_only=True) == []


def test_the_export_gains_status_lost_reason_owner_first_contact_and_repeat_of(app_context, desk):
    pipeline.set_status(desk["ravi_new"], db.session.get(User, desk["boss"].id), "lost", "budget")
    text = "".join(export_csv(LeadFilters()))
    header, *rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert header[-5:] == ["Status", "Lost reason", "Owner", "First contacted (IST)", "Repeat of"]
    by_name = {row[2]: row[-5:] for row in rows}
    assert by_name["asha new"] == ["New", "", "Asha Patil", "", ""]
    assert by_name["ravi new"][:3] == ["Lost", "Budget", "'=Ravi Rao"]  # the owner's name cannot run as a formula
    assert by_name["ravi new"][3].startswith("20") and len(by_name["ravi new"][3]) == 19  # IST, to the second
    assert by_name["repeat"] == ["New", "", "", "", str(desk["first"])]
    mine = LeadFilters.from_args({"owner": "me"}, current_user_id=desk["asha"].id)
    assert len(list(csv.reader(io.StringIO("".join(export_csv(mine)).removeprefix("\ufeff"))))) == 3
