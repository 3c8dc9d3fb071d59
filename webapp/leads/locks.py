"""Read-check-write on a lead without a race, on both databases.

PostgreSQL locks the rows read `FOR UPDATE`. SQLite has no row locks and
ignores `FOR UPDATE`; its writers take turns on the whole database, so a
transaction that must not see its reads go stale takes the write lock first.
"""
import sqlalchemy as sa

from webapp.extensions import db


def take_write_lock() -> None:
    """On SQLite, hold the database's write lock from now until commit or rollback (PostgreSQL: nothing)."""
    if db.session.get_bind().dialect.name == "sqlite":
        # A write statement starts the transaction as a writer even when it changes no row.
        db.session.execute(sa.text("UPDATE users SET id = id WHERE 0"))


def locked(query: sa.Select) -> sa.Select:
    """`query` reading rows this transaction will change: locked on PostgreSQL, fresh in the session."""
    take_write_lock()
    # NO KEY UPDATE: a foreign key check on the row (an activity row, a lead given to this user) need not wait.
    return query.with_for_update(key_share=True).execution_options(populate_existing=True)
