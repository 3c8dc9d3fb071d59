"""Who may see a page: the session loader, `login_required`, `role_required` and safe `next` paths."""
from functools import wraps
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, flash, make_response, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from webapp.auth import bp
from webapp.auth.forms import NOT_A_FORM, sent_as_a_form
from webapp.auth.models import ROLES, User
from webapp.database import MAX_ROW_ID
from webapp.errors import error_response
from webapp.extensions import db, login_manager

login_manager.login_view = "auth.login"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The account behind a session, unless it was switched off or its sessions were ended."""
    account = session_account(session_id)
    return None if account is None else db.session.scalar(sa.select(User).where(User.signed_in_as(*account)))


def session_account(session_id) -> tuple[int, int] | None:
    """(account id, session version) from a session's "id:version" (User.get_id); None for a session from
    before versions existed, or for anything else."""
    user_id, _, version = str(session_id).partition(":")
    numbers = [int(text) for text in (user_id, version) if text.isascii() and text.isdigit()]
    # Beyond MAX_ROW_ID no row can match, and SQLite cannot even compare it.
    return (numbers[0], numbers[1]) if len(numbers) == 2 and max(numbers) <= MAX_ROW_ID else None


@bp.app_context_processor
def lazy_current_user() -> dict:
    """`current_user` for templates, loaded only if one uses it (Flask-Login's own loads it always)."""
    return {"current_user": current_user}


@bp.app_template_global()
def signed_in_user() -> User | None:
    """The account for the page header; None when signed out or the database cannot say."""
    try:
        return current_user if current_user.is_authenticated else None
    except sa.exc.SQLAlchemyError:  # the error page of a database outage still renders
        db.session.rollback()
        return None


def safe_next_path(target: str | None) -> str | None:
    """`target` when it is a path on this site; None for anything a browser could send elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines, so "/\evil" and "/\t/evil" leave the site.
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _page_to_return_to() -> str | None:
    """The page a person was on: for htmx the page itself (HX-Current-URL), not the partial."""
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-Current-URL"):
        try:
            parts = urlsplit(request.headers["HX-Current-URL"])
        except ValueError:  # e.g. "http://[": not a page of ours to return to
            return None
        return safe_next_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    if request.method != "GET":
        return None
    return safe_next_path(request.full_path.rstrip("?"))


@login_manager.unauthorized_handler
def unauthorized():
    """People go to /login; an htmx request gets 401 and HX-Redirect, so no form lands in a table."""
    login_url = url_for("auth.login", next=_page_to_return_to())
    flash("Please sign in to continue.", "info")
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)


@bp.app_errorhandler(CSRFError)
def csrf_failed(error):
    """A form or htmx request whose session expired leads to sign-in, not to a bare 400."""
    if request.endpoint == "auth.login":
        if not sent_as_a_form():
            return error_response(415, NOT_A_FORM)
        flash("The sign-in form expired; please try again.", "info")
        return redirect(url_for("auth.login", next=safe_next_path(request.args.get("next"))))
    if not current_user.is_authenticated:
        return unauthorized()
    return error_response(400, "This form expired or did not come from this site; "
                               "reload the page and try again.")


def login_required(view):
    """Let signed-in accounts through; send everyone else to sign in."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapped


def role_required(*roles: str):
    """Like `login_required`, and answer 403 to a signed-in account without one of `roles`."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"role_required needs roles among {ROLES}, got {roles}")

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403, description=f"This page is for {' and '.join(roles)} accounts; "
                                       f"yours is a {current_user.role} account.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
