"""Hostile and malformed requests to the pages people use: a clear 4xx or the normal page, never a 5xx.

On SQLite and on PostgreSQL (each refuses different things: PostgreSQL any NUL in
text, SQLite integers above 2**63 - 1, FTS5 a NUL inside a search phrase).
"""
import pytest

from tests.conftest import csrf_token_in
from tests.factories import add_lead

LIST = "/admin/mg-digital-leads"
NUL_REFUSED = "Text with a NUL character (%00) cannot be searched for or stored."
TOO_BIG = "99999999999999999999"  # above any BIGINT


@pytest.mark.parametrize("path", [
    LIST + "?q=%00", LIST + "?q=abc%00", LIST + "?car_model=a%00", LIST + "?campaign=%00x",
    LIST + "?utm_source=%00", LIST + "/export.csv?q=abc%00",
    "/admin/intake-log?outcome=%00", "/admin/audit?actor=%00", "/admin/audit?action=%00", LIST + "?%00=1",
])
def test_a_nul_in_a_query_is_a_400_that_says_so(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert NUL_REFUSED in response.get_data(as_text=True)


def test_a_nul_in_the_sign_in_form_is_a_400_not_a_database_error(client):
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "asha\x00@raam.example", "password": "x", "csrf_token": token})
    assert response.status_code == 400 and NUL_REFUSED in response.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    f"{LIST}/{TOO_BIG}", f"/admin/intake-log/{TOO_BIG}", f"{LIST}/0", "/admin/intake-log/0",
])
def test_ids_no_row_can_have_are_404(admin_client, path):
    assert admin_client.get(path).status_code == 404


def test_recovering_an_impossible_intake_log_entry_is_404(admin_client):
    token = csrf_token_in(admin_client.get("/admin/intake-log").get_data(as_text=True))
    assert admin_client.post(f"/admin/intake-log/{TOO_BIG}/recover", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("before", [TOO_BIG, "%C2%B2", "%D9%A3", "-1", "1e3", ""])  # ², an Arabic-Indic 3
@pytest.mark.parametrize("page", ["/admin/intake-log", "/admin/audit"])
def test_odd_page_positions_show_the_first_page(admin_client, page, before):
    response = admin_client.get(f"{page}?before={before}")
    assert response.status_code == 200


@pytest.mark.parametrize("current_url", ["http://[", "http://a]b/x", "http://localhost:99999/x", "\x00"])
def test_a_signed_out_htmx_request_with_an_odd_current_url_is_sent_to_sign_in(client, current_url):
    response = client.get(LIST, headers={"HX-Request": "true", "HX-Current-URL": current_url})
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")


@pytest.mark.parametrize("referer", ["https://localhost:99999/", "https://x:abc/", "https://[/", "not a url"])
def test_an_unreadable_referer_on_https_is_a_csrf_refusal_not_a_500(app, make_user, referer):
    make_user()
    client = app.test_client()
    token = csrf_token_in(client.get("/login", base_url="https://localhost").get_data(as_text=True))
    response = client.post("/login", base_url="https://localhost", headers={"Referer": referer},
                           data={"email": "asha@raam.example", "password": "x", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")  # "form expired"
    assert "The sign-in form expired" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_an_ordinary_search_still_works_beside_the_guard(app, admin_client):
    with app.app_context():
        add_lead(name="Ravi Kumar")
    page = admin_client.get(LIST + "?q=ravi").get_data(as_text=True)
    assert "Ravi Kumar" in page


def test_a_name_with_a_right_to_left_override_cannot_flip_the_text_around_it(app, admin_client):
    with app.app_context():
        add_lead(name="\u202eRavi", phone_number="9876543210", car_model="MG Hector")
        asha = add_lead(name="Asha", phone_number="9876543210")
    # <bdi> keeps the override inside the name: the model and times beside it read left to right.
    assert "<bdi>\u202eRavi</bdi>" in admin_client.get(LIST).get_data(as_text=True)
    others = admin_client.get(f"{LIST}/{asha}").get_data(as_text=True)  # her page lists his lead: same phone
    assert "— <bdi>\u202eRavi</bdi>, <bdi>MG Hector</bdi></a>" in others
