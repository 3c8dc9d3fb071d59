"""Operator commands: `flask --app run spool status|drain`, `keys create|list|revoke`, `intake purge|summary`."""
import click
from flask import current_app
from flask.cli import AppGroup

from webapp.audit import command_line_actor, record_audit
from webapp.intake.drain import drain_spool
from webapp.intake.intake_log import outcome_counts, purge_bodies
from webapp.intake.keyring import KeyCommandError, create_key, list_keys, revoke_key
from webapp.intake.parts import intake_of
from webapp.leads.timezones import to_ist

spool_cli = AppGroup("spool", help="Leads kept on disk while the database was unavailable.")
keys_cli = AppGroup("keys", help="API keys for webhook senders (X-API-Key).")
intake_cli = AppGroup("intake", help="The intake log: every webhook request and its answer.")


def register_commands(app) -> None:
    """Add `flask spool …`, `flask keys …` and `flask intake …` to `app` (the dashboard: they use its database session)."""
    for group in (spool_cli, keys_cli, intake_cli):
        app.cli.add_command(group)


@spool_cli.command("status")
def spool_status():
    """Show how many leads wait in the spool, and since when."""
    spool = intake_of(current_app).spool
    backlog = spool.backlog()
    click.echo(f"spool: {spool.directory}")
    click.echo(f"waiting: {backlog.waiting} ({backlog.pending} pending, {backlog.in_progress} being drained)")
    click.echo(f"oldest: {backlog.oldest.isoformat() if backlog.oldest else '-'}")
    click.echo(f"failed: {backlog.failed}" + (f" (see {spool.failed_dir})" if backlog.failed else ""))


@spool_cli.command("drain")
def spool_drain():
    """Move every spooled lead into the table now; exit 1 if the database is still unavailable."""
    intake = intake_of(current_app)
    spool = intake.spool
    result = drain_spool(spool, intake.engine)
    click.echo(f"stored: {result.stored}, already stored: {result.already_stored}, failed: {result.failed}, "
               f"still waiting: {spool.backlog().waiting}")
    if result.database_unavailable:
        raise click.ClickException("the database is unavailable; the rest stays in the spool")


def _when(moment) -> str:
    return to_ist(moment).strftime("%Y-%m-%d %H:%M IST") if moment else "-"


@keys_cli.command("create")
@click.option("--label", required=True, help="Who the key is for, e.g. cardekho-2026-11.")
def keys_create(label: str):
    """Make a new key and print it once; only its hash is stored."""
    try:
        key = create_key(label)
    except KeyCommandError as error:
        raise click.ClickException(str(error)) from None
    record_audit("key_create", command_line_actor(), target=label)
    click.echo(f"New API key {label!r} (shown only now; send it to the sender over a safe channel):", err=True)
    click.echo(key)


@keys_cli.command("list")
def keys_list():
    """Show every key's label, creation, last use and revocation (never the key)."""
    click.echo(f"{'label':<28} {'created':<21} {'last used':<21} revoked")
    for key in list_keys():
        click.echo(f"{key.label:<28} {_when(key.created_at):<21} {_when(key.last_used_at):<21} "
                   f"{_when(key.revoked_at) if key.revoked_at else 'no'}")


@keys_cli.command("revoke")
@click.argument("label")
def keys_revoke(label: str):
    """Revoke a key; it stops working within API_KEY_CACHE_SECONDS on every worker."""
    try:
        revoke_key(label)
    except KeyCommandError as error:
        raise click.ClickException(str(error)) from None
    record_audit("key_revoke", command_line_actor(), target=label)
    click.echo(f"Revoked {label!r}.")


@intake_cli.command("purge")
@click.option("--days", type=int, default=None, help="Keep bodies this many days (INTAKE_BODY_RETENTION_DAYS).")
def intake_purge(days: int | None):
    """Forget rejected requests' raw bodies older than the retention period (run it daily)."""
    days = current_app.config["INTAKE_BODY_RETENTION_DAYS"] if days is None else days
    click.echo(f"purged {purge_bodies(days)} bodies older than {days} days")


@intake_cli.command("summary")
def intake_summary():
    """Counts of webhook requests by outcome and reason over the last 24 hours."""
    for row in outcome_counts():
        click.echo(f"{row.count:>7}  {row.outcome:<14} {row.reason or ''}")
