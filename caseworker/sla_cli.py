"""`flask sla check`: the SLA sweep from the command line (cron, or after an outage)."""
import click
from flask.cli import AppGroup

from caseworker.extensions import rq_connection
from routing import sla_jobs

sla_cli = AppGroup("sla", help="SLA clocks and timers.")


@sla_cli.command("check")
@click.option("--all", "everything", is_flag=True,
              help="Check every open case with a running clock and set all its timers again.")
@click.option("--enqueue", is_flag=True, help="Leave the sweep to a worker instead of running it here.")
def check(everything: bool, enqueue: bool) -> None:
    """Fire the SLA warnings and breaches that were missed and set the timers ahead. Idempotent."""
    if enqueue:
        sla_jobs.request_sla_sweep(rq_connection(), everything)
        click.echo("SLA sweep enqueued.")
        return
    counts = sla_jobs.sweep(rq_connection(), everything)
    click.echo(f"{counts['cases']} cases checked: {counts['warning']} warnings, {counts['breach']} breaches, "
               f"{counts['timers']} timers set.")
