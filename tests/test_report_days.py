"""The reports' per-day summaries stay correct as leads arrive and change (webapp.leads.report_days), on both databases."""
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from tests.test_reports import SETTINGS, ist, worked_lead
from webapp.extensions import db
from webapp.leads import pipeline
from webapp.leads.models import Lead
from webapp.leads.report_days import ReportDay, rebuild
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings
from webapp.leads.reports import build_reports

PERIOD = ReportRange(date(2026, 11, 23), date(2026, 11, 30))
NOW = ist(30, 18, 0)


def totals(now: datetime, settings: ReportSettings = SETTINGS) -> tuple:
    reports = build_reports(PERIOD, settings, now)
    return reports.total.leads, reports.total.booked, reports.speed.overall.in_time


def test_a_new_lead_and_a_status_change_on_an_old_day_show_at_once(app_context, make_user):
    manager = make_user("meera@raam.example", name="Meera Nair", role="manager")
    old = worked_lead(ist(24, 10, 0), ist(24, 10, 2), "contacted")
    assert totals(NOW) == (1, 0, 1)
    add_lead(ist(30, 17, 0))  # arrives today
    assert totals(NOW + timedelta(seconds=1)) == (2, 0, 1)
    pipeline.set_status(old, manager, "booked")  # a lead from last Tuesday is booked today
    assert totals(NOW + timedelta(seconds=2)) == (2, 1, 1)
    # Long after the marks have settled, a further change is still seen.
    pipeline.set_status(old, manager, "lost", "budget")
    assert totals(NOW + timedelta(hours=2)) == (2, 0, 1)
    assert totals(NOW + timedelta(hours=4)) == (2, 0, 1)


def test_a_lead_committed_late_with_a_lower_id_is_still_counted(app_context):
    # Ids are handed out before commit: lead 5 may become visible after lead 10 was already summed.
    first = add_lead(ist(25, 10, 0))
    db.session.add(Lead(id=first + 10, platform="CarDekho", name="Later id", phone_number="9000000010", payload={},
                        created_at=ist(26, 10, 0)))
    db.session.commit()
    assert totals(NOW)[0] == 2
    db.session.add(Lead(id=first + 5, platform="CarDekho", name="Slow commit", phone_number="9000000005",
                        payload={}, created_at=ist(25, 11, 0)))
    db.session.commit()
    assert totals(NOW + timedelta(seconds=90))[0] == 3
    assert totals(NOW + timedelta(minutes=5))[0] == 3


def test_changing_the_sla_rebuilds_the_days(app_context):
    worked_lead(ist(24, 10, 0), ist(24, 10, 20), "contacted")  # 20 business minutes
    assert totals(NOW)[2] == 0
    assert totals(NOW, ReportSettings(sla_minutes=30, hours=SETTINGS.hours))[2] == 1


def test_rebuild_builds_every_day_from_the_first_lead(app_context):
    worked_lead(ist(2, 10, 0), ist(2, 10, 1), "booked")
    assert rebuild(SETTINGS, NOW) == 29  # 2 to 30 November
    assert db.session.scalar(sa.select(sa.func.sum(ReportDay.leads))) == 1
    assert totals(NOW) == (0, 0, 0)  # the week shown has none of it
