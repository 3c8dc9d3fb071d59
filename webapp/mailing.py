"""Sending the outbox: Flask-Mail with the MAIL_* settings, a sender thread in each worker, `flask mail …`.

Each gunicorn worker runs one sender thread (started on its first request,
like the spool drainer and the router), so the web service alone delivers
every mail; `flask --app run mail work` runs the same loop as a process of its
own for larger installations. Without MAIL_SERVER mails are written to the log.
Each round also escalates leads nobody contacted in time (webapp.leads.escalation).
"""
import logging
import os
import smtplib
import threading
import weakref

import click
import flask_mail
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.database import log_background_failure
from webapp.extensions import db
from webapp.leads.escalation import escalate_late_leads
from webapp.leads.outbox import Mail, send_due_mails, unsent_count

log = logging.getLogger(__name__)
mail_cli = AppGroup("mail", help="Mails from the outbox: send them, or see how many wait.")
SMTP_TIMEOUT_SECONDS = 10  # a hung mail server fails this send; the outbox retries it later


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


def deliver(mail: Mail) -> None:
    """Send one mail over SMTP, or write it to the log when MAIL_SERVER is not set."""
    if not current_app.config.get("MAIL_SERVER"):
        log.info("mail (no MAIL_SERVER, not sent) to=%s subject=%s\n%s", ", ".join(mail.recipients),
                 mail.subject, mail.text)
        return
    message = flask_mail.Message(subject=mail.subject, recipients=mail.recipients, body=mail.text, html=mail.html)
    with _TimedConnection(current_app.extensions["mail"]) as connection:
        connection.send(message)


def work_once(app: Flask) -> int:
    """One round: escalate late leads, then send the due mails; how many were sent."""
    with app.app_context():
        try:
            escalate_late_leads(app.config)
            report = send_due_mails(deliver, float(app.config["MAIL_RETRY_SECONDS"]))
        finally:
            db.session.remove()
    return report.sent


class MailSender:
    """A daemon thread per process that sends due mails every `interval` seconds, or sooner when nudged."""

    def __init__(self, app: Flask, interval: float):
        self.app, self.interval = app, interval
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._reset_after_fork()
        os.register_at_fork(after_in_child=_reset_in_child(weakref.ref(self)))  # weak: tests build many apps

    def _reset_after_fork(self) -> None:
        # A lock or event copied from the parent may be in any state; the thread is gone.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        """Start this process's thread if it is not running (cheap when it is)."""
        if self.interval <= 0 or self._running_here():
            return
        with self._lock:
            if not self._running_here():
                thread = threading.Thread(target=self.run, name="mail-sender", daemon=True)
                thread.start()
                self._thread = thread  # the thread before the pid: a request never sees our pid beside no thread
                self._pid = os.getpid()

    def _running_here(self) -> bool:
        thread = self._thread
        return self._pid == os.getpid() and thread is not None and thread.is_alive()

    def nudge(self) -> None:
        """Send soon: a mail was just queued."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the loop (tests, and `mail work` on Ctrl-C)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid() and self._thread is not threading.current_thread():
            self._thread.join(timeout=15)

    def run(self) -> None:
        """The loop: a round, then wait `interval` seconds (or a nudge); a failure is logged once per outage."""
        failing = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                work_once(self.app)
                failing = False
            except Exception as error:  # the thread must outlive any failure (a database outage, a bad row)
                if not failing:
                    log_background_failure(log, "mail", error, self.interval)
                failing = True
            self._wake.wait(self.interval)


def _reset_in_child(sender_ref):
    def reset() -> None:
        sender = sender_ref()
        if sender is not None:
            sender._reset_after_fork()
    return reset


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
    sender = MailSender(app, interval)
    try:
        sender.run()
    except KeyboardInterrupt:
        sender.stop()


@mail_cli.command("send")
def mail_send() -> None:
    """Send the mails that are due now, once (exit 1 if one could not be sent)."""
    app = current_app._get_current_object()
    with app.app_context():
        report = send_due_mails(deliver, float(app.config["MAIL_RETRY_SECONDS"]), limit=10_000)
    click.echo(f"sent: {report.sent}")
    if report.failed:
        raise SystemExit(1)


@mail_cli.command("status")
def mail_status() -> None:
    """How many mails wait to be sent."""
    click.echo(f"waiting: {unsent_count()}")
