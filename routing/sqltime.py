"""Time arithmetic in SQL that each engine spells its own way (SQLite keeps UTC text, PostgreSQL timestamptz)."""
from sqlalchemy import Date, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class seconds_between(FunctionElement):
    """SQL: seconds from the second timestamp to the first (NULL when either is NULL)."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


class utc_day(FunctionElement):
    """SQL: the UTC calendar day of a timestamp (read back as a date on every engine)."""

    type = Date()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _day_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_day, "postgresql")
def _day_postgresql(element, compiler, **kw):
    return f"CAST(timezone('UTC', {compiler.process(element.clauses, **kw)}) AS DATE)"


class utc_hour(FunctionElement):
    """SQL: the UTC hour of the day (0-23) of a timestamp."""

    type = Integer()
    inherit_cache = True
    name = "utc_hour"


@compiles(utc_hour)
def _hour_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%H', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(utc_hour, "postgresql")
def _hour_postgresql(element, compiler, **kw):
    return f"CAST(EXTRACT(HOUR FROM timezone('UTC', {compiler.process(element.clauses, **kw)})) AS INTEGER)"
