"""Operations: readiness report, gunicorn settings, the Render blueprint, and a quick run of the load script."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import IN_CI, SAMPLE_LEAD, TEST_DATABASE_URL
from tests.servers import ROOT, free_port, start_redis, stop
from webapp.extensions import db


def test_readyz_reports_database_spool_limit_store_and_last_lead(client, post_lead):
    ready = client.get("/readyz").get_json()
    assert ready == {"status": "ok", "database": "ok", "last_lead_at": None, "rate_limit_store": "ok",
                     "spool": {"waiting": 0, "failed": 0, "oldest_received_at": None},
                     "silence": {"alarm": False, "quiet_business_hours": None, "threshold_hours": 3.0},
                     "outbox": {"unsent": 0}}
    post_lead(SAMPLE_LEAD)
    assert client.get("/readyz").get_json()["last_lead_at"].startswith("20")


def test_readyz_says_when_the_redis_limit_store_is_unreachable(app_factory):
    port = free_port()
    redis_server = start_redis(port)
    app = app_factory(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    assert client.get("/readyz").get_json()["rate_limit_store"] == "ok"
    stop(redis_server)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["rate_limit_store"] == "unreachable"


def _gunicorn_conf(monkeypatch, **env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("gunicorn_conf", os.path.join(ROOT, "gunicorn.conf.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_workers_come_from_web_concurrency_and_bind_to_port(monkeypatch):
    conf = _gunicorn_conf(monkeypatch, WEB_CONCURRENCY="4", PORT="10000")
    assert (conf.workers, conf.bind, conf.preload_app) == (4, "0.0.0.0:10000", True)
    assert conf.timeout > 10  # never kill a worker inside the sender's own timeout
    assert "request_id=%({x-request-id}o)s" in conf.access_log_format and "%(q)s" not in conf.access_log_format


def test_post_fork_gives_the_worker_a_fresh_pool_without_closing_the_masters_connections(monkeypatch, app):
    conf = _gunicorn_conf(monkeypatch)
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.remove()
        pool = db.engine.pool
        assert pool.checkedin() == 1  # a connection the master made before forking
        parents_connection = pool._pool.queue[0].dbapi_connection
    monkeypatch.setitem(sys.modules, "run", type("run", (), {"app": app}))
    conf.post_fork(server=None, worker=None)
    with app.app_context():
        assert db.engine.pool is not pool and db.engine.pool.checkedin() == 0
    if hasattr(parents_connection, "closed"):  # psycopg2: the parent's socket was left open for the parent
        assert not parents_connection.closed
        parents_connection.close()


def test_render_blueprint_wires_the_web_service_database_key_value_store_and_proxy_hops():
    blueprint = yaml.safe_load(open(os.path.join(ROOT, "render.yaml")))
    services = {service["name"]: service for service in blueprint["services"]}
    web = services["raam-group-all-websites"]  # the host name in the guide's URL
    env = {var["key"]: var for var in web["envVars"]}
    assert web["preDeployCommand"] == "flask --app run db upgrade"
    assert web["startCommand"] == "gunicorn -c gunicorn.conf.py run:app"
    assert web["healthCheckPath"] == "/healthz"
    assert env["TRUSTED_PROXY_HOPS"]["value"] == "1" and env["APP_ENV"]["value"] == "production"
    assert env["SPOOL_DIR"]["value"].startswith(web["disk"]["mountPath"] + "/")  # on the persistent disk
    assert env["CARDEKHO_API_KEYS"] == {"key": "CARDEKHO_API_KEYS", "sync": False}  # never in the repository
    assert env["SECRET_KEY"]["generateValue"] is True
    store = env["RATELIMIT_STORAGE_URI"]["fromService"]
    assert store["type"] == "keyvalue" and services[store["name"]]["type"] == "keyvalue"
    assert env["DATABASE_URL"]["fromDatabase"]["name"] in {d["name"] for d in blueprint["databases"]}
    cron = [s for s in blueprint["services"] if s["type"] == "cron"]
    assert [(c["startCommand"], c["schedule"]) for c in cron] == [("flask --app run intake purge", "30 20 * * *"),
                                                                  ("flask --app run reports daily", "30 3 * * *")]


def test_the_load_script_quick_run_no_errors_shared_limit_every_201_a_row():
    result = subprocess.run(
        [sys.executable, "scripts/load_test.py", "--senders", "20", "--requests-each", "3",
         "--rate-limit", "30 per minute", "--json",
         "--admin-url", TEST_DATABASE_URL.replace("+psycopg2", "")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "redis-server is not installed" in result.stderr and not IN_CI:
        pytest.skip("redis-server is not installed")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["statuses"] == {"201": 30, "429": 30}
    assert report["rows"] == 30 and report["created_without_row"] == 0
    assert report["serving_workers"] >= 2  # several workers served, and still only 30 got through
    assert all(report["checks"].values())
