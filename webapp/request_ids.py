"""Request ids: one per request, the sender's own when it is sane, on every answer and every log line.

The dashboard and the webhook each give their requests an id (`webapp.intake`
without Flask's hooks). The id of the request a thread is serving is kept in a
context variable only so that log lines can end with it; no code reads it to
decide anything.
"""
import contextvars
import logging
import re
import uuid

from flask import Flask, request

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or a sender may hand us: short, and nothing that could forge a log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")
NO_REQUEST = "-"

_logged_request_id = contextvars.ContextVar("logged_request_id", default=NO_REQUEST)


def request_id_for(headers) -> str:
    """The sender's X-Request-ID when it is sane, else a new one."""
    given = headers.get(REQUEST_ID_HEADER, "")
    return given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def log_as(request_id: str) -> None:
    """End this thread's log lines with `request_id` until `stop_logging_as`."""
    _logged_request_id.set(request_id)


def stop_logging_as(_error: BaseException | None = None) -> None:
    """This thread serves no request any more: its log lines end with `-`."""
    _logged_request_id.set(NO_REQUEST)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record: the id of the request being served, or `-`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record."""
        record.request_id = _logged_request_id.get()
        return True


def configure_logging(config) -> None:
    """Log our lines to stderr (gunicorn captures them), each ending with its request id; repeat config warnings."""
    logger = logging.getLogger("webapp")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s request_id=%(request_id)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logging.getLogger("flask-limiter").addHandler(handler)  # its Redis warnings get a request id too
    for warning in config.get("CONFIG_WARNINGS", []):
        logger.warning(warning)


def register_request_ids(app: Flask) -> None:
    """Give each of `app`'s requests an id before any other hook runs, and send it back on the answer."""

    def start_request() -> None:
        log_as(request_id_for(request.headers))

    def send_request_id(response):
        response.headers[REQUEST_ID_HEADER] = _logged_request_id.get()
        return response

    # First, so a request the rate limiter refuses has an id too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(send_request_id)
    app.teardown_request(stop_logging_as)
