"""Leads typed in by hand: a walk-in, a phone call, a showroom event, a referral."""
from webapp.extensions import db
from webapp.leads.activity import MAX_NOTE_CHARS, InvalidChange, NotAllowed, give_lead, record_activity
from webapp.database import utcnow
from webapp.leads.models import Lead
from webapp.leads.lead_row import build_lead
from webapp.leads.phones import normalize_phone
from webapp.leads.repeats import names_a_person
from webapp.leads.search import CHOICE_QUERIES
from webapp.leads.submission import MAX_COLUMN_CHARS, InvalidSubmission, validate_submission

MANUAL_SOURCES = {"walk_in": "Walk-in", "phone_call": "Phone call", "showroom_event": "Showroom event",
                  "referral": "Referral"}
MAX_NAME_CHARS = 200
MAX_PHONE_CHARS = 40


def _checked_fields(name: str, phone_number: str, car_model: str | None, source: str) -> dict:
    fields = {"name": (name or "").strip(), "phone_number": (phone_number or "").strip(),
              "car_model": (car_model or "").strip()}
    if any("\x00" in value for value in fields.values()):
        raise InvalidChange("A field contains a NUL character; type it again.")
    missing = [label for label, key in (("name", "name"), ("phone number", "phone_number")) if not fields[key]]
    if missing:
        raise InvalidChange(f"Enter the {' and the '.join(missing)}.")
    if len(fields["name"]) > MAX_NAME_CHARS:
        raise InvalidChange(f"A name can be at most {MAX_NAME_CHARS} characters.")
    if len(fields["phone_number"]) > MAX_PHONE_CHARS:
        raise InvalidChange(f"A phone number can be at most {MAX_PHONE_CHARS} characters.")
    if not names_a_person(normalize_phone(fields["phone_number"]), fields["phone_number"]):
        raise InvalidChange("Enter a phone number the buyer can be called on (at least six digits).")
    if len(fields["car_model"]) > MAX_COLUMN_CHARS:
        raise InvalidChange(f"A model can be at most {MAX_COLUMN_CHARS} characters.")
    if source not in MANUAL_SOURCES:
        raise InvalidChange("Choose where the lead came from: " + ", ".join(MANUAL_SOURCES.values()) + ".")
    if fields["car_model"]:
        fields["car_model"] = known_spelling(fields["car_model"])
    else:
        del fields["car_model"]
    return {**fields, "source": source}


def _model_key(car_model: str) -> str:
    return " ".join(car_model.lower().split()).removeprefix("mg ")


def known_models() -> list[str]:
    """The models the leads name, sorted (the list's filter choices)."""
    return list(db.session.scalars(CHOICE_QUERIES["car_model"]))


def known_spelling(car_model: str) -> str:
    """A typed model as the leads already spell it ("hector", "MG  hector" -> "MG Hector"), else as typed: one
    model is one choice in the filters and one line in the reports."""
    key = _model_key(car_model)
    return next((known for known in known_models() if _model_key(known) == key), car_model)


def create_manual_lead(actor, name: str, phone_number: str, car_model: str | None, source: str,
                       note: str | None = None, take: bool = False) -> Lead:
    """Store a lead typed in by `actor` (phone normalised as the webhook does); `take` makes it theirs at once.

    Its `platform` is the source's label ("Walk-in"), never CarDekho. The router
    links it to the person's earlier enquiries and, unless taken, gives it an owner.
    """
    if not actor.active:
        raise NotAllowed("This account is switched off.")
    body = _checked_fields(name, phone_number, car_model, source)
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS or "\x00" in note:
        raise InvalidChange(f"A note can be at most {MAX_NOTE_CHARS:,} characters, without NUL characters.")
    try:
        submission = validate_submission(body)
    except InvalidSubmission as error:  # the checks above should leave nothing for it to refuse
        raise InvalidChange(str(error)) from None
    now = utcnow()
    lead = build_lead(submission, platform=MANUAL_SOURCES[source], received_at=now)
    db.session.add(lead)
    db.session.flush()
    record_activity(lead.id, actor.id, "created", {"source": source}, now)
    if note:
        record_activity(lead.id, actor.id, "note", {"body": note}, now)
        lead.first_contacted_at = now  # a note written while the person stands in the showroom
    if take:
        give_lead(lead, actor, actor.id, "manual", now)
    db.session.commit()
    return lead

