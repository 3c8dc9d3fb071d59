"""The live list's usual answer, "nothing new" (204), given in front of the dashboard app.

Every open list page asks every 3 s whether leads arrived (webapp.dashboard.live), and nearly every answer
is 204. Through the dashboard app that answer cost what a page costs: the request context and the session,
the limiter's and the CSRF check's hooks, Flask-Login's account load through the ORM, the headers, the
teardown. Measured, a hundred open tabs took a quarter of the webhook's throughput (bench/RESULTS.md, "Live
list"). This WSGI layer gives the 204 with only what that answer needs:

- the session cookie, read by the dashboard's own session interface (signed with SECRET_KEY or one of its
  fallbacks, no older than PERMANENT_SESSION_LIFETIME), names an account the session is still good for
  (User.signed_in_as, the rule webapp.auth.access.load_user applies too);
- no lead the page has not shown matches its filters (webapp.leads.live's query, as the view runs it);

one SQL statement on a pooled connection of the autocommit engine (and, once a second per worker, the
newest id read on it first). Any other ask (no session or an ended one, new leads to draw, an id or a value
to refuse, a database that fails) goes on to the dashboard, whose view answers it as before; after a
database error every ask goes there for DATABASE_RETRY_SECONDS, so an outage costs a poll one wait, not
two. So this layer answers only 204, and only to a person signed in; `can_answer_before_the_app` says
where that holds (not under settings that make Flask or Flask-Login refuse more).
"""
import time
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from itsdangerous import BadSignature
from werkzeug.wrappers import Request

from webapp.auth.access import session_account
from webapp.auth.models import User
from webapp.dashboard.live import LIVE_PATH
from webapp.database import autocommit_engine
from webapp.leads.live import answered_through, lead_id, new_leads_query
from webapp.leads.search import LeadFilters
from webapp.request_ids import REQUEST_ID_HEADER, request_id_for
from webapp.security import has_nul, security_headers


# Built once: whether the session's account is current, and that question alone (no id range to look at).
SIGNED_IN = sa.exists().where(User.signed_in_as(sa.bindparam("user_id"), sa.bindparam("session_version")))
NOTHING_NEW = sa.select(SIGNED_IN, sa.false())


def can_answer_before_the_app(app: Flask) -> bool:
    """Whether the shortcut gives the answer the app would: not with Flask-Login's "strong" session protection
    (it ends a session used from another address or browser) nor with TRUSTED_HOSTS (Flask refuses other hosts)."""
    from webapp.extensions import login_manager

    return (app.config.get("SESSION_PROTECTION", login_manager.session_protection) != "strong"
            and not app.config.get("TRUSTED_HOSTS"))


class NothingNewShortcut:
    """WSGI: answers a signed-in person's "anything new?" with 204 when nothing is; every other request goes
    on to `dashboard`. `on_request` are the worker's thread starters the dashboard's hooks would run."""

    def __init__(self, app: Flask, dashboard, on_request: list[Callable[[], None]]):
        self.app, self.dashboard, self.on_request = app, dashboard, on_request
        self.sessions = app.session_interface.get_signing_serializer(app)
        self.session_cookie = app.config["SESSION_COOKIE_NAME"]
        self.session_max_age = int(app.permanent_session_lifetime.total_seconds())
        # What the view's 204 carries, apart from its request id and newest id.
        self.headers = [*security_headers(app.config).items(), ("Cache-Control", "no-store"), ("Vary", "Cookie")]
        self.rest_seconds = float(app.config["DATABASE_RETRY_SECONDS"])
        self._resting_until = float("-inf")  # after a database error, the view answers every ask until then

    def __call__(self, environ, start_response):
        """Answer 204 here, or hand the request on."""
        if environ.get("PATH_INFO") == LIVE_PATH and environ.get("REQUEST_METHOD") == "GET":
            request = Request(environ)
            newest = self.newest_if_nothing_new(request)
            if newest is not None:
                start_response("204 NO CONTENT", [*self.headers, ("X-Newest-Id", str(newest)),
                                                  (REQUEST_ID_HEADER, request_id_for(request.headers))])
                return []
        return self.dashboard(environ, start_response)

    def newest_if_nothing_new(self, request: Request) -> int | None:
        """The id the page asks from next, when it is signed in and has nothing new; else None."""
        after = lead_id(request.args.get("after"))
        account = self.account(request.cookies.get(self.session_cookie))
        if after is None or account is None or has_nul(request.args) or time.monotonic() < self._resting_until:
            return None
        for start in self.on_request:
            start()
        with self.app.app_context():
            try:
                with autocommit_engine().connect() as connection:
                    newest = answered_through(connection)
                    new_leads = new_leads_query(LeadFilters.from_args(request.args, account[0]), after, newest)
                    statement = NOTHING_NEW if new_leads is None else sa.select(SIGNED_IN, sa.exists(new_leads))
                    signed_in, anything_new = connection.execute(
                        statement, {"user_id": account[0], "session_version": account[1]}).one()
            except sa.exc.SQLAlchemyError:  # the view says what is wrong (an outage page, a 503)
                self._resting_until = time.monotonic() + self.rest_seconds
                return None
        return newest if signed_in and not anything_new else None

    def account(self, cookie: str | None) -> tuple[int, int] | None:
        """(account id, session version) of a session cookie of ours that names one; else None."""
        if not cookie:
            return None
        try:
            session = self.sessions.loads(cookie, max_age=self.session_max_age)
        except BadSignature:  # not ours, tampered with, or too old
            return None
        return session_account(session.get("_user_id", "")) if isinstance(session, dict) else None
