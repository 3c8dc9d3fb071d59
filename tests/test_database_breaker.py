"""The circuit breaker in front of the database: its states, with a clock the test moves."""
import threading

from webapp.breaker import CircuitBreaker


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_on_a_failure_lets_one_probe_through_after_the_wait_and_closes_on_its_success():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    assert breaker.state == "closed" and [breaker.allow() for _ in range(3)] == [True, True, True]
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert [breaker.allow() for _ in range(3)] == [True, False, False]  # one probe, the others keep away
    assert breaker.state == "half-open"
    breaker.succeeded()
    assert breaker.state == "closed" and [breaker.allow() for _ in range(3)] == [True, True, True]


def test_a_failed_probe_opens_the_breaker_for_the_whole_wait_again():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow() and breaker.state == "half-open"
    clock.now += 0.8  # the probe waited on the database before it failed
    breaker.failed()
    assert breaker.state == "open"
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow() and breaker.state == "half-open"


def test_a_probe_that_never_reports_back_is_replaced_after_the_wait():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()  # this probe's thread dies without a word
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.1
    assert [breaker.allow(), breaker.allow()] == [True, False]


def test_of_many_threads_asking_at_once_exactly_one_becomes_the_probe():
    clock = FakeClock()
    breaker = CircuitBreaker(retry_seconds=5, clock=clock)
    breaker.failed()
    clock.now += 5
    start, answers = threading.Barrier(20), []

    def ask() -> None:
        start.wait(timeout=10)
        answers.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(answers) == [False] * 19 + [True]
