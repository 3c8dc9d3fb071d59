"""Limits on password guessing, counted before any password is checked, without handing out lockouts.

Every attempt is counted first, atomically, in the rate-limit store (Redis in
production, shared by every worker and host); only an attempt within its
limits gets a password check, so N parallel guesses get at most the limit's
number of checks. Successful attempts count too (nothing can be known before
the check), which the defaults leave room for.

Which limits an attempt meets depends on the browser (OWASP's device cookies):

- a browser that signed in to the account before: `LOGIN_RATE_LIMIT_PER_DEVICE`
  for that browser and account, and nothing else, so guesses from elsewhere
  never lock its owner out;
- any other browser: `LOGIN_RATE_LIMIT_PER_IP` (the address, whatever the
  account), `LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP`, and the slower
  `LOGIN_RATE_LIMIT_PER_ACCOUNT` that all such browsers share.

While the store is unreachable each worker counts in its own memory (people
can still sign in; webapp.rate_limit_storage.SharedCounts).
"""
import hashlib
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.strategies import STRATEGIES

from webapp.auth.devices import Device
from webapp.rate_limit_storage import SharedCounts


def account_key(normalized_email: str) -> str:
    """The pseudonym of an email in rate-limit keys and device cookies (no email in Redis or in cookies)."""
    return hashlib.sha256(normalized_email.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class SignInAttempt:
    """One submitted sign-in form: which account, from which address, in which browser."""

    account: str
    address: str | None
    device: Device | None


class SignInLimits:
    """The sign-in limits of one app, counted in `RATELIMIT_STORAGE_URI` with `RATELIMIT_STRATEGY`."""

    def __init__(self, config: dict):
        self.counts = SharedCounts(config, STRATEGIES[config["RATELIMIT_STRATEGY"]], "sign-ins")
        self.per_address = parse_many(config["LOGIN_RATE_LIMIT_PER_IP"])
        self.per_account_and_address = parse_many(config["LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP"])
        self.per_account = parse_many(config["LOGIN_RATE_LIMIT_PER_ACCOUNT"])
        self.per_device = parse_many(config["LOGIN_RATE_LIMIT_PER_DEVICE"])
        self.enabled = config.get("RATELIMIT_ENABLED", True)  # Flask-Limiter's switch turns these off too

    def admit(self, attempt: SignInAttempt) -> int | None:
        """Count `attempt`; None when it may have its password checked, else the seconds until it may."""
        if not self.enabled:
            return None
        for item, key in self._limits_for(attempt):
            retry_after = self.counts.hit(item, key)
            if retry_after is not None:
                return retry_after
        return None

    def _limits_for(self, attempt: SignInAttempt) -> list[tuple[RateLimitItem, str]]:
        """The limits `attempt` is counted against, nearest its source first.

        An attempt refused for its address uses up nothing of the account's own limit.
        """
        if attempt.device is not None and attempt.device.trusts(attempt.account):
            return [(item, f"login-device:{attempt.device.id}:{attempt.account}") for item in self.per_device]
        return ([(item, f"login-ip:{attempt.address}") for item in self.per_address]
                + [(item, f"login-account-ip:{attempt.account}:{attempt.address}")
                   for item in self.per_account_and_address]
                + [(item, f"login-account:{attempt.account}") for item in self.per_account])
