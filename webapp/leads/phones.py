"""Phone numbers: Indian numbers in any common spelling become E.164."""
import phonenumbers


def normalize_phone(raw: str) -> str | None:
    """`+91XXXXXXXXXX` for a valid Indian number, else None (the lead is kept anyway)."""
    try:
        number = phonenumbers.parse(raw, "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) != "IN":
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
