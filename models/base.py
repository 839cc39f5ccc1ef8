"""Declarative base: naming convention, tz-aware UTC timestamps and enums stored as their values."""
import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DDL, JSON, Column, DateTime, Enum, Index, MetaData, SmallInteger, Table, TypeDecorator, event, text
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC that always comes back timezone-aware.

    PostgreSQL keeps the zone itself; SQLite has no zone, so values are normalised to UTC on the way in
    and marked UTC on the way out. A naive datetime is refused: it is a bug at the call site.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class IntEnumType(TypeDecorator):
    """An IntEnum stored as a small integer, so that ORDER BY sorts by its meaning."""

    impl = SmallInteger
    cache_ok = True

    def __init__(self, enum_class: type[enum.IntEnum]):
        super().__init__()
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect) -> int | None:
        return None if value is None else int(self.enum_class(value))

    def process_result_value(self, value: int | None, dialect) -> enum.IntEnum | None:
        return None if value is None else self.enum_class(value)


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_class]


def enum_type(enum_class: type[enum.Enum], name: str) -> Enum:
    """The type map's enum type under its own `name`, for a second column of one enum on a table
    (each CHECK constraint is named after its type, and names must differ within a table)."""
    return Enum(enum_class, native_enum=False, create_constraint=True, length=32,
                values_callable=_enum_values, name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        enum.Enum: Enum(
            enum.Enum,
            native_enum=False,
            create_constraint=True,
            length=32,
            values_callable=_enum_values,
        ),
    }


# Substring search (`ILIKE '%word%'`, `LIKE '%digits'`): trigram GIN indexes on PostgreSQL. SQLite has no such
# index; the partial `WHERE 0` keeps its copy empty (so it costs nothing) while the models and the migrations
# still describe one schema.
PG_TRGM = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


def trigram_index(name: str, column: Column) -> Index:
    """A trigram index on `column` (PostgreSQL), empty on SQLite; the table creates pg_trgm first."""
    table: Table = column.table
    event.listen(table, "before_create", DDL(PG_TRGM).execute_if(dialect="postgresql"))
    return Index(name, column, postgresql_using="gin", postgresql_ops={column.key: "gin_trgm_ops"},
                 sqlite_where=text("0"))
