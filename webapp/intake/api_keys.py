"""The `X-API-Key` check of the guide's section 3."""
import hashlib
import hmac

from flask import abort, current_app, g, request

HEADER = "X-API-Key"


def key_label(key: str) -> str:
    """A stable, non-secret name for a key (for rate-limit buckets and logs)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def matching_key_label() -> str | None:
    """The label of the configured key the request carries, or None; cached per request."""
    if "api_key_label" not in g:
        given = request.headers.get(HEADER, "").encode("utf-8", "surrogateescape")
        label = None
        for key in current_app.config["CARDEKHO_API_KEYS"]:
            # Compare every key, in constant time, so timing reveals nothing.
            if hmac.compare_digest(given, key.encode()):
                label = key_label(key)
        g.api_key_label = label
    return g.api_key_label


def require_api_key() -> str:
    """Abort with the guide's 401 (no key) or 403 (wrong key); return the key's label."""
    if not request.headers.get(HEADER):
        abort(401, description="API key header not supplied: send X-API-Key")
    label = matching_key_label()
    if label is None:
        abort(403, description="API key invalid")
    return label
