"""A person's own page: who they are, and the switch that says whether new leads come to them."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.audit import audit
from webapp.auth.access import login_required
from webapp.auth.accounts import set_on_duty
from webapp.dashboard import bp

DUTY_CHOICES = {"on": True, "off": False}


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Show the account; on POST switch it on or off duty (`on_duty` = on|off)."""
    if request.method == "POST":
        choice = request.form.get("on_duty", "")
        if choice not in DUTY_CHOICES:
            abort(400, description="Choose on or off duty.")
        set_on_duty(current_user._get_current_object(), DUTY_CHOICES[choice])
        audit("user_duty", target=current_user.email, details={"on_duty": DUTY_CHOICES[choice]})  # as the command does
        flash("You are on duty: new leads come to you in turn." if DUTY_CHOICES[choice]
              else "You are off duty: new leads go to others.", "success")
        return redirect(url_for("dashboard.account"), 303)
    return render_template("dashboard/account.html", user=current_user)
