"""API keys: created once, stored hashed, two valid during a rotation, revoked; guessing is slowed per IP."""
import hashlib
import json
import threading

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD, WEBHOOK, make_app
from tests.servers import free_port, start_redis, stop
from webapp.extensions import db
from webapp.intake.parts import intake_of


def _create(app, label: str) -> str:
    result = app.test_cli_runner().invoke(args=["keys", "create", "--label", label])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _post(client, key, ip="198.51.100.7"):
    headers = {} if key is None else {"X-API-Key": key}
    return client.post(WEBHOOK, json=SAMPLE_LEAD, headers=headers, environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def keyed_app(app_factory):
    """An app that re-reads the key table on every request (no cache), so revocation shows at once."""
    return app_factory(API_KEY_CACHE_SECONDS=0)


def test_a_created_key_is_printed_once_stored_only_as_its_hash_and_accepted(keyed_app):
    key = _create(keyed_app, "cardekho-2026-11")
    assert key.startswith("rk_") and len(key) > 40
    with keyed_app.app_context():
        row = db.session.execute(sa.text("SELECT * FROM api_keys")).mappings().one()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps({k: str(v) for k, v in row.items()})
    assert _post(keyed_app.test_client(), key).status_code == 201
    listing = keyed_app.test_cli_runner().invoke(args=["keys", "list"]).output
    assert "cardekho-2026-11" in listing and key not in listing


def test_two_keys_work_during_a_rotation_and_a_revoked_key_is_refused(keyed_app):
    client = keyed_app.test_client()
    old, new = _create(keyed_app, "old"), _create(keyed_app, "new")
    assert [_post(client, old).status_code, _post(client, new).status_code] == [201, 201]
    result = keyed_app.test_cli_runner().invoke(args=["keys", "revoke", "old"])
    assert result.exit_code == 0 and "Revoked 'old'" in result.output
    assert _post(client, old).status_code == 403
    assert _post(client, old).get_json() == {"error": "API key invalid"}
    assert _post(client, new).status_code == 201
    assert _post(client, GUIDE_API_KEY).status_code == 201  # CARDEKHO_API_KEYS keeps working
    listing = keyed_app.test_cli_runner().invoke(args=["keys", "list"]).output.splitlines()
    assert [line.split()[0] for line in listing[1:]] == ["new", "old"]
    assert listing[2].rstrip().endswith("IST") and listing[1].rstrip().endswith("no")


def test_labels_are_unique_and_revoking_an_unknown_label_says_so(keyed_app):
    _create(keyed_app, "cardekho")
    again = keyed_app.test_cli_runner().invoke(args=["keys", "create", "--label", "cardekho"])
    assert again.exit_code != 0 and "exists already" in again.output
    unknown = keyed_app.test_cli_runner().invoke(args=["keys", "revoke", "nobody"])
    assert unknown.exit_code != 0 and "no key labelled 'nobody'" in unknown.output


def test_last_used_is_recorded_at_most_once_a_minute(keyed_app):
    key = _create(keyed_app, "cardekho")
    client = keyed_app.test_client()
    with keyed_app.app_context():
        used = lambda: db.session.execute(sa.text("SELECT last_used_at FROM api_keys")).scalar()  # noqa: E731
        assert used() is None
        _post(client, key)
        first = used()
        assert first is not None
        _post(client, key)
        assert used() == first


def test_the_keys_are_checked_before_the_body_and_answer_as_the_guide_says(keyed_app):
    client = keyed_app.test_client()
    assert _post(client, None).status_code == 401
    assert _post(client, "rk_not-a-key").status_code == 403
    garbage = client.post(WEBHOOK, data=b"\xff not json", content_type="application/json",
                          headers={"X-API-Key": "wrong"})
    assert garbage.status_code == 403  # not 400: the body was never looked at


def test_a_worker_that_starts_during_an_outage_still_knows_the_table_keys(keyed_app, tmp_path):
    key = _create(keyed_app, "cardekho")
    assert _post(keyed_app.test_client(), key).status_code == 201  # reads the keys and saves the list
    spool_dir = keyed_app.config["SPOOL_DIR"]
    # A new worker on the same disk whose database does not answer (nothing listens on this port).
    down = make_app(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none", SPOOL_DIR=spool_dir)
    response = _post(down.test_client(), key)
    assert response.status_code == 201, response.get_json()
    assert _post(down.test_client(), "rk_wrong").status_code == 403
    assert intake_of(down).spool.backlog().waiting == 1
    # With no saved list either, a table key cannot be checked: 503 (retried), never a final 403.
    blind = make_app(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none",
                     SPOOL_DIR=str(tmp_path / "empty"))
    response = _post(blind.test_client(), key)
    assert response.status_code == 503 and "cannot be checked" in response.get_json()["error"]
    assert _post(blind.test_client(), GUIDE_API_KEY).status_code == 201  # env keys need no database
    # However long that lasts, the sender's retries are never counted as key guessing: a 429 would be final.
    limit = int(blind.config["FAILED_KEY_RATE_LIMIT"].split()[0])
    assert {_post(blind.test_client(), key).status_code for _ in range(limit + 3)} == {503}


def test_threads_refreshing_the_key_list_at_once_never_leave_a_torn_file(tmp_path):
    from webapp.intake.breaker import CircuitBreaker
    from webapp.intake.keyring import KeyRing

    path = tmp_path / "api-keys.json"
    lists = [{f"hash-{writer}-{i}": f"label-{writer}" for i in range(200 * (writer + 1))} for writer in range(4)]
    rings = [KeyRing([], 10, str(path), None, CircuitBreaker(5)) for _ in lists]
    for _ in range(50):
        threads = [threading.Thread(target=ring._save_snapshot, args=(hashes,)) for ring, hashes in zip(rings, lists)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert json.loads(path.read_text()) in lists  # one writer's whole list, never a mix or a cut
    assert [p.name for p in tmp_path.iterdir()] == ["api-keys.json"]  # no temporary file left behind


@pytest.fixture
def redis_limits():
    """A private redis-server for the limiter, stopped after the test."""
    port = free_port()
    server = start_redis(port)
    yield f"redis://127.0.0.1:{port}/0"
    stop(server)


def test_failed_keys_are_limited_per_ip_and_never_slow_the_valid_sender(app_factory, redis_limits):
    app = app_factory(RATELIMIT_STORAGE_URI=redis_limits, FAILED_KEY_RATE_LIMIT="5 per minute")
    client = app.test_client()
    attacker, cardekho = "203.0.113.9", "198.51.100.7"
    guesses = [_post(client, f"rk_guess{i}", ip=attacker).status_code for i in range(8)]
    assert guesses == [403] * 5 + [429] * 3
    assert _post(client, None, ip=attacker).status_code == 429
    limited = _post(client, "rk_guess", ip=attacker)
    assert "Rate limit exceeded" in limited.get_json()["error"] and limited.headers["Retry-After"]
    # The valid key from the attacker's own address, and from CarDekho's, goes through.
    assert _post(client, GUIDE_API_KEY, ip=attacker).status_code == 201
    assert [_post(client, GUIDE_API_KEY, ip=cardekho).status_code for _ in range(10)] == [201] * 10
    # CarDekho's address with a wrong key has its own, untouched allowance.
    assert _post(client, "rk_typo", ip=cardekho).status_code == 403
