"""Request ids: honoured when sane, made otherwise, echoed, and on every log line; no secrets in logs."""
import http.client
import json
import re
import urllib.error
import urllib.request

import pytest

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, migrate_database
from tests.servers import free_port, start_gunicorn, stop


def test_a_request_id_is_made_when_none_is_sent(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("given, honoured", [
    ("b7ad6b7169203331", True),
    ("cardekho:2026-11-28/lead_42@edge=1+x", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("has space", False),
    ('quote"injection', False),
    ("fake\\nline", False),
    ("", False),
])
def test_a_sane_request_id_is_honoured_and_anything_else_replaced(client, given, honoured):
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert (response.headers["X-Request-ID"] == given) is honoured
    assert re.fullmatch(r"[A-Za-z0-9._:@+=/-]{1,128}", response.headers["X-Request-ID"])


def test_rejections_carry_the_request_id_too(post_lead):
    for key in (None, "wrong"):
        assert post_lead(SAMPLE_LEAD, key=key, headers={"X-Request-ID": "r-1"}).headers["X-Request-ID"] == "r-1"


def _send(port: int, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{WEBHOOK}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_app_log_line_has_the_request_id_and_no_key_or_phone_number(tmp_path):
    url = "sqlite:///" + str(tmp_path / "leads.db")
    migrate_database(url)
    port = free_port()
    server = start_gunicorn(port, {"APP_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": url,
                                   "CARDEKHO_API_KEYS": GUIDE_API_KEY, "SPOOL_DIR": str(tmp_path / "spool")},
                            workers=1)
    lead = json.dumps(dict(SAMPLE_LEAD, phone_number="9812345678")).encode()
    try:
        statuses = [
            _send(port, lead, {"X-API-Key": GUIDE_API_KEY, "X-Request-ID": "rid-stored"}),
            _send(port, b'{"phone_number": "9812345678"}', {"X-API-Key": GUIDE_API_KEY, "X-Request-ID": "rid-400"}),
            _send(port, lead, {"X-API-Key": "rk_a-wrong-secret-key", "X-Request-ID": "rid-403"}),
            _send(port, lead, {"X-Request-ID": "rid-401"}),
        ]
    finally:
        log = stop(server)
    assert statuses == [201, 400, 403, 401]
    app_lines = [line for line in log.splitlines() if " webapp" in line]
    for request_id, status in (("rid-stored", 201), ("rid-400", 400), ("rid-403", 403), ("rid-401", 401)):
        [line] = [line for line in app_lines if f"status={status}" in line]
        assert line.endswith(f"request_id={request_id}"), line
    assert all(re.search(r" request_id=\S+$", line) for line in app_lines), app_lines
    for secret in (GUIDE_API_KEY, "rk_a-wrong-secret-key", "9812345678", "+919812345678", "Ravi Kumar"):
        assert secret not in log, f"{secret!r} leaked into the log:\n{log}"


def test_the_access_log_leaves_out_the_open_tabs_nothing_new_and_keeps_everything_else(tmp_path):
    from tests.conftest import make_app
    from webapp.auth.accounts import create_user

    url = "sqlite:///" + str(tmp_path / "leads.db")
    migrate_database(url)
    app = make_app(url, SECRET_KEY="s" * 40)
    with app.app_context():
        session_id = create_user("tab@raam.example", "Tab Person", "sales", "a long enough passphrase").get_id()
    signed_in = {"Cookie": "session=" + app.session_interface.get_signing_serializer(app).dumps({"_user_id": session_id})}
    port = free_port()
    server = start_gunicorn(port, {"APP_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": url,
                                   "CARDEKHO_API_KEYS": GUIDE_API_KEY, "SPOOL_DIR": str(tmp_path / "spool")},
                            workers=1)
    try:
        asks = {query: _get(port, f"/admin/mg-digital-leads/live?{query}", signed_in) for query in ("after=0", "after=x")}
        health = _get(port, "/healthz", {})
    finally:
        log = stop(server)
    assert (asks, health) == ({"after=0": 204, "after=x": 400}, 200)
    assert '"GET /admin/mg-digital-leads/live HTTP/1.1" 400' in log  # a refused ask is logged
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert '" 204 ' not in log  # a tab's "nothing new" is not


def _get(port: int, path: str, headers: dict) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers={"HX-Request": "true", **headers})
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_access_log_filter_lets_gunicorns_own_error_answers_through():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.http.wsgi import Response

    from gunicorn_worker import AccessLogWithoutIdleTabs

    config = Config()
    config.set("accesslog", "-")
    request = SimpleNamespace(method="GET", path="/x", query="", version=(1, 1), headers=[], uri="/x")
    answer = Response(request, None, config)
    answer.status = "500 Internal Server Error"  # what Worker.handle_error sets, without start_response
    answer.response_length = 0
    # Logged before gunicorn writes the 500: an exception here would leave the client without an answer.
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/x", "PATH_INFO": "/x", "QUERY_STRING": "",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}
    AccessLogWithoutIdleTabs(config).access(answer, request, environ, timedelta(0))
