"""Turn a webhook body into a lead, or say exactly what the sender must fix.

Every rejection is an `InvalidSubmission` whose message is safe to send back:
it names fields, never echoes their values. What no database can store (a NUL,
a lone surrogate, bytes that are not valid in the body's Unicode encoding) is
repaired rather than refused, and the submission says what was repaired: a 4xx
is final for CarDekho, and a lead whose name and phone are fine is a customer.
"""
import codecs
import json
import math
import re
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
# The Unicode charsets, as Python names them; in these the bytes themselves show which one (and
# its byte order), since a JSON text starts with an ASCII character (RFC 8259, RFC 4627 section 3).
UNICODE_CHARSETS = {"utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-16-le", "utf-32", "utf-32-be", "utf-32-le"}
# After parsing, a surrogate is always a lone one: JSON's escaped pairs are joined into one character.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NUL_REMOVED = "NUL characters removed"
SURROGATES_REPLACED = "lone surrogates replaced with U+FFFD"


class InvalidSubmission(Exception):
    """A body we cannot store; `str(error)` tells the sender what to fix."""


class UnsupportedCharset(InvalidSubmission):
    """The body declares a charset we do not know (answered 415, not 400)."""


@dataclass(frozen=True)
class LeadSubmission:
    """A validated lead: its columns, the whole parsed body and what was repaired in it to store it."""

    name: str
    phone_number: str
    columns: dict[str, str | None]
    payload: dict
    repairs: tuple[str, ...] = ()

    @property
    def repair_note(self) -> str | None:
        """What was repaired, for the intake log; None when the body is stored as sent."""
        return "repaired: " + "; ".join(self.repairs) if self.repairs else None


@dataclass(frozen=True)
class ParsedBody:
    """A body's JSON object, made storable, and what that took."""

    payload: dict
    repairs: tuple[str, ...]


def _reject_constant(name: str):
    raise InvalidSubmission(f"Body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidSubmission("Body is not valid JSON: a number is too large to store")
    return value


def decode_text(raw: bytes, charset: str | None = None) -> tuple[str, str | None]:
    """The body as text, in its declared charset or else UTF-8, and the repair made to decode it (or None).

    In a Unicode encoding an invalid byte is a local defect, replaced with U+FFFD;
    in any other charset it means the declared charset is wrong, and is refused.
    """
    unknown = UnsupportedCharset(f"Unknown charset '{(charset or '')[:40]}' in Content-Type; send UTF-8")
    try:
        codec = codecs.lookup(charset or "utf-8").name
    except LookupError:
        raise unknown from None
    if codec not in UNICODE_CHARSETS:
        try:
            return raw.decode(codec), None
        except UnicodeDecodeError as error:
            raise InvalidSubmission(f"Body is not valid {charset[:40]} text (at byte {error.start + 1}); "
                                    "send UTF-8, or declare the charset it is in") from None
        except (LookupError, UnicodeError):  # a Python codec that is no charset: "base64", "undefined"
            raise unknown from None
    codec = json.detect_encoding(raw)
    try:
        return raw.decode(codec), None
    except UnicodeDecodeError:
        return raw.decode(codec, "replace"), f"bytes that are not valid {codec.upper()} replaced with U+FFFD"


class _Repairer:
    """Makes parsed JSON storable (no NUL, no lone surrogate), remembering what it changed."""

    def __init__(self):
        self.repairs: list[str] = []

    def note(self, repair: str) -> None:
        """Remember one kind of repair (once)."""
        if repair not in self.repairs:
            self.repairs.append(repair)

    def text(self, value: str) -> str:
        """A string without NUL (PostgreSQL refuses it) and with U+FFFD for each lone surrogate."""
        if "\x00" in value:
            value = value.replace("\x00", "")
            self.note(NUL_REMOVED)
        if LONE_SURROGATE.search(value):
            value = LONE_SURROGATE.sub("\ufffd", value)
            self.note(SURROGATES_REPLACED)
        return value

    def value(self, value, depth: int):
        """`value` repaired throughout; nesting beyond MAX_DEPTH is refused."""
        if depth > MAX_DEPTH:
            raise InvalidSubmission(f"Body is nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):  # a repaired key equal to another: the later wins, as for duplicates
            return {self.text(key): self.value(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, depth + 1) for item in value]
        return value


def parse_body(raw: bytes, charset: str | None = None) -> ParsedBody:
    """Decode a JSON object, repairing what PostgreSQL's JSONB cannot hold and refusing what is not a lead."""
    text, decoding_repair = decode_text(raw, charset)
    repairer = _Repairer()
    if decoding_repair:
        repairer.note(decoding_repair)
    text = repairer.text(text)  # raw NULs, between tokens or inside strings
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
    payload = repairer.value(body, depth=1)
    return ParsedBody(payload, tuple(repairer.repairs))


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


def validate_submission(body: dict, repairs: tuple[str, ...] = ()) -> LeadSubmission:
    """Check the guide's required fields; copy the optional attributes that have columns."""
    name = _required_text(body, "name", whole_numbers=False)
    phone = _required_text(body, "phone_number", whole_numbers=True)
    missing = [field for field, value in (("name", name), ("phone_number", phone)) if value is None]
    if missing:
        raise InvalidSubmission(f"Missing required fields: {', '.join(missing)}")
    columns = {field: _column_text(body.get(field)) for field in COLUMN_FIELDS}
    return LeadSubmission(name=name, phone_number=phone, columns=columns, payload=body, repairs=repairs)


def parse_submission(raw: bytes, charset: str | None = None) -> LeadSubmission:
    """Parse and validate a webhook body (in `charset`, UTF-8 when None) in one step."""
    parsed = parse_body(raw, charset)
    return validate_submission(parsed.payload, parsed.repairs)
