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


STATUS_CODES = ("new", "contacted", "test_drive", "booked", "lost")
LOST_REASON_CODES = ("bought_elsewhere", "not_interested", "budget", "unreachable", "duplicate", "other")
ACTIVITY_KINDS = ("note", "status", "assigned", "call", "whatsapp", "repeat", "escalated", "created")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


# The migration working_the_leads creates these; each serves one list, lookup or queue (see its docstring).
PHONE_DIGITS_SQL = ("replace(replace(replace(replace(replace(replace(phone_number, ' ', ''), '-', ''), '+', ''), "
                    "'(', ''), ')', ''), '.', '')")
WORK_INDEXES = (
    sa.Index("ix_mg-digital-leads_owner_id_status_created_at_id", "owner_id", "status", "created_at", "id"),
    sa.Index("ix_mg-digital-leads_unrouted", "created_at", "id", postgresql_where=sa.text("routed_at IS NULL"),
             sqlite_where=sa.text("routed_at IS NULL")),
    sa.Index("ix_mg-digital-leads_phone_normalized_created_at_id", "phone_normalized", "created_at", "id"),
    sa.Index("ix_mg-digital-leads_phone_digits_created_at_id", sa.text(PHONE_DIGITS_SQL), "created_at", "id",
             postgresql_where=sa.text("phone_normalized IS NULL"), sqlite_where=sa.text("phone_normalized IS NULL")),
    sa.Index("ix_mg-digital-leads_repeat_of_created_at_id", "repeat_of", "created_at", "id",
             postgresql_where=sa.text("repeat_of IS NOT NULL"), sqlite_where=sa.text("repeat_of IS NOT NULL")),
)


class Lead(db.Model):
    """One accepted submission; duplicates are rows too, as the guide says."""

    __tablename__ = "mg-digital-leads"

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    platform: Mapped[str]
    name: Mapped[str]
    phone_number: Mapped[str]
    phone_normalized: Mapped[str | None]
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
    # Working the lead (webapp.leads.pipeline): who owns it, where it stands, whether it is a repeat.
    status: Mapped[str] = mapped_column(default="new", server_default="new")
    lost_reason: Mapped[str | None]
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    repeat_of: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("mg-digital-leads.id"))
    # When the router (webapp.leads.routing) looked for a repeat and an owner; NULL = still waiting for it.
    routed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner = sa.orm.relationship("User", foreign_keys=[owner_id])

    # The dashboard's btree indexes, as the dashboard_indexes migration creates them. Its trigram indexes
    # (GIN on expressions on PostgreSQL, FTS5 on SQLite) live in the migration only: see text_search.py.
    __table_args__ = (
        sa.Index("ix_mg-digital-leads_created_at_id", "created_at", "id"),
        sa.CheckConstraint(_in("status", STATUS_CODES), name="ck_mg-digital-leads_status"),
        sa.CheckConstraint(f"lost_reason IS NULL OR {_in('lost_reason', LOST_REASON_CODES)}",
                           name="ck_mg-digital-leads_lost_reason"),
        sa.CheckConstraint("status <> 'lost' OR lost_reason IS NOT NULL", name="ck_mg-digital-leads_lost_has_reason"),
        *(sa.Index(f"ix_mg-digital-leads_{column}_created_at_id", column, "created_at", "id")
          for column in ("car_model", "campaign", "utm_source")),
        *WORK_INDEXES,
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


class LeadActivity(db.Model):
    """One thing that happened to a lead (a note, a status change, an assignment, a call...); the timeline."""

    __tablename__ = "lead_activity"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", ACTIVITY_KINDS), name="ck_lead_activity_kind"),
        sa.Index("ix_lead_activity_lead_id_created_at", "lead_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    # A lead erased (a person's request under the DPDP Act) takes its timeline with it.
    lead_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("mg-digital-leads.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the system did it
    kind: Mapped[str]
    details: Mapped[dict | None] = mapped_column(JSONPayload)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=sa.func.now())

    user = sa.orm.relationship("User")

    def __repr__(self) -> str:
        return f"<LeadActivity {self.id} {self.kind} lead {self.lead_id}>"
