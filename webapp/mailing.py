"""Sending the outbox: Flask-Mail with the MAIL_* settings, a sender thread in each worker, `flask mail …`.

Each gunicorn worker runs one sender thread (started on its first request,
like the spool drainer and the router), so the web service alone delivers
every mail; `flask --app run mail work` runs the same loop as a process of its
own for larger installations. Without MAIL_SERVER mails are written to the log.
Each round also escalates leads nobody contacted in time (webapp.leads.escalation).
"""
import contextlib
import logging
import smtplib
from collections.abc import Callable, Iterator

import click
import flask_mail
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.database import log_background_failure
from webapp.extensions import db
from webapp.leads.escalation import escalate_late_leads
from webapp.leads.outbox import Mail, MailRefused, purge_sent_mails, send_due_mails, unsent_count
from webapp.worker_thread import WorkerThread

log = logging.getLogger(__name__)
mail_cli = AppGroup("mail", help="Mails from the outbox: send them, or see how many wait.")
SMTP_TIMEOUT_SECONDS = 10  # a hung mail server fails this send; the outbox retries it later
# Mails a round may send: a burst of leads is mailed in the next round or two (at 50 a round, every
# MAIL_INTERVAL, a `mail work` process sent 10 a second while leads came faster), and late leads are
# still escalated between rounds.
ROUND_LIMIT = 500


class _TimedConnection(flask_mail.Connection):
    """Flask-Mail's connection with a socket timeout (its own waits for ever on a hung server)."""

    def configure_host(self):
        """Connect, STARTTLS and log in as Flask-Mail does, within SMTP_TIMEOUT_SECONDS per step."""
        settings = self.mail
        smtp_class = smtplib.SMTP_SSL if settings.use_ssl else smtplib.SMTP
        host = smtp_class(settings.server, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
        if settings.use_tls:
            host.starttls()
        if settings.username and settings.password:
            host.login(settings.username, settings.password)
        return host

    def __exit__(self, *exc) -> None:
        """Say goodbye; a server that went away meanwhile has had its mails, or will have them again."""
        with contextlib.suppress(smtplib.SMTPException, OSError):
            super().__exit__(*exc)


def _log_mail(mail: Mail) -> None:
    log.info("mail (no MAIL_SERVER, not sent) to=%s subject=%s\n%s", ", ".join(mail.recipients), mail.subject,
             mail.text)


@contextlib.contextmanager
def delivery() -> Iterator[Callable[[Mail], None]]:
    """A function that sends one mail: over SMTP, on one connection opened at its first mail and closed at the
    end; or to the log when MAIL_SERVER is not set."""
    if not current_app.config.get("MAIL_SERVER"):
        yield _log_mail
        return
    with contextlib.ExitStack() as opened:
        connection = None

        def send(mail: Mail) -> None:
            nonlocal connection
            if connection is None:
                connection = opened.enter_context(_TimedConnection(current_app.extensions["mail"]))
            try:
                connection.send(flask_mail.Message(subject=mail.subject, recipients=mail.recipients, body=mail.text,
                                                   html=mail.html))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, flask_mail.BadHeaderError) as error:
                if _refused_for_good(error):  # smtplib has reset the session: the connection takes the next mail
                    raise MailRefused(error) from error
                raise  # "try again later" (4xx): the server is busy or throttling us, the round ends

        yield send


def _refused_for_good(error: Exception) -> bool:
    """Whether the server refused this mail itself (5xx for every recipient, or for its content), not for now."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return True  # a header the mail itself makes bad


def work_once(app: Flask, stopping: Callable[[], bool] = lambda: False) -> int:
    """One round: escalate late leads, send the due mails (until `stopping()`), delete old sent ones; how many were
    sent."""
    with app.app_context():
        try:
            escalate_late_leads(app.config)
            report = send_due_mails(delivery, float(app.config["MAIL_RETRY_SECONDS"]), limit=ROUND_LIMIT,
                                    stopping=stopping)
            if not stopping():
                purge_sent_mails()
        finally:
            db.session.remove()
    return report.sent


class MailSender(WorkerThread):
    """Each process's thread that sends due mails every `interval` seconds, or sooner when nudged."""

    name = "mail-sender"

    def __init__(self, app: Flask, interval: float):
        super().__init__(interval)
        self.app = app

    def run_round(self) -> None:
        """Escalate late leads, then send the due mails, until this thread is asked to stop."""
        work_once(self.app, self.stopping)

    def report_failure(self, error: Exception) -> None:
        """A database outage in one line; anything else with its traceback."""
        log_background_failure(log, "mail", error, self.interval)


def init_mailing(app: Flask) -> None:
    """Flask-Mail from the MAIL_* settings, and the sender each worker starts on its first request."""
    flask_mail.Mail(app)
    sender = app.extensions["mail_sender"] = MailSender(app, float(app.config["MAIL_INTERVAL"]))
    app.before_request(sender.ensure_running)


@mail_cli.command("work")
def mail_work() -> None:
    """Send mails (and escalate late leads) until stopped: a sender process of its own."""
    app = current_app._get_current_object()
    interval = float(app.config["MAIL_INTERVAL"]) or 5.0
    click.echo(f"sending mails every {interval:g} s; Ctrl-C stops")
    MailSender(app, interval).run_until_interrupted()


@mail_cli.command("send")
def mail_send() -> None:
    """Send the mails that are due now, once (exit 1 if one could not be sent)."""
    app = current_app._get_current_object()
    with app.app_context():
        report = send_due_mails(delivery, float(app.config["MAIL_RETRY_SECONDS"]), limit=10_000)
    click.echo(f"sent: {report.sent}")
    if report.failed:
        raise SystemExit(1)


@mail_cli.command("status")
def mail_status() -> None:
    """How many mails wait to be sent."""
    click.echo(f"waiting: {unsent_count()}")
