"""`python -m bench.live_list`: what open list tabs cost — the "anything new?" answer's latency at a million
leads, and the webhook's throughput while 100 tabs poll against none.

`make bench` runs it on its own seeded leads (LivePhases, production settings, 4 workers); alone it seeds
a throwaway PostgreSQL database of its own (dropped at the end) and serves it with 2 workers of 4 threads.
Loopback only, bounded runs. wrk drives both loads (bench/webhook.lua,
bench/live_poll.lua); the rounds alternate "no tabs" and "100 tabs" so drift on a shared machine hits both.
"""
import argparse
import http.cookiejar
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from bench import report
from bench.servers import BENCH_OPTIONS, children_of
from bench.webhook import wait_until_leads_are_worked, worker_cpu_seconds
from tests.servers import ROOT, free_port, run_flask, scratch_database, start_gunicorn, stop

BASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = "bench-key-not-a-secret"
PASSWORD = "bench-password-not-a-secret"
WEBHOOK = "/admin/mg-digital-leads/source/cardekho"
LIVE = "/admin/mg-digital-leads/live"
POLL_MS = 3000  # live.js asks every 3 s
# The tabs watch a view the benchmark's leads (MG Windsor EV, webhook.lua) never enter: idle tabs, answered 204.
TAB_VIEW = "&car_model=MG+Hector&status=new"


def wrk(script: str, url: str, connections: int, seconds: int, *args: str) -> dict:
    """One bounded wrk run; its BENCH_RESULT line as a dict (rate in answers per second)."""
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", os.path.join(ROOT, "bench", script), url, "--", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60)
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT "))
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def sign_in(base: str) -> str:
    """A signed-in session's Cookie header (the sales person main() creates)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"email": "bench@raam.example", "password": PASSWORD, "csrf_token": token})
    opener.open(base + "/login", data=form.encode()).read()
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def newest_asked_from(base: str, cookie: str, dsn: str) -> int:
    """The id a list page drawn now asks "anything new?" from, once the router holds no lead.

    A page drawn while the router still holds leads (an earlier phase's last ones) asks from below them and is
    shown them when they are routed, so "nothing new" would time some answers with rows (bounded: 30 s).
    """
    request = urllib.request.Request(base + "/admin/mg-digital-leads", headers={"Cookie": cookie})
    urllib.request.urlopen(request, timeout=10).read()  # a worker's first request starts its router
    wait_until_leads_are_worked(dsn)
    time.sleep(1.1)  # every worker's cached newest id (LIVE_ANSWER_SECONDS) is read after the last routing
    listing = urllib.request.urlopen(request, timeout=10).read().decode()
    return int(re.search(r'data-after="(\d+)"', listing).group(1))


def measure(base: str, cookie: str, dsn: str, seconds: int, rounds: int, worker_pids) -> dict:
    """The numbers: the live answer's latency (idle and filtered) and webhook rates with and without tabs;
    worker CPU per answer and per lead (`worker_pids()`: the server's workers)."""
    after = newest_asked_from(base, cookie, dsn)
    results = {}

    def timed_wrk(*args) -> dict:
        pids = worker_pids()
        before = worker_cpu_seconds(pids)
        run = wrk(*args)
        run["cpu_ms"] = (worker_cpu_seconds(pids) - before) * 1000 / max(run["requests"], 1)
        return run

    for label, query in (("nothing new, no filters", ""), ("nothing new, status=new&owner=me", "&status=new&owner=me"),
                         ("nothing new, q=ravi (search)", "&q=ravi")):
        results[label] = timed_wrk("live_poll.lua", f"{base}{LIVE}?after={after}{query}", 4, seconds, cookie, "0")
    rates = {"none": [], "100 tabs": []}
    webhook_runs = []
    lead_cpu_ms = []
    tabs = []
    for round_number in range(rounds):
        # Each run starts from an idle router (a flood leaves it a backlog that would take the next run's CPU), and
        # the two take turns going first.
        for tabs_open in ((False, True) if round_number % 2 == 0 else (True, False)):
            wait_until_leads_are_worked(dsn)
            if tabs_open:
                webhook_runs.append(webhook_with_tabs(base, cookie, after, seconds, tabs))
                rates["100 tabs"].append(webhook_runs[-1]["rate"])
            else:
                alone = timed_wrk("webhook.lua", base + WEBHOOK, 8, seconds, KEY)
                rates["none"].append(alone["rate"])
                lead_cpu_ms.append(alone["cpu_ms"])
    results["webhook"] = {name: statistics.median(values) for name, values in rates.items()}
    results["lead_cpu_ms"] = statistics.median(lead_cpu_ms)
    results["webhook_rounds"] = rates
    results["tabs"] = tabs
    results["webhook_with_tabs_runs"] = webhook_runs
    return results


def webhook_with_tabs(base: str, cookie: str, after: int, seconds: int, tabs: list) -> dict:
    """One webhook run while 100 tabs poll; the tabs' own wrk result is appended to `tabs`."""
    poller = subprocess.Popen(
        ["wrk", "-t", "1", "-c", "100", "-d", f"{seconds + 6}s", "--timeout", "10s", "-s",
         os.path.join(ROOT, "bench", "live_poll.lua"), f"{base}{LIVE}?after={after}{TAB_VIEW}", "--", cookie,
         str(POLL_MS), "100"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(4)  # the tabs have spread out
        run = wrk("webhook.lua", base + WEBHOOK, 8, seconds, KEY)
        out, _ = poller.communicate(timeout=seconds + 60)
    finally:
        if poller.poll() is None:
            poller.kill()
    tab_run = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH_RESULT "))
                         .removeprefix("BENCH_RESULT "))
    tab_run["rate"] = tab_run["requests"] / (tab_run["duration_us"] / 1e6)
    tabs.append(tab_run)
    return run


def seed(database_url: str, count: int) -> None:
    """`count` leads over two years in one INSERT … SELECT (seed-demo's realism is not needed to time an id range)."""
    import psycopg2

    dsn = database_url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO "mg-digital-leads" (platform, name, phone_number, phone_normalized, car_model, campaign,
                                            utm_source, payload, created_at, routed_at, status, first_contacted_at)
            SELECT 'CarDekho', 'Lead ' || g, '98' || lpad(g::text, 8, '0'), '+9198' || lpad(g::text, 8, '0'),
                   (ARRAY['MG Hector', 'MG Astor', 'MG Windsor EV', 'MG ZS EV', 'MG Gloster'])[1 + g %% 5],
                   (ARRAY['EV Awareness Q4', 'Diwali', 'Monsoon'])[1 + g %% 3], 'cardekho_ads', '{}',
                   now() - interval '730 days' + (g * interval '730 days' / %(count)s),
                   now() - interval '730 days' + (g * interval '730 days' / %(count)s),
                   CASE WHEN g %% 4 = 0 THEN 'new' ELSE 'contacted' END,
                   CASE WHEN g %% 4 = 0 THEN NULL ELSE now() - interval '730 days' + (g * interval '730 days' / %(count)s) END
            FROM generate_series(1, %(count)s) g""", {"count": count})
    connection.close()
    connection = psycopg2.connect(dsn)
    connection.autocommit = True  # VACUUM runs outside a transaction
    with connection.cursor() as cursor:
        cursor.execute('VACUUM ANALYZE "mg-digital-leads"')
    connection.close()


def main() -> None:
    """Seed, serve, measure, print a Markdown section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with scratch_database(BASE_URL, "live_bench") as database_url, tempfile.TemporaryDirectory() as spool:
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "b" * 64, "CARDEKHO_API_KEYS": KEY,
               "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": "memory://",
               "WEBHOOK_RATE_LIMIT": "100000000 per minute", "SPOOL_DIR": spool}
        run_flask(env, "db", "upgrade")
        started = time.monotonic()
        seed(database_url, options.leads)
        seeded = time.monotonic() - started
        run_flask(env, "users", "create", "bench@raam.example", "--name", "Bench Person", "--role", "sales",
                  stdin=f"{PASSWORD}\n{PASSWORD}\n")
        port = free_port()
        server = start_gunicorn(port, env, workers=2, options=BENCH_OPTIONS)  # no worker restarts mid-run
        try:
            base = f"http://127.0.0.1:{port}"
            results = measure(base, sign_in(base), database_url, options.seconds, options.rounds,
                              lambda: children_of(server.pid))
        finally:
            stop(server)
    print(report_section(results, options.leads, options.seconds, f"seeded in {seeded:.0f} s", 2))


def webhook_kept(results: dict) -> float:
    """The webhook's throughput with 100 tabs polling, as a share of its throughput with none."""
    return results["webhook"]["100 tabs"] / results["webhook"]["none"]


def report_section(results: dict, leads: int, seconds: int, data: str, workers: int) -> str:
    """The section for bench/RESULTS.md."""
    lines = [f"## Live list: open tabs ({leads:,} leads on PostgreSQL, {data})", "",
             f"gunicorn {workers} workers × 4 threads, wrk on loopback, "
             f"{seconds} s runs, {os.cpu_count()} cores shared.", "",
             "| \"anything new?\" (4 connections, back to back) | answers/s | p50 ms | p95 ms | p99 ms "
             "| worker CPU ms / answer | statuses |",
             "|---|---|---|---|---|---|---|"]
    for label, run in results.items():
        if label.startswith("nothing new"):
            lines.append(f"| {label} | {run['rate']:.0f} | {run['p50_us'] / 1000:.1f} | {run['p95_us'] / 1000:.1f} "
                         f"| {run['p99_us'] / 1000:.1f} | {run['cpu_ms']:.2f} | {run['statuses']} |")
    webhook = results["webhook"]
    ratio = webhook_kept(results)
    tab_rate = statistics.median(run["rate"] for run in results["tabs"])
    tab_statuses = results["tabs"][0]["statuses"]
    lines += ["", "| webhook, 8 senders | leads/s (median of rounds) | rounds |", "|---|---|---|",
              f"| no tabs open | {webhook['none']:.0f} | {', '.join(f'{v:.0f}' for v in results['webhook_rounds']['none'])} |",
              f"| 100 tabs polling every {POLL_MS / 1000:.0f} s ({tab_rate:.0f} asks/s, {tab_statuses}) | {webhook['100 tabs']:.0f} "
              f"| {', '.join(f'{v:.0f}' for v in results['webhook_rounds']['100 tabs'])} |",
              "", f"With 100 tabs the webhook keeps **{ratio:.0%}** of its throughput (target: at least 90 %)."]
    ask_ms = results["nothing new, status=new&owner=me"]["cpu_ms"]
    lead_ms = results["lead_cpu_ms"]
    lines += ["", f"Worker CPU, which does not depend on how busy the machine is: an \"anything new?\" costs "
                  f"{ask_ms:.2f} ms (status=new&owner=me), a lead {lead_ms:.2f} ms (no tabs, median of rounds). "
                  f"So the tabs' {tab_rate:.0f} asks a second take the workers about "
                  f"{tab_rate * ask_ms / (webhook['none'] * lead_ms):.0%} of what "
                  f"{webhook['none']:.0f} leads a second take."]
    return "\n".join(lines) + "\n"


class LivePhases:
    """`make bench`'s live-list phase: on the seeded database, signed in as the benchmark's manager, with the
    production settings of the webhook benchmark (Redis limits, its workers)."""

    def live_list(self) -> None:
        from bench.servers import Gunicorn
        from bench.webhook_phases import WORKERS

        s = self.settings
        with Gunicorn("run:app", self.real_env, WORKERS, self.log) as server:
            cookie = self.manager_cookie(server.port, self.dsn)
            results = measure(f"http://127.0.0.1:{server.port}", cookie, self.dsn, max(s.seconds, 2), s.rounds,
                              server.worker_pids)
        kept = webhook_kept(results)
        self.targets.append(["webhook keeps ≥ 90% of its throughput while 100 list tabs poll", f"{kept:.0%}",
                             report.verdict(kept >= 0.9)])
        self.sections.append(report_section(results, s.leads, max(s.seconds, 2), "the seeded demo leads", WORKERS))


if __name__ == "__main__":
    main()
