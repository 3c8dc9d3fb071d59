"""The webhook's rate limits (guide section 7): one Redis round trip per request, shared by every worker and host.

Counted with `limits` (the engine under Flask-Limiter) directly, in a fixed
window that opens at a key's first request: one EVALSHA (INCRBY, and EXPIRE on
the first) per request. Measured here (`python -m bench.limit_cost`, 2000 hits
against a real Redis), per hit: fixed window 0.045 ms of worker CPU and 0.019 ms
of Redis CPU; sliding-window counter 0.063 and 0.030; moving window 0.061 and
0.030. Within one window the count is exact (120 and not one more). At a
window's edge a sender can get up to 2 x 120 through in a few seconds; that
is under half a second of what one host serves (bench/RESULTS.md), and for the
failed-key limit 20 guesses instead of 10 against 2^256 possible keys, so the
moving window's exactness there buys nothing. The sign-in limits
(webapp.auth.sign_in_limits) keep Flask-Limiter's `RATELIMIT_STRATEGY`.

While the shared store is unreachable a worker counts in its own memory
(webapp.rate_limit_storage.SharedCounts, which the sign-in limits use too).
"""
from limits import RateLimitItem, parse
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from webapp.rate_limit_storage import SharedCounts


class WebhookLimits:
    """Per key: `WEBHOOK_RATE_LIMIT`. Per client address, for requests without a valid key: `FAILED_KEY_RATE_LIMIT`."""

    def __init__(self, config: dict):
        self.counts = SharedCounts(config, FixedWindowRateLimiter, "the webhook's requests")
        self.per_key = parse(config["WEBHOOK_RATE_LIMIT"])
        self.per_failing_address = parse(config["FAILED_KEY_RATE_LIMIT"])
        self.enabled = config.get("RATELIMIT_ENABLED", True)  # Flask-Limiter's switch turns these off too

    def check_key(self, label: str) -> None:
        """Count a request carrying the valid key `label`; raise 429 over the guide's limit."""
        self._check(self.per_key, f"webhook-key:{label}")

    def check_failing_address(self, address: str | None) -> None:
        """Count a request without a valid key from `address`; raise 429 over the failed-key limit."""
        self._check(self.per_failing_address, f"webhook-failed-key-ip:{address}")

    def shared_store_reachable(self) -> bool:
        """Whether the shared store (Redis in production) answers now."""
        return self.counts.shared_store_reachable()

    def _check(self, item: RateLimitItem, key: str) -> None:
        if not self.enabled:
            return
        retry_after = self.counts.hit(item, key)
        if retry_after is not None:
            raise TooManyRequests(description=str(item), retry_after=retry_after)
