"""`flask reports ...`: the reports page's per-day summaries (the morning mail's command belongs here too)."""
import time

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.database import utcnow
from webapp.leads.outbox import send_due_mails
from webapp.leads.report_days import rebuild
from webapp.leads.report_sql import ReportSettings
from webapp.leads.summary import queue_daily_summary
from webapp.mailing import delivery

reports_cli = AppGroup("reports", help="The reports page's numbers.")


@reports_cli.command("rebuild")
def rebuild_command() -> None:
    """Build every day's summary again from the leads (after a deploy, or after leads were changed with SQL)."""
    started = time.perf_counter()
    days = rebuild(ReportSettings.from_config(current_app.config), utcnow())
    click.echo(f"Built the summaries of {days:,} days in {time.perf_counter() - started:.1f} s.")


@reports_cli.command("daily")
def daily_command() -> None:
    """Mail yesterday's summary to the managers (a scheduler runs this at 09:00 IST)."""
    if not queue_daily_summary(current_app.config, utcnow()):
        click.echo("No active manager to mail the summary to.")
        return
    # This process may be a cron job's: send now rather than wait for a web worker's sender.
    report = send_due_mails(delivery, float(current_app.config["MAIL_RETRY_SECONDS"]))
    click.echo("Summary sent." if report.sent else "Summary queued; the web service's sender will retry it.")
