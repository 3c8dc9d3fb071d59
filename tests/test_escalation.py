"""Escalation: a lead nobody contacted within ESCALATE_AFTER_MINUTES business minutes, once per lead, both databases."""
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.escalation import escalate_late_leads
from webapp.leads.models import Lead, LeadActivity
from webapp.leads.routing import route_pending_leads
from webapp.mailing import work_once

T0 = datetime(2026, 11, 28, 8, 35, tzinfo=UTC)  # 14:05 IST, inside business hours (09:00-20:00)



@pytest.fixture
def desk(app_factory, smtp, make_user):
    """Asha on duty, two managers; the app mails through the test's SMTP server."""
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, ESCALATE_AFTER_MINUTES=15)
    return app


def lead_at(app, received_at, **body) -> int:
    with app.app_context():
        lead_id = add_lead(received_at, **body)
        route_pending_leads(app.config)
        return lead_id


def escalations(app) -> list[LeadActivity]:
    with app.app_context():
        rows = db.session.scalars(sa.select(LeadActivity).where(LeadActivity.kind == "escalated")).all()
        db.session.expunge_all()
        return rows


def test_a_lead_not_contacted_after_15_business_minutes_is_escalated_once(desk, smtp, make_user):
    make_user("asha@raam.example", name="Asha Patil")
    make_user("boss@raam.example", name="Boss One", role="manager")
    make_user("boss2@raam.example", name="Boss Two", role="manager")
    lead_id = lead_at(desk, T0, name="Ravi Kumar", car_model="MG Hector")
    with desk.app_context():
        assert escalate_late_leads(desk.config, now=T0 + timedelta(minutes=14)) == 0
        assert escalate_late_leads(desk.config, now=T0 + timedelta(minutes=16)) == 1
        assert escalate_late_leads(desk.config, now=T0 + timedelta(minutes=30)) == 0
    [entry] = escalations(desk)
    assert entry.lead_id == lead_id and entry.user_id is None
    work_once(desk)
    messages = [m for m in smtp.inbox.messages if m["Subject"].startswith("Not contacted yet")]
    assert len(messages) == 1
    assert messages[0]["Subject"] == "Not contacted yet: Ravi Kumar — MG Hector"
    assert sorted(messages[0]["To"].addresses[i].addr_spec for i in range(2)) == ["boss2@raam.example",
                                                                                  "boss@raam.example"]
    assert "Owner: Asha Patil" in messages[0].get_body(("plain",)).get_content()


def test_business_minutes_only_a_lead_at_closing_time_is_escalated_next_morning(desk, make_user):
    evening = datetime(2026, 11, 28, 14, 20, tzinfo=UTC)  # 19:50 IST: 10 business minutes left today
    lead_at(desk, evening)
    with desk.app_context():
        assert escalate_late_leads(desk.config, now=evening + timedelta(hours=12)) == 0  # 07:50 IST next day
        assert escalate_late_leads(desk.config, now=evening + timedelta(hours=13, minutes=16)) == 1  # 09:06 IST


def test_a_contacted_lead_and_a_lead_from_before_working_the_leads_are_not_escalated(desk, make_user):
    asha = make_user("asha@raam.example", name="Asha Patil")
    called = lead_at(desk, T0)
    old = lead_at(desk, T0, phone_number="9000000009")
    with desk.app_context():
        pipeline.record_contact(called, db.session.get(User, asha.id), "call")
        db.session.execute(sa.update(Lead).where(Lead.id == old).values(
            routed_at=datetime(2000, 1, 1, tzinfo=UTC)))
        db.session.commit()
        assert escalate_late_leads(desk.config, now=T0 + timedelta(hours=1)) == 0
    assert escalations(desk) == []


def test_workers_escalating_at_once_escalate_each_lead_once(desk, make_user):
    make_user("boss@raam.example", name="Boss One", role="manager")
    for number in range(5):
        lead_at(desk, T0 + timedelta(seconds=number), phone_number=f"900000000{number}")
    counts, barrier = [], threading.Barrier(3)

    def escalate():
        with desk.app_context():
            barrier.wait()
            counts.append(escalate_late_leads(desk.config, now=T0 + timedelta(minutes=20)))
            db.session.remove()

    threads = [threading.Thread(target=escalate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) == 5
    assert sorted(entry.lead_id for entry in escalations(desk)) == sorted(set(e.lead_id for e in escalations(desk)))
    assert len(escalations(desk)) == 5
    with desk.app_context():
        mails = db.session.scalar(sa.text("SELECT count(*) FROM outbox WHERE kind = 'escalated'"))
    assert mails == 5
