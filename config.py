"""Settings, read from the environment (and a `.env` file), one class per `APP_ENV`.

Development needs no configuration at all; production refuses to start while a
secret is missing. See the configuration table in README.md.
"""
import os
import secrets
from datetime import time, timedelta

from dotenv import load_dotenv
from limits import parse_many

BASE_DIR = os.path.abspath(os.path.dirname(__file__))
load_dotenv(os.path.join(BASE_DIR, ".env"))

# The key printed in CarDekho's integration guide: accepted in development only.
GUIDE_API_KEY = "raam-digital-2025-supersecret-cardekho"


# How new leads get an owner: in turn among the sales people on duty, or only by hand.
ASSIGNMENTS = ("round_robin", "manual")


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message is the one-line reason."""


def normalize_database_url(url: str) -> str:
    """Map every PostgreSQL spelling hosts hand out to the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict:
    """Connection settings that keep a database outage inside CarDekho's 10 s timeout."""
    if url.startswith("postgresql"):
        return {
            "hide_parameters": True,  # SQL errors in logs must not carry names and phone numbers
            "pool_pre_ping": False,  # webapp.database pings only connections that sat idle: one round trip less
            "pool_recycle": 300,
            "pool_timeout": 3,
            # An UPDATE run for many rows (the router's decisions) goes in pages of 100 per round trip.
            "executemany_mode": "values_plus_batch",
            "connect_args": {
                "connect_timeout": 3,
                "options": "-c statement_timeout=5000 -c lock_timeout=3000",
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "tcp_user_timeout": 5000,  # ms; a black-holed network fails fast too
            },
        }
    if url.startswith("sqlite"):
        return {"hide_parameters": True, "connect_args": {"timeout": 5}}
    return {}


def checked_number(env, name: str, default: str, must_be: str, kind=float, minimum=None):
    """`env[name]` (or `default`) read as `kind`, at least `minimum`; else a ConfigError saying what it must be."""
    try:
        value = kind(env.get(name, default))
    except ValueError:
        value = None
    if value is None or (minimum is not None and value < minimum):
        raise ConfigError(f"{name} must be {must_be}")
    return value


def gunicorn_threads(env) -> int:
    """Threads per gunicorn worker (gunicorn.conf.py); the config checks the export slots against it."""
    return checked_number(env, "GUNICORN_THREADS", "4", "a whole number, 1 or more", kind=int, minimum=1)


def checked_limit(name: str, value: str) -> str:
    """A rate-limit string Flask-Limiter understands; a typo must not switch the limit off."""
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate limit such as '120 per minute', not {value!r}") from None
    return value


def split_keys(raw: str) -> list[str]:
    """`CARDEKHO_API_KEYS` is comma-separated so a key can be rotated without downtime."""
    return [key.strip() for key in raw.split(",") if key.strip()]


class Config:
    """Settings shared by every environment; read when the app is created."""

    APP_ENV = "development"

    def __init__(self) -> None:
        env = os.environ
        self.CONFIG_WARNINGS: list[str] = []
        url = env.get("DATABASE_URL") or self.default_database_url()
        self.SQLALCHEMY_DATABASE_URI = normalize_database_url(url)
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SECRET_KEY = env.get("SECRET_KEY") or self.missing_secret_key()
        self.CARDEKHO_API_KEYS = split_keys(env.get("CARDEKHO_API_KEYS", "")) or self.missing_api_keys()
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", "memory://")
        if self.RATELIMIT_STORAGE_URI.startswith(("redis://", "rediss://")):
            # A hung Redis must cost seconds, not the sender's whole timeout.
            self.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
        self.WEBHOOK_RATE_LIMIT = checked_limit("WEBHOOK_RATE_LIMIT", env.get("WEBHOOK_RATE_LIMIT", "120 per minute"))
        self.FAILED_KEY_RATE_LIMIT = checked_limit("FAILED_KEY_RATE_LIMIT", env.get("FAILED_KEY_RATE_LIMIT", "10 per minute"))
        self.API_KEY_CACHE_SECONDS = checked_number(env, "API_KEY_CACHE_SECONDS", "10", "a number of seconds")
        # A negative count would make ProxyFix trust a spoofable X-Forwarded-For.
        self.TRUSTED_PROXY_HOPS = checked_number(env, "TRUSTED_PROXY_HOPS", "0", "a whole number, 0 or more",
                                                 kind=int, minimum=0)
        self.INTAKE_BODY_RETENTION_DAYS = checked_number(env, "INTAKE_BODY_RETENTION_DAYS", "30",
                                                         "a whole number of days", kind=int)
        try:
            self.SILENCE_ALARM_HOURS = float(env.get("SILENCE_ALARM_HOURS", "3"))
            self.BUSINESS_HOURS = env.get("BUSINESS_HOURS", "09:00-20:00")
            opens, closes = (time.fromisoformat(part.strip()) for part in self.BUSINESS_HOURS.split("-"))
            if opens >= closes:
                raise ValueError
        except ValueError:
            raise ConfigError("SILENCE_ALARM_HOURS must be a number and BUSINESS_HOURS like 09:00-20:00 (IST)") \
                from None
        self.SPOOL_DIR = env.get("SPOOL_DIR") or self.default_spool_dir()
        self.SPOOL_DRAIN_INTERVAL = checked_number(env, "SPOOL_DRAIN_INTERVAL", "5", "a number of seconds")
        self.ASSIGNMENT = env.get("ASSIGNMENT", "round_robin").strip()
        if self.ASSIGNMENT not in ASSIGNMENTS:
            raise ConfigError(f"ASSIGNMENT must be one of {', '.join(ASSIGNMENTS)}, not {self.ASSIGNMENT!r}")
        self.REPEAT_WINDOW_DAYS = checked_number(env, "REPEAT_WINDOW_DAYS", "30", "a number of days, 0 or more",
                                                 minimum=0)
        self.FIRST_CONTACT_SLA_MINUTES = checked_number(env, "FIRST_CONTACT_SLA_MINUTES", "5",
                                                        "a number of minutes, more than 0", minimum=0.01)
        # How long a worker reuses its answer to the live list's "which lead is newest?" (every open tab asks it).
        self.LIVE_ANSWER_SECONDS = checked_number(env, "LIVE_ANSWER_SECONDS", "1", "a number of seconds, 0 or more",
                                                  minimum=0)
        self.ESCALATE_AFTER_MINUTES = checked_number(env, "ESCALATE_AFTER_MINUTES", "15",
                                                     "a number of minutes (0: never escalate)", minimum=0)
        self.configure_mail(env)
        self.ROUTE_INTERVAL = checked_number(env, "ROUTE_INTERVAL", "1", "a number of seconds (0: no router thread)",
                                             minimum=0)
        # Below gunicorn's threads per worker: stalled downloads must never hold every thread.
        threads = gunicorn_threads(env)
        self.EXPORTS_PER_WORKER = checked_number(env, "EXPORTS_PER_WORKER", "2", "a whole number, 1 or more",
                                                 kind=int, minimum=1)
        if self.EXPORTS_PER_WORKER >= threads:
            raise ConfigError(f"EXPORTS_PER_WORKER must be below GUNICORN_THREADS ({threads}): a worker needs a "
                              "thread free for CarDekho's leads while its downloads run")
        self.read_sign_in_settings(env)

    def read_sign_in_settings(self, env) -> None:
        """The limits on password guessing and on password hashing (webapp/auth/), from `env`."""
        def limit(name: str, default: str) -> str:
            return checked_limit(name, env.get(name, default))

        # Browsers that never signed in to the account: per address, per account and address, per account.
        self.LOGIN_RATE_LIMIT_PER_IP = limit("LOGIN_RATE_LIMIT_PER_IP", "20 per minute")
        self.LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP = limit("LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP", "5 per 15 minutes")
        self.LOGIN_RATE_LIMIT_PER_ACCOUNT = limit("LOGIN_RATE_LIMIT_PER_ACCOUNT", "10 per hour")
        # A browser holding a device cookie for the account: on its own, whatever the others do.
        self.LOGIN_RATE_LIMIT_PER_DEVICE = limit("LOGIN_RATE_LIMIT_PER_DEVICE", "5 per 15 minutes")
        # Each check holds 128 MiB (scrypt at OWASP's cost), so the cap bounds a worker's memory.
        self.PASSWORD_HASHES_PER_WORKER = checked_number(env, "PASSWORD_HASHES_PER_WORKER", "2",
                                                         "a whole number, 1 or more", kind=int, minimum=1)
        self.PASSWORD_HASH_WAIT_SECONDS = checked_number(env, "PASSWORD_HASH_WAIT_SECONDS", "3",
                                                         "a number of seconds, 0 or more", minimum=0)

    # A real lead is well under 2 KiB; this leaves room for any extra attributes.
    MAX_CONTENT_LENGTH = 256 * 1024
    # After a failed insert the webhook spools every lead at once for this long, then one lead tries the
    # database again: a database that hangs costs one lead a second's wait, not every lead.
    DATABASE_RETRY_SECONDS = 5
    # How much of a rejected body the intake log keeps for recovering the lead.
    INTAKE_BODY_CAP = 64 * 1024
    RATELIMIT_HEADERS_ENABLED = True
    # Exact: never more than the limit in any window's length (one list in Redis per key, one call per hit).
    # The cheaper sliding-window-counter forgives most of a burst made just before a window's edge.
    RATELIMIT_STRATEGY = "moving-window"
    # A Redis outage must not turn into lost leads: count in memory meanwhile.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_KEY_PREFIX = "raam-leads"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # A sign-in lasts a working day: the signed cookie is refused 12 hours after sign-in.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The CSRF token lives as long as the session (which sign-out ends), so a list left open all
    # day on the showroom floor can still sign out and search.
    WTF_CSRF_TIME_LIMIT = None

    def configure_mail(self, env) -> None:
        """Flask-Mail's MAIL_* settings; without MAIL_SERVER mails are written to the log instead."""
        self.MAIL_SERVER = env.get("MAIL_SERVER") or None
        self.MAIL_PORT = checked_number(env, "MAIL_PORT", "25", "a port number", kind=int, minimum=1)
        self.MAIL_USE_TLS = env.get("MAIL_USE_TLS", "").strip().lower() in ("1", "true", "yes", "on")
        self.MAIL_USE_SSL = env.get("MAIL_USE_SSL", "").strip().lower() in ("1", "true", "yes", "on")
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER") or "Raam Lead Desk <leads@localhost>"
        self.MAIL_SUPPRESS_SEND = False  # whether to send is MAIL_SERVER's question, in tests too
        # Seconds between a worker's rounds of sending (0: no sender thread; `flask mail work` sends instead).
        self.MAIL_INTERVAL = checked_number(env, "MAIL_INTERVAL", "5", "a number of seconds, 0 or more", minimum=0)
        self.MAIL_RETRY_SECONDS = checked_number(env, "MAIL_RETRY_SECONDS", "30", "a number of seconds, more than 0",
                                                 minimum=0.01)
        # Where the links in mails point; Render gives each service its address as RENDER_EXTERNAL_URL.
        self.DESK_URL = (env.get("DESK_URL") or env.get("RENDER_EXTERNAL_URL") or "http://127.0.0.1:5000").rstrip("/")

    def default_database_url(self) -> str:
        """The zero-configuration database: a SQLite file under `instance/`."""
        return "sqlite:///" + os.path.join(BASE_DIR, "instance", "leads.db")

    def default_spool_dir(self) -> str:
        """Leads wait here while the database is away; must be on a persistent disk."""
        return os.path.join(BASE_DIR, "instance", "spool")

    def missing_secret_key(self) -> str:
        """Development runs with a random key, so sessions end at every restart."""
        self.CONFIG_WARNINGS.append("SECRET_KEY is not set: using a random key; sessions end at restart")
        return secrets.token_hex(32)

    def missing_api_keys(self) -> list[str]:
        """Development accepts the key printed in CarDekho's guide (keys made by `flask keys` work too)."""
        self.CONFIG_WARNINGS.append("CARDEKHO_API_KEYS is not set: accepting the guide's published key")
        return [GUIDE_API_KEY]


class DevelopmentConfig(Config):
    """`python run.py` on a laptop: SQLite, the guide's key, no setup."""


class TestingConfig(Config):
    """The test suite; tests override the database per test."""

    APP_ENV = "testing"
    TESTING = True

    def missing_secret_key(self) -> str:
        """Tests do not need a warning about the key."""
        return secrets.token_hex(32)

    def missing_api_keys(self) -> list[str]:
        """Tests use the guide's key unless they set their own."""
        return [GUIDE_API_KEY]


class ProductionConfig(Config):
    """gunicorn behind a proxy: every secret comes from the environment."""

    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True

    def default_database_url(self) -> str:
        """Production never falls back to a local file."""
        raise ConfigError("DATABASE_URL is required in production")

    def default_spool_dir(self) -> str:
        """Works, but an app directory is often wiped on deploy: say so."""
        self.CONFIG_WARNINGS.append("SPOOL_DIR is not set: spooling to instance/spool; "
                                    "put it on a persistent disk so leads survive a redeploy")
        return super().default_spool_dir()

    def missing_secret_key(self) -> str:
        """Production refuses to start without a session secret."""
        raise ConfigError("SECRET_KEY is required in production")

    def __init__(self) -> None:
        super().__init__()
        if len(self.SECRET_KEY) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production "
                              "(python -c 'import secrets; print(secrets.token_hex(32))')")

    def missing_api_keys(self) -> list[str]:
        """Production refuses to start without its own CarDekho key."""
        raise ConfigError("CARDEKHO_API_KEYS is required in production")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(app_env: str | None = None) -> Config:
    """The settings object for `APP_ENV` (development when unset)."""
    name = app_env or os.environ.get("APP_ENV", "development")
    if name not in CONFIGS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]()
