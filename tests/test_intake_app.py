"""The webhook as an app of its own: served alone by gunicorn at the same URLs, or mounted in front of the dashboard."""
import json
import re
import urllib.error
import urllib.request

import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, migrate_database
from tests.servers import free_port, post_webhook, start_gunicorn, stop


def _get(port: int, path: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_gunicorn_serves_the_intake_app_alone_at_the_contracts_url_and_nothing_of_the_dashboard(tmp_path):
    url = "sqlite:///" + str(tmp_path / "leads.db")
    migrate_database(url)
    port = free_port()
    server = start_gunicorn(port, {"APP_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": url,
                                   "CARDEKHO_API_KEYS": GUIDE_API_KEY, "SPOOL_DIR": str(tmp_path / "spool")},
                            workers=1, app="run:intake_app")
    try:
        stored = post_webhook(port, SAMPLE_LEAD, GUIDE_API_KEY, {"X-Request-ID": "alone-1"})[0]
        refused = post_webhook(port, SAMPLE_LEAD, "rk_wrong")[0]
        pages = {path: _get(port, path) for path in ("/admin/mg-digital-leads", "/login", "/healthz")}
    finally:
        log = stop(server)
    assert (stored, refused) == (201, 403)
    for path, (status, body, headers) in pages.items():  # the dashboard is not there: the webhook's JSON 404
        assert status == 404 and json.loads(body) == {"error": f"No such endpoint: GET {path}"}, path
        assert "Set-Cookie" not in headers
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text('SELECT name FROM "mg-digital-leads"')).scalars().all() == ["Ravi Kumar"]
        assert connection.execute(sa.text("SELECT outcome FROM intake_log WHERE request_id = 'alone-1'")).scalar() \
            == "stored"
    engine.dispose()
    assert re.search(r"webapp.intake: webhook outcome=stored status=201 .* request_id=alone-1", log), log
