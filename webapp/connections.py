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
