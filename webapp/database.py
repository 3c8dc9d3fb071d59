"""What every package's tables and queries share: column types, the clock, outages, and engines.

It imports nothing of ours but `webapp.extensions`, so any module may import it.
"""
import logging
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from webapp.extensions import db

# --- Column types and the clock ---------------------------------------------------------------------

# The largest id a BIGINT (PostgreSQL) or an INTEGER (SQLite) column holds: a larger one can match no row.
MAX_ROW_ID = 2**63 - 1


class UTCDateTime(sa.TypeDecorator):
    """A timestamptz that is always an aware UTC datetime in Python, SQLite included."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store UTC; SQLite has no time zones, so it gets naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Read back as aware UTC."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# JSONB on PostgreSQL (indexable, validated); plain JSON text on SQLite.
JSONPayload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


# --- Outages ------------------------------------------------------------------------------------------

# The database is down, restarting, unreachable or too slow: retrying later will work.
DB_OUTAGE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def is_outage(error: Exception) -> bool:
    """A database failure that says nothing about the statement: retrying later will work."""
    # psycopg2 reports some dropped connections as a bare DatabaseError; SQLAlchemy then flags the
    # connection as invalidated, which no constraint or data error ever does.
    return isinstance(error, DB_OUTAGE_ERRORS) or (isinstance(error, sa_exc.DBAPIError)
                                                   and error.connection_invalidated)


def log_background_failure(log: logging.Logger, what: str, error: Exception, retry_seconds: float) -> None:
    """Log a background thread's failed round once: a database outage as one warning line (it is expected
    and the round is retried), anything else with its traceback."""
    if is_outage(error):
        log.warning("%s: database unavailable (%s); retrying every %s s", what, type(error).__name__, retry_seconds)
    else:
        log.error("%s: failed; retrying every %s s", what, retry_seconds, exc_info=error)


def rollback_quietly() -> None:
    """End the session's failed transaction; on a dead connection even that may fail, which must cost nothing."""
    try:
        db.session.rollback()
    except sa_exc.SQLAlchemyError:
        try:
            db.session.close()
        except sa_exc.SQLAlchemyError:
            pass  # the pool drops the broken connection; the next checkout makes a new one


# --- Engines --------------------------------------------------------------------------------------------

# `pool_pre_ping` costs a round trip on every request; under load a connection is never idle long enough to
# have gone stale, so only one that rested longer than this is pinged. A server restart is still noticed
# before the next request after a quiet spell, and during load the first failed query invalidates the whole
# pool (SQLAlchemy's disconnect handling).
PING_AFTER_IDLE_SECONDS = 1.0

# A lead must be answered within 2 s even when the database hangs (accepts and never answers): the webhook
# waits at most this long for a connection, then spools the lead. libpq counts whole seconds; 1 is its least.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1

_MORE_ENGINES = "database_engines"  # app.extensions key: engines an app uses beside Flask-SQLAlchemy's
_AUTOCOMMIT_ENGINE = "autocommit_engine"


def create_webhook_engine(url: str, engine_options: dict) -> sa.Engine:
    """The webhook's engine: on PostgreSQL its connections are in autocommit from the moment they open (a
    one-statement insert is one round trip, and nothing is reset when a connection returns to the pool), it
    waits at most WEBHOOK_CONNECT_TIMEOUT_SECONDS for a connection, and pings only connections that sat idle."""
    if not url.startswith("postgresql"):
        return sa.create_engine(url, **engine_options)
    options = {**engine_options, "isolation_level": "AUTOCOMMIT", "pool_timeout": WEBHOOK_CONNECT_TIMEOUT_SECONDS}
    options["connect_args"] = {**engine_options.get("connect_args", {}),
                               "connect_timeout": WEBHOOK_CONNECT_TIMEOUT_SECONDS}
    engine = sa.create_engine(url, **options)
    ping_idle_connections(engine)
    return engine


def ping_idle_connections(engine: sa.Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a connection at checkout when it has been idle longer than `idle_seconds`; replace it if dead."""

    @sa.event.listens_for(engine, "checkin")
    def _rested_since(dbapi_connection, record):
        record.info["checked_in_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("checked_in_at", float("-inf")) < idle_seconds:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()  # hand it over idle, not inside the transaction the SELECT opened
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError() from error  # the pool retries with a new connection


def first_row_on_driver(engine: sa.Engine, sql: str, values: dict) -> tuple | None:
    """Run `sql` (compiled for `engine`'s driver) on a pooled connection of `engine`; its first row, or None.

    What `Connection.execute` does for one statement, without its per-call bookkeeping (on the webhook's
    insert, a third of the worker's CPU): the pool's checks still run, a connection the server dropped is
    thrown away, and every driver error is raised as SQLAlchemy's, so DB_OUTAGE_ERRORS and is_outage hold.
    """
    dbapi = engine.dialect.loaded_dbapi
    try:
        connection = engine.raw_connection()
    except dbapi.Error as error:  # the server cannot be reached
        raise sa_exc.DBAPIError.instance(sql, None, error, dbapi.Error, hide_parameters=True,
                                         dialect=engine.dialect) from error
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            return cursor.fetchone()
    except dbapi.Error as error:
        gone = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        if gone:
            connection.invalidate(error)
        raise sa_exc.DBAPIError.instance(sql, None, error, dbapi.Error, hide_parameters=True,
                                         connection_invalidated=gone, dialect=engine.dialect) from error
    finally:
        connection.close()


def add_engine(app: Flask, engine: sa.Engine, *, autocommit: bool = False) -> None:
    """Count `engine` among the engines of `app`, so `engines_of` (fork, tests) finds it; `autocommit`: it is
    the one `autocommit_engine` gives (create_webhook_engine's)."""
    app.extensions.setdefault(_MORE_ENGINES, []).append(engine)
    if autocommit:
        app.extensions[_AUTOCOMMIT_ENGINE] = engine


def autocommit_engine() -> sa.Engine:
    """The app's engine whose PostgreSQL connections are in autocommit (the webhook's): a statement that stands
    alone is one round trip, with no BEGIN, COMMIT or ORM bookkeeping around it."""
    from flask import current_app

    return current_app.extensions[_AUTOCOMMIT_ENGINE]


def engines_of(app: Flask) -> list[sa.Engine]:
    """Every engine `app` uses: Flask-SQLAlchemy's, if the app has it, and those given to `add_engine`."""
    engines = []
    if "sqlalchemy" in app.extensions:
        with app.app_context():
            engines.extend(db.engines.values())
    return engines + [engine for engine in app.extensions.get(_MORE_ENGINES, []) if engine not in engines]


def dispose_engines(app: Flask | None = None) -> None:
    """Close the pooled connections of every engine of `app` (default: the app in context)."""
    from flask import current_app

    for engine in engines_of(app or current_app._get_current_object()):
        engine.dispose()
