"""`flask leads ...`: commands for operators and demos."""
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.leads.demo import ProductionRefused, refuse_production, seed_demo_leads
from webapp.leads.routing import route_pending_leads
from webapp.leads.routing_thread import Router

leads_cli = AppGroup("leads", help="Work with the lead table.")


def register_commands(app) -> None:
    """Add `flask leads …` to `app`."""
    app.cli.add_command(leads_cli)


@leads_cli.command("seed-demo")
@click.argument("count", type=click.IntRange(min=1))
@click.option("--seed", type=int, default=None, help="Random seed: the same leads every time.")
def seed_demo(count: int, seed: int | None) -> None:
    """Add COUNT synthetic leads to the database (refused with APP_ENV=production)."""
    app_env = current_app.config["APP_ENV"]
    try:
        refuse_production(app_env)
        with click.progressbar(length=count, label=f"Adding {count:,} demo leads",
                               file=sys.stderr) as bar:
            seed_demo_leads(count, seed=seed, app_env=app_env, on_rows=bar.update)
    except ProductionRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Added {count:,} demo leads.")


@leads_cli.command("route")
def route() -> None:
    """Link repeats and give waiting leads their owners now (the workers' routing threads do this on their own)."""
    total = 0
    while routed := route_pending_leads(current_app.config):
        total += routed
    click.echo(f"Routed {total:,} lead(s).")


@leads_cli.command("route-work")
def route_work() -> None:
    """Route waiting leads every second until stopped: a router process of its own (ROUTE_INTERVAL=0 on the web
    service then, so its workers run no router thread; see docs/scaling.md)."""
    app = current_app._get_current_object()
    interval = float(app.config["ROUTE_INTERVAL"]) or 1.0
    click.echo(f"routing waiting leads every {interval:g} s; Ctrl-C stops")
    Router(app, interval).run_until_interrupted()
