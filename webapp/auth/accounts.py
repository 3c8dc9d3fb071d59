"""Account operations shared by the sign-in views and the `flask users` commands."""
import logging

import sqlalchemy as sa

from webapp.auth.models import ROLES, User
from webapp.auth.passwords import HashingSlots, hash_password, needs_rehash, password_problem, verify_password
from webapp.extensions import db
from webapp.database import utcnow
from webapp.leads.phones import normalize_phone

log = logging.getLogger(__name__)


class AccountError(ValueError):
    """An account cannot be created or changed; the message says why, for people."""


def normalize_email(email: str) -> str:
    """Emails are compared and stored lowercased and trimmed."""
    return email.strip().lower()


def find_user(email: str) -> User | None:
    """The account with this email, in any letter case, or None."""
    return db.session.scalar(sa.select(User).where(User.email == normalize_email(email)))


def list_users() -> list[User]:
    """Every account, by email."""
    return list(db.session.scalars(sa.select(User).order_by(User.email)))


def create_user(email: str, name: str, role: str, password: str) -> User:
    """Store a new active account after checking every field."""
    email, name = normalize_email(email), name.strip()
    if "@" not in email or any(char.isspace() for char in email):
        raise AccountError(f"{email!r} is not an email address.")
    if not name:
        raise AccountError("Name must not be empty.")
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    if problem := password_problem(password):
        raise AccountError(problem)
    if find_user(email) is not None:
        raise AccountError(f"An account for {email} already exists.")
    user = User(email=email, name=name, role=role, password_hash=hash_password(password),
                active=True, session_version=1)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str, slots: HashingSlots) -> User | None:
    """The active account these credentials open, or None, in about the same time either way.

    Every hash (the check, the dummy check of an unknown email, an upgrade) runs in one of
    `slots`; HashingBusy when none came free.
    """
    user = find_user(email)
    try:
        with slots.hold():
            if not verify_password(user.password_hash if user else None, password) or not user.active:
                return None
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
    except ValueError:  # a stored hash Werkzeug cannot read: no password opens it until one is set again
        log.error("account %s has an unreadable password hash: set a new one with `flask users set-password`",
                  user.id if user else "-")
        return None
    return user


def record_sign_in(user: User) -> None:
    """Remember when this account last signed in."""
    user.last_login_at = utcnow()
    db.session.commit()


def end_sessions(user: User) -> None:
    """Invalidate every session cookie issued to this account so far, copies included."""
    user.session_version += 1
    db.session.commit()


def change_password(user: User, password: str) -> None:
    """Set a new password and sign the account out everywhere."""
    if problem := password_problem(password):
        raise AccountError(problem)
    user.password_hash = hash_password(password)
    end_sessions(user)


def set_active(user: User, active: bool) -> None:
    """Switch an account on or off; switching off also signs it out everywhere."""
    user.active = active
    if active:
        db.session.commit()
    else:
        end_sessions(user)


def set_on_duty(user: User, on: bool) -> None:
    """Put a person on duty (new leads come to them in turn) or off duty (none until back)."""
    user.on_duty = on
    db.session.commit()


def set_mail_settings(user: User, mail_new_leads: bool, phone: str) -> None:
    """A person's own mail settings: a mail for each lead given to them, and their phone (blank: none).

    Raises ValueError with a sentence to show when the phone is not a valid Indian number.
    """
    phone = phone.strip()
    normalized = normalize_phone(phone) if phone else None
    if phone and normalized is None:
        raise ValueError("Enter a valid Indian mobile number (e.g. 98765 43210), or leave it blank.")
    user.mail_new_leads = mail_new_leads
    user.phone = normalized
    db.session.commit()
