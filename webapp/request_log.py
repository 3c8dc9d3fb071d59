"""One log line per webhook request: outcome, status, duration, lead id — no key, no phone."""
import logging
import time

from flask import g, request

log = logging.getLogger("webapp.intake")

OUTCOMES = {
    201: "stored", 400: "invalid", 401: "no_key", 403: "bad_key", 404: "not_found",
    405: "bad_method", 413: "too_large", 415: "not_json", 429: "rate_limited",
    500: "error", 503: "db_unavailable",
}


def register_request_log(app, path_prefix: str) -> None:
    """Time every request under `path_prefix` and log how it ended."""

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if request.path.startswith(path_prefix):
            duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
            log.info(
                "webhook outcome=%s status=%s duration_ms=%.1f lead_id=%s key=%s ip=%s reason=%r",
                OUTCOMES.get(response.status_code, "other"), response.status_code, duration_ms,
                g.get("lead_id"), g.get("api_key_label"), request.remote_addr, g.get("error_reason"),
            )
        return response
