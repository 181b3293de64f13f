"""Console sessions across processes: a deployment's servers share one signing secret (kept in
the database), so a session made on one is good on another and survives a restart, and revoking
its key on any server ends it on all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_KEY, bearer
from tests.processes import free_port, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "exchange.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two servers on one PostgreSQL database, as a deployment runs them (SQLite serves one)."""
    ports = [free_port(), free_port()]
    servers = [start_server(database_url, port, tmp_path / f"server-{port}.log") for port in ports]
    try:
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for server in servers:
            stop_server(server)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_session_made_on_one_server_works_on_the_other_until_its_key_is_revoked(
    two_servers: list[str],
) -> None:
    first, second = two_servers
    made = httpx.post(f"{first}/v1/keys", json={"role": "operator", "name": "Ops"}, headers=bearer(ADMIN_KEY))
    key, key_id = made.json()["api_key"], made.json()["id"]

    with httpx.Client(base_url=first, follow_redirects=False) as browser:
        form = browser.get("/console/sign-in")
        signed = browser.post("/console/sign-in", data={"api_key": key, "csrf_token": _token(form.text)})
        assert signed.status_code == 303
        cookies = browser.cookies

    with httpx.Client(base_url=second, cookies=cookies, follow_redirects=False) as elsewhere:
        page = elsewhere.get("/console/accounts")
        assert page.status_code == 200, page.text[:300]
        # A form from the other server's page is accepted here: the same secret signs both.
        buyer = elsewhere.post(
            "/console/accounts",
            data={
                "csrf_token": _token(page.text),
                "kind": "buyer",
                "name": "Made across servers",
                "timezone": "UTC",
            },
        )
        assert buyer.status_code == 201, buyer.text[:500]

    # Revoked on the second server: the session ends on the first at its next page.
    assert httpx.delete(f"{second}/v1/keys/{key_id}", headers=bearer(ADMIN_KEY)).status_code == 200
    with httpx.Client(base_url=first, cookies=cookies, follow_redirects=False) as browser:
        ended = browser.get("/console/accounts")
        assert ended.status_code == 303 and ended.headers["location"] == "/console/sign-in"


def test_a_session_survives_a_restart(database: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(database, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=base, follow_redirects=False) as browser:
            form = browser.get("/console/sign-in")
            browser.post("/console/sign-in", data={"api_key": ADMIN_KEY, "csrf_token": _token(form.text)})
            cookies = browser.cookies
    finally:
        stop_server(server)
    server = start_server(database, port, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=base, cookies=cookies, follow_redirects=False) as browser:
            assert browser.get("/console/keys").status_code == 200
    finally:
        stop_server(server)
