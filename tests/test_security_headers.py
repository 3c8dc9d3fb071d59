"""Security headers, the CSP, and htmx pinned from its CDN with the vendored fallback (webapp.security).

The browser tests drive Debian's Chromium against a real server on 127.0.0.1 with no internet: the
CDN is made unreachable, served intact, or served tampered, and the page must work in each case
under the Content-Security-Policy without a single violation.
"""
import base64
import hashlib
import json
import os
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import GUIDE_API_KEY, SAMPLE_LEAD, WEBHOOK

CSP = ("default-src 'self'; script-src 'self' https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self' tel: https://wa.me https://api.whatsapp.com; object-src 'none'")
HTMX_VERSION = "2.0.11"
HTMX_CDN = f"https://unpkg.com/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


class PageParts(HTMLParser):
    """The tags of a page, as (tag, attributes, text inside) for the few checks below."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        """Record every opening tag."""
        self.tags.append((tag, dict(attrs), ""))

    def handle_data(self, data):
        """Attach text to the tag it follows (enough to spot inline script bodies)."""
        if self.tags and data.strip():
            tag, attrs, text = self.tags[-1]
            self.tags[-1] = (tag, attrs, text + data.strip())

    def all(self, name: str) -> list[tuple[dict, str]]:
        """Attributes and text of every `name` tag."""
        return [(attrs, text) for tag, attrs, text in self.tags if tag == name]


def sri_of(data: bytes) -> str:
    """The SRI value (sha384) of `data`."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@pytest.fixture
def signed_in(client, auth, make_user):
    """`client`, signed in as a sales account."""
    make_user()
    auth.login()
    return client


# --- Headers on every answer ------------------------------------------------------------------

def answers(client):
    """A page, an error page, the webhook's JSON, a probe, and a static file."""
    return {
        "login page": client.get("/login"),
        "404 page": client.get("/no-such-page"),
        "webhook JSON": client.post(WEBHOOK, json=SAMPLE_LEAD, headers={"X-API-Key": GUIDE_API_KEY}),
        "webhook error JSON": client.post(WEBHOOK, json=SAMPLE_LEAD),
        "health probe": client.get("/readyz"),
        "stylesheet": client.get("/static/css/app.css"),
    }


def test_every_answer_carries_the_security_headers(client):
    for name, response in answers(client).items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
        assert response.headers["Content-Security-Policy"] == CSP, name


def test_pages_and_api_answers_are_never_stored_but_static_files_may_be(client):
    for name, response in answers(client).items():
        if name == "stylesheet":
            assert "no-store" not in response.headers.get("Cache-Control", ""), name
        else:
            assert response.headers["Cache-Control"] == "no-store", name


def test_signed_in_pages_refusals_and_htmx_partials_are_never_stored(signed_in, auth):
    for path in (auth.views.page, auth.views.rows, auth.views.export):
        response = signed_in.get(path, headers={"HX-Request": "true"} if path == auth.views.rows else {})
        assert response.headers["Cache-Control"] == "no-store", path
        assert response.headers["Content-Security-Policy"] == CSP, path


# --- What the pages load ------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["login", "signed-in page", "error page"])
def test_pages_have_no_inline_script_style_or_event_handler(client, auth, make_user, page):
    if page == "signed-in page":
        make_user()
        auth.login()
    html = client.get({"login": "/login", "signed-in page": auth.views.page,
                       "error page": "/no-such-page"}[page]).get_data(as_text=True)
    parts = PageParts(html)
    scripts = parts.all("script")
    assert len(scripts) == 2
    for attrs, text in scripts:
        assert attrs.get("src") and not text, attrs
    assert parts.all("style") == []
    for tag, attrs, _ in parts.tags:
        assert "style" not in attrs and not any(name.startswith(("on", "hx-on")) for name in attrs), tag


def test_htmx_comes_from_its_cdn_pinned_with_sri_then_the_same_bytes_from_us(client):
    cdn, fallback = [attrs for attrs, _ in PageParts(client.get("/login").get_data(as_text=True)).all("script")]
    assert cdn["src"] == HTMX_CDN and cdn["crossorigin"] == "anonymous"
    assert fallback["src"] == "/static/js/htmx-fallback.js"
    assert fallback["data-htmx-src"] == f"/static/vendor/htmx-{HTMX_VERSION}.min.js"
    assert fallback["data-htmx-integrity"] == cdn["integrity"]
    vendored = client.get(fallback["data-htmx-src"])
    assert vendored.status_code == 200 and vendored.mimetype in ("text/javascript", "application/javascript")
    assert sri_of(vendored.data) == cdn["integrity"]
    assert f'version:"{HTMX_VERSION}"'.encode() in vendored.data


def test_htmx_is_told_not_to_inject_styles_or_eval_or_keep_pages_in_local_storage(client):
    metas = PageParts(client.get("/login").get_data(as_text=True)).all("meta")
    [config] = [attrs["content"] for attrs, _ in metas if attrs.get("name") == "htmx-config"]
    assert json.loads(config) == {"includeIndicatorStyles": False, "allowEval": False, "allowScriptTags": False,
                                  "historyCacheSize": 0, "refreshOnHistoryMiss": True}


def test_the_page_hands_htmx_the_same_csrf_token_as_its_forms(signed_in, auth):
    parts = PageParts(signed_in.get(auth.views.page).get_data(as_text=True))
    [meta] = [attrs["content"] for attrs, _ in parts.all("meta") if attrs.get("name") == "csrf-token"]
    [body] = [attrs for attrs, _ in parts.all("body")]
    [field] = [attrs["value"] for attrs, _ in parts.all("input") if attrs.get("name") == "csrf_token"]
    assert json.loads(body["hx-headers"]) == {"X-CSRFToken": meta} and field == meta


# --- In a real browser ----------------------------------------------------------------------------

@pytest.fixture
def live_server(app, protected_views):
    """This test's app served by a real HTTP server on 127.0.0.1 (a free port), stopped afterwards."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


# The checks that watch the page run before its own scripts, through the browser, not inline.
WATCH_PAGE = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def open_browser(browser, live_server, make_user):
    """A function giving a browser tab on the live server with the CDN `unreachable`, `intact` or `tampered`."""
    vendored = (Path(__file__).resolve().parent.parent / "webapp/static/vendor" /
                f"htmx-{HTMX_VERSION}.min.js").read_bytes()
    contexts = []
    make_user(name="Asha Patil")

    def open_tab(cdn: str, width: int = 1280, height: int = 800):
        context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
        contexts.append(context)
        context.add_init_script(WATCH_PAGE)
        page = context.new_page()
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        if cdn == "unreachable":
            page.route("https://unpkg.com/**", lambda route: route.abort("namenotresolved"))
        else:
            body = vendored if cdn == "intact" else b"window.htmx = {version: 'tampered'};"
            page.route("https://unpkg.com/**", lambda route: route.fulfill(
                status=200, body=body, headers={"Content-Type": "text/javascript",
                                                "Access-Control-Allow-Origin": "*"}))
        return page

    yield open_tab
    for context in contexts:
        context.close()


def sign_in(page, next_path="/test/leads"):
    """Open a protected page, get sent to sign in, sign in, and land back on it."""
    page.goto(next_path)
    assert page.url.split("?")[0].endswith("/login")
    page.fill("input[name=email]", "asha@raam.example")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_path}")


def htmx_state(page) -> dict:
    """What htmx reports about itself on this page, and what the CSP refused."""
    return page.evaluate("""() => ({
        version: window.htmx && window.htmx.version,
        indicatorStyles: window.htmx && window.htmx.config.includeIndicatorStyles,
        inlineStyles: document.querySelectorAll('style').length,
        violations: window.__violations,
    })""")


BROWSER_ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@BROWSER_ON_POSTGRESQL
def test_offline_htmx_runs_from_the_vendored_copy_and_the_csp_holds(open_browser):
    page = open_browser("unreachable")
    sign_in(page)
    assert htmx_state(page) == {"version": HTMX_VERSION, "indicatorStyles": False, "inlineStyles": 0,
                                "violations": []}
    assert any(url.endswith(f"/static/vendor/htmx-{HTMX_VERSION}.min.js") for url in page.requested)
    page.click("text=Load rows")
    page.wait_for_selector("#rows >> text=Rows for Asha Patil")
    page.click("text=Add a note")  # an htmx POST: the CSRF header from <body hx-headers> is accepted
    page.wait_for_selector("#rows >> text=Noted")
    assert htmx_state(page)["violations"] == []


@BROWSER_ON_POSTGRESQL
def test_an_intact_cdn_copy_passes_sri_and_the_fallback_stays_unused(open_browser):
    page = open_browser("intact")
    sign_in(page)
    assert htmx_state(page)["version"] == HTMX_VERSION and htmx_state(page)["violations"] == []
    assert HTMX_CDN in page.requested
    assert not any("/static/vendor/" in url for url in page.requested)
    page.click("text=Load rows")
    page.wait_for_selector("#rows >> text=Rows for Asha Patil")


@BROWSER_ON_POSTGRESQL
def test_a_tampered_cdn_copy_is_refused_by_sri_and_the_vendored_copy_runs(open_browser):
    page = open_browser("tampered")
    sign_in(page)
    assert htmx_state(page)["version"] == HTMX_VERSION
    page.click("text=Load rows")
    page.wait_for_selector("#rows >> text=Rows for Asha Patil")


@BROWSER_ON_POSTGRESQL
def test_an_expired_session_sends_an_htmx_click_to_the_sign_in_page_not_into_the_table(open_browser):
    page = open_browser("unreachable")
    sign_in(page, "/test/leads?q=ravi")
    page.context.clear_cookies()  # the session ends while the page is open
    page.click("text=Load rows")
    page.wait_for_url("**/login?next=**")
    assert "Please sign in to continue." in page.inner_text("body")
    page.fill("input[name=email]", "asha@raam.example")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/test/leads?q=ravi")


@BROWSER_ON_POSTGRESQL
def test_sign_out_from_the_header_and_the_back_button_shows_no_page(open_browser):
    page = open_browser("unreachable")
    sign_in(page)
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    assert "You are signed out." in page.inner_text("body")
    page.go_back()
    page.wait_for_load_state()
    assert "/login" in page.url and "Leads placeholder" not in page.inner_text("body")


@BROWSER_ON_POSTGRESQL
@pytest.mark.parametrize("width", [360, 1280])
def test_sign_in_and_a_signed_in_page_fit_the_screen(open_browser, width):
    page = open_browser("unreachable", width=width, height=740 if width == 360 else 800)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto("/login")
    page.screenshot(path=ARTIFACTS / f"login-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sign_in(page)
    page.screenshot(path=ARTIFACTS / f"signed-in-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.is_visible("text=Sign out") and page.is_visible("text=Asha Patil")


def test_production_tells_browsers_to_use_https_only(monkeypatch, tmp_path, client):
    from webapp import create_app

    for name, value in {"SECRET_KEY": "s" * 40, "CARDEKHO_API_KEYS": "prod-key",
                        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}.items():
        monkeypatch.setenv(name, value)
    production = create_app({"APP_ENV": "production"}).test_client()
    assert production.get("/healthz").headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/healthz").headers  # plain-http development
