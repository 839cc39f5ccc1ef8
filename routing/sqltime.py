"""Time arithmetic in SQL that each engine spells its own way (SQLite keeps UTC text, PostgreSQL timestamptz)."""
from sqlalchemy import Date, Float, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeEngine


def _sql_function(name: str, type_: TypeEngine, doc: str, sqlite: str, postgresql: str) -> type[FunctionElement]:
    """A SQL function `name` of result `type_`, written out as the `sqlite` or `postgresql` template, whose
    {0}, {1}... are the compiled arguments."""
    function = type(name, (FunctionElement,), {"type": type_, "inherit_cache": True, "name": name, "__doc__": doc})

    def spell(template: str):
        def compile_(element, compiler, **kw):
            return template.format(*(compiler.process(argument, **kw) for argument in element.clauses))
        return compile_

    compiles(function)(spell(sqlite))
    compiles(function, "postgresql")(spell(postgresql))
    return function


seconds_between = _sql_function(
    "seconds_between", Float(), "SQL: seconds from the second timestamp to the first (NULL when either is NULL).",
    sqlite="((julianday({0}) - julianday({1})) * 86400.0)", postgresql="EXTRACT(EPOCH FROM ({0} - {1}))")
utc_day = _sql_function(
    "utc_day", Date(), "SQL: the UTC calendar day of a timestamp (read back as a date on every engine).",
    sqlite="date({0})", postgresql="CAST(timezone('UTC', {0}) AS DATE)")
utc_hour = _sql_function(
    "utc_hour", Integer(), "SQL: the UTC hour of the day (0-23) of a timestamp.",
    sqlite="CAST(strftime('%H', {0}) AS INTEGER)",
    postgresql="CAST(EXTRACT(HOUR FROM timezone('UTC', {0})) AS INTEGER)")
