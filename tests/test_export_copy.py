"""The PostgreSQL export path (COPY ... TO STDOUT): the same CSV as the Python path, safely abandoned."""
import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import empty_tables, make_app
from tests.factories import add_lead
from webapp.extensions import db
from webapp.leads.export import export_csv, python_export
from webapp.leads.search import LeadFilters

T0 = datetime(2026, 11, 28, 8, 35, 59, 999999, tzinfo=UTC)
TRICKY = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
          "+91 98765-43210", "-", "+", "Ravi, Kumar", 'He said "hi"', "two\nlines", "रवि कुमार", "O'Brien \\ ",
          "+91 (98765) 43210", "+91 98765 43210x", "9876543210"]


@pytest.fixture
def pg(postgresql_url):
    """An app context on the PostgreSQL database (the COPY path is PostgreSQL's), emptied before and after."""
    app = make_app(postgresql_url)
    empty_tables(app)
    with app.app_context():
        yield
    empty_tables(app)


def parse(chunks) -> list[list[str]]:
    return list(csv.reader(io.StringIO("".join(chunks).removeprefix("\ufeff"))))


@pytest.mark.parametrize("filters, expected_rows", [
    (LeadFilters(), len(TRICKY)),
    (LeadFilters(q="o'brien \\"), 1),
    (LeadFilters(q="ravi"), 1),
    (LeadFilters(car_model="MG Hector", date_from=datetime(2026, 11, 28).date()),
     sum(1 for i in range(len(TRICKY)) if i % 3)),
])
def test_copy_writes_what_python_writes(pg, filters, expected_rows):
    for i, value in enumerate(TRICKY):
        add_lead(T0 - timedelta(minutes=i), name=value, phone_number=value if i % 2 else "9876543210",
                 campaign=value, car_model="MG Hector" if i % 3 else None, utm_term=value)
    copied = parse(export_csv(filters))
    assert copied == parse(python_export(filters, [0]))
    assert len(copied) == 1 + expected_rows  # the header, then every matching lead


@pytest.mark.parametrize("model", ["+1-1", "=1+1", "-2", "@SUM(A1)", "+91 98765-43210"])
def test_both_paths_exempt_only_the_phone_columns(pg, model):
    add_lead(name="Ravi", phone_number="+91 98765-43210", car_model=model, lead_url=model)
    for rows in (parse(export_csv(LeadFilters())), parse(python_export(LeadFilters(), [0]))):
        cells = dict(zip(rows[0], rows[1]))
        assert (cells["Phone"], cells["Phone (E.164)"]) == ("+91 98765-43210", "+919876543210")
        assert (cells["Car model"], cells["Lead URL"]) == ("'" + model, "'" + model)


def test_abandoned_export_cancels_the_copy_and_leaves_the_pool_healthy(pg):
    db.session.execute(sa.text("""
        INSERT INTO "mg-digital-leads" (platform, name, phone_number, payload)
        SELECT 'CarDekho', 'bulk ' || n, '9876543210', '{}' FROM generate_series(1, 30000) n"""))
    db.session.commit()
    chunks = export_csv(LeadFilters())
    assert next(chunks).count("bulk") == 1000
    chunks.close()  # the person cancelled the download
    busy = sa.text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%' AND state = 'active'"
                   " AND datname = current_database() AND pid <> pg_backend_pid()")
    deadline = time.monotonic() + 5  # the cancelled backend may take a moment to finish its statement
    while db.session.scalar(busy) and time.monotonic() < deadline:
        db.session.rollback()
        time.sleep(0.05)
    assert db.session.scalar(busy) == 0
    counter = [0]
    assert len(parse(export_csv(LeadFilters(), counter))) == 30001 and counter[0] == 30000
