"""The README's promise to a newcomer: the development server plus its curl example give a 201 and a row."""
import os
import re
import sqlite3
import subprocess
import sys

from tests.conftest import skip_or_fail
from tests.servers import ROOT, free_port, stop, wait_for_port


def _readme_curl(port: int) -> str:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    [command] = [block for block in re.findall(r"```sh\n(.*?)```", readme, re.S) if block.startswith("curl")]
    return command.replace("127.0.0.1:5000", f"127.0.0.1:{port}")


def test_readme_curl_example_gets_201_from_the_development_server(tmp_path):
    database, port = tmp_path / "leads.db", free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("APP_ENV", "SECRET_KEY", "CARDEKHO_API_KEYS", "RATELIMIT_STORAGE_URI")}
    env.update(DATABASE_URL=f"sqlite:///{database}", PORT=str(port))
    subprocess.run([sys.executable, "-m", "flask", "--app", "run", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port)
        result = subprocess.run(["bash", "-c", _readme_curl(port)], capture_output=True, text=True, timeout=30)
    finally:
        log = stop(server)
    assert result.stdout.startswith("HTTP/1.1 201"), result.stdout + log
    assert '{"message":"CarDekho lead inserted successfully"}' in result.stdout
    assert "accepting the guide's published key" in log
    rows = sqlite3.connect(database).execute(
        'SELECT name, phone_normalized, platform FROM "mg-digital-leads"').fetchall()
    assert rows == [("Ravi Kumar", "+919876543210", "CarDekho")]


def test_every_test_the_security_review_names_exists():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    review = readme.split("## Security review", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(test_\w+\.py)(?:::(test_\w+))?`", review)
    assert len(named) >= 10
    for module, test in named:
        source = open(os.path.join(ROOT, "tests", module), encoding="utf-8").read()
        assert test == "" or f"def {test}(" in source, f"{module}::{test} is named in the README but missing"


def _readme_shell_lines() -> list[str]:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return [line for block in re.findall(r"```sh\n(.*?)```", readme, re.S) for line in block.splitlines()]


def test_every_flask_command_in_the_readme_runs_as_printed_from_a_fresh_shell():
    """After `make run`/`make test`, a newcomer pastes `.venv/bin/flask --app run GROUP COMMAND …` as printed."""
    flask = os.path.join(ROOT, ".venv", "bin", "flask")
    if not os.path.exists(flask):
        skip_or_fail(f"{flask} is missing: run `make test` (it builds .venv) first")
    printed = [line.split("#")[0].split() for line in _readme_shell_lines() if line.startswith(".venv/bin/flask")]
    assert len(printed) >= 10
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "FLASK_APP")}
    env["PATH"] = "/usr/bin:/bin"  # no virtualenv activated, no global flask
    for words in printed:
        assert words[1:3] == ["--app", "run"], words
        command = words[:5] + ["--help"]  # .venv/bin/flask --app run GROUP COMMAND
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{' '.join(words)}: {result.stdout}{result.stderr}"


def test_the_readme_prints_no_command_that_needs_an_activated_virtualenv():
    """Outside the Production block (a server's own Python), no bare `flask`/`python`/`pytest` lines."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks = [block for block in re.findall(r"```sh\n(.*?)```", readme, re.S) if "APP_ENV=production" not in block]
    bare = [line for block in blocks for line in block.splitlines()
            if re.match(r"(flask|python|pytest|gunicorn)\b", line)]
    assert bare == []
