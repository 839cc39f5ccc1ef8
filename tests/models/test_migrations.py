"""The migration history builds the schema on an empty database, and agrees with the models."""
import pytest
from alembic.util import CommandError
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, inspect, text

from models import Base, migrate
from models.routing import STAFFING_TABLES


def test_upgrade_builds_every_table_on_an_empty_database(scratch_database_url):
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(scratch_database_url):
    migrate.upgrade(scratch_database_url)
    migrate.check(scratch_database_url)          # raises CommandError on any difference


def test_check_notices_a_schema_that_drifted(scratch_database_url):
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    with engine.begin() as conn:
        Table("not_in_models", MetaData(), Column("id", Integer, primary_key=True)).create(conn)
    engine.dispose()
    with pytest.raises(CommandError):
        migrate.check(scratch_database_url)


def _staffing_triggers(conn) -> set[str]:
    """(table, trigger) names of the triggers that change the staffing token."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                                 " WHERE t.tgname LIKE 'staffing_changed%'"))
    else:
        rows = conn.execute(text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
                                 " AND name LIKE 'staffing_changed%'"))
    return {(table, name) for table, name in rows}


def test_every_staffing_table_has_its_triggers_at_head(scratch_database_url):
    """Routing's roster is only as fresh as these triggers. A later migration that rebuilds one of these
    tables (SQLite's batch mode copies a table and drops its triggers) must make them again."""
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    with engine.connect() as conn:
        found = _staffing_triggers(conn)
        if conn.dialect.name == "postgresql":
            expected = {(table, "staffing_changed") for table in STAFFING_TABLES}
        else:
            expected = {(table, f"staffing_changed_{table}_{operation}")
                        for table in STAFFING_TABLES for operation in ("insert", "update", "delete")}
    engine.dispose()
    assert found == expected


def test_downgrade_to_base_and_up_again(scratch_database_url):
    migrate.upgrade(scratch_database_url)
    migrate.downgrade(scratch_database_url, "base")
    engine = create_engine(scratch_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(scratch_database_url)
    migrate.check(scratch_database_url)


def test_the_console_queries_have_their_indexes(scratch_database_url):
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    inspector = inspect(engine)
    index_columns = {table: [tuple(ix["column_names"]) for ix in inspector.get_indexes(table)]
                     for table in ("cases", "contact_points", "interactions")}
    unique = [tuple(u["column_names"]) for u in inspector.get_unique_constraints("interactions")]
    engine.dispose()
    assert ("assignee_id", "priority", "last_activity_at", "id") in index_columns["cases"]   # the inbox
    assert ("queue_id", "last_activity_at", "id") in index_columns["cases"]                 # a queue, recent first
    assert ("constituent_id", "created_at") in index_columns["cases"]                       # the 360° view
    assert ("value",) in index_columns["contact_points"]
    assert ("external_id",) in index_columns["interactions"]
    assert ("channel", "external_id") in unique


def test_routing_writes_meet_only_the_indexes_a_query_uses(scratch_database_url):
    """Each routing write of a case adds an entry to every index of the table whose predicate the case meets:
    the first schema's three unused indexes are gone, and the report index of resolved cases holds only those."""
    migrate.upgrade(scratch_database_url)
    engine = create_engine(scratch_database_url)
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("cases")}
    with engine.connect() as connection:
        where = connection.execute(text(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'ix_cases_report_resolved'::regclass"
            if connection.dialect.name == "postgresql" else
            "SELECT sql FROM sqlite_master WHERE name = 'ix_cases_report_resolved'")).scalar_one()
    engine.dispose()
    assert not {"ix_cases_queue_status_priority_queued", "ix_cases_assignee_status_activity",
                "ix_cases_status_created"} & indexes
    assert "resolved_at IS NOT NULL" in where


def test_flask_db_upgrade_command(scratch_database_url, redis_url):
    from caseworker import create_app
    from tests.conftest import app_config

    app = create_app(app_config(scratch_database_url, redis_url))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    engine = create_engine(scratch_database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0
    engine.dispose()
