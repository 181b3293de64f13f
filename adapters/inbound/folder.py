"""A publisher's remote folder of lead files, read over FTP or SFTP: list, download (bounded),
remove. The URL is the one a file delivery takes (`ftp://user:password@host/dir`, `sftp://…`).

The connection goes to the address the private-network guard approved, never to the name
again, with the ftp delivery adapter's own helpers (adapters/outbound/files.py): the same
passive-mode safety for FTP, the same pinned host key and bare client settings for SFTP.
Every step is bounded in time; a failure is a `FolderError` whose message is fit for an
operator, and `broken` when the connection can serve no further step.
"""

from __future__ import annotations

import asyncio
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any

import aioftp
import asyncssh
import msgspec
from aiohttp.abc import AbstractResolver

from adapters.inbound.protocol import SourceError
from adapters.netguard import PrivateDestinationError, public_address
from adapters.outbound.files import (
    FilePlace,
    file_place,
    ftp_code,
    open_ftp,
    open_sftp,
    pinned_host_key,
    transport_failure,
)

STEP_SECONDS = 30.0
# A download's own bound: 64 MiB at a slow 256 KiB/s.
READ_SECONDS = 256.0
_CHUNK = 64 * 1024
_FTP_TIME = re.compile(r"^(\d{14})")


class FolderError(SourceError):
    """The remote folder could not be reached or read (`broken`: the connection is gone)."""


class RemoteFile(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size: int | None
    modified: datetime | None


class RemoteFolder:
    """One connection to the folder; `async with` closes it."""

    def __init__(self, place: FilePlace, where: str) -> None:
        self.place, self.where = place, where

    async def __aenter__(self) -> RemoteFolder:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def list(self) -> list[RemoteFile]:
        raise NotImplementedError

    async def read(self, name: str, max_bytes: int) -> bytes:
        raise NotImplementedError

    async def remove(self, name: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    @contextmanager
    def _failures(self, what: str, *, broken: bool = False) -> Iterator[None]:
        """A transport's exception as a FolderError naming the step; anything else (a bug)
        goes on as it is."""
        try:
            yield
        except FolderError:
            raise
        except TimeoutError:
            raise FolderError(f"{what}: timeout at {self.where}", broken=True) from None
        except aioftp.StatusCodeError as exc:
            code = ftp_code(exc)
            reply = " ".join(exc.info).strip() if isinstance(exc.info, list) else str(exc.info)
            refused = "login refused" if code in (530, 532) else "refused"
            raise FolderError(f"{what}: ftp {refused}: {code} {reply}".rstrip(), broken=broken) from None
        except asyncssh.SFTPError as exc:
            raise FolderError(f"{what}: sftp refused: {exc.reason}", broken=broken) from None
        except Exception as exc:
            failure = transport_failure(exc, self.where)
            if failure is None:
                raise
            raise FolderError(f"{what}: {failure[0]}", broken=True) from None


async def connect_folder(
    url: str,
    *,
    host_key: str | None,
    allow_private: bool,
    resolver: AbstractResolver | None = None,
) -> RemoteFolder:
    """Log in to the folder the URL names, at the address the guard approves.

    SFTP without `host_key` accepts any server key: the password then goes to whoever
    answers at the address. A pull's host key is pinned when it is saved, where given."""
    try:
        place = file_place(url)
    except ValueError as exc:
        raise FolderError(f"invalid url: {exc}") from None
    where = f"{place.host}:{place.port}"
    try:
        async with asyncio.timeout(STEP_SECONDS):
            address = await public_address(
                place.host, place.port, allow_private=allow_private, inner=resolver
            )
    except PrivateDestinationError as exc:
        raise FolderError(f"private destination: {exc}") from None
    except TimeoutError:
        raise FolderError(f"dns: {place.host} did not resolve in time") from None
    except OSError:
        raise FolderError(f"dns: {place.host} does not resolve") from None
    if place.scheme == "ftp":
        folder: RemoteFolder = _FtpFolder(place, where)
    else:
        folder = _SftpFolder(place, where)
    try:
        with folder._failures("connect"):
            async with asyncio.timeout(STEP_SECONDS):
                if isinstance(folder, _FtpFolder):
                    folder.client = await open_ftp(address, place)
                else:
                    known_hosts = pinned_host_key(host_key) if host_key else None
                    folder.connection = await open_sftp(address, place, known_hosts)
                    folder.sftp = await folder.connection.start_sftp_client()
    except BaseException:
        await folder.close()
        raise
    return folder


class _FtpFolder(RemoteFolder):
    client: aioftp.Client | None = None

    async def list(self) -> list[RemoteFile]:
        assert self.client is not None
        with self._failures("list", broken=True):
            async with asyncio.timeout(STEP_SECONDS):
                found = await self.client.list()
        files = []
        for path, info in found:
            if info.get("type") != "file":
                continue
            size = str(info.get("size", ""))
            files.append(
                RemoteFile(
                    name=PurePosixPath(path).name,
                    size=int(size) if size.isdigit() else None,
                    modified=_ftp_time(str(info.get("modify", ""))),
                )
            )
        return files

    async def read(self, name: str, max_bytes: int) -> bytes:
        assert self.client is not None
        data = bytearray()
        with self._failures(f"download {name}"):
            async with asyncio.timeout(READ_SECONDS), self.client.download_stream(name) as stream:
                async for block in stream.iter_by_block(_CHUNK):
                    data += block
                    if len(data) > max_bytes:
                        # Leaving mid-transfer leaves the server's answer unread: the
                        # connection is done for.
                        raise FolderError(f"{name} is over {max_bytes} bytes", broken=True)
        return bytes(data)

    async def remove(self, name: str) -> None:
        assert self.client is not None
        with self._failures(f"remove {name}"):
            async with asyncio.timeout(STEP_SECONDS):
                await self.client.remove_file(name)

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


class _SftpFolder(RemoteFolder):
    connection: Any = None
    sftp: asyncssh.SFTPClient | None = None

    def _path(self, name: str) -> str:
        return str(PurePosixPath(self.place.directory) / name)

    async def list(self) -> list[RemoteFile]:
        assert self.sftp is not None
        with self._failures("list", broken=True):
            async with asyncio.timeout(STEP_SECONDS):
                found = await self.sftp.readdir(self.place.directory)
        files = []
        for entry in found:
            attrs = entry.attrs
            regular = (
                stat.S_ISREG(attrs.permissions)
                if attrs.permissions is not None
                else attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
            )
            if not regular:
                continue
            modified = datetime.fromtimestamp(attrs.mtime, UTC) if attrs.mtime is not None else None
            files.append(RemoteFile(name=str(entry.filename), size=attrs.size, modified=modified))
        return files

    async def read(self, name: str, max_bytes: int) -> bytes:
        assert self.sftp is not None
        data = bytearray()
        with self._failures(f"download {name}"):
            async with asyncio.timeout(READ_SECONDS), self.sftp.open(self._path(name), "rb") as remote:
                while block := await remote.read(_CHUNK):
                    data += block
                    if len(data) > max_bytes:
                        raise FolderError(f"{name} is over {max_bytes} bytes")
        return bytes(data)

    async def remove(self, name: str) -> None:
        assert self.sftp is not None
        with self._failures(f"remove {name}"):
            async with asyncio.timeout(STEP_SECONDS):
                await self.sftp.remove(self._path(name))

    async def close(self) -> None:
        if self.sftp is not None:
            self.sftp.exit()
            self.sftp = None
        if self.connection is not None:
            self.connection.close()
            await self.connection.wait_closed()
            self.connection = None


def _ftp_time(text: str) -> datetime | None:
    """MLSD's `modify` fact (UTC, YYYYMMDDHHMMSS[.sss])."""
    match = _FTP_TIME.match(text)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
