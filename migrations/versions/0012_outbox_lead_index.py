"""An index on outbox.lead_id: deleting a lead cascades to its mails, and without it every deleted lead
read the whole outbox (deleting the benchmark's 230,000 webhook leads did not finish in 7 minutes).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_outbox_lead_id", "outbox", ["lead_id"])


def downgrade():
    op.drop_index("ix_outbox_lead_id", "outbox")
