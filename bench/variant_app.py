"""The real app with one feature switched off (`BENCH_VARIANT`), to measure what each feature costs.

Only the benchmark serves this (`gunicorn bench.variant_app:app`); production serves `run:app`.
"""
import os

from webapp import create_app

VARIANTS = {
    "the real webhook": {},
    "without the rate limiter": {"RATELIMIT_ENABLED": False},
    "rate limit counted in worker memory, not Redis": {"RATELIMIT_STORAGE_URI": "memory://"},
    # The router's thread (repeat links, owners, their mails) runs in the web workers beside the webhook.
    "without routing (no router thread)": {"ROUTE_INTERVAL": 0},
}

app = create_app(VARIANTS[os.environ.get("BENCH_VARIANT", "the real webhook")])
