"""Security headers on every response, the one place that pins the htmx we load, and a guard for odd input."""
from dataclasses import dataclass
from urllib.parse import urlparse

from flask import Flask, abort, current_app, request
from flask_wtf.csrf import CSRFError

CDN_ORIGIN = "https://unpkg.com"


@dataclass(frozen=True)
class HtmxRelease:
    """One exact htmx version: its CDN URL with SRI, and the same bytes vendored under static/."""

    version: str
    integrity: str

    @property
    def cdn_url(self) -> str:
        """The CDN copy of exactly this version."""
        return f"{CDN_ORIGIN}/htmx.org@{self.version}/dist/htmx.min.js"

    @property
    def vendored_path(self) -> str:
        """The vendored copy, relative to the static folder (the fallback when the CDN fails)."""
        return f"vendor/htmx-{self.version}.min.js"


# From `npm pack htmx.org@2.0.11`, dist/htmx.min.js; unpkg serves the same bytes.
HTMX = HtmxRelease(version="2.0.11",
                   integrity="sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg")

# Exactly what the pages need: our own files, the one htmx file from its CDN (not all of unpkg,
# which serves every npm package), no inline script or style.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    f"script-src 'self' {HTMX.cdn_url}",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    # Without JavaScript, a Call or WhatsApp press is a form whose answer redirects to the phone or WhatsApp
    # (wa.me forwards to api.whatsapp.com); form-action governs where those redirects may go.
    "form-action 'self' tel: https://wa.me https://api.whatsapp.com",
    "object-src 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# Production is served over HTTPS only (the guide: TLS 1.2+): browsers must never try plain http.
HSTS = "max-age=31536000; includeSubDomains"


def add_security_headers(response):
    """Set the security headers; pages and API answers (not static files) are never stored."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if current_app.config.get("APP_ENV") == "production":
        response.headers["Strict-Transport-Security"] = HSTS
    # Pages show leads and personal data: no browser or proxy may keep a copy.
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def refuse_unusable_input():
    """Before the pages' views and Flask-WTF's CSRF check: a clear 4xx for input the code behind would turn into a 500.

    - NUL (%00) in a query or form value: PostgreSQL refuses it in any text, and SQLite's
      full-text search stops reading there (an error that looks like an outage).
    - Over HTTPS, a Referer or Host that Flask-WTF's same-origin check cannot parse (it raises ValueError).
    The webhook reads its own JSON body and is left to its own checks.
    """
    from webapp.errors import API_PREFIX

    if request.path.startswith(API_PREFIX):
        return
    fields = [request.args] + ([request.form] if request.method == "POST" else [])
    if any("\x00" in text for values in fields for item in values.items(multi=True) for text in item):
        abort(400, description="Text with a NUL character (%00) cannot be searched for or stored.")
    config = current_app.config
    if (request.is_secure and config["WTF_CSRF_ENABLED"] and config["WTF_CSRF_SSL_STRICT"]
            and request.method in config["WTF_CSRF_METHODS"]):  # exactly when Flask-WTF compares them
        try:
            for url in (request.referrer or "", f"https://{request.host}/"):
                urlparse(url).port
        except ValueError:
            raise CSRFError("The Referer or Host header cannot be read.") from None


def register_security_headers(app: Flask) -> None:
    """Install the headers on every response and expose `htmx` to templates."""
    app.after_request(add_security_headers)
    app.add_template_global(HTMX, "htmx")
