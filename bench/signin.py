"""A manager account and a signed-in session cookie, for the dashboard benchmarks over HTTP."""
import http.client
import re
import secrets
import subprocess
import sys
from urllib.parse import urlencode

from tests.servers import ROOT

EMAIL = "bench-manager@example.com"


def create_manager(env: dict) -> str:
    """Create the benchmark's manager with `flask users create` (password on stdin); return the password."""
    password = "Bench-" + secrets.token_urlsafe(18)
    subprocess.run([sys.executable, "-m", "flask", "--app", "run", "users", "create", EMAIL, "--name", "Bench",
                    "--role", "manager"], cwd=ROOT, env=env, input=f"{password}\n{password}\n", text=True,
                   check=True, capture_output=True)
    return password


def _cookies(response: http.client.HTTPResponse, jar: dict) -> dict:
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name] = rest.split(";", 1)[0]
    return jar


def sign_in(port: int, password: str) -> str:
    """Sign in through /login like a browser (CSRF token included); return the Cookie header value."""
    jar: dict = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/login")
    response = connection.getresponse()
    page = response.read().decode()
    _cookies(response, jar)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    form = urlencode({"email": EMAIL, "password": password, "csrf_token": token.group(1) if token else ""})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in failed: HTTP {response.status}")
    _cookies(response, jar)
    return "; ".join(f"{name}={value}" for name, value in jar.items())
