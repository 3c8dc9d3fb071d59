"""Export slots: at most EXPORTS_PER_WORKER CSV downloads at once per worker, each slot given back once.

A download to a phone on a weak signal holds its worker thread for minutes, so
only a few run at a time and the other threads stay free for CarDekho's leads
and the rest of the dashboard. A slot is given back however its download ends:
finished, failed, abandoned by its reader, or never started.
"""
import threading
from collections.abc import Iterator


class ExportSlot:
    """One taken slot; `release` gives it back, and calling it again does nothing."""

    def __init__(self, slots: threading.BoundedSemaphore):
        self._slots = slots
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the slot back (once, whoever calls first)."""
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._slots.release()


def take_slot(slots: threading.BoundedSemaphore) -> ExportSlot | None:
    """A slot if one is free now (never waits), else None."""
    if not slots.acquire(blocking=False):
        return None
    return ExportSlot(slots)


def released_at_the_end(chunks: Iterator[str], slot: ExportSlot) -> Iterator[str]:
    """`chunks`, giving `slot` back when they end, raise, or are closed (even if closing them raises)."""
    try:
        yield from chunks
    finally:
        slot.release()
