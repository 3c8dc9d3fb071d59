"""The CarDekho guide's promises (sections 2–7), on SQLite and on PostgreSQL."""
import json
import logging
import time

import flask
import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK
from webapp import mounted_intake_app
from webapp.extensions import db

SUCCESS = {"message": "CarDekho lead inserted successfully"}


# --- Section 4 and 5: the sample body is stored and answered 201 ----------------------------

def test_guide_sample_is_stored_with_201_and_exact_message(post_lead, leads):
    response = post_lead(SAMPLE_LEAD)
    assert response.status_code == 201
    assert response.get_json() == SUCCESS
    [lead] = leads()
    assert (lead.name, lead.phone_number, lead.car_model, lead.lead_url, lead.campaign, lead.utm_source) == (
        "Ravi Kumar", "9876543210", "Tata Nexon EV", "https://cardekho.com/leads/123", "EV Awareness Q4",
        "cardekho_ads")
    assert lead.phone_normalized == "+919876543210"
    assert lead.created_at.tzinfo is not None


def test_content_type_with_charset_as_the_guide_writes_it(post_lead, leads):
    response = post_lead(SAMPLE_LEAD, content_type="application/json; charset=utf-8")
    assert response.status_code == 201
    assert len(leads()) == 1


def test_payload_keeps_the_whole_body_and_extra_attributes(post_lead, leads):
    body = dict(SAMPLE_LEAD, utm_medium="cpc", utm_campaign="nov", utm_term="ev suv", utm_content="banner-2",
                city="Pune", budget_lakh=18.5, test_drive=True, tags=["ev", "family"], meta={"page": 3})
    assert post_lead(body).status_code == 201
    [lead] = leads()
    assert lead.payload == body
    assert (lead.utm_medium, lead.utm_campaign, lead.utm_term, lead.utm_content) == (
        "cpc", "nov", "ev suv", "banner-2")


def test_platform_id_and_created_at_come_from_us_not_the_payload(post_lead, leads):
    body = dict(SAMPLE_LEAD, platform="Evil", id=999999, created_at="2001-01-01T00:00:00Z")
    assert post_lead(body).status_code == 201
    [lead] = leads()
    assert lead.platform == "CarDekho"
    assert lead.id != 999999
    assert lead.created_at.year >= 2026
    assert lead.payload["platform"] == "Evil"  # kept for audit, never used


def test_table_is_public_mg_digital_leads(app, post_lead):
    post_lead(SAMPLE_LEAD)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            count = db.session.execute(sa.text('SELECT count(*) FROM public."mg-digital-leads"')).scalar()
            payload_type = db.session.execute(sa.text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = 'mg-digital-leads' AND column_name = 'payload'")).scalar()
            assert payload_type == "jsonb"
        else:
            count = db.session.execute(sa.text('SELECT count(*) FROM "mg-digital-leads"')).scalar()
    assert count == 1


def test_duplicates_are_accepted_as_separate_rows(post_lead, leads):
    assert [post_lead(SAMPLE_LEAD).status_code for _ in range(3)] == [201, 201, 201]
    rows = leads()
    assert len(rows) == 3 and len({row.id for row in rows}) == 3


@pytest.mark.parametrize("phone", ["9876543210", "+91 98765-43210", "09876543210", "919876543210",
                                   "+91 9876543210", "98765 43210"])
def test_indian_numbers_are_normalized_to_e164(post_lead, leads, phone):
    assert post_lead(dict(SAMPLE_LEAD, phone_number=phone)).status_code == 201
    [lead] = leads()
    assert lead.phone_number == phone  # as received
    assert lead.phone_normalized == "+919876543210"


@pytest.mark.parametrize("phone", ["12345", "call me", "+1 650 253 0000"])
def test_unparseable_or_foreign_numbers_are_stored_without_normalized_form(post_lead, leads, phone):
    assert post_lead(dict(SAMPLE_LEAD, phone_number=phone)).status_code == 201
    [lead] = leads()
    assert lead.phone_number == phone and lead.phone_normalized is None


def test_phone_number_sent_as_json_integer_is_stored_as_its_digits(post_lead, leads):
    assert post_lead(dict(SAMPLE_LEAD, phone_number=9876543210)).status_code == 201
    [lead] = leads()
    assert lead.phone_number == "9876543210" and lead.phone_normalized == "+919876543210"


def test_optional_numbers_are_kept_as_text(post_lead, leads):
    assert post_lead(dict(SAMPLE_LEAD, campaign=2025, utm_term=1.5)).status_code == 201
    [lead] = leads()
    assert (lead.campaign, lead.utm_term) == ("2025", "1.5")


def test_optional_fields_may_be_null_or_absent(post_lead, leads):
    assert post_lead({"name": "Asha", "phone_number": "9876543210", "car_model": None}).status_code == 201
    [lead] = leads()
    assert lead.car_model is None and lead.campaign is None


def test_unicode_names_survive(post_lead, leads):
    assert post_lead(dict(SAMPLE_LEAD, name="रवि कुमार 🚗")).status_code == 201
    assert leads()[0].name == "रवि कुमार 🚗"


# --- Section 5: 400 for missing required fields, with the guide's exact message --------------

@pytest.mark.parametrize("body, message", [
    ({"phone_number": "9876543210"}, "Missing required fields: name"),
    ({"name": "Ravi"}, "Missing required fields: phone_number"),
    ({}, "Missing required fields: name, phone_number"),
    ({"name": "   ", "phone_number": ""}, "Missing required fields: name, phone_number"),
    ({"name": None, "phone_number": "9876543210"}, "Missing required fields: name"),
    ({"car_model": "MG Hector"}, "Missing required fields: name, phone_number"),
])
def test_missing_required_fields_answer_400_with_the_guide_message(post_lead, leads, body, message):
    response = post_lead(body)
    assert response.status_code == 400
    assert response.get_json() == {"error": message}
    assert leads() == []


# --- Section 3: authentication -----------------------------------------------------------------

def test_missing_key_is_401(post_lead, leads):
    response = post_lead(SAMPLE_LEAD, key=None)
    assert response.status_code == 401
    assert "X-API-Key" in response.get_json()["error"]
    assert leads() == []


def test_empty_key_is_401(post_lead):
    assert post_lead(SAMPLE_LEAD, key="").status_code == 401


@pytest.mark.parametrize("key", ["wrong", GUIDE_API_KEY + "x", GUIDE_API_KEY[:-1], GUIDE_API_KEY.upper(),
                                 "ключ", " " + GUIDE_API_KEY + "x"])
def test_wrong_key_is_403(post_lead, leads, key):
    response = post_lead(SAMPLE_LEAD, key=key)
    assert response.status_code == 403
    assert response.get_json() == {"error": "API key invalid"}
    assert leads() == []


def test_key_is_checked_before_the_body_is_read(post_lead):
    assert post_lead(data="not json at all", key=None).status_code == 401
    assert post_lead(data="x" * 1_000_000, key="wrong", content_type="text/plain").status_code == 403


def test_two_keys_are_valid_during_a_rotation(app_factory, post_lead):
    app = app_factory(CARDEKHO_API_KEYS=["old-key-1", "new-key-2"])
    client = app.test_client()
    assert post_lead(SAMPLE_LEAD, key="old-key-1", using=client).status_code == 201
    assert post_lead(SAMPLE_LEAD, key="new-key-2", using=client).status_code == 201
    assert post_lead(SAMPLE_LEAD, key=GUIDE_API_KEY, using=client).status_code == 403


# --- Errors under the webhook's path are JSON ------------------------------------------------

def test_get_on_the_webhook_is_405_json(client):
    response = client.get(WEBHOOK)
    assert response.status_code == 405
    assert "POST" in response.get_json()["error"]
    assert "POST" in response.headers["Allow"]


def test_unknown_source_is_404_json(client):
    response = client.post("/admin/mg-digital-leads/source/cardekh0", json=SAMPLE_LEAD)
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("No such endpoint")


def test_non_json_content_type_is_415(post_lead, leads):
    response = post_lead(data=json.dumps(SAMPLE_LEAD), content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json() == {"error": "Content-Type must be application/json"}
    assert leads() == []


def test_body_over_the_cap_is_413_json(app, post_lead, leads):
    big = dict(SAMPLE_LEAD, notes="x" * app.config["MAX_CONTENT_LENGTH"])
    response = post_lead(big)
    assert response.status_code == 413
    assert "too large" in response.get_json()["error"]
    assert leads() == []


def test_a_large_but_reasonable_lead_is_accepted(post_lead, leads):
    assert post_lead(dict(SAMPLE_LEAD, notes="x" * 50_000)).status_code == 201
    assert len(leads()) == 1


# --- Section 7: rate limit ---------------------------------------------------------------------

def test_rate_limit_is_counted_per_key_with_429_json_and_retry_after(app_factory, post_lead, leads):
    app = app_factory(WEBHOOK_RATE_LIMIT="3 per minute", CARDEKHO_API_KEYS=["key-a", "key-b"])
    client = app.test_client()
    statuses = [post_lead(SAMPLE_LEAD, key="key-a", using=client).status_code for _ in range(3)]
    refused = post_lead(SAMPLE_LEAD, key="key-a", using=client)
    assert statuses == [201, 201, 201]
    assert refused.status_code == 429
    assert "Rate limit exceeded" in refused.get_json()["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert post_lead(SAMPLE_LEAD, key="key-b", using=client).status_code == 201  # its own bucket
    assert len(leads()) == 4


def test_the_limit_holds_across_a_window_edge(app_factory, post_lead):
    # A sliding-window counter would weigh a burst made just before the edge at ~90% and let one more in.
    for _ in range(5):  # a fresh app (its own counts) per try, in case a slow machine spoils the timing
        client = app_factory(WEBHOOK_RATE_LIMIT="3 per 2 seconds").test_client()
        while not 1.5 <= time.time() % 2 < 1.7:  # late in a 2-second window, as counted from the epoch
            time.sleep(0.02)
        first = time.time()
        assert [post_lead(SAMPLE_LEAD, using=client).status_code for _ in range(3)] == [201, 201, 201]
        edge = first - first % 2 + 2
        if time.time() < edge:  # the burst ended before the edge
            time.sleep(edge + 0.05 - time.time())
            status = post_lead(SAMPLE_LEAD, using=client).status_code
            if time.time() - first < 1.9:  # still inside 2 s of the first of the three
                assert status == 429
                return
    pytest.fail("five tries could not place three requests just before a window's edge")


def test_failed_keys_do_not_use_up_the_senders_limit(app_factory, post_lead):
    app = app_factory(WEBHOOK_RATE_LIMIT="2 per minute")
    client = app.test_client()
    for _ in range(5):
        assert post_lead(SAMPLE_LEAD, key="guess", using=client).status_code == 403
    assert post_lead(SAMPLE_LEAD, using=client).status_code == 201


def test_the_default_limit_is_the_guides_120_per_minute(app, post_lead, leads):
    client = app.test_client()
    statuses = [post_lead(SAMPLE_LEAD, using=client).status_code for _ in range(121)]
    assert statuses == [201] * 120 + [429]
    assert len(leads()) == 120


def test_the_webhook_opens_no_session_even_for_a_signed_in_browser(app, client, post_lead, make_user, auth):
    make_user()
    assert auth.login().status_code == 302
    cookie = f"session={client.get_cookie('session').value}"
    assert post_lead(SAMPLE_LEAD, key=None).status_code == 401  # a person's session is no API key
    with app.test_request_context("/", headers={"Cookie": cookie}):
        assert flask.session.get("_user_id")  # the dashboard reads the signed cookie
    intake_app = mounted_intake_app(app)  # the app the webhook's paths go to
    with intake_app.test_request_context(WEBHOOK, method="POST", headers={"Cookie": cookie}):
        assert intake_app.session_interface.is_null_session(flask.session)  # it neither reads nor signs it
    stored = post_lead(SAMPLE_LEAD)
    assert stored.status_code == 201 and "Set-Cookie" not in stored.headers


# --- Logging -----------------------------------------------------------------------------------

def test_each_request_logs_one_line_without_key_or_phone(post_lead, caplog):
    with caplog.at_level(logging.INFO, logger="webapp.intake"):
        post_lead(SAMPLE_LEAD)
        post_lead({"name": "x"})
    lines = [r.getMessage() for r in caplog.records if r.name == "webapp.intake"]
    assert len(lines) == 2
    assert "outcome=stored status=201" in lines[0] and "lead_id=" in lines[0]
    assert "outcome=invalid status=400" in lines[1]
    for line in lines:
        assert GUIDE_API_KEY not in line and "9876543210" not in line


@pytest.mark.parametrize("hops, expected_ip", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_forwarded_for_is_trusted_only_for_configured_hops(app_factory, post_lead, caplog, hops, expected_ip):
    client = app_factory(TRUSTED_PROXY_HOPS=hops).test_client()
    with caplog.at_level(logging.INFO, logger="webapp.intake"):
        post_lead(SAMPLE_LEAD, using=client, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    [line] = [r.getMessage() for r in caplog.records if r.name == "webapp.intake"]
    assert f"ip={expected_ip}" in line


def test_an_unexpected_error_under_the_webhook_path_is_500_json_without_a_traceback(app_factory):
    app = app_factory(PROPAGATE_EXCEPTIONS=False)  # as in production, where TESTING is off

    def explode():
        raise RuntimeError("secret internals")

    mounted_intake_app(app).add_url_rule("/admin/mg-digital-leads/source/explode", view_func=explode,
                                         methods=["POST"])
    response = app.test_client().post("/admin/mg-digital-leads/source/explode", json={})
    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal server error; retry with exponential backoff"}
    assert "secret internals" not in response.get_data(as_text=True)
