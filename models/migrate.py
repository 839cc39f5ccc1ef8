"""Alembic, driven from code: the `flask db` commands and the tests use these."""
from pathlib import Path

from alembic import command
from alembic.config import Config

ALEMBIC_INI = Path(__file__).parent / "migrations" / "alembic.ini"


def alembic_config(url: str) -> Config:
    """An Alembic config for the database at `url`."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent))
    # ConfigParser treats % as interpolation; URLs may carry %-escaped passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`. Commits."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision`. Commits."""
    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str, autogenerate: bool = True) -> None:
    """Write a new revision file, compared against the database at `url` when autogenerating."""
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)


def check(url: str) -> None:
    """Raise alembic.util.CommandError when the models and the migrated database at `url` differ."""
    command.check(alembic_config(url))
