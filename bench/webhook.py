"""Benchmark 1: webhook servers taking turns under wrk — req/s, latency and worker CPU per request of each.

The servers run on the same database with the same gunicorn settings; at each concurrency every round runs
each server once, the order rotating, so the machine's other load falls on all of them alike. A server's
figures are the medians of its rounds. After each run the bench waits until the server's router and mail sender
have worked that run's leads (their CPU counts as the run's) and hands anything left to no one, so no server
inherits another's backlog and no turn is slowed by the one before. Every answer is counted by status: a run
in which any answer was not 2xx (a 429 included) or a connection failed makes its server's figures invalid,
and every ratio built on them says so instead of a verdict.
"""
import contextlib
import os
import statistics
import time
from dataclasses import dataclass, field

from bench import report
from bench.commands import psql
from bench.servers import Gunicorn
from bench.wrk import WrkRun, run_wrk


@dataclass
class ServerResult:
    """One server at one concurrency, over the rounds."""

    runs: list[WrkRun] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # worker CPU per request, one per run

    @property
    def rate(self) -> float:
        """Median req/s of the rounds."""
        return statistics.median(run.rate for run in self.runs)

    def rates(self) -> str:
        """Each round's req/s, lowest first: how far the noise of the machine spread them."""
        return ", ".join(f"{run.rate:,.0f}" for run in sorted(self.runs, key=lambda run: run.rate))

    @property
    def p50(self) -> float:
        """Median of the rounds' p50 latencies, ms."""
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99(self) -> float:
        """Median of the rounds' p99 latencies, ms."""
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def cpu(self) -> float:
        """Median worker CPU milliseconds per request."""
        return statistics.median(self.cpu_ms)

    @property
    def clean(self) -> bool:
        """Whether every answer of every run was 2xx and no connection failed."""
        return all(200 <= status < 300 for run in self.runs for status in run.statuses) and not any(
            run.socket_errors for run in self.runs)

    def answers(self) -> str:
        """Every answer by status over the rounds, and socket errors if any: `201: 12,345`."""
        statuses, errors = {}, {}
        for run in self.runs:
            for status, count in run.statuses.items():
                statuses[status] = statuses.get(status, 0) + count
            for name, count in run.socket_errors.items():
                errors[name] = errors.get(name, 0) + count
        text = ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())) or "none"
        if errors:
            text += " (socket errors: " + ", ".join(f"{name} {count:,}" for name, count in errors.items()) + ")"
        return text


# The mark of leads stored before working the leads existed (migration 0009): the router and escalation skip them.
ROUTED_BEFORE = "2000-01-01 00:00:00+00"
WAITING = ('SELECT (SELECT count(*) FROM "mg-digital-leads" WHERE routed_at IS NULL) '
           '+ (SELECT count(*) FROM outbox WHERE sent_at IS NULL)')


def wait_until_leads_are_worked(dsn: str, timeout: float = 60) -> None:
    """Until no lead waits for its owner and no mail to be sent (at most `timeout` s): a flood leaves the router
    and the mail sender a backlog, which would otherwise take its CPU from whichever run comes next."""
    deadline = time.monotonic() + timeout
    while psql(_plain(dsn), WAITING) != "0":
        if time.monotonic() > deadline:
            left = psql(_plain(dsn), 'SELECT (SELECT count(*) FROM "mg-digital-leads" WHERE routed_at IS NULL) '
                                     "|| ' leads unrouted, ' || count(*) || ' mails unsent, of them leased: ' "
                                     "|| count(*) FILTER (WHERE next_attempt_at > now()) FROM outbox "
                                     "WHERE sent_at IS NULL")
            raise RuntimeError(f"the router or the mail sender left work waiting for {timeout:g} s: {left}")
        time.sleep(0.25)


def hand_over_leftovers(dsn: str) -> None:
    """Leads a server without a router stored count as routed long ago, and its mails as gone: no later server
    works them."""
    psql(_plain(dsn), f"""UPDATE "mg-digital-leads" SET routed_at = '{ROUTED_BEFORE}' WHERE routed_at IS NULL""")
    psql(_plain(dsn), "DELETE FROM outbox WHERE sent_at IS NULL")


def _plain(dsn: str) -> str:
    return dsn.replace("postgresql+psycopg2://", "postgresql://")  # psql reads only the plain scheme


def compare(servers: list[tuple[str, Gunicorn]], key: str, senders: tuple[int, ...], seconds: int,
            warmup_seconds: int, rounds: int, pause_ms: int = 0,
            dsn: str | None = None) -> dict[int, dict[str, ServerResult]]:
    """{senders: {server name: its result}}: each server in turn, the order rotating every round. A server not
    started yet is started for its turn and stopped after it (many at once would exceed PostgreSQL's
    connections). Senders post as fast as they are answered, or pause about `pause_ms` after each answer.
    With `dsn` (the servers' database), a run's worker CPU includes its server working the run's leads
    afterwards (routing, mails; `Gunicorn.works_the_leads`), and what is left is handed over before the next."""
    results = {}
    for concurrency in senders:
        results[concurrency] = {name: ServerResult() for name, _ in servers}
        for round_number in range(rounds):
            turn = round_number % len(servers)
            for name, server in servers[turn:] + servers[:turn]:
                with contextlib.nullcontext(server) if server.process else server:
                    if warmup_seconds:  # every worker's imports, phone metadata, Redis scripts, connections; hot pages
                        run_wrk(server.port, key, concurrency, warmup_seconds)
                    if dsn and server.works_the_leads:  # the warm-up's leads are not the run's
                        wait_until_leads_are_worked(dsn)
                    pids = server.worker_pids()
                    before = worker_cpu_seconds(pids)
                    run = run_wrk(server.port, key, concurrency, seconds, pause_ms)
                    if dsn and server.works_the_leads:
                        wait_until_leads_are_worked(dsn)
                    used = worker_cpu_seconds(pids) - before
                    if dsn:
                        hand_over_leftovers(dsn)
                results[concurrency][name].runs.append(run)
                results[concurrency][name].cpu_ms.append(used / max(run.requests, 1) * 1000)
    return results


def worker_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def results_table(results: dict[int, dict[str, ServerResult]]) -> str:
    """Per concurrency and server: req/s (and each round's), p50, p99, worker CPU per request, every answer."""
    rows = [[concurrency, name, result.rate, result.rates(), result.p50, result.p99, result.cpu, result.answers()]
            for concurrency, by_server in results.items() for name, result in by_server.items()]
    return report.table(["senders", "server", "req/s", "req/s of the rounds", "p50 ms", "p99 ms",
                         "worker CPU ms / request", "answers"], rows)


def ratios_table(results: dict[int, dict[str, ServerResult]]) -> str:
    """The issue's ratios per concurrency, and the worker CPU per request of real against each baseline."""
    rows = []
    for concurrency, by_server in results.items():
        real, minimal, typical = by_server["real"], by_server["minimal"], by_server["typical"]
        rows.append([concurrency, real.rate / minimal.rate, real.p99 / minimal.p99, real.rate / typical.rate,
                     real.cpu / minimal.cpu, real.cpu / typical.cpu])
    return report.table(["senders", "real / minimal req/s (≥ 0.8)", "real / minimal p99 (≤ 1.5)",
                         "real / typical req/s (≥ 1.5)", "real / minimal CPU", "real / typical CPU"], rows)


def target_rows(results: dict[int, dict[str, ServerResult]]) -> list[list[str]]:
    """The issue's three targets per concurrency: [target, measured, verdict], invalid if an answer was not 2xx."""
    rows = []
    for concurrency, by_server in results.items():
        real, minimal, typical = by_server["real"], by_server["minimal"], by_server["typical"]
        at = f"at {concurrency} senders"
        rate_ratio, p99_ratio = real.rate / minimal.rate, real.p99 / minimal.p99
        typical_ratio = real.rate / typical.rate
        rows.append([f"webhook req/s ≥ 0.8× minimal {at}", f"{rate_ratio:.2f}×",
                     _verdict(rate_ratio >= 0.8, by_server, ("real", "minimal"))])
        rows.append([f"webhook p99 ≤ 1.5× minimal {at}", f"{p99_ratio:.2f}×",
                     _verdict(p99_ratio <= 1.5, by_server, ("real", "minimal"))])
        rows.append([f"webhook req/s ≥ 1.5× typical {at}", f"{typical_ratio:.2f}×",
                     _verdict(typical_ratio >= 1.5, by_server, ("real", "typical"))])
    return rows


def _verdict(ok: bool, by_server: dict[str, ServerResult], involved: tuple[str, ...]) -> str:
    unclean = [f"{name} answered {by_server[name].answers()}" for name in involved if not by_server[name].clean]
    if unclean:
        return "**invalid**: " + "; ".join(unclean)
    return report.verdict(ok)
