"""The managers' morning summary of yesterday (IST): the reports page's numbers, from its query layer, as a mail."""
from datetime import datetime

import sqlalchemy as sa
from markupsafe import escape

from webapp.auth.models import User
from webapp.extensions import db
from webapp.leads.outbox import Mail, queue_mail
from webapp.leads.report_range import ReportRange
from webapp.leads.report_sql import ReportSettings
from webapp.leads.reports import Reports, build_reports, top_and_other
from webapp.leads.timezones import to_ist


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} min"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def summary_tables(reports: Reports, sla_minutes: float) -> list[tuple[str, list[str], list[list[str]]]]:
    """The summary's tables: (title, column heads, rows), shared by the plain-text and the HTML part."""
    models, other = top_and_other(reports.by_model)
    model_rows = [[funnel.key or "(none given)", str(funnel.leads)] for funnel in models]
    if other is not None:
        model_rows.append(["other", str(other.leads)])
    people = [[name, str(speed.leads), f"{speed.in_time} ({_share(speed.in_time_share)})",
               _minutes(speed.median_minutes), str(speed.not_contacted)] for _, name, speed in reports.speed.owners]
    overall = reports.speed.overall
    return [
        ("Leads", ["", ""], [["Leads", str(reports.total.leads)], ["Repeats", str(reports.repeats)],
                             ["Still not contacted", str(overall.not_contacted)],
                             [f"Contacted within {sla_minutes:g} min", f"{overall.in_time} ({_share(overall.in_time_share)})"],
                             ["Median time to first contact", _minutes(overall.median_minutes)]]),
        ("By source", ["Source", "Leads"], [[funnel.key or "(none given)", str(funnel.leads)] for funnel in reports.by_source]),
        ("By model", ["Model", "Leads"], model_rows),
        ("Per sales person (slowest first)",
         ["Person", "Leads", f"Within {sla_minutes:g} min", "Median to first contact", "Not contacted"], people),
    ]


def _text(title: str, tables) -> str:
    parts = [title, ""]
    for name, heads, rows in tables:
        parts.append(name)
        if any(heads):
            parts.append("  " + " | ".join(heads))
        parts.extend("  " + " | ".join(row) for row in rows or [["(none)"]])
        parts.append("")
    return "\n".join(parts)


def _html(title: str, tables) -> str:
    parts = [f"<h1>{escape(title)}</h1>"]
    for name, heads, rows in tables:
        head = "".join(f"<th>{escape(cell)}</th>" for cell in heads) if any(heads) else ""
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        parts.append(f"<h2>{escape(name)}</h2><table>{f'<tr>{head}</tr>' if head else ''}{body}</table>")
    return "".join(parts)


def daily_summary(config, now: datetime) -> Mail:
    """Yesterday's summary (IST) as a mail to the active managers."""
    settings = ReportSettings.from_config(config)
    yesterday = ReportRange.preset("yesterday", to_ist(now).date())
    reports = build_reports(yesterday, settings, now)
    managers = db.session.scalars(sa.select(User.email).where(User.active, User.role == "manager").order_by(User.id))
    title = f"Leads on {yesterday.first:%a %d %b %Y}"
    tables = summary_tables(reports, settings.sla_minutes)
    return Mail(kind="daily_summary", recipients=list(managers), subject=title, text=_text(title, tables),
                html=_html(title, tables))


def queue_daily_summary(config, now: datetime) -> bool:
    """Put yesterday's summary in the outbox (committed); False when there is no manager to send it to."""
    queued = queue_mail(daily_summary(config, now))
    db.session.commit()
    return queued
