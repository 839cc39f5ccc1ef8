"""Routing decisions: every offer and assignment of a case, its outcome, and why."""
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.caseworker import User
from models.enums import DecisionKind, DecisionOutcome


class RoutingDecision(Base):
    """`explanation` holds the candidates considered, who was filtered out and why, scores and the rule."""

    __tablename__ = "routing_decisions"
    __table_args__ = (
        Index("ix_routing_decisions_case_created", "case_id", "created_at"),
        Index("ix_routing_decisions_user_outcome", "user_id", "outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id"))
    kind: Mapped[DecisionKind]
    outcome: Mapped[DecisionOutcome]
    strategy: Mapped[str | None] = mapped_column(String(32))
    rule: Mapped[str | None] = mapped_column(String(120))
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]

    user: Mapped["User | None"] = relationship(foreign_keys=[user_id])


class StaffingVersion(Base):
    """One row whose `token` changes, by trigger, with every write to what routing keeps in memory between
    transactions (`routing.roster`): queues and their skill needs, skills, queue memberships, users' skill
    levels, and users' names, languages and active flag. Presence and loads are not in it: they change all
    the time and routing reads them fresh.

    The token is random, not a counter: a transaction that changes the staffing and rolls back leaves the
    old token in place, and a counter would hand its number to the next change, whose data differ from
    what the rolled-back transaction may have cached under it.

    Every staffing change writes this one row, so staffing changes take turns: each holds the row until it
    commits. Routing only reads it. A long transaction that changes staffing (a bulk import) makes other
    staffing changes wait, and so does a test's never-committed outer transaction (tests/conftest.py) for
    any other connection that changes staffing."""

    __tablename__ = "staffing_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)


# Each table routing keeps, with the columns whose update matters (None: all of them).
STAFFING_TABLES = {"queues": None, "queue_skills": None, "skills": None, "queue_members": None,
                   "user_skills": None, "users": ("display_name", "languages", "is_active")}
_NEW_TOKEN = {"postgresql": "(random() * 9.2e18)::bigint", "sqlite": "random()"}
_PG_FUNCTION = f"""CREATE OR REPLACE FUNCTION staffing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE staffing_version SET token = {_NEW_TOKEN["postgresql"]};
    RETURN NULL;
END $$"""


def staffing_triggers(dialect: str) -> list[tuple[str, str, str]]:
    """(table, trigger name, what fires it) of each trigger that changes the token: one statement trigger
    per table on PostgreSQL, one row trigger per table and operation on SQLite (no statement triggers)."""
    triggers = []
    for table, columns in STAFFING_TABLES.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        if dialect == "postgresql":
            triggers.append((table, "staffing_changed", f"INSERT OR {update} OR DELETE OR TRUNCATE"))
        else:
            triggers += [(table, f"staffing_changed_{table}_{fires.split()[0].lower()}", fires)
                         for fires in ("INSERT", update, "DELETE")]
    return triggers


_TRIGGER_BODY = {"postgresql": "FOR EACH STATEMENT EXECUTE FUNCTION staffing_changed()",
                 "sqlite": f"BEGIN UPDATE staffing_version SET token = {_NEW_TOKEN['sqlite']}; END"}


def staffing_ddl(dialect: str) -> list[str]:
    """The statements that seed the token and make every change of the staffing change it."""
    seed = [f"INSERT INTO staffing_version (id, token) VALUES (1, {_NEW_TOKEN[dialect]})"]
    function = [_PG_FUNCTION] if dialect == "postgresql" else []
    return seed + function + [f"CREATE TRIGGER {name} AFTER {fires} ON {table} {_TRIGGER_BODY[dialect]}"
                              for table, name, fires in staffing_triggers(dialect)]


def staffing_undo_ddl(dialect: str) -> list[str]:
    """The statements that drop what `staffing_ddl` made (the row goes with its table)."""
    if dialect == "postgresql":
        return ([f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name, _fires in staffing_triggers(dialect)]
                + ["DROP FUNCTION IF EXISTS staffing_changed()"])
    return [f"DROP TRIGGER IF EXISTS {name}" for _table, name, _fires in staffing_triggers(dialect)]


@event.listens_for(Base.metadata, "after_create")
def _create_staffing_triggers(_metadata, connection, tables=(), **_kw) -> None:
    """`create_all` (the tests' schema) gets what the migration makes, when it created the token's table."""
    if any(table.name == StaffingVersion.__tablename__ for table in tables):
        for statement in staffing_ddl(connection.dialect.name):
            connection.exec_driver_sql(statement)
