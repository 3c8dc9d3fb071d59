"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py run:app` (or `run:intake_app`).

Command-line flags override these (the tests pass their own `-b`).
"""
import os
import sys

from config import gunicorn_threads

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threaded workers: a manager's CSV download to a phone on a weak signal may take minutes. A sync
# worker sends no heartbeat while it writes one response, so gunicorn killed it at `timeout` and cut
# the file (tests/test_slow_download.py); a gthread worker's main thread keeps beating while one of
# its threads waits on a slow reader, and the other threads go on serving.
# gthread's threads also read the requests, so clients that send them slowly could hold every thread;
# this subclass reads each request in the main loop and gives it a thread once it is complete
# (a request still arriving after 10 s gets a 408). Measured in docs/scaling.md ("Slow clients").
worker_class = "gunicorn_worker.WholeRequestWorker"
threads = gunicorn_threads(os.environ)
# CarDekho gives up after 10 s; the database settles its timeouts within ~6 s (connect 3 s,
# statement 5 s) and then spools. A worker whose main loop stops for 30 s is killed and replaced.
timeout = 30
graceful_timeout = 25  # a deploy lets in-flight requests (and a drain in progress) finish
keepalive = 5          # the host's proxy reuses connections
# Build the app once in the master: a configuration error stops the start before any worker forks.
preload_app = True
# Recycle workers now and then, so no slow leak lives for ever.
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
logger_class = "gunicorn_worker.AccessLogWithoutIdleTabs"  # not the open list tabs' "nothing new" every 3 s
errorlog = "-"
# No query strings or headers other than the request id: nothing secret reaches the access log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'


def post_fork(server, worker):
    """Each worker opens its own database connections.

    With `preload_app` the engines (and any pooled connection) were made in the
    master; a socket shared by two processes interleaves their traffic. Dispose
    each pool without closing the parent's connections (SQLAlchemy's fork recipe):
    the dashboard's and the webhook's, whichever app this server serves.
    """
    run = sys.modules.get("run")
    if run is None or not hasattr(run, "app"):
        return
    from webapp.database import engines_of

    for engine in engines_of(run.app):
        engine.dispose(close=False)


def post_worker_init(worker):
    """Say when a worker serves: the master listens before its workers have booted (tests wait for this line)."""
    worker.log.info("Worker ready (pid: %s)", worker.pid)
