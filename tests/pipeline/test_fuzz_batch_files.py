"""Fuzzed batch files (CSV, XLSX, XML, NDJSON) through `read_rows`: every file gives numbered
rows, each fields or a reason, never an exception, in bounded time and size.

CSV with ragged rows, stray quotes, huge fields, formula cells and odd encodings; XLSX written
by openpyxl and xlsxwriter with odd cell types, merged cells and many sheets, then patched or
corrupted as a zip; XML lead lists and ADF; NDJSON lines of any JSON.
"""

from __future__ import annotations

import csv
import functools
import io
import zipfile
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec
import openpyxl
import xlsxwriter
from hypothesis import example, given
from hypothesis import strategies as st

from exchange.pipeline.batches import MAX_CELL, read_rows, sniff_format
from tests.adapters.test_fuzz_parsers import adf_documents, json_values, render, xml_trees
from tests.fuzz_profile import fuzz, mutated, output_size


def read_all(format: str, data: bytes) -> list[tuple[int, dict[str, Any] | str]]:
    """Every row, checking the shape each must have; the rows come back for more checks."""
    rows = list(read_rows(format, data))
    numbers = [number for number, _ in rows]
    assert numbers == sorted(set(numbers)) and all(number >= 1 for number in numbers)
    for _, fields in rows:
        if isinstance(fields, str):
            assert fields.strip()  # a reason a person can read
        else:
            assert isinstance(fields, dict)
            if format in ("csv", "xlsx"):  # a cell is cut to what a field could be
                assert all(len(value) <= MAX_CELL for value in _leaves(fields) if isinstance(value, str))
    return rows


def _leaves(fields: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    stack: list[Any] = [fields]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        else:
            found.append(value)
    return found


# ---------------------------------------------------------------------------------------------
# CSV

HEADERS = (
    "first_name",
    "email",
    "phone",
    "consent.text",
    "consent",
    "a.b",
    "a",
    "",
    " ",
    "\ufeffemail",
    "=cmd",
)
cell_text = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(
    ('"', 'a"b', "a,b", "line\nbreak", "=1+1", "@SUM(A1)", "+1", "-1", "\x00", "x" * (MAX_CELL + 5), " ", "é")
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(HEADERS) | cell_text, max_size=6))
    rows = draw(st.lists(st.lists(cell_text, max_size=8), max_size=8))
    newline = draw(st.sampled_from(("\r\n", "\n", "\r")))
    out = io.StringIO()
    if draw(st.booleans()):  # written properly
        writer = csv.writer(out, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
    else:  # joined by hand: quotes and commas left as they are
        out.write(newline.join(",".join(row) for row in [header, *rows]))
    codec = draw(st.sampled_from(("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")))
    return out.getvalue().encode(codec, "replace")


@fuzz(150)
@given(csv_files() | mutated(csv_files()))
@example(b"first_name,email\r\n" + b"x" * (MAX_CELL + 5) + b",a@b.c\r\n")
@example(b'first_name,email\r\n"never closed,a@b.c\r\nAda,a@b.c\r\n')
def test_csv_files_give_rows_or_reasons(data: bytes) -> None:
    rows = read_all("csv", data)
    assert len(rows) <= data.count(b"\n") + data.count(b"\r") + 2
    assert output_size(rows) <= 4 * len(data) + 150 * len(rows) + 10


def test_a_utf8_file_with_only_carriage_returns_is_read_as_utf8() -> None:
    # Old spreadsheet exports end lines with \r alone, so the 64 KiB sample that picks the
    # encoding has no \n to be cut at and may end inside a character.
    header = ",".join(f"c{number}" for number in range(10))
    row = ",".join(["é" * 4000] * 10)
    data = f"{header}x\r{row}\r{row}\r".encode()
    if data[65535] < 0xC0:  # make the sample end right after a character's first byte
        data = f"{header}\r{row}\r{row}\r".encode()
    assert data[65535] >= 0xC0
    rows = read_all("csv", data)
    assert len(rows) == 2
    assert all(set(fields.values()) == {"é" * 4000} for _, fields in rows if isinstance(fields, dict))


simple_names = st.lists(
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True
)
simple_cells = st.just("") | st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1).map(
    str.strip
)


@fuzz(100)
@given(simple_names, st.data(), st.sampled_from(("\r\n", "\n", "\r")), st.booleans())
def test_well_formed_csv_reads_back_its_cells(
    names: list[str], data: st.DataObject, newline: str, bom: bool
) -> None:
    rows = data.draw(st.lists(st.lists(simple_cells, min_size=len(names), max_size=len(names)), max_size=6))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(names)
    writer.writerows(rows)
    body = ("\ufeff" if bom else "") + out.getvalue()
    expected = [
        {name: cell for name, cell in zip(names, row, strict=True) if cell} for row in rows if any(row)
    ]
    got = [fields for _, fields in read_all("csv", body.encode())]
    assert got == expected


# ---------------------------------------------------------------------------------------------
# XLSX

CELL_VALUES = (
    st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 1, 1))
    | st.dates(min_value=date(1900, 3, 1))
    | st.times()
    | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1000))
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=30)
    | st.sampled_from(("=1+1", "=A1", "=1/0", "#DIV/0!", "x" * 20_000, "first_name", "consent.text"))
    | st.none()
)


@st.composite
def openpyxl_workbooks(draw: st.DrawFn) -> bytes:
    workbook = openpyxl.Workbook()
    for index in range(draw(st.integers(1, 3))):
        sheet = workbook.active if index == 0 else workbook.create_sheet(f"s{index}")
        for row in draw(st.lists(st.lists(CELL_VALUES, max_size=6), max_size=6)):
            sheet.append(row)
        if draw(st.booleans()):
            sheet.cell(row=draw(st.integers(1, 50)), column=draw(st.integers(1, 2000)), value="far")
        if draw(st.booleans()):
            sheet.merge_cells("A1:B2")
    if draw(st.booleans()):
        workbook.active = len(workbook.worksheets) - 1
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@st.composite
def xlsxwriter_workbooks(draw: st.DrawFn) -> bytes:
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": draw(st.booleans())})
    sheet = workbook.add_worksheet()
    for number, row in enumerate(draw(st.lists(st.lists(CELL_VALUES, max_size=6), max_size=6))):
        for column, value in enumerate(row):
            if isinstance(value, datetime | date | time | timedelta):
                sheet.write_datetime(number, column, value, workbook.add_format({"num_format": "yyyy-mm-dd"}))
            elif value is None:
                sheet.write_blank(number, column, None)
            else:
                sheet.write(number, column, value)
    if draw(st.booleans()):
        sheet.merge_range("A1:C1", "merged")
    if draw(st.booleans()):
        sheet.write_formula("D1", "=SUM(A1:C1)", None, draw(st.sampled_from((0, "", "cached", True))))
    workbook.close()
    return out.getvalue()


# Sheet XML that openpyxl cannot read cell by cell: the rows before stand, the rest is one reason.
SHEET_PATCHES = (
    (b"</sheetData>", b"<row"),
    (b'<row r="1"', b'<row r="x"'),
    (b"</sheetData>", b'<row r="90"><c r="A90"><v>abc</v></c></row></sheetData>'),
    (b"</sheetData>", b'<row r="90"><c r="A90"><v>NaN</v></c></row></sheetData>'),
    (b"</sheetData>", b'<row r="90"><c r="A90" t="d"><v>not a date</v></c></row></sheetData>'),
    (b"</sheetData>", b'<row r="90"><c r="A90" t="s"><v>999</v></c></row></sheetData>'),
    (b"</sheetData>", b'<row r="999999999"><c r="XFD999999999"><v>1</v></c></row></sheetData>'),
    (b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>'),
    (b"<sheetData>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><sheetData>"),
)


def patched(workbook: bytes, old: bytes, new: bytes) -> bytes:
    """The workbook with its first sheet's XML edited (other members copied as they are)."""
    source = zipfile.ZipFile(io.BytesIO(workbook))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            member = source.read(info.filename)
            if info.filename.endswith("sheet1.xml"):
                member = member.replace(old, new, 1)
            target.writestr(info.filename, member)
    return out.getvalue()


workbooks = openpyxl_workbooks() | xlsxwriter_workbooks()
broken_workbooks = st.builds(
    lambda book, patch: patched(book, *patch), workbooks, st.sampled_from(SHEET_PATCHES)
)


@fuzz(60, deadline_ms=5000)  # openpyxl is slow to open a workbook on a busy machine
@given(workbooks | broken_workbooks | mutated(workbooks, max_edits=2))
def test_xlsx_files_give_rows_or_reasons(data: bytes) -> None:
    rows = read_all("xlsx", data)
    assert output_size(rows) <= 4 * unpacked_size(data) + 1000


def unpacked_size(data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        return len(data)


@functools.cache
def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * 200_000_000 + b">")
    return out.getvalue()


def test_a_zip_bomb_is_refused_unread() -> None:
    assert read_all("xlsx", zip_bomb()) == [(1, "the workbook unpacks to far more than its size: refused")]


def test_a_declared_dimension_does_not_widen_every_row() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["first_name", "email"])
    for number in range(2000):
        workbook.active.append([f"Ada {number}", f"ada{number}@example.com"])
    out = io.BytesIO()
    workbook.save(out)
    data = patched(out.getvalue(), b'<dimension ref="A1:B2001"/>', b'<dimension ref="A1:XFD1048576"/>')
    rows = read_all("xlsx", data)
    assert len(rows) == 2000 and rows[-1] == (
        2000,
        {"first_name": "Ada 1999", "email": "ada1999@example.com"},
    )


def test_a_sheet_broken_midway_keeps_the_rows_before_it() -> None:
    workbook = openpyxl.Workbook()
    for row in (["first_name"], ["Ada"]):
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    bad_number = b'<row r="3"><c r="A3"><v>abc</v></c></row></sheetData>'
    rows = read_all("xlsx", patched(out.getvalue(), b"</sheetData>", bad_number))
    assert rows == [(1, {"first_name": "Ada"}), (2, "the sheet cannot be read from this row on: ValueError")]


def test_rows_past_a_dimension_set_too_small_are_read() -> None:
    workbook = openpyxl.Workbook()
    for row in (["first_name"], ["Ada"], ["Grace"]):
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    data = patched(out.getvalue(), b'<dimension ref="A1:A3"/>', b'<dimension ref="A1:A1"/>')
    assert read_all("xlsx", data) == [(1, {"first_name": "Ada"}), (2, {"first_name": "Grace"})]


# ---------------------------------------------------------------------------------------------
# XML and NDJSON


@st.composite
def xml_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("leads", "lead", "adf", "other")))
    if kind == "adf":
        return draw(adf_documents())[0].encode()
    if kind == "leads":
        children = "".join(render(tree, "lead") for tree in draw(st.lists(xml_trees, max_size=5)))
        return f"<leads>{children}</leads>".encode("utf-8", "replace")
    return render(draw(xml_trees), kind).encode("utf-8", "replace")


@fuzz(100)
@given(xml_files() | mutated(xml_files()))
def test_xml_files_give_rows_or_reasons(data: bytes) -> None:
    rows = read_all("xml", data)
    assert output_size(rows) <= 4 * len(data) + 300 * len(rows)


@st.composite
def ndjson_files(draw: st.DrawFn) -> bytes:
    lines = [msgspec.json.encode(value) for value in draw(st.lists(json_values, max_size=8))]
    lines += draw(
        st.lists(
            st.sampled_from((b"", b"  ", b"{", b'{"a":1}{"b":2}', b"\xef\xbb\xbf{}", b"[" * 5000)), max_size=3
        )
    )
    draw(st.randoms()).shuffle(lines)
    return draw(st.sampled_from((b"\n", b"\r\n"))).join(lines)


@fuzz(100)
@given(ndjson_files() | mutated(ndjson_files()))
def test_ndjson_files_give_a_row_per_line(data: bytes) -> None:
    rows = read_all("ndjson", data)
    assert len(rows) == sum(1 for line in data.split(b"\n") if line.strip())
    assert output_size(rows) <= 4 * len(data) + 150 * len(rows) + 10


@fuzz(100)
@given(
    st.binary(max_size=200), st.sampled_from((None, "", "application/octet-stream", "text/csv", "bogus/x"))
)
def test_sniffed_files_are_read_by_their_format(data: bytes, content_type: str | None) -> None:
    format = sniff_format(data, content_type)
    if format is not None:
        read_all(format, data)
