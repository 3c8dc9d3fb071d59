"""Mails under real gunicorn: the mail server down while leads arrive delays the mails, never the webhook, never twice."""
import os
import signal
import socket
import sys
import time

import pytest
import sqlalchemy as sa

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD
from tests.servers import (free_port, post_webhook, run_flask, scratch_database, start_gunicorn, start_server,
                           stop, wait_for_output)
from tests.smtp import SmtpServer

LEADS = 5
USUAL_ANSWER_SECONDS = 5  # generous on a busy 2-core machine; a wait for SMTP would be 10 s (SMTP_TIMEOUT_SECONDS) and more


def test_mails_wait_for_a_stopped_mail_server_and_two_workers_send_each_once(postgresql_url):
    smtp = SmtpServer(free_port())
    with scratch_database(postgresql_url, "mail_workers") as database_url:
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "mail-test-secret",
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": "memory://",
               "WEBHOOK_RATE_LIMIT": "1000 per minute", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
               "MAIL_INTERVAL": "0.5", "MAIL_RETRY_SECONDS": "0.5", "DESK_URL": "https://desk.example"}
        run_flask(env, "db", "upgrade")
        run_flask(env, "users", "create", "asha@raam.example", "--name", "Asha Patil", "--role", "sales",
                  stdin="showroom-floor-2026\nshowroom-floor-2026\n")
        port = free_port()
        server = start_gunicorn(port, env, workers=2)
        try:
            answers = [post_webhook(port, {**SAMPLE_LEAD, "name": f"Lead {n}", "phone_number": f"98000000{n:02d}"},
                                    GUIDE_API_KEY) for n in range(LEADS)]
            assert [status for status, _ in answers] == [201] * LEADS
            assert max(seconds for _, seconds in answers) < USUAL_ANSWER_SECONDS
            time.sleep(3)  # both workers' senders try, fail and back off meanwhile
            assert smtp.inbox.messages == []

            smtp.start()
            deadline = time.monotonic() + 60
            while len(smtp.inbox.messages) < LEADS and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # time enough for a second copy to arrive, if one were sent
            subjects = sorted(smtp.inbox.subjects())
            assert subjects == sorted(f"New lead: Lead {n} — Tata Nexon EV" for n in range(LEADS))
        finally:
            log = stop(server)
            smtp.stop()
    assert "Traceback" not in log


def leased_and_sent(database_url: str) -> tuple[int, int]:
    """(unsent mails leased by a sender, sent mails)."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        leased = connection.scalar(sa.text(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND next_attempt_at > now() + interval '1 minute'"))
        sent = connection.scalar(sa.text("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"))
    engine.dispose()
    return leased, sent


WORKER, WORKER_WITH_A_REQUEST, MAIL_WORK = ("a gunicorn worker's thread", "a gunicorn worker finishing a request",
                                            "flask mail work")


@pytest.mark.parametrize("sender", [WORKER, WORKER_WITH_A_REQUEST, MAIL_WORK])
def test_a_sender_stopped_mid_round_gives_back_what_it_has_not_sent(postgresql_url, sender):
    """A deploy, a max_requests recycle or a host stopping `flask mail work` (SIGTERM) mid-round: the mail in
    flight is finished and marked sent, the rest of the claim is due again at once (not leased for 10 minutes),
    and the next sender sends each of them once. A worker gives them back as its shutdown begins, not after
    its last requests (one may take longer than gunicorn waits before it kills the worker)."""
    smtp = SmtpServer(free_port(), delay=1)  # a slow server: the stop comes while a mail is in flight
    smtp.start()
    in_the_worker = sender != MAIL_WORK
    with scratch_database(postgresql_url, "mail_stop") as database_url:
        env = {**os.environ, "APP_ENV": "development", "SECRET_KEY": "mail-test-secret",
               "CARDEKHO_API_KEYS": GUIDE_API_KEY, "DATABASE_URL": database_url, "RATELIMIT_STORAGE_URI": "memory://",
               "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port), "MAIL_INTERVAL": "0.5",
               "DESK_URL": "https://desk.example"}
        run_flask(env, "db", "upgrade")
        run_flask(env, "users", "create", "asha@raam.example", "--name", "Asha Patil", "--role", "sales",
                  stdin="showroom-floor-2026\nshowroom-floor-2026\n")
        port = free_port()
        server = start_gunicorn(port, {**env, "MAIL_INTERVAL": "0.5" if in_the_worker else "0"}, workers=1)
        mail_work = None if in_the_worker else start_server(
            "flask mail work", [sys.executable, "-m", "flask", "--app", "run", "mail", "work"], None, env)
        unfinished = None
        try:
            if mail_work is not None:
                wait_for_output(mail_work, "sending mails every")
            for n in range(LEADS):
                status, _ = post_webhook(port, {**SAMPLE_LEAD, "name": f"Lead {n}", "phone_number": f"98000000{n:02d}"},
                                         GUIDE_API_KEY)
                assert status == 201
            deadline = time.monotonic() + 30
            while not smtp.inbox.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(smtp.inbox.messages) == 1  # one sent, the next in flight, the rest claimed and waiting
            assert leased_and_sent(database_url)[0] >= 2  # a claim is outstanding: the stop comes mid-round
            started_stopping = time.monotonic()
            if sender == WORKER_WITH_A_REQUEST:
                # A request still arriving keeps the worker in its shutdown (up to 10 s, then a 408).
                unfinished = socket.create_connection(("127.0.0.1", port))
                unfinished.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                time.sleep(0.3)
                server.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 5
                while leased_and_sent(database_url)[0] and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert server.poll() is None  # still finishing its request...
                assert leased_and_sent(database_url)[0] == 0  # ...and the claim is back already
                unfinished.close()
            stopped = server if in_the_worker else mail_work
            log = stop(stopped)
            assert stopped.returncode == 0 and time.monotonic() - started_stopping < 10
            assert "Traceback" not in log
            leased, sent = leased_and_sent(database_url)
            assert leased == 0
            assert sent == len(smtp.inbox.messages) < LEADS  # the one in flight was finished and marked sent

            run_flask(env, "mail", "send")  # the next sender
            subjects = sorted(smtp.inbox.subjects())
            assert subjects == sorted(f"New lead: Lead {n} — Tata Nexon EV" for n in range(LEADS))
        finally:
            if unfinished is not None:
                unfinished.close()
            stop(server)
            if mail_work is not None:
                stop(mail_work)
            smtp.stop()
