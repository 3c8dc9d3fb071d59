"""How to reach a lead's person: the Call button's `tel:` link and the WhatsApp button's `wa.me` link with a greeting."""
from urllib.parse import quote

import phonenumbers

from webapp.leads.models import Lead

MAX_NAME_IN_GREETING = 40  # a first name; a whole pasted paragraph would make a strange greeting


def dialable_number(lead: Lead) -> str | None:
    """E.164 when the number is valid (India when it has no country code), else its plain digits; None without any."""
    if lead.phone_normalized:
        return lead.phone_normalized
    try:
        number = phonenumbers.parse(lead.phone_number, "IN")
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # Only ASCII digits: whatever else a sender typed into the number never reaches the link.
    digits = "".join(char for char in lead.phone_number if char in "0123456789")
    return digits or None


def readable_number(lead: Lead) -> str:
    """The number as people read it ("+91 98765 43210") when it is a valid one, else as it was sent."""
    if not lead.phone_normalized:
        return lead.phone_number
    return phonenumbers.format_number(phonenumbers.parse(lead.phone_normalized),
                                      phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def call_href(lead: Lead) -> str | None:
    """`tel:` the number, for the Call button; None when the number has no digits at all."""
    number = dialable_number(lead)
    return f"tel:{number}" if number else None


def whatsapp_href(lead: Lead, sender_name: str) -> str | None:
    """`https://wa.me/<digits>?text=<greeting>`; None unless the number is valid (WhatsApp needs its country code)."""
    number = dialable_number(lead)
    if not number or not number.startswith("+"):
        return None
    return f"https://wa.me/{number[1:]}?text={quote(greeting(lead, sender_name), safe='')}"


def _first_name(name: str) -> str:
    words = name.split()
    return words[0][:MAX_NAME_IN_GREETING] if words else ""


def greeting(lead: Lead, sender_name: str) -> str:
    """A short first message naming the model the person asked about."""
    hello = f"Hello {_first_name(lead.name)}".rstrip()
    about = f"the {lead.car_model}" if lead.car_model else "an MG car"
    return (f"{hello}, this is {_first_name(sender_name)} from Raam MG. Thank you for asking about {about}. "
            "When would be a good time to talk?")
