"""The durable local spool: leads received while the database cannot take them.

One JSON file per lead. A file is written under `tmp/`, fsynced, renamed into
`pending/` and the directory fsynced before the webhook answers 201, so a
power cut after the answer cannot lose it. A drainer claims a file by renaming
it into `claimed/` (only one process can win a rename), inserts the lead and
deletes the file. A claim left by a process that died, or older than
`STALE_CLAIM_SECONDS`, goes back to `pending/`; the lead's unique `intake_id`
makes a second insert of the same file a no-op, so every lead lands once.
"""
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

STALE_CLAIM_SECONDS = 60
STALE_TMP_SECONDS = 3600
_STAMP = "%Y%m%dT%H%M%S%fZ"


class SpoolUnavailable(Exception):
    """The spool could not keep a lead (disk full, not writable, missing)."""


@dataclass(frozen=True)
class SpooledLead:
    """What the spool keeps of a lead: enough to insert it later exactly as received."""

    intake_id: str
    platform: str
    received_at: datetime
    payload: dict
    extra: dict = field(default_factory=dict)  # e.g. the intake log's record of the request

    def to_json(self) -> bytes:
        """The file's content."""
        return json.dumps({
            "version": 1, "intake_id": self.intake_id, "platform": self.platform,
            "received_at": self.received_at.isoformat(), "payload": self.payload, "extra": self.extra,
        }, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "SpooledLead":
        """Read a file's content; ValueError/KeyError when it is not a spool file."""
        record = json.loads(data)
        return cls(intake_id=record["intake_id"], platform=record["platform"],
                   received_at=datetime.fromisoformat(record["received_at"]), payload=record["payload"],
                   extra=record.get("extra") or {})


@dataclass(frozen=True)
class Backlog:
    """How much the spool holds; `oldest` is the receive time of the oldest waiting lead."""

    pending: int
    in_progress: int
    failed: int
    oldest: datetime | None

    @property
    def waiting(self) -> int:
        """Leads not yet in the table (failed ones need a person)."""
        return self.pending + self.in_progress


class Claim:
    """One spool file this process has claimed; finish it with `done`, `release` or `fail`."""

    def __init__(self, spool: "Spool", path: str):
        self.spool, self.path = spool, path

    def read(self) -> SpooledLead:
        """The lead in the file."""
        with open(self.path, "rb") as file:
            return SpooledLead.from_json(file.read())

    def done(self) -> None:
        """The lead is in the table: forget the file."""
        os.unlink(self.path)

    def release(self) -> None:
        """Not stored this time (database down): back to pending for the next drain."""
        os.rename(self.path, os.path.join(self.spool.pending_dir, _original_name(self.path)))

    def fail(self) -> None:
        """The file can never be stored as it is: keep it aside for a person."""
        os.makedirs(self.spool.failed_dir, mode=0o700, exist_ok=True)
        os.rename(self.path, os.path.join(self.spool.failed_dir, _original_name(self.path)))


def _original_name(claimed_path: str) -> str:
    return os.path.basename(claimed_path).split("@", 1)[0]


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """A spool directory: `tmp/`, `pending/`, `claimed/` and `failed/` on one file system."""

    def __init__(self, directory: str):
        self.directory = os.path.abspath(directory)
        self.tmp_dir = os.path.join(self.directory, "tmp")
        self.pending_dir = os.path.join(self.directory, "pending")
        self.claimed_dir = os.path.join(self.directory, "claimed")
        self.failed_dir = os.path.join(self.directory, "failed")

    def write(self, lead: SpooledLead) -> str:
        """Keep `lead` durably (written, fsynced, renamed, directory fsynced); return the file name."""
        name = f"{lead.received_at.astimezone(UTC).strftime(_STAMP)}-{lead.intake_id}.json"
        tmp_path = os.path.join(self.tmp_dir, name)
        try:
            for directory in (self.tmp_dir, self.pending_dir):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: owner only
            try:
                data = memoryview(lead.to_json())
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp_path, os.path.join(self.pending_dir, name))
            _fsync_directory(self.pending_dir)
        except OSError as error:
            try:
                os.unlink(tmp_path)
            except OSError:
                pass
            raise SpoolUnavailable(f"cannot write to the spool at {self.directory}: {error.strerror}") from error
        return name

    def has_pending(self) -> bool:
        """True when a lead waits in `pending/` (one cheap directory read)."""
        try:
            with os.scandir(self.pending_dir) as entries:
                return any(entry.name.endswith(".json") for entry in entries)
        except FileNotFoundError:
            return False

    def _names(self, directory: str) -> list[str]:
        try:
            return sorted(name for name in os.listdir(directory) if not name.startswith("."))
        except FileNotFoundError:
            return []

    def backlog(self) -> Backlog:
        """Counts of pending, in-progress and failed files, and the oldest waiting receive time."""
        pending = [n for n in self._names(self.pending_dir) if n.endswith(".json")]
        claimed = self._names(self.claimed_dir)
        waiting = sorted(pending + [_original_name(n) for n in claimed])
        oldest = datetime.strptime(waiting[0].split("-", 1)[0], _STAMP).replace(tzinfo=UTC) if waiting else None
        return Backlog(pending=len(pending), in_progress=len(claimed),
                       failed=len(self._names(self.failed_dir)), oldest=oldest)

    def recover_stale_claims(self) -> int:
        """Return to `pending/` the claims of dead processes and claims older than STALE_CLAIM_SECONDS."""
        recovered, now = 0, time.time()
        for name in self._names(self.claimed_dir):
            try:
                _, pid, claimed_at = name.split("@")
                stale = not _pid_alive(int(pid)) or now - int(claimed_at) > STALE_CLAIM_SECONDS
            except ValueError:
                stale = True
            if stale:
                try:
                    os.rename(os.path.join(self.claimed_dir, name),
                              os.path.join(self.pending_dir, _original_name(name)))
                    recovered += 1
                except FileNotFoundError:
                    pass  # another drainer recovered or finished it first
        for name in self._names(self.tmp_dir):  # never answered 201: a write that died half-way
            path = os.path.join(self.tmp_dir, name)
            try:
                if now - os.stat(path).st_mtime > STALE_TMP_SECONDS:
                    os.unlink(path)
            except FileNotFoundError:
                pass
        if recovered:
            log.warning("spool: %d claim(s) of stopped drainers returned to pending", recovered)
        return recovered

    def claims(self, limit: int | None = None) -> Iterator[Claim]:
        """Claim pending files one by one, oldest first; files another process claimed first are skipped."""
        os.makedirs(self.claimed_dir, mode=0o700, exist_ok=True)
        claimed = 0
        for name in self._names(self.pending_dir):
            if limit is not None and claimed >= limit:
                return
            if not name.endswith(".json"):
                continue
            target = os.path.join(self.claimed_dir, f"{name}@{os.getpid()}@{int(time.time())}")
            try:
                os.rename(os.path.join(self.pending_dir, name), target)
            except FileNotFoundError:
                continue  # another drainer won this one
            claimed += 1
            yield Claim(self, target)
