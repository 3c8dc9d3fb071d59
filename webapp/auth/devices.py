"""Device cookies: OWASP's "slow down online guessing attacks with device cookies".

A browser that signs in to an account gets a cookie, signed with `SECRET_KEY`,
that names the account (by its pseudonym, never its email). Its later attempts
at that account are limited on their own (webapp.auth.sign_in_limits), so
someone guessing from elsewhere cannot lock a person out of the browser she
uses every day. The cookie is sent to /login only and is renewed at each sign-in.
"""
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from itsdangerous import BadData, URLSafeTimedSerializer

DEVICE_COOKIE = "raam_device"
DEVICE_COOKIE_PATH = "/login"
DEVICE_COOKIE_LIFETIME = timedelta(days=180)
# A shared showroom computer remembers the accounts most recently signed in from it.
MAX_ACCOUNTS = 20
_SALT = "sign-in-device"


@dataclass(frozen=True)
class Device:
    """A browser that signed in before: a random id and the accounts it signed in to."""

    id: str
    accounts: tuple[str, ...] = ()

    def trusts(self, account: str) -> bool:
        """Whether this browser signed in to `account` before."""
        return account in self.accounts

    def signed_in_to(self, account: str) -> "Device":
        """This browser after a sign-in to `account`, most recent last."""
        others = tuple(known for known in self.accounts if known != account)
        return replace(self, accounts=(*others, account)[-MAX_ACCOUNTS:])


def new_device() -> Device:
    """A browser signing in for the first time: a fresh random id, no accounts yet."""
    return Device(id=secrets.token_hex(16))


def read_device(cookie: str | None, secret_key: str) -> Device | None:
    """The browser a device cookie describes; None without one, or for one expired or not signed by us."""
    if not cookie:
        return None
    try:
        data = _serializer(secret_key).loads(cookie, max_age=DEVICE_COOKIE_LIFETIME.total_seconds())
        return Device(id=str(data["id"]), accounts=tuple(str(account) for account in data["accounts"]))
    except (BadData, KeyError, TypeError):
        return None


def device_cookie_value(device: Device, secret_key: str) -> str:
    """The signed cookie value for `device`."""
    return _serializer(secret_key).dumps({"id": device.id, "accounts": list(device.accounts)})


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=_SALT)
