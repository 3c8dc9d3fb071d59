"""The intake log: every webhook answer explained, rejected bodies kept for recovery, then purged."""
import gzip
import json
from datetime import timedelta

import psycopg2.extensions
import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY, engine_options
from tests.conftest import SAMPLE_LEAD, WEBHOOK, make_app
from tests.servers import free_port
from webapp.extensions import db
from webapp.intake.keyring import env_key_label
from webapp.intake.intake_log import IntakeEvent, outcome_counts
from webapp.database import engines_of, utcnow
from webapp.intake.drain import drain_spool
from webapp.intake.parts import intake_of


def _events(app) -> list[IntakeEvent]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(IntakeEvent).order_by(IntakeEvent.id)))
        db.session.expunge_all()
        return rows


def test_a_stored_lead_is_logged_with_its_id_key_label_ip_size_and_request_id(app, post_lead, leads):
    response = post_lead(SAMPLE_LEAD, headers={"X-Request-ID": "cardekho-42"})
    [event] = _events(app)
    [lead] = leads()
    assert (event.status, event.outcome, event.lead_id, event.intake_id) == (201, "stored", lead.id, lead.intake_id)
    assert (event.key_label, event.source_ip, event.request_id) == (env_key_label(GUIDE_API_KEY), "127.0.0.1",
                                                                      "cardekho-42")
    assert event.body_size == len(json.dumps(SAMPLE_LEAD)) and event.body is None and event.reason is None
    assert event.duration_ms is not None and event.received_at == lead.created_at
    assert response.headers["X-Request-ID"] == "cardekho-42"


@pytest.mark.parametrize("key, body, content_type, status, outcome, kept", [
    (None, SAMPLE_LEAD, "application/json", 401, "no_key", False),
    ("wrong-key", SAMPLE_LEAD, "application/json", 403, "bad_key", False),
    (GUIDE_API_KEY, {"name": "Ravi"}, "application/json", 400, "invalid", True),
    (GUIDE_API_KEY, SAMPLE_LEAD, "text/plain", 415, "not_json", True),
])
def test_every_rejection_is_explained_and_authenticated_bodies_are_kept(app, post_lead, key, body, content_type,
                                                                      status, outcome, kept):
    response = post_lead(body, key=key, content_type=content_type)
    assert response.status_code == status
    [event] = _events(app)
    assert (event.status, event.outcome, event.reason) == (status, outcome, response.get_json()["error"])
    assert event.body == (json.dumps(body).encode() if kept else None)
    assert event.key_label == (env_key_label(GUIDE_API_KEY) if key == GUIDE_API_KEY else None)
    assert event.lead_id is None


def test_an_oversized_body_is_kept_capped(app, post_lead):
    body = json.dumps(dict(SAMPLE_LEAD, notes="x" * 300_000))
    assert post_lead(data=body).status_code == 413
    [event] = _events(app)
    assert event.outcome == "too_large" and event.body_size == len(body)
    assert event.body == body.encode()[:64 * 1024] and event.body_truncated


def test_a_rejected_gzip_body_is_kept_decompressed_so_it_can_be_read_and_recovered(app, post_lead):
    body = json.dumps({"name": "Ravi"}).encode()
    assert post_lead(data=gzip.compress(body), headers={"Content-Encoding": "gzip"}).status_code == 400
    [event] = _events(app)
    assert (event.outcome, event.body, event.recoverable) == ("invalid", body, True)


def test_a_rate_limited_lead_is_kept_so_it_can_be_recovered(app_factory, post_lead):
    app = app_factory(WEBHOOK_RATE_LIMIT="1 per minute")
    client = app.test_client()
    assert post_lead(SAMPLE_LEAD, using=client).status_code == 201
    second = dict(SAMPLE_LEAD, name="Sunita Rao")
    assert post_lead(second, using=client).status_code == 429
    stored, limited = _events(app)
    assert (limited.outcome, limited.key_label) == ("rate_limited", env_key_label(GUIDE_API_KEY))
    assert json.loads(limited.body) == second and limited.request_id


def test_a_spooled_lead_is_logged_when_it_is_drained_with_its_receive_time(app, tmp_path):
    down = make_app(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none",
                    SPOOL_DIR=app.config["SPOOL_DIR"])
    response = down.test_client().post(WEBHOOK, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY,
                                                                            "X-Request-ID": "spooled-1"})
    assert response.status_code == 201
    assert _events(app) == []
    with app.app_context():
        drain_spool(intake_of(app).spool, intake_of(app).engine)
        lead_id, created_at = db.session.execute(sa.text('SELECT id, created_at FROM "mg-digital-leads"')).one()
    [event] = _events(app)
    assert (event.status, event.outcome, event.lead_id, event.request_id) == (201, "spooled", lead_id, "spooled-1")
    assert event.reason == "database unavailable: kept in the spool"
    assert abs((event.received_at - utcnow()).total_seconds()) < 60


@pytest.mark.parametrize("raw, headers, repaired", [
    (b'{"name": "Ravi\\u0000 Kumar", "phone_number": "9876543210"}', {}, "NUL characters removed"),
    (b'{"name": "Ravi Kumar", "phone_number": "9876543210", "note": "\\ud800"}', {},
     "lone surrogates replaced with U+FFFD"),
    ('{"name": "Ravi Kumar", "phone_number": "9876543210", "city": "M\xfcnchen"}'.encode("latin-1"),
     {"Content-Type": "application/json; charset=utf-8"}, "bytes that are not valid UTF-8 replaced with U+FFFD"),
], ids=["NUL", "lone surrogate", "not UTF-8"])
def test_a_repaired_lead_is_stored_and_its_row_says_repaired_and_keeps_the_body_as_sent(app, post_lead, leads, raw,
                                                                                       headers, repaired):
    response = post_lead(data=raw, content_type=headers.get("Content-Type", "application/json"))
    assert response.status_code == 201
    [lead] = leads()
    [event] = _events(app)
    assert lead.name == "Ravi Kumar"
    assert (event.status, event.outcome, event.lead_id, event.reason) == (201, "repaired", lead.id,
                                                                          f"repaired: {repaired}")
    assert event.body == raw and not event.body_truncated and not event.recoverable


def test_a_repaired_gzip_lead_keeps_its_decompressed_body(app, post_lead, leads):
    raw = b'{"name": "Ravi\\u0000 Kumar", "phone_number": "9876543210"}'
    assert post_lead(data=gzip.compress(raw), headers={"Content-Encoding": "gzip"}).status_code == 201
    [event] = _events(app)
    assert (event.outcome, event.body, event.lead_id) == ("repaired", raw, leads()[0].id)


def test_a_repaired_lead_spooled_while_the_database_is_down_is_stored_and_its_row_still_says_repaired(app):
    down = make_app(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none",
                    SPOOL_DIR=app.config["SPOOL_DIR"])
    raw = b'{"name": "Ravi\\u0000 Kumar", "phone_number": "9876543210", "note": "a\\udfffb"}'
    response = down.test_client().post(WEBHOOK, data=raw, headers={"X-API-Key": GUIDE_API_KEY,
                                                                    "Content-Type": "application/json"})
    assert response.status_code == 201
    assert _events(app) == []
    with app.app_context():
        assert drain_spool(intake_of(app).spool, intake_of(app).engine).stored == 1
        name, payload = db.session.execute(sa.text('SELECT name, payload FROM "mg-digital-leads"')).one()
    assert name == "Ravi Kumar"
    assert (json.loads(payload) if isinstance(payload, str) else payload)["note"] == "a\ufffdb"
    [event] = _events(app)
    assert (event.status, event.outcome, event.body) == (201, "repaired", raw)
    assert event.reason == ("repaired: NUL characters removed; lone surrogates replaced with U+FFFD; "
                            "database unavailable: kept in the spool")


def test_bodies_are_purged_after_the_retention_period_and_rows_stay(app, post_lead):
    post_lead({"name": "old"})
    post_lead({"name": "new"})
    with app.app_context():
        first_id = min(e.id for e in _events(app))
        db.session.execute(sa.update(IntakeEvent).where(IntakeEvent.id == first_id)
                           .values(received_at=utcnow() - timedelta(days=31)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["intake", "purge"])
    assert result.exit_code == 0 and "purged 1 bodies older than 30 days" in result.output
    old, new = _events(app)
    assert old.body is None and old.reason and json.loads(new.body) == {"name": "new"}
    assert "purged 1" in app.test_cli_runner().invoke(args=["intake", "purge", "--days", "0"]).output


def test_counts_by_outcome_and_reason_for_the_last_24_hours(app, post_lead):
    for _ in range(3):
        post_lead(SAMPLE_LEAD)
    post_lead({"name": "x"})
    post_lead(SAMPLE_LEAD, key="wrong")
    with app.app_context():
        counts = {(c.outcome, c.reason): c.count for c in outcome_counts()}
    assert counts == {("stored", None): 3, ("invalid", "Missing required fields: phone_number"): 1,
                      ("bad_key", "API key invalid"): 1}
    summary = app.test_cli_runner().invoke(args=["intake", "summary"]).output
    assert summary.splitlines()[0].split() == ["3", "stored"]


class RecordingConnection(psycopg2.extensions.connection):
    """A psycopg2 connection that notes the first word of every statement it sends, and every commit."""

    sent: list[str] = []

    def cursor(self, *args, **kwargs):
        """Cursors that note what they execute."""
        kwargs["cursor_factory"] = RecordingCursor
        return super().cursor(*args, **kwargs)

    def commit(self):
        """Note the commit, then commit."""
        RecordingConnection.sent.append("COMMIT")
        return super().commit()


class RecordingCursor(psycopg2.extensions.cursor):
    """See RecordingConnection."""

    def execute(self, query, vars=None):
        """Note the statement's first word, then run it."""
        RecordingConnection.sent.append(query.split()[0].upper())
        return super().execute(query, vars)


def test_a_stored_lead_and_its_log_row_are_one_statement_on_postgresql_one_commit_on_sqlite(app_factory, database_url):
    if database_url.startswith("postgresql"):  # what the driver itself sends, whichever way the app calls it
        options = engine_options(database_url)
        options["connect_args"] = {**options["connect_args"], "connection_factory": RecordingConnection}
        app = app_factory(SQLALCHEMY_ENGINE_OPTIONS=options)
    else:
        app = app_factory()
    post = {"json": SAMPLE_LEAD, "headers": {"X-API-Key": GUIDE_API_KEY}}
    client = app.test_client()
    assert client.post(WEBHOOK, **post).status_code == 201  # warm up: the key list is read once per cache period
    statements = RecordingConnection.sent = []

    def on_execute(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    def on_commit(conn):
        statements.append("COMMIT")

    engines = engines_of(app)  # the dashboard's and the webhook's own
    if not database_url.startswith("postgresql"):
        for each in engines:
            sa.event.listen(each, "before_cursor_execute", on_execute)
            sa.event.listen(each, "commit", on_commit)
    try:
        assert client.post(WEBHOOK, **post).status_code == 201
    finally:
        for each in engines:
            if sa.event.contains(each, "before_cursor_execute", on_execute):
                sa.event.remove(each, "before_cursor_execute", on_execute)
                sa.event.remove(each, "commit", on_commit)
    # No SELECT either: the pool's liveness check is not a statement, and nothing is re-read after the commit.
    if database_url.startswith("postgresql"):
        assert statements == ["WITH"]  # WITH new_lead AS (INSERT ...) INSERT INTO intake_log ..., in autocommit
    else:
        assert statements == ["INSERT", "INSERT", "COMMIT"]
