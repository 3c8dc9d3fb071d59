"""The benchmark (`make bench`) at a small size, so it keeps working; its timings are never asserted."""
import os
import re
import shutil
import uuid

import pytest
import redis

from bench import webhook
from bench.__main__ import Settings, run
from bench.servers import Gunicorn
from bench.wrk import ensure_wrk
from tests.conftest import skip_or_fail
from tests.servers import ROOT

SERVERS = ("real", "minimal", "typical")


@pytest.fixture
def wrk_and_redis():
    """wrk (installed by the bench itself when it can) and the machine's Redis; CI fails without them."""
    if ensure_wrk() is None:
        skip_or_fail("wrk is not installed (make bench installs it as root; else 'sudo apt-get install wrk')")
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        skip_or_fail(f"Redis not reachable at 127.0.0.1:6379: {error}")


def small(tmp_path, **sizes) -> Settings:
    """Settings for a run of a few seconds per section, in tmp_path, on a database and Redis number of its own."""
    return Settings(leads=3000, sqlite_leads=1500, senders=(4,), seconds=1, warmup_seconds=0, rounds=1, repeats=3,
                    database=f"raam_bench_smoke_{uuid.uuid4().hex[:8]}", redis_db=14,
                    results=str(tmp_path / "RESULTS.md"), plans=str(tmp_path / "plans"),
                    work=str(tmp_path / "out"), profile=False, **sizes)


def webhook_rows(text: str) -> dict[str, list[str]]:
    """The webhook table's cells per server (senders, server, req/s, of the rounds, p50, p99, CPU ms, answers)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 8 and cells[1] in (*SERVERS, "twin"):
            rows[cells[1]] = cells
    return rows


def assert_every_server_answered_201_only(text: str, servers: tuple[str, ...]) -> None:
    rows = webhook_rows(text)
    assert set(rows) == set(servers), text
    for name, cells in rows.items():
        assert re.fullmatch(r"201: [\d,]+", cells[7]), (name, cells)  # every answer counted, all of them 201
        assert float(cells[6]) > 0, (name, cells)  # the workers' CPU was read from /proc
    assert "invalid" not in text and "socket error" not in text


def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path, postgresql_url, wrk_and_redis):
    settings = small(tmp_path)
    text = run(settings)
    assert text == (tmp_path / "RESULTS.md").read_text()
    for heading in ("## Targets", "## 1. Webhook at", "## 2. Dashboard", "## 3. Export", "## 4. Dashboard",
                    "## Live list: open tabs", "### Where the real webhook's CPU goes"):
        assert heading in text
    # The working-the-leads list views are timed on both databases, against the same budget as the others.
    for backend in ("postgresql", "sqlite"):
        assert re.search(rf"\| {backend}: each of the 8 scenarios p95 < \d+ ms \|", text), backend
    assert text.count("| a sales person's new leads (owner=ID&status=new") == 2
    assert text.count("| repeats hidden (repeats=hide) |") == 2
    assert "| without routing (no router thread) |" in text
    assert re.search(r"\| webhook: routing costs a sender nothing at a steady pace, .* \| [\d.]+× \|", text)
    assert "| router and mail sender as processes of their own |" in text
    assert "### What routing costs a sender" in text
    assert re.search(r"\| webhook keeps ≥ 90% of its throughput while 100 list tabs poll \| \d+% \|", text)
    assert re.search(r"\| nothing new, no filters \| \d+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \{'204': \d+\} \|", text)
    assert re.search(r"an \"anything new\?\" costs [\d.]+ ms \(status=new&owner=me\), a lead [\d.]+ ms", text)
    assert f"**Machine:** {os.cpu_count()} cores" in text  # the report says what it was measured on
    # The rebuilt search indexes keep the histogram size the migrations give them (a common name's plan needs it).
    assert "`ix_mg-digital-leads_search_text_trgm` column 1: 1000" in text
    assert "wrk" in text
    assert_every_server_answered_201_only(text, (*SERVERS, "twin"))
    for target in ("webhook req/s ≥ 0.8× minimal at 4 senders", "webhook p99 ≤ 1.5× minimal at 4 senders",
                   "webhook req/s ≥ 1.5× typical at 4 senders"):
        assert re.search(rf"\| {re.escape(target)} \| [\d.]+× \| (met|\*\*missed\*\*) \|", text), target
    plans = sorted(path.name for path in (tmp_path / "plans").iterdir())
    assert "postgresql-1.md" in plans and "sqlite-1.md" in plans
    assert "Index Scan" in (tmp_path / "plans" / "postgresql-1.md").read_text()
    assert redis.Redis(db=14).dbsize() == 0


def test_only_webhook_replaces_the_webhook_section_and_keeps_the_others(tmp_path, postgresql_url, wrk_and_redis):
    shutil.copy(os.path.join(ROOT, "bench", "RESULTS.md"), tmp_path / "RESULTS.md")
    before = (tmp_path / "RESULTS.md").read_text()
    text = run(small(tmp_path, only="webhook"))
    assert text == (tmp_path / "RESULTS.md").read_text()
    assert_every_server_answered_201_only(text, SERVERS)
    assert "python -m bench --only webhook" in text and "3,000 leads" in text  # says what it measured, on what
    # The dashboard, export and SQLite sections of the last full run are kept as they were.
    assert before[before.index("## 2. Dashboard"):] == text[text.index("## 2. Dashboard"):]
    kept = [line for line in before.splitlines()
            if line.startswith(("| postgresql:", "| export", "| sqlite:", "| webhook keeps"))]
    assert kept and all(line in text for line in kept)
    assert text.count("## 1. Webhook") == 1 and text.count("## Targets") == 1
    assert text.count("| webhook: routing costs a sender nothing") == 1 and "### What routing costs a sender" in text
    assert redis.Redis(db=14).dbsize() == 0


def test_a_run_with_refused_answers_is_reported_invalid_not_averaged(tmp_path, postgresql_url, wrk_and_redis):
    env = {"DATABASE_URL": postgresql_url, "CARDEKHO_API_KEYS": "the-key-the-server-knows"}
    with Gunicorn("bench.minimal_app:app", env, 1, str(tmp_path / "gunicorn.log")) as server:
        results = webhook.compare([(name, server) for name in SERVERS], "a-key-it-does-not-know", senders=(2,),
                                  seconds=1, warmup_seconds=0, rounds=1)
    assert not results[2]["real"].clean
    assert "403: " in results[2]["real"].answers()
    for target, measured, verdict in webhook.target_rows(results):
        assert "invalid" in verdict and "403" in verdict, (target, measured, verdict)
