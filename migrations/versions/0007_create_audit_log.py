"""Create audit_log (sign-ins, exports, lead views, account and key changes) and mark recovered intake rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False),
                  primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Integer()),
        sa.Column("source_ip", sa.Text()),
        sa.Column("target", sa.Text()),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    # An intake row an admin turned into a lead points at it.
    op.add_column("intake_log", sa.Column("recovered_lead_id", sa.BigInteger()))
    op.add_column("intake_log", sa.Column("recovered_at", sa.DateTime(timezone=True)))


def downgrade():
    with op.batch_alter_table("intake_log") as batch:
        batch.drop_column("recovered_at")
        batch.drop_column("recovered_lead_id")
    op.drop_table("audit_log")
