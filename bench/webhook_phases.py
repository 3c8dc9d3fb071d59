"""Benchmark 1's phases: the webhook against the minimal and the typical one under wrk, its profile, its CPU by
feature, and what the dashboard indexes cost an insert."""
import contextlib
import os
import subprocess
import time

from bench import report, webhook
from bench.commands import py_spy
from bench.servers import Gunicorn, GunicornWithSideProcesses
from bench.wrk import run_wrk

TWIN_TABLE = "mg-digital-leads-without-dashboard-indexes"
WORKERS = 4
THREADS = "4"  # GUNICORN_THREADS, the same for every server
PROFILE_SENDERS = 8
# A steady pace: 8 senders each pausing ~40 ms after an answer, some 170 leads a second (CarDekho may send 2 a
# second per key: 120 a minute); below the webhook's saturation, so the router's work has room beside it.
PACED_SENDERS, PACE_PAUSE_MS = 8, 40
IN_THREADS, UNROUTED = "the real webhook", "without routing (no router thread)"  # bench/variant_app.py
SIDE_PROCESSES = "router and mail sender as processes of their own"


class WebhookPhases:
    """Mixed into bench.phases.Phases, whose state (settings, envs, sections, targets) it uses."""

    def webhook(self, with_twin: bool) -> dict:
        """Real, minimal and typical (and minimal on the twin table) taking turns; a py-spy profile of the real app."""
        s = self.settings
        apps = [("real", "run:app", self.real_env), ("minimal", "bench.minimal_app:app", self.real_env),
                ("typical", "bench.typical_app:app", self.real_env)]
        if with_twin:
            apps.append(("twin", "bench.minimal_app:app", {**self.real_env, "LEADS_TABLE": TWIN_TABLE}))
        with contextlib.ExitStack() as stack:
            servers = [(name, stack.enter_context(Gunicorn(app, env, WORKERS, self.log,
                                                           works_the_leads=name == "real")))
                       for name, app, env in apps]
            self.load_averages = [report.load_average()]
            results = webhook.compare(servers, self.key, s.senders, s.seconds, s.warmup_seconds, s.rounds,
                                      dsn=self.dsn)
            self.load_averages.append(report.load_average())
            profiled = s.profile and py_spy() and self.profile_webhook(servers[0][1])
            webhook.wait_until_leads_are_worked(self.dsn)  # the profile's leads: no later phase inherits them
        self.webhook_results = results
        self.targets += webhook.target_rows(results)
        self.sections.append(self.webhook_section(results))
        if profiled:
            self.sections.append(f"### Where the real webhook's time goes (py-spy, {PROFILE_SENDERS} senders, all "
                                 f"{WORKERS} workers)\n\nShare of samples taken while a worker held the GIL, i.e. "
                                 "of its Python CPU time (inclusive); raw stacks in `bench/out/`.\n\n" + profiled + "\n")
        return results

    def webhook_section(self, results: dict) -> str:
        """Section 1's text: how it was measured, each server's figures, the ratios."""
        s = self.settings
        warmup = f"a {s.warmup_seconds} s warm-up" if s.warmup_seconds else "no warm-up"
        began, ended = self.load_averages
        load = (f"its 1-minute load average was {began:.1f} when the runs began and {ended:.1f} when they ended "
                f"({os.cpu_count()} cores)")
        return (f"## 1. Webhook at {s.leads:,} leads\n\n"
                "Load from **wrk** (`bench/webhook.lua`: one wrk thread, keep-alive connections, a distinct lead "
                "per request, every answer counted by status) against three servers on the same PostgreSQL "
                f"database ({s.leads:,} leads, every dashboard index) with the same gunicorn settings "
                f"(gunicorn.conf.py, {WORKERS} workers × {THREADS} threads): **real** is `run:app` in production "
                "configuration with its Redis rate limits, the per-key limit raised so that nothing gets a 429; "
                "**minimal** is `bench/minimal_app.py` (header check, JSON, one INSERT by psycopg2); **typical** "
                "is `bench/typical_app.py` (the guide done the common way: Flask-SQLAlchemy model insert, "
                "Flask-Limiter decorator on the same Redis, `request.get_json()`, 201). At each number of "
                f"senders, {s.rounds} round(s) of {s.seconds} s per server after {warmup}, "
                "taking turns with the order rotating; each figure is the median of the rounds. Worker CPU is "
                "the user + system time of the server's worker processes (from /proc) over a run and until its "
                "router and mail sender have worked the run's leads, divided by its answers (the baselines' leads "
                "are stored as routed long ago, so the real app's router leaves them alone). The machine is shared "
                "with other work, so single runs are noisy: compare within a run, "
                f"and read the ratios; {load}.\n\n" + webhook.results_table(results) + "\n\n"
                + webhook.ratios_table(results) + "\n")

    def profile_webhook(self, real: Gunicorn) -> str | None:
        """py-spy (GIL samples, all workers) during one more wrk run of the real app."""
        raw = os.path.join(self.settings.work, "webhook-profile.txt")
        spy = subprocess.Popen([py_spy(), "record", "--pid", str(real.process.pid), "--subprocesses", "--gil",
                                "--format", "raw", "--output", raw, "--rate", "250", "--nonblocking",
                                "--duration", "6"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        run_wrk(real.port, self.key, PROFILE_SENDERS, 4)
        spy.wait(timeout=30)
        if not os.path.exists(raw):
            return None
        self.profile_shares = report.profile_categories(raw)
        return (report.table(["share of worker CPU (GIL held)", "where"],
                             [[f"{share * 100:.1f}%", name] for name, share in self.profile_shares.items()])
                + "\n\nHeaviest frames (inclusive):\n\n" + report.top_frames(raw, 12))

    def webhook_breakdown(self) -> None:
        """Worker CPU per request of the real app with one feature off at a time, and of the minimal endpoint."""
        from bench.variant_app import VARIANTS

        s = self.settings
        # Started one at a time, for their turns: five servers' connection pools at once exceed PostgreSQL's 100.
        servers = [(variant, Gunicorn("bench.variant_app:app", {**self.real_env, "BENCH_VARIANT": variant}, WORKERS,
                                      self.log, works_the_leads=variant != UNROUTED)) for variant in VARIANTS]
        servers.append(("minimal endpoint", Gunicorn("bench.minimal_app:app", self.real_env, WORKERS, self.log)))
        results = webhook.compare(servers, self.key, (PROFILE_SENDERS,), s.seconds, s.warmup_seconds,
                                  s.rounds, dsn=self.dsn)[PROFILE_SENDERS]
        full, minimal = results["the real webhook"].cpu, results["minimal endpoint"].cpu
        rows = [[name, result.cpu, result.cpu - full, result.cpu / minimal, result.answers()]
                for name, result in results.items()]
        self.sections.append(
            f"### Where the real webhook's CPU goes\n\nWorker CPU per request under wrk at {PROFILE_SENDERS} "
            "senders, median of the rounds, for the real app with one feature off at a time "
            "(`bench/variant_app.py`) and for the minimal endpoint. On two shared cores, throughput follows the CPU "
            "every process spends on a request: the workers', and PostgreSQL's and Redis's, which every server "
            "pays about alike.\n\n" + report.table(
                ["variant", "worker CPU ms / request", "vs the real webhook", "× the minimal endpoint", "answers"],
                rows) + "\n")

    def routing_at_a_steady_pace(self) -> None:
        """What routing (repeats, owners, their mails) costs a sender when leads arrive at a pace, not a flood:
        the real app with its router and mail sender as threads of its workers (the default), as processes of
        their own, and with neither, taking turns."""
        s = self.settings
        servers = [(name, Gunicorn("bench.variant_app:app", {**self.real_env, "BENCH_VARIANT": name}, WORKERS,
                                   self.log, works_the_leads=name != UNROUTED)) for name in (IN_THREADS, UNROUTED)]
        servers.insert(1, (SIDE_PROCESSES, GunicornWithSideProcesses("run:app", self.real_env, WORKERS, self.log)))
        results = webhook.compare(servers, self.key, (PACED_SENDERS,), s.seconds, s.warmup_seconds, s.rounds,
                                  pause_ms=PACE_PAUSE_MS, dsn=self.dsn)[PACED_SENDERS]
        threads, processes, unrouted = results[IN_THREADS], results[SIDE_PROCESSES], results[UNROUTED]
        ratio = processes.p99 / unrouted.p99
        self.targets.append([f"webhook: routing costs a sender nothing at a steady pace, router and mail sender as "
                             f"processes of their own: p99 ≤ 1.25× without routing ({PACED_SENDERS} senders, "
                             f"~{unrouted.rate:.0f} leads/s)", f"{ratio:.2f}×", report.verdict(ratio <= 1.25)])
        rows = [[name, result.rate, result.p50, result.p99, result.p99 / unrouted.p99, result.cpu, result.answers()]
                for name, result in results.items()]
        self.sections.append(
            f"### What routing costs a sender\n\nThe router (repeat links, owners in turn, their mails) never runs "
            f"in the webhook's request. {PACED_SENDERS} senders, each pausing about {PACE_PAUSE_MS} ms after an "
            f"answer (a steady pace, below saturation; CarDekho may send 2 a second per key), to the real app "
            f"with the router and the mail sender as threads of its workers (the default), as processes of their "
            f"own (`flask leads route-work`, `flask mail work`; their CPU counted with the workers'), and with "
            f"neither; taking turns, median of {s.rounds} rounds. As threads they take the web workers' GIL in "
            f"turns with the requests, and the sender waits for it (p99 {threads.p99 / unrouted.p99:.1f}× none); "
            f"as processes the system shares the cores between them. In a flood (the breakdown above) the router "
            f"works in batches beside the requests and after the run; its CPU counts there.\n\n" + report.table(
                ["server", "leads/s", "p50 ms", "p99 ms", "p99 × none", "worker CPU ms / lead", "answers"], rows)
            + "\n")

    def index_cost(self) -> None:
        """The dashboard indexes' cost to the insert: the minimal endpoint on the table with them vs the twin."""
        table = [[senders, by_server["twin"].rate, by_server["minimal"].rate,
                  by_server["minimal"].rate / by_server["twin"].rate, by_server["twin"].p99, by_server["minimal"].p99]
                 for senders, by_server in self.webhook_results.items()]
        worst = min(row[3] for row in table)
        self.targets.append(["dashboard indexes cost the insert ≤ 15% (minimal endpoint, with / without, "
                             "concurrent senders)", f"{worst:.2f}× at worst", report.verdict(worst >= 0.85)])
        self.sections.append(
            "### What the dashboard indexes cost the insert\n\nThe minimal endpoint inserting into the leads table "
            "(all indexes) and, in the same turns under wrk, into a twin copy of it that has only the indexes from "
            "before the dashboard migration (and the router's waiting-leads index; same rows).\n\n" + report.table(
                ["senders", "req/s without", "req/s with", "with / without", "p99 ms without", "p99 ms with"], table)
            + f"\n\nBuilding the dashboard indexes over {self.settings.leads:,} leads took "
            f"{self.index_seconds:.1f} s.\n")
