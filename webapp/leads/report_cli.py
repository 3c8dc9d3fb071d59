"""`flask reports ...`: the reports page's per-day summaries (the morning mail's command belongs here too)."""
import time

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.leads.models import utcnow
from webapp.leads.report_days import rebuild
from webapp.leads.report_sql import ReportSettings

reports_cli = AppGroup("reports", help="The reports page's numbers.")


@reports_cli.command("rebuild")
def rebuild_command() -> None:
    """Build every day's summary again from the leads (after a deploy, or after leads were changed with SQL)."""
    started = time.perf_counter()
    days = rebuild(ReportSettings.from_config(current_app.config), utcnow())
    click.echo(f"Built the summaries of {days:,} days in {time.perf_counter() - started:.1f} s.")
