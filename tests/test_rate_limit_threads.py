"""The limits counted in a worker's memory (`memory://`, and the fallback while Redis is away) under the threads
of one gthread worker: no count may raise (limits 5.8's MemoryStorage could start its expiry timer twice, and
the webhook answered 500)."""
import sys
import threading
import time

import pytest

from webapp.auth.sign_in_limits import SignInAttempt
from webapp.intake.parts import intake_of
from webapp.rate_limit_storage import LockedMemoryStorage, shared_storage

THREADS, BURSTS = 8, 80
# Counting in memory has nothing to do with the database.
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def count_in_bursts(count) -> list[BaseException]:
    """THREADS threads call `count()` at the same moment, BURSTS times, with a pause between bursts long enough
    for the storage's expiry timer to end (the race is in starting the next one); what the calls raised."""
    raised, start = [], threading.Barrier(THREADS)

    def thread(n: int) -> None:
        for _ in range(BURSTS):
            start.wait()
            try:
                count()
            except BaseException as error:  # what the webhook's request thread would have turned into a 500
                raised.append(error)
            if n == 0:
                time.sleep(0.02)

    in_threads(thread)
    return raised


def in_threads(work) -> None:
    """`work(n)` in THREADS threads at once, n = 0, 1, ..., switching threads as often as a loaded machine might."""
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for each in threads:
            each.start()
        for each in threads:
            each.join()
    finally:
        sys.setswitchinterval(switch_interval)


@ON_SQLITE
@pytest.mark.parametrize("store", ["memory://", "the fallback while Redis is away"])
def test_the_webhook_limit_counts_from_many_threads_without_an_error(app_factory, store):
    app = app_factory(RATELIMIT_STORAGE_URI="memory://", WEBHOOK_RATE_LIMIT="1000000 per minute")
    limits = intake_of(app).limits
    if store != "memory://":
        limits.counts.shared_down, limits.counts.shared_retry_at = True, time.monotonic() + 3600
    assert count_in_bursts(lambda: limits.check_key("cardekho")) == []


@ON_SQLITE
@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window", "sliding-window-counter"])
def test_the_sign_in_limits_count_from_many_threads_without_an_error(app_factory, strategy):
    plenty = "1000000 per minute"
    app = app_factory(RATELIMIT_STORAGE_URI="memory://", RATELIMIT_STRATEGY=strategy, LOGIN_RATE_LIMIT_PER_IP=plenty,
                      LOGIN_RATE_LIMIT_PER_ACCOUNT_AND_IP=plenty, LOGIN_RATE_LIMIT_PER_ACCOUNT=plenty)
    limits = app.extensions["sign_in_limits"]
    attempt = SignInAttempt(account="someone", address="127.0.0.1", device=None)
    assert count_in_bursts(lambda: limits.admit(attempt)) == []


@pytest.mark.parametrize("uri", ["memory://", "MEMORY://", "memory:"])
def test_every_spelling_of_memory_gets_the_locked_storage(uri):
    assert type(shared_storage({"RATELIMIT_STORAGE_URI": uri})) is LockedMemoryStorage


def test_counts_and_the_expiry_timer_never_race(monkeypatch):
    """Keys that expire every few milliseconds while 8 threads count them: limits' own timer thread removes
    expired keys meanwhile, and neither it nor a count raises (limits 5.8's MemoryStorage: a KeyError in the
    timer, a few times a second)."""
    storage, raised = LockedMemoryStorage(), []
    monkeypatch.setattr(threading, "excepthook", lambda hook: raised.append(hook.exc_value))
    until = time.monotonic() + 1

    def count(n: int) -> None:
        turn = 0
        while time.monotonic() < until:
            key = f"key-{(turn * 7 + n) % 50}"
            try:
                storage.incr(key, 0.002)
                storage.get(key)
            except BaseException as error:
                raised.append(error)
            turn += 1

    in_threads(count)
    time.sleep(0.05)  # the last timer has run
    assert raised == []
