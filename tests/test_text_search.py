"""The search box beyond tests/test_search.py: what no index can answer, odd characters, the indexes used."""
import pytest
import sqlalchemy as sa

from tests.conftest import empty_tables, make_app
from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.search import LeadFilters, count_leads, search_leads
from webapp.leads.text_search import SEARCH_HINT, search_hint


def names(filters: LeadFilters) -> list[str]:
    return sorted(lead.name for lead in search_leads(filters).leads)


@pytest.mark.parametrize("q", ["#", "--", "a", "ab", "98", "%", "_", "%%%", "a_b", "a b c", "MG ZS", "+91", ".-/"])
def test_a_search_no_index_can_answer_asks_for_more_and_matches_nothing(app_context, q):
    add_lead(name="Ravi Kumar", car_model="MG ZS EV", campaign="a_b 50% #1 -- %%%", phone_number="9876543210")
    assert search_hint(q) == SEARCH_HINT
    assert names(LeadFilters(q=q)) == [] and count_leads(LeadFilters(q=q)) == (0, False)


@pytest.mark.parametrize("q", ["rav", "zz9", "kumar", "o'brien", "x" * 200, "रवि", "100%"])
def test_a_word_of_three_letters_or_digits_is_searched(app_context, q):
    add_lead(name=f"x {q} y")
    add_lead(name="plain")
    assert search_hint(q) is None and names(LeadFilters(q=q)) == [f"x {q} y"]


@pytest.mark.parametrize("q", ["987", "+91 98", "(0) 98-7"])
def test_three_phone_digits_are_searched(app_context, q):
    add_lead(name="caller", phone_number="9876543210")
    add_lead(name="other", phone_number="9123456780")
    assert search_hint(q) is None and names(LeadFilters(q=q)) == ["caller"]


def test_a_search_cannot_match_across_two_columns(app_context):
    add_lead(name="Ravi Kumar", car_model="MG Hector")
    assert names(LeadFilters(q="Kumar MG")) == []
    assert names(LeadFilters(q="Kumar\x1fMG")) == []  # the separator of the joined index expression


@pytest.mark.parametrize("q", ['"quoted"', "o'brien", "abc\\d", "{name}", "NEAR(x y)", "ravi OR x", "***abc", "100%_"])
def test_odd_characters_are_searched_literally(app_context, q):
    add_lead(name=f"x {q} y")
    add_lead(name="plain")
    assert names(LeadFilters(q=q)) == [f"x {q} y"]


def test_the_sqlite_search_index_follows_updates_and_deletes(app_context):
    lead_id = add_lead(name="Meera Nair", phone_number="9876543210")
    lead = db.session.get(Lead, lead_id)
    lead.name = "Meera Menon"
    db.session.commit()
    assert names(LeadFilters(q="menon")) == ["Meera Menon"]
    assert names(LeadFilters(q="nair")) == []
    db.session.delete(lead)
    db.session.commit()
    assert names(LeadFilters(q="menon")) == [] and count_leads(LeadFilters(q="98765")) == (0, False)


PLANNED_LEADS = 5_000
TRIGRAM_INDEX_SCAN = 'Bitmap Index Scan on "ix_mg-digital-leads_search_'


@pytest.fixture
def planned(postgresql_url):
    """An app context on PostgreSQL with PLANNED_LEADS varied leads, analysed."""
    app = make_app(postgresql_url)
    empty_tables(app)
    with app.app_context():
        db.session.execute(sa.text(f"""
            INSERT INTO "mg-digital-leads" (platform, name, phone_number, phone_normalized, car_model, campaign,
                                            payload, created_at)
            SELECT 'CarDekho', 'Lead ' || md5(n::text), (9000000000 + n * 7919)::text,
                   '+91' || (9000000000 + n * 7919)::text,
                   'MG ' || (ARRAY['Hector', 'Astor', 'Windsor EV', 'ZS EV', 'Comet EV'])[n % 5 + 1],
                   'Campaign ' || (n % 40), '{{}}', now() - n * interval '1 minute'
            FROM generate_series(1, {PLANNED_LEADS}) n"""))
        db.session.commit()
        db.session.execute(sa.text('ANALYZE "mg-digital-leads"'))
        db.session.commit()
        yield
        db.session.remove()
    empty_tables(app)


def _plans_of_a_list_page(q: str) -> list[str]:
    """EXPLAIN of each statement the list page runs for `q` (its rows and its capped count)."""
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        search_leads(LeadFilters(q=q))
        count_leads(LeadFilters(q=q))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    cursor = db.session.connection().connection.cursor()
    # At a test's size reading the table (or walking it newest first) is cheapest for any search, so the
    # planner is asked for a plan without either: it still reads the table if no index can answer the
    # condition. (At a million leads it picks the trigram index by itself: bench/RESULTS.md.)
    cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
    plans = []
    for statement, parameters in statements:
        cursor.execute("EXPLAIN (COSTS OFF) " + statement, parameters)
        plans.append("\n".join(row[0] for row in cursor.fetchall()))
    db.session.rollback()
    return plans


@pytest.mark.parametrize("q", ["zz9", "kumar", "98765", "+91 98765", "o'brien \\", "x" * 200, "Kumar\x1fMG", "रवि"])
def test_every_search_that_is_run_is_answered_from_a_trigram_index(planned, q):
    plans = _plans_of_a_list_page(q)
    assert len(plans) == 2  # the page and the capped count
    for plan in plans:
        assert TRIGRAM_INDEX_SCAN in plan and 'Seq Scan on "mg-digital-leads"' not in plan, plan


@pytest.mark.parametrize("q", ["#", "a", "ab", "%", "_", "98", "--", "MG ZS"])
def test_a_search_no_index_can_answer_reads_no_lead(planned, q):
    for plan in _plans_of_a_list_page(q):
        assert "One-Time Filter: false" in plan and 'Scan on "mg-digital-leads"' not in plan, plan
