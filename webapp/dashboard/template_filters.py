"""How times and payloads read on the dashboard."""
import json
from datetime import datetime

from webapp.dashboard import bp
from webapp.database import utcnow
from webapp.leads.timezones import to_ist


@bp.app_template_filter("ist")
def ist(moment: datetime, pattern: str = "%d %b, %H:%M") -> str:
    """`moment` in India Standard Time, e.g. "28 Nov, 14:05"."""
    return to_ist(moment).strftime(pattern)


@bp.app_template_filter("ago")
def ago(moment: datetime) -> str:
    """How long ago, roughly: "just now", "3 min ago", "5 h ago", "2 days ago"."""
    seconds = int((utcnow() - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return "just now"


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    """JSON indented for reading; the template escapes it, so markup in a payload shows as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)
