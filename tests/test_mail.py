"""Mails from the outbox to a real SMTP server on loopback: the owner's mail, retries, the log without a server."""
import contextlib
import logging
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import SAMPLE_LEAD
from webapp.extensions import db
from webapp.database import utcnow
from webapp.leads import outbox
from webapp.leads.outbox import Mail, OutboxMail, queue_mails, send_due_mails
from webapp.leads.routing import route_pending_leads
from webapp.mailing import work_once



@pytest.fixture
def mail_app(app_factory, smtp):
    """The app sending through the test's SMTP server, links to desk.example, retrying after 0.2 s."""
    return app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, DESK_URL="https://desk.example",
                       MAIL_RETRY_SECONDS=0.2)


def arrive(app, body=None) -> None:
    """A lead through the webhook, then the router (as the router thread would, a second later)."""
    response = app.test_client().post("/admin/mg-digital-leads/source/cardekho", json=body or SAMPLE_LEAD,
                                      headers={"X-API-Key": "raam-digital-2025-supersecret-cardekho"})
    assert response.status_code == 201
    with app.app_context():
        route_pending_leads(app.config)


def test_the_owner_gets_a_mail_with_a_call_link_and_a_link_to_the_lead(mail_app, smtp, make_user):
    make_user("asha@raam.example", name="Asha Patil")
    arrive(mail_app, {**SAMPLE_LEAD, "name": "Ravi <b>Kumar</b>"})
    assert work_once(mail_app) == 1
    [message] = smtp.inbox.messages
    assert message["To"] == "asha@raam.example"
    assert message["Subject"] == "New lead: Ravi <b>Kumar</b> — Tata Nexon EV"
    text = message.get_body(("plain",)).get_content()
    assert "Call Ravi <b>Kumar</b>: tel:+919876543210" in text
    assert "Campaign: EV Awareness Q4" in text
    with mail_app.app_context():
        lead_id = db.session.scalar(sa.select(OutboxMail.lead_id))
    assert f"Open the lead: https://desk.example/admin/mg-digital-leads/{lead_id}" in text
    html = message.get_body(("html",)).get_content()
    assert "Ravi &lt;b&gt;Kumar&lt;/b&gt;" in html and "<b>Kumar" not in html
    assert work_once(mail_app) == 0  # sent once


def test_no_mail_for_a_person_who_asked_for_none(mail_app, smtp, make_user):
    asha = make_user("asha@raam.example", name="Asha Patil")
    with mail_app.app_context():
        db.session.execute(sa.text("UPDATE users SET mail_new_leads = :no WHERE id = :id"), {"no": False, "id": asha.id})
        db.session.commit()
    arrive(mail_app)
    assert work_once(mail_app) == 0
    assert smtp.inbox.messages == []


def test_a_name_with_a_line_break_cannot_add_a_header(mail_app, smtp, make_user):
    make_user("asha@raam.example", name="Asha Patil")
    arrive(mail_app, {**SAMPLE_LEAD, "name": "Ravi\r\nBcc: thief@example.com"})
    assert work_once(mail_app) == 1
    [message] = smtp.inbox.messages
    assert message["Bcc"] is None
    assert message["Subject"].startswith("New lead: Ravi Bcc: thief@example.com")


def test_a_stopped_mail_server_delays_the_mail_and_readyz_counts_it(mail_app, smtp, make_user):
    make_user("asha@raam.example", name="Asha Patil")
    smtp.stop()
    arrive(mail_app)
    assert work_once(mail_app) == 0
    with mail_app.app_context():
        row = db.session.scalar(sa.select(OutboxMail))
        assert row.sent_at is None and row.attempts == 1 and "Error" in row.last_error
    assert mail_app.test_client().get("/readyz").get_json()["outbox"] == {"unsent": 1}
    smtp.start()
    deadline = time.monotonic() + 10
    while not smtp.inbox.messages and time.monotonic() < deadline:
        time.sleep(0.3)  # past the retry wait (0.2 s, then 0.4 s...)
        work_once(mail_app)
    assert len(smtp.inbox.messages) == 1
    assert mail_app.test_client().get("/readyz").get_json()["outbox"] == {"unsent": 0}


def test_a_rounds_mails_go_over_one_connection_to_the_mail_server(mail_app, smtp, make_user):
    make_user("asha@raam.example", name="Asha Patil")
    for n in range(3):
        arrive(mail_app, {**SAMPLE_LEAD, "name": f"Lead {n}", "phone_number": f"98000000{n:02d}"})
    assert work_once(mail_app) == 3
    assert sorted(smtp.inbox.subjects()) == [f"New lead: Lead {n} — Tata Nexon EV" for n in range(3)]
    assert len(set(smtp.inbox.peers)) == 1  # one connection (handshake, TLS, login) for the round, not one each
    assert work_once(mail_app) == 0 and len(smtp.inbox.messages) == 3  # each sent once


def test_a_refused_mail_waits_and_never_holds_up_the_other_mails(mail_app, smtp):
    """A mistyped address is refused for good (550): it waits for its retry, and the same round, on the same
    connection, sends the mails after it."""
    addresses = ("refused-1@raam.example", "asha@raam.example", "refused-2@raam.example", "ravi@raam.example")
    with mail_app.app_context():
        queue_mails(Mail(kind="new_lead", recipients=[address], subject=f"To {address}", text="Hello")
                    for address in addresses)
        db.session.commit()
    assert work_once(mail_app) == 2
    assert smtp.inbox.subjects() == ["To asha@raam.example", "To ravi@raam.example"]
    assert len(set(smtp.inbox.peers)) == 1
    with mail_app.app_context():
        mails = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        for mail in mails[0], mails[2]:
            assert mail.sent_at is None and mail.attempts == 1 and "SMTPRecipientsRefused" in mail.last_error
            assert mail.next_attempt_at > utcnow()
        assert all(mail.sent_at is not None and mail.attempts == 1 for mail in (mails[1], mails[3]))
    time.sleep(0.3)  # MAIL_RETRY_SECONDS: the refused ones are due again, and refused again
    assert work_once(mail_app) == 0
    with mail_app.app_context():
        assert [mail.attempts for mail in db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id))] == \
            [2, 1, 2, 1]
    assert len(smtp.inbox.messages) == 2


def test_three_refusals_in_a_row_end_the_round(mail_app, smtp):
    """A quota or a block refuses every mail "for good": the round stops asking after three, and the mails after
    them are given back untried (no attempt, no wait)."""
    addresses = ("refused-1@raam.example", "refused-2@raam.example", "refused-3@raam.example", "asha@raam.example")
    with mail_app.app_context():
        queue_mails(Mail(kind="new_lead", recipients=[address], subject=f"To {address}", text="Hello")
                    for address in addresses)
        db.session.commit()
    assert work_once(mail_app) == 0 and smtp.inbox.messages == []
    with mail_app.app_context():
        *refused, untried = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert [mail.attempts for mail in refused] == [1, 1, 1]
        assert untried.attempts == 0 and untried.next_attempt_at <= utcnow() and untried.last_error is None


def test_a_server_that_hangs_up_after_a_refusal_does_not_charge_the_next_mail(mail_app):
    with mail_app.app_context():
        queue_three_mails()

        @contextlib.contextmanager
        def delivery():
            def send(mail):
                if mail.subject == "Mail 0":
                    raise outbox.MailRefused(RuntimeError("550 no such mailbox"))
                raise ConnectionResetError("the server hung up")
            yield send

        assert send_due_mails(delivery, retry_seconds=60) == outbox.SendReport(sent=0, failed=1)
        db.session.remove()
        refused, *rest = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert refused.attempts == 1 and "550" in refused.last_error
        assert all(mail.attempts == 0 and mail.next_attempt_at <= utcnow() and mail.last_error is None
                   for mail in rest)


def test_a_mail_put_off_for_now_ends_the_round(mail_app, smtp):
    """A 4xx ("try again later", a server throttling us) is not this mail's fault: the round stops asking, and the
    mails after it were never tried (due again at once, no attempt counted)."""
    with mail_app.app_context():
        queue_mails(Mail(kind="new_lead", recipients=[address], subject=f"To {address}", text="Hello")
                    for address in ("asha@raam.example", "busy@raam.example", "ravi@raam.example"))
        db.session.commit()
    assert work_once(mail_app) == 1
    assert smtp.inbox.subjects() == ["To asha@raam.example"]
    with mail_app.app_context():
        sent, busy, untried = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert busy.sent_at is None and busy.attempts == 1 and "451" in busy.last_error
        assert busy.next_attempt_at > utcnow()
        assert untried.sent_at is None and untried.attempts == 0 and untried.next_attempt_at <= utcnow()


def test_a_round_deletes_the_mails_sent_more_than_thirty_days_ago(mail_app):
    """The outbox does not grow for ever: sent mails are kept 30 days; unsent ones, however old, are kept."""
    now = utcnow()
    ages = {"sent 31 days ago": (31, True), "sent 29 days ago": (29, True), "unsent since 40 days": (40, False)}
    with mail_app.app_context():
        for subject, (days, sent) in ages.items():
            db.session.add(OutboxMail(kind="new_lead", recipients=["asha@raam.example"], subject=subject,
                                      body_text="Hello", created_at=now - timedelta(days=days),
                                      next_attempt_at=now + timedelta(hours=1),
                                      sent_at=now - timedelta(days=days) if sent else None))
        db.session.commit()
    work_once(mail_app)
    with mail_app.app_context():
        kept = db.session.scalars(sa.select(OutboxMail.subject).order_by(OutboxMail.id)).all()
    assert kept == ["sent 29 days ago", "unsent since 40 days"]


def queue_three_mails() -> None:
    """Mail 0, Mail 1, Mail 2, due now (app context)."""
    queue_mails(Mail(kind="new_lead", recipients=["asha@raam.example"], subject=f"Mail {n}", text="Hello")
                for n in range(3))
    db.session.commit()


def test_a_round_stopped_mid_claim_gives_back_the_mails_it_did_not_start(mail_app):
    with mail_app.app_context():
        queue_three_mails()
        tried = []

        @contextlib.contextmanager
        def delivery():
            def send(mail):
                tried.append(mail.subject)
                if len(tried) == 2:
                    raise KeyboardInterrupt  # Ctrl-C on `flask mail work`, or a worker stopping, mid-send
            yield send

        with pytest.raises(KeyboardInterrupt):
            send_due_mails(delivery, retry_seconds=60)
        db.session.remove()
        sent, in_flight, untried = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert sent.sent_at is not None
        assert in_flight.sent_at is None and in_flight.next_attempt_at > utcnow()  # it may have gone: leased
        assert untried.attempts == 0 and untried.next_attempt_at <= utcnow()  # never started: due again now
    assert tried == ["Mail 0", "Mail 1"]


def test_a_round_asked_to_stop_finishes_its_mail_and_gives_back_the_rest(mail_app):
    """Its process is ending (webapp.worker_thread.stop_worker_threads): no mail is left leased by a sender gone."""
    with mail_app.app_context():
        queue_three_mails()
        tried = []

        @contextlib.contextmanager
        def delivery():
            yield tried.append

        report = send_due_mails(delivery, retry_seconds=60, stopping=lambda: len(tried) == 1)
        db.session.remove()
        sent, *rest = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert report.sent == 1 and [mail.subject for mail in tried] == ["Mail 0"] and sent.sent_at is not None
        assert all(mail.sent_at is None and mail.attempts == 0 and mail.next_attempt_at <= utcnow() for mail in rest)


def test_each_mail_is_marked_sent_before_the_next_is_sent(app):
    """A sender stopped at any moment (a worker recycled, a deploy) sends at most its mail in flight again."""
    mails = outbox.CLAIM_BATCH + 2  # over two claims
    with app.app_context():
        queue_mails(Mail(kind="new_lead", recipients=["asha@raam.example"], subject=f"Mail {n}", text="Hello")
                    for n in range(mails))
        db.session.commit()
        marked_before_each = []

        def marked() -> int:
            with outbox.autocommit_engine().connect() as connection:
                return connection.scalar(sa.select(sa.func.count()).where(OutboxMail.sent_at.is_not(None)))

        @contextlib.contextmanager
        def delivery():
            yield lambda mail: marked_before_each.append(marked())

        assert send_due_mails(delivery, retry_seconds=60, limit=1000).sent == mails
    assert marked_before_each == list(range(mails))


def test_a_slow_mail_server_ends_the_round_inside_the_lease(mail_app, monkeypatch):
    """Past half its lease a claim sends no more and gives the rest back: another sender may claim them after it."""
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=3))  # a pause of 1.5 s before the first send is room
    with mail_app.app_context():
        queue_three_mails()
        tried = []

        @contextlib.contextmanager
        def delivery():
            yield lambda mail: (tried.append(mail.subject), time.sleep(1.8))  # each send takes most of the lease

        assert send_due_mails(delivery, retry_seconds=60).sent == 1
        db.session.remove()
        sent, *rest = db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert sent.sent_at is not None and tried == ["Mail 0"]
        assert all(mail.sent_at is None and mail.attempts == 0 and mail.next_attempt_at <= utcnow() for mail in rest)


def test_without_mail_server_the_mail_is_written_to_the_log(app, make_user, caplog):
    make_user("asha@raam.example", name="Asha Patil")
    arrive(app)
    with caplog.at_level(logging.INFO, logger="webapp.mailing"):
        assert work_once(app) == 1
    assert "to=asha@raam.example subject=New lead: Ravi Kumar" in caplog.text
