"""A background thread per worker process: the spool drainer, the lead router and the mail sender are each one.

gunicorn forks workers, and a thread does not survive a fork: each process
starts its own thread on first use (checked by PID), so it works with and
without `--preload`; a forked child gets fresh locks and events, since the
ones copied from the parent may be in any state.
"""
import logging
import os
import threading
import weakref

log = logging.getLogger(__name__)


class WorkerThread:
    """Runs `run_round()` when woken and every `interval` seconds in a daemon thread of this process."""

    name = "worker-thread"

    def __init__(self, interval: float):
        self.interval = interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        os.register_at_fork(after_in_child=_ResetInChild(self))

    def run_round(self) -> None:
        """One round of the thread's work."""
        raise NotImplementedError

    def report_failure(self, error: Exception) -> None:
        """Log a failed round (once per run of failures)."""
        log.error("%s: failed; retrying every %s s", self.name, self.interval, exc_info=error)

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        """Start this process's thread if it is not running (cheap when it is)."""
        if self.interval <= 0 or self._running_here():
            return
        with self._lock:
            if not self._running_here():
                thread = threading.Thread(target=self.run, name=self.name, daemon=True)
                thread.start()
                # The thread first, then the pid: a request thread checking without the lock must never
                # see this process's pid beside no thread.
                self._thread = thread
                self._pid = os.getpid()

    def _running_here(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def nudge(self) -> None:
        """Run a round soon. Costs the caller one Event.set()."""
        self._wake.set()

    def run_until_interrupted(self) -> None:
        """The loop in the foreground, as a process of its own (`flask mail work`, `flask leads route-work`)."""
        try:
            self.run()
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        """Stop the loop (tests, and a foreground loop on Ctrl-C)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid() and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    def run(self) -> None:
        """The loop: a round, then wait `interval` seconds or a nudge; it outlives any failure."""
        failing = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_round()
                failing = False
            except Exception as error:  # the thread must outlive any one failure
                if not failing:
                    self.report_failure(error)
                failing = True
            self._wake.wait(self.interval)


class _ResetInChild:
    """Called in a forked child: fresh locks for the thread's owner, without keeping it alive (tests build many)."""

    def __init__(self, owner: WorkerThread):
        self.owner = weakref.ref(owner)

    def __call__(self) -> None:
        owner = self.owner()
        if owner is not None:
            owner._reset_after_fork()
