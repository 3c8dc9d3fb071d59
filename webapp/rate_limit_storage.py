"""Where the webhook's and the sign-in limits are counted: the shared store, and each worker's memory beside it.

`SharedCounts` counts in the shared store (`RATELIMIT_STORAGE_URI`: Redis in
production, shared by every worker and host); while the store is unreachable a
worker counts in its own memory (leads and sign-ins keep coming in), and every
`RETRY_SHARED_SECONDS` one request tries the store again, so a store that hangs
costs one request its socket timeout, not all.

`limits` 5.8's MemoryStorage starts its expiry timer without a lock: two
request threads of one gthread worker counting at the same moment can start the
same Timer twice, and the second raises RuntimeError (a 500 to the sender;
alisaifee/limits#352, merged after 5.8.0); and its timer removes expired keys
while a count removes them too (a KeyError in the timer's thread).
`LockedMemoryStorage` counts, reads and expires under one lock of its own; it
serves `memory://` and the fallback while Redis is away.
"""
import logging
import math
import threading
import time

from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import RateLimiter

log = logging.getLogger(__name__)

RETRY_SHARED_SECONDS = 5.0


def _under_lock(name: str):
    """MemoryStorage's method `name`, run under the storage's lock."""
    unlocked = getattr(MemoryStorage, name)

    def locked(self, *args, **kwargs):
        with self._counting:
            return unlocked(self, *args, **kwargs)

    locked.__name__ = name
    return locked


class LockedMemoryStorage(MemoryStorage):
    """limits' memory storage, each count, read and expiry made under one lock (safe for the threads of a
    worker)."""

    # No STORAGE_SCHEME of its own: limits' registry keeps "memory://" for MemoryStorage.

    def __init__(self, *args, **kwargs):
        self._counting = threading.RLock()  # re-entrant: a sliding-window entry counts through incr
        super().__init__(*args, **kwargs)  # starts the expiry timer, which takes the lock

    get, clear, incr, decr = (_under_lock(name) for name in ("get", "clear", "incr", "decr"))
    acquire_entry = _under_lock("acquire_entry")
    acquire_sliding_window_entry = _under_lock("acquire_sliding_window_entry")
    # limits' expiry timer (a private method MemoryStorage calls by name): under the same lock, or it reads a
    # key a count has just removed (KeyError in the timer's thread, its traceback in the log).
    _MemoryStorage__expire_events = _under_lock("_MemoryStorage__expire_events")


def shared_storage(config) -> Storage:
    """The store `RATELIMIT_STORAGE_URI` names, read as limits reads it (its errors raised as StorageError)."""
    storage = storage_from_string(config["RATELIMIT_STORAGE_URI"], wrap_exceptions=True,
                                  **config.get("RATELIMIT_STORAGE_OPTIONS", {}))
    return LockedMemoryStorage(wrap_exceptions=True) if type(storage) is MemoryStorage else storage


class SharedCounts:
    """Hits counted with `strategy` (a limits RateLimiter class) in the shared store, or in this worker's memory
    while the store is unreachable; `what` names them in the log."""

    def __init__(self, config: dict, strategy: type[RateLimiter], what: str):
        self.shared: RateLimiter = strategy(shared_storage(config))
        self.local: RateLimiter = strategy(LockedMemoryStorage())
        self.prefix = config["RATELIMIT_KEY_PREFIX"]
        self.what = what
        self.shared_down = False
        self.shared_retry_at = 0.0
        self._probe_lock = threading.Lock()

    def hit(self, item: RateLimitItem, key: str) -> int | None:
        """Count one hit of `key` against `item`; None while within it, else the seconds until the next is allowed."""
        limiter = self._limiter()
        try:
            retry_after = self._hit(limiter, item, key)
        except StorageError as error:
            self._shared_failed(error)
            return self._hit(self.local, item, key)
        if limiter is self.shared and self.shared_down:
            self.shared_down = False
            log.info("rate limit storage reachable again: counting %s there", self.what)
        return retry_after

    def shared_store_reachable(self) -> bool:
        """Whether the shared store answers now."""
        try:
            return self.shared.storage.check()
        except Exception:  # any client error means the same to the reader of /readyz
            return False

    def _hit(self, limiter: RateLimiter, item: RateLimitItem, key: str) -> int | None:
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
        log.warning("rate limit storage unreachable (%s): counting %s in this worker's memory, retrying in %.0f s",
                    type(error.storage_error).__name__, self.what, RETRY_SHARED_SECONDS)
