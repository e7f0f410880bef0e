"""Column helpers shared by the models."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone

from sqlalchemy import DateTime, Index, TypeDecorator, text


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as UTC; always return aware UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)



def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> Index:
    """An index over the rows matching `where` (SQL), the same on SQLite and PostgreSQL."""
    return Index(name, *columns, unique=unique, sqlite_where=text(where), postgresql_where=text(where))


def label(column: str, labels: Mapping, *, fallback: bool = False) -> property:
    """A read-only property giving the words for a code column (status -> 办理中); with fallback, an unknown code
    reads as itself instead of failing."""
    if fallback:
        return property(lambda self: labels.get(getattr(self, column), getattr(self, column)))
    return property(lambda self: labels[getattr(self, column)])


def schema_filter(dialect_name: str):
    """Alembic's include_object for `dialect_name`: leaves out what the models build on other databases only
    (`Index(...).ddl_if(dialect=...)`), which autogenerate would otherwise report as missing there."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        only = getattr(obj, "_ddl_if", None)
        if only is None or only.dialect is None:
            return True
        return dialect_name == only.dialect if isinstance(only.dialect, str) else dialect_name in only.dialect

    return include_object
