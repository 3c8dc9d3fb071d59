"""`flask users …` (webapp.auth.cli), on SQLite and on PostgreSQL: what an admin sees at the terminal."""
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_PASSWORD
from webapp.auth.accounts import find_user

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def users(app):
    """Run `flask users ARGS…` in-process, with `input` as standard input (a pipe, not a terminal)."""
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=["users", *args], input=input)

    return run


def account(app, email):
    """The stored account for `email`, or None."""
    with app.app_context():
        return find_user(email)


def flask_command(database_url: str, *args: str) -> tuple[list[str], dict]:
    """The real `flask --app run …` command line and environment for this test's database."""
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    return [sys.executable, "-m", "flask", "--app", "run", *args], env


# --- users create -------------------------------------------------------------------------------

def test_create_takes_the_password_twice_and_the_account_can_sign_in(app, users, auth):
    result = users("create", "asha@raam.example", "--name", "Asha Patil", "--role", "sales",
                   input=f"{TEST_PASSWORD}\n{TEST_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Created sales account asha@raam.example (Asha Patil)."
    assert TEST_PASSWORD not in result.output
    assert account(app, "asha@raam.example").password_hash.startswith("scrypt:131072:8:1$")  # OWASP's minimum
    assert auth.login().status_code == 302


def test_one_piped_line_is_enough(app, users):
    result = users("create", "asha@raam.example", "--name", "Asha", "--role", "manager",
                   input=TEST_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert account(app, "asha@raam.example").role == "manager"


def test_the_email_is_stored_lowercased_and_refused_again_in_any_case(app, users):
    first = users("create", "Asha@Raam.Example", "--name", "Asha", "--role", "sales", input=TEST_PASSWORD)
    assert first.exit_code == 0 and "asha@raam.example" in first.output
    again = users("create", "ASHA@raam.example", "--name", "Asha 2", "--role", "admin", input=TEST_PASSWORD)
    assert again.exit_code == 1
    assert "An account for asha@raam.example already exists." in again.output
    assert account(app, "asha@raam.example").name == "Asha"


@pytest.mark.parametrize("typed, message", [
    ("short\nshort\n", "Password must be at least 10 characters long."),
    (f"{TEST_PASSWORD}\nsomething else entirely\n", "The two passwords do not match."),
    ("", "No password on standard input."),
])
def test_a_bad_password_is_refused_with_a_clear_message(app, users, typed, message):
    result = users("create", "asha@raam.example", "--name", "Asha", "--role", "sales", input=typed)
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert account(app, "asha@raam.example") is None


def test_an_unknown_role_is_refused(app, users):
    result = users("create", "asha@raam.example", "--name", "Asha", "--role", "owner", input=TEST_PASSWORD)
    assert result.exit_code == 2
    assert "'owner' is not one of 'sales', 'manager', 'admin'" in result.output
    assert account(app, "asha@raam.example") is None


def test_something_that_is_not_an_email_is_refused(app, users):
    result = users("create", "asha", "--name", "Asha", "--role", "sales", input=TEST_PASSWORD)
    assert result.exit_code == 1 and "'asha' is not an email address." in result.output


# --- users list ------------------------------------------------------------------------------------

def test_list_shows_each_account_with_role_status_and_last_sign_in(app, users, make_user, auth):
    make_user("asha@raam.example", name="Asha Patil")
    make_user("meera@raam.example", name="Meera Rao", role="manager", active=False)
    auth.login()
    lines = users("list").output.splitlines()
    assert lines[0].split() == ["EMAIL", "NAME", "ROLE", "STATUS", "LAST", "SIGN-IN", "(IST)"]
    assert lines[1].startswith("asha@raam.example") and "Asha Patil" in lines[1] and " sales " in lines[1]
    assert " active " in lines[1] and lines[1].split()[-2].startswith("20")  # a date, not "never"
    assert lines[2].split()[-3:] == ["manager", "deactivated", "never"]


def test_list_without_accounts_says_how_to_create_the_first(users):
    result = users("list")
    assert result.exit_code == 0
    assert "flask --app run users create EMAIL --name NAME --role admin" in result.output


# --- users set-password, deactivate, activate ----------------------------------------------------

def test_set_password_replaces_it_and_signs_the_account_out_everywhere(app, users, make_user, auth, client):
    make_user()
    auth.login()
    result = users("set-password", "ASHA@raam.example", input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "every session of that account has ended" in result.output
    assert client.get(auth.views.page).status_code == 302  # the open session is over
    fresh = app.test_client()
    assert "Email or password is incorrect" in auth.login(client=fresh).get_data(as_text=True)
    assert auth.login(password=NEW_PASSWORD, client=fresh).status_code == 302


def test_set_password_refuses_a_short_one_and_keeps_the_old(app, users, make_user, auth):
    make_user()
    result = users("set-password", "asha@raam.example", input="short\nshort\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    assert auth.login().status_code == 302


def test_deactivate_ends_sessions_and_stops_sign_in_until_activated(app, users, make_user, auth, client):
    make_user()
    auth.login()
    result = users("deactivate", "asha@raam.example")
    assert result.exit_code == 0 and "Deactivated asha@raam.example" in result.output
    assert client.get(auth.views.page).status_code == 302
    assert "Email or password is incorrect" in auth.login().get_data(as_text=True)
    assert users("activate", "asha@raam.example").exit_code == 0
    assert auth.login().status_code == 302


@pytest.mark.parametrize("command", ["set-password", "deactivate", "activate"])
def test_commands_on_an_unknown_email_say_so(users, command):
    result = users(command, "nobody@raam.example", input=f"{NEW_PASSWORD}\n")
    assert result.exit_code == 1
    assert "No account for nobody@raam.example." in result.output


# --- users duty ----------------------------------------------------------------------------------

def test_duty_off_stops_new_leads_in_turn_and_on_starts_them_again(app, users, make_user):
    import sqlalchemy as sa

    from tests.factories import add_lead
    from webapp.audit import AuditEvent
    from webapp.extensions import db
    from webapp.leads.models import Lead
    from webapp.leads.routing import route_pending_leads

    asha, ravi = make_user(), make_user("ravi@raam.example", name="Ravi Rao")
    result = users("duty", "ASHA@raam.example", "off")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "asha@raam.example is off duty: no new leads until back on duty " \
                                    "(their leads stay theirs)."
    assert not account(app, "asha@raam.example").on_duty
    with app.app_context():
        for _ in range(2):
            add_lead()
            route_pending_leads(app.config)
        assert users("duty", "asha@raam.example", "on").output.strip() == \
            "asha@raam.example is on duty: new leads come to them in turn."
        add_lead(phone_number="9000000001")
        route_pending_leads(app.config)
        owners = list(db.session.scalars(sa.select(Lead.owner_id).order_by(Lead.id)))
        audited = [(e.action, e.target, e.details) for e in db.session.scalars(sa.select(AuditEvent))]
    assert owners == [ravi.id, ravi.id, asha.id]
    assert audited[-1] == ("user_duty", "asha@raam.example", {"on_duty": True})


def test_duty_says_when_the_account_cannot_get_leads_in_turn_and_refuses_other_states(users, make_user):
    make_user("meera@raam.example", name="Meera", role="manager")
    assert "only active sales accounts are given new leads" in users("duty", "meera@raam.example", "on").output
    assert users("duty", "meera@raam.example", "maybe").exit_code == 2
    result = users("duty", "nobody@raam.example", "on")
    assert result.exit_code == 1 and "No account for nobody@raam.example." in result.output


# --- The real command, as an admin runs it ---------------------------------------------------------

def test_the_real_command_reads_a_password_piped_to_it(app, database_url, auth):
    command, env = flask_command(database_url, "users", "create", "asha@raam.example", "--name", "Asha",
                                 "--role", "admin")
    done = subprocess.run(command, cwd=ROOT, env=env, input=TEST_PASSWORD + "\n", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Created admin account asha@raam.example (Asha)." in done.stdout
    assert auth.login().status_code == 302


def test_the_real_command_on_a_terminal_asks_twice_without_echo(app, database_url, auth):
    command, env = flask_command(database_url, "users", "create", "asha@raam.example", "--name", "Asha",
                                 "--role", "sales")
    controller, terminal = pty.openpty()
    # A session of its own: getpass cannot reach our terminal and uses this pty, as on a real one.
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=terminal, stdout=terminal, stderr=terminal,
                               start_new_session=True)
    os.close(terminal)
    seen, matched_up_to = b"", 0

    def wait_for(text: str) -> None:
        """Read the terminal until `text` appears after what earlier waits matched."""
        nonlocal seen, matched_up_to
        deadline = time.monotonic() + 30
        while (found := seen.find(text.encode(), matched_up_to)) < 0:
            assert time.monotonic() < deadline, f"never saw {text!r} in {seen[matched_up_to:]!r}"
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    seen += os.read(controller, 4096)
                except OSError:  # the command ended
                    assert text.encode() in seen[matched_up_to:], f"never saw {text!r} in {seen!r}"
        matched_up_to = found + len(text)

    try:
        wait_for("Password: ")
        os.write(controller, b"short\n")
        wait_for("Password must be at least 10 characters long.")
        wait_for("Password: ")
        os.write(controller, TEST_PASSWORD.encode() + b"\n")
        wait_for("Repeat for confirmation: ")
        os.write(controller, TEST_PASSWORD.encode() + b"\n")
        wait_for("Created sales account asha@raam.example (Asha).")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert TEST_PASSWORD.encode() not in seen and b"short\r" not in seen  # nothing typed was echoed
    assert auth.login().status_code == 302
