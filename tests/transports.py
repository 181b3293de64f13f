"""Real servers on loopback that buyers' transports reach: an SMTP relay and an FTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioftp
import pytest
from aiosmtpd.controller import Controller

from tests.processes import free_port


@dataclass
class Mailbox:
    """An SMTP server's handler: keeps what it takes, answers some recipients as told."""

    messages: list[EmailMessage] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        answer = self.answers.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def relay() -> Iterator[tuple[str, Mailbox]]:
    """An SMTP relay on loopback, in a thread of its own: its `host:port` and its mailbox."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An FTP server on loopback (user `buyer`, password `s3cret`) in a thread of its own, as a
    buyer's server runs (the test client may block the test's own loop): its port and its
    `in` folder."""
    root = tmp_path / "ftp"
    (root / "in").mkdir(parents=True)
    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="ftp-server", daemon=True)
    thread.start()
    server = aioftp.Server([aioftp.User("buyer", "s3cret", base_path=root)])
    asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", port), loop).result(timeout=10)
    try:
        yield port, root / "in"
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
