"""The `X-API-Key` check of the guide's section 3 (headers only: the body is not read yet)."""
from flask import abort, current_app, g, request

from webapp.intake.keyring import KeyRing, KeysUnavailable

HEADER = "X-API-Key"


def keyring() -> KeyRing:
    """This app's key ring."""
    return current_app.extensions["keyring"]


def matching_key_label() -> str | None:
    """The label of the valid key the request carries, or None; cached per request."""
    if "api_key_label" not in g:
        g.api_key_label = None
        given = request.headers.get(HEADER, "")
        if given:
            try:
                g.api_key_label = keyring().label_for(given)
            except KeysUnavailable as error:
                g.keys_unavailable = str(error)
    return g.api_key_label


def key_refused() -> bool:
    """The request will get the guide's 401 or 403: no valid key, and the keys could be checked."""
    return matching_key_label() is None and not g.get("keys_unavailable")


def require_api_key() -> str:
    """Abort with the guide's 401 (no key) or 403 (wrong key); return the key's label."""
    if not request.headers.get(HEADER):
        abort(401, description="API key header not supplied: send X-API-Key")
    label = matching_key_label()
    if label is None and g.get("keys_unavailable"):
        # Not a 403: a 4xx is final for CarDekho, and the key may well be valid.
        abort(503, description="API keys cannot be checked right now; retry with exponential backoff")
    if label is None:
        abort(403, description="API key invalid")
    return label
