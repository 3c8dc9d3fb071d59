"""Pooled database connections are checked before use only after they sat idle.

`pool_pre_ping` costs a round trip on every request; under load a connection is
never idle long enough to have gone stale, so only one that rested longer than
`PING_AFTER_IDLE_SECONDS` is pinged. A server restart is still noticed before
the next request after a quiet spell, and during load the first failed query
invalidates the whole pool (SQLAlchemy's disconnect handling).
"""
import time

import sqlalchemy as sa

PING_AFTER_IDLE_SECONDS = 1.0

# The webhook's one-statement insert (webapp.intake.store.insert_lead) runs on an engine of its own whose
# connections are in autocommit from the moment they open. Switching a pooled connection to autocommit per
# use made SQLAlchemy switch it back as it returned to the pool; when the database went away in between,
# that reset raised, the request got a 500 and the pool never got its slot back (after 15, every
# checkout waited and failed).
AUTOCOMMIT_BIND = "autocommit"


# A lead must be answered within 2 s even when the database hangs (accepts and never answers): the webhook
# waits at most this long for a connection, then spools the lead. libpq counts whole seconds; 1 is its least.
WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1


def autocommit_bind(url: str, engine_options: dict) -> dict:
    """Flask-SQLAlchemy bind options for the autocommit engine: the app's engine options (binds do not
    inherit them), a pool of its own, and short waits for a connection."""
    options = {**engine_options, "url": url, "isolation_level": "AUTOCOMMIT"}
    options["pool_timeout"] = WEBHOOK_CONNECT_TIMEOUT_SECONDS
    options["connect_args"] = {**engine_options.get("connect_args", {}),
                               "connect_timeout": WEBHOOK_CONNECT_TIMEOUT_SECONDS}
    return options


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


def dispose_engines() -> None:
    """Close the pooled connections of every engine of the app in context (the default and the autocommit one)."""
    from webapp.extensions import db

    for engine in db.engines.values():
        engine.dispose()


def webhook_engine() -> sa.Engine:
    """The engine the webhook reaches the database through: the autocommit one (short waits) when there is one."""
    from webapp.extensions import db

    return db.engines.get(AUTOCOMMIT_BIND, db.engine)
