"""Spreadsheet downloads: the one CSV writer and the one XLSX writer every export goes through.

Text a spreadsheet would run as a formula is defused in CSV; numbers always stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec
import xlsxwriter

Cell = str | int | Decimal | date | datetime | bool | None
ColumnKind = Literal["text", "integer", "currency"]

# Litestar adds "; charset=utf-8" to text types itself.
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Excel, LibreOffice and Sheets read a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CURRENCY_FORMAT = '"$"#,##0.00;-"$"#,##0.00'
_MAX_WIDTH = 60


def cell_text(value: Cell) -> str:
    """A cell as JSON would show it: ISO 8601 times (`Z` for UTC), `true`/`false`, empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | datetime):
        return str(msgspec.to_builtins(value))
    return str(value)


def csv_cell(value: Cell) -> str:
    """One CSV cell: a number as written; text with a formula start gets a leading `'`."""
    text = cell_text(value)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        # A negative amount is a number, not a formula: escaping it would turn it into text.
        return text
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


class CsvWriter:
    """Rows in, CSV text out in pieces, so a long export never sits whole in memory."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def row(self, cells: Iterable[Cell]) -> None:
        self._writer.writerow([csv_cell(cell) for cell in cells])

    def take(self) -> bytes:
        """What was written since the last take, as UTF-8."""
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


def csv_document(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    writer = CsvWriter()
    writer.row(header)
    for row in rows:
        writer.row(row)
    return writer.take()


async def csv_stream(
    header: Sequence[str], rows: AsyncIterable[Sequence[Cell]], *, rows_per_chunk: int = 500
) -> AsyncIterator[bytes]:
    """CSV in chunks of rows: few enough writes to be fast, small enough to stream."""
    writer = CsvWriter()
    writer.row(header)
    yield writer.take()
    pending = 0
    async for row in rows:
        writer.row(row)
        pending += 1
        if pending == rows_per_chunk:
            yield writer.take()
            pending = 0
    if pending:
        yield writer.take()


class XlsxColumn(msgspec.Struct, frozen=True):
    """A sheet column: `integer` cells are numbers, `currency` cells are cents shown as dollars."""

    header: str
    kind: ColumnKind = "text"


def xlsx_document(sheet_name: str, columns: Sequence[XlsxColumn], rows: Sequence[Sequence[Cell]]) -> bytes:
    """A one-sheet workbook built in memory: bold frozen header, widths fitted to the content."""
    output = io.BytesIO()
    # constant_memory flushes each finished row, so a sheet of many rows keeps memory flat.
    workbook = xlsxwriter.Workbook(output, {"constant_memory": True})
    sheet = workbook.add_worksheet(sheet_name[:31])
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": _CURRENCY_FORMAT})
    for c, column in enumerate(columns):
        sheet.set_column(c, c, _width(column, [row[c] for row in rows]))
    sheet.freeze_panes(1, 0)
    for c, column in enumerate(columns):
        sheet.write_string(0, c, column.header, bold)
    for r, row in enumerate(rows, start=1):
        for c, (column, value) in enumerate(zip(columns, row, strict=True)):
            if value is None:
                continue
            if column.kind == "currency" and isinstance(value, int | Decimal):
                sheet.write_number(r, c, float(value) / 100, money)
            elif column.kind != "text" and isinstance(value, int | Decimal) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                # write_string, never write(): a name like `=HYPERLINK(...)` must stay text.
                sheet.write_string(r, c, cell_text(value))
    workbook.close()
    return output.getvalue()


def _width(column: XlsxColumn, values: Iterable[Cell]) -> int:
    longest = len(column.header)
    for value in values:
        if column.kind == "currency" and isinstance(value, int | Decimal):
            # "$" sign, thousands separators and cents.
            digits = len(str(abs(int(value)) // 100))
            longest = max(longest, digits + (digits - 1) // 3 + 5)
        else:
            longest = max(longest, len(cell_text(value)))
    return min(longest + 2, _MAX_WIDTH)
