"""Create intake_log: one row per webhook request explaining its answer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "intake_log"


def upgrade():
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False),
                  primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("source_ip", sa.Text()),
        sa.Column("key_label", sa.Text()),
        sa.Column("request_id", sa.Text()),
        sa.Column("body_size", sa.Integer()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("lead_id", sa.BigInteger()),
        sa.Column("intake_id", sa.Text()),
        sa.Column("body", sa.LargeBinary()),
        sa.Column("body_truncated", sa.Boolean(), nullable=False),
    )
    for column in ("received_at", "outcome", "lead_id"):
        op.create_index(f"ix_{TABLE}_{column}", TABLE, [column])


def downgrade():
    op.drop_table(TABLE)
