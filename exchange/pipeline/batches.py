"""Batches of leads: a file (CSV, XLSX, XML or NDJSON), each row a lead through the same
intake as any post. `POST /v1/leads/batch` sends one; so do the FTP drop box and pulls.

    accept   the file is stored whole with its batch (`batches.data`) and its import owed on the
             outbox, in one transaction: 202 means the file survives a crash
    import   the outbox runner reads the rows from `next_row` on, a chunk at a time (CSV read
             incrementally, XLSX in openpyxl's read-only mode: never every row in memory), and
             sends each chunk's rows through intake together, so they share the writer's group
             commits; then records the chunk's outcomes and moves `next_row`, together
    restart  an import that stopped goes on from `next_row`; a row it had already stored
             replays its first answer, because each row carries a key of its own
             (`batch:ID:ROW`), or its `external_id`, which also makes it idempotent across
             uploads. No row becomes two leads.

Rows are distributed as `mode=async` posts are: stored, then offered by the outbox runner;
`GET /v1/batches/{id}` reads each row's lead as it stands now (sold, unsold, …). A batch
whose origin asks for `"mode": "sync"` (the FTP drop box, whose results file is written once)
has each chunk's rows sold before the chunk is recorded, so every outcome is final.

A "row" of an XML file is a `<lead>` (the root, or each child of another root such as
`<leads>`) or an ADF `<prospect>`; of an NDJSON file, a line holding one JSON object.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import logging
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.inbound.adf import prospects_from_root
from adapters.inbound.json import decode_json
from adapters.inbound.nesting import nest_dotted
from adapters.inbound.safexml import local_name, parse_xml
from adapters.inbound.xml import element_fields
from exchange.errors import BadRequest, Invalid
from exchange.ids import new_id
from exchange.pipeline.dropbox import DropBox
from exchange.pipeline.intake import Posted, Source, receive_fields
from exchange.storage import tables as t
from exchange.storage.outbox import Lease
from exchange.types import FieldError

log = logging.getLogger(__name__)

CHUNK_ROWS = 256
MAX_ROWS = 200_000
MAX_CELL = 10_000
# A lead file has tens of columns; a row is never read wider than this.
MAX_COLUMNS = 1000
# A cell longer than a field could ever be is cut here and refused by validation.
csv.field_size_limit(MAX_CELL + 1)
STATUSES = ("sold", "unsold", "accepted", "duplicate", "rejected")
# A file's extension and the format it is read as.
FORMATS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xml": "xml",
    ".adf": "xml",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
# XML is read whole (lxml, no entities, no DTD): a file of leads this big is already huge.
MAX_XML_BYTES = 32 * 1024 * 1024


class BatchRowView(msgspec.Struct, frozen=True, kw_only=True):
    row: Annotated[
        int,
        msgspec.Meta(
            description="The row in the file, 1 being the first data row under the header.", examples=[3]
        ),
    ]
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The lead the row became; null when nothing was stored.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    status: Annotated[
        str,
        msgspec.Meta(
            description=("The row's lead answer: `sold`, `unsold`, `accepted`, `duplicate` or `rejected`."),
            examples=["rejected"],
        ),
    ]
    errors: Annotated[
        list[FieldError],
        msgspec.Meta(
            description="Why the row was rejected, one entry per field; empty otherwise.",
            examples=[
                [{"field": "phone", "code": "invalid_value", "message": "not a valid US phone number"}]
            ],
        ),
    ]


class BatchView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The batch's id.", examples=["bat_01jp9zpv5rjyvh3xeeywt5hkp7"])
    ]
    status: Annotated[
        str,
        msgspec.Meta(description="`processing` while rows are being read, then `done`.", examples=["done"]),
    ]
    vertical: Annotated[
        str, msgspec.Meta(description="The vertical of its leads.", examples=["auto_insurance"])
    ]
    total: Annotated[
        int | None,
        msgspec.Meta(
            description="How many data rows the file holds; null until it is read to its end.", examples=[250]
        ),
    ]
    counts: Annotated[
        dict[str, int],
        msgspec.Meta(
            description="Rows by outcome so far: `sold`, `unsold`, `accepted`, `duplicate`, `rejected`.",
            examples=[{"sold": 180, "unsold": 52, "accepted": 0, "duplicate": 9, "rejected": 9}],
        ),
    ]
    rows: Annotated[
        list[BatchRowView], msgspec.Meta(description="Each row read so far and its outcome, in file order.")
    ]
    error: Annotated[
        str | None,
        msgspec.Meta(
            description="Why the file as a whole could not be read (a malformed file); null otherwise.",
            examples=[None],
        ),
    ] = None
    created_at: Annotated[
        datetime,
        msgspec.Meta(description="When the file was received (UTC).", examples=["2025-03-14T09:26:53Z"]),
    ]
    updated_at: Annotated[
        datetime,
        msgspec.Meta(description="When the last row was read (UTC).", examples=["2025-03-14T09:27:01Z"]),
    ]


def format_of_name(name: str) -> str | None:
    """`csv`, `xlsx`, `xml` or `ndjson` from a file's name, or None for any other file."""
    dot = name.rfind(".")
    return FORMATS.get(name[dot:].lower()) if dot > 0 else None


MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
}


def sniff_format(body: bytes, content_type: str | None) -> str | None:
    """The format from the content type, or from the bytes when none is given (an XLSX
    file is a zip, XML starts with `<`, NDJSON with `{`, anything else is read as CSV)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "application/octet-stream"):
        start = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if body[:4] == b"PK\x03\x04":
            return "xlsx"
        return {b"<": "xml", b"{": "ndjson"}.get(start[:1], "csv")
    return MEDIA_TYPES.get(media)


async def accept_batch(
    conn: AsyncConnection,
    *,
    publisher_id: str,
    vertical: str,
    format: str,
    data: bytes,
    now: datetime,
    origin: dict[str, Any] | None = None,
    name: str | None = None,
) -> str:
    """Store the file and owe its import, in the caller's transaction; the batch id.
    `origin` ({"channel": "ftp", "path": …}) is kept on every row's lead."""
    batch_id = new_id("bat")
    await conn.execute(
        t.batches.insert().values(
            id=batch_id,
            publisher_id=publisher_id,
            vertical=vertical,
            status="processing",
            format=format,
            data=data,
            origin=origin,
            name=name,
            total=None,
            next_row=1,
            created_at=now,
            updated_at=now,
        )
    )
    await conn.execute(
        t.outbox.insert().values(
            job="import_batch",
            lead_id=None,
            payload={"batch_id": batch_id},
            due_at=now,
            attempts=0,
            created_at=now,
        )
    )
    return batch_id


async def import_batch(ctx: Any, *, lead_id: str | None, lease: Lease, batch_id: str) -> None:
    """The outbox job: import the batch from where it stopped (ctx.intake: the Services)."""
    services = ctx.intake
    if services is None:  # the process is still starting: the runner tries again shortly
        raise RuntimeError("intake is not ready")
    b = t.batches.c
    async with services.engine.connect() as conn:
        batch = (await conn.execute(select(t.batches).where(b.id == batch_id))).first()
        publisher = (
            (await conn.execute(select(t.publishers).where(t.publishers.c.id == batch.publisher_id))).first()
            if batch is not None
            else None
        )
    if batch is None or batch.status == "done" or publisher is None:
        return
    source = Source(
        publisher_id=publisher.id,
        default_vertical=publisher.default_vertical,
        field_mapping=publisher.field_mapping or {},
        payout=publisher.payout,
    )
    rows = read_rows(batch.format, batch.data or b"")
    number = 0
    chunk: list[tuple[int, dict[str, Any] | str]] = []
    for number, fields in rows:
        if number < batch.next_row:
            continue
        chunk.append((number, fields))
        if len(chunk) >= CHUNK_ROWS:
            await _import_chunk(services, source, batch, chunk)
            chunk = []
    if chunk:
        await _import_chunk(services, source, batch, chunk)
    if (batch.origin or {}).get("channel") == "ftp":  # before `done`: a crash writes it again
        async with services.engine.connect() as conn:
            view = await batch_view(conn, batch)
        drop = DropBox(services.settings.ftp_root)
        await asyncio.to_thread(drop.write_results, batch.publisher_id, batch.origin["path"], view.rows)
    async with services.engine.begin() as conn:
        await conn.execute(
            update(t.batches)
            .where(b.id == batch_id)
            .values(status="done", total=number, data=None, updated_at=services.clock())
        )


async def _import_chunk(
    services: Any, source: Source, batch: Any, chunk: list[tuple[int, dict[str, Any] | str]]
) -> None:
    """A chunk's rows through intake together (their writes share group commits), then their
    outcomes and the batch's next row, in one transaction: a chunk is recorded whole or not
    at all, so a resumed import never records a row twice."""
    base = {key: value for key, value in (batch.origin or {"channel": "batch"}).items() if key != "mode"}
    mode = "sync" if (batch.origin or {}).get("mode") == "sync" else "async"

    async def one(number: int, fields: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(fields, str):  # a row the file could not give as fields
            error = FieldError(field=f"row {number}", code="unreadable_row", message=fields)
            return _outcome(batch.id, number, None, "rejected", [error])
        external = fields.get("external_id")
        key = None if isinstance(external, str) and external.strip() else f"batch:{batch.id}:{number}"
        posted = Posted(
            body=b"",
            content_type=f"text/{batch.format}",
            vertical=batch.vertical,
            mode=mode,
            idempotency_key=key,
            origin={**base, "batch_id": batch.id, "row": number},
        )
        try:
            received = await receive_fields(services, source, posted, fields)
        except Invalid as exc:  # one bad row (a vertical gone, say) never stops the batch
            return _outcome(batch.id, number, None, "rejected", list(exc.errors or []))
        answer = received.answer
        return _outcome(batch.id, number, answer.lead_id, answer.status, list(answer.errors))

    outcomes = await asyncio.gather(*(one(number, fields) for number, fields in chunk))
    async with services.engine.begin() as conn:
        await conn.execute(t.batch_rows.insert(), outcomes)
        await conn.execute(
            update(t.batches)
            .where(t.batches.c.id == batch.id)
            .values(next_row=chunk[-1][0] + 1, updated_at=services.clock())
        )


def _outcome(batch_id: str, row: int, lead_id: str | None, status: str, errors: list[Any]) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "row": row,
        "lead_id": lead_id,
        "status": status,
        "errors": msgspec.to_builtins(errors),
    }


def read_rows(format: str, data: bytes) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each data row (1 is the first after the header) as fields, or why it cannot be one."""
    if format == "xml":
        yield from _xml_rows(data)
        return
    if format == "ndjson":
        yield from _ndjson_rows(data)
        return
    rows = _csv_rows(data) if format == "csv" else _xlsx_rows(data)
    header: list[str] | None = None
    for number, cells in enumerate(rows):
        if isinstance(cells, str):
            if header is None:
                yield 1, cells
                return
            yield number, cells
            continue
        if header is None:
            header = [_column(c) for c in cells]
            continue
        if number > MAX_ROWS:
            yield number, f"the file has more than {MAX_ROWS} rows: the rest are not read"
            return
        if not any(c not in (None, "") for c in cells):
            continue  # a blank line
        if len(cells) > len(header) and any(c not in (None, "") for c in cells[len(header) :]):
            yield number, f"{len(cells)} cells for {len(header)} columns"
            continue
        flat = {
            name: _cell(value)
            for name, value in zip(header, cells, strict=False)
            if name and value not in (None, "")
        }
        try:  # `consent.text` columns fill the lead's `consent`, as in a form post
            yield number, nest_dotted(flat)
        except BadRequest as exc:
            yield number, exc.message


def _xml_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """`<lead>` (one lead), any other root whose `<lead>` children are leads, or ADF."""
    if len(data) > MAX_XML_BYTES:
        yield 1, f"an XML file may hold up to {MAX_XML_BYTES // (1024 * 1024)} MiB; send more files"
        return
    try:
        root = parse_xml(data)
        name = local_name(root).lower()
        if name == "adf":
            leads = prospects_from_root(root)
        elif name == "lead":
            leads = [nest_dotted(element_fields(root))]
        else:
            children = [child for child in root if local_name(child).lower() == "lead"]
            leads = [nest_dotted(element_fields(child)) for child in children]
            if not leads:
                yield 1, f"an XML file holds <lead> elements (or is ADF); <{local_name(root)}> has none"
                return
    except (BadRequest, RecursionError) as exc:
        yield 1, f"unreadable XML: {getattr(exc, 'message', None) or type(exc).__name__}"
        return
    yield from enumerate(leads[:MAX_ROWS], start=1)
    if len(leads) > MAX_ROWS:
        yield MAX_ROWS + 1, f"the file has more than {MAX_ROWS} rows: the rest are not read"


def _ndjson_rows(data: bytes) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """One JSON object per line; blank lines are skipped, other lines are refused rows."""
    number = 0
    for line in io.BytesIO(data):
        if not line.strip():
            continue
        number += 1
        if number > MAX_ROWS:
            yield number, f"the file has more than {MAX_ROWS} rows: the rest are not read"
            return
        try:
            document = decode_json(line.strip(), None)
            if not isinstance(document, dict):
                raise BadRequest("a line holds one JSON object", code="invalid_body")
            yield number, nest_dotted(document)
        except (BadRequest, RecursionError) as exc:
            yield number, f"unreadable line: {getattr(exc, 'message', None) or type(exc).__name__}"


def _column(name: Any) -> str:
    return str(name or "").strip().lstrip("\ufeff")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()[:MAX_CELL]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    return value


def _csv_rows(data: bytes) -> Iterator[list[str] | str]:
    """Rows of a CSV file read a line at a time: UTF-8 (a BOM allowed), else Latin-1."""
    encoding = "utf-8-sig"
    try:
        # Incremental: the sample may end inside a character (a file of `\r` line ends has no
        # `\n` to cut at), which is no reason to read the whole file as Latin-1.
        codecs.getincrementaldecoder("utf-8-sig")().decode(data[:65536], final=len(data) <= 65536)
    except UnicodeDecodeError:
        encoding = "latin-1"
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"unreadable CSV: {exc}"
            return
        yield cells


def _xlsx_rows(data: bytes) -> Iterator[list[Any] | str]:
    """Rows of the first sheet, read-only (streamed); a file that is no workbook, or one
    that would unpack to more than it may, is one reason instead."""
    from openpyxl import load_workbook  # loaded by the first batch that needs it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > 50 * len(data) + 50_000_000:
            yield "the workbook unpacks to far more than its size: refused"
            return
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # not a zip, not a workbook, a broken part
        yield f"not an XLSX workbook: {type(exc).__name__}"
        return
    try:
        sheet = workbook.worksheets[0]
        # The declared dimension is not trusted: a small file declaring 16384 columns would
        # have every row padded to them, and rows past a dimension set too small would be lost.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            if len(row) > MAX_COLUMNS:
                beyond = row[MAX_COLUMNS:]
                if beyond.count(None) + beyond.count("") < len(beyond):
                    yield f"a row has values past column {MAX_COLUMNS}"
                    continue
                row = row[:MAX_COLUMNS]
            yield list(row)
    except Exception as exc:  # a broken sheet: bad XML, a cell value openpyxl cannot read
        yield f"the sheet cannot be read from this row on: {type(exc).__name__}"
    finally:
        workbook.close()


async def batch_view(conn: AsyncConnection, batch: Any) -> BatchView:
    """The batch with every row's outcome, a row's status being its lead's status now."""
    r, lc = t.batch_rows.c, t.leads.c
    found = (
        await conn.execute(
            select(r.row, r.lead_id, r.status, r.errors, lc.status.label("now"))
            .outerjoin(t.leads, lc.id == r.lead_id)
            .where(r.batch_id == batch.id)
            .order_by(r.row)
        )
    ).all()
    rows = []
    counts = dict.fromkeys(STATUSES, 0)
    for row in found:
        status = row.now if row.status == "accepted" and row.now in STATUSES else row.status
        counts[status] = counts.get(status, 0) + 1
        rows.append(
            BatchRowView(
                row=row.row,
                lead_id=row.lead_id,
                status=status,
                errors=msgspec.convert(row.errors or [], list[FieldError]),
            )
        )
    return BatchView(
        id=batch.id,
        status=batch.status,
        vertical=batch.vertical,
        total=batch.total,
        counts=counts,
        rows=rows,
        error=batch.error,
        created_at=batch.created_at,
        updated_at=batch.updated_at,
    )
