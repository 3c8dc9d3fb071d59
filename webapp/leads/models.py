"""The `public."mg-digital-leads"` table."""
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db

# The largest id a BIGINT (PostgreSQL) or an INTEGER (SQLite) column holds: a larger one can match no row.
MAX_ROW_ID = 2**63 - 1


class UTCDateTime(sa.TypeDecorator):
    """A timestamptz that is always an aware UTC datetime in Python, SQLite included."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store UTC; SQLite has no time zones, so it gets naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Read back as aware UTC."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# JSONB on PostgreSQL (indexable, validated); plain JSON text on SQLite.
JSONPayload = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Lead(db.Model):
    """One accepted submission; duplicates are rows too, as the guide says."""

    __tablename__ = "mg-digital-leads"

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    platform: Mapped[str]
    name: Mapped[str]
    phone_number: Mapped[str]
    phone_normalized: Mapped[str | None] = mapped_column(index=True)
    car_model: Mapped[str | None]
    lead_url: Mapped[str | None]
    campaign: Mapped[str | None]
    utm_source: Mapped[str | None]
    utm_medium: Mapped[str | None]
    utm_campaign: Mapped[str | None]
    utm_term: Mapped[str | None]
    utm_content: Mapped[str | None]
    payload: Mapped[dict] = mapped_column(JSONPayload)
    # Given when the webhook receives the lead; unique, so a spooled copy is inserted once.
    intake_id: Mapped[str | None] = mapped_column(index=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=sa.func.now()
    )

    # The dashboard's btree indexes, as the dashboard_indexes migration creates them. Its trigram indexes
    # (GIN on expressions on PostgreSQL, FTS5 on SQLite) live in the migration only: see text_search.py.
    __table_args__ = (
        sa.Index("ix_mg-digital-leads_created_at_id", "created_at", "id"),
        *(sa.Index(f"ix_mg-digital-leads_{column}_created_at_id", column, "created_at", "id")
          for column in ("car_model", "campaign", "utm_source")),
    )

    def __repr__(self) -> str:
        return f"<Lead {self.id} {self.platform}>"


class LeadExport(db.Model):
    """One CSV export: who took which leads and when (personal data leaving the system)."""

    __tablename__ = "lead_exports"

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    filters: Mapped[dict] = mapped_column(sa.JSON())
    row_count: Mapped[int | None]
    completed: Mapped[bool] = mapped_column(default=False)

    user = sa.orm.relationship("User", lazy="joined")
