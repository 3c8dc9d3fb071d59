"""The silence alarm: too many business hours (IST) without a lead."""
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import add_lead
from webapp.leads.silence import BusinessHours, check_silence
from webapp.leads.timezones import IST

HOURS = BusinessHours.parse("09:00-20:00")


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=IST)


@pytest.mark.parametrize("last, now, quiet", [
    (ist(23, 10), ist(23, 12), 2.0),            # inside one business day
    (ist(23, 19), ist(24, 10), 2.0),            # 19–20 one day, 09–10 the next: the night does not count
    (ist(23, 21), ist(24, 8), 0.0),             # all night
    (ist(23, 6), ist(23, 9, 30), 0.5),          # before opening, then half an hour
    (ist(20, 12), ist(23, 12), 33.0),           # three whole days
])
def test_only_business_hours_count(last, now, quiet):
    assert HOURS.seconds_between(last, now) / 3600 == pytest.approx(quiet)


def test_the_alarm_rings_past_the_threshold_and_not_before():
    assert not check_silence(ist(23, 10), HOURS, 3, now=ist(23, 13)).alarm
    assert check_silence(ist(23, 10), HOURS, 3, now=ist(23, 13, 1)).alarm
    assert not check_silence(ist(23, 19, 30), HOURS, 3, now=ist(24, 9, 30)).alarm  # 1 business hour
    assert not check_silence(None, HOURS, 3).alarm  # no lead yet: nothing to measure
    assert not check_silence(ist(1, 10), HOURS, 0, now=ist(23, 10)).alarm  # 0 turns it off


def test_a_very_long_silence_is_counted_within_bounds():
    silence = check_silence(datetime(2020, 1, 1, tzinfo=UTC), HOURS, 3, now=ist(23, 12))
    assert silence.alarm and silence.quiet_business_hours <= 63 * 11


@pytest.mark.parametrize("text", ["20:00-09:00", "nine to five", "09:00"])
def test_business_hours_must_be_a_range(text, monkeypatch):
    from config import ConfigError, load_config
    monkeypatch.setenv("BUSINESS_HOURS", text)
    with pytest.raises(ConfigError, match="BUSINESS_HOURS"):
        load_config("testing")


def test_readyz_reports_the_alarm(app_factory):
    app = app_factory(SILENCE_ALARM_HOURS=2, BUSINESS_HOURS="00:00-23:59")
    with app.app_context():
        add_lead(datetime.now(UTC) - timedelta(hours=5))
    silence = app.test_client().get("/readyz").get_json()["silence"]
    assert silence["alarm"] is True and silence["quiet_business_hours"] >= 4.5 and silence["threshold_hours"] == 2
    with app.app_context():
        add_lead()
    assert app.test_client().get("/readyz").get_json()["silence"]["alarm"] is False
