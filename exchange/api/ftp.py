"""The FTP drop box: publishers upload files of leads (`exchange serve` listens when
EXCHANGE_FTP_PORT is set), on the server's own event loop (aioftp).

A publisher logs in with its id and an API key of its own, and sees its home
(pipeline/dropbox.py), where each vertical has a folder. A file uploaded into one
(`/auto_insurance/today.csv`; `.csv`, `.xlsx`, `.xml`, `.ndjson`) becomes a batch of that
vertical (pipeline/batches.py), and `today.results.csv` appears beside it once every row is
through. Renaming a file to such a name in a vertical's folder takes it too, so the common
"upload as .tmp, then rename" habit works.

When a file counts as uploaded. FTP ends a file by closing its data connection, so a client
that dies mid-upload looks, on the data connection alone, like one that finished. The file
is written as `.NAME.part` and taken only if, a moment after its data ends, the client's
control connection is still up (a client that died has closed both) and it was not aborted;
its batch is then stored, durably, before the 226 that tells the client it is done. A file
that is not taken leaves nothing: no batch, no lead, no file.

Refused: paths that would leave the home (`..` past `/`, a symlink out), files outside a
vertical's folder, hidden names and names ending `.results.csv`, files over
EXCHANGE_FTP_MAX_FILE_BYTES (552), APPE and REST (a file is sent whole), new folders. A
client that stays silent is dropped after two minutes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import Path, PurePosixPath
from typing import Any

import aioftp
from aioftp.server import ConnectionConditions, PathConditions, PathPermissions
from sqlalchemy import select

from exchange.pipeline.batches import accept_batch, format_of_name
from exchange.pipeline.dropbox import RESULTS_SUFFIX, DropBox, part_name, results_name
from exchange.storage import tables as t
from exchange.storage.migrate import hash_key
from exchange.tasks import stop_task

log = logging.getLogger(__name__)

# How long after a file's data ends the control connection must still be up for it to count.
SETTLE_SECONDS = 0.25
IDLE_SECONDS = 120
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_PUBLISHER = 8
FAILED_LOGIN_PAUSE = 1.0
PURGE_EVERY_SECONDS = 3600


class _QuietDisconnects(logging.Filter):
    """A client that hangs up without QUIT is an everyday event, not an error with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionError))


logging.getLogger("aioftp.server").addFilter(_QuietDisconnects())


class _Outside(Exception):
    """A path that would leave the publisher's home."""


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class PublisherLogins(aioftp.AbstractUserManager):
    """The login is a publisher's id, the password one of its API keys (not revoked)."""

    def __init__(self, services: Any, drop: DropBox) -> None:
        super().__init__(timeout=30)
        self.services, self.drop = services, drop

    async def get_user(self, login: str) -> tuple[Any, aioftp.User | None, str]:
        # Whether the id exists is not told: every login is asked for its password, and a
        # wrong id or key fail the same way at PASS. Until then the user sees nothing.
        nobody = aioftp.User(
            login=login[:64],
            base_path=self.drop.root / ".nobody",
            permissions=[aioftp.Permission("/", readable=False, writable=False)],
            maximum_connections=MAX_CONNECTIONS_PER_PUBLISHER,
        )
        return aioftp.AbstractUserManager.GetUserResponse.PASSWORD_REQUIRED, nobody, "send your API key"

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        k = t.api_keys.c
        query = select(k.publisher_id).where(
            k.key_hash == hash_key(password.strip()),
            k.revoked_at.is_(None),
            k.role == "publisher",
            k.publisher_id == user.login,
        )
        async with self.services.engine.connect() as conn:
            publisher_id = (await conn.execute(query)).scalar()
        if publisher_id is None:
            await asyncio.sleep(FAILED_LOGIN_PAUSE)  # guessing keys is slow
            return False
        verticals = [vertical.key for vertical in await self.services.verticals.all()]
        user.base_path = await asyncio.to_thread(self.drop.prepare, publisher_id, verticals)
        # Where a file may go is decided per command (DropServer._drop_problem), with a reason.
        user.permissions = [aioftp.Permission("/", readable=True, writable=True)]
        return True


class DropServer(aioftp.Server):
    def __init__(self, services: Any, drop: DropBox, **options: Any) -> None:
        super().__init__(
            PublisherLogins(services, drop),
            idle_timeout=IDLE_SECONDS,
            socket_timeout=60,
            wait_future_timeout=10,
            path_timeout=30,
            maximum_connections=MAX_CONNECTIONS,
            welcome_message="lead exchange drop box: log in with your publisher id and API key",
            **options,
        )
        self.services, self.drop = services, drop
        self.max_file_bytes = services.settings.ftp_max_file_bytes
        self.commands_mapping.update(
            appe=self.refuse_append,
            rest=self.refuse_restart,
            mkd=self.refuse_folder,
            rmd=self.refuse_folder,
            nlst=self.nlst,
            size=self.size,
        )
        for name, command in list(self.commands_mapping.items()):
            self.commands_mapping[name] = _refusing_outside(command)
        self._purger: asyncio.Task[None] | None = None

    @staticmethod
    def get_paths(connection: Any, path: str | PurePosixPath) -> tuple[Path, PurePosixPath]:
        """The real and the home-relative path; a path that would leave the home, by `..`
        past `/` or by a symlink, is refused (553) rather than quietly kept at `/`."""
        virtual = PurePosixPath(path)
        if not virtual.is_absolute():
            virtual = connection.current_directory / virtual
        resolved = PurePosixPath("/")
        for part in virtual.parts[1:]:
            if part == "..":
                if resolved == resolved.parent:
                    raise _Outside("the path leaves your home")
                resolved = resolved.parent
            elif part != ".":
                resolved /= part
        base = connection.user.base_path
        real = base / str(resolved.relative_to("/"))
        try:
            inside = real.resolve().is_relative_to(base.resolve())
        except (OSError, RuntimeError):  # a symlink loop
            inside = False
        if not inside:
            raise _Outside("the path leaves your home")
        return real, resolved

    async def refuse_append(self, connection: Any, rest: str) -> bool:
        connection.response("504", "APPE is not taken: send the whole file with STOR")
        return True

    async def refuse_restart(self, connection: Any, rest: str) -> bool:
        connection.response("504", "REST is not taken: send the whole file again")
        return True

    async def refuse_folder(self, connection: Any, rest: str) -> bool:
        connection.response("550", "the folders are the verticals'; upload into one of them")
        return True

    @ConnectionConditions(ConnectionConditions.login_required, ConnectionConditions.passive_server_started)
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def nlst(self, connection: Any, rest: str | PurePosixPath) -> bool:
        """The names in a folder, one per line (scripts list a folder this way)."""
        real, _virtual = self.get_paths(connection, rest)

        async def names() -> None:
            stream = await self._data_stream(connection)
            if stream is None:
                return
            found = await asyncio.to_thread(lambda: sorted(p.name for p in real.iterdir()))
            async with stream:
                await stream.write("".join(f"{name}\r\n" for name in found).encode(self.encoding))
            connection.response("226", "list sent")

        return self._transfer(connection, names(), "sending the list")

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists, PathConditions.path_must_be_file)
    @PathPermissions(PathPermissions.readable)
    async def size(self, connection: Any, rest: str | PurePosixPath) -> bool:
        real, _virtual = self.get_paths(connection, rest)
        stat = await asyncio.to_thread(real.stat)
        connection.response("213", str(stat.st_size))
        return True

    async def _data_stream(self, connection: Any) -> Any:
        """The client's data connection once it has made it, or None (425 answered)."""
        try:
            await asyncio.wait_for(
                asyncio.shield(connection.future.data_connection), connection.wait_future_timeout
            )
        except TimeoutError:
            connection.response("425", "no data connection")
            return None
        stream = connection.data_connection
        del connection.data_connection
        return stream

    @ConnectionConditions(ConnectionConditions.login_required, ConnectionConditions.passive_server_started)
    @PathPermissions(PathPermissions.writable)
    async def stor(self, connection: Any, rest: str | PurePosixPath, mode: str = "wb") -> bool:
        real, virtual = self.get_paths(connection, rest)
        problem = await self._drop_problem(virtual)
        if problem is not None:
            connection.response("553", problem)
            return True
        return self._transfer(connection, self._receive(connection, real, virtual), "send the file")

    @staticmethod
    def _transfer(connection: Any, work: Any, note: str) -> bool:
        """Start a data transfer beside the control connection, as aioftp's own commands do."""
        connection.extra_workers.add(asyncio.create_task(work))
        connection.response("150", note)
        return True

    @ConnectionConditions(ConnectionConditions.login_required, ConnectionConditions.rename_from_required)
    @PathConditions(PathConditions.path_must_not_exists)
    @PathPermissions(PathPermissions.writable)
    async def rnto(self, connection: Any, rest: str | PurePosixPath) -> bool:
        real, virtual = self.get_paths(connection, rest)
        source: Path = connection.rename_from
        del connection.rename_from
        problem = await self._drop_problem(virtual)
        if problem is None and source.parent != real.parent:
            problem = "rename within one folder"
        if problem is None and not await asyncio.to_thread(source.is_file):
            problem = "only files are renamed"
        if problem is not None:
            connection.response("553", problem)
            return True
        try:
            note = await self._take(connection, source, virtual)
        except _Refused as refused:
            connection.response(refused.code, refused.message)
            return True
        await asyncio.to_thread(os.replace, source, real)
        connection.response("250", note)
        return True

    async def _drop_problem(self, virtual: PurePosixPath) -> str | None:
        """Why a file may not be written at `virtual`, or None."""
        if len(virtual.parts) != 3:
            return "upload into a vertical's folder, such as /auto_insurance/today.csv"
        name = virtual.name
        if name.startswith(".") or name.lower().endswith(RESULTS_SUFFIX) or len(name) > 200:
            return f"{name[:200]!r} is not a name a file may have here"
        if await self.services.verticals.get(virtual.parts[1]) is None:
            return f"no vertical {virtual.parts[1]!r}"
        return None

    async def _receive(self, connection: Any, real: Path, virtual: PurePosixPath) -> None:
        """The data of one STOR into `.NAME.part`; taken once it is whole (see the module)."""
        stream = await self._data_stream(connection)
        if stream is None:
            return
        part = real.with_name(part_name(real.name))
        try:
            size = await self._write_part(stream, part)
            if size > self.max_file_bytes:
                connection.response("552", f"a file may hold up to {self.max_file_bytes} bytes")
                return
            await asyncio.sleep(SETTLE_SECONDS)
            if connection.command_connection.reader.at_eof():
                log.info("FTP drop box: %s ended with its client gone: not taken", virtual)
                return
            note = await self._take(connection, part, virtual)
            await asyncio.to_thread(os.replace, part, real)
            connection.response("226", note)
        except _Refused as refused:
            connection.response(refused.code, refused.message)
        except asyncio.CancelledError:  # ABOR, or the client went away
            connection.response("426", "transfer aborted: nothing was taken")
            connection.response("226", "abort done")
        except Exception:
            log.exception("FTP drop box: %s could not be stored", virtual)
            connection.response("451", "not stored; send the file again")
        finally:
            await asyncio.to_thread(part.unlink, True)

    async def _write_part(self, stream: Any, part: Path) -> int:
        """Write the data connection's bytes to `part`; stop reading past the size limit."""
        size = 0
        async with stream:
            with await asyncio.to_thread(open, part, "wb") as out:
                async for block in stream.iter_by_block(1 << 16):
                    size += len(block)
                    if size > self.max_file_bytes:
                        break
                    await asyncio.to_thread(out.write, block)
        return size

    async def _take(self, connection: Any, path: Path, virtual: PurePosixPath) -> str:
        """The file as a batch of its folder's vertical, durably stored; the 2xx note."""
        format = format_of_name(virtual.name)
        if format is None:
            return "stored (not a file of leads: .csv, .xlsx, .xml or .ndjson)"
        data = await asyncio.to_thread(path.read_bytes)
        if not data.strip():
            raise _Refused("550", "the file is empty: nothing was taken")
        services = self.services
        async with services.engine.begin() as conn:
            batch_id = await accept_batch(
                conn,
                publisher_id=connection.user.login,
                vertical=virtual.parts[1],
                format=format,
                data=data,
                now=services.clock(),
                origin={"channel": "ftp", "path": str(virtual), "mode": "sync"},
                name=virtual.name,
            )
        services.runner.notify()
        return f"taken as batch {batch_id}; outcomes in {PurePosixPath(results_name(str(virtual))).name}"

    def start_purging(self, keep_seconds: float) -> None:
        async def purge() -> None:
            while True:
                try:
                    removed = await asyncio.to_thread(self.drop.purge, keep_seconds)
                    if removed:
                        log.info("FTP drop box: %d file(s) past their retention removed", removed)
                except OSError:
                    log.exception("FTP drop box: purging old files failed")
                await asyncio.sleep(PURGE_EVERY_SECONDS)

        self._purger = asyncio.create_task(purge(), name="ftp-purge")

    async def close(self) -> None:
        if self._purger is not None:
            await stop_task(self._purger)
        await super().close()


def _refusing_outside(command: Any) -> Any:
    @functools.wraps(command)
    async def run(connection: Any, rest: Any) -> bool:
        try:
            return await command(connection, rest)
        except _Outside as exc:
            connection.response("553", str(exc))
            return True

    return run


def passive_ports(spec: str | None) -> range | None:
    """`"30000-30049"` → the ports passive data connections may use; None: any free port."""
    if not spec:
        return None
    low, _, high = spec.partition("-")
    return range(int(low), int(high or low) + 1)


async def start_ftp(services: Any) -> DropServer:
    """Listen for publishers' files on the running loop."""
    settings = services.settings
    server = DropServer(
        services,
        DropBox(settings.ftp_root),
        data_ports=passive_ports(settings.ftp_passive_ports),
        ipv4_pasv_forced_response_address=settings.ftp_public_host,
    )
    await server.start(settings.ftp_host, settings.ftp_port)
    server.start_purging(settings.ftp_keep_days * 86400)
    return server
