"""Prefix search that an index answers on both databases, whatever the collation.

`LIKE 'p%'` uses an index on SQLite only under case_sensitive_like and, on PostgreSQL, only when the pattern is a
constant at planning time (a prepared statement's generic plan sees a parameter). A range between the prefix and the
prefix followed by the last code point uses the index in every case: SQLite's plain index compares binary (UTF-8)
text, and PostgreSQL's text_pattern_ops index answers its byte-wise operators ~>=~ and ~<~ under any database
collation. The extra equality on the leading characters makes it exact (a string continuing with U+10FFFF, not a
character anyone types, is the only one the range leaves out)."""
from __future__ import annotations

from sqlalchemy import and_, func
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db

LAST = "\U0010ffff"


def starts_with(column, prefix: str) -> ColumnElement[bool]:
    """`column` begins with `prefix`, case-sensitively, as a range the column's prefix index answers."""
    head = func.substr(column, 1, len(prefix)) == prefix
    if db.session.get_bind().dialect.name == "postgresql":
        return and_(column.op("~>=~")(prefix), column.op("~<~")(prefix + LAST), head)
    return and_(column >= prefix, column < prefix + LAST, head)
