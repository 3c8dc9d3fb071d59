"""What became of one webhook request: filled in step by step by the route, then answered and logged.

The route hands this object from step to step, and `request_log` reads it to
write the log line and the intake-log row: nothing travels through `flask.g`.
"""
import json
import time
from dataclasses import dataclass, field

from flask import Request, Response

from webapp.intake.idempotency import REPLAYED
from webapp.intake.intake_log import SPOOLED, outcome_for
from webapp.request_ids import REQUEST_ID_HEADER, request_id_for

# Headers of every webhook answer. Not the pages' headers (their Content-Security-Policy is about scripts
# and styles): a JSON answer is never a page to frame or run, and is never to be stored (OWASP's REST
# Security cheat sheet).
API_HEADERS = (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
               ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"))
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")  # production is HTTPS only


def api_headers(app_env: str) -> tuple[tuple[str, str], ...]:
    """The headers of every webhook answer in `app_env`."""
    return API_HEADERS + ((HSTS,) if app_env == "production" else ())


@dataclass
class IntakeOutcome:
    """One webhook request: who sent it, what we answered and why, and the lead it became (if any)."""

    request_id: str
    started: float  # time.perf_counter() when the request reached the webhook
    source_ip: str | None
    body_size: int | None
    key_label: str | None = None  # the valid key's label, never the key
    status: int = 500
    message: str = "Internal server error; retry with exponential backoff"
    reason: str | None = None  # for the log: the error we answered, what was repaired, that it was spooled
    headers: dict[str, str] = field(default_factory=dict)
    lead_id: int | None = None
    intake_id: str | None = None  # set once the lead was received: its intake-log row is written with it
    replayed: bool = False  # an Idempotency-Key retry: answered again, its own intake-log row says so

    @classmethod
    def begin(cls, request: Request) -> "IntakeOutcome":
        """A new outcome for `request`, timed from now."""
        return cls(request_id=request_id_for(request.headers), started=time.perf_counter(),
                   source_ip=request.remote_addr, body_size=request.content_length)

    @property
    def name(self) -> str:
        """The intake log's word for it: `stored`, `spooled`, `invalid`, `bad_key`, …"""
        if self.replayed:
            return REPLAYED
        if self.intake_id and self.lead_id is None:
            return SPOOLED
        return outcome_for(self.status)

    def elapsed_ms(self) -> float:
        """Milliseconds since the request reached the webhook."""
        return (time.perf_counter() - self.started) * 1000

    def received(self, lead_id: int | None, intake_id: str, reason: str | None, message: str,
                 replayed: bool = False) -> None:
        """The lead is stored (`lead_id`), spooled (None) or was stored by an earlier try (`replayed`): a 201."""
        self.status, self.message, self.reason = 201, message, reason
        self.lead_id, self.intake_id, self.replayed = lead_id, intake_id, replayed

    def refused(self, status: int, error: str, headers: dict[str, str] | None = None) -> None:
        """Answer `status` with `{"error": error}`."""
        self.status, self.message, self.reason = status, error, error
        self.headers = dict(headers or {})

    def response(self, headers: tuple[tuple[str, str], ...]) -> Response:
        """The JSON answer with `headers` (`api_headers`): `{"message": …}` for a 201, `{"error": …}` otherwise."""
        key = "message" if self.status == 201 else "error"
        body = json.dumps({key: self.message}, separators=(",", ":")) + "\n"  # as Flask's jsonify writes it
        response = Response(body, status=self.status, mimetype="application/json")
        response.headers.extend(headers)
        response.headers.extend(self.headers)
        response.headers[REQUEST_ID_HEADER] = self.request_id
        return response
