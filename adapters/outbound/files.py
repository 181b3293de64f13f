"""The `ftp` delivery adapter: leads as CSV files stored on the buyer's FTP or SFTP server.

`delivery = {"adapter": "ftp", "url": "ftp://user:password@host:port/dir" (or "sftp://…"),
"format": "csv", "mapping"?: {"Column": "field" | "=literal"}, "batch"?: {"max_leads",
"every_minutes"}, "host_key"?: "ssh-ed25519 AAAA…", "timeout_ms"?}`.

A file is a header row (the mapping's columns in order, or the lead's own field names sorted)
and one row per lead. Without `batch` each post is one file, `lead-{delivery id}.csv`; with it
the engine queues the posts and stores one file per batch (exchange/jobs/file_batches.py),
which `combine` builds from the queued one-lead requests.

A buyer's import job picks up whatever `.csv` it finds, so a file is written under a temporary
name (`.NAME.part`: hidden, and another extension) and renamed once whole: the buyer never reads
half a file. A file sent again under the same key gets the same name and replaces the first, so
no lead ends up in two files; its temporary name is the same too, so an attempt cut short (a
killed process) leaves nothing behind once the next one is through. Two attempts of one key
must not overlap (they would share the temporary file): the engine sends a key's attempts one
after another, a batch's within its claim, which outlasts the upload's timeout.

The path of the URL follows the usual URL conventions: for FTP it is relative to the login
directory (`ftp://host/in` is `in` there; `ftp://host/%2Fin` is `/in`), for SFTP it is
absolute (`sftp://host/in` is `/in`; `sftp://host/~/in` is `in` in the home directory).

The exchange connects to the address the private-network guard approved (netguard's
`public_address`), never to the name again, so a name that points elsewhere by then gains
nothing. FTP's passive data connection goes to that same address too: aioftp ignores the
address in a PASV answer, which a hostile server could aim at the exchange's own network.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import re
import time
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import aioftp
import asyncssh
import msgspec
from aiohttp.abc import AbstractResolver

from adapters.netguard import DEFAULT_PORTS, PrivateDestinationError, check_destination, public_address
from adapters.outbound.bodies import check_mapping, literal_secrets, select_fields
from adapters.outbound.protocol import Delivery, Request, Stage
from exchange.errors import field_invalid

__all__ = [
    "FileAdapter",
    "FileBatch",
    "FileConfig",
    "FilePlace",
    "file_place",
    "ftp_code",
    "open_ftp",
    "open_sftp",
    "pinned_host_key",
    "read_host_key",
    "transport_failure",
]

CONTENT_TYPE = "text/csv"
FTP_STORED = 226  # the FTP reply to a stored file ("closing data connection")
SFTP_OK = 0  # SSH_FX_OK
DEFAULT_TIMEOUT_MS = 60_000
# A batch is one process's for 120 s (file_batches.CLAIM_SECONDS): an upload ends before.
MAX_TIMEOUT_MS = 110_000
BATCH_LIMITS = {"max_leads": (1, 10_000), "every_minutes": (1, 1440)}

_KEYS = frozenset({"adapter", "url", "format", "mapping", "batch", "host_key", "timeout_ms"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# SSH disconnects that are a setting's fault, not the network's.
_SSH_FINAL = (
    asyncssh.PermissionDenied,
    asyncssh.HostKeyNotVerifiable,
    asyncssh.IllegalUserName,
    asyncssh.KeyExchangeFailed,
    asyncssh.ProtocolNotSupported,
)
_SSH_RESOURCE_SHORTAGE = 4  # a channel open failure worth another try (RFC 4254)


class FileBatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """When a campaign's queued leads go out as one file: once `max_leads` are waiting or the
    oldest has waited `every_minutes`, whichever comes first."""

    max_leads: int | None = None
    every_minutes: int | None = None


class FileConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    format: Literal["csv"] = "csv"
    mapping: dict[str, str] | None = None  # column → a field name or "=literal", in order
    batch: FileBatch | None = None
    host_key: str | None = None  # the SFTP server's public key, one OpenSSH line
    timeout_ms: int = DEFAULT_TIMEOUT_MS


class FilePlace(msgspec.Struct, frozen=True, kw_only=True):
    """Where a file URL points, read once for sending."""

    scheme: Literal["ftp", "sftp"]
    host: str
    port: int
    user: str | None
    password: str | None
    directory: str  # "" for FTP's login directory


class FileAdapter:
    """Delivery as CSV files over FTP or SFTP. The buyer does not answer: a file stored whole
    is a lead delivered, so it carries posts only.

    SFTP host keys: a delivery's `host_key` pins the server's key, and any other key fails the
    post for good. Without one, `sftp_known_hosts` (a known_hosts file name or anything
    asyncssh takes as `known_hosts`, matched against the URL's host name) decides; when that is
    None too, ANY host key is accepted: the password then goes to whoever answers at the
    address, a man in the middle included. Pin the key for every buyer whose leads matter.
    """

    name = "ftp"
    can_ping = False
    answers = False

    def __init__(
        self,
        *,
        allow_private: bool,
        sftp_known_hosts: Any = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """`resolver` replaces the system's under the private-network guard (tests, custom DNS)."""
        self.allow_private = allow_private
        self.sftp_known_hosts = sftp_known_hosts
        self._resolver = resolver

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> FileConfig:
        unknown = sorted(set(delivery) - _KEYS)
        if unknown:
            raise field_invalid(f"{field}.{unknown[0]}", "unknown_field", "not a key of an ftp delivery")
        url = _url(delivery.get("url"), allow_private=allow_private, field=f"{field}.url")
        scheme = urlsplit(url).scheme.lower()
        if delivery.get("format", "csv") != "csv":
            raise field_invalid(f"{field}.format", "invalid_value", "a file delivery writes csv")
        mapping = _mapping(delivery.get("mapping"), f"{field}.mapping")
        timeout_ms = delivery.get("timeout_ms", DEFAULT_TIMEOUT_MS)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int):
            raise field_invalid(f"{field}.timeout_ms", "invalid_value", "a whole number of milliseconds")
        if not 1000 <= timeout_ms <= MAX_TIMEOUT_MS:
            raise field_invalid(f"{field}.timeout_ms", "out_of_range", f"from 1000 to {MAX_TIMEOUT_MS}")
        return FileConfig(
            url=url,
            mapping=mapping,
            batch=_batch(delivery.get("batch"), f"{field}.batch"),
            host_key=read_host_key(delivery.get("host_key"), scheme, f"{field}.host_key"),
            timeout_ms=timeout_ms,
        )

    def request(
        self,
        config: FileConfig,
        stage: Stage,
        fields: Mapping[str, Any],
        *,
        shared: dict[Any, Any] | None = None,
    ) -> Request:
        """The lead as a one-row CSV. The file's name is not in it: it comes from the delivery
        id, which `send` gets as its key (or from `combine` for a batch)."""
        if stage != "post":
            raise ValueError("a file delivery carries no pings: nobody answers a file")
        # Builtins first, so a mapping's dotted name reaches into a nested struct too.
        values = select_fields(msgspec.to_builtins(dict(fields)), config.mapping)
        columns = list(config.mapping) if config.mapping is not None else sorted(values)
        options: dict[str, Any] = {}
        if config.batch is not None:
            options["batch"] = msgspec.to_builtins(config.batch)
        if config.host_key is not None:
            options["host_key"] = config.host_key
        return Request(
            adapter=self.name,
            target=config.url,
            body=_csv_text([columns, [_cell(values.get(column)) for column in columns]]),
            content_type=CONTENT_TYPE,
            options=options,
            timeout_ms=config.timeout_ms,
            secrets=[*_url_secrets(config.url), *literal_secrets(config.mapping)],
        )

    def combine(self, requests: Sequence[Request], key: str) -> Request:
        """One file of a campaign's queued one-lead requests: the header once, then each row in
        order, named after `key` (the batch id).

        The newest request says where it goes (the campaign's settings as they are now). Should
        the columns differ (the mapping changed while leads waited, or leads without a mapping
        carry different fields), the header is every column in the order first seen, and a row
        leaves empty what its lead did not have.
        """
        if not requests:
            raise ValueError("no requests to combine")
        columns: dict[str, None] = {}
        rows: list[dict[str, str]] = []
        for request in requests:
            header, *data = _csv_rows(request.body) or [[]]
            columns.update(dict.fromkeys(header))
            rows.extend(dict(zip(header, row, strict=False)) for row in data)
        newest = requests[-1]
        options = {name: value for name, value in newest.options.items() if name not in ("batch", "file")}
        options["file"] = f"leads-{_safe_name(key)}.csv"
        return Request(
            adapter=self.name,
            target=newest.target,
            body=_csv_text([list(columns), *([row.get(column, "") for column in columns] for row in rows)]),
            content_type=CONTENT_TYPE,
            options=options,
            timeout_ms=max(request.timeout_ms for request in requests),
            secrets=list(dict.fromkeys(secret for request in requests for secret in request.secrets)),
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        """Store `request.body` as one file in the URL's directory, whole or not at all."""
        started = time.perf_counter()

        def result(
            status: int | None = None, error: str | None = None, *, transient: bool = False
        ) -> Delivery:
            latency_ms = (time.perf_counter() - started) * 1000
            return Delivery(status=status, latency_ms=latency_ms, error=error, transient=transient)

        try:
            place = file_place(request.target)
            known_hosts = self._known_hosts(request.options.get("host_key"))
        except ValueError as exc:
            return result(error=f"invalid request: {exc}")
        name = _file_name(request, key)
        temporary = f".{name}.part"
        body = request.body.encode("utf-8")
        where = f"{place.host}:{place.port}"
        try:
            async with asyncio.timeout(request.timeout_ms / 1000):
                try:
                    address = await public_address(
                        place.host, place.port, allow_private=self.allow_private, inner=self._resolver
                    )
                except PrivateDestinationError as exc:
                    return result(error=f"private destination: {exc}")
                except OSError:
                    return result(error=f"dns: {place.host} does not resolve", transient=True)
                if place.scheme == "ftp":
                    await _ftp_store(address, place, body, temporary, name)
                    return result(FTP_STORED)
                await _sftp_store(address, place, body, temporary, name, known_hosts)
                return result(SFTP_OK)
        except TimeoutError:
            return result(error="timeout", transient=True)
        except aioftp.StatusCodeError as exc:
            code = ftp_code(exc)
            reply = " ".join(exc.info).strip() if isinstance(exc.info, list) else str(exc.info)
            what = "login refused" if code in (530, 532) else "refused"
            return result(code, f"ftp {what}: {code} {reply}".rstrip(), transient=_ftp_transient(code))
        except Exception as exc:
            failure = transport_failure(exc, where)
            if failure is None:
                raise
            return result(error=failure[0], transient=failure[1])

    async def close(self) -> None:
        """Nothing to release: every send opens and closes its own connection."""

    def _known_hosts(self, host_key: Any) -> Any:
        """asyncssh's `known_hosts` for a send: the pinned key alone, else the adapter's."""
        if host_key is None:
            return self.sftp_known_hosts
        return pinned_host_key(str(host_key))


def _url(value: Any, *, allow_private: bool, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise field_invalid(field, "required", "ftp://user:password@host/dir or sftp://…")
    url = value.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise field_invalid(field, "invalid_url", f"not a valid URL: {exc}") from None
    if scheme not in ("ftp", "sftp"):
        raise field_invalid(field, "invalid_url", "a file delivery URL is ftp:// or sftp://")
    check_destination(url, allow_private=allow_private, field=field)
    try:
        file_place(url)
    except ValueError as exc:
        raise field_invalid(field, "invalid_url", str(exc)) from None
    return url


def file_place(url: str) -> FilePlace:
    """The parts of a file URL a send needs; ValueError for one no file can go to."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme != "ftp" and scheme != "sftp":
        raise ValueError("the scheme must be ftp or sftp")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    port = parts.port or DEFAULT_PORTS[scheme]
    if parts.query or parts.fragment:
        raise ValueError("a file URL has no query or fragment")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    path = unquote(parts.path)
    if any(_CONTROL.search(text) for text in (user or "", password or "", path)):
        raise ValueError("a control character in the user, password or path")
    if scheme == "sftp" and not user:
        raise ValueError("an sftp URL names its user: sftp://user:password@host/dir")
    return FilePlace(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        user=user,
        password=password,
        directory=_ftp_directory(path) if scheme == "ftp" else _sftp_directory(path),
    )


def _ftp_directory(path: str) -> str:
    """RFC 1738: the path is relative to the login directory; a leading %2F makes it absolute."""
    relative = path[1:] if path.startswith("/") else path
    return relative.rstrip("/") or ("/" if relative.startswith("/") else "")


def _sftp_directory(path: str) -> str:
    """Absolute, as in curl and OpenSSH's sftp; `/~/dir` is `dir` in the home directory."""
    if path in ("", "/~", "/~/"):
        return "."
    if path.startswith("/~/"):
        return path[3:].rstrip("/") or "."
    return path.rstrip("/") or "/"


def _mapping(value: Any, field: str) -> dict[str, str] | None:
    if value is None:
        return None
    try:
        mapping = msgspec.convert(value, dict[str, str])
    except msgspec.ValidationError as exc:
        raise field_invalid(
            field, "invalid_mapping", f"column name → field name or =literal: {exc}"
        ) from None
    if not mapping:
        raise field_invalid(field, "invalid_mapping", "a mapping names at least one column")
    check_mapping(mapping, personal_allowed=True, field=field)
    return mapping


def _batch(value: Any, field: str) -> FileBatch | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise field_invalid(field, "invalid_value", 'an object: {"max_leads"?, "every_minutes"?}')
    unknown = sorted(set(value) - set(BATCH_LIMITS))
    if unknown:
        raise field_invalid(f"{field}.{unknown[0]}", "unknown_field", "not a key of a file batch")
    found: dict[str, int] = {}
    for name, (low, high) in BATCH_LIMITS.items():
        number = value.get(name)
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int):
            raise field_invalid(f"{field}.{name}", "invalid_value", "a whole number")
        if not low <= number <= high:
            raise field_invalid(f"{field}.{name}", "out_of_range", f"from {low} to {high}")
        found[name] = number
    if not found:
        raise field_invalid(field, "required", "a batch names max_leads, every_minutes or both")
    return FileBatch(**found)


def read_host_key(value: Any, scheme: str, field: str) -> str | None:
    """The key in one canonical OpenSSH line; a private key or anything else is refused."""
    if value is None:
        return None
    if scheme != "sftp":
        raise field_invalid(field, "invalid_value", "only an sftp server has a host key")
    if not isinstance(value, str):
        raise field_invalid(field, "invalid_value", "one OpenSSH public key line: ssh-ed25519 AAAA…")
    if "PRIVATE KEY" in value:  # asyncssh would read the public half out of it
        raise field_invalid(field, "invalid_value", "a private key: give the server's public key only")
    try:
        key = asyncssh.import_public_key(value.strip())
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise field_invalid(
            field, "invalid_value", "not an OpenSSH public key line (ssh-ed25519 AAAA…)"
        ) from None
    return key.export_public_key("openssh").decode("ascii").strip()


def _url_secrets(url: str) -> list[str]:
    """The URL's password as written and as meant, for the audit to mask."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return list(dict.fromkeys([password, unquote(password)])) if password else []


def _cell(value: Any) -> str:
    """One CSV cell: nested values as JSON, booleans as in JSON, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = msgspec.json.encode(value).decode("utf-8")
    else:
        text = str(value)
    return text.replace("\x00", "")  # a NUL stops many a CSV reader


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, dialect="excel").writerows(rows)  # excel: quoted as needed, \r\n
    return out.getvalue()


def _csv_rows(text: str) -> list[list[str]]:
    """The rows of a CSV text; a quoted cell may hold line breaks."""
    return list(csv.reader(io.StringIO(text, newline=""), dialect="excel"))


def _safe_name(text: str) -> str:
    """A name that stays in its directory: no slash, no leading dot, nothing a shell or an
    FTP command would read differently."""
    return _NOT_IN_FILE_NAME.sub("_", text).lstrip(".") or "_"


def _file_name(request: Request, key: str | None) -> str:
    named = request.options.get("file")
    if named:
        return _safe_name(str(named))
    if key is None:  # no delivery id: the content names it, so a repeat still replaces
        key = hashlib.sha256(request.body.encode("utf-8")).hexdigest()[:20]
    return f"lead-{_safe_name(key)}.csv"


def pinned_host_key(host_key: str) -> Any:
    """asyncssh's `known_hosts` trusting this one OpenSSH public key line and no other."""
    return ([asyncssh.import_public_key(host_key)], [], [])


async def open_ftp(address: str, place: FilePlace) -> aioftp.Client:
    """A client logged in at `address` (the one the guard approved), in the URL's directory;
    the caller closes it."""
    # aioftp's default: a PASV answer's address is ignored, the data goes to `address`.
    client = aioftp.Client(passive_commands=("epsv", "pasv"))
    try:
        await client.connect(address, place.port)
        if place.user:
            await client.login(place.user, place.password or "")
        else:
            await client.login("anonymous", "anonymous@")
        if place.directory:
            await client.change_directory(place.directory)
    except BaseException:
        client.close()
        raise
    return client


def open_sftp(address: str, place: FilePlace, known_hosts: Any) -> Any:
    """asyncssh's connection to `address` as the URL's user (`async with`), the host key
    checked against `known_hosts` under the URL's host name."""
    return asyncssh.connect(
        address,
        place.port,
        username=place.user,
        password=place.password,
        known_hosts=known_hosts,
        # known_hosts entries name the buyer's host, not the address it resolved to.
        host_key_alias=place.host,
        # Nothing of this machine's own SSH setup: no config file, keys, agent or Kerberos.
        config=None,
        client_keys=None,
        agent_path=None,
        gss_auth=False,
        gss_kex=False,
        preferred_auth="password,keyboard-interactive",
    )


async def _ftp_store(address: str, place: FilePlace, body: bytes, temporary: str, name: str) -> None:
    client = await open_ftp(address, place)
    try:
        try:
            async with client.upload_stream(temporary) as stream:
                await stream.write(body)
            await _ftp_replace(client, temporary, name)
        except aioftp.StatusCodeError:
            await _quietly(client.remove_file(temporary))
            raise
        await _quietly(client.quit())
    finally:
        client.close()


async def _ftp_replace(client: aioftp.Client, temporary: str, name: str) -> None:
    """Rename onto the final name. Some servers refuse to rename onto an existing file (aioftp's
    and Windows' among them): the earlier file of that name is then removed first."""
    try:
        await client.rename(temporary, name)
    except aioftp.StatusCodeError as refused:
        code = ftp_code(refused)
        if code is None or not 500 <= code < 600:
            raise
        try:
            await client.remove_file(name)
        except aioftp.StatusCodeError:
            raise refused from None  # nothing to remove: the rename failed for its own reason
        await client.rename(temporary, name)


async def _sftp_store(
    address: str, place: FilePlace, body: bytes, temporary: str, name: str, known_hosts: Any
) -> None:
    async with (
        open_sftp(address, place, known_hosts) as connection,
        connection.start_sftp_client() as sftp,
    ):
        folder = PurePosixPath(place.directory)
        temporary_path, final_path = str(folder / temporary), str(folder / name)
        try:
            async with sftp.open(temporary_path, "wb") as remote:
                await remote.write(body)
            await _sftp_replace(sftp, temporary_path, final_path)
        except asyncssh.SFTPError:
            await _quietly(sftp.remove(temporary_path))
            raise


async def _sftp_replace(sftp: asyncssh.SFTPClient, temporary: str, final: str) -> None:
    """OpenSSH's posix-rename replaces in one step; a server without it gets SFTPv3's rename,
    which refuses an existing target, after the earlier file is removed."""
    try:
        await sftp.posix_rename(temporary, final)
        return
    except asyncssh.SFTPOpUnsupported:
        pass
    try:
        await sftp.rename(temporary, final)
    except asyncssh.SFTPError as refused:
        try:
            await sftp.remove(final)
        except asyncssh.SFTPError:
            raise refused from None
        await sftp.rename(temporary, final)


async def _quietly(step: Awaitable[Any]) -> None:
    """Tidying up after the outcome is known: its own failure changes nothing."""
    with contextlib.suppress(aioftp.AIOFTPException, asyncssh.Error, OSError, EOFError):
        await step


def _ftp_transient(code: int | None) -> bool:
    """4xx replies are temporary by definition; of the 5xx only 552 (storage allocation
    exceeded) can mend without someone changing a setting."""
    return code is None or code < 500 or code == 552


def ftp_code(exc: aioftp.StatusCodeError) -> int | None:
    received = [str(code) for code in exc.received_codes]
    return int(received[-1]) if received and received[-1].isdigit() else None


def transport_failure(exc: Exception, where: str) -> tuple[str, bool] | None:
    """A short, stable reason for the audit and whether another try may mend it; None for an
    exception that is no transport's trouble (a bug, to be raised)."""
    if isinstance(exc, asyncssh.SFTPError):
        final = isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPNoSuchFile)
        return f"sftp refused: {exc.reason}", not final
    if isinstance(exc, _SSH_FINAL):
        what = "login refused" if isinstance(exc, asyncssh.PermissionDenied) else "connection refused"
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            what = "host key not trusted"
        return f"sftp {what}: {where}: {exc.reason}", False
    if isinstance(exc, asyncssh.ChannelOpenError):
        return f"sftp refused: {exc.reason}", exc.code == _SSH_RESOURCE_SHORTAGE
    if isinstance(exc, asyncssh.Error):
        return f"connection lost: {where}: {exc.reason}", True
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused: {where}", True
    if isinstance(exc, ConnectionError | EOFError):
        return f"connection lost: {where}", True
    if isinstance(exc, OSError):
        return f"connection failed: {where}: {exc.strerror or exc}", True
    if isinstance(exc, aioftp.AIOFTPException | ValueError | IndexError):
        # aioftp reading an answer it cannot parse (a PASV reply without its numbers, …).
        return f"unreadable answer from {where}: {exc}", True
    return None
