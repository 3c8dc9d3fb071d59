"""Give every webhook lead a unique intake id, so a spooled lead is never stored twice.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "mg-digital-leads"


def upgrade():
    op.add_column(TABLE, sa.Column("intake_id", sa.Text()))
    # Leads stored before this migration, or by hand, have none; NULLs never collide.
    op.create_index(f"ix_{TABLE}_intake_id", TABLE, ["intake_id"], unique=True)


def downgrade():
    op.drop_index(f"ix_{TABLE}_intake_id", table_name=TABLE)
    op.drop_column(TABLE, "intake_id")
