"""A background thread per worker process: the spool drainer, the lead router and the mail sender are each one.

gunicorn forks workers, and a thread does not survive a fork: each process
starts its own thread on first use (checked by PID), so it works with and
without `--preload`; a forked child gets fresh locks and events, since the
ones copied from the parent may be in any state.

A thread is a daemon: it never keeps a process alive, but one killed at interpreter exit stops wherever it
is. So a process that ends on purpose asks its threads to stop (`ask_worker_threads_to_stop`) and, at exit,
waits for them (`stop_worker_threads`): each ends at its next safe point, and the mail sender gives back
the mails it claimed and has not sent, rather than leaving them leased (webapp.leads.outbox.LEASE). A
gunicorn worker asks as its shutdown begins (a deploy, a `max_requests` recycle: gunicorn_worker), while
its last requests finish; a foreground loop (`flask mail work`) on SIGTERM or Ctrl-C.
"""
import atexit
import logging
import os
import signal
import threading
import time
import weakref

log = logging.getLogger(__name__)

# Every WorkerThread of this process (weakly: the tests build many apps).
_ALL: "weakref.WeakSet[WorkerThread]" = weakref.WeakSet()


class WorkerThread:
    """Runs `run_round()` when woken and every `interval` seconds in a daemon thread of this process."""

    name = "worker-thread"

    def __init__(self, interval: float):
        self.interval = interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        os.register_at_fork(after_in_child=_ResetInChild(self))
        _ALL.add(self)

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

    def stopping(self) -> bool:
        """Whether the loop was asked to stop: a long round asks between its items."""
        return self._stop.is_set()

    def run_until_interrupted(self) -> None:
        """The loop as a process of its own (`flask mail work`, `flask leads route-work`): SIGTERM (how a host
        stops a service) and Ctrl-C end it after the round's current item.

        The loop runs in its thread; the main thread only waits, and the signal handlers only note the signal
        (a handler that set the loop's events could deadlock on a lock the main thread holds)."""
        signalled = []
        handlers = {number: signal.signal(number, lambda signum, frame: signalled.append(signum))
                    for number in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.ensure_running()
            while self._running_here() and not signalled:
                self._thread.join(0.2)
            self.stop()
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)

    def stop(self, timeout: float = 15) -> None:
        """Stop the loop and wait for its thread (at most `timeout` s)."""
        self._ask_to_stop()
        self._join(time.monotonic() + timeout)

    def _ask_to_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _join(self, deadline: float) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))

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
            if not self._stop.is_set():  # a stop asked during the round cleared no wake-up it still needs
                self._wake.wait(self.interval)


def ask_worker_threads_to_stop() -> None:
    """Ask every WorkerThread running in this process to stop at its next safe point (no waiting)."""
    for thread in list(_ALL):
        if thread._running_here():
            thread._ask_to_stop()


def stop_worker_threads(timeout: float = 10) -> None:
    """Stop every WorkerThread running in this process, waiting at most `timeout` s for them all."""
    running = [thread for thread in list(_ALL) if thread._running_here()]
    ask_worker_threads_to_stop()
    deadline = time.monotonic() + timeout
    for thread in running:
        thread._join(deadline)
    if any(thread._running_here() for thread in running):
        log.warning("background threads still running after %g s: they stop where they are", timeout)


# Every process that ends by returning from its main code (a gunicorn worker's exit: a deploy, a `max_requests`
# recycle; the development server on Ctrl-C) runs this while its daemon threads still run.
atexit.register(stop_worker_threads)


class _ResetInChild:
    """Called in a forked child: fresh locks for the thread's owner, without keeping it alive (tests build many)."""

    def __init__(self, owner: WorkerThread):
        self.owner = weakref.ref(owner)

    def __call__(self) -> None:
        owner = self.owner()
        if owner is not None:
            owner._reset_after_fork()
