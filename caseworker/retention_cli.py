"""`flask retention run [--dry-run]`: the retention job from the command line (cron, or by hand)."""
import json

import click
from flask.cli import AppGroup

from caseworker import logconfig
from channels import retention

retention_cli = AppGroup("retention", help="Retention of closed cases (issue 8).")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Change nothing; print what would go.")
def run(dry_run: bool) -> None:
    """Anonymise (or delete, RETENTION_MODE) the cases past their retention period; print a JSON summary.
    Idempotent: a second run finds nothing more to do."""
    logconfig.configure()
    summary = retention.run(trigger=retention.Trigger.CLI, dry_run=dry_run)
    click.echo(json.dumps(summary, indent=2, sort_keys=True))
