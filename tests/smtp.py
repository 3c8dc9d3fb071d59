"""A real SMTP server on loopback (aiosmtpd) that a test can stop and start again on the same port."""
import asyncio
import email
import email.policy
import threading

from aiosmtpd.controller import Controller


REFUSED_PREFIX = "refused"  # a recipient whose address starts with this is refused (550), as a mistyped one is
BUSY_PREFIX = "busy"  # ... or put off (451), as by a server that is throttling its sender


class Inbox:
    """Every message the server accepted, parsed, and the client address (connection) each came over; each
    accepted `delay` seconds after its data arrived (a slow mail server)."""

    def __init__(self, delay: float = 0):
        self.delay = delay
        self._lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.peers: list[tuple] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """aiosmtpd's hook: refuse REFUSED_PREFIX addresses, put off BUSY_PREFIX ones, accept the others."""
        if address.startswith(REFUSED_PREFIX):
            return "550 5.1.1 No such mailbox"
        if address.startswith(BUSY_PREFIX):
            return "451 4.7.1 Too many messages, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """aiosmtpd's hook: keep the message."""
        await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.peers.append(session.peer)
        return "250 OK"

    def subjects(self) -> list[str]:
        """The subjects received so far."""
        with self._lock:
            return [message["Subject"] for message in self.messages]


class SmtpServer:
    """aiosmtpd on 127.0.0.1:port; `stop()` makes it refuse connections, `start()` brings it back."""

    def __init__(self, port: int, delay: float = 0):
        self.port, self.inbox = port, Inbox(delay)
        self._controller = None

    def start(self) -> None:
        """Listen (again)."""
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Stop listening: the next connection is refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
