"""Malformed and hostile requests: never a 5xx, always a JSON error that says what to fix, never a row.

The catalogue is what a buggy sender or an attacker could put in a request;
each runs on SQLite and on PostgreSQL.
"""
import gzip
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK


def _body(**changes) -> bytes:
    return json.dumps(dict(SAMPLE_LEAD, **changes)).encode()


# (case, raw body, content type, expected status, words the error must contain)
CATALOGUE = [
    ("empty body", b"", "application/json", 400, "empty"),
    ("whitespace body", b"  \n ", "application/json", 400, "empty"),
    ("truncated JSON", b'{"name": "Ravi", "phone_number": "98', "application/json", 400, "not valid JSON"),
    ("single quotes", b"{'name': 'Ravi'}", "application/json", 400, "not valid JSON"),
    ("trailing comma", b'{"name": "Ravi", "phone_number": "9876543210",}', "application/json", 400,
     "not valid JSON"),
    ("JSON array", json.dumps([SAMPLE_LEAD]).encode(), "application/json", 400, "JSON object"),
    ("JSON string", b'"Ravi 9876543210"', "application/json", 400, "JSON object"),
    ("JSON null", b"null", "application/json", 400, "JSON object"),
    ("JSON number", b"42", "application/json", 400, "JSON object"),
    ("form-encoded body", b"name=Ravi&phone_number=9876543210", "application/x-www-form-urlencoded", 415,
     "application/json"),
    ("multipart", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", 415, "application/json"),
    ("text/plain JSON", json.dumps(SAMPLE_LEAD).encode(), "text/plain", 415, "application/json"),
    ("NaN", b'{"name": "Ravi", "phone_number": "9876543210", "score": NaN}', "application/json", 400,
     "NaN"),
    ("Infinity", b'{"name": "Ravi", "phone_number": "9876543210", "score": -Infinity}', "application/json",
     400, "Infinity"),
    ("float overflow", b'{"name": "Ravi", "phone_number": "9876543210", "score": 1e999}', "application/json",
     400, "too large"),
    ("5000-digit integer", b'{"name": "Ravi", "phone_number": ' + b"9" * 5000 + b"}", "application/json", 400,
     "too long"),
    ("nesting 40 deep", _body(extra=json.loads("[" * 40 + "]" * 40)), "application/json", 400, "nested"),
    ("nesting 100000 deep", b'{"name": "R", "phone_number": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "application/json", 400, "nested"),
    ("nesting 5000 deep", b'{"name": "R", "phone_number": "1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
     "application/json", 400, "nested"),
    ("name is a number", _body(name=12345), "application/json", 400, "'name' must be a string"),
    ("name is an object", _body(name={"first": "Ravi"}), "application/json", 400, "'name' must be a string"),
    ("name is a list", _body(name=["Ravi"]), "application/json", 400, "'name' must be a string"),
    ("name is true", _body(name=True), "application/json", 400, "'name' must be a string"),
    ("phone is a float", _body(phone_number=9876543210.0), "application/json", 400,
     "'phone_number' must be a string or a whole number"),
    ("phone is negative", _body(phone_number=-9876543210), "application/json", 400, "'phone_number'"),
    ("phone is a boolean", _body(phone_number=True), "application/json", 400, "'phone_number'"),
    ("phone is a list", _body(phone_number=["9876543210"]), "application/json", 400, "'phone_number'"),
    ("name only a NUL", _body(name="\u0000"), "application/json", 400, "Missing required fields: name"),
    ("phone only NULs", b'{"name": "R", "phone_number": "\\u0000\\u0000"}', "application/json", 400,
     "Missing required fields: phone_number"),
]


@pytest.mark.parametrize("case, raw, content_type, status, words", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_malformed_body_is_rejected_with_a_clear_json_error(client, leads, case, raw, content_type, status,
                                                            words):
    headers = {"X-API-Key": GUIDE_API_KEY}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(WEBHOOK, data=raw, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and set(response.get_json()) == {"error"}
    assert words in response.get_json()["error"]
    assert leads() == []


# Transport details that once cost the lead (a 4xx is final for CarDekho): each is stored, repaired where needed.
# (case, raw body, content type, the payload stored)
KEPT_DESPITE_TRANSPORT = [
    ("no content type", json.dumps(SAMPLE_LEAD).encode(), "", SAMPLE_LEAD),
    ("latin-1 bytes, undeclared", '{"name": "Ren\xe9", "phone_number": "9876543210"}'.encode("latin-1"),
     "application/json", {"name": "Ren\ufffd", "phone_number": "9876543210"}),
    ("UTF-16 body, undeclared", json.dumps(SAMPLE_LEAD).encode("utf-16"), "application/json", SAMPLE_LEAD),
    ("NUL in name", _body(name="Ravi\u0000Kumar"), "application/json", dict(SAMPLE_LEAD, name="RaviKumar")),
    ("NUL in an extra field", _body(note="a\u0000b"), "application/json", dict(SAMPLE_LEAD, note="ab")),
    ("NUL in a field name", _body(**{"bad\u0000key": 1}), "application/json", dict(SAMPLE_LEAD, badkey=1)),
    ("raw NUL bytes", b'{"name": "Ravi\x00",\x00 "phone_number": "9876543210"}', "application/json",
     {"name": "Ravi", "phone_number": "9876543210"}),
    ("lone surrogate in name", b'{"name": "R\\ud800", "phone_number": "9876543210"}', "application/json",
     {"name": "R\ufffd", "phone_number": "9876543210"}),
    ("lone surrogate deep inside", b'{"name": "R", "phone_number": "9876543210", "x": [{"\\udfff": "\\udfff"}]}',
     "application/json", {"name": "R", "phone_number": "9876543210", "x": [{"\ufffd": "\ufffd"}]}),
]


@pytest.mark.parametrize("case, raw, content_type, payload", KEPT_DESPITE_TRANSPORT,
                         ids=[c[0] for c in KEPT_DESPITE_TRANSPORT])
def test_a_lead_is_never_refused_over_transport_details(client, leads, case, raw, content_type, payload):
    headers = {"X-API-Key": GUIDE_API_KEY}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(WEBHOOK, data=raw, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    [lead] = leads()
    assert lead.payload == payload and lead.name == payload["name"]


def test_errors_never_echo_the_values_sent(client):
    secret = "9876543210-private"
    response = client.post(WEBHOOK, json=dict(SAMPLE_LEAD, name=[secret]), headers={"X-API-Key": GUIDE_API_KEY})
    assert response.status_code == 400 and secret not in response.get_data(as_text=True)


def test_a_very_long_field_name_never_makes_a_long_error(client):
    response = client.post(WEBHOOK, json={"k" * 50_000: "a\u0000b"}, headers={"X-API-Key": GUIDE_API_KEY})
    error = response.get_json()["error"]
    assert response.status_code == 400 and error == "Missing required fields: name, phone_number"


@pytest.mark.parametrize("field, value", [("car_model", {"make": "MG"}), ("campaign", False),
                                          ("utm_source", ["a"]), ("lead_url", {"u": 1})])
def test_an_odd_optional_attribute_never_costs_the_lead(post_lead, leads, field, value):
    response = post_lead(dict(SAMPLE_LEAD, **{field: value}))
    assert response.status_code == 201
    [lead] = leads()
    assert getattr(lead, field) is None and lead.payload[field] == value


@pytest.mark.parametrize("field", ["car_model", "campaign", "utm_source", "lead_url", "utm_content"])
def test_very_long_attributes_are_stored_whole_in_the_payload(post_lead, leads, field):
    # Random text does not compress: PostgreSQL would refuse it in a btree index entry (> 2,704 bytes).
    import random
    import string
    value = "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=20_000))
    response = post_lead(dict(SAMPLE_LEAD, **{field: value}))
    assert response.status_code == 201
    [lead] = leads()
    assert getattr(lead, field) == value[:500] and lead.payload[field] == value


HOSTILE_BUT_VALID = [
    ("script tag name", {"name": "<script>alert(1)</script>", "phone_number": "9876543210"}),
    ("SQL injection name", {"name": "Robert'); DROP TABLE \"mg-digital-leads\";--", "phone_number": "1"}),
    ("formula name", {"name": "=HYPERLINK(\"http://evil\")", "phone_number": "+91 98765 43210"}),
    ("JSONB path keys", {"name": "R", "phone_number": "1", "$.a": 1, "'); --": "x", "": "empty key"}),
    ("BOM before JSON", None),
    ("duplicate keys", None),
    ("huge unicode", {"name": "ऱ" * 5000, "phone_number": "9876543210"}),
    ("control characters", {"name": "Ravi\u0007\u001b[31m\r\n", "phone_number": "9876543210"}),
    ("RTL override", {"name": "\u202eRavi", "phone_number": "9876543210"}),
]


@pytest.mark.parametrize("case, body", HOSTILE_BUT_VALID, ids=[c[0] for c in HOSTILE_BUT_VALID])
def test_hostile_but_valid_leads_are_stored_verbatim(client, leads, case, body):
    if case == "BOM before JSON":
        raw, expected = b"\xef\xbb\xbf" + json.dumps(SAMPLE_LEAD).encode(), SAMPLE_LEAD
    elif case == "duplicate keys":  # the last value wins, as in every JSON parser we know
        raw, expected = b'{"name": "A", "name": "B", "phone_number": "1"}', {"name": "B", "phone_number": "1"}
    else:
        raw, expected = json.dumps(body).encode(), body
    response = client.post(WEBHOOK, data=raw, headers={"X-API-Key": GUIDE_API_KEY,
                                                       "Content-Type": "application/json"})
    assert response.status_code == 201
    [lead] = leads()
    assert lead.payload == expected
    assert lead.name == expected["name"].strip()


@pytest.mark.parametrize("headers", [
    {"X-API-Key": GUIDE_API_KEY + "\x7f"},
    {"X-API-Key": "é" * 50},
    {"X-API-Key": "x" * 8000},
    {"X-API-Key": GUIDE_API_KEY.upper()},
    {"X-API-Key": GUIDE_API_KEY + ", " + GUIDE_API_KEY},
], ids=["DEL char", "non-ascii", "very long", "upper-cased key", "key listed twice"])
def test_odd_keys_are_refused_with_403(client, leads, headers):
    response = client.post(WEBHOOK, data=json.dumps(SAMPLE_LEAD), headers={**headers,
                                                                          "Content-Type": "application/json"})
    assert response.status_code == 403 and response.get_json() == {"error": "API key invalid"}
    assert leads() == []


def test_header_name_is_case_insensitive(client, leads):
    response = client.post(WEBHOOK, json=SAMPLE_LEAD, headers={"x-api-key": GUIDE_API_KEY})
    assert response.status_code == 201 and len(leads()) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_other_methods_get_405_json(client, method):
    response = client.open(WEBHOOK, method=method, headers={"X-API-Key": GUIDE_API_KEY})
    assert response.status_code == 405 and "POST" in response.get_json()["error"]


@pytest.mark.parametrize("path", [WEBHOOK + "/", "/admin/mg-digital-leads/source/",
                                  "/admin/mg-digital-leads/source/cardekho%00", WEBHOOK + ".json"])
def test_odd_paths_under_the_webhook_answer_404_json_and_store_nothing(client, leads, path):
    response = client.post(path, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY})
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("No such endpoint")
    assert leads() == []


# --- Generated bodies ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
long_text = st.text(min_size=3000, max_size=5000)  # past PostgreSQL's btree entry size
lead_like = st.fixed_dictionaries(
    {},
    optional={"name": json_values | long_text, "phone_number": json_values, "car_model": json_values | long_text,
              "campaign": json_values | long_text, "utm_source": json_values, "lead_url": json_values},
).flatmap(lambda base: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
    lambda extra: {**extra, **base}))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(lead_like, json_values))
def test_generated_json_never_5xx_and_201_exactly_when_stored(app, body):
    from webapp.extensions import db
    from webapp.leads.models import Lead
    import sqlalchemy as sa

    client = app.test_client()
    raw = json.dumps(body, allow_nan=True).encode()  # NaN/Infinity included on purpose
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Lead))
    response = client.post(WEBHOOK, data=raw, headers={"X-API-Key": GUIDE_API_KEY,
                                                       "Content-Type": "application/json"})
    with app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(Lead))
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    if response.status_code == 201:
        assert after == before + 1
    else:
        assert response.status_code == 400 and "error" in response.get_json()
        assert after == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_generated_bytes_never_5xx(client, raw):
    response = client.post(WEBHOOK, data=raw, headers={"X-API-Key": GUIDE_API_KEY,
                                                       "Content-Type": "application/json"})
    assert response.status_code in (201, 400) and response.is_json


def _encoded(raw: bytes, codings: list[str]) -> bytes:
    for coding in codings:
        raw = gzip.compress(raw) if coding == "gzip" else zlib.compress(raw)
    return raw


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=300), lead_like.map(lambda body: json.dumps(body).encode())),
       content_type=st.sampled_from([None, "application/json", "text/json", "application/x+json; charset=utf-16",
                                     "application/json; charset=latin-1", "application/json; charset=klingon",
                                     "application/json; charset=shift_jis", "text/plain"]),
       encoding=st.sampled_from(["", "gzip", "deflate", "gzip, deflate", "br"]),
       compressed=st.booleans(), chunked=st.booleans())
def test_generated_bodies_in_any_framing_never_5xx_and_201_exactly_when_stored(app, raw, content_type, encoding,
                                                                              compressed, chunked):
    from webapp.extensions import db
    from webapp.leads.models import Lead
    import sqlalchemy as sa

    headers = {"X-API-Key": GUIDE_API_KEY, "Content-Encoding": encoding}
    if content_type:
        headers["Content-Type"] = content_type
    if compressed and "br" not in encoding:
        raw = _encoded(raw, [coding.strip() for coding in encoding.split(",") if coding])
    framing = {"headers": {**headers, "Transfer-Encoding": "chunked"},
               "environ_overrides": {"wsgi.input_terminated": True}} if chunked else {"headers": headers}
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Lead))
    response = app.test_client().post(WEBHOOK, data=raw, **framing)
    with app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(Lead))
    assert response.status_code in (201, 400, 415), response.get_data(as_text=True)
    assert response.is_json and set(response.get_json()) == ({"message"} if response.status_code == 201 else {"error"})
    assert after == before + (1 if response.status_code == 201 else 0)
