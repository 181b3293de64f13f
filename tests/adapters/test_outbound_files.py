"""The ftp delivery adapter against real FTP and SFTP servers on loopback: files whole and named
by the delivery, replaced when sent again, batches in one file, failures, host keys, the guard."""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aioftp
import asyncssh
import msgspec
import pytest

from adapters.outbound.files import FileAdapter, FileConfig
from adapters.outbound.protocol import DeliveryAdapter, Request
from exchange.errors import Invalid
from tests.adapters.test_netguard import FixedResolver

USER = "buyer"
PASSWORD = "s3cret-pass"
MAPPING = {
    "FirstName": "first_name",
    "Phone": "phone",
    "Source": "=exchange",
    "Consent": "consent",
    "Fax": "fax",  # the lead has none: an empty cell
}
LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+14155550100",
    "homeowner": True,
    "consent": {"text": "I agree", "tcpa": True},
    "notes": None,
}


class Server(msgspec.Struct, kw_only=True):
    """A running file server: how to reach it and the directory the buyer imports from."""

    scheme: str
    port: int
    inbox: Path  # the `incoming` directory in the server's root
    host_key: str = ""  # the SFTP server's public key, one OpenSSH line

    def url(self, host: str = "127.0.0.1", password: str = PASSWORD) -> str:
        return f"{self.scheme}://{USER}:{password}@{host}:{self.port}/incoming"

    def files(self) -> list[str]:
        return sorted(path.name for path in self.inbox.iterdir())


@pytest.fixture
async def ftp_server(tmp_path: Path) -> AsyncIterator[Server]:
    root = tmp_path / "ftp"
    (root / "incoming").mkdir(parents=True)
    server = aioftp.Server([aioftp.User(USER, PASSWORD, base_path=root, home_path="/")])
    await server.start("127.0.0.1", 0)
    try:
        yield Server(scheme="ftp", port=server.address[1], inbox=root / "incoming")
    finally:
        await server.close()


class PasswordServer(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


class RenameOnlySFTP(asyncssh.SFTPServer):
    """An SFTPv3 server without OpenSSH's posix-rename: its rename refuses an existing target."""

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("posix-rename is not supported here")


async def _sftp(root: Path, server_class: type[asyncssh.SFTPServer]) -> tuple[asyncssh.SSHAcceptor, Server]:
    (root / "incoming").mkdir(parents=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    acceptor = await asyncssh.create_server(
        PasswordServer,
        "127.0.0.1",
        0,
        server_host_keys=[key],
        sftp_factory=lambda channel: server_class(channel, chroot=str(root)),
    )
    port = acceptor.sockets[0].getsockname()[1]
    public = key.export_public_key().decode("ascii").strip()
    return acceptor, Server(scheme="sftp", port=port, inbox=root / "incoming", host_key=public)


@pytest.fixture
async def sftp_server(tmp_path: Path) -> AsyncIterator[Server]:
    acceptor, server = await _sftp(tmp_path / "sftp", asyncssh.SFTPServer)
    try:
        yield server
    finally:
        acceptor.close()
        await acceptor.wait_closed()


@pytest.fixture
async def rename_only_sftp_server(tmp_path: Path) -> AsyncIterator[Server]:
    acceptor, server = await _sftp(tmp_path / "sftp3", RenameOnlySFTP)
    try:
        yield server
    finally:
        acceptor.close()
        await acceptor.wait_closed()


@pytest.fixture(params=["ftp", "sftp", "sftp without posix-rename"])
def server(request: pytest.FixtureRequest) -> Server:
    name = {"ftp": "ftp_server", "sftp": "sftp_server"}.get(request.param, "rename_only_sftp_server")
    return request.getfixturevalue(name)


@pytest.fixture(params=["ftp", "sftp"])
def ftp_or_sftp(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """A port that counts the connections it gets and says nothing on them."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listening = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1], held
    finally:
        for writer in held:
            writer.close()
        listening.close()
        await listening.wait_closed()


@pytest.fixture
async def hang_up() -> AsyncIterator[int]:
    """A port that accepts and closes at once."""

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listening = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()
        await listening.wait_closed()


def adapter(**kwargs: Any) -> FileAdapter:
    return FileAdapter(**{"allow_private": True, **kwargs})


def delivery(server: Server, **settings: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"adapter": "ftp", "url": server.url(), "format": "csv", **settings}
    if server.scheme == "sftp" and "host_key" not in settings:
        found["host_key"] = server.host_key
    return found


def configured(files: FileAdapter, settings: dict[str, Any]) -> FileConfig:
    return files.configure(settings, allow_private=True, field="delivery")


def rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refusal(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        call()
    (error,) = caught.value.errors
    return error.field, error.code


def test_it_is_a_delivery_adapter_that_posts_only() -> None:
    files = adapter()
    assert isinstance(files, DeliveryAdapter)
    assert (files.name, files.can_ping, files.answers) == ("ftp", False, False)
    config = files.configure(
        {"adapter": "ftp", "url": "ftp://u:p@127.0.0.1/"}, allow_private=True, field="delivery"
    )
    with pytest.raises(ValueError):
        files.request(config, "ping", LEAD)


async def test_one_lead_file_arrives_with_the_mapped_header(server: Server) -> None:
    files = adapter()
    request = files.request(configured(files, delivery(server, mapping=MAPPING)), "post", LEAD)
    assert request.content_type == "text/csv"
    assert "file" not in request.options  # named by the delivery id when sent

    sent = await files.send(request, key="dl_first")

    assert sent.error is None, sent.error
    assert sent.status == (226 if server.scheme == "ftp" else 0)
    assert sent.latency_ms > 0
    assert server.files() == ["lead-dl_first.csv"]
    path = server.inbox / "lead-dl_first.csv"
    assert path.read_bytes().count(b"\r\n") == 2  # excel dialect: header and row, \r\n each
    assert rows(path) == [
        ["FirstName", "Phone", "Source", "Consent", "Fax"],
        ["Ada", "+14155550100", "exchange", '{"text":"I agree","tcpa":true}', ""],
    ]


async def test_without_a_mapping_every_field_goes_under_its_own_name_sorted(sftp_server: Server) -> None:
    files = adapter()
    request = files.request(configured(files, delivery(sftp_server)), "post", LEAD)
    assert (await files.send(request, key="dl_all")).error is None
    assert rows(sftp_server.inbox / "lead-dl_all.csv") == [
        ["consent", "first_name", "homeowner", "last_name", "notes", "phone"],
        ['{"text":"I agree","tcpa":true}', "Ada", "true", "Lovelace", "", "+14155550100"],
    ]


async def test_only_whole_files_are_ever_visible_under_their_name(server: Server) -> None:
    """A watcher lists the buyer's directory all through a 3 MB upload: a .csv it sees is the
    whole file, and the upload did go through a temporary name it could see."""
    files = adapter()
    big = {**LEAD, "notes": "x" * 3_000_000}
    request = files.request(configured(files, delivery(server)), "post", big)
    whole = request.body.encode("utf-8")
    seen: set[str] = set()
    partial: list[str] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            for path in server.inbox.iterdir():
                seen.add(path.name)
                if path.suffix == ".csv" and path.read_bytes() != whole:
                    partial.append(path.name)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        sent = await files.send(request, key="dl_big")
    finally:
        done.set()
        await watcher

    assert sent.error is None, sent.error
    assert partial == []
    assert ".lead-dl_big.csv.part" in seen, seen
    assert server.files() == ["lead-dl_big.csv"]  # no .part left behind
    assert (server.inbox / "lead-dl_big.csv").read_bytes() == whole


async def test_a_resend_under_the_same_key_replaces_the_file(server: Server) -> None:
    files = adapter()
    config = configured(files, delivery(server, mapping=MAPPING))
    first = await files.send(files.request(config, "post", LEAD), key="dl_again")
    again = await files.send(files.request(config, "post", {**LEAD, "first_name": "Augusta"}), key="dl_again")
    other = await files.send(files.request(config, "post", LEAD), key="dl_other")

    assert (first.error, again.error, other.error) == (None, None, None)
    assert server.files() == ["lead-dl_again.csv", "lead-dl_other.csv"]
    assert rows(server.inbox / "lead-dl_again.csv")[1][0] == "Augusta"
    assert len(rows(server.inbox / "lead-dl_again.csv")) == 2


async def test_combine_writes_one_file_with_one_header_and_every_row(server: Server) -> None:
    files = adapter()
    config = configured(files, delivery(server, mapping=MAPPING, batch={"max_leads": 3}))
    leads = [
        LEAD,
        {**LEAD, "first_name": 'Grace "Amazing"', "phone": "+14155550101"},
        {**LEAD, "first_name": "Line\r\nbreak, comma", "phone": "+14155550102"},
    ]
    requests = [files.request(config, "post", lead) for lead in leads]
    assert requests[0].options["batch"] == {"max_leads": 3}

    combined = files.combine(requests, "fb_batch1")
    assert combined.options["file"] == "leads-fb_batch1.csv"
    assert "batch" not in combined.options
    sent = await files.send(combined, key="fb_batch1")

    assert sent.error is None, sent.error
    assert server.files() == ["leads-fb_batch1.csv"]
    found = rows(server.inbox / "leads-fb_batch1.csv")
    assert found[0] == ["FirstName", "Phone", "Source", "Consent", "Fax"]
    assert [row[:2] for row in found[1:]] == [
        ["Ada", "+14155550100"],
        ['Grace "Amazing"', "+14155550101"],
        ["Line\r\nbreak, comma", "+14155550102"],
    ]


def test_combine_of_leads_with_different_fields_takes_every_column() -> None:
    files = adapter()
    config = files.configure(
        {"adapter": "ftp", "url": "ftp://u:pass@127.0.0.1/"}, allow_private=True, field="delivery"
    )
    first = files.request(config, "post", {"a": 1, "b": 2})
    second = files.request(config, "post", {"b": 3, "c": [1, 2]})
    combined = files.combine([first, second], "fb_2")
    assert list(csv.reader(io.StringIO(combined.body, newline=""))) == [
        ["a", "b", "c"],
        ["1", "2", ""],
        ["", "3", "[1,2]"],
    ]
    assert combined.secrets == ["pass"]
    with pytest.raises(ValueError):
        files.combine([], "fb_none")


async def test_a_wrong_password_fails_for_good(ftp_or_sftp: Server) -> None:
    server = ftp_or_sftp
    files = adapter()
    config = configured(files, delivery(server, url=server.url(password="wrong-password")))
    sent = await files.send(files.request(config, "post", LEAD), key="dl_wrong")
    assert sent.error is not None
    assert "login refused" in sent.error
    assert sent.transient is False
    assert server.files() == []


@pytest.mark.parametrize("scheme", ["ftp", "sftp"])
async def test_a_closed_port_is_worth_another_try(scheme: str) -> None:
    files = adapter()
    url = f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{closed_port()}/incoming"
    config = files.configure({"adapter": "ftp", "url": url}, allow_private=True, field="delivery")
    sent = await files.send(files.request(config, "post", LEAD), key="dl_closed")
    assert sent.status is None
    assert sent.error is not None and sent.error.startswith("connection refused")
    assert sent.transient is True


@pytest.mark.parametrize("scheme", ["ftp", "sftp"])
async def test_a_silent_server_times_out_as_a_transient_failure(
    scheme: str, listener: tuple[int, list[asyncio.StreamWriter]]
) -> None:
    port, connections = listener
    files = adapter()
    config = files.configure(
        {"adapter": "ftp", "url": f"{scheme}://u:pass@127.0.0.1:{port}/", "timeout_ms": 1000},
        allow_private=True,
        field="delivery",
    )
    started = time.perf_counter()
    sent = await files.send(files.request(config, "post", LEAD), key="dl_silent")
    assert (sent.status, sent.error, sent.transient) == (None, "timeout", True)
    assert len(connections) == 1
    assert 0.9 < time.perf_counter() - started < 5
    assert sent.latency_ms >= 900


@pytest.mark.parametrize("scheme", ["ftp", "sftp"])
async def test_a_server_that_hangs_up_is_worth_another_try(scheme: str, hang_up: int) -> None:
    files = adapter()
    url = f"{scheme}://u:pass@127.0.0.1:{hang_up}/"
    config = files.configure({"adapter": "ftp", "url": url}, allow_private=True, field="delivery")
    sent = await files.send(files.request(config, "post", LEAD), key="dl_hangup")
    assert sent.status is None
    assert sent.error is not None and sent.error.startswith("connection lost"), sent.error
    assert sent.transient is True


async def test_a_missing_directory_fails_for_good(server: Server) -> None:
    files = adapter()
    url = server.url().replace("/incoming", "/nowhere")
    sent = await files.send(
        files.request(configured(files, delivery(server, url=url)), "post", LEAD), key="dl_lost"
    )
    assert sent.error is not None
    assert sent.transient is False


async def test_sftp_with_a_pinned_wrong_host_key_fails_for_good(sftp_server: Server) -> None:
    files = adapter()
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    config = configured(files, delivery(sftp_server, host_key=impostor))
    sent = await files.send(files.request(config, "post", LEAD), key="dl_pinned")
    assert sent.error is not None and "host key not trusted" in sent.error
    assert sent.transient is False
    assert sftp_server.files() == []


async def test_sftp_known_hosts_are_matched_by_the_buyers_host_name(sftp_server: Server) -> None:
    """The exchange connects to the address, yet a known_hosts line names the host."""
    name = "files.buyer.invalid"
    resolver = FixedResolver("127.0.0.1")
    settings = {"adapter": "ftp", "url": sftp_server.url(host=name)}
    trusting = adapter(
        resolver=resolver, sftp_known_hosts=asyncssh.import_known_hosts(f"{name} {sftp_server.host_key}\n")
    )
    stranger = adapter(
        resolver=resolver,
        sftp_known_hosts=asyncssh.import_known_hosts(f"other.invalid {sftp_server.host_key}\n"),
    )

    stored = await trusting.send(trusting.request(configured(trusting, settings), "post", LEAD), key="dl_kh")
    refused = await stranger.send(stranger.request(configured(stranger, settings), "post", LEAD), key="dl_x")

    assert stored.error is None, stored.error
    assert resolver.asked == [name, name]
    assert refused.error is not None and "host key not trusted" in refused.error
    assert refused.transient is False
    assert sftp_server.files() == ["lead-dl_kh.csv"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://u:p@127.0.0.1/incoming",
        "sftp://localhost/incoming",
        "ftp://10.0.0.1/",
        "ftp://169.254.169.254/",
        "ftp://[::1]/",
        "sftp://u:p@[::ffff:192.168.0.1]:2222/in",
    ],
)
def test_the_guard_refuses_private_hosts_when_saved(url: str) -> None:
    files = FileAdapter(allow_private=False)
    assert refusal(
        lambda: files.configure({"adapter": "ftp", "url": url}, allow_private=False, field="delivery")
    ) == ("delivery.url", "private_destination")


async def test_the_guard_refuses_a_private_literal_at_connect_time(
    listener: tuple[int, list[asyncio.StreamWriter]],
) -> None:
    port, connections = listener
    files = FileAdapter(allow_private=False)
    request = Request(
        adapter="ftp", target=f"ftp://u:pass@127.0.0.1:{port}/", body="a\r\n1\r\n", content_type="text/csv"
    )
    sent = await files.send(request, key="dl_private")
    assert sent.error is not None and sent.error.startswith("private destination")
    assert sent.transient is False
    assert connections == []


@pytest.mark.parametrize("scheme", ["ftp", "sftp"])
async def test_a_name_that_turns_private_after_saving_is_refused_at_send(
    scheme: str, listener: tuple[int, list[asyncio.StreamWriter]]
) -> None:
    """Saved while the name resolved to nothing private; by the send it points at loopback."""
    port, connections = listener
    resolver = FixedResolver("127.0.0.1")
    files = FileAdapter(allow_private=False, resolver=resolver)
    url = f"{scheme}://u:pass@files.buyer.invalid:{port}/incoming"
    config = files.configure({"adapter": "ftp", "url": url}, allow_private=False, field="delivery")

    sent = await files.send(files.request(config, "post", LEAD), key="dl_rebound")

    assert sent.error is not None and sent.error.startswith("private destination")
    assert sent.transient is False
    assert resolver.asked == ["files.buyer.invalid"]
    assert connections == []


async def test_the_file_goes_to_the_resolved_address_never_to_the_name(ftp_server: Server) -> None:
    """`files.buyer.invalid` resolves nowhere but through the guard: storing proves the
    connection went to the address the guard handed over."""
    resolver = FixedResolver("127.0.0.1")
    files = adapter(resolver=resolver)
    config = configured(files, delivery(ftp_server, url=ftp_server.url(host="files.buyer.invalid")))
    sent = await files.send(files.request(config, "post", LEAD), key="dl_named")
    assert sent.error is None, sent.error
    assert resolver.asked == ["files.buyer.invalid"]
    assert ftp_server.files() == ["lead-dl_named.csv"]


def test_the_audit_masks_the_password_and_literal_secrets() -> None:
    files = adapter()
    config = files.configure(
        {
            "adapter": "ftp",
            "url": "ftp://buyer:p%40ss-word@127.0.0.1/in",
            "mapping": {"Key": "=api-key-123", "Name": "first_name"},
        },
        allow_private=True,
        field="delivery",
    )
    audit = files.request(config, "post", LEAD).audit("dl_audit")
    assert "p%40ss-word" not in audit["to"] and "***" in audit["to"]
    assert "api-key-123" not in audit["body"]
    assert audit["idempotency_key"] == "dl_audit"


@pytest.mark.parametrize(
    ("settings", "field", "code"),
    [
        ({}, "delivery.url", "required"),
        ({"url": "http://93.184.216.34/"}, "delivery.url", "invalid_url"),
        ({"url": "ftp:///in"}, "delivery.url", "invalid_url"),
        ({"url": "ftp://93.184.216.34/in?x=1"}, "delivery.url", "invalid_url"),
        ({"url": "sftp://93.184.216.34/in"}, "delivery.url", "invalid_url"),  # no user
        ({"url": "ftp://93.184.216.34:99999/"}, "delivery.url", "invalid_url"),
        ({"url": "ftp://93.184.216.34/", "format": "json"}, "delivery.format", "invalid_value"),
        ({"url": "ftp://93.184.216.34/", "folder": "x"}, "delivery.folder", "unknown_field"),
        (
            {"url": "ftp://93.184.216.34/", "mapping": {"A": "not a field"}},
            "delivery.mapping.A",
            "invalid_mapping",
        ),
        ({"url": "ftp://93.184.216.34/", "mapping": {}}, "delivery.mapping", "invalid_mapping"),
        ({"url": "ftp://93.184.216.34/", "mapping": ["a"]}, "delivery.mapping", "invalid_mapping"),
        ({"url": "ftp://93.184.216.34/", "batch": {}}, "delivery.batch", "required"),
        ({"url": "ftp://93.184.216.34/", "batch": 5}, "delivery.batch", "invalid_value"),
        (
            {"url": "ftp://93.184.216.34/", "batch": {"max_leads": 0}},
            "delivery.batch.max_leads",
            "out_of_range",
        ),
        (
            {"url": "ftp://93.184.216.34/", "batch": {"max_leads": 10_001}},
            "delivery.batch.max_leads",
            "out_of_range",
        ),
        (
            {"url": "ftp://93.184.216.34/", "batch": {"every_minutes": 1441}},
            "delivery.batch.every_minutes",
            "out_of_range",
        ),
        (
            {"url": "ftp://93.184.216.34/", "batch": {"every_minutes": "5"}},
            "delivery.batch.every_minutes",
            "invalid_value",
        ),
        ({"url": "ftp://93.184.216.34/", "batch": {"size": 5}}, "delivery.batch.size", "unknown_field"),
        (
            {"url": "ftp://93.184.216.34/", "host_key": "ssh-ed25519 AAAA"},
            "delivery.host_key",
            "invalid_value",
        ),
        ({"url": "sftp://u:p@93.184.216.34/", "host_key": "not a key"}, "delivery.host_key", "invalid_value"),
        ({"url": "ftp://93.184.216.34/", "timeout_ms": 500_000}, "delivery.timeout_ms", "out_of_range"),
    ],
)
def test_configure_names_the_field_it_refuses(settings: dict[str, Any], field: str, code: str) -> None:
    files = FileAdapter(allow_private=False)
    assert refusal(
        lambda: files.configure({"adapter": "ftp", **settings}, allow_private=False, field="delivery")
    ) == (field, code)


def test_configure_refuses_a_private_key_as_the_host_key() -> None:
    private = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    files = adapter()
    assert refusal(
        lambda: files.configure(
            {"adapter": "ftp", "url": "sftp://u:p@127.0.0.1/", "host_key": private},
            allow_private=True,
            field="delivery",
        )
    ) == ("delivery.host_key", "invalid_value")


def test_configure_reads_a_full_delivery() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    files = adapter()
    config = files.configure(
        {
            "adapter": "ftp",
            "url": "sftp://u:p@127.0.0.1:2222/~/in",
            "format": "csv",
            "mapping": {"Phone": "phone"},
            "batch": {"max_leads": 500, "every_minutes": 60},
            "host_key": key,
        },
        allow_private=True,
        field="delivery",
    )
    assert config.batch is not None and (config.batch.max_leads, config.batch.every_minutes) == (500, 60)
    assert config.host_key == key.strip()
    request = files.request(config, "post", LEAD)
    assert request.options == {"batch": {"max_leads": 500, "every_minutes": 60}, "host_key": key.strip()}
    assert request.body == "Phone\r\n+14155550100\r\n"
