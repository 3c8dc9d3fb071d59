"""The search box beyond tests/test_search.py: short searches, odd characters, the SQLite index kept in step."""
import pytest

from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.search import LeadFilters, count_leads, search_leads


@pytest.fixture
def ctx(app):
    """An app context on a database with no leads."""
    with app.app_context():
        yield


def names(filters: LeadFilters) -> list[str]:
    return sorted(lead.name for lead in search_leads(filters).leads)


@pytest.mark.parametrize("q, expected", [
    ("ku", ["Ravi Kumar"]),                  # a word start in the name...
    ("Ra", ["Ravi Kumar"]),
    ("he", ["Asha Patil"]),                  # ...or in the model
    ("di", ["Sunil Sukumaran"]),             # ...or in the campaign
    ("r", ["Ravi Kumar"]),
])
def test_one_or_two_characters_match_the_start_of_a_word(ctx, q, expected):
    add_lead(name="Ravi Kumar", car_model="MG Astor")
    add_lead(name="Sunil Sukumaran", car_model="MG Astor", campaign="Diwali Offer")
    add_lead(name="Asha Patil", car_model="MG Hector")
    assert names(LeadFilters(q=q)) == expected


def test_a_search_cannot_match_across_two_columns(ctx):
    add_lead(name="Ravi Kumar", car_model="MG Hector")
    assert names(LeadFilters(q="Kumar MG")) == []
    assert names(LeadFilters(q="Kumar\x1fMG")) == []  # the separator of the joined index expression


@pytest.mark.parametrize("q", ['"quoted"', "o'brien", "a\\b", "{name}", "NEAR(x y)", "ravi OR x", "***", "50%_"])
def test_odd_characters_are_searched_literally(ctx, q):
    add_lead(name=f"x {q} y")
    add_lead(name="plain")
    assert names(LeadFilters(q=q)) == [f"x {q} y"]


def test_the_sqlite_search_index_follows_updates_and_deletes(ctx):
    lead_id = add_lead(name="Meera Nair", phone_number="9876543210")
    lead = db.session.get(Lead, lead_id)
    lead.name = "Meera Menon"
    db.session.commit()
    assert names(LeadFilters(q="menon")) == ["Meera Menon"]
    assert names(LeadFilters(q="nair")) == []
    db.session.delete(lead)
    db.session.commit()
    assert names(LeadFilters(q="menon")) == [] and count_leads(LeadFilters(q="98765")) == (0, False)
