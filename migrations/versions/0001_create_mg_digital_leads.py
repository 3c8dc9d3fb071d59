"""Create public."mg-digital-leads", the table CarDekho's guide names.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE = "mg-digital-leads"


def upgrade():
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False),
                  primary_key=True),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone_number", sa.Text(), nullable=False),
        sa.Column("phone_normalized", sa.Text()),
        sa.Column("car_model", sa.Text()),
        sa.Column("lead_url", sa.Text()),
        sa.Column("campaign", sa.Text()),
        sa.Column("utm_source", sa.Text()),
        sa.Column("utm_medium", sa.Text()),
        sa.Column("utm_campaign", sa.Text()),
        sa.Column("utm_term", sa.Text()),
        sa.Column("utm_content", sa.Text()),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    for column in ("created_at", "phone_normalized", "car_model", "campaign"):
        op.create_index(f"ix_{TABLE}_{column}", TABLE, [column])


def downgrade():
    op.drop_table(TABLE)
