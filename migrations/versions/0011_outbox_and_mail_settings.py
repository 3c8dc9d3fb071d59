"""Mails from a durable outbox: the outbox table; each person's mail settings; when a lead was escalated.

`outbox` rows are written in the same transaction as what caused them (an
assignment, an escalation, the daily summary) and sent by each worker's mail
sender. The partial index holds only unsent rows, so claiming the next one
stays a seek however many were sent.

`users.mail_new_leads` (default yes) and `users.phone` (for the Call link on
mails) are the person's own settings. `mg-digital-leads.escalated_at` makes an
escalation happen once per lead (a conditional UPDATE claims it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, sa.Identity(always=False), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("recipients", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text()),
        sa.Column("lead_id", BIG_ID, sa.ForeignKey("mg-digital-leads.id", ondelete="CASCADE")),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
    )
    unsent = sa.text("sent_at IS NULL")
    op.create_index("ix_outbox_unsent", "outbox", ["next_attempt_at", "id"], postgresql_where=unsent,
                    sqlite_where=unsent)
    op.add_column("users", sa.Column("mail_new_leads", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("users", sa.Column("phone", sa.Text()))
    op.add_column("mg-digital-leads", sa.Column("escalated_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
        batch.drop_column("mail_new_leads")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("mg-digital-leads", "escalated_at")
    else:
        op.execute('ALTER TABLE "mg-digital-leads" DROP COLUMN escalated_at')  # SQLite 3.35+, no table copy
    op.drop_index("ix_outbox_unsent", "outbox")
    op.drop_table("outbox")
