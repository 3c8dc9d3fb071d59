"""The reports page and its CSVs (webapp.dashboard.reports): who may see them, what they send, the audit record."""
import csv
import io
import re
import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from tests.test_reports import ist
from tests.test_security_headers import CSP, PageParts, sri_of
from webapp.audit import AuditEvent
from webapp.extensions import db

CHART_CDN = "https://unpkg.com/chart.js@4.6.1/dist/chart.umd.min.js"
REPORTS = "/admin/reports"


@pytest.fixture
def manager(client, auth, make_user, app):
    """`client` signed in as a manager, with three leads of 20 Nov 2026 (one with a formula for a campaign)."""
    make_user("meera@raam.example", name="Meera Nair", role="manager")
    auth.login("meera@raam.example")
    with app.app_context():
        now = ist(20, 12, 0)
        add_lead(now, utm_source="google", campaign="Diwali", car_model="MG Hector")
        add_lead(now, utm_source="google", campaign='=HYPERLINK("http://evil.example","Click")', car_model="MG Astor")
        add_lead(now, utm_source="facebook", campaign="Diwali", car_model="MG Hector")
    return client


def test_sales_accounts_get_403_and_signed_out_people_the_sign_in_page(client, auth, make_user):
    assert client.get(REPORTS).status_code == 302
    make_user()
    auth.login()
    assert client.get(REPORTS).status_code == 403
    assert client.get(REPORTS + "/funnel.csv").status_code == 403


def test_the_page_shows_every_report_with_its_table_csv_link_and_chart_data(manager):
    response = manager.get(REPORTS + "?date_from=2026-11-01&date_to=2027-01-31")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for key in ("leads-per-day", "speed", "speed-by-day", "speed-by-person", "funnel", "funnel-by-source",
                "funnel-by-campaign", "lost-reasons", "models", "campaigns", "repeats", "asked-most"):
        assert f'id="table-{key}"' in html and f"/admin/reports/{key}.csv?" in html, key
    parts = PageParts(html)
    canvases = [attrs["id"] for attrs, _ in parts.all("canvas")]
    assert "chart-leads-per-day" in canvases and "chart-speed-by-person" in canvases
    # The funnel's "All leads" row is every lead of the range, and links to exactly them in the list.
    assert re.search(r'<th scope="row">\s*<bdi>All leads</bdi>\s*</th>\s*<td>\s*<a href="/admin/mg-digital-leads\?'
                     r'date_from=2026-11-01&amp;date_to=2027-01-31"><bdi>3</bdi></a>', html)


def test_the_page_loads_chart_js_pinned_from_its_cdn_with_the_vendored_copy_and_no_inline_script(manager, client):
    response = manager.get(REPORTS)
    assert response.headers["Content-Security-Policy"] == CSP.replace(
        "htmx.min.js;", f"htmx.min.js {CHART_CDN};")
    assert manager.get("/admin/mg-digital-leads").headers["Content-Security-Policy"] == CSP  # only this page
    parts = PageParts(response.get_data(as_text=True))
    scripts = parts.all("script")
    for attrs, text in scripts:
        assert attrs.get("src") or attrs.get("type") == "application/json", attrs  # data is never run
        assert not (attrs.get("src") and text)
    [cdn] = [attrs for attrs, _ in scripts if attrs.get("src") == CHART_CDN]
    [fallback] = [attrs for attrs, _ in scripts if attrs.get("data-global") == "Chart"]
    vendored = client.get(fallback["data-src"])
    assert vendored.status_code == 200 and sri_of(vendored.data) == cdn["integrity"] == fallback["data-integrity"]
    assert b"Chart.js v4.6.1" in vendored.data


def test_a_report_csv_is_the_table_formula_guarded_and_in_the_audit_record(manager, app):
    today = "2026-11-20"
    response = manager.get(f"{REPORTS}/campaigns.csv?date_from={today}&date_to={today}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'filename="campaigns-{today}-to-{today}.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["Campaign", "Leads", "Contacted %", "Booked %"]
    assert rows[1] == ["Diwali", "2", "0.0", "0.0"]
    assert rows[2] == ["'=HYPERLINK(\"http://evil.example\",\"Click\")", "1", "0.0", "0.0"]
    with app.app_context():
        [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "report_export")).all()
        assert (event.actor, event.target, event.details) == ("meera@raam.example", "campaigns",
                                                             {"date_from": today, "date_to": today})


def test_a_report_csv_cannot_be_started_by_another_site_and_an_unknown_one_is_404(manager):
    cross = manager.get(f"{REPORTS}/funnel.csv", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert manager.get(f"{REPORTS}/nothing.csv").status_code == 404


@pytest.mark.parametrize("query", ["date_from=2026-13-45", "date_from=x&date_to=%F0%9F%98%80", "date_to=0001-01-01",
                                   "date_from=2030-01-01&date_to=2020-01-01", "date_from=1999-01-01&date_to=2099-12-31"])
def test_odd_dates_give_a_page_never_an_error(manager, query):
    assert manager.get(f"{REPORTS}?{query}").status_code == 200
