"""Turn a webhook body into a lead, or say exactly what the sender must fix.

Every rejection is an `InvalidSubmission` whose message is safe to send back:
it names fields, never echoes their values.
"""
import json
import math
from dataclasses import dataclass

REQUIRED_FIELDS = ("name", "phone_number")
# Optional attributes that also get a column of their own (all stay in `payload`).
COLUMN_FIELDS = (
    "car_model", "lead_url", "campaign",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
)
# Far deeper than any lead; keeps hostile nesting away from the parser and JSONB.
MAX_DEPTH = 32
# Column copies are cut here (the payload keeps every character): a btree index entry on
# PostgreSQL must stay under 2,704 bytes, and no model or campaign name comes near this.
MAX_COLUMN_CHARS = 500


class InvalidSubmission(Exception):
    """A body we cannot store; `str(error)` tells the sender what to fix."""


@dataclass(frozen=True)
class LeadSubmission:
    """A validated lead: its columns and the whole parsed body."""

    name: str
    phone_number: str
    columns: dict[str, str | None]
    payload: dict


def _reject_constant(name: str):
    raise InvalidSubmission(f"Body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidSubmission("Body is not valid JSON: a number is too large to store")
    return value


def parse_body(raw: bytes) -> dict:
    """Decode a UTF-8 JSON object, refusing what PostgreSQL's JSONB cannot hold."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidSubmission("Body must be UTF-8 encoded JSON") from None
    if not text.strip():
        raise InvalidSubmission("Body is empty; send a JSON object with name and phone_number")
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidSubmission(f"Body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except json.JSONDecodeError as error:
        raise InvalidSubmission(
            f"Body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError:  # e.g. an integer longer than Python will convert
        raise InvalidSubmission("Body is not valid JSON: a number is too long") from None
    if not isinstance(body, dict):
        raise InvalidSubmission("Body must be a JSON object, like {\"name\": ..., \"phone_number\": ...}")
    _check_storable(body, "body", depth=1)
    return body


def _check_storable(value, where: str, depth: int) -> None:
    """Refuse nesting beyond MAX_DEPTH and text that no database can store."""
    if depth > MAX_DEPTH:
        raise InvalidSubmission(f"Body is nested too deeply (at most {MAX_DEPTH} levels)")
    if isinstance(value, str):
        _check_text(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, "a field name")
            _check_storable(item, _field(key) if depth == 1 else where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item, where, depth + 1)


def _field(name: str) -> str:
    """A field named in an error message; a very long name is cut (the message must fit a flash cookie)."""
    return f"field '{name[:40]}…'" if len(name) > 40 else f"field '{name}'"


def _check_text(text: str, where: str) -> None:
    if "\x00" in text:
        raise InvalidSubmission(f"The value of {where} contains a NUL character (\\u0000), which cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSubmission(
            f"The value of {where} contains an unpaired UTF-16 surrogate escape, which is not valid Unicode"
        ) from None


def _required_text(body: dict, field: str, *, whole_numbers: bool) -> str | None:
    """A required field as text (trimmed), or None when missing or blank; a wrong type is refused."""
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if whole_numbers and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    raise InvalidSubmission(f"Field '{field}' must be {'a string or a whole number' if whole_numbers else 'a string'}")


def _column_text(value) -> str | None:
    """An optional attribute's column copy: text or a number as text; anything else stays in payload only.

    A lead is never refused over an optional attribute: losing the call-back costs more than
    an empty column, and the value is kept as sent in `payload`.
    """
    if isinstance(value, str):
        return value.strip()[:MAX_COLUMN_CHARS] or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)[:MAX_COLUMN_CHARS]
    return None


def validate_submission(body: dict) -> LeadSubmission:
    """Check the guide's required fields; copy the optional attributes that have columns."""
    name = _required_text(body, "name", whole_numbers=False)
    phone = _required_text(body, "phone_number", whole_numbers=True)
    missing = [field for field, value in (("name", name), ("phone_number", phone)) if value is None]
    if missing:
        raise InvalidSubmission(f"Missing required fields: {', '.join(missing)}")
    columns = {field: _column_text(body.get(field)) for field in COLUMN_FIELDS}
    return LeadSubmission(name=name, phone_number=phone, columns=columns, payload=body)


def parse_submission(raw: bytes) -> LeadSubmission:
    """Parse and validate a webhook body in one step."""
    return validate_submission(parse_body(raw))
