"""Security headers on every response, the one place that pins the scripts we load (htmx, and Chart.js on the
reports page), and a guard for odd input."""
from dataclasses import dataclass
from urllib.parse import urlparse

from flask import Flask, abort, current_app, request
from flask_wtf.csrf import CSRFError

CDN_ORIGIN = "https://unpkg.com"


@dataclass(frozen=True)
class PinnedScript:
    """One exact version of an npm package's script: its CDN URL with SRI, and the same bytes vendored under
    static/ as the fallback when the CDN fails."""

    package: str
    version: str
    dist_file: str  # its path inside the package
    vendored_path: str  # relative to the static folder
    integrity: str

    @property
    def cdn_url(self) -> str:
        """The CDN copy of exactly this version."""
        return f"{CDN_ORIGIN}/{self.package}@{self.version}/{self.dist_file}"


# From `npm pack htmx.org@2.0.11`, dist/htmx.min.js; unpkg serves the same bytes.
HTMX = PinnedScript("htmx.org", "2.0.11", "dist/htmx.min.js", "vendor/htmx-2.0.11.min.js",
                    "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg")
# From `npm pack chart.js@4.6.1`, dist/chart.umd.min.js; only the reports page loads it.
CHART_JS = PinnedScript("chart.js", "4.6.1", "dist/chart.umd.min.js", "vendor/chart.js-4.6.1.umd.min.js",
                        "sha384-Emf5ZVIUiarAdhkgtqK+5/Z5qIvM6QoVrS+qAVtfyZVuD5lIHrac0me485+Antp0")


def content_security_policy(*scripts: str) -> str:
    """Exactly what a page needs: our own files, the one htmx file from its CDN (not all of unpkg, which
    serves every npm package) plus the named CDN `scripts`, no inline script or style."""
    return "; ".join([
        "default-src 'self'",
        " ".join(["script-src 'self'", HTMX.cdn_url, *scripts]),
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


CONTENT_SECURITY_POLICY = content_security_policy()
# The reports page draws with Chart.js; chart data sits in <script type="application/json"> blocks, which a
# browser never runs, so no inline script is allowed there either.
REPORTS_CONTENT_SECURITY_POLICY = content_security_policy(CHART_JS.cdn_url)

PAGES_WITH_CHARTS = ("dashboard.reports",)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# Production is served over HTTPS only (the guide: TLS 1.2+): browsers must never try plain http.
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(config) -> dict[str, str]:
    """The security headers of every answer in `config`'s environment (the reports page changes its CSP)."""
    if config.get("APP_ENV") == "production":
        return {**SECURITY_HEADERS, "Strict-Transport-Security": HSTS}
    return SECURITY_HEADERS


def add_security_headers(response):
    """Set the security headers; pages and API answers (not static files) are never stored."""
    response.headers.update(security_headers(current_app.config))
    if request.endpoint in PAGES_WITH_CHARTS:
        response.headers["Content-Security-Policy"] = REPORTS_CONTENT_SECURITY_POLICY
    # Pages show leads and personal data: no browser or proxy may keep a copy.
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def refuse_unusable_input():
    """Before the pages' views and Flask-WTF's CSRF check: a clear 4xx for input the code behind would turn into a 500.

    - NUL (%00) in a query or form value: PostgreSQL refuses it in any text, and SQLite's
      full-text search stops reading there (an error that looks like an outage).
    - Over HTTPS, a Referer or Host that Flask-WTF's same-origin check cannot parse (it raises ValueError).
    """
    if has_nul(request.args, *([request.form] if request.method == "POST" else [])):
        abort(400, description="Text with a NUL character (%00) cannot be searched for or stored.")
    config = current_app.config
    if (request.is_secure and config["WTF_CSRF_ENABLED"] and config["WTF_CSRF_SSL_STRICT"]
            and request.method in config["WTF_CSRF_METHODS"]):  # exactly when Flask-WTF compares them
        try:
            for url in (request.referrer or "", f"https://{request.host}/"):
                urlparse(url).port
        except ValueError:
            raise CSRFError("The Referer or Host header cannot be read.") from None


def has_nul(*fields) -> bool:
    """Whether a name or value in any of these MultiDicts (query string, form) holds a NUL."""
    return any("\x00" in text for values in fields for item in values.items(multi=True) for text in item)


def register_security_headers(app: Flask) -> None:
    """Install the headers on every response and expose `htmx` to templates."""
    app.after_request(add_security_headers)
    app.add_template_global(HTMX, "htmx")
    app.add_template_global(CHART_JS, "chart_js")
