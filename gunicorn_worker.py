"""A gthread worker that gives a connection a thread only once its whole request has arrived.

gunicorn's gthread worker hands a connection to a thread as soon as it is
accepted, and the thread then reads the request line, headers and body with
blocking reads and no overall deadline: a client that sends one byte every
0.15 s holds a thread for as long as it likes, and as many such clients as
threads leave none for CarDekho. This worker does the reading in the worker's
main loop instead (non-blocking, beside the keep-alive connections gthread
already watches there) and hands the connection, with the bytes read so far,
to a thread when the request is complete. A request still arriving after
REQUEST_ARRIVAL_SECONDS is answered 408 and closed (one that sent nothing is
closed silently, as gthread closes an idle kept-alive connection). Everything
after the hand-over — parsing, the app, writing the response, keep-alive — is
gthread's own.

Measurements and the alternatives weighed are in docs/scaling.md ("Slow clients").
"""
import json
import re
import selectors
import time
from functools import partial

from gunicorn import glogging
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import ThreadWorker

from config import Config
from webapp.dashboard.live import LIVE_PATH
from webapp.worker_thread import ask_worker_threads_to_stop

# CarDekho's client gives up after 10 s, so a request still arriving by then is not one of its leads.
# A phone on a weak signal sends a sign-in form or a note in well under a second.
REQUEST_ARRIVAL_SECONDS = 10
# Past this much of a header without its end, the client is fast, not slow: gunicorn's parser judges it.
HEAD_BYTES_TO_BUFFER = 64 * 1024
# The app reads no more of a body than this (a larger one gets its 413 without being read).
BODY_BYTES_TO_BUFFER = Config.MAX_CONTENT_LENGTH + 1

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)[ \t]*(?=\r\n)")
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked")
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_TIMEOUT_BODY = json.dumps({"error": f"The request did not arrive within {REQUEST_ARRIVAL_SECONDS} seconds; "
                                     "send it again in one go"}).encode()
_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY))


def chunked_body_complete(body: bytes) -> bool:
    """Whether a chunked body has reached its last chunk and trailers; a malformed one counts as complete."""
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return False
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            return True  # gunicorn's parser answers 400
        size = int(size_text, 16)
        if size == 0:
            return body.find(b"\r\n\r\n", line_end) >= 0  # the trailers (usually none) and their end
        position = line_end + 2 + size + 2
        if position > len(body):
            return False


def expects_continue(data: bytes) -> bool:
    """Whether the request's complete head asks for `100 Continue` before its body."""
    head_end = data.find(b"\r\n\r\n")
    return head_end >= 0 and _EXPECT_CONTINUE.search(data[:head_end + 2].lower()) is not None


def request_complete(data: bytes) -> bool:
    """Whether `data` holds a whole HTTP/1.x request (or as much of one as is worth buffering)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return len(data) > HEAD_BYTES_TO_BUFFER
    head = data[:head_end + 2].lower()
    body = data[head_end + 4:]
    if len(body) >= BODY_BYTES_TO_BUFFER:
        return True
    if _CHUNKED.search(head):
        return chunked_body_complete(body)
    length = _CONTENT_LENGTH.search(head)
    return length is None or len(body) >= int(length.group(1))


class _Arrival:
    """A request being read in the main loop: its bytes so far and when it must be complete."""

    def __init__(self, data: bytes):
        self.deadline = time.monotonic() + REQUEST_ARRIVAL_SECONDS
        self.data = bytearray(data)
        self.continue_sent = False


class WholeRequestWorker(ThreadWorker):
    """gthread, except that a connection reaches a thread only with a complete request, and a worker whose
    threads are all busy leaves new connections to the other workers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.arriving = {}  # connection -> _Arrival, oldest first
        self.in_threads = 0  # requests handed to the thread pool and not finished yet

    def set_accept_enabled(self, enabled):
        """Accept only while a thread is free. gthread's workers all watch the listening socket and a worker
        accepts every connection it sees; a burst of new connections (a proxy or sender opening its pool)
        then lands on one worker, which keeps them for their keep-alive life: one process's GIL serves them
        while the others idle. gthread's loop calls this again after each request.

        Called with False once the worker is no longer alive, it also starts the worker's shutdown: its background
        threads are asked to stop now, while in-flight requests finish (webapp.worker_thread)."""
        if not enabled and not self.alive:  # a deploy, a max_requests recycle, a lost master
            ask_worker_threads_to_stop()
        super().set_accept_enabled(enabled and self.in_threads < self.cfg.threads)

    def finish_request(self, conn, fs):
        self.in_threads -= 1
        super().finish_request(conn, fs)

    def _to_thread(self, conn):
        self.in_threads += 1
        if self.in_threads >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def enqueue_req(self, conn):
        """Every path to a thread comes here: new connections, kept-alive ones and pipelined requests."""
        if not self._can_buffer(conn):
            self._to_thread(conn)
            return
        read_ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        arrival = _Arrival(read_ahead)
        if request_complete(arrival.data):
            self._hand_over(conn, arrival)
            return
        conn.sock.setblocking(False)
        self.arriving[conn] = arrival
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_arriving, conn))

    def _can_buffer(self, conn) -> bool:
        # TLS and HTTP/2 prior knowledge need the raw socket in the thread; neither is used behind the host's proxy.
        return not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(self.cfg, conn.client)

    def _read_arriving(self, conn, sock):
        arrival = self.arriving[conn]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        arrival.data += data
        # At end of input the request is as complete as it will ever be: the app answers what came (a body
        # shorter than its Content-Length gets its 400); a connection that sent nothing is closed silently.
        if request_complete(arrival.data) or (not data and arrival.data):
            self.poller.unregister(sock)
            del self.arriving[conn]
            self._hand_over(conn, arrival)
        elif not data:
            self._drop(conn)
        elif not arrival.continue_sent and expects_continue(arrival.data):
            # The client sends its body only after this; gunicorn's own 100 Continue follows later
            # (a client accepts any number of 1xx answers, RFC 9110 section 15.2).
            arrival.continue_sent = True
            self._send_quietly(sock, _CONTINUE)

    def _hand_over(self, conn, arrival):
        conn.data_ready = True  # gthread's own wait for a first byte would wait on bytes we already hold
        conn.init()
        conn.sock.setblocking(True)
        conn.parser.unreader.unread(bytes(arrival.data))
        self._to_thread(conn)

    def murder_pending(self):
        """Also answer 408 to and close the requests still arriving past their deadline."""
        super().murder_pending()
        now = time.monotonic()
        while self.arriving:
            conn, arrival = next(iter(self.arriving.items()))
            if arrival.deadline > now:
                break
            if arrival.data:  # a connection that sent nothing may be a proxy's spare: it is closed silently
                self._send_quietly(conn.sock, _TIMEOUT_ANSWER)
            self._drop(conn)

    def _drop(self, conn):
        del self.arriving[conn]
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send_quietly(sock, data: bytes) -> None:
        try:
            sock.send(data)  # a few bytes into an empty socket buffer; a client that is gone is no loss
        except OSError:
            pass


class AccessLogWithoutIdleTabs(glogging.Logger):
    """gunicorn's access log without the open list tabs' "nothing new" (204) lines: a hundred tabs would write
    33 lines a second (nine in ten lines of the log, 2.8 million a day) and cost each ask a tenth of its CPU.
    Every other answer to the live list (new rows, 400, 401) is logged as usual."""

    def access(self, resp, req, environ, request_time):
        """Log the request, unless it is a tab's "nothing new"."""
        # gunicorn's own error answers (Worker.handle_error) set only `status`, and are logged before they are
        # written: this must not raise there, or the client gets no answer at all.
        if getattr(resp, "status_code", None) == 204 and environ.get("PATH_INFO") == LIVE_PATH:
            return
        super().access(resp, req, environ, request_time)
