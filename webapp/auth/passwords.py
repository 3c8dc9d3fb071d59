"""Password hashing at OWASP's minimum scrypt cost, how many hashes a worker runs at once, and the password rule."""
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.security import check_password_hash, generate_password_hash

# OWASP's minimum for scrypt is N=2^17, r=8, p=1; Werkzeug's default (N=2^15) is below it.
# Werkzeug raises hashlib's maxmem to fit (128 MiB per hash), so this works as written.
HASH_METHOD = "scrypt:131072:8:1"
MIN_LENGTH = 10
MAX_LENGTH = 1024

# The hash of a random password nobody knows, at the same cost: checked for an unknown
# email so that a wrong email takes as long as a wrong password.
DUMMY_HASH = (
    "scrypt:131072:8:1$KbO3Qv4UOT7xjBqF$4323b99595665424af49777290d2717f92215dae9fb0c028fbb36995b2f412"
    "2bdf9d42aaa7c4e68a6327c8eb93b583e0edadd74e6ffb2998ca76fb0c3618501a"
)


class HashingBusy(Exception):
    """Every hashing slot of this worker stayed taken for the whole wait."""


class HashingSlots:
    """At most `size` password hashes at once in this process (each holds 128 MiB while it runs)."""

    def __init__(self, size: int, wait_seconds: float):
        self._slots = threading.BoundedSemaphore(size)
        self.wait_seconds = wait_seconds

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Take a slot for the block, waiting up to `wait_seconds`; HashingBusy if none came free."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise HashingBusy(f"no password hashing slot came free within {self.wait_seconds} s")
        try:
            yield
        finally:
            self._slots.release()


def password_problem(password: str) -> str | None:
    """Why `password` cannot be used, or None when it can."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters long."
    if len(password) > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters long."
    return None


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password` at OWASP's minimum cost."""
    return generate_password_hash(password, method=HASH_METHOD)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check `password` against a stored hash; with no hash, spend the same time and say no."""
    if password_hash is None:
        check_password_hash(DUMMY_HASH, password)
        return False
    return check_password_hash(password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True for hashes made with weaker parameters than ours (rehashed at the next sign-in)."""
    return not password_hash.startswith(HASH_METHOD + "$")
