"""The managers' morning summary: yesterday's numbers from the reports' query layer, mailed by `flask reports daily`."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings
from webapp.leads.reports import build_reports
from webapp.leads.routing import route_pending_leads
from webapp.leads.summary import queue_daily_summary
from webapp.mailing import work_once

YESTERDAY = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 10:30 IST
NOW = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # 09:00 IST the next morning



@pytest.fixture
def day(app_factory, smtp, make_user):
    """Yesterday: Asha got three leads (one a repeat) and called one after 3 business minutes; one lead the day before."""
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
    asha = make_user("asha@raam.example", name="Asha Patil")
    make_user("boss@raam.example", name="Boss One", role="manager")
    with app.app_context():
        add_lead(YESTERDAY - timedelta(days=1), name="Before", phone_number="9000000001", car_model="MG Astor")
        called = add_lead(YESTERDAY, name="Ravi", phone_number="9000000002", car_model="MG Hector")
        add_lead(YESTERDAY + timedelta(hours=1), name="Meera", phone_number="9000000003", car_model="MG Hector",
                 utm_source="google")
        add_lead(YESTERDAY + timedelta(hours=2), name="Ravi again", phone_number="9000000002", car_model="MG Hector")
        route_pending_leads(app.config)
        lead = db.session.get(Lead, called)
        lead.first_contacted_at = YESTERDAY + timedelta(minutes=3)
        lead.status = "contacted"
        db.session.commit()
    return app


def test_the_summary_mail_has_yesterdays_numbers_as_the_reports_page_counts_them(day, smtp):
    with day.app_context():
        reports = build_reports(ReportRange.preset("yesterday", NOW.date()), ReportSettings.from_config(day.config), NOW)
        assert queue_daily_summary(day.config, NOW)
    assert (reports.total.leads, reports.repeats) == (3, 1)
    work_once(day)
    [message] = [message for message in smtp.inbox.messages if message["Subject"].startswith("Leads on")]
    assert message["To"] == "boss@raam.example"
    assert message["Subject"] == "Leads on Fri 27 Nov 2026"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "  Leads | 3\n  Repeats | 1\n  Still not contacted | 2\n" in text
    assert "  MG Hector | 3\n" in text and "MG Astor" not in text  # the day before is not yesterday
    assert "  google | 1\n" in text
    assert f"  Asha Patil | 3 | 1 ({reports.speed.owners[0][2].in_time_share:.0%}) | 3 min | 2\n" in text
    html = message.get_body(("html",)).get_content()
    assert "<td>Asha Patil</td><td>3</td>" in html


def test_flask_reports_daily_mails_the_managers(day, smtp):
    result = day.test_cli_runner().invoke(args=["reports", "daily"])
    assert result.exit_code == 0, result.output
    assert "Summary sent." in result.output
    summaries = [message for message in smtp.inbox.messages if message["Subject"].startswith("Leads on ")]
    assert [message["To"] for message in summaries] == ["boss@raam.example"]


def test_without_a_manager_nothing_is_queued(app_factory, make_user):
    app = app_factory()
    make_user("asha@raam.example", name="Asha Patil")
    result = app.test_cli_runner().invoke(args=["reports", "daily"])
    assert "No active manager" in result.output
