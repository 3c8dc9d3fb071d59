"""The banner signed-in people see when leads may be going missing: silence, or a spool backlog."""
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from webapp.admin import bp
from webapp.leads.silence import BusinessHours, check_silence
from webapp.database import rollback_quietly
from webapp.leads.search import last_lead_time
from webapp.intake.parts import intake_of


@dataclass(frozen=True)
class Alarm:
    """One line of the banner."""

    message: str


@bp.app_template_global()
def dashboard_alarms() -> list[Alarm]:
    """What the banner says now (one indexed query and one directory read); empty when all is well."""
    alarms = []
    try:
        latest = last_lead_time()
    except sa.exc.SQLAlchemyError:
        rollback_quietly()
        return [Alarm("The database is not answering; incoming leads are being kept in the spool.")]
    silence = check_silence(latest, BusinessHours.parse(current_app.config["BUSINESS_HOURS"]),
                            current_app.config["SILENCE_ALARM_HOURS"])
    if silence.alarm:
        alarms.append(Alarm(f"No lead has arrived for {silence.quiet_business_hours:.1f} business hours "
                            f"(alarm after {silence.threshold_hours:g}). Check the CarDekho integration."))
    backlog = intake_of(current_app).spool.backlog()
    if backlog.waiting:
        alarms.append(Alarm(f"{backlog.waiting} lead(s) received while the database was away are waiting "
                            "to be stored."))
    if backlog.failed:
        alarms.append(Alarm(f"{backlog.failed} spooled lead(s) could not be stored; an admin must look at "
                            "the spool's failed/ folder."))
    return alarms
