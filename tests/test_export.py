"""CSV export (webapp.leads.export) on SQLite and PostgreSQL: what a manager opens in Excel."""
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import add_lead
from webapp.leads.export import export_csv, neutralize_cell
from webapp.leads.search import LeadFilters

T0 = datetime(2026, 11, 28, 8, 35, tzinfo=UTC)  # 14:05 IST


def read(filters=LeadFilters()):
    counter = [0]
    text = "".join(export_csv(filters, counter))
    return text, list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))), counter[0]


def test_header_ist_times_and_bom(app_context):
    add_lead(T0, name="Ravi Kumar", phone_number="9876543210", car_model="MG Windsor EV")
    text, rows, count = read()
    assert text.startswith("\ufeff")
    assert rows[0][:6] == ["Lead ID", "Received (IST)", "Name", "Phone", "Phone (E.164)", "Car model"]
    assert rows[1][1:6] == ["2026-11-28 14:05:00", "Ravi Kumar", "9876543210", "+919876543210", "MG Windsor EV"]
    assert count == 1


def test_same_filters_as_the_list(app_context):
    add_lead(T0, name="a", car_model="MG Hector")
    add_lead(T0, name="b", car_model="MG Astor")
    _, rows, count = read(LeadFilters(car_model="MG Astor"))
    assert [row[2] for row in rows[1:]] == ["b"] and count == 1


def test_unicode_survives(app_context):
    add_lead(name="रवि कुमार")
    _, rows, _ = read()
    assert rows[1][2] == "रवि कुमार"


@pytest.mark.parametrize("value, expected", [
    ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("+1-1", "'+1-1"),
    ("+91 98765-43210", "'+91 98765-43210"),  # phone-like, but not in a phone column
    ("Ravi", "Ravi"),
    (None, ""),
])
def test_formula_cells_are_neutralized(value, expected):
    assert neutralize_cell(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("+91 98765-43210", "+91 98765-43210"),
    ("+919876543210", "+919876543210"),
    ("=1+1", "'=1+1"),
    ("+91 98765 43210x", "'+91 98765 43210x"),
])
def test_phone_numbers_stay_usable_in_the_phone_columns(value, expected):
    assert neutralize_cell(value, phone=True) == expected


@pytest.mark.parametrize("model", ["+1-1", "=1+1", "-2", "@SUM(A1)", "+91 98765-43210"])
def test_only_the_phone_columns_are_exempt_from_the_formula_guard(app_context, model):
    add_lead(name=model, phone_number="+91 98765-43210", car_model=model, campaign=model, utm_term=model)
    _, rows, _ = read()
    header, row = rows[0], rows[1]
    cells = dict(zip(header, row))
    assert (cells["Phone"], cells["Phone (E.164)"]) == ("+91 98765-43210", "+919876543210")
    for column in ("Name", "Car model", "Campaign", "UTM term"):
        assert cells[column] == "'" + model, column


def test_a_formula_name_arrives_neutralized(app_context):
    add_lead(name='=HYPERLINK("http://evil.example","click")', phone_number="+91 98765 43210",
             campaign="@campaign")
    _, rows, _ = read()
    assert rows[1][2] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[1][3] == "+91 98765 43210"
    assert rows[1][6] == "'@campaign"


def test_streams_in_chunks_newest_first(app_context):
    from webapp.extensions import db
    from webapp.leads.lead_row import build_lead
    from webapp.leads.submission import validate_submission

    submission = validate_submission({"name": "bulk", "phone_number": "9876543210"})
    db.session.add_all(build_lead(submission, "CarDekho", T0 + timedelta(seconds=i)) for i in range(2500))
    db.session.commit()
    counter = [0]
    chunks = export_csv(LeadFilters(), counter)
    first = next(chunks)
    assert counter[0] == 1000  # one batch fetched and written, the rest not yet read
    rest = list(chunks)
    rows = list(csv.reader(io.StringIO((first + "".join(rest)).removeprefix("\ufeff"))))[1:]
    assert counter[0] == len(rows) == 2500
    times = [row[1] for row in rows]
    assert times == sorted(times, reverse=True)
