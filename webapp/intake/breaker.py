"""A circuit breaker: after the database fails, callers skip it for a while and one at a time tries it again.

Closed: every caller may use the database. One failure opens it: for
`retry_seconds` nobody may. Then exactly one caller becomes the probe
(half-open) while the others still keep away; the probe's success closes the
breaker, its failure opens it for another `retry_seconds`. A probe that never
reports back (its thread died) is replaced after `retry_seconds`.

The state lives in one process's memory, so each gunicorn worker learns of an
outage on its own; nothing else depends on it. Written here rather than taken
from pybreaker or circuitbreaker: pybreaker holds its lock for the whole
protected call (a worker's inserts would run one at a time, and callers would
queue behind a probe that hangs), and circuitbreaker lets every caller through
while half-open.
"""
import threading
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitBreaker:
    """Whether a caller may use a service now, learnt from how its last calls went; safe across threads."""

    def __init__(self, retry_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._next_probe_at = 0.0

    @property
    def state(self) -> str:
        """`closed`, `open` or `half-open` (a probe is out)."""
        return self._state

    def allow(self) -> bool:
        """May this caller use the service? If yes, it must call `succeeded` or `failed` afterwards."""
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self._clock()
            if now < self._next_probe_at:
                return False
            self._state = HALF_OPEN  # this caller is the probe; everyone else keeps away until it reports
            self._next_probe_at = now + self.retry_seconds
            return True

    def succeeded(self) -> None:
        """The service answered: let every caller use it again."""
        with self._lock:
            self._state = CLOSED

    def failed(self) -> None:
        """The service failed: keep callers away for `retry_seconds`."""
        with self._lock:
            self._state = OPEN
            self._next_probe_at = self._clock() + self.retry_seconds
