"""The outbox: every mail is a row, written in the transaction of what caused it, and sent later.

An SMTP server that is down or slow therefore delays a mail and never loses
it, and never slows the webhook or a page: they only add a row. Senders (a
thread in each web worker, or `flask mail work`) claim up to CLAIM_BATCH due
rows at a time, in one autocommit statement that moves their next attempt LEASE
ahead and returns them: on PostgreSQL its `FOR UPDATE SKIP LOCKED` means several
workers and hosts never claim the same row and never wait for each other; SQLite
runs one writing statement at a time. No lock and no connection is held while
the mail server talks (a slow one must not hold up the webhook's inserts); each
row is marked sent as soon as its mail is, by a statement built once (built
anew for each mail it took half of a mail's CPU). One connection to the mail
server serves a round's mails. A round that ends early (a failed send, Ctrl-C,
a lost database) gives back the claimed mails it did not start; a sender that
dies leaves its claim to be sent once the lease ends: a mail may then go out
twice, never not at all. A failed send is retried later, each time waiting
twice as long (MAIL_RETRY_SECONDS, then ×2, up to an hour).
"""
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.database import BigId, JSONPayload, UTCDateTime, autocommit_engine, utcnow

MAX_RETRY_WAIT = timedelta(hours=1)
CLAIM_BATCH = 20  # few claims for a burst of leads; with a slow mail server, others' senders take the rest
# Longer than a claim's sends may take (a round stops at half of it and gives the rest back): each mail talks
# to the server in a few steps, each allowed SMTP_TIMEOUT_SECONDS (webapp.mailing); a sender that died is only
# this late with its mails.
LEASE = timedelta(minutes=10)
MAX_ERROR_CHARS = 500
# A sent mail is kept this long ("was Asha told of that lead?"), then deleted by a mail round, PURGE_BATCH at a time.
KEEP_SENT = timedelta(days=30)
PURGE_BATCH = 1000
# Refusals "for good" of this many mails in a row are about the account (a quota, a block), not the mails: the
# round ends, as when the server is down.
MAX_REFUSED_IN_A_ROW = 3


class OutboxMail(db.Model):
    """One mail to send: to whom, what, and how its sending went."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_unsent", "next_attempt_at", "id", postgresql_where=sa.text("sent_at IS NULL"),
                 sqlite_where=sa.text("sent_at IS NULL")),
        sa.Index("ix_outbox_lead_id", "lead_id"),  # a lead's deletion finds its mails (ON DELETE CASCADE)
        sa.Index("ix_outbox_sent_at", "sent_at", postgresql_where=sa.text("sent_at IS NOT NULL"),
                 sqlite_where=sa.text("sent_at IS NOT NULL")),  # the purge of old sent mails
    )

    id: Mapped[int] = mapped_column(BigId, sa.Identity(), primary_key=True)
    kind: Mapped[str]  # new_lead, escalated, daily_summary
    recipients: Mapped[list] = mapped_column(JSONPayload)
    subject: Mapped[str]
    body_text: Mapped[str]
    body_html: Mapped[str | None]
    lead_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("mg-digital-leads.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=sa.func.now())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=sa.func.now())
    attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None]

    def __repr__(self) -> str:
        return f"<OutboxMail {self.id} {self.kind}>"


@dataclass(frozen=True)
class Mail:
    """A mail to queue: recipients, subject, a plain-text part and an optional HTML part."""

    kind: str
    recipients: list[str]
    subject: str
    text: str
    html: str | None = None
    lead_id: int | None = None


def queue_mails(mails: Iterable[Mail]) -> int:
    """Add the mails that have recipients to the session's transaction (the caller commits): one INSERT for
    them all. How many were queued."""
    now = utcnow()
    rows = [{"kind": mail.kind, "recipients": list(mail.recipients), "subject": mail.subject,
             "body_text": mail.text, "body_html": mail.html, "lead_id": mail.lead_id, "created_at": now,
             "next_attempt_at": now, "attempts": 0} for mail in mails if mail.recipients]
    if rows:
        db.session.execute(sa.insert(OutboxMail.__table__), rows)
    return len(rows)


def queue_mail(mail: Mail) -> bool:
    """Add `mail` to the session's transaction (the caller commits); False (nothing) when it has no recipient."""
    return queue_mails([mail]) == 1


def unsent_count() -> int:
    """How many mails wait to be sent (for /readyz)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail).where(OutboxMail.sent_at.is_(None)))


def purge_sent_mails(now: datetime | None = None) -> int:
    """Delete up to PURGE_BATCH mails sent before KEEP_SENT ago (oldest first); how many."""
    old = (sa.select(OutboxMail.id).where(OutboxMail.sent_at < (now or utcnow()) - KEEP_SENT)
           .order_by(OutboxMail.sent_at).limit(PURGE_BATCH)
           .with_for_update(skip_locked=True))  # the rows another worker is deleting are its to delete
    with autocommit_engine().begin() as connection:
        return connection.execute(sa.delete(OutboxMail).where(OutboxMail.id.in_(old))).rowcount


def retry_wait(attempts: int, base_seconds: float) -> timedelta:
    """How long to wait after the `attempts`-th failure: base, then twice as long each time, at most an hour."""
    return min(timedelta(seconds=base_seconds * 2 ** min(attempts - 1, 20)), MAX_RETRY_WAIT)


class MailRefused(Exception):
    """The mail server refused this one mail for good (5xx: every recipient, or its content) and takes others: it
    waits for its next attempt, and the round goes on. Any other failure of a send ends the round (the server is
    down, or busy: "try again later")."""

    def __init__(self, reason: Exception):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SendReport:
    """What one round of sending did."""

    sent: int
    failed: int


@dataclass(frozen=True)
class ClaimedMail:
    """A claimed row's contents, read before its claim commits (nothing is held open while it is sent)."""

    id: int
    attempts: int
    mail: Mail


def _claim_due_mails(now: datetime, limit: int) -> tuple[list[ClaimedMail], datetime]:
    """Up to `limit` due mails, and the end of their lease: until then they are this sender's.

    One statement: the due rows another sender has not locked are leased and read back (SKIP LOCKED on
    PostgreSQL; SQLite runs one writing statement at a time)."""
    lease_until = now + LEASE
    due = (sa.select(OutboxMail.id).where(OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at <= now)
           .order_by(OutboxMail.next_attempt_at, OutboxMail.id).limit(limit).with_for_update(skip_locked=True))
    claim = (sa.update(OutboxMail).where(OutboxMail.id.in_(due))
             .values(next_attempt_at=lease_until, attempts=OutboxMail.attempts + 1)
             .returning(OutboxMail.id, OutboxMail.attempts, OutboxMail.kind, OutboxMail.recipients,
                        OutboxMail.subject, OutboxMail.body_text, OutboxMail.body_html, OutboxMail.lead_id))
    with autocommit_engine().begin() as connection:
        rows = sorted(connection.execute(claim), key=lambda row: row.id)
    return [ClaimedMail(id=row.id, attempts=row.attempts, mail=Mail(
        kind=row.kind, recipients=list(row.recipients), subject=row.subject, text=row.body_text,
        html=row.body_html, lead_id=row.lead_id)) for row in rows], lease_until


def _still_ours(mail_ids: list[int], lease_until: datetime):
    # Unsent and still leased by this claim: past the lease another sender may have claimed them again.
    return sa.and_(OutboxMail.id.in_(mail_ids), OutboxMail.sent_at.is_(None), OutboxMail.next_attempt_at == lease_until)


def _update(condition, **values) -> None:
    # One autocommit statement: through the session, the ORM's bulk-update bookkeeping and the separate COMMIT
    # were most of a mail's CPU.
    with autocommit_engine().begin() as connection:
        connection.execute(sa.update(OutboxMail).where(condition).values(**values))


_MARK_SENT = (sa.update(OutboxMail.__table__).where(OutboxMail.__table__.c.id == sa.bindparam("mail_id"))
              .values(sent_at=sa.bindparam("sent_at"), last_error=None))


def _mark_sent(mail_id: int) -> None:
    with autocommit_engine().begin() as connection:
        connection.execute(_MARK_SENT, {"mail_id": mail_id, "sent_at": utcnow()})


def _failed(mail: ClaimedMail, lease_until: datetime, error: Exception, retry_seconds: float) -> None:
    """`mail` waits before its next attempt, each time twice as long."""
    _update(_still_ours([mail.id], lease_until), last_error=f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS],
            next_attempt_at=utcnow() + retry_wait(mail.attempts, retry_seconds))


def _give_back(untried: list[ClaimedMail], lease_until: datetime) -> None:
    """The claimed mails a round did not start are due again at once, and their claim counts no attempt: a
    mail the server refuses for good, a stopped sender or a lost database must not hold them for the lease."""
    if not untried:
        return
    try:
        db.session.rollback()  # whatever ended the round left nothing to keep
        _update(_still_ours([mail.id for mail in untried], lease_until), next_attempt_at=utcnow(),
                attempts=OutboxMail.attempts - 1)
    except Exception:  # the database is away too: the lease ends on its own
        db.session.rollback()


def send_due_mails(delivery: Callable[[], ContextManager[Callable[[Mail], None]]], retry_seconds: float,
                   limit: int = 50, stopping: Callable[[], bool] = lambda: False) -> SendReport:
    """Try up to `limit` due mails, claimed CLAIM_BATCH at a time, each with the function `delivery()` gives (one
    mail server connection for them all); stop at the first failure other than a refused mail (MailRefused), at
    MAX_REFUSED_IN_A_ROW refusals in a row, or before the next mail once `stopping()` (its process is ending). Each is marked sent as soon as it is; the mails
    of a claim not started when the round ends, however it ends, are given back."""
    sent = refused = refused_in_a_row = 0
    with delivery() as send:
        while sent + refused < limit and not stopping():
            claimed, lease_until = _claim_due_mails(utcnow(), min(CLAIM_BATCH, limit - sent - refused))
            started = 0
            try:
                for item in claimed:
                    # A very slow server: stop well inside the lease.
                    if stopping() or utcnow() >= lease_until - LEASE / 2:
                        return SendReport(sent=sent, failed=refused)
                    started += 1
                    try:
                        send(item.mail)
                    except MailRefused as error:  # a mistyped address: the others still go
                        _failed(item, lease_until, error.reason, retry_seconds)
                        refused += 1
                        refused_in_a_row += 1
                        if refused_in_a_row >= MAX_REFUSED_IN_A_ROW:  # the account, not the mails: stop asking
                            return SendReport(sent=sent, failed=refused)
                        continue
                    except Exception as error:  # any failure of the mail server is a retry, never a lost mail
                        if refused_in_a_row:  # a server that hung up after refusing the last one: not this mail's
                            started -= 1      # fault, it goes back untried
                            return SendReport(sent=sent, failed=refused)
                        _failed(item, lease_until, error, retry_seconds)
                        return SendReport(sent=sent, failed=refused + 1)  # likely down: the next round tries
                    _mark_sent(item.id)
                    sent += 1
                    refused_in_a_row = 0
            finally:
                _give_back(claimed[started:], lease_until)
            if len(claimed) < CLAIM_BATCH:
                break
    return SendReport(sent=sent, failed=refused)
