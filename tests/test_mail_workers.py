"""Mails under real gunicorn: the mail server down while leads arrive delays the mails, never the webhook, never twice."""
import os
import time

from config import GUIDE_API_KEY
from tests.conftest import SAMPLE_LEAD
from tests.servers import free_port, post_webhook, run_flask, scratch_database, start_gunicorn, stop
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
