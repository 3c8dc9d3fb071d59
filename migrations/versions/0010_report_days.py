"""Per-day summaries for the reports page: report_days, report_repeats, report_marks.

They are derived data (webapp/leads/report_days.py says how they stay
correct): empty after this migration, filled when a report first asks for a
day, or all at once by `flask reports rebuild`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "report_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("contact_seconds", sa.LargeBinary(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "report_repeats",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("lead_id", BIG_ID, primary_key=True),
        sa.Column("repeat_of", BIG_ID, nullable=False),
    )
    op.create_index("ix_report_repeats_repeat_of_day", "report_repeats", ["repeat_of", "day"])
    op.create_table(
        "report_marks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("lead_mark", BIG_ID, nullable=False),
        sa.Column("activity_mark", BIG_ID, nullable=False),
        sa.Column("next_lead_mark", BIG_ID, nullable=False),
        sa.Column("next_activity_mark", BIG_ID, nullable=False),
        sa.Column("next_marks_at", sa.DateTime(timezone=True)),
    )


def downgrade():
    op.drop_table("report_marks")
    op.drop_table("report_repeats")
    op.drop_table("report_days")
