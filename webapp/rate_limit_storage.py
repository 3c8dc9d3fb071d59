"""Where the webhook's and the sign-in limits are counted: the shared store, and each worker's memory beside it.

`limits` 5.8's MemoryStorage starts its expiry timer without a lock: two
request threads of one gthread worker counting at the same moment can start the
same Timer twice, and the second raises RuntimeError (a 500 to the sender;
alisaifee/limits#352, merged after 5.8.0); and its timer removes expired keys
while a count removes them too (a KeyError in the timer's thread).
`LockedMemoryStorage` counts, reads and expires under one lock of its own; it
serves `memory://` and the fallback while Redis is away.
"""
import threading

from limits.storage import MemoryStorage, Storage, storage_from_string


class LockedMemoryStorage(MemoryStorage):
    """limits' memory storage, each count made under one lock (safe for the threads of a worker)."""

    # No STORAGE_SCHEME of its own: limits' registry keeps "memory://" for MemoryStorage.

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._counting = threading.RLock()  # re-entrant: a sliding-window entry counts through incr

    def _MemoryStorage__expire_events(self) -> None:
        # limits' expiry timer (a private method, called by name from MemoryStorage): under the same lock, or it
        # reads a key a count has just removed (KeyError in the timer's thread, its traceback in the log).
        with self._counting:
            super()._MemoryStorage__expire_events()

    def get(self, *args, **kwargs) -> int:
        with self._counting:
            return super().get(*args, **kwargs)

    def clear(self, *args, **kwargs) -> None:
        with self._counting:
            super().clear(*args, **kwargs)

    def incr(self, *args, **kwargs) -> int:
        with self._counting:
            return super().incr(*args, **kwargs)

    def decr(self, *args, **kwargs) -> int:
        with self._counting:
            return super().decr(*args, **kwargs)

    def acquire_entry(self, *args, **kwargs) -> bool:
        with self._counting:
            return super().acquire_entry(*args, **kwargs)

    def acquire_sliding_window_entry(self, *args, **kwargs) -> bool:
        with self._counting:
            return super().acquire_sliding_window_entry(*args, **kwargs)


def shared_storage(config) -> Storage:
    """The store `RATELIMIT_STORAGE_URI` names, read as limits reads it (its errors raised as StorageError)."""
    storage = storage_from_string(config["RATELIMIT_STORAGE_URI"], wrap_exceptions=True,
                                  **config.get("RATELIMIT_STORAGE_OPTIONS", {}))
    return LockedMemoryStorage(wrap_exceptions=True) if type(storage) is MemoryStorage else storage
