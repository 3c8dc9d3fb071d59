"""The sales team's dashboard over HTTP, on SQLite and PostgreSQL: list, search, one lead, CSV export."""
import contextvars
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa

from tests.factories import add_lead
from webapp.extensions import db

LIST = "/admin/mg-digital-leads"
EXPORT = "/admin/mg-digital-leads/export.csv"
HISTORY = "/admin/mg-digital-leads/exports"


@pytest.fixture
def seed(app):
    """Store leads inside the app; returns the ids."""

    def store(*bodies, **common):
        with app.app_context():
            return [add_lead(**{**common, **body}) for body in bodies]

    return store


def rows_of(html: str) -> list[str]:
    """The names in the list's table, top to bottom."""
    return re.findall(r'<td class="name" data-label="Name"><a href="[^"]+"><bdi>([^<]*)</bdi></a>', html)


def test_list_requires_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_list_shows_newest_first_with_ist_time_tel_link_and_total(client, sign_in_as, seed):
    now = datetime.now(UTC)
    seed({"name": "Older Lead", "phone_number": "9123456789"}, received_at=now - timedelta(hours=2))
    seed({"name": "Ravi Kumar", "phone_number": "9876543210", "car_model": "MG Windsor EV",
          "campaign": "EV Q4", "utm_source": "cardekho_ads"}, received_at=now - timedelta(minutes=3))
    sign_in_as("sales")
    html = client.get(LIST).get_data(as_text=True)
    assert rows_of(html) == ["Ravi Kumar", "Older Lead"]
    assert "2 leads" in html
    assert 'href="tel:+919876543210"' in html
    assert "3 min ago" in html and "2 h ago" in html
    ist = (now - timedelta(minutes=3)).astimezone().astimezone(__import__("webapp.leads.timezones",
                                                                          fromlist=["IST"]).IST)
    assert ist.strftime("%d %b, %H:%M") in html
    for cell in ("MG Windsor EV", "EV Q4", "cardekho_ads"):
        assert cell in html


def test_search_and_filters_narrow_the_list_and_the_url_is_the_state(client, sign_in_as, seed):
    seed({"name": "Ravi Kumar", "phone_number": "9876543210", "car_model": "MG Hector"},
         {"name": "Sunita Rao", "phone_number": "9123456789", "car_model": "MG Astor"})
    sign_in_as()
    assert rows_of(client.get(LIST, query_string={"q": "sunita"}).get_data(as_text=True)) == ["Sunita Rao"]
    assert rows_of(client.get(LIST, query_string={"q": "+91 98765"}).get_data(as_text=True)) == ["Ravi Kumar"]
    page = client.get(LIST, query_string={"car_model": "MG Astor"}).get_data(as_text=True)
    assert rows_of(page) == ["Sunita Rao"]
    assert '<option value="MG Astor" selected>' in page  # reloading the URL restores the form


def test_htmx_gets_only_the_results_partial(client, sign_in_as, seed):
    seed({"name": "Ravi Kumar"})
    sign_in_as()
    partial = client.get(LIST, query_string={"q": "ravi"},
                         headers={"HX-Request": "true", "HX-Target": "lead-results"}).get_data(as_text=True)
    assert rows_of(partial) == ["Ravi Kumar"]
    assert "<html" not in partial and 'id="lead-filters"' not in partial


def test_no_match_says_so(client, sign_in_as, seed):
    seed({"name": "Ravi Kumar"})
    sign_in_as()
    assert "No leads match." in client.get(LIST, query_string={"q": "zzzz"}).get_data(as_text=True)


def test_pages_of_fifty_with_an_older_link(client, sign_in_as, app):
    from webapp.leads.lead_row import build_lead
    from webapp.leads.submission import validate_submission
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with app.app_context():
        db.session.add_all(build_lead(validate_submission({"name": f"Lead {i:03}", "phone_number": "98765"}),
                                      "CarDekho", t0 + timedelta(minutes=i)) for i in range(60))
        db.session.commit()
    sign_in_as()
    first = client.get(LIST).get_data(as_text=True)
    assert rows_of(first)[0] == "Lead 059" and len(rows_of(first)) == 50
    older = re.search(r'class="older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert rows_of(second) == [f"Lead {i:03}" for i in range(9, -1, -1)]
    assert 'class="older"' not in second and "← Newest" in second


def test_a_lead_page_shows_every_column_the_escaped_payload_and_same_phone_leads(client, sign_in_as, seed):
    [first, second] = seed({"name": "<script>alert(1)</script>", "phone_number": "9876543210",
                            "lead_url": "javascript:alert(1)", "city": "Pune"},
                           {"name": "Ravi again", "phone_number": "+91 98765 43210"})
    sign_in_as()
    html = client.get(f"{LIST}/{first}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert "&#34;city&#34;: &#34;Pune&#34;" in html or "&quot;city&quot;: &quot;Pune&quot;" in html
    assert f'href="{LIST}/{second}"' in html and "Ravi again" in html
    assert "+919876543210" in html


def test_unknown_lead_is_404_html(client, sign_in_as):
    sign_in_as()
    response = client.get(f"{LIST}/999999")
    assert response.status_code == 404 and "text/html" in response.content_type
    assert "There is no lead #999999." in response.get_data(as_text=True)
    asked_for_json = client.get(f"{LIST}/999999", headers={"Accept": "application/json"})
    assert (asked_for_json.status_code, asked_for_json.get_json()) == (404, {"error": "There is no lead #999999."})


def test_an_unknown_page_says_so_in_words_for_people(client, sign_in_as):
    sign_in_as()
    page = client.get("/admin/nothing-here").get_data(as_text=True)
    assert "There is no page at /admin/nothing-here." in page and "endpoint" not in page


def test_sales_cannot_export_nor_see_the_button(client, sign_in_as, seed):
    seed({"name": "Ravi"})
    sign_in_as("sales")
    assert "Export CSV" not in client.get(LIST).get_data(as_text=True)
    assert client.get(EXPORT).status_code == 403
    assert client.get(HISTORY).status_code == 403


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_export_the_current_filters_and_it_is_recorded(client, sign_in_as, seed, app, role):
    seed({"name": "Ravi", "car_model": "MG Hector"}, {"name": "Sunita", "car_model": "MG Astor"},
         {"name": '=HYPERLINK("http://evil")', "car_model": "MG Astor"})
    sign_in_as(role)
    page = client.get(LIST, query_string={"car_model": "MG Astor"}).get_data(as_text=True)
    link = re.search(r'id="export-link" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert link == EXPORT + "?car_model=MG+Astor"
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.fullmatch(r'attachment; filename="mg-digital-leads-\d{4}-\d\d-\d\d\.csv"',
                        response.headers["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))
    assert sorted(row[2] for row in rows[1:]) == ["'=HYPERLINK(\"http://evil\")", "Sunita"]
    history = client.get(HISTORY).get_data(as_text=True)
    assert f"{role.title()} Person" in history and "car_model=MG Astor" in history
    with app.app_context():
        from webapp.leads.models import LeadExport
        [record] = db.session.scalars(sa.select(LeadExport)).all()
        assert (record.row_count, record.completed, record.filters) == (2, True, {"car_model": "MG Astor"})


def test_dashboard_pages_are_not_cached(client, sign_in_as, seed):
    [lead] = seed({"name": "Ravi"})
    sign_in_as("manager")
    for url in (LIST, f"{LIST}/{lead}", EXPORT, HISTORY):
        assert "no-store" in client.get(url).headers.get("Cache-Control", ""), url


def test_the_export_link_follows_an_htmx_search(client, sign_in_as, seed):
    seed({"name": "Ravi", "car_model": "MG Hector"})
    sign_in_as("manager")
    response = client.get(LIST, query_string={"q": "", "car_model": "MG Hector", "campaign": ""},
                          headers={"HX-Request": "true", "HX-Target": "lead-results"})
    partial = response.get_data(as_text=True)
    assert f'id="export-link" href="{EXPORT}?car_model=MG+Hector"' in partial
    assert response.headers["HX-Push-Url"] == f"{LIST}?car_model=MG+Hector"  # no empty fields in the URL


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_another_site_cannot_start_an_export(client, sign_in_as, seed, app, site):
    seed({"name": "Ravi"})
    sign_in_as("manager")
    response = client.get(EXPORT, headers={"Sec-Fetch-Site": site})
    assert response.status_code == 403 and "Ravi" not in response.get_data(as_text=True)
    assert client.get(EXPORT, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    with app.app_context():
        from webapp.leads.models import LeadExport
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LeadExport)) == 1


def test_only_a_few_exports_download_at_once_per_worker(client, sign_in_as, seed, app):
    seed({"name": "Ravi"})
    sign_in_as("manager")

    def start_download():
        # In a context of its own, as in a server thread: an unread streamed response keeps its request's
        # Flask contexts pushed until it is closed, and another request in that context would reuse them.
        context = contextvars.copy_context()
        return context, context.run(client.get, EXPORT, buffered=False)

    def end_download(held):
        context, response = held
        context.run(response.close)  # the download ended (finished, failed, or its reader went away)

    downloading = [start_download() for _ in range(app.config["EXPORTS_PER_WORKER"])]
    assert [response.status_code for _, response in downloading] == [200] * len(downloading)
    refused = client.get(EXPORT)  # every slot is held by a download still in progress
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert "please try again in a minute" in refused.get_data(as_text=True)
    end_download(downloading.pop())
    assert "Ravi" in client.get(EXPORT).get_data(as_text=True)
    while downloading:
        end_download(downloading.pop())
    assert client.get(EXPORT).status_code == 200  # nothing is held after all the downloads are closed


def test_a_shared_url_keeps_its_filter_selected_even_when_the_value_is_not_offered(client, sign_in_as, seed):
    seed({"name": "Ravi", "car_model": "MG Hector"})
    sign_in_as()
    page = client.get(LIST, query_string={"car_model": "MG Cyberster"}).get_data(as_text=True)
    assert '<option value="MG Cyberster" selected>' in page and "No leads match." in page


@pytest.mark.parametrize("q", ["#", "a", "ab", "%", "_", "--", "98"])
def test_a_search_no_index_can_answer_says_what_to_type_over_the_unfiltered_list(client, sign_in_as, seed, q):
    seed({"name": "Ravi Kumar"}, {"name": "Sunita Rao"})
    sign_in_as("manager")
    page = client.get(LIST, query_string={"q": q}).get_data(as_text=True)
    assert "Type at least 3 letters or digits in a row to search" in page
    assert sorted(rows_of(page)) == ["Ravi Kumar", "Sunita Rao"] and "2 leads" in page
    assert f'name="q" value="{q}"' in page  # the box keeps what was typed
    assert f'id="export-link" href="{EXPORT}"' in page  # the export is what the list shows
    response = client.get(LIST, query_string={"q": q}, headers={"HX-Request": "true", "HX-Target": "lead-results"})
    assert "Type at least 3 letters or digits" in response.get_data(as_text=True)
    assert response.headers["HX-Push-Url"] == f"{LIST}?q={quote_plus(q)}"  # the URL is still what was typed
    refused = client.get(EXPORT, query_string={"q": q})
    assert refused.status_code == 400 and "Type at least 3 letters" in refused.get_data(as_text=True)
