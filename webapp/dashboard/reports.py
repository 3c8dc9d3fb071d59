"""The reports page and its CSVs: thin views over webapp.leads.reports (managers and admins)."""
from datetime import date

from flask import Response, abort, current_app, render_template, request, url_for

from webapp.audit import audit
from webapp.auth.access import role_required
from webapp.dashboard import bp
from webapp.database import utcnow
from webapp.leads.report_range import PRESETS, ReportRange
from webapp.leads.report_sql import ReportSettings
from webapp.leads.report_tables import Table, report_tables, table_csv
from webapp.leads.reports import build_reports
from webapp.leads.timezones import to_ist

REPORT_ROLES = ("manager", "admin")


def _tables(now) -> tuple[ReportRange, list[Table]]:
    period = ReportRange.from_args(request.args, now)
    reports = build_reports(period, ReportSettings.from_config(current_app.config), now)
    return period, report_tables(reports)


@bp.get("/admin/reports")
@role_required(*REPORT_ROLES)
def reports():
    """Leads, speed to lead, the funnel, models, campaigns and repeats for a range of IST days."""
    now = utcnow()
    period, tables = _tables(now)
    today = to_ist(now).date()
    presets = [(label, ReportRange.preset(name, today)) for name, label in PRESETS.items()]
    return render_template("dashboard/reports.html", period=period, tables=tables, presets=presets,
                           charts={table.key: chart_data(table) for table in tables if table.chart}, today=today)


@bp.get("/admin/reports/<name>.csv")
@role_required(*REPORT_ROLES)
def report_csv(name: str):
    """One table of the reports page as CSV, recorded in the audit record."""
    # Names of people who asked are personal data: another site must not start a download (as for exports).
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403, description="Report downloads start from the reports page itself, not from another site.")
    period, tables = _tables(utcnow())
    table = next((table for table in tables if table.key == name), None) or abort(404)
    audit("report_export", target=name, details=period.to_args())
    filename = f"{name}-{period.first:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv"
    return Response(table_csv(table), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def chart_data(table: Table) -> dict:
    """What reports.js draws: a label per row, a series per charted column, each bar's lead-list link."""
    spec = table.chart

    def series(column: int) -> dict:
        return {"label": table.columns[column],
                "data": [row[column].value for row in table.rows],
                "links": [url_for("dashboard.lead_list", **row[column].filters) if row[column].filters else None
                          for row in table.rows]}

    return {"labels": [_label(row[0].value) for row in table.rows], "stacked": spec.get("stacked", False),
            "horizontal": spec.get("horizontal", False), "datasets": [series(column) for column in spec["series"]],
            "line": series(spec["line"]) if "line" in spec else None}


def _label(value) -> str:
    """A day as "28 Nov" on the chart's axis; anything else as it is."""
    try:
        return f"{date.fromisoformat(value):%d %b}"
    except (TypeError, ValueError):
        return str(value)
