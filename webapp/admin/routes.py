"""/admin/intake-log (filters, 24 h counts, recovering a rejected lead) and /admin/audit — admins only."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for

from webapp.admin import bp
from webapp.audit import ACTIONS, audit, audit_events
from webapp.auth.access import role_required
from webapp.extensions import db
from webapp.intake.idempotency import REPLAYED
from webapp.intake.intake_log import OUTCOMES, REPAIRED, SPOOLED, IntakeEvent, outcome_counts, recent_events
from webapp.database import MAX_ROW_ID
from webapp.leads.recovery import NotRecoverable, recover_lead
from webapp.leads.submission import InvalidSubmission
from webapp.leads.timezones import to_ist
from webapp.intake.parts import intake_of

PAGE_SIZE = 50


def _page_arg(name: str) -> int | None:
    """A row id from the query string; None for anything else (other digits than 0-9, or too large)."""
    value = request.args.get(name, "")
    number = int(value) if value.isascii() and value.isdigit() else None
    return number if number is not None and number <= MAX_ROW_ID else None


@bp.get("/intake-log")
@role_required("admin")
def intake_log():
    """Every webhook request, newest first, filtered by outcome; counts of the last 24 hours."""
    outcome = request.args.get("outcome") or None
    events = recent_events(outcome=outcome, before_id=_page_arg("before"), limit=PAGE_SIZE)
    return render_template("admin/intake_log.html", events=events, outcome=outcome, counts=outcome_counts(),
                           outcomes=sorted(set(OUTCOMES.values()) | {SPOOLED, REPAIRED, REPLAYED}),
                           backlog=intake_of(current_app).spool.backlog(),
                           next_before=events[-1].id if len(events) == PAGE_SIZE else None)


@bp.get("/intake-log/<id:event_id>")
@role_required("admin")
def intake_event(event_id: int):
    """One request: what was sent and why it was answered so; a form to store it as a lead."""
    event = db.session.get(IntakeEvent, event_id) or abort(404, description=f"No intake log entry #{event_id}")
    body = event.body.decode("utf-8", "replace") if event.body is not None else None
    return render_template("admin/intake_event.html", event=event, body=body)


@bp.post("/intake-log/<id:event_id>/recover")
@role_required("admin")
def recover(event_id: int):
    """Store the lead a rejected request carried (as sent, or as corrected in the form)."""
    corrected = request.form.get("body")
    try:
        recovery = recover_lead(event_id, corrected.encode("utf-8") if corrected is not None else None)
    except (NotRecoverable, InvalidSubmission) as error:
        db.session.rollback()
        flash(f"Not stored: {error}", "error")
        return redirect(url_for("admin.intake_event", event_id=event_id))
    lead = recovery.lead
    audit("lead_recover", target=str(lead.id), details={"intake_log_id": event_id, "corrected": recovery.corrected})
    flash(f"Stored as lead #{lead.id}, received {to_ist(lead.created_at):%Y-%m-%d %H:%M} IST.", "success")
    return redirect(url_for("admin.intake_event", event_id=event_id))


@bp.get("/audit")
@role_required("admin")
def audit_log():
    """Who signed in, exported, viewed a lead or changed an account or key; newest first."""
    action = request.args.get("action") or None
    actor = request.args.get("actor") or None
    events = audit_events(action=action, actor=actor, before_id=_page_arg("before"), limit=PAGE_SIZE)
    return render_template("admin/audit.html", events=events, action=action, actor=actor or "", actions=ACTIONS,
                           next_before=events[-1].id if len(events) == PAGE_SIZE else None)

