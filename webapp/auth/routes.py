"""/login and /logout."""
import hashlib

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from webapp.admin.trail import audit
from webapp.auth import bp
from webapp.auth.access import safe_next_path
from webapp.auth.accounts import authenticate, end_sessions, normalize_email, record_sign_in
from webapp.auth.forms import LoginForm
from webapp.extensions import limiter

SIGN_IN_FAILED = "Email or password is incorrect."
TOO_MANY_ATTEMPTS = "Too many failed sign-in attempts. Please wait a few minutes and try again."


def _limit_per_ip() -> str:
    """Failed sign-ins allowed from one address."""
    return current_app.config.get("LOGIN_RATE_LIMIT_PER_IP", "10 per minute")


def _limit_per_account() -> str:
    """Failed sign-ins allowed for one email, from anywhere."""
    return current_app.config.get("LOGIN_RATE_LIMIT_PER_ACCOUNT", "5 per 15 minutes")


def _submitted_account() -> str:
    """The rate-limit key of the email being tried (whether or not such an account exists)."""
    email = normalize_email(request.form.get("email", ""))
    return "login-account:" + hashlib.sha256(email.encode()).hexdigest()[:24]  # no email in Redis


def _sign_in_failed(response) -> bool:
    """Whether this request was a failed sign-in attempt."""
    # Only failed attempts count, so a showroom sharing one IP can sign in at shift start.
    return g.get("sign_in_failed", False)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_limit_per_ip, methods=["POST"], deduct_when=_sign_in_failed)
@limiter.limit(_limit_per_account, methods=["POST"], key_func=_submitted_account, deduct_when=_sign_in_failed)
def login():
    """Show the sign-in form; on valid credentials start a session and go to `next` (if local)."""
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("dashboard.home"))
    form, error = LoginForm(), None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            session.clear()  # nothing from before sign-in (CSRF token included) carries over
            login_user(user)
            record_sign_in(user)
            audit("sign_in", user=user)
            return redirect(next_path or url_for("dashboard.home"))
        g.sign_in_failed = True
        audit("sign_in_failed", actor=normalize_email(form.email.data))  # who was tried, existing or not
        error = SIGN_IN_FAILED
    return render_template("auth/login.html", form=form, error=error, next_path=next_path)


@bp.errorhandler(429)
def too_many_attempts(limit_error):
    """A person who hit a sign-in limit sees the form again with the reason (Flask-Limiter adds Retry-After)."""
    form = LoginForm(formdata=None, email=request.form.get("email"))
    return render_template("auth/login.html", form=form, error=TOO_MANY_ATTEMPTS,
                           next_path=safe_next_path(request.args.get("next"))), 429


@bp.post("/logout")
def logout():
    """End this account's sessions everywhere, so a copied cookie stops working too."""
    if current_user.is_authenticated:
        audit("sign_out")
        end_sessions(current_user)
        logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
