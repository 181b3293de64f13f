"""The export writers: CSV cells a spreadsheet cannot run, XLSX cells typed as numbers or text."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.exports import Cell, XlsxColumn, csv_cell, csv_document, csv_stream, xlsx_document


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1 415 555 0100", "'+1 415 555 0100"),
        ("-150", "'-150"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Acme = Leads", "Acme = Leads"),
        (-150, "-150"),
        (0, "0"),
        (Decimal("-150"), "-150"),
        (None, ""),
        (True, "true"),
        (datetime(2026, 11, 10, 9, 30, tzinfo=UTC), "2026-11-10T09:30:00Z"),
    ],
)
def test_text_with_a_formula_start_is_defused_and_numbers_are_not(value: Cell, written: str) -> None:
    assert csv_cell(value) == written


@given(st.lists(st.one_of(st.text(), st.integers(min_value=-(10**15), max_value=10**15)), min_size=1))
def test_no_text_cell_reads_back_as_a_formula(cells: list[str | int]) -> None:
    document = csv_document([f"c{i}" for i in range(len(cells))], [cells]).decode()
    _, row = list(csv.reader(io.StringIO(document, newline="")))
    for written, original in zip(row, cells, strict=True):
        if isinstance(original, int):
            assert int(written) == original
        else:
            assert written in (original, "'" + original)
            assert not written.startswith(("=", "+", "-", "@", "\t", "\r"))


async def test_the_stream_is_the_document_in_pieces() -> None:
    rows = [[i, f"=row {i}", None] for i in range(1234)]

    async def produce() -> AsyncIterator[list[Cell]]:
        for row in rows:
            yield row

    chunks = [chunk async for chunk in csv_stream(["n", "text", "empty"], produce(), rows_per_chunk=100)]
    assert len(chunks) == 1 + 13
    assert b"".join(chunks) == csv_document(["n", "text", "empty"], rows)


def test_xlsx_keeps_numbers_numeric_text_textual_and_shows_cents_as_dollars() -> None:
    columns = [XlsxColumn("name"), XlsxColumn("amount_cents", "integer"), XlsxColumn("amount", "currency")]
    body = xlsx_document("sheet", columns, [['=HYPERLINK("x")', -150, -150], ["TOTAL", 123_456, 123_456]])
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == ["name", "amount_cents", "amount"]
    assert rows[0][0].font.b
    assert [(c.value, c.data_type) for c in rows[1]] == [('=HYPERLINK("x")', "s"), (-150, "n"), (-1.5, "n")]
    assert rows[2][2].value == 1234.56
    assert "$" in rows[2][2].number_format
    assert sheet.freeze_panes == "A2"
