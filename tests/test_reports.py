"""The reports' query layer (webapp.leads.reports) on SQLite and PostgreSQL, with hand-made leads whose answers are known.

BUSINESS_HOURS is 09:00-20:00 IST every day and FIRST_CONTACT_SLA_MINUTES 5.
28 Nov 2026 is a Saturday; the reports cover Sat 28 – Mon 30 Nov, "now" is
Mon 30 Nov 11:30 IST.
"""
from datetime import date, datetime

import pytest

from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.models import Lead
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings
from webapp.leads.reports import build_reports
from webapp.leads.silence import BusinessHours
from webapp.leads.timezones import IST

NOW = datetime(2026, 11, 30, 11, 30, tzinfo=IST)
PERIOD = ReportRange(date(2026, 11, 28), date(2026, 11, 30))
SETTINGS = ReportSettings(sla_minutes=5, hours=BusinessHours.parse("09:00-20:00"))


def ist(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=IST)


def worked_lead(received: datetime, contacted: datetime | None = None, status: str = "new", owner=None,
                lost_reason: str | None = None, repeat_of: int | None = None, **body) -> int:
    """A lead received at `received`, already worked as given."""
    lead_id = add_lead(received, **body)
    lead = db.session.get(Lead, lead_id)
    lead.first_contacted_at, lead.status, lead.lost_reason = contacted, status, lost_reason
    lead.owner_id, lead.repeat_of = (owner.id if owner else None), repeat_of
    db.session.commit()
    return lead_id


@pytest.fixture
def weekend(app, make_user):
    """Seven leads over a weekend, one the Friday before, with known speeds, stages and sources."""
    asha = make_user("asha@raam.example", name="Asha Patil")
    ravi = make_user("ravi@raam.example", name="Ravi Rao")
    with app.app_context():
        google = {"utm_source": "google", "campaign": "Diwali", "car_model": "MG Hector"}
        facebook = {"utm_source": "facebook", "campaign": "EV Q4", "car_model": "MG Astor"}
        ids = {"friday": worked_lead(ist(27, 12, 0), ist(27, 12, 1), "contacted", asha, **google)}
        # Saturday 19:50, first call Monday 09:10: 10 min Saturday + 11 h Sunday + 10 min Monday = 680.
        ids["night"] = worked_lead(ist(28, 19, 50), ist(30, 9, 10), "booked", asha, **google)
        # Sunday 07:00 before opening, called 09:03: 3 business minutes.
        ids["early"] = worked_lead(ist(29, 7, 0), ist(29, 9, 3), "test_drive", ravi, phone_number="9000000001",
                                   **google)
        ids["noon"] = worked_lead(ist(29, 12, 0), ist(29, 12, 4), "contacted", ravi, repeat_of=ids["early"],
                                  phone_number="9000000001", **facebook)  # 4 minutes, and a repeat
        # Sunday 21:30 after closing, called Monday 08:55 before opening: 0 business minutes.
        ids["late_night"] = worked_lead(ist(29, 21, 30), ist(30, 8, 55), "lost", ravi, "budget",
                                        **{**facebook, "car_model": "MG Hector"})
        ids["monday"] = worked_lead(ist(30, 10, 0), ist(30, 10, 20), "lost", asha, "unreachable",
                                    utm_source="cardekho_ads", car_model="MG Windsor EV")  # 20 minutes
        ids["waiting"] = worked_lead(ist(30, 11, 0), None, "new", asha, car_model="MG Windsor EV",
                                     utm_source="cardekho_ads")  # 30 minutes, nobody called: overdue
        lead_id = add_lead(ist(30, 11, 28), car_model="MG Windsor EV")  # 2 minutes old: not due yet
        walk_in = db.session.get(Lead, lead_id)
        walk_in.platform = "Walk-in"
        db.session.commit()
        ids["fresh"] = lead_id
    return {"ids": ids, "asha": asha, "ravi": ravi}


@pytest.fixture
def reports(app, weekend):
    with app.app_context():
        yield build_reports(PERIOD, SETTINGS, NOW)


def test_business_clock_counts_a_night_and_a_whole_sunday_as_python_does():
    hours = SETTINGS.hours
    for start, end, minutes in [(ist(28, 19, 50), ist(30, 9, 10), 680), (ist(29, 7, 0), ist(29, 9, 3), 3),
                                (ist(29, 21, 30), ist(30, 8, 55), 0), (ist(30, 10, 0), ist(30, 10, 20), 20)]:
        assert (hours.clock(end) - hours.clock(start)) / 60 == pytest.approx(minutes)
        assert hours.seconds_between(start, end) / 60 == pytest.approx(minutes)


def test_speed_to_lead_median_p90_and_sla_share_in_business_minutes(reports):
    overall = reports.speed.overall
    # Contacted after 680, 3, 4, 0 and 20 business minutes: sorted 0, 3, 4, 20, 680.
    assert (overall.leads, overall.contacted, overall.not_contacted) == (7, 5, 2)
    assert overall.median_minutes == pytest.approx(4)
    assert overall.p90_minutes == pytest.approx(20 + 0.6 * 660)  # percentile_cont: 3.6 of the way
    # In time: 3, 4, 0. Late: 680 and 20, and the one waiting 30 minutes; the 2-minute-old lead is not due yet.
    assert (overall.in_time, overall.late) == (3, 3)
    assert overall.in_time_share == pytest.approx(0.5)


def test_speed_per_day_covers_every_day_of_the_range(reports):
    days = {bucket.first: speed for bucket, speed in reports.speed.buckets}
    assert list(days) == [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
    assert days[date(2026, 11, 28)].median_minutes == pytest.approx(680)
    sunday = days[date(2026, 11, 29)]
    assert (sunday.median_minutes, sunday.p90_minutes) == (pytest.approx(3), pytest.approx(3.8))
    monday = days[date(2026, 11, 30)]
    assert (monday.leads, monday.contacted, monday.median_minutes, monday.late) == (3, 1, pytest.approx(20), 2)


def test_speed_per_sales_person_slowest_first_with_their_uncontacted_leads(reports, weekend):
    people = [(owner_id, name, speed.median_minutes, speed.p90_minutes, speed.not_contacted)
              for owner_id, name, speed in reports.speed.owners]
    assert people == [
        (None, "Unassigned", None, None, 1),  # unassigned and never called: slowest of all
        (weekend["asha"].id, "Asha Patil", pytest.approx(350), pytest.approx(20 + 0.9 * 660), 1),  # 20 and 680
        (weekend["ravi"].id, "Ravi Rao", pytest.approx(3), pytest.approx(3.8), 0),  # 3, 4 and 0
    ]


def test_the_funnel_conversion_per_source_and_campaign_and_lost_reasons(reports):
    total = reports.total
    assert (total.leads, total.contacted, total.test_drive, total.booked, total.lost) == (7, 5, 2, 1, 2)
    by_source = {funnel.key: (funnel.leads, funnel.contacted, funnel.test_drive, funnel.booked, funnel.lost)
                 for funnel in reports.by_source}
    assert by_source == {"google": (2, 2, 2, 1, 0), "facebook": (2, 2, 0, 0, 1), "cardekho_ads": (2, 1, 0, 0, 1),
                         "Walk-in": (1, 0, 0, 0, 0)}
    by_campaign = {funnel.key: funnel.leads for funnel in reports.by_campaign}
    assert by_campaign == {"Diwali": 2, "EV Q4": 2, None: 3}
    assert reports.lost_reasons == {"budget": 1, "unreachable": 1}
    assert [(funnel.key, funnel.leads) for funnel in reports.by_model] == [
        ("MG Hector", 3), ("MG Windsor EV", 3), ("MG Astor", 1)]


def test_leads_per_day_by_source_with_the_previous_period(reports):
    daily = reports.over_time
    assert [bucket.first for bucket in daily.buckets] == [date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)]
    assert daily.counts == {"cardekho_ads": [0, 0, 2], "facebook": [0, 2, 0], "google": [1, 1, 0],
                            "Walk-in": [0, 0, 1]}
    assert daily.previous == [0, 0, 1]  # 25–27 Nov: the Friday lead


def test_repeats_and_the_people_who_asked_most(reports, weekend):
    assert reports.repeats == 1
    [asker] = reports.askers
    assert (asker.first_lead_id, asker.repeats) == (weekend["ids"]["early"], 1)


@pytest.mark.parametrize("period", [PERIOD, ReportRange(date(2026, 8, 3), date(2026, 11, 30)),
                                    ReportRange(date(2025, 11, 1), date(2026, 11, 30))], ids=["days", "weeks", "months"])
def test_every_number_that_links_to_the_lead_list_is_the_list_count_there(app, weekend, period):
    from webapp.database import utcnow
    from webapp.leads.report_tables import report_tables
    from webapp.leads.search import LeadFilters, count_leads

    with app.test_request_context():  # the list's `contact` filter reads the app's SLA settings
        tables = report_tables(build_reports(period, ReportSettings.from_config(app.config), utcnow()))
        checked = set()
        for table in tables:
            for row in table.rows:
                for cell in row:
                    if cell.filters is not None and isinstance(cell.value, int):
                        assert count_leads(LeadFilters.from_args(cell.filters)) == (cell.value, False), (
                            table.key, row[0].value, cell.filters)
                        checked.add((table.key, tuple(sorted(set(cell.filters) - {"date_from", "date_to"}))))
    # Every kind of link was checked: sources, stages, contact states, owners, lost reasons, models, repeats.
    kinds = {name for _, names in checked for name in names}
    assert kinds == {"source", "stage", "contact", "owner", "status", "lost_reason", "car_model", "campaign",
                     "repeats"}
    assert len(checked) >= 15


@pytest.mark.parametrize("seed", range(20))
def test_percentiles_selected_from_many_sorted_days_equal_those_of_all_values_sorted(seed):
    import random
    from array import array

    from webapp.leads.report_facts import percentile, select_percentile

    rng = random.Random(seed)
    runs = [array("f", sorted(round(rng.lognormvariate(5.9, 1.3), rng.choice((0, 1, 3)))
                              for _ in range(rng.randint(0, 40)))) for _ in range(rng.randint(1, 30))]
    everything = sorted(value for run in runs for value in run)
    for fraction in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert select_percentile(runs, fraction) == percentile(everything, fraction)


def test_long_ranges_are_shown_by_week_and_then_by_month(app, weekend):
    with app.app_context():
        weeks = build_reports(ReportRange(date(2026, 8, 3), date(2026, 11, 30)), SETTINGS, NOW)
        months = build_reports(ReportRange(date(2025, 11, 1), date(2026, 11, 30)), SETTINGS, NOW)
    assert [(bucket.label, bucket.first, bucket.last) for bucket in weeks.over_time.buckets[-2:]] == [
        ("2026-11-23", date(2026, 11, 23), date(2026, 11, 29)), ("2026-11-30", date(2026, 11, 30), date(2026, 11, 30))]
    assert weeks.over_time.counts["google"][-2:] == [3, 0]  # Friday to Sunday are the week of the 23rd
    assert months.over_time.buckets[-1].label == "2026-11" and months.over_time.counts["google"][-1] == 3
    [(_, november)] = [(bucket, speed) for bucket, speed in months.speed.buckets if bucket.label == "2026-11"]
    assert (november.contacted, november.median_minutes) == (6, pytest.approx(3.5))  # with Friday's 1 minute
