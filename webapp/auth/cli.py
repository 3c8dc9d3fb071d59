"""`flask users …`: create accounts, list them, set a password, switch an account off or on."""
import sys

import click

from webapp.audit import command_line_actor, record_audit
from webapp.auth import bp
from webapp.auth.accounts import (AccountError, change_password, create_user, find_user, list_users, set_active,
                                  set_on_duty)
from webapp.auth.models import ROLES, User
from webapp.auth.passwords import password_problem
from webapp.leads.timezones import to_ist

def _checked_password(value: str) -> str:
    """Refuse a weak password at the prompt, so the person can type another."""
    if problem := password_problem(value):
        raise click.UsageError(problem)
    return value


def read_new_password() -> str:
    """Ask twice on a terminal; read one line (optionally a matching second) from a pipe."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, value_proc=_checked_password)
    # getpass would read the terminal instead of the pipe, so piped input is read here.
    lines = sys.stdin.read().splitlines()
    if not lines or not lines[0]:
        raise click.ClickException("No password on standard input.")
    if len(lines) > 1 and lines[1] and lines[1] != lines[0]:
        raise click.ClickException("The two passwords do not match.")
    if problem := password_problem(lines[0]):
        raise click.ClickException(problem)
    return lines[0]


def _existing_user(email: str) -> User:
    """The account for `email`, or a clear error for the command line."""
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No account for {email}. `flask --app run users list` shows them all.")
    return user


@bp.cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's name, shown in the dashboard.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="sales, manager (exports) or admin.")
def create(email: str, name: str, role: str) -> None:
    """Create an account; the password is asked twice, or read from standard input when piped."""
    password = read_new_password()
    try:
        user = create_user(email, name, role, password)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    record_audit("user_create", command_line_actor(), target=user.email, details={"role": user.role})
    click.echo(f"Created {user.role} account {user.email} ({user.name}).")


@bp.cli.command("list")
def list_command() -> None:
    """List every account with its role, status and last sign-in (IST)."""
    users = list_users()
    if not users:
        click.echo("No accounts yet. Create one: flask --app run users create EMAIL --name NAME --role admin")
        return
    rows = [("EMAIL", "NAME", "ROLE", "STATUS", "LAST SIGN-IN (IST)")] + [
        (user.email, user.name, user.role, "active" if user.active else "deactivated",
         to_ist(user.last_login_at).strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never")
        for user in users
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@bp.cli.command("set-password")
@click.argument("email")
def set_password(email: str) -> None:
    """Set a new password (asked twice) and sign the account out everywhere."""
    user = _existing_user(email)
    try:
        change_password(user, read_new_password())
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    record_audit("user_password", command_line_actor(), target=user.email)
    click.echo(f"Password changed for {user.email}; every session of that account has ended.")


@bp.cli.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Switch an account off: it can no longer sign in and its sessions end now."""
    user = _existing_user(email)
    set_active(user, False)
    record_audit("user_deactivate", command_line_actor(), target=user.email)
    click.echo(f"Deactivated {user.email}; it cannot sign in and its sessions have ended.")


@bp.cli.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """Switch a deactivated account back on."""
    user = _existing_user(email)
    set_active(user, True)
    record_audit("user_activate", command_line_actor(), target=user.email)
    click.echo(f"Activated {user.email}; it can sign in again.")


@bp.cli.command("duty")
@click.argument("email")
@click.argument("state", type=click.Choice(["on", "off"]))
def duty(email: str, state: str) -> None:
    """Put a person on duty (new leads come to them in turn) or off duty."""
    user = _existing_user(email)
    set_on_duty(user, state == "on")
    record_audit("user_duty", command_line_actor(), target=user.email, details={"on_duty": user.on_duty})
    if user.on_duty and not (user.active and user.role == "sales"):
        click.echo(f"{user.email} is on duty, but only active sales accounts are given new leads in turn.")
    elif user.on_duty:
        click.echo(f"{user.email} is on duty: new leads come to them in turn.")
    else:
        click.echo(f"{user.email} is off duty: no new leads until back on duty (their leads stay theirs).")
