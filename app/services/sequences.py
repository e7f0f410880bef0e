"""Gap-free numbers per series and year, allocated inside the caller's transaction."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db, execute_plain
from app.models import NumberSequence
from app.services import audit


def next_number(series: str, year: int) -> int:
    """Bump and return the counter; the row lock (or SQLite's write lock) serializes issuers.

    The number is only used if the transaction commits; a rollback returns it, so no gaps.
    """
    return reserve_numbers(series, year, 1)


def reserve_numbers(series: str, year: int, count: int) -> int:
    """Bump the counter by count at once and return the first of the reserved numbers (a batch numbers its cases
    first, first + 1, …; gap-free as long as it uses them all in this transaction)."""
    if count < 1:
        raise ValueError("count must be positive")
    audit.lock_chain()  # lock order: audit chain, then the sequence row (every issuer audits anyway)
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement: the year's first number makes the row, every later one bumps it under its row lock (a
    # concurrent first insert waits for the row and then bumps it).
    table = NumberSequence.__table__
    statement = insert(table).values(series=series, year=year, last_seq=count)
    result = execute_plain(statement.on_conflict_do_update(
        index_elements=[table.c.series, table.c.year],
        set_={"last_seq": table.c.last_seq + count}).returning(table.c.last_seq))
    return int(result.scalar_one()) - count + 1
