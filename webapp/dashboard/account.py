"""A person's own page: who they are, whether new leads come to them, and their mail settings."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.audit import audit
from webapp.auth.access import login_required
from webapp.auth.accounts import set_mail_settings, set_on_duty
from webapp.dashboard import bp

DUTY_CHOICES = {"on": True, "off": False}


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Show the account; on POST switch it on or off duty (`on_duty`), or save the mail settings (`form=mail`)."""
    if request.method == "GET":
        return render_template("dashboard/account.html", user=current_user)
    if request.form.get("form") == "mail":
        return _save_mail_settings()
    choice = request.form.get("on_duty", "")
    if choice not in DUTY_CHOICES:
        abort(400, description="Choose on or off duty.")
    set_on_duty(current_user._get_current_object(), DUTY_CHOICES[choice])
    audit("user_duty", target=current_user.email, details={"on_duty": DUTY_CHOICES[choice]})  # as the command does
    flash("You are on duty: new leads come to you in turn." if DUTY_CHOICES[choice]
          else "You are off duty: new leads go to others.", "success")
    return redirect(url_for("dashboard.account"), 303)


def _save_mail_settings():
    wanted = request.form.get("mail_new_leads") == "yes"  # an unticked box sends nothing
    try:
        set_mail_settings(current_user._get_current_object(), wanted, request.form.get("phone", ""))
    except ValueError as error:
        abort(400, description=str(error))
    flash("Saved: a mail for each new lead given to you." if wanted else "Saved: no mails for new leads.", "success")
    return redirect(url_for("dashboard.account"), 303)
