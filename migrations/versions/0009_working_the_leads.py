"""Working the leads: status, owner, first contact and repeats on each lead; its activity; who is on duty.

Existing leads read as already routed (`routed_at` 2000-01-01), so the router
does not assign a backlog of old leads. On PostgreSQL that costs nothing: a
column added with a constant default is filled from the catalogue, and the
default is dropped again at once so new leads arrive with NULL (waiting for the
router). SQLite cannot drop a default without rebuilding the table, so it
writes the date into the existing rows once (a development database).

Indexes (each one a list, a lookup or a queue at a million leads):
owner + status in page order ("My new leads"); the router's queue in arrival
order, partial on the unrouted leads (a handful of rows); the repeat lookup by normalised phone
in received order (replacing the phone-only index) and, for the few numbers that
are not valid Indian numbers, by their digits; the enquiries of a first lead.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "mg-digital-leads"
SEARCH_TABLE = "mg-digital-leads-search"
FTS_COLUMNS = ("name", "car_model", "campaign", "phone_normalized", "phone_number")
STATUSES = ("new", "contacted", "test_drive", "booked", "lost")
LOST_REASONS = ("bought_elsewhere", "not_interested", "budget", "unreachable", "duplicate", "other")
ACTIVITY_KINDS = ("note", "status", "assigned", "call", "whatsapp", "repeat", "escalated", "created")
ROUTED_BEFORE = "2000-01-01 00:00:00"
# Must be spelt exactly as webapp.leads.models.PHONE_DIGITS_SQL, or the repeat lookup cannot use the index.
PHONE_DIGITS_SQL = ("replace(replace(replace(replace(replace(replace(phone_number, ' ', ''), '-', ''), '+', ''), "
                    "'(', ''), ')', ''), '.', '')")


def _in(column, values):
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


CHECKS = {
    f"ck_{TABLE}_status": _in("status", STATUSES),
    f"ck_{TABLE}_lost_reason": f"lost_reason IS NULL OR {_in('lost_reason', LOST_REASONS)}",
    f"ck_{TABLE}_lost_has_reason": "status <> 'lost' OR lost_reason IS NOT NULL",
}


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _add_lead_columns_sqlite()
    else:
        _add_lead_columns_postgresql()
    op.add_column("users", sa.Column("on_duty", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("users", sa.Column("last_assigned_at", sa.DateTime(timezone=True)))
    op.create_table(
        "lead_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False),
                  primary_key=True),
        sa.Column("lead_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey(f"{TABLE}.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id")),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(_in("kind", ACTIVITY_KINDS), name="ck_lead_activity_kind"),
    )
    op.create_index("ix_lead_activity_lead_id_created_at", "lead_activity", ["lead_id", "created_at"])
    _create_indexes()


def _add_lead_columns_postgresql():
    op.add_column(TABLE, sa.Column("status", sa.Text(), server_default="new", nullable=False))
    op.add_column(TABLE, sa.Column("lost_reason", sa.Text()))
    for name, condition in CHECKS.items():
        op.create_check_constraint(name, TABLE, condition)
    op.add_column(TABLE, sa.Column("owner_id", sa.Integer()))
    op.create_foreign_key(f"{TABLE}_owner_id_fkey", TABLE, "users", ["owner_id"], ["id"])
    op.add_column(TABLE, sa.Column("assigned_at", sa.DateTime(timezone=True)))
    op.add_column(TABLE, sa.Column("first_contacted_at", sa.DateTime(timezone=True)))
    op.add_column(TABLE, sa.Column("repeat_of", sa.BigInteger()))
    op.create_foreign_key(f"{TABLE}_repeat_of_fkey", TABLE, TABLE, ["repeat_of"], ["id"])
    # Old rows take the default from the catalogue (no rewrite); new rows get NULL once it is dropped.
    op.add_column(TABLE, sa.Column("routed_at", sa.DateTime(timezone=True),
                                   server_default=sa.text(f"'{ROUTED_BEFORE}+00'")))
    op.alter_column(TABLE, "routed_at", server_default=None)


def _add_lead_columns_sqlite():
    # SQLite adds a column with its constraints inline; the batch mode's table copy would drop the search triggers.
    status, reason, has_reason = CHECKS.values()
    columns = (
        f"status TEXT DEFAULT 'new' NOT NULL CONSTRAINT \"ck_{TABLE}_status\" CHECK ({status})",
        f"lost_reason TEXT CONSTRAINT \"ck_{TABLE}_lost_reason\" CHECK ({reason}) "
        f"CONSTRAINT \"ck_{TABLE}_lost_has_reason\" CHECK ({has_reason})",
        "owner_id INTEGER REFERENCES users (id)",
        "assigned_at DATETIME",
        "first_contacted_at DATETIME",
        f'repeat_of INTEGER REFERENCES "{TABLE}" (id)',
        "routed_at DATETIME",
    )
    for column in columns:
        op.execute(f'ALTER TABLE "{TABLE}" ADD COLUMN {column}')
    # Keep the search table in step only when a searched column changes, not on every status change.
    op.execute(f'DROP TRIGGER "{SEARCH_TABLE}-update"')
    op.execute(f'CREATE TRIGGER "{SEARCH_TABLE}-update" AFTER UPDATE OF {", ".join(FTS_COLUMNS)} ON "{TABLE}" '
               f"BEGIN {_fts_remove()} {_fts_add()} END")
    op.execute(f"UPDATE \"{TABLE}\" SET routed_at = '{ROUTED_BEFORE}.000000'")


def _fts_remove():
    columns, old = ", ".join(FTS_COLUMNS), ", ".join(f"old.{column}" for column in FTS_COLUMNS)
    return f"""INSERT INTO "{SEARCH_TABLE}"("{SEARCH_TABLE}", rowid, {columns}) VALUES ('delete', old.id, {old});"""


def _fts_add():
    columns, new = ", ".join(FTS_COLUMNS), ", ".join(f"new.{column}" for column in FTS_COLUMNS)
    return f"""INSERT INTO "{SEARCH_TABLE}"(rowid, {columns}) VALUES (new.id, {new});"""


def _create_indexes():
    op.create_index(f"ix_{TABLE}_owner_id_status_created_at_id", TABLE, ["owner_id", "status", "created_at", "id"])
    unrouted = sa.text("routed_at IS NULL")
    op.create_index(f"ix_{TABLE}_unrouted", TABLE, ["created_at", "id"], postgresql_where=unrouted,
                    sqlite_where=unrouted)
    op.create_index(f"ix_{TABLE}_phone_normalized_created_at_id", TABLE, ["phone_normalized", "created_at", "id"])
    op.drop_index(f"ix_{TABLE}_phone_normalized", TABLE)  # the composite above serves its lookups
    invalid = sa.text("phone_normalized IS NULL")
    op.create_index(f"ix_{TABLE}_phone_digits_created_at_id", TABLE, [sa.text(PHONE_DIGITS_SQL), "created_at", "id"],
                    postgresql_where=invalid, sqlite_where=invalid)
    repeats = sa.text("repeat_of IS NOT NULL")
    op.create_index(f"ix_{TABLE}_repeat_of_created_at_id", TABLE, ["repeat_of", "created_at", "id"],
                    postgresql_where=repeats, sqlite_where=repeats)


def downgrade():
    for name in ("owner_id_status_created_at_id", "unrouted", "phone_digits_created_at_id", "repeat_of_created_at_id"):
        op.drop_index(f"ix_{TABLE}_{name}", TABLE)
    op.create_index(f"ix_{TABLE}_phone_normalized", TABLE, ["phone_normalized"])
    op.drop_index(f"ix_{TABLE}_phone_normalized_created_at_id", TABLE)
    op.drop_table("lead_activity")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_assigned_at")
        batch.drop_column("on_duty")
    columns = ("routed_at", "repeat_of", "first_contacted_at", "assigned_at", "owner_id", "lost_reason", "status")
    if op.get_bind().dialect.name == "postgresql":
        for column in columns:
            op.drop_column(TABLE, column)  # their constraints go with them
        return
    with op.batch_alter_table(TABLE, recreate="always") as batch:
        for name in CHECKS:
            batch.drop_constraint(name, type_="check")
        for column in columns:
            batch.drop_column(column)
    # The copied table has none of the search triggers: 0008's, as they were.
    op.execute(f'CREATE TRIGGER "{SEARCH_TABLE}-insert" AFTER INSERT ON "{TABLE}" BEGIN {_fts_add()} END')
    op.execute(f'CREATE TRIGGER "{SEARCH_TABLE}-delete" AFTER DELETE ON "{TABLE}" BEGIN {_fts_remove()} END')
    op.execute(f'CREATE TRIGGER "{SEARCH_TABLE}-update" AFTER UPDATE ON "{TABLE}" BEGIN {_fts_remove()} {_fts_add()} END')
