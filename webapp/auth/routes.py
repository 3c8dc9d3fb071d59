"""/login and /logout."""
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from webapp.audit import audit
from webapp.auth import bp
from webapp.auth.access import safe_next_path
from webapp.auth.accounts import authenticate, end_sessions, normalize_email, record_sign_in
from webapp.auth.devices import (DEVICE_COOKIE, DEVICE_COOKIE_LIFETIME, DEVICE_COOKIE_PATH, Device,
                                 device_cookie_value, new_device, read_device)
from webapp.auth.forms import NOT_A_FORM, LoginForm, sent_as_a_form
from webapp.auth.passwords import HashingBusy
from webapp.auth.sign_in_limits import SignInAttempt, account_key
from webapp.errors import error_response

SIGN_IN_FAILED = "Email or password is incorrect."
TOO_MANY_ATTEMPTS = "Too many sign-in attempts. Please wait a few minutes and try again."
SIGN_IN_BUSY = "Sign-in is busy right now. Please try again in a few seconds."
BUSY_RETRY_SECONDS = 5


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; on valid credentials start a session and go to `next` (if local)."""
    next_path = safe_next_path(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_path or url_for("dashboard.home"))
    if request.method == "POST" and not sent_as_a_form():
        return error_response(415, NOT_A_FORM)
    form, error = LoginForm(), None
    if form.validate_on_submit():
        email = normalize_email(form.email.data)
        device = read_device(request.cookies.get(DEVICE_COOKIE), current_app.secret_key)
        attempt = SignInAttempt(account=account_key(email), address=request.remote_addr, device=device)
        retry_after = current_app.extensions["sign_in_limits"].admit(attempt)
        if retry_after is not None:
            return _form_again(form, next_path, TOO_MANY_ATTEMPTS, 429, retry_after)
        try:
            user = authenticate(email, form.password.data, current_app.extensions["password_slots"])
        except HashingBusy:
            return _form_again(form, next_path, SIGN_IN_BUSY, 503, BUSY_RETRY_SECONDS)
        if user is not None:
            return _signed_in(user, device or new_device(), attempt.account, next_path)
        audit("sign_in_failed", actor=email)  # who was tried, existing or not
        error = SIGN_IN_FAILED
    return render_template("auth/login.html", form=form, error=error, next_path=next_path)


def _signed_in(user, device: Device, account: str, next_path: str | None):
    """Start the session and remember this browser for the account (its device cookie)."""
    session.clear()  # nothing from before sign-in (CSRF token included) carries over
    login_user(user)
    record_sign_in(user)
    audit("sign_in", user=user)
    response = redirect(next_path or url_for("dashboard.home"))
    response.set_cookie(DEVICE_COOKIE, device_cookie_value(device.signed_in_to(account), current_app.secret_key),
                        max_age=DEVICE_COOKIE_LIFETIME, path=DEVICE_COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def _form_again(form: LoginForm, next_path: str | None, message: str, status: int, retry_after: int):
    """The sign-in form with `message`, answered with `status` and a Retry-After."""
    page = render_template("auth/login.html", form=form, error=message, next_path=next_path)
    return page, status, {"Retry-After": str(retry_after)}


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
