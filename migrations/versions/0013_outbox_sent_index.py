"""An index on the sent mails' outbox.sent_at: each mail round deletes the mails sent more than KEEP_SENT
(30 days) ago, and finds them here instead of reading the whole outbox.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"], postgresql_where=sa.text("sent_at IS NOT NULL"),
                    sqlite_where=sa.text("sent_at IS NOT NULL"))


def downgrade():
    op.drop_index("ix_outbox_sent_at", "outbox")
