"""The `public."mg-digital-leads"` table."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database import BigId, JSONPayload, UTCDateTime, utcnow
from webapp.extensions import db


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
