"""API keys for webhook senders: the X-API-Key check, and keys created, listed, revoked, looked up cheaply.

A key is 256 random bits, so a plain SHA-256 of it is enough to store (a slow
password hash protects guessable secrets; nobody can guess these). Each process
keeps the active keys' hashes for `API_KEY_CACHE_SECONDS` and compares in
constant time, so a request costs no query; a revoked key stops working within
that time. The last list read is also saved beside the spool, so a worker that
starts while the database is down still knows the keys and can spool leads.
Keys in `CARDEKHO_API_KEYS` keep working alongside. The header is checked
before the body is read (the guide's section 3).
"""
import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import Forbidden, ServiceUnavailable, Unauthorized

from webapp.database import DB_OUTAGE_ERRORS, UTCDateTime, utcnow
from webapp.extensions import db
from webapp.intake.breaker import CircuitBreaker

log = logging.getLogger(__name__)

HEADER = "X-API-Key"
LAST_USED_EVERY = timedelta(minutes=1)
RETRY_AFTER_FAILURE_SECONDS = 10


class ApiKey(db.Model):
    """One sender key; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(unique=True)
    key_hash: Mapped[str] = mapped_column(unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyCommandError(Exception):
    """A key command cannot be done; the message says why."""


class KeysUnavailable(Exception):
    """The database cannot be asked and no list of keys was ever read: we cannot tell."""


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def env_key_label(key: str) -> str:
    """A stable, non-secret name for a key from `CARDEKHO_API_KEYS`."""
    return hash_key(key)[:12]


def create_key(label: str) -> str:
    """Store a new key under `label` and return it: the only time it is ever shown."""
    label = label.strip()
    if not label:
        raise KeyCommandError("a label is required")
    if db.session.scalar(sa.select(ApiKey.id).where(ApiKey.label == label)) is not None:
        raise KeyCommandError(f"a key labelled {label!r} exists already (labels are never reused)")
    key = "rk_" + secrets.token_urlsafe(32)
    db.session.add(ApiKey(label=label, key_hash=hash_key(key)))
    db.session.commit()
    return key


def revoke_key(label: str) -> ApiKey:
    """Revoke the key labelled `label`; it stops working within the cache time."""
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.label == label))
    if key is None:
        raise KeyCommandError(f"no key labelled {label!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db.session.commit()
    return key


def list_keys() -> list[ApiKey]:
    """Every key, newest first, revoked ones included."""
    return list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


@dataclass
class _Cache:
    hashes: dict[str, str]  # key hash -> label
    read_at: float


class KeyRing:
    """The keys one process accepts: `CARDEKHO_API_KEYS` plus the active keys in the table."""

    def __init__(self, env_keys: list[str], cache_seconds: float, snapshot_path: str, engine: sa.Engine,
                 breaker: CircuitBreaker):
        self.env_keys = [(key.encode("utf-8", "surrogateescape"), env_key_label(key)) for key in env_keys]
        self.cache_seconds, self.snapshot_path, self.engine = cache_seconds, snapshot_path, engine
        self.breaker = breaker  # the webhook's: a lead never waits on a database that just failed
        self._cache: _Cache | None = None
        self._retry_at = 0.0
        self._last_used: dict[str, float] = {}

    def label_for(self, given: str) -> str | None:
        """The label of the key `given`, or None when no key matches; KeysUnavailable when we cannot tell."""
        given_bytes, label = given.encode("utf-8", "surrogateescape"), None
        for key, key_label in self.env_keys:  # every key compared, in constant time
            if hmac.compare_digest(given_bytes, key):
                label = key_label
        if label is not None:
            return label  # works with no database at all
        given_hash = hash_key(given).encode()
        for stored_hash, key_label in self._stored_hashes().items():
            if hmac.compare_digest(given_hash, stored_hash.encode()):
                label = key_label
        return label

    def _stored_hashes(self) -> dict[str, str]:
        now = time.monotonic()
        fresh = self._cache is not None and now - self._cache.read_at < self.cache_seconds
        if fresh or now < self._retry_at or not self.breaker.allow():
            return self._cache.hashes if self._cache else self._snapshot()
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(sa.select(ApiKey.key_hash, ApiKey.label)
                                          .where(ApiKey.revoked_at.is_(None))).all()
        except DB_OUTAGE_ERRORS:
            self.breaker.failed()
            self._retry_at = now + RETRY_AFTER_FAILURE_SECONDS  # one slow attempt per outage, not per request
            log.warning("api keys: database unavailable; using the last list read")
            return self._cache.hashes if self._cache else self._snapshot()
        self.breaker.succeeded()
        hashes = {key_hash: label for key_hash, label in rows}
        if self._cache is None or hashes != self._cache.hashes:
            self._save_snapshot(hashes)
        self._cache = _Cache(hashes, now)
        return hashes

    def _save_snapshot(self, hashes: dict[str, str]) -> None:
        directory = os.path.dirname(self.snapshot_path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            # A temporary file of its own (mode 0600) for every writer: threads of one worker refresh at once.
            descriptor, tmp = tempfile.mkstemp(dir=directory, prefix=".api-keys-", suffix=".tmp")
            try:
                with open(descriptor, "w") as file:
                    json.dump(hashes, file)
                os.replace(tmp, self.snapshot_path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as error:
            log.warning("api keys: cannot save the list beside the spool: %s", error.strerror)

    def _snapshot(self) -> dict[str, str]:
        try:
            with open(self.snapshot_path) as file:
                return json.load(file)
        except FileNotFoundError:
            raise KeysUnavailable("the database is unavailable and no list of keys was saved") from None
        except (OSError, ValueError) as error:
            raise KeysUnavailable(f"the saved list of keys cannot be read: {error}") from None

    def note_use(self, label: str) -> None:
        """Record that `label` was used, at most once a minute per process; never fails the request."""
        now = time.monotonic()
        if now - self._last_used.get(label, -1e9) < LAST_USED_EVERY.total_seconds():
            return
        if self._cache is None or label not in self._cache.hashes.values():
            return  # a CARDEKHO_API_KEYS key: nothing in the table to update
        self._last_used[label] = now
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.update(ApiKey).where(ApiKey.label == label).values(last_used_at=utcnow()))
        except DB_OUTAGE_ERRORS:
            pass  # the next use within a minute of the database's return writes it


@dataclass(frozen=True)
class KeyCheck:
    """What a request's X-API-Key header turned out to be."""

    sent: bool
    label: str | None  # the valid key's label
    unavailable: str | None = None  # why the keys cannot be checked right now

    @property
    def refused(self) -> bool:
        """The request will get the guide's 401 or 403: no valid key, and the keys could be checked."""
        return self.label is None and self.unavailable is None


def check_api_key(headers, keyring: KeyRing) -> KeyCheck:
    """Look the request's key up (headers only: the body is not read yet)."""
    given = headers.get(HEADER, "")
    if not given:
        return KeyCheck(sent=False, label=None)
    try:
        return KeyCheck(sent=True, label=keyring.label_for(given))
    except KeysUnavailable as error:
        return KeyCheck(sent=True, label=None, unavailable=str(error))


def require_valid_key(check: KeyCheck) -> str:
    """The valid key's label; else the guide's 401 (no key) or 403 (wrong key), or 503 when keys cannot be checked."""
    if not check.sent:
        raise Unauthorized("API key header not supplied: send X-API-Key")
    if check.unavailable:
        # Not a 403: a 4xx is final for CarDekho, and the key may well be valid.
        raise ServiceUnavailable("API keys cannot be checked right now; retry with exponential backoff")
    if check.label is None:
        raise Forbidden("API key invalid")
    return check.label
