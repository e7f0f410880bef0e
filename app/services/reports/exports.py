"""Write tables as CSV (UTF-8 with BOM, streamed) or XLSX, safe against spreadsheet formula injection."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

# Cell starts that a spreadsheet would run as a formula (CSV injection, OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FLUSH_AT = 64 * 1024


class Table(NamedTuple):
    """One figure as a titled table: a chart's data, a CSV section or an XLSX sheet."""

    title: str
    header: list[str]
    rows: Iterable[tuple]


def _csv_safe(value):
    """A cell value for CSV: empty for None, and text that a spreadsheet would run as a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(tables: Iterable[Table], *, titled: bool) -> Iterator[bytes]:
    """Write tables as UTF-8 CSV with a BOM (for Excel), in chunks; titled puts each title above its table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    for table in tables:
        if titled:
            writer.writerow([_csv_safe(table.title)])
        writer.writerow([_csv_safe(cell) for cell in table.header])
        for row in table.rows:
            writer.writerow([_csv_safe(cell) for cell in row])
            if buffer.tell() >= _FLUSH_AT:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        if titled:
            writer.writerow([])
    yield buffer.getvalue().encode("utf-8")


def _xlsx_cell(sheet, value):
    """A cell for openpyxl: text stays text (openpyxl stores "=..." as a formula), minus characters XML forbids."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if not value.startswith("="):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"
    return cell


def to_xlsx(tables: Iterable[Table]) -> bytes:
    """Write each table to its own sheet, named by its title, header in the first row."""
    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(title=table.title[:31])
        sheet.append([_xlsx_cell(sheet, cell) for cell in table.header])
        for row in table.rows:
            sheet.append([_xlsx_cell(sheet, cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
