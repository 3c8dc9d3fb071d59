"""Operator commands: `flask --app run spool status|drain`."""
import click
from flask import current_app
from flask.cli import AppGroup

from webapp.leads.store import drain_spool
from webapp.spooling import spool_for

spool_cli = AppGroup("spool", help="Leads kept on disk while the database was unavailable.")


@spool_cli.command("status")
def spool_status():
    """Show how many leads wait in the spool, and since when."""
    spool = spool_for(current_app)
    backlog = spool.backlog()
    click.echo(f"spool: {spool.directory}")
    click.echo(f"waiting: {backlog.waiting} ({backlog.pending} pending, {backlog.in_progress} being drained)")
    click.echo(f"oldest: {backlog.oldest.isoformat() if backlog.oldest else '-'}")
    click.echo(f"failed: {backlog.failed}" + (f" (see {spool.failed_dir})" if backlog.failed else ""))


@spool_cli.command("drain")
def spool_drain():
    """Move every spooled lead into the table now; exit 1 if the database is still unavailable."""
    spool = spool_for(current_app)
    result = drain_spool(spool)
    click.echo(f"stored: {result.stored}, already stored: {result.already_stored}, failed: {result.failed}, "
               f"still waiting: {spool.backlog().waiting}")
    if result.database_unavailable:
        raise click.ClickException("the database is unavailable; the rest stays in the spool")
