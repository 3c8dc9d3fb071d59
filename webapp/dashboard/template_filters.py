"""How times and payloads read on the dashboard."""
import json
from datetime import datetime

from webapp.dashboard import bp
from webapp.database import utcnow
from webapp.leads import reach, repeats
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


# Bidirectional formatting characters: shown raw, one would reverse the rest of its line of the payload.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI_ESCAPES = str.maketrans({char: f"\\u{ord(char):04x}" for char in BIDI_CONTROLS})


@bp.app_template_filter("pretty_json")
def pretty_json(value) -> str:
    """JSON indented for reading; markup shows as text (the template escapes it), bidi controls as JSON escapes."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False).translate(BIDI_ESCAPES)


@bp.app_template_filter("ordinal")
def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th ... (the list's "2nd enquiry" badge)."""
    return repeats.ordinal(number)


@bp.app_template_filter("readable_number")
def readable_number(lead) -> str:
    """A lead's number as people read it: "+91 98765 43210" (the Call button on its page)."""
    return reach.readable_number(lead)
