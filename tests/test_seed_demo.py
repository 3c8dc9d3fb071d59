"""`flask leads seed-demo N` on SQLite and PostgreSQL: demo leads stored exactly as the webhook stores them."""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.conftest import make_app
from webapp.database import dispose_engines
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.phones import normalize_phone
from webapp.leads.search import LeadFilters, search_leads
from webapp.leads.lead_row import build_lead
from webapp.leads.submission import validate_submission

COLUMNS = ("name", "phone_number", "phone_normalized", "car_model", "lead_url", "campaign", "utm_source",
           "utm_medium", "utm_campaign", "utm_term", "utm_content", "platform")


def seed(app, *args):
    return app.test_cli_runner().invoke(args=["leads", "seed-demo", *args])


def test_seeds_n_leads_that_look_like_webhook_leads(app, leads):
    result = seed(app, "400", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "Added 400 demo leads" in result.output
    rows = leads()
    assert len(rows) == 400
    for lead in rows:  # the same columns the webhook would derive from the stored body
        expected = build_lead(validate_submission(lead.payload), platform="CarDekho")
        assert {c: getattr(lead, c) for c in COLUMNS} == {c: getattr(expected, c) for c in COLUMNS}
        assert lead.phone_normalized == normalize_phone(lead.phone_number)
    assert any(lead.phone_normalized is None for lead in rows)  # invalid numbers are kept too
    assert any(isinstance(lead.payload["phone_number"], int) for lead in rows)
    assert any(lead.car_model.startswith("MG ") for lead in rows)
    assert any(not lead.car_model.startswith("MG ") for lead in rows)
    assert any("extra" in lead.payload for lead in rows)
    now = datetime.now(UTC)
    times = [lead.created_at for lead in rows]
    assert max(times) <= now and min(times) >= now - timedelta(days=731)
    assert max(times) - min(times) > timedelta(days=300)  # spread over the two years


def test_same_seed_same_leads(app, leads):
    seed(app, "20", "--seed", "3")
    first = [(lead.name, lead.phone_number) for lead in leads()]
    with app.app_context():
        db.session.execute(sa.delete(Lead))
        db.session.commit()
    seed(app, "20", "--seed", "3")
    assert [(lead.name, lead.phone_number) for lead in leads()] == first


def test_seeded_leads_are_searchable(app, leads):
    seed(app, "200", "--seed", "11")
    lead = leads()[0]
    with app.app_context():
        found = search_leads(LeadFilters(q=lead.name.split()[-1].lower()), per_page=500).leads
        assert lead.id in {row.id for row in found}
        digits = normalize_phone(lead.phone_number) or lead.phone_number
        by_phone = search_leads(LeadFilters(q=digits[-7:]), per_page=500).leads
        assert lead.id in {row.id for row in by_phone}


def test_refuses_a_production_configuration(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", "s" * 64)
    monkeypatch.setenv("CARDEKHO_API_KEYS", "k")
    app = make_app(database_url, APP_ENV="production")
    assert app.config["APP_ENV"] == "production"
    result = seed(app, "10")
    assert result.exit_code != 0
    assert "refuses to run with APP_ENV=production" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0
        dispose_engines()


def test_seeded_leads_are_worked_on_by_a_demo_team_and_wait_for_no_router(app, leads):
    from collections import Counter

    from webapp.auth.models import User
    from webapp.leads.models import LeadActivity
    from webapp.leads.escalation import escalate_late_leads
    from webapp.leads.routing import route_pending_leads

    assert seed(app, "1500", "--seed", "5").exit_code == 0
    rows = leads()
    with app.app_context():
        team = dict(db.session.execute(sa.select(User.id, User.role)).all())
        activities = [(activity.kind, activity.lead_id) for activity in db.session.scalars(sa.select(LeadActivity))]
        assert route_pending_leads(app.config) == 0  # every demo lead is already routed
        assert escalate_late_leads(app.config) == 0  # and escalated, when nobody called it in time
    assert len(team) == 5 and set(team.values()) == {"sales"}  # a demo team, made as none existed
    statuses = Counter(lead.status for lead in rows)
    assert set(statuses) == {"new", "contacted", "test_drive", "booked", "lost"}
    assert statuses["lost"] > statuses["booked"] > 0
    assert all(lead.lost_reason for lead in rows if lead.status == "lost")
    assert all(lead.first_contacted_at and lead.first_contacted_at >= lead.created_at
               for lead in rows if lead.status != "new")
    owners = Counter(lead.owner_id for lead in rows if lead.repeat_of is None)
    assert set(owners) - {None} == set(team) and owners[None] < len(rows) * 0.1
    by_id = {lead.id: lead for lead in rows}
    repeats = [lead for lead in rows if lead.repeat_of]
    assert len(repeats) > 50
    for lead in repeats:  # the same person, an earlier first enquiry, the same owner
        first = by_id[lead.repeat_of]
        assert first.repeat_of is None and first.created_at < lead.created_at
        assert (first.phone_normalized or first.phone_number) == (lead.phone_normalized or lead.phone_number) \
            or first.phone_normalized is None
        assert lead.owner_id == first.owner_id
    kinds = Counter(kind for kind, _ in activities)
    assert kinds["assigned"] == sum(1 for lead in rows if lead.owner_id)
    assert kinds["repeat"] == len(repeats) and kinds["note"] > 0 and kinds["escalated"] > 0
    assert kinds["call"] > kinds["whatsapp"] > 0
    assert all(lead.routed_at for lead in rows)
