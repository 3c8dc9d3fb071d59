"""Configuration: zero-setup development, production that refuses to start without its secrets."""
import logging
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY, load_config, normalize_database_url, split_keys
from tests.conftest import migrate_database
from webapp import create_app
from webapp.database import dispose_engines
from webapp.extensions import db

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ("APP_ENV", "DATABASE_URL", "SECRET_KEY", "CARDEKHO_API_KEYS", "RATELIMIT_STORAGE_URI",
            "WEBHOOK_RATE_LIMIT", "TRUSTED_PROXY_HOPS", "SPOOL_DIR", "SPOOL_DRAIN_INTERVAL",
            "FAILED_KEY_RATE_LIMIT", "API_KEY_CACHE_SECONDS", "INTAKE_BODY_RETENTION_DAYS", "SILENCE_ALARM_HOURS",
            "BUSINESS_HOURS", "EXPORTS_PER_WORKER", "GUNICORN_THREADS", "LOGIN_RATE_LIMIT_PER_IP",
            "LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP", "LOGIN_RATE_LIMIT_PER_ACCOUNT", "LOGIN_RATE_LIMIT_PER_DEVICE",
            "PASSWORD_HASHES_PER_WORKER", "PASSWORD_HASH_WAIT_SECONDS")


@pytest.fixture
def clean_env(monkeypatch):
    """No setting from the environment: what a newcomer has."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db:5432/leads", "postgresql+psycopg2://u:p@db:5432/leads"),
    ("postgresql://u@db/leads", "postgresql+psycopg2://u@db/leads"),
    ("postgresql+psycopg2://u@db/leads", "postgresql+psycopg2://u@db/leads"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_every_postgres_spelling_uses_psycopg2(given, expected):
    assert normalize_database_url(given) == expected


def test_api_keys_are_comma_separated_for_rotation():
    assert split_keys(" old-key , new-key,, ") == ["old-key", "new-key"]


def test_development_needs_no_configuration_and_says_what_it_assumed(clean_env, caplog):
    with caplog.at_level(logging.WARNING, logger="webapp"):
        app = create_app({"APP_ENV": "development"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///" + os.path.join(ROOT, "instance", "leads.db")
    assert app.config["CARDEKHO_API_KEYS"] == [GUIDE_API_KEY]
    assert len(app.config["SECRET_KEY"]) >= 32
    assert app.config["WEBHOOK_RATE_LIMIT"] == "120 per minute"
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert app.config["TRUSTED_PROXY_HOPS"] == 0
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "SECRET_KEY is not set" in warnings and "CARDEKHO_API_KEYS is not set" in warnings


def test_development_secret_is_random_per_start(clean_env):
    assert load_config("development").SECRET_KEY != load_config("development").SECRET_KEY


def test_environment_settings_are_read(clean_env):
    clean_env.setenv("CARDEKHO_API_KEYS", "k1,k2")
    clean_env.setenv("WEBHOOK_RATE_LIMIT", "60 per minute")
    clean_env.setenv("TRUSTED_PROXY_HOPS", "1")
    clean_env.setenv("DATABASE_URL", "postgres://u@h/d")
    config = load_config("development")
    assert config.CARDEKHO_API_KEYS == ["k1", "k2"]
    assert config.WEBHOOK_RATE_LIMIT == "60 per minute"
    assert config.TRUSTED_PROXY_HOPS == 1
    assert config.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg2://u@h/d"


def _start_production(env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run([sys.executable, "-c", "import run"], cwd=ROOT, env={**base, "APP_ENV": "production",
                          **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "CARDEKHO_API_KEYS", "DATABASE_URL"])
def test_production_refuses_to_start_with_a_one_line_reason(missing, tmp_path):
    env = {"SECRET_KEY": "s" * 40, "CARDEKHO_API_KEYS": "prod-key",
           "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    del env[missing]
    result = _start_production(env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Refusing to start: {missing} is required in production"]


def test_production_starts_when_configured_and_does_not_accept_the_guides_key(tmp_path, clean_env):
    env = {"SECRET_KEY": "s" * 40, "CARDEKHO_API_KEYS": "prod-key", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = _start_production(env)
    assert result.returncode == 0, result.stderr
    migrate_database(env["DATABASE_URL"])  # production runs `flask db upgrade` first (keys live in a table)
    for name, value in env.items():
        clean_env.setenv(name, value)
    app = create_app({"APP_ENV": "production"})
    refused = app.test_client().post("/admin/mg-digital-leads/source/cardekho", json={},
                                     headers={"X-API-Key": GUIDE_API_KEY})
    assert refused.status_code == 403  # the published key opens nothing in production
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_spool_dir_defaults_to_instance_and_production_warns_it_needs_a_persistent_disk(clean_env, caplog):
    assert load_config("development").SPOOL_DIR == os.path.join(ROOT, "instance", "spool")
    assert load_config("development").SPOOL_DRAIN_INTERVAL == 5
    for name, value in {"SECRET_KEY": "s" * 40, "CARDEKHO_API_KEYS": "k", "DATABASE_URL": "sqlite://"}.items():
        clean_env.setenv(name, value)
    assert any("persistent disk" in w for w in load_config("production").CONFIG_WARNINGS)
    clean_env.setenv("SPOOL_DIR", "/var/data/spool")
    clean_env.setenv("SPOOL_DRAIN_INTERVAL", "2.5")
    config = load_config("production")
    assert (config.SPOOL_DIR, config.SPOOL_DRAIN_INTERVAL, config.CONFIG_WARNINGS) == ("/var/data/spool", 2.5, [])


def test_unknown_app_env_is_refused(clean_env):
    from config import ConfigError
    with pytest.raises(ConfigError, match="APP_ENV must be one of"):
        load_config("staging")


def test_postgres_urls_connect_through_psycopg2(postgresql_url, clean_env):
    bare = postgresql_url.replace("postgresql+psycopg2://", "postgres://")
    clean_env.setenv("DATABASE_URL", bare)
    app = create_app({"APP_ENV": "testing"})
    with app.app_context():
        assert db.engine.dialect.driver == "psycopg2"
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
        dispose_engines()


@pytest.mark.parametrize("setting, value, reason", [
    ("WEBHOOK_RATE_LIMIT", "banana", "WEBHOOK_RATE_LIMIT must be a rate limit"),
    ("TRUSTED_PROXY_HOPS", "-1", "TRUSTED_PROXY_HOPS must be a whole number, 0 or more"),
    ("SECRET_KEY", "short", "SECRET_KEY must be at least 32 characters in production"),
    ("EXPORTS_PER_WORKER", "0", "EXPORTS_PER_WORKER must be a whole number, 1 or more"),
    ("EXPORTS_PER_WORKER", "4", "EXPORTS_PER_WORKER must be below GUNICORN_THREADS (4)"),
    ("GUNICORN_THREADS", "many", "GUNICORN_THREADS must be a whole number, 1 or more"),
    ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "10 a fortnight", "LOGIN_RATE_LIMIT_PER_ACCOUNT must be a rate limit"),
    ("PASSWORD_HASHES_PER_WORKER", "0", "PASSWORD_HASHES_PER_WORKER must be a whole number, 1 or more"),
])
def test_production_refuses_unsafe_settings(setting, value, reason, tmp_path):
    env = {"SECRET_KEY": "s" * 40, "CARDEKHO_API_KEYS": "prod-key", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
           setting: value}
    result = _start_production(env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Refusing to start: {reason}")
