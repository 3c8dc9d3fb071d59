"""Finding leads (webapp.leads.search) on SQLite and PostgreSQL: what the sales team's list shows."""
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import add_lead
from webapp.leads.search import (LeadFilters, count_leads, decode_cursor, filter_choices, leads_with_same_phone,
                                 phone_digits, search_leads)
from webapp.extensions import db
from webapp.leads.models import Lead

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def names(page) -> list[str]:
    return [lead.name for lead in page.leads]


def test_newest_first(app_context):
    add_lead(T0, name="old")
    add_lead(T0 + timedelta(hours=1), name="new")
    assert names(search_leads(LeadFilters())) == ["new", "old"]


@pytest.mark.parametrize("q", ["ravi", "RAVI", "avi ku", "Ravi Kumar"])
def test_search_name_case_insensitive_substring(app_context, q):
    add_lead(name="Ravi Kumar")
    add_lead(name="Sunita Rao")
    assert names(search_leads(LeadFilters(q=q))) == ["Ravi Kumar"]


def test_search_car_model_and_campaign(app_context):
    add_lead(name="a", car_model="MG Hector Plus")
    add_lead(name="b", campaign="Diwali Windsor Offer")
    add_lead(name="c")
    assert names(search_leads(LeadFilters(q="hector"))) == ["a"]
    assert names(search_leads(LeadFilters(q="windsor"))) == ["b"]


@pytest.mark.parametrize("q", ["98765", "+91 98765", "098765 43210", "9876543210", "+91-98765-43210", "43210"])
def test_search_phone_digits_in_any_format(app_context, q):
    add_lead(name="match", phone_number="9876543210")
    add_lead(name="other", phone_number="9123456789")
    assert names(search_leads(LeadFilters(q=q))) == ["match"]


def test_search_finds_unnormalizable_numbers_by_their_digits(app_context):
    add_lead(name="short", phone_number="55501")
    assert names(search_leads(LeadFilters(q="5550"))) == ["short"]


def test_like_wildcards_in_search_are_literal(app_context):
    add_lead(name="100% genuine")
    add_lead(name="1000 genuine")
    add_lead(name="abc_de")
    add_lead(name="abcxde")
    assert names(search_leads(LeadFilters(q="100%"))) == ["100% genuine"]
    assert names(search_leads(LeadFilters(q="abc_de"))) == ["abc_de"]


def test_select_filters_and_search_combine(app_context):
    add_lead(name="Ravi A", car_model="MG Hector", campaign="Q4", utm_source="cardekho_ads")
    add_lead(name="Ravi B", car_model="MG Astor", campaign="Q4", utm_source="cardekho_ads")
    add_lead(name="Ravi C", car_model="MG Hector", campaign="Q3", utm_source="google")
    assert names(search_leads(LeadFilters(q="ravi", car_model="MG Hector", campaign="Q4"))) == ["Ravi A"]
    assert names(search_leads(LeadFilters(utm_source="google"))) == ["Ravi C"]


def test_date_range_is_inclusive_ist_days(app_context):
    # 28 Nov 00:10 IST is 27 Nov 18:40 UTC; 28 Nov 23:50 IST is 28 Nov 18:20 UTC.
    add_lead(datetime(2026, 11, 27, 18, 29, tzinfo=UTC), name="27 Nov 23:59 IST")
    add_lead(datetime(2026, 11, 27, 18, 40, tzinfo=UTC), name="28 Nov 00:10 IST")
    add_lead(datetime(2026, 11, 28, 18, 20, tzinfo=UTC), name="28 Nov 23:50 IST")
    add_lead(datetime(2026, 11, 28, 18, 31, tzinfo=UTC), name="29 Nov 00:01 IST")
    day = date(2026, 11, 28)
    assert names(search_leads(LeadFilters(date_from=day, date_to=day))) == ["28 Nov 23:50 IST", "28 Nov 00:10 IST"]
    assert names(search_leads(LeadFilters(date_from=day))) == ["29 Nov 00:01 IST", "28 Nov 23:50 IST",
                                                              "28 Nov 00:10 IST"]
    assert names(search_leads(LeadFilters(date_to=date(2026, 11, 27)))) == ["27 Nov 23:59 IST"]


def test_filters_from_query_args_ignore_bad_dates_and_trim():
    filters = LeadFilters.from_args({"q": "  ravi ", "date_from": "2026-02-30", "date_to": "2026-11-28",
                                     "car_model": "MG Hector"})
    assert filters == LeadFilters(q="ravi", car_model="MG Hector", date_to=date(2026, 11, 28))
    assert filters.to_args() == {"q": "ravi", "car_model": "MG Hector", "date_to": "2026-11-28"}


def test_keyset_pages_cover_every_lead_once_even_with_equal_times(app_context):
    for i in range(7):
        add_lead(T0 + timedelta(minutes=i // 2), name=f"lead {i}")  # pairs share a timestamp
    seen, cursor = [], None
    while True:
        page = search_leads(LeadFilters(), cursor=cursor, per_page=3)
        seen += names(page)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(f"lead {i}" for i in range(7)) and len(seen) == 7
    assert seen[0] == "lead 6"


@pytest.mark.parametrize("token", ["garbage", "1_2_3", "99999999999999999999999_1", "", "_"])
def test_a_tampered_page_token_shows_the_first_page(app_context, token):
    add_lead(name="only")
    assert decode_cursor(token) is None
    assert names(search_leads(LeadFilters(), cursor=token)) == ["only"]


def test_count_is_exact_below_the_cap_and_says_so_above(app_context):
    for i in range(5):
        add_lead(name=f"n{i}", car_model="MG Comet EV" if i < 3 else "MG ZS EV")
    assert count_leads(LeadFilters()) == (5, False)
    assert count_leads(LeadFilters(car_model="MG Comet EV")) == (3, False)
    assert count_leads(LeadFilters(), cap=4) == (4, True)


def test_filter_choices_are_the_values_in_the_data(app_context):
    add_lead(car_model="MG Hector", campaign="Q4", utm_source="cardekho_ads")
    add_lead(car_model="MG Astor", campaign="Q4")
    add_lead(car_model="MG Hector")
    assert filter_choices() == {"car_model": ["MG Astor", "MG Hector"], "campaign": ["Q4"],
                                "utm_source": ["cardekho_ads"]}


def test_leads_with_the_same_phone(app_context):
    first = add_lead(T0, phone_number="9876543210")
    second = add_lead(T0 + timedelta(days=1), phone_number="+91 98765 43210")
    add_lead(phone_number="9123456789")
    lead = db.session.get(Lead, first)
    assert [other.id for other in leads_with_same_phone(lead)] == [second]


def test_phone_digits():
    assert phone_digits("+91 98765") == "9198765"
    assert phone_digits("098765 43210") == "9876543210"
    assert phone_digits("ravi") is None and phone_digits("12") is None


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1999-12-31", "2101-01-01"])
def test_dates_outside_any_lead_are_ignored_not_an_error(app_context, value):
    add_lead(name="only")
    filters = LeadFilters.from_args({"date_from": value, "date_to": value})
    assert filters.date_from is None and filters.date_to is None
    assert names(search_leads(filters)) == ["only"]


@pytest.mark.parametrize("token", ["1_" + "9" * 30, "9" * 30 + "_1", "-5_1", "5_-1"])
def test_out_of_range_page_tokens_show_the_first_page(app_context, token):
    add_lead(name="only")
    assert decode_cursor(token) is None
    assert names(search_leads(LeadFilters(), cursor=token)) == ["only"]


def test_digits_inside_words_are_not_a_phone_search(app_context):
    add_lead(name="caller", phone_number="9842025111")
    add_lead(name="EV buyer", campaign="EV Q4 2025")
    assert names(search_leads(LeadFilters(q="EV Q4 2025"))) == ["EV buyer"]
    assert phone_digits("EV Q4 2025") is None
