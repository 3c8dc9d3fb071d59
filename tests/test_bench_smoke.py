"""The benchmark (`make bench`) at a small size, so it keeps working; its timings are never asserted."""
import os
import re
import uuid

import redis

from bench.__main__ import Settings, run
from tests.conftest import skip_or_fail


def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path, postgresql_url):
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        skip_or_fail(f"Redis not reachable at 127.0.0.1:6379: {error}")
    settings = Settings(leads=3000, sqlite_leads=1500, senders=(1, 4), requests=40, rounds=1, repeats=3,
                        database=f"raam_bench_smoke_{uuid.uuid4().hex[:8]}", redis_db=14,
                        results=str(tmp_path / "RESULTS.md"), plans=str(tmp_path / "plans"),
                        work=str(tmp_path / "out"), profile=False)
    text = run(settings)
    assert text == (tmp_path / "RESULTS.md").read_text()
    for heading in ("## Targets", "## 1. Webhook at", "## 2. Dashboard", "## 3. Export", "## 4. Dashboard"):
        assert heading in text
    assert f"**Machine:** {os.cpu_count()} cores" in text  # the report says what it was measured on
    # Every request of the webhook runs was answered 201 by both apps.
    assert re.findall(r"\{201: 40\} / \{201: 40\}", text), text
    assert "{0:" not in text and "500" not in re.findall(r"\{(\d+):", text)
    plans = sorted(path.name for path in (tmp_path / "plans").iterdir())
    assert "postgresql-1.md" in plans and "sqlite-1.md" in plans
    assert "Index Scan" in (tmp_path / "plans" / "postgresql-1.md").read_text()
    assert redis.Redis(db=14).dbsize() == 0
