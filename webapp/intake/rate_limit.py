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

While the shared store is unreachable a worker counts in its own memory (the
leads keep coming in); every `RETRY_SHARED_SECONDS` one request tries the store
again, so a store that hangs costs one request its socket timeout, not all.
"""
import logging
import math
import threading
import time

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from webapp.rate_limit_storage import LockedMemoryStorage, shared_storage

log = logging.getLogger(__name__)

RETRY_SHARED_SECONDS = 5.0


class WebhookLimits:
    """Per key: `WEBHOOK_RATE_LIMIT`. Per client address, for requests without a valid key: `FAILED_KEY_RATE_LIMIT`."""

    def __init__(self, config: dict):
        self.shared: RateLimiter = FixedWindowRateLimiter(shared_storage(config))
        self.local: RateLimiter = FixedWindowRateLimiter(LockedMemoryStorage())
        self.prefix = config["RATELIMIT_KEY_PREFIX"]
        self.per_key = parse(config["WEBHOOK_RATE_LIMIT"])
        self.per_failing_address = parse(config["FAILED_KEY_RATE_LIMIT"])
        self.shared_down = False
        self.shared_retry_at = 0.0
        self._probe_lock = threading.Lock()
        self.enabled = config.get("RATELIMIT_ENABLED", True)  # Flask-Limiter's switch turns these off too

    def check_key(self, label: str) -> None:
        """Count a request carrying the valid key `label`; raise 429 over the guide's limit."""
        self._check(self.per_key, f"webhook-key:{label}")

    def check_failing_address(self, address: str | None) -> None:
        """Count a request without a valid key from `address`; raise 429 over the failed-key limit."""
        self._check(self.per_failing_address, f"webhook-failed-key-ip:{address}")

    def shared_store_reachable(self) -> bool:
        """Whether the shared store (Redis in production) answers now."""
        try:
            return self.shared.storage.check()
        except Exception:  # any client error means the same to the reader of /readyz
            return False

    def _check(self, item: RateLimitItem, key: str) -> None:
        if not self.enabled:
            return
        limiter = self._limiter()
        try:
            retry_after = self._hit(limiter, item, key)
        except StorageError as error:
            self._shared_failed(error)
            retry_after = self._hit(self.local, item, key)
        else:
            if limiter is self.shared and self.shared_down:
                self.shared_down = False
                log.info("rate limit storage reachable again: counting there")
        if retry_after is not None:
            raise TooManyRequests(description=str(item), retry_after=retry_after)

    def _hit(self, limiter: RateLimiter, item: RateLimitItem, key: str) -> int | None:
        """Count one request; None while within the limit, else the seconds until the next is allowed."""
        if limiter.hit(item, self.prefix, key):
            return None
        reset_at = limiter.get_window_stats(item, self.prefix, key).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def _limiter(self) -> RateLimiter:
        """The shared store, unless it failed: then this worker's memory, and one probe of the store now and then."""
        if not self.shared_down:
            return self.shared
        with self._probe_lock:
            now = time.monotonic()
            if now < self.shared_retry_at:
                return self.local
            self.shared_retry_at = now + RETRY_SHARED_SECONDS  # this request probes; the others count locally
        return self.shared

    def _shared_failed(self, error: StorageError) -> None:
        self.shared_down = True
        self.shared_retry_at = time.monotonic() + RETRY_SHARED_SECONDS
        log.warning("rate limit storage unreachable (%s): counting in this worker's memory, retrying in %.0f s",
                    type(error.storage_error).__name__, RETRY_SHARED_SECONDS)
