"""The `users` table: who may sign in to the dashboard, and with which role."""
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.database import UTCDateTime, utcnow

ROLES = ("sales", "manager", "admin")


class User(UserMixin, db.Model):
    """One person's account; `session_version` ends every session of it when bumped."""

    __tablename__ = "users"
    __table_args__ = (
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("role IN ('sales', 'manager', 'admin')", name="ck_users_role"),
    )

    id: Mapped[int] = mapped_column(sa.Identity(), primary_key=True)
    email: Mapped[str]  # stored lowercased, so the unique constraint is case-insensitive
    name: Mapped[str]
    password_hash: Mapped[str]
    role: Mapped[str]
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    session_version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=sa.func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Round robin (webapp.leads.routing): new leads go to active sales people on duty, longest unassigned first.
    on_duty: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The person's own settings: a mail for each lead given to them, and their phone for the mails' Call link.
    mail_new_leads: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    phone: Mapped[str | None]

    @property
    def is_active(self) -> bool:
        """Flask-Login refuses to sign in an account that is switched off."""
        return self.active

    def get_id(self) -> str:
        """The session stores "id:version", so a bumped version disowns every earlier cookie."""
        return f"{self.id}:{self.session_version}"

    def has_role(self, *roles: str) -> bool:
        """True when this account holds one of `roles`."""
        return self.role in roles

    @classmethod
    def signed_in_as(cls, user_id: int, session_version: int):
        """SQL: the account a session of (id, version) belongs to, while it is on and that session not ended."""
        return sa.and_(cls.id == user_id, cls.session_version == session_version, cls.active)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
