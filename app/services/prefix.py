"""Prefix search that an index answers on both databases, whatever the collation.

`LIKE 'p%'` uses an index on SQLite only under case_sensitive_like and, on PostgreSQL, only when the pattern is a
constant at planning time (a prepared statement's generic plan sees a parameter). A range between the prefix and the
prefix followed by the last code point uses the index in every case: SQLite's plain index compares binary (UTF-8)
text, and PostgreSQL's text_pattern_ops index answers its byte-wise operators ~>=~ and ~<~ under any database
collation. In that byte-wise (code point) order every string of the range begins with the prefix: one that did not
would differ from it at some earlier character by a greater one, and so sort after the range's end as well. The only
strings beginning with the prefix that the range leaves out continue with U+10FFFF, a character no one types.

The range is the whole condition. An extra equality on the leading characters (substr(column, 1, n) = prefix) was
here once: it filtered nothing out, and PostgreSQL, which cannot estimate it, took it for a 1-in-200 filter, so that
it expected a few hundred matches of a prefix shared by 60,000 records and read the whole range to count a thousand
of them (10 ms for 随财罚 on the public list at a million records).
"""
from __future__ import annotations

from sqlalchemy import and_
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db

LAST = "\U0010ffff"


def starts_with(column, prefix: str) -> ColumnElement[bool]:
    """`column` begins with `prefix`, case-sensitively, as a range the column's prefix index answers."""
    if db.session.get_bind().dialect.name == "postgresql":
        return and_(column.op("~>=~")(prefix), column.op("~<~")(prefix + LAST))
    return and_(column >= prefix, column < prefix + LAST)
